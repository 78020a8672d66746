// How much memory a training step needs, estimated before anything big is
// allocated, so that an impossible --image-size or --batch-size is one clear
// error instead of an allocation failure (or the system killing the process).
#pragma once

#include <cstdint>
#include <string>

#include "apps/options.h"
#include "layers/classifier.h"

namespace tl::app {

// Estimated bytes a training step needs: weights, gradients, optimiser state
// and the activations saved for the backward pass (an estimate, printed
// before the first step).
int64_t estimate_training_bytes(const Classifier& model, int64_t batch, int64_t image_size,
                                int64_t optimizer_states_per_param);
// A lower bound of the same, from the flags alone (before data or model
// exist): the float input batch, the stem convolution's output and its
// gradient, and with --pool flatten the head's first Dense layer (sized by
// the input) with its gradient and optimiser state. In double: the flags
// may describe far more than int64 bytes.
double minimum_training_bytes(const TrainOptions& o);
// Throws tl::Error naming --image-size and --batch-size when `needed` bytes
// exceed `available` (where: "free RAM", "free GPU memory"); available < 0:
// unknown, nothing checked.
void check_memory_fits(double needed, int64_t available, const std::string& where, const TrainOptions& o);

// The host's available memory (MemAvailable: free plus reclaimable cache),
// in bytes; -1 when unknown.
int64_t available_host_memory();

}  // namespace tl::app
