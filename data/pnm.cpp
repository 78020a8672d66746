#include "data/pnm.h"

#include <cctype>
#include <string>

#include "runtime/check.h"

namespace tl {
namespace {

bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// A cursor over the header: skips whitespace and '#' comments, reads the
// decimal fields.
struct HeaderReader {
  const std::vector<uint8_t>& bytes;
  const std::string& path;
  size_t pos = 2;  // after the magic

  void skip_space_and_comments() {
    while (pos < bytes.size()) {
      if (is_space(bytes[pos])) {
        ++pos;
      } else if (bytes[pos] == '#') {  // a comment runs to the end of its line
        while (pos < bytes.size() && bytes[pos] != '\n' && bytes[pos] != '\r') ++pos;
      } else {
        return;
      }
    }
  }

  int64_t number(const char* field) {
    skip_space_and_comments();
    int64_t value = 0;
    size_t digits = 0;
    while (pos < bytes.size() && std::isdigit(bytes[pos])) {
      // 9 digits bound every value far above any usable image and keep the
      // arithmetic away from overflow.
      if (++digits > 9) fail("image ", path, ": the PNM ", field, " has too many digits");
      value = value * 10 + (bytes[pos] - '0');
      ++pos;
    }
    if (digits == 0) fail("image ", path, ": the PNM header has no ", field, " (corrupt or truncated file)");
    return value;
  }
};

}  // namespace

bool is_pnm(const std::vector<uint8_t>& b) {
  return b.size() >= 3 && b[0] == 'P' && (b[1] == '6' || b[1] == '5') && is_space(b[2]);
}

PnmHeader read_pnm_header(const std::vector<uint8_t>& bytes, const std::string& path) {
  if (!is_pnm(bytes)) fail("image ", path, ": not a binary PPM/PGM file (no P6/P5 magic)");
  PnmHeader h;
  h.channels = bytes[1] == '6' ? 3 : 1;
  HeaderReader r{bytes, path};
  h.width = r.number("width");
  h.height = r.number("height");
  h.maxval = r.number("maxval");
  if (h.width <= 0 || h.height <= 0)
    fail("image ", path, ": the PNM header claims a ", h.width, "x", h.height, " image");
  if (h.maxval < 1 || h.maxval > 255)
    fail("image ", path, ": PNM maxval ", h.maxval, " is not supported (8-bit files only, maxval 1..255)");
  // Exactly one whitespace byte separates the header from the samples; the
  // samples themselves may be any byte, whitespace included.
  if (r.pos >= bytes.size() || !is_space(bytes[r.pos]))
    fail("image ", path, ": the PNM header does not end with a whitespace byte (corrupt file)");
  h.data_offset = r.pos + 1;
  return h;
}

Tensor decode_pnm(const std::vector<uint8_t>& bytes, const std::string& path) {
  const PnmHeader h = read_pnm_header(bytes, path);
  const int64_t pixels = h.width * h.height;  // each <= 999,999,999: no overflow in int64
  const int64_t expected = pixels * h.channels;
  const int64_t available = static_cast<int64_t>(bytes.size() - h.data_offset);
  if (available < expected)
    fail("image ", path, ": truncated PNM file: ", h.width, "x", h.height, " needs ", expected,
         " sample bytes, the file has ", available);
  Tensor out = Tensor::empty({h.height, h.width, 3}, DType::U8);
  uint8_t* dst = out.data<uint8_t>();
  const uint8_t* src = bytes.data() + h.data_offset;
  auto scale = [&](uint8_t v) -> uint8_t {
    if (h.maxval == 255) return v;
    if (v > h.maxval) fail("image ", path, ": a PNM sample (", int(v), ") exceeds maxval ", h.maxval);
    return static_cast<uint8_t>((int64_t(v) * 255 + h.maxval / 2) / h.maxval);
  };
  for (int64_t p = 0; p < pixels; ++p)
    for (int64_t c = 0; c < 3; ++c) dst[3 * p + c] = scale(src[p * h.channels + (h.channels == 3 ? c : 0)]);
  return out;
}

std::vector<uint8_t> encode_ppm(const uint8_t* rgb, int64_t height, int64_t width) {
  const std::string header = "P6\n" + std::to_string(width) + " " + std::to_string(height) + "\n255\n";
  std::vector<uint8_t> out(header.begin(), header.end());
  out.insert(out.end(), rgb, rgb + height * width * 3);
  return out;
}

}  // namespace tl
