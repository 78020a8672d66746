// JPEG/PNG decoding to (H, W, 3) uint8 RGB, bilinear resizing, and the
// class-per-subfolder image folder reader.
//
// Both codecs report errors the C way: libjpeg calls an error_exit hook that
// by default prints and calls exit(), libpng longjmps to a jmp_buf. A library
// must never exit, so both get hooks that record the message and longjmp
// back to a setjmp in a small function of their own (jpeg_start,
// png_read_rows, ...). Those functions hold only trivially destructible
// locals and the longjmp crosses only the codec's C frames, so no C++
// destructor is ever skipped (C++ makes a longjmp over one undefined); the
// caller then throws an ordinary tl::Error naming the file.
#include "data/image_folder.h"
#include "data/pnm.h"
#include "kernels/upsample.h"  // BilinearTap, bilinear_tap

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#ifdef TL_HAVE_JPEG
#include <jpeglib.h>  // after <cstdio>: it uses FILE
#include <jerror.h>
#if JPEG_LIB_VERSION < 80 && !defined(MEM_SRCDST_SUPPORTED)
#error "tl needs jpeg_mem_src: libjpeg-turbo or libjpeg >= 8"
#endif
#endif
#ifdef TL_HAVE_PNG
#include <png.h>
#endif

namespace tl {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open image ", path, ": ", std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail("error reading image ", path);
  return bytes;
}

// 10.8 GB, 192 MB, 4.0 kB, 64 bytes.
std::string human_bytes(double bytes) {
  std::ostringstream os;
  os.precision(1);
  os << std::fixed;
  if (bytes >= 1e9) os << bytes / 1e9 << " GB";
  else if (bytes >= 1e6) os << bytes / 1e6 << " MB";
  else if (bytes >= 1e3) os << bytes / 1e3 << " kB";
  else os << static_cast<int64_t>(bytes) << " bytes";
  return os.str();
}

// Refuses an image whose header claims more than max_pixels pixels, before a
// byte of it is decoded (see kDefaultMaxImagePixels).
void check_claimed_size(const std::string& path, const char* format, int64_t width, int64_t height,
                        int64_t max_pixels) {
  const int64_t pixels = width * height;  // each side < 2^31 in both formats: no overflow
  if (pixels <= max_pixels) return;
  fail("image ", path, ": its ", format, " header claims ", width, "x", height, " = ", pixels, " pixels (",
       human_bytes(3.0 * static_cast<double>(pixels)), " decoded), more than the limit of ", max_pixels,
       " pixels. A header this large is usually a damaged file or a decompression bomb: check the file, "
       "shrink the image, or raise the limit with the environment variable TL_MAX_IMAGE_PIXELS=<pixels>");
}

bool is_jpeg(const std::vector<uint8_t>& b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

bool is_png(const std::vector<uint8_t>& b) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return b.size() >= 8 && std::memcmp(b.data(), kSignature, 8) == 0;
}

// ---------------------------------------------------------------- JPEG ----
#ifdef TL_HAVE_JPEG

struct JpegErrors {
  jpeg_error_mgr mgr;  // first member: libjpeg hands &mgr back as cinfo->err
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void jpeg_on_error(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

// libjpeg reports recoverable damage as warnings (level -1) and carries on,
// printing to stderr. Stay silent, but remember a premature end of data: a
// truncated file decodes to a half-grey image, which must not reach training.
// Other warnings (e.g. extraneous bytes between markers) are common in
// real-world files that decode fine, so they are ignored, as PIL does.
void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF)
    reinterpret_cast<JpegErrors*>(cinfo->err)->truncated = true;
}

// Reads the header; false (message in errors) on failure. The size it
// declares is checked before jpeg_begin_decompress, which allocates buffers
// that grow with it (whole-image coefficient arrays for progressive files).
bool jpeg_read_header_only(jpeg_decompress_struct* cinfo, JpegErrors* errors, const uint8_t* data, size_t size) {
  if (setjmp(errors->jump)) return false;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  // libjpeg converts grayscale and YCbCr to RGB itself, but not CMYK.
  const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  return true;
}

