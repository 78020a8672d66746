// Training checkpoints: one HDF5 file holding everything needed to continue a
// run exactly — the model's parameters and BN statistics (tl's own layouts),
// the optimiser's state, the epoch and step, the position of the random
// stream (dropout masks) and the run's configuration as JSON.
//
// Layout:
//   /            attributes: format "tl-checkpoint", version (2), epoch, step,
//                seed, random_stream_position, optimizer_kind,
//                optimizer_steps, config (JSON), history (JSON),
//                metadata_crc32c (over all of those)
//   /model/<layer>/<weight>      float32 datasets (conv kernels OHWI)
//   /optimizer/<state name>      float32 datasets ("g0.p3.m", ...); int32
//                                state (Adam's per-parameter step) is stored
//                                under "<name>@int32" as exact float values
// Every dataset carries a CRC32C of its values (attribute "crc32c", see
// weights/hdf5.h and docs/checkpoints.md).
// Written to a temporary file and renamed, so a crash or a full disk never
// leaves a half-written checkpoint and never damages the previous one.
//
// Integrity, checked on load, each failure a tl::Error naming the file and
// the tensor: every tensor's checksum; every value finite (parameters, BN
// statistics, optimiser state); BN moving variances and Adam's second
// moments >= 0; step counts whole numbers. save_checkpoint refuses to write
// a non-finite value (a diverged run), keeping the previous checkpoint.
// Version-1 checkpoints (before checksums) load with a note.
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
  // One line for the log, or "": set when the file is a version-1
  // checkpoint, whose damage cannot be detected (it has no checksums).
  std::string note;
};

// Fills every parameter and buffer of `model` (strict: a missing or
// mis-shaped tensor is an error naming it and the file) and returns the rest.
LoadedCheckpoint load_checkpoint(const std::string& path, const Module& model);

}  // namespace tl
