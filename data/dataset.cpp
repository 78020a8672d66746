// ImageSet helpers: slicing off the first samples, Keras-style validation
// split, and a well-formedness check the loader runs on whatever it is given.
#include "data/dataset.h"

#include <cmath>
#include <cstring>

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