bool jpeg_begin_decompress(jpeg_decompress_struct* cinfo, JpegErrors* errors) {
  if (setjmp(errors->jump)) return false;
  jpeg_start_decompress(cinfo);
  return true;
}

bool jpeg_read_rows(jpeg_decompress_struct* cinfo, JpegErrors* errors, uint8_t* out, size_t stride) {
  if (setjmp(errors->jump)) return false;
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = out + static_cast<size_t>(cinfo->output_scanline) * stride;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

Tensor decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& path, int64_t max_pixels) {
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof(cinfo));  // so destroying it is safe even if create failed
  JpegErrors errors{};
  cinfo.err = jpeg_std_error(&errors.mgr);
  errors.mgr.error_exit = jpeg_on_error;
  errors.mgr.emit_message = jpeg_on_message;
  struct Destroy {
    jpeg_decompress_struct* c;
    ~Destroy() { jpeg_destroy_decompress(c); }
  } destroy{&cinfo};

  if (!jpeg_read_header_only(&cinfo, &errors, bytes.data(), bytes.size()))
    fail("cannot decode JPEG ", path, ": ", errors.message, " (corrupt or not a JPEG file)");
  check_claimed_size(path, "JPEG", cinfo.image_width, cinfo.image_height, max_pixels);
  if (!jpeg_begin_decompress(&cinfo, &errors))
    fail("cannot decode JPEG ", path, ": ", errors.message, " (corrupt or not a JPEG file)");
  const int64_t h = cinfo.output_height, w = cinfo.output_width, c = cinfo.output_components;
  Tensor decoded = Tensor::empty({h, w, c}, DType::U8);
  if (!jpeg_read_rows(&cinfo, &errors, decoded.data<uint8_t>(), static_cast<size_t>(w * c)))
    fail("cannot decode JPEG ", path, ": ", errors.message, " (corrupt file)");
  if (errors.truncated) fail("JPEG ", path, " is truncated (premature end of data): re-copy the file");
  if (c == 3) return decoded;

  // CMYK: Adobe applications (the usual source) store the inks inverted, so
  // the raw value is already "255 - ink" and R = C*K/255 on raw values.
  TL_CHECK(c == 4, "unexpected JPEG component count ", c, " in ", path);
  const bool inverted = cinfo.saw_Adobe_marker;
  Tensor rgb = Tensor::empty({h, w, 3}, DType::U8);
  const uint8_t* src = decoded.data<uint8_t>();
  uint8_t* dst = rgb.data<uint8_t>();
  for (int64_t p = 0; p < h * w; ++p) {
    const int k = inverted ? src[4 * p + 3] : 255 - src[4 * p + 3];
    for (int ch = 0; ch < 3; ++ch) {
      const int ink = inverted ? src[4 * p + ch] : 255 - src[4 * p + ch];
      dst[3 * p + ch] = static_cast<uint8_t>((ink * k + 127) / 255);
    }
  }
  return rgb;
}

#else
Tensor decode_jpeg(const std::vector<uint8_t>&, const std::string& path, int64_t) {
  fail("cannot read JPEG ", path, ": tl was built without libjpeg. Install it "
       "(apt-get install libjpeg-dev) and reconfigure, or convert the images to PNG");
}
#endif

// ----------------------------------------------------------------- PNG ----
#ifdef TL_HAVE_PNG

struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[160];
  int passes;  // interlace passes to read (1, or 7 for Adam7)
};

void png_on_error(png_structp png, png_const_charp message) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof(src->message), "%s", message);
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}  // recoverable: stay silent

void png_read_memory(png_structp png, png_bytep out, size_t count) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (count > src->size - src->pos) png_error(png, "unexpected end of data (truncated file)");
  std::memcpy(out, src->data + src->pos, count);
  src->pos += count;
}

