// The training step as one CUDA graph: queue_training_step
// (layers/training_step.h) captured once and replayed for every later batch
// of the same shape, so the host launches one graph a step instead of ~500
// kernels.
//
//   step 1        eager (a warm-up: cuDNN measures its algorithms, the
//                 optimiser allocates its state, the workspace grows)
//   step 2        captured into a graph, then replayed
//   steps 3 ...   replayed: the batch is copied into the graph's input
//                 buffers, the per-step host values (random streams, the
//                 optimiser's step counts and learning rates) refreshed in
//                 device memory (engine/step_capture.h), the graph launched
//
// A replayed step is the eager step, bit for bit: the same kernels with the
// same arguments, the per-step values read where the eager step passes them
// (tests/gpu/test_cuda_step_graph.cpp). A batch of another shape (the last,
// smaller batch of an epoch) runs eagerly and leaves the graph alone;
// something that changes for good (another model, optimiser or metrics
// object, the math mode, a parameter frozen, a checkpoint loaded into the
// optimiser) is noticed, and the step is captured again after one eager step.
// When a capture fails the graph is switched off for good, with the reason
// kept (off_reason()), and every step runs eagerly: it never stops a run.
// On the CPU, with a profiling timeline or TL_SYNC_CHECK=1, steps run eagerly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/optimizer.h"
#include "engine/step_capture.h"
#include "engine/tensor.h"
#include "layers/classifier.h"
#include "layers/step_graph_schedule.h"
#include "layers/step_metrics.h"

namespace tl {

namespace cuda {
class CapturedGraph;  // runtime/cuda/graph_capture.h
}

class TrainingStepGraph {
 public:
  // enabled false: every step runs eagerly (--cuda-graph off).
  explicit TrainingStepGraph(bool enabled = true);
  ~TrainingStepGraph();
  TrainingStepGraph(const TrainingStepGraph&) = delete;
  TrainingStepGraph& operator=(const TrainingStepGraph&) = delete;

  // queue_training_step's contract. The logits returned by a replay are the
  // graph's output buffer: the next replay overwrites them.
  Tensor queue(Context& ctx, Classifier& model, Optimizer& optimizer, const Tensor& images,
               const Tensor& labels, StepMetrics& metrics);

  // Drops the graph: the next step runs eagerly, the one after is captured.
  void reset();

  int64_t captures() const { return captures_; }
  int64_t replays() const { return replays_; }
  int64_t eager_steps() const { return eager_steps_; }
  // Why steps run eagerly ("" while graphs are in use or about to be):
  // switched off or the error of a failed capture (for good), else why the
  // last step that could not use a graph could not (not a GPU, profiling).
  const std::string& off_reason() const {
    return off_reason_.empty() ? last_eager_reason_ : off_reason_;
  }
  // Device memory held by the graph's capture (0 without a graph).
  size_t graph_bytes() const;

  // What a graph was captured for; another key runs eagerly.
  struct Key {
    Shape images_shape, labels_shape;
    DType images_dtype = DType::U8, labels_dtype = DType::I32;
    Device images_device = Device::CPU, labels_device = Device::CPU;
    const void* model = nullptr;
    const void* optimizer = nullptr;
    const void* metrics = nullptr;
    DType backbone_dtype = DType::F32;
    bool allow_tf32 = false, deterministic = false;
    bool operator==(const Key&) const = default;
  };

 private:
  // Why this context cannot use a graph now, or "".
  std::string unusable(const Context& ctx) const;
  // Captures the step on (images, labels) into graph_; throws on failure,
  // leaving no graph and the host state as it was.
  void capture(Context& ctx, Classifier& model, Optimizer& optimizer, const Tensor& images,
               const Tensor& labels, StepMetrics& metrics);
  // Runs the captured step on (images, labels).
  Tensor replay(Context& ctx, Classifier& model, const Tensor& images, const Tensor& labels);

  bool enabled_;
  std::string off_reason_;          // graphs off for good
  std::string last_eager_reason_;   // the last step's own reason
  std::unique_ptr<cuda::CapturedGraph> graph_;
  Key graph_key_;
  StepCapture capture_;  // the before-replay work and the checks of graph_
  Tensor images_, labels_, random_base_, logits_;  // the graph's inputs and output
  StepGraphSchedule<Key> schedule_;  // when to capture (layers/step_graph_schedule.h)
  int64_t captures_ = 0, replays_ = 0, eager_steps_ = 0;
};

}  // namespace tl
