#include "apps/data_setup.h"

#include <filesystem>
#include <ostream>
#include <sstream>

#include "data/cifar10.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/synthetic.h"

namespace tl::app {
namespace fs = std::filesystem;

namespace {

// --dataset auto: CIFAR-10 when --data-dir holds it, else the real CIFAR-10
// sample that ships with tl (saying where it looked and how to get the full
// set), else, when the sample too is missing (a moved binary), the synthetic set.
std::string resolve_dataset(const TrainOptions& o, std::ostream& log) {
  if (o.dataset != "auto") return o.dataset;
  try {
    find_cifar10_dir(o.data_dir);
    return "cifar10";
  } catch (const Error& e) {
    log << e.what() << "\n";
  }
  const std::string sample = cifar10_sample_dir();
  if (fs::exists(fs::path(sample) / "train.bin")) {
    log << "Using the real CIFAR-10 sample that ships with tl instead (--dataset cifar10-sample: "
        << kCifar10SampleTrain << " training and " << kCifar10SampleTest << " test images, " << sample << ").\n";
    return "cifar10-sample";
  }
  log << "The CIFAR-10 sample that ships with tl is missing too (" << sample << "; set TL_CIFAR10_SAMPLE). "
      << "Using the built-in synthetic 10-class set instead (--dataset synthetic).\n";
  return "synthetic";
}

// Labels are positions in the sorted class list, so a test/ folder missing
// one class would shift every later label by one, silently.
void check_same_classes(const ImageFolderListing& train, const ImageFolderListing& test, const TrainOptions& o) {
  const std::string differences = class_list_differences(train.class_names, test.class_names, test.root);
  if (!differences.empty())
    fail("--data-dir ", o.data_dir, ": train/ and test/ must hold the same class folders (a label is the "
         "class's position in the sorted list, so any difference mislabels the test set): ", differences);
}

// One image folder, root/<class>/..., from which a stratified tenth is held
// out as the test set: {train, test}.
std::pair<ImageSet, ImageSet> hold_out_test(const TrainOptions& o) {
  const ImageSet all = read_image_folder(o.data_dir, o.image_size);
  const std::vector<int64_t> order = stratified_order(all, o.seed, kHoldoutStream);
  const int64_t n_train = all.size() - std::max<int64_t>(1, all.size() / 10);
  return {gather(all, std::vector<int64_t>(order.begin(), order.begin() + n_train)),
          gather(all, std::vector<int64_t>(order.begin() + n_train, order.end()))};
}

void check_known_kind(const std::string& kind) {
  if (kind != "folder")
    fail("--dataset: expected cifar10, cifar10-sample, folder or synthetic, got '", kind, "'");
}

bool has_train_folder(const TrainOptions& o) { return fs::is_directory(fs::path(o.data_dir) / "train"); }

// The synthetic set: 5/6 for training, 1/6 for testing, like CIFAR-10's split.
std::pair<ImageSet, ImageSet> synthetic_train_test(const TrainOptions& o) {
  const ImageSet all = make_synthetic(o.synthetic_size, 32, o.seed);
  const int64_t n_test = o.synthetic_size / 6;
  return {slice(all, 0, all.size() - n_test), slice(all, all.size() - n_test, all.size())};
}

// Train and test sets in the order subsets and splits draw from; class lists
// checked.
std::pair<ImageSet, ImageSet> load_train_test(const std::string& kind, const TrainOptions& o) {
  if (kind == "cifar10") return {read_cifar10_train(o.data_dir), read_cifar10_test(o.data_dir)};
  if (kind == "cifar10-sample")
    return {read_cifar10_sample_train(cifar10_sample_dir()), read_cifar10_sample_test(cifar10_sample_dir())};
  if (kind == "synthetic") return synthetic_train_test(o);
  check_known_kind(kind);
  // An image folder: root/train/<class>/... and root/test/<class>/..., or one
  // root/<class>/... tree. Both class lists are checked before a single
  // image is decoded.
  std::pair<ImageSet, ImageSet> sets;
  if (has_train_folder(o)) {
    const fs::path root(o.data_dir);
    const ImageFolderListing train = list_image_folder((root / "train").string());
    if (!fs::is_directory(root / "test")) fail("--data-dir ", o.data_dir, ": has train/ but no test/ folder of images");
    const ImageFolderListing test = list_image_folder((root / "test").string());
    check_same_classes(train, test, o);
    sets = {read_image_folder(train, o.image_size), read_image_folder(test, o.image_size)};
  } else {
    sets = hold_out_test(o);
  }
  sets.first = gather(sets.first, stratified_order(sets.first, o.seed, kSplitStream));
  return sets;
}

// The test set alone, as load_train_test returns it. A folder with test/
// but no train/ is read as a test set too (a held-out folder of its own);
// were test/ a class of one tree instead, the class check against the
// checkpoint would say so.
ImageSet load_test_only(const std::string& kind, const TrainOptions& o) {
  if (kind == "cifar10") return read_cifar10_test(o.data_dir);
  if (kind == "cifar10-sample") return read_cifar10_sample_test(cifar10_sample_dir());
  if (kind == "synthetic") return synthetic_train_test(o).second;
  check_known_kind(kind);
  const fs::path test = fs::path(o.data_dir) / "test";
  if (!has_train_folder(o) && !fs::is_directory(test)) return hold_out_test(o).second;
  if (!fs::is_directory(test)) fail("--data-dir ", o.data_dir, ": has train/ but no test/ folder of images");
  return read_image_folder(test.string(), o.image_size);
}

// The first n samples for --subset / --test-subset (0: all). More than the
// set holds is an error naming the flag, except for the sizes --quick
// presets: they are caps, so the demo runs on any data set.
ImageSet take_first(const ImageSet& set, int64_t n, const char* flag, const char* what, const TrainOptions& o,
                    std::ostream& log) {
  if (n <= 0 || n == set.size()) return set;
  if (n > set.size()) {
    // Only --quick's own preset is a cap (its sizes suit the synthetic
    // demo, not every data set); a size the user typed is a promise to keep.
    if (!from_quick(o, flag))
      fail(flag, " ", n, ": the ", what, " has only ", set.size(), " images (", set.source, "); pass at most ",
           set.size(), ", or 0 for all");
    log << "--quick: the " << what << " has " << set.size() << " images, fewer than " << flag << " " << n
        << ": using all of them\n";
    return set;
  }
  return subset(set, n);
}

// Folder test sets are sorted by class: a stratified order makes the first
// --test-subset images a sample of every class.
ImageSet order_and_cut_test(ImageSet test, const std::string& kind, const TrainOptions& o, std::ostream& log) {
  if (kind == "folder") test = gather(test, stratified_order(test, o.seed, kTestOrderStream));
  return take_first(test, o.test_subset, "--test-subset", "test set", o, log);
}

// A class without one training image would be an output the model never
// learns: refuse, naming the class and the flags that left it out.
void check_every_class_trains(const ImageSet& train, const ImageSet& before_subset, const TrainOptions& o) {
  std::vector<int64_t> count(train.class_names.size(), 0), available(train.class_names.size(), 0);
  for (int64_t i = 0; i < train.size(); ++i) ++count[static_cast<size_t>(train.labels.data<int32_t>()[i])];
  for (int64_t i = 0; i < before_subset.size(); ++i)
    ++available[static_cast<size_t>(before_subset.labels.data<int32_t>()[i])];
  for (size_t c = 0; c < count.size(); ++c) {
    if (count[c] > 0) continue;
    if (available[c] == 0)
      fail(train.source, " holds no training image of class \"", train.class_names[c], "\": every class needs "
           "at least one");
    std::ostringstream flags;
    if (o.subset > 0) flags << "--subset " << o.subset;
    if (o.subset > 0 && o.val_split > 0) flags << " and ";
    if (o.val_split > 0) flags << "--val-split " << o.val_split;
    if (flags.str().empty()) flags << "holding out the test set";
    const bool both = o.subset > 0 && o.val_split > 0;
    fail(flags.str(), both ? " leave" : " leaves", " no training image of class \"", train.class_names[c], "\" (it has ", available[c],
         " of the ", before_subset.size(), " images of ", train.source, "; subsets and the validation split "
         "take each class in proportion). Every class needs at least one: raise --subset or lower "
         "--val-split, or remove the class");
  }
}

std::string order_note(const std::string& kind, const TrainOptions& o) {
  if (kind == "folder") return "shuffled with seed " + std::to_string(o.seed) + ", stratified by class";
  if (kind == "cifar10") return "official order; validation is its last part, as Keras's validation_split";
  if (kind == "cifar10-sample")
    return "the sample shipped with tl, official order; validation is its last part";
  return "generated order";
}

}  // namespace

DataSplits load_data(const TrainOptions& o, std::ostream& log) {
  const std::string kind = resolve_dataset(o, log);
  auto [all_train, test] = load_train_test(kind, o);
  const ImageSet train = take_first(all_train, o.subset, "--subset", "training set", o, log);
  DataSplits splits;
  try {
    std::tie(splits.train, splits.val) = split_validation(train, o.val_split);
  } catch (const Error& e) {
    fail("--val-split ", o.val_split, ": ", e.what());
  }
  splits.test = order_and_cut_test(std::move(test), kind, o, log);
  check_every_class_trains(splits.train, all_train, o);
  if (splits.train.size() < o.batch_size)
    fail("--batch-size ", o.batch_size, " is larger than the training set (", splits.train.size(), " images)");
  log << "Data: " << train.source << ": " << splits.train.size() << " train, " << splits.val.size()
      << " validation, " << splits.test.size() << " test images of " << splits.train.height() << "x"
      << splits.train.width() << ", " << splits.train.class_names.size() << " classes ("
      << order_note(kind, o) << ")\n";
  return splits;
}

ImageSet load_test_set(const TrainOptions& o, std::ostream& log) {
  const std::string kind = resolve_dataset(o, log);
  return order_and_cut_test(load_test_only(kind, o), kind, o, log);
}

}  // namespace tl::app