// Reads the header (the chunks before the image data); false (the message
// in the PngSource) on failure.
bool png_read_header(png_structp png, png_infop info) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  return true;
}

// Asks libpng for 8-bit RGB whatever the file holds: palette -> RGB, gray ->
// RGB, 16 -> 8 bits, alpha (or tRNS) dropped without compositing, no gamma
// correction. This is what PIL's convert("RGB") gives.
bool png_request_rgb8(png_structp png, png_infop info, PngSource* src) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  src->passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  return true;
}

bool png_read_rows(png_structp png, PngSource* src, uint8_t* out, size_t stride, uint32_t height) {
  if (setjmp(png_jmpbuf(png))) return false;
  // Interlaced files deliver every row once per pass; libpng fills in the
  // pass's pixels on top of what the row already holds.
  for (int pass = 0; pass < src->passes; ++pass)
    for (uint32_t y = 0; y < height; ++y) png_read_row(png, out + y * stride, nullptr);
  png_read_end(png, nullptr);
  return true;
}

Tensor decode_png(const std::vector<uint8_t>& bytes, const std::string& path, int64_t max_pixels) {
  PngSource src{bytes.data(), bytes.size(), 0, "", 1};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
  if (!png) fail("cannot decode PNG ", path, ": libpng could not start");
  png_infop info = png_create_info_struct(png);
  struct Destroy {
    png_structp* png;
    png_infop* info;
    ~Destroy() { png_destroy_read_struct(png, info, nullptr); }
  } destroy{&png, &info};
  if (!info) fail("cannot decode PNG ", path, ": libpng could not start");
  png_set_read_fn(png, &src, png_read_memory);

  if (!png_read_header(png, info)) fail("cannot decode PNG ", path, ": ", src.message, " (corrupt file)");
  check_claimed_size(path, "PNG", png_get_image_width(png, info), png_get_image_height(png, info), max_pixels);
  if (!png_request_rgb8(png, info, &src)) fail("cannot decode PNG ", path, ": ", src.message, " (corrupt file)");
  const uint32_t h = png_get_image_height(png, info), w = png_get_image_width(png, info);
  TL_CHECK(png_get_channels(png, info) == 3 && png_get_rowbytes(png, info) == size_t(w) * 3,
           "libpng did not produce 8-bit RGB for ", path);
  Tensor image = Tensor::empty({int64_t(h), int64_t(w), 3}, DType::U8);
  if (!png_read_rows(png, &src, image.data<uint8_t>(), size_t(w) * 3, h))
    fail("cannot decode PNG ", path, ": ", src.message, " (corrupt or truncated file)");
  return image;
}

#else
Tensor decode_png(const std::vector<uint8_t>&, const std::string& path, int64_t) {
  fail("cannot read PNG ", path, ": tl was built without libpng. Install it "
       "(apt-get install libpng-dev) and reconfigure, or convert the images to JPEG");
}
#endif

bool has_image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".ppm" || ext == ".pgm";
}

bool hidden(const fs::path& p) { return p.filename().string().starts_with("."); }

