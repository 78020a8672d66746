// The training loop of train_cifar: optimiser parameter groups, the epoch
// loop with progress, validation, checkpoints after every epoch, exact
// resumption, and the stop on a non-finite loss.
#pragma once

#include <memory>
#include <string>

#include "apps/metrics.h"
#include "apps/options.h"
#include "data/dataset.h"
#include "engine/optimizer.h"
#include "layers/classifier.h"
#include "weights/checkpoint.h"

namespace tl::app {

struct DataSplits {
  ImageSet train, val, test;  // val may be empty (numel 0)
};

// Four groups: backbone and head (each with its own learning rate), each
// split into parameters with weight decay (conv and dense kernels) and
// without (BN gamma/beta and all biases). Frozen parameters are left out.
std::unique_ptr<Optimizer> make_optimizer(Classifier& model, const TrainOptions& o);

struct TrainResult {
  RunSummary summary;
  std::string last_checkpoint;
  bool stopped_early = false;  // --stop-after-epochs
};

// Trains from `resume` (or from scratch when null) up to o.epochs, writing a
// checkpoint and the run outputs after each epoch. Throws tl::Error on a
// non-finite loss, naming the step and the last good checkpoint.
TrainResult train(Context& ctx, Classifier& model, Optimizer& optimizer, const DataSplits& data,
                  const TrainOptions& o, const std::string& config_json,
                  const LoadedCheckpoint* resume);

// Estimated bytes a training step needs: weights, gradients, optimiser state
// and the activations saved for the backward pass (an estimate, printed
// before the first step).
int64_t estimate_training_bytes(const Classifier& model, int64_t batch, int64_t image_size,
                                int64_t optimizer_states_per_param);

}  // namespace tl::app
