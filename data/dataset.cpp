// ImageSet helpers: slicing off the first samples, Keras-style validation
// split, the class-stratified order image folders are split in, class-list
// comparison, and a well-formedness check the loader runs on whatever it is
// given.
#include "data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "data/loader.h"

namespace tl {

ImageSet slice(const ImageSet& set, int64_t begin, int64_t end) {
  const int64_t n = set.size();
  if (begin < 0 || end < begin || end > n)
    fail("slice [", begin, ", ", end, ") out of range for an image set of ", n, " samples (",
         set.source, ")");
  const int64_t count = end - begin;
  const int64_t h = set.images.size(1), w = set.images.size(2);
  const size_t image_bytes = static_cast<size_t>(h * w * 3);

  ImageSet out;
  out.images = Tensor::empty({count, h, w, 3}, DType::U8);
  out.labels = Tensor::empty({count}, DType::I32);
  out.class_names = set.class_names;
  out.source = set.source;
  if (count > 0) {  // memcpy from a null pointer is undefined even for 0 bytes
    std::memcpy(out.images.data<uint8_t>(), set.images.data<uint8_t>() + begin * image_bytes,
                count * image_bytes);
    std::memcpy(out.labels.data<int32_t>(), set.labels.data<int32_t>() + begin,
                count * sizeof(int32_t));
  }
  return out;
}

ImageSet subset(const ImageSet& set, int64_t n) {
  if (n < 0 || n > set.size())
    fail("cannot take the first ", n, " samples of ", set.source, ": it holds ", set.size());
  return slice(set, 0, n);
}

ImageSet gather(const ImageSet& set, const std::vector<int64_t>& indices) {
  const auto n = static_cast<int64_t>(indices.size());
  const int64_t h = set.images.size(1), w = set.images.size(2);
  const auto image_bytes = static_cast<size_t>(h * w * 3);
  ImageSet out;
  out.images = Tensor::empty({n, h, w, 3}, DType::U8);
  out.labels = Tensor::empty({n}, DType::I32);
  out.class_names = set.class_names;
  out.source = set.source;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t from = indices[static_cast<size_t>(i)];
    if (from < 0 || from >= set.size())
      fail("gather: index ", from, " out of range for an image set of ", set.size(), " samples (", set.source, ")");
    std::memcpy(out.images.data<uint8_t>() + i * image_bytes, set.images.data<uint8_t>() + from * image_bytes,
                image_bytes);
    out.labels.data<int32_t>()[i] = set.labels.data<int32_t>()[from];
  }
  return out;
}

std::pair<ImageSet, ImageSet> split_validation(const ImageSet& set, double fraction) {
  if (!(fraction >= 0.0 && fraction < 1.0))
    fail("validation fraction must be in [0, 1), got ", fraction);
  const int64_t n = set.size();
  // Keras: split_at = int(math.floor(num_samples * (1.0 - validation_split))).
  const int64_t split_at = static_cast<int64_t>(std::floor(static_cast<double>(n) * (1.0 - fraction)));
  if (fraction > 0.0 && (split_at == 0 || split_at == n))
    fail("a validation fraction of ", fraction, " of ", n, " samples (", set.source,
         ") leaves an empty ", split_at == 0 ? "training" : "validation", " set");
  return {slice(set, 0, split_at), slice(set, split_at, n)};
}