// Appends the image files under `dir` to `files`, following symbolic links
// to folders as Keras does (os.walk(followlinks=True)). `walking` holds the
// canonical paths of the folders from the class folder down to `dir`: a link
// back to one of them would loop forever, so it is an error naming the link.
// (std::filesystem's recursive iterator would follow it ~40 times and then
// report ELOOP with the link's name repeated 40 times in the path.)
void collect_image_files(const std::string& root, const fs::path& dir, std::vector<fs::path>& walking,
                         std::vector<std::string>& files) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    if (hidden(path)) continue;
    std::error_code status_ec;
    const fs::file_status status = fs::status(path, status_ec);  // follows symbolic links
    if (status_ec && status_ec != std::errc::no_such_file_or_directory)
      fail("image folder ", root, ": cannot read ", path.string(), ": ", status_ec.message());
    if (fs::is_directory(status)) {
      const fs::path target = fs::canonical(path, status_ec);
      if (status_ec) fail("image folder ", root, ": cannot resolve ", path.string(), ": ", status_ec.message());
      if (std::find(walking.begin(), walking.end(), target) != walking.end())
        fail("image folder ", root, ": ", path.string(), " is a symbolic link to ", target.string(),
             ", a folder that contains it, so following it would loop forever; remove the link");
      walking.push_back(target);
      collect_image_files(root, path, walking, files);
      walking.pop_back();
    } else if (has_image_extension(path)) {
      if (!fs::exists(status))
        fail("image folder ", root, ": ", path.string(), " is a broken symbolic link (",
             fs::read_symlink(path, status_ec).string(), " does not exist); fix or remove it");
      if (fs::is_regular_file(status)) files.push_back(path.string());
    }
  }
  if (ec) fail("image folder ", root, ": cannot list ", dir.string(), ": ", ec.message());
}

}  // namespace

int64_t max_image_pixels() {
  const char* text = std::getenv("TL_MAX_IMAGE_PIXELS");
  if (text == nullptr || *text == '\0') return kDefaultMaxImagePixels;
  int64_t value = 0;
  const char* end = text + std::strlen(text);
  const auto [stop, error] = std::from_chars(text, end, value);
  if (error != std::errc() || stop != end || value <= 0)
    fail("environment variable TL_MAX_IMAGE_PIXELS='", text, "': expected a positive whole number of pixels "
         "(width x height; unset, the limit is ", kDefaultMaxImagePixels, ", Pillow's)");
  return value;
}

Tensor read_image_rgb(const std::string& path) { return read_image_rgb(path, max_image_pixels()); }

Tensor read_image_rgb(const std::string& path, int64_t max_pixels) {
  if (!fs::is_regular_file(path)) fail("image ", path, " does not exist or is not a file");
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  if (is_jpeg(bytes)) return decode_jpeg(bytes, path, max_pixels);
  if (is_png(bytes)) return decode_png(bytes, path, max_pixels);
  if (is_pnm(bytes)) {  // binary PPM / PGM: no library needed (data/pnm.h)
    const PnmHeader h = read_pnm_header(bytes, path);
    check_claimed_size(path, h.channels == 3 ? "PPM" : "PGM", h.width, h.height, max_pixels);
    return decode_pnm(bytes, path);
  }
  fail("cannot read image ", path, ": not a JPEG, PNG or binary PPM/PGM file (its first bytes match none; ",
       bytes.size(), " bytes)");
}

