// Fuzzes the image decoding wrapper (data/image_folder.h, data/pnm.h): the
// input is an image file's bytes, as a user's folder would hold it.
//
//  - read_image_rgb(path, max_pixels): format sniffing, the libjpeg/libpng
//    error hooks (setjmp/longjmp back into C++), CMYK conversion, the
//    claimed-size limit checked from the header before decoding;
//  - resize_image_rgb to a small size taken from the input (what
//    read_image_folder does to every image);
//  - read_pnm_header / decode_pnm from memory for P5/P6 inputs.
//
// The limit here is kMaxPixels (1 Mpixel), far below the default, so that a
// header claiming a large image is refused quickly instead of being decoded
// for seconds; the check is the same code. Properties: a decoded image is
// (H, W, 3) uint8 with H*W <= the limit, and the same file read with a limit
// of H*W - 1 is refused with a tl::Error (the limit is exact and comes first).
#include <vector>

#include "data/image_folder.h"
#include "data/pnm.h"
#include "fuzz/fuzz_util.h"

namespace {
constexpr int64_t kMaxPixels = int64_t(1) << 20;

void check_rgb(const tl::Tensor& t, const char* what) {
  TL_FUZZ_REQUIRE(t.dim() == 3 && t.size(2) == 3 && t.dtype() == tl::DType::U8, what, " gave ",
                  tl::shape_str(t.shape()));
  TL_FUZZ_REQUIRE(t.size(0) > 0 && t.size(1) > 0, what, " gave an empty image ", tl::shape_str(t.shape()));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  const std::string path = (tl::fuzz::scratch_dir() / "image").string();
  tl::fuzz::write_file(path, data, size);

  tl::Tensor image;
  if (tl::fuzz::expect_tl_error_only("read_image_rgb", [&] { image = tl::read_image_rgb(path, kMaxPixels); })) {
    check_rgb(image, "read_image_rgb");
    const int64_t pixels = image.size(0) * image.size(1);
    TL_FUZZ_REQUIRE(pixels <= kMaxPixels, "decoded ", tl::shape_str(image.shape()), " above the limit ", kMaxPixels);
    const bool refused = !tl::fuzz::expect_tl_error_only("read_image_rgb at the limit",
                                                         [&] { tl::read_image_rgb(path, pixels - 1); });
    TL_FUZZ_REQUIRE(refused, "a ", tl::shape_str(image.shape()), " image passed a limit of ", pixels - 1, " pixels");

    // To a size between 1x1 and 24x24 picked by the input (down and up).
    const int64_t h = 1 + data[size - 1] % 24, w = 1 + data[size / 2] % 24;
    tl::Tensor resized;
    TL_FUZZ_REQUIRE(tl::fuzz::expect_tl_error_only("resize_image_rgb",
                                                   [&] { resized = tl::resize_image_rgb(image, h, w); }),
                    "resize to ", h, "x", w, " refused");
    check_rgb(resized, "resize_image_rgb");
    TL_FUZZ_REQUIRE(resized.size(0) == h && resized.size(1) == w);
  }

  if (tl::is_pnm(bytes)) {
    tl::PnmHeader header;
    if (tl::fuzz::expect_tl_error_only("read_pnm_header", [&] { header = tl::read_pnm_header(bytes, path); })) {
      TL_FUZZ_REQUIRE(header.data_offset <= bytes.size(), "data offset ", header.data_offset);
      TL_FUZZ_REQUIRE(header.width > 0 && header.height > 0 && header.maxval >= 1 && header.maxval <= 255);
    }
    tl::Tensor pnm;
    if (tl::fuzz::expect_tl_error_only("decode_pnm", [&] { pnm = tl::decode_pnm(bytes, path); })) {
      check_rgb(pnm, "decode_pnm");
      TL_FUZZ_REQUIRE(pnm.size(0) == header.height && pnm.size(1) == header.width);
      // Never more samples than the file holds (so no size limit is needed here).
      TL_FUZZ_REQUIRE(static_cast<size_t>(pnm.size(0) * pnm.size(1) * header.channels) <= bytes.size(),
                      "decoded more samples than the file has");
    }
  }
  return 0;
}
