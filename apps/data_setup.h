// Chooses and loads the data for train_cifar from its flags: CIFAR-10 binary,
// an image folder, or the built-in synthetic set, then the subsets and the
// validation split. Every check on the data (class lists, empty classes,
// subset sizes, classes left out of training) happens here, before the first
// training step.
//
// Order before --subset and --val-split, per source:
//   image folder: a seeded shuffle stratified by class (stratified_order,
//     data/dataset.h), so every class is in training and validation in
//     proportion; the test set likewise before --test-subset.
//   CIFAR-10: the official order, unshuffled (its files are already in random
//     order): --subset takes the first N, validation is the last fraction, as
//     Keras's validation_split does.
//   synthetic: generated order (labels cycle 0..9, so any prefix or tail is
//     balanced).
#pragma once

#include <iosfwd>

#include "apps/options.h"
#include "data/dataset.h"

namespace tl::app {

// The three sets of a run, as load_data splits them.
struct DataSplits {
  ImageSet train, val, test;  // val may be empty (numel 0)
};

// Logs what it chose and why (e.g. where it looked for CIFAR-10 before
// falling back to the synthetic set) to `log`.
DataSplits load_data(const TrainOptions& o, std::ostream& log);

// The test set exactly as load_data builds it for the same options (same
// order, same --test-subset), without reading or splitting the training set
// where the layout allows: what `evaluate` scores a checkpoint on. Uses
// o.dataset, data_dir, image_size, seed, synthetic_size and test_subset.
ImageSet load_test_set(const TrainOptions& o, std::ostream& log);

}  // namespace tl::app
