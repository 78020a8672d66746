// Chooses and loads the data for train_cifar from its flags: CIFAR-10 binary,
// an image folder, or the built-in synthetic set, then the subsets and the
// validation split.
#pragma once

#include <iosfwd>

#include "apps/options.h"
#include "apps/trainer.h"

namespace tl::app {

// Logs what it chose and why (e.g. where it looked for CIFAR-10 before
// falling back to the synthetic set) to `log`.
DataSplits load_data(const TrainOptions& o, std::ostream& log);

// The samples at `indices`, in that order (a copy).
ImageSet gather(const ImageSet& set, const std::vector<int64_t>& indices);

}  // namespace tl::app
