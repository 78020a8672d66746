#include "apps/memory_estimate.h"

#include <cmath>
#include <cstdio>
#include <fstream>

#include "runtime/check.h"

namespace tl::app {

int64_t estimate_training_bytes(const Classifier& model, int64_t batch, int64_t image_size,
                                int64_t optimizer_states_per_param) {
  int64_t activations = batch * image_size * image_size * 3;  // the preprocessed input
  for (const SummaryRow& row : model.summary({1, image_size, image_size, 3}))
    activations += batch * shape_numel(row.output);
  const int64_t weights = model.count_trainable() + model.count_frozen() + model.count_buffers();
  // Each layer output is kept for the backward pass and its gradient lives
  // briefly beside it: about twice the forward activations.
  return 4 * (2 * activations + weights + model.count_trainable() * (1 + optimizer_states_per_param));
}

double minimum_training_bytes(const TrainOptions& o) {
  const double batch = double(o.batch_size), side = double(o.image_size);
  // Keras's ResNet50 halves the side five times, rounding up (stem conv,
  // max pool, three strided blocks): 224 -> 7, 32 -> 1.
  const double stem_side = std::ceil(side / 2), out_side = std::ceil(side / 32);
  const double features = o.pool == "avg" ? 2048.0 : out_side * out_side * 2048.0;
  const double states = o.optimizer == "sgd" ? 1 : 2;
  const double floats = batch * side * side * 3                      // the preprocessed input
                        + 2 * batch * stem_side * stem_side * 64      // stem output and its gradient
                        + features * 256 * (2 + states);              // head Dense 1: weights, gradient, state
  return 4 * floats;
}

void check_memory_fits(double needed, int64_t available, const std::string& where, const TrainOptions& o) {
  if (available < 0 || needed <= double(available)) return;
  auto gib = [](double bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, bytes < 1e16 ? "%.1f GiB" : "%.3g GiB", bytes / double(1 << 30));
    return std::string(buf);
  };
  fail("--image-size ", o.image_size, flag_origin(o, "--image-size"), " with --batch-size ", o.batch_size,
       flag_origin(o, "--batch-size"), ": a training step needs about ", gib(needed), " (estimate), more than the ",
       gib(double(available)), " of ", where, "; use a smaller --image-size or --batch-size",
       o.pool == "flatten" ? " (or --pool avg, whose head does not grow with the input)" : "");
}

int64_t available_host_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  int64_t kib = 0;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return -1;
}

}  // namespace tl::app
