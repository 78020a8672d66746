// CRC32C, table-driven, one byte at a time (see crc32c.h). About 300 MB/s
// on one core: a 300 MB checkpoint costs a second, small beside an epoch.
// (SSE4.2's crc32 instruction would be ~20x faster; not worth a CPU-feature
// dispatch yet.)
#include "weights/crc32c.h"

#include <array>
#include <cstring>

namespace tl {
namespace {

// The Castagnoli polynomial 0x1EDC6F41, bit-reversed (CRCs are computed
// least-significant bit first).
constexpr uint32_t kPolynomial = 0x82F63B78u;

// table[b]: the CRC register after shifting the byte b through it.
constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t r = b;
    for (int bit = 0; bit < 8; ++bit) r = (r & 1u) ? (r >> 1) ^ kPolynomial : r >> 1;
    table[b] = r;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kTable = make_table();

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  // Standard pre- and post-inversion, so leading zero bytes change the CRC.
  uint32_t r = ~crc;
  for (size_t i = 0; i < size; ++i) r = kTable[(r ^ bytes[i]) & 0xFFu] ^ (r >> 8);
  return ~r;
}

uint32_t crc32c_of_floats(const float* values, size_t count) {
  // Feed each value's bits in little-endian byte order, in blocks so the
  // byte loop above does the work.
  constexpr size_t kBlock = 1024;
  unsigned char buf[kBlock * 4];
  uint32_t crc = 0;
  for (size_t begin = 0; begin < count; begin += kBlock) {
    const size_t n = count - begin < kBlock ? count - begin : kBlock;
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits;
      std::memcpy(&bits, values + begin + i, sizeof bits);
      for (int k = 0; k < 4; ++k) buf[4 * i + k] = static_cast<unsigned char>(bits >> (8 * k));
    }
    crc = crc32c(buf, 4 * n, crc);
  }
  return crc;
}

}  // namespace tl
