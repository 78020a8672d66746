// Training checkpoints: one HDF5 file holding everything needed to continue a
// run exactly — the model's parameters and BN statistics (tl's own layouts),
// the optimiser's state, the epoch and step, the position of the random
// stream (dropout masks) and the run's configuration as JSON.
//
// Layout:
//   /            attributes: format "tl-checkpoint", version, epoch, step,
//                seed, random_stream_position, optimizer_kind,
//                optimizer_steps, config (JSON), history (JSON)
//   /model/<layer>/<weight>      float32 datasets (conv kernels OHWI)
//   /optimizer/<state name>      float32 datasets ("g0.p3.m", ...); int32
//                                state (Adam's per-parameter step) is stored
//                                under "<name>@int32" as exact float values
// Written to a temporary file and renamed, so a crash never leaves a
// half-written checkpoint and never damages the previous one.
#pragma once

#include <string>

#include "engine/optimizer.h"
#include "layers/module.h"

namespace tl {

struct TrainingProgress {
  int64_t epoch = 0;  // epochs completed
  int64_t step = 0;   // optimiser steps completed
  uint64_t seed = 0;
  uint64_t random_stream_position = 0;
  std::string config_json;
  std::string history_json;  // the metrics of the epochs so far (apps/)
};

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const TrainingProgress& progress);

struct LoadedCheckpoint {
  TrainingProgress progress;
  std::string optimizer_kind;  // "" when saved without an optimiser
  int64_t optimizer_steps = 0;
  NamedTensors optimizer_state;  // host tensors, for Optimizer::load_state
};

// Fills every parameter and buffer of `model` (strict: a missing or
// mis-shaped tensor is an error naming it and the file) and returns the rest.
LoadedCheckpoint load_checkpoint(const std::string& path, const Module& model);

}  // namespace tl
