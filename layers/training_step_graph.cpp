#include "layers/training_step_graph.h"

#include <utility>

#include "layers/training_step.h"
#include "runtime/check.h"
#include "runtime/cuda/graph_capture.h"
#include "runtime/device_copy.h"

namespace tl {

namespace {

// One eager step before a capture: it measures the cuDNN algorithms, grows
// the workspace and allocates the optimiser's state, none of which a
// capture may do.
constexpr int64_t kWarmupSteps = 1;

// Copies `src` (host or device) into the device tensor `dst` of the same
// size, queued on the stream: the host never waits for the previous step.
void queue_copy(Context& ctx, const Tensor& dst, const Tensor& src) {
  if (src.device() == Device::CUDA)
    copy_device_to_device(ctx.gpu(), dst.raw_data(), src.raw_data(), src.nbytes());
  else
    queue_host_to_device(ctx.gpu(), dst.raw_data(), src.raw_data(), src.nbytes());
}

}  // namespace

TrainingStepGraph::TrainingStepGraph(bool enabled)
    : enabled_(enabled), schedule_(kWarmupSteps) {
  if (!enabled_) off_reason_ = "switched off (--cuda-graph off)";
}

TrainingStepGraph::~TrainingStepGraph() = default;

size_t TrainingStepGraph::graph_bytes() const { return graph_ ? graph_->pool_bytes() : 0; }

void TrainingStepGraph::reset() {
  graph_.reset();
  capture_ = StepCapture();
  images_ = labels_ = random_base_ = logits_ = Tensor();
}

std::string TrainingStepGraph::unusable(const Context& ctx) const {
  if (ctx.device() != Device::CUDA) return "not on a GPU";
  if (ctx.timeline()) return "a profiling timeline is set (it marks the steps' kernels one by one)";
  return "";
}

Tensor TrainingStepGraph::queue(Context& ctx, Classifier& model, Optimizer& optimizer,
                                const Tensor& images, const Tensor& labels,
                                StepMetrics& metrics) {
  // A condition of this step only (a profiling timeline): eager, graph kept.
  const std::string now_unusable = off_reason_.empty() ? unusable(ctx) : "";
  if (!now_unusable.empty()) {
    last_eager_reason_ = now_unusable;
    ++eager_steps_;
    return queue_training_step(ctx, model, optimizer, images, labels, metrics);
  }
  Key key;
  key.images_shape = images.shape();
  key.labels_shape = labels.shape();
  key.images_dtype = images.dtype();
  key.labels_dtype = labels.dtype();
  key.images_device = images.device();
  key.labels_device = labels.device();
  key.model = &model;
  key.optimizer = &optimizer;
  key.metrics = metrics.device_totals();
  key.backbone_dtype = model.backbone_dtype();
  key.allow_tf32 = ctx.allow_tf32();
  key.deterministic = ctx.deterministic();

  if (!off_reason_.empty()) {
    ++eager_steps_;
    return queue_training_step(ctx, model, optimizer, images, labels, metrics);
  }
  std::string out_of_date;
  if (graph_ && key == graph_key_)
    for (const auto& check : capture_.out_of_date)
      if (out_of_date = check(); !out_of_date.empty()) break;
  const bool replayable = graph_ && key == graph_key_ && out_of_date.empty();
  if (!out_of_date.empty()) reset();  // captured again after an eager step

  switch (schedule_.next(key, replayable)) {
    case StepAction::kReplay:
      return replay(ctx, model, images, labels);
    case StepAction::kCapture:
      // What the queued steps left (a bad label, a fault) is raised here, as
      // at any wait: it is theirs, not a failure of the capture.
      ctx.synchronize();
      try {
        capture(ctx, model, optimizer, images, labels, metrics);
        graph_key_ = key;
        schedule_.captured();
        return replay(ctx, model, images, labels);
      } catch (const Error& e) {
        // The capture ran nothing and changed no host state the eager step
        // depends on (engine/step_capture.h): this step runs eagerly, and
        // so does every later one.
        reset();
        off_reason_ = e.what();
      }
      break;
    case StepAction::kEager:
      break;
  }
  ++eager_steps_;
  return queue_training_step(ctx, model, optimizer, images, labels, metrics);
}

void TrainingStepGraph::capture(Context& ctx, Classifier& model, Optimizer& optimizer,
                                const Tensor& images, const Tensor& labels,
                                StepMetrics& metrics) {
  reset();  // an earlier graph's memory back first
  // The graph reads its batch from fixed addresses; replay() copies each
  // batch there. Allocated before the capture: they are the caller's side.
  images_ = ctx.empty(images.shape(), images.dtype());
  labels_ = ctx.empty(labels.shape(), labels.dtype());
  random_base_ = ctx.empty({static_cast<int64_t>(sizeof(uint64_t))}, DType::U8);
  capture_.random_base = static_cast<const uint64_t*>(random_base_.raw_data());

  cuda::CudaState& gpu = ctx.gpu();
  cuda::begin_capture(gpu);
  ctx.set_capture(&capture_);
  try {
    logits_ = queue_training_step(ctx, model, optimizer, images_, labels_, metrics);
    ctx.set_capture(nullptr);
    graph_ = cuda::end_capture(gpu);
  } catch (...) {
    ctx.set_capture(nullptr);
    cuda::abandon_capture(gpu);
    // The capture's backward left gradients that were never computed.
    optimizer.zero_grad();
    throw;
  }
  ++captures_;
}

Tensor TrainingStepGraph::replay(Context& ctx, Classifier& model, const Tensor& images,
                                 const Tensor& labels) {
  cuda::CudaState& gpu = ctx.gpu();
  queue_copy(ctx, images_, images);
  queue_copy(ctx, labels_, labels);
  // The random streams an eager step would draw now, then past them.
  const uint64_t position = ctx.random_stream_position();
  queue_host_to_device(gpu, random_base_.raw_data(), &position, sizeof position);
  ctx.set_random_stream_position(position + capture_.random_streams);
  for (const auto& action : capture_.before_replay) action(ctx);
  model.train();  // as the eager step leaves it
  graph_->launch(gpu);
  ++replays_;
  return logits_;
}

}  // namespace tl