std::vector<int64_t> stratified_order(const ImageSet& set, uint64_t seed, uint64_t stream) {
  check_image_set(set, "stratified_order");
  const auto classes = static_cast<int64_t>(set.class_names.size());
  std::vector<std::vector<int64_t>> members(static_cast<size_t>(classes));
  for (int64_t i = 0; i < set.size(); ++i) members[static_cast<size_t>(set.labels.data<int32_t>()[i])].push_back(i);

  // Sample j of a class of n sits at position (2j + 1) / 2n. Positions are
  // compared as exact fractions (cross-multiplied integers, < 2^63 for any
  // set that fits in memory), so equal positions tie exactly.
  struct Slot {
    int64_t twice_j_plus_1, twice_n, tie_rank, sample;
  };
  const std::vector<int64_t> tie_rank = shuffled_order(classes, seed, stream | kTieBreakStream);
  std::vector<Slot> slots;
  slots.reserve(static_cast<size_t>(set.size()));
  for (int64_t c = 0; c < classes; ++c) {
    const std::vector<int64_t>& in_class = members[static_cast<size_t>(c)];
    const auto n = static_cast<int64_t>(in_class.size());
    const std::vector<int64_t> shuffled = shuffled_order(n, seed, stream | static_cast<uint64_t>(c));
    for (int64_t j = 0; j < n; ++j)
      slots.push_back({2 * j + 1, 2 * n, tie_rank[static_cast<size_t>(c)],
                       in_class[static_cast<size_t>(shuffled[static_cast<size_t>(j)])]});
  }
  std::sort(slots.begin(), slots.end(), [](const Slot& a, const Slot& b) {
    const int64_t left = a.twice_j_plus_1 * b.twice_n, right = b.twice_j_plus_1 * a.twice_n;
    return left != right ? left < right : a.tie_rank < b.tie_rank;
  });
  std::vector<int64_t> order;
  order.reserve(slots.size());
  for (const Slot& s : slots) order.push_back(s.sample);
  return order;
}

namespace {

// Up to 10 quoted names, then "and N more".
std::string quoted_list(const std::vector<std::string>& names) {
  constexpr size_t kShown = 10;
  std::string out;
  for (size_t i = 0; i < std::min(names.size(), kShown); ++i) out += (i ? ", \"" : "\"") + names[i] + "\"";
  if (names.size() > kShown) out += " and " + std::to_string(names.size() - kShown) + " more";
  return out;
}

}  // namespace

std::string class_list_differences(const std::vector<std::string>& expected,
                                   const std::vector<std::string>& found, const std::string& found_name) {
  if (expected == found) return "";
  const std::set<std::string> want(expected.begin(), expected.end()), have(found.begin(), found.end());
  std::vector<std::string> missing, extra;
  for (const std::string& name : expected)
    if (!have.count(name)) missing.push_back(name);
  for (const std::string& name : found)
    if (!want.count(name)) extra.push_back(name);
  std::string out;
  if (!missing.empty()) out += "missing from " + found_name + ": " + quoted_list(missing);
  if (!extra.empty()) out += std::string(out.empty() ? "" : "; ") + "only in " + found_name + ": " + quoted_list(extra);
  if (out.empty() && expected.size() != found.size())  // the same names, some twice
    return found_name + " names " + std::to_string(found.size()) + " classes, not " +
           std::to_string(expected.size()) + " (a name repeats)";
  if (out.empty()) {  // the same names in another order: every label would mean another class
    size_t i = 0;
    while (expected[i] == found[i]) ++i;
    out = found_name + " names the same classes in another order: label " + std::to_string(i) + " is \"" +
          found[i] + "\" there, not \"" + expected[i] + "\"";
  }
  return out;
}

void check_image_set(const ImageSet& set, const std::string& what) {
  if (!set.images.defined() || !set.labels.defined()) fail(what, ": the image set is empty (no tensors)");
  const Tensor& im = set.images;
  if (im.dim() != 4 || im.size(3) != 3 || im.dtype() != DType::U8 || im.device() != Device::CPU)
    fail(what, ": images must be (N, H, W, 3) uint8 on the host, got ", shape_str(im.shape()), " ",
         dtype_name(im.dtype()), " on ", device_name(im.device()));
  const Tensor& lb = set.labels;
  if (lb.dim() != 1 || lb.dtype() != DType::I32 || lb.size(0) != im.size(0))
    fail(what, ": labels must be (", im.size(0), ") int32, got ", shape_str(lb.shape()), " ",
         dtype_name(lb.dtype()));
  const int32_t* labels = lb.numel() ? lb.data<int32_t>() : nullptr;
  const auto classes = static_cast<int64_t>(set.class_names.size());
  for (int64_t i = 0; i < lb.numel(); ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      fail(what, ": sample ", i, " has label ", labels[i], " but there are ", classes, " classes");
}

}  // namespace tl
