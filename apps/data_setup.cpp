#include "apps/data_setup.h"

#include <cstring>
#include <filesystem>
#include <ostream>

#include "data/cifar10.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/synthetic.h"

namespace tl::app {
namespace fs = std::filesystem;

ImageSet gather(const ImageSet& set, const std::vector<int64_t>& indices) {
  const int64_t n = static_cast<int64_t>(indices.size());
  const int64_t h = set.height(), w = set.width(), pixels = h * w * 3;
  ImageSet out;
  out.images = Tensor::empty({n, h, w, 3}, DType::U8);
  out.labels = Tensor::empty({n}, DType::I32);
  out.class_names = set.class_names;
  out.source = set.source;
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out.images.data<uint8_t>() + i * pixels, set.images.data<uint8_t>() + indices[i] * pixels,
                static_cast<size_t>(pixels));
    out.labels.data<int32_t>()[i] = set.labels.data<int32_t>()[indices[i]];
  }
  return out;
}

namespace {

// Train and test sets before subsetting and the validation split.
std::pair<ImageSet, ImageSet> load_train_test(const TrainOptions& o, std::ostream& log) {
  std::string kind = o.dataset;
  if (kind == "auto") {
    try {
      find_cifar10_dir(o.data_dir);
      kind = "cifar10";
    } catch (const Error& e) {
      log << "No CIFAR-10 found: " << e.what() << "\n"
          << "Using the built-in synthetic 10-class set instead (--dataset synthetic).\n";
      kind = "synthetic";
    }
  }
  if (kind == "cifar10") return {read_cifar10_train(o.data_dir), read_cifar10_test(o.data_dir)};
  if (kind == "folder") {
    // root/train/<class>/... and root/test/<class>/..., or one root/<class>/...
    // tree from which a shuffled tenth is held out as the test set.
    const fs::path root(o.data_dir);
    if (fs::is_directory(root / "train")) {
      ImageSet train = read_image_folder((root / "train").string(), o.image_size);
      ImageSet test = fs::is_directory(root / "test") ? read_image_folder((root / "test").string(), o.image_size)
                                                      : ImageSet{};
      if (test.size() == 0) fail("--data-dir ", o.data_dir, ": has train/ but no test/ folder of images");
      return {train, test};
    }
    const ImageSet all = read_image_folder(o.data_dir, o.image_size);
    const std::vector<int64_t> order = shuffled_order(all.size(), o.seed, kHoldoutStream);
    const int64_t n_test = std::max<int64_t>(1, all.size() / 10);
    return {gather(all, std::vector<int64_t>(order.begin() + n_test, order.end())),
            gather(all, std::vector<int64_t>(order.begin(), order.begin() + n_test))};
  }
  // The synthetic set: 5/6 for training, 1/6 for testing, like CIFAR-10's split.
  const ImageSet all = make_synthetic(o.synthetic_size, 32, o.seed);
  const int64_t n_test = o.synthetic_size / 6;
  return {slice(all, 0, all.size() - n_test), slice(all, all.size() - n_test, all.size())};
}

}  // namespace

DataSplits load_data(const TrainOptions& o, std::ostream& log) {
  auto [train, test] = load_train_test(o, log);
  if (o.subset > 0) {
    if (o.subset > train.size())
      fail("--subset ", o.subset, ": the training set has only ", train.size(), " images");
    train = subset(train, o.subset);
  }
  if (o.test_subset > 0 && o.test_subset < test.size()) test = subset(test, o.test_subset);
  DataSplits splits;
  std::tie(splits.train, splits.val) = split_validation(train, o.val_split);
  splits.test = test;
  if (splits.train.size() < o.batch_size)
    fail("--batch-size ", o.batch_size, " is larger than the training set (", splits.train.size(), " images)");
  log << "Data: " << train.source << ": " << splits.train.size() << " train, " << splits.val.size()
      << " validation, " << splits.test.size() << " test images of " << splits.train.height() << "x"
      << splits.train.width() << ", " << splits.train.class_names.size() << " classes\n";
  return splits;
}

}  // namespace tl::app
