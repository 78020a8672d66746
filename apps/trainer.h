// The training loop of train_cifar: optimiser parameter groups, the epoch
// loop with progress, validation, checkpoints after every epoch, exact
// resumption (also mid-epoch, after an interrupt), and the stop on a
// non-finite loss. Also what guards a run: one writer per output folder,
// Ctrl-C / SIGTERM handling, the memory check, and the decision to run
// without checkpoints in a build without HDF5.
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "apps/data_setup.h"
#include "apps/metrics.h"
#include "apps/options.h"
#include "engine/optimizer.h"
#include "layers/classifier.h"
#include "weights/checkpoint.h"

namespace tl::app {

// Four groups: backbone and head (each with its own learning rate), each
// split into parameters with weight decay (conv and dense kernels) and
// without (BN gamma/beta and all biases). Frozen parameters are left out.
std::unique_ptr<Optimizer> make_optimizer(Classifier& model, const TrainOptions& o);

// ---- the history a checkpoint carries ----------------------------------------

// An epoch stopped by an interrupt: where it continues and the running sums
// its metrics are made of, so the resumed epoch reports exactly what an
// uninterrupted one would.
struct PartialEpoch {
  int64_t epoch = 0;         // 1-based number of the epoch in progress
  int64_t batches_done = 0;  // batches trained on; the resumed run starts at this one
  int64_t seen = 0, correct = 0;
  double loss_sum = 0;       // sum of the per-batch mean loss times the batch size (stored exactly)
  double seconds = 0;        // time spent on it so far
};

struct TrainingHistory {
  std::vector<EpochMetrics> epochs;   // the completed epochs
  std::optional<PartialEpoch> partial;  // set in a checkpoint written mid-epoch
};

// A JSON array: one flat object per completed epoch, then the partial epoch
// (an object with "partial_epoch") if there is one.
std::string training_history_json(const TrainingHistory& history);
// The inverse; throws tl::Error naming `what` on malformed input.
TrainingHistory parse_training_history(const std::string& text, const std::string& what);

// ---- training ------------------------------------------------------------------

struct TrainSetup {
  std::string config_json;               // stored in every checkpoint
  const LoadedCheckpoint* resume = nullptr;  // null: from scratch
  // false after --resume-inexact accepted differences: a partial epoch then
  // continues at the first sample not yet seen instead of at its batch.
  bool exact_resume = true;
  bool checkpoints = true;               // false in a build without HDF5
};

struct TrainResult {
  RunSummary summary;
  std::string last_checkpoint;  // "" when none was written
  bool stopped_early = false;   // --stop-after-epochs
  int interrupted_by = 0;       // the signal (SIGINT, SIGTERM) that stopped the run; 0: none
  int64_t epoch = 0;            // where it stopped: epochs completed ...
  int64_t batch = 0;            // ... and batches of the next one (0: at an epoch boundary)
  int64_t batches_per_epoch = 0;
  int64_t step = 0;             // optimiser steps completed
  // GPU: the steps captured into / replayed from a CUDA graph, and why the
  // others ran eagerly ("" when none did for a reason).
  int64_t graph_captures = 0, graph_replays = 0, eager_steps = 0;
  std::string graph_off_reason;
};

// Trains from setup.resume (or from scratch) up to o.epochs, writing a
// checkpoint and the run outputs after each epoch. Stops at the next step
// boundary after SIGINT/SIGTERM (an InterruptHandler must be alive),
// writing a checkpoint that resumes at that step. Throws tl::Error on a
// non-finite loss, naming the step and the last good checkpoint.
TrainResult train(Context& ctx, Classifier& model, Optimizer& optimizer, const DataSplits& data,
                  const TrainOptions& o, const TrainSetup& setup);

// ---- checkpoints without HDF5 ------------------------------------------------

struct CheckpointPolicy {
  bool enabled = true;
  std::string notice;  // printed once at the start when checkpoints are off
};
// Checkpoints are HDF5 files: a build without HDF5 trains without them and
// says so once; --resume there is an error saying why.
CheckpointPolicy checkpoint_policy(bool hdf5_available, const TrainOptions& o);

}  // namespace tl::app