Tensor resize_image_rgb(const Tensor& image, int64_t height, int64_t width) {
  TL_CHECK(image.dim() == 3 && image.size(2) == 3 && image.dtype() == DType::U8,
           "resize_image_rgb wants (H, W, 3) uint8, got ", shape_str(image.shape()));
  if (height <= 0 || width <= 0) fail("resize_image_rgb: target size must be positive, got ", height, "x", width);
  const int64_t in_h = image.size(0), in_w = image.size(1);
  const uint8_t* src = image.data<uint8_t>();
  Tensor out = Tensor::empty({height, width, 3}, DType::U8);
  uint8_t* dst = out.data<uint8_t>();

  // Half-pixel centres: output pixel i samples input coordinate
  // (i + 0.5) * in/out - 0.5, clamped at 0 so the border pixel repeats: the
  // taps of the bilinear layer (kernels/upsample.h), the same type and bits.
  auto taps = [](int64_t in, int64_t n) {
    std::vector<BilinearTap> t(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = bilinear_tap(i, in, n);
    return t;
  };
  const std::vector<BilinearTap> ty = taps(in_h, height), tx = taps(in_w, width);
  for (int64_t y = 0; y < height; ++y) {
    const BilinearTap& a = ty[static_cast<size_t>(y)];
    for (int64_t x = 0; x < width; ++x) {
      const BilinearTap& b = tx[static_cast<size_t>(x)];
      for (int64_t c = 0; c < 3; ++c) {
        auto at = [&](int64_t yy, int64_t xx) { return static_cast<float>(src[(yy * in_w + xx) * 3 + c]); };
        const float top = at(a.i0, b.i0) + b.lambda * (at(a.i0, b.i1) - at(a.i0, b.i0));
        const float bottom = at(a.i1, b.i0) + b.lambda * (at(a.i1, b.i1) - at(a.i1, b.i0));
        const float v = top + a.lambda * (bottom - top);
        dst[(y * width + x) * 3 + c] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
  return out;
}

ImageFolderListing list_image_folder(const std::string& root) {
  if (!fs::is_directory(root)) fail("image folder ", root, " does not exist or is not a folder");
  ImageFolderListing listing;
  listing.root = root;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (hidden(it->path())) continue;
    std::error_code status_ec;
    const fs::file_status status = fs::status(it->path(), status_ec);  // follows symbolic links
    if (status_ec && status_ec != std::errc::no_such_file_or_directory)
      fail("image folder ", root, ": cannot read ", it->path().string(), ": ", status_ec.message());
    if (fs::is_directory(status)) listing.class_names.push_back(it->path().filename().string());
  }
  if (ec) fail("image folder ", root, ": cannot list it: ", ec.message());
  std::sort(listing.class_names.begin(), listing.class_names.end());
  if (listing.class_names.empty())
    fail("image folder ", root, " has no class subfolders: expected ", root,
         "/<class>/<image>.jpg|.jpeg|.png|.ppm");

  for (size_t k = 0; k < listing.class_names.size(); ++k) {
    const fs::path class_dir = fs::path(root) / listing.class_names[k];
    std::vector<fs::path> walking = {fs::canonical(class_dir, ec)};
    if (ec) fail("image folder ", root, ": cannot resolve ", class_dir.string(), ": ", ec.message());
    std::vector<std::string> found;
    collect_image_files(root, class_dir, walking, found);
    // Every subfolder is a class: an empty one would silently add an output
    // the model never sees an example of.
    if (found.empty())
      fail("image folder ", root, ": class folder ", class_dir.string(), " has no .jpg, .jpeg, .png or .ppm images. "
           "Every subfolder of ", root, " is a class: add its images, or remove the folder (or hide it "
           "by starting its name with '.')");
    std::sort(found.begin(), found.end());
    listing.files.insert(listing.files.end(), found.begin(), found.end());
    listing.labels.insert(listing.labels.end(), found.size(), static_cast<int32_t>(k));
  }
  return listing;
}

ImageSet read_image_folder(const ImageFolderListing& listing, int64_t size) {
  if (size <= 0) fail("read_image_folder: image size must be positive, got ", size);
  const auto n = static_cast<int64_t>(listing.files.size());
  const int64_t max_pixels = max_image_pixels();
  ImageSet set;
  set.images = Tensor::empty({n, size, size, 3}, DType::U8);
  set.labels = Tensor::empty({n}, DType::I32);
  std::copy(listing.labels.begin(), listing.labels.end(), set.labels.data<int32_t>());
  const auto image_bytes = static_cast<size_t>(size * size * 3);
  for (int64_t i = 0; i < n; ++i) {
    Tensor image = read_image_rgb(listing.files[static_cast<size_t>(i)], max_pixels);
    if (image.size(0) != size || image.size(1) != size) image = resize_image_rgb(image, size, size);
    std::memcpy(set.images.data<uint8_t>() + i * image_bytes, image.data<uint8_t>(), image_bytes);
  }
  set.class_names = listing.class_names;
  set.source = listing.root;
  return set;
}

ImageSet read_image_folder(const std::string& root, int64_t size) {
  if (size <= 0) fail("read_image_folder: image size must be positive, got ", size);
  return read_image_folder(list_image_folder(root), size);
}

}  // namespace tl
