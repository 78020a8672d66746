// When a step runs eagerly, is captured into a CUDA graph, or replays one:
// the decisions of TrainingStepGraph (layers/training_step_graph.h), kept
// apart from the CUDA work so that the CPU tests can check them.
//
//   - a step whose key (batch shape, model, optimiser, ...) matches a graph
//     that is still valid replays it;
//   - otherwise it runs eagerly, unless `warmup` steps with the same key have
//     just run eagerly one after another (no replay between): then it is
//     captured. So the first step of a run warms up and the second is
//     captured; a smaller last batch once an epoch, with a replay before and
//     after it, never is; a lasting change (a graph gone out of date, a new
//     batch shape) is captured after one eager step of the new kind.
#pragma once

#include <cstdint>

namespace tl {

enum class StepAction { kEager, kCapture, kReplay };

template <typename Key>
class StepGraphSchedule {
 public:
  explicit StepGraphSchedule(int64_t warmup) : warmup_(warmup) {}

  // What to do with a step of `key`; `replayable`: a graph for this key
  // exists and is still valid. After kCapture the caller reports
  // captured(); if the capture fails it runs the step eagerly (and stops
  // asking: TrainingStepGraph then stays eager for good).
  StepAction next(const Key& key, bool replayable) {
    if (replayable) {
      eager_run_ = 0;
      return StepAction::kReplay;
    }
    if (!(key == eager_key_)) {
      eager_key_ = key;
      eager_run_ = 0;
    }
    if (eager_run_ >= warmup_) return StepAction::kCapture;
    ++eager_run_;
    return StepAction::kEager;
  }
  void captured() { eager_run_ = 0; }

 private:
  int64_t warmup_;
  Key eager_key_{};        // the key of the last eager steps
  int64_t eager_run_ = 0;  // how many ran in a row
};

}  // namespace tl
