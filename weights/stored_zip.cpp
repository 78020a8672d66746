#include "weights/stored_zip.h"

#include <array>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "runtime/check.h"
#include "weights/atomic_write.h"

namespace tl {
namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndOfCentralDir = 0x06054b50;
constexpr size_t kLocalHeaderSize = 30, kCentralHeaderSize = 46, kEndSize = 22;

uint32_t u16(const std::string& b, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(b[at])) |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8;
}
uint32_t u32(const std::string& b, size_t at) { return u16(b, at) | u16(b, at + 2) << 16; }

void put16(std::string& out, uint32_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& out, uint32_t v) {
  put16(out, v & 0xffff);
  put16(out, v >> 16);
}

std::string describe_method(uint32_t method) {
  switch (method) {
    case 8: return "deflate";
    case 12: return "bzip2";
    case 14: return "lzma";
    default: return "method " + std::to_string(method);
  }
}

}  // namespace

uint32_t zip_crc32(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::vector<ZipMember> read_stored_zip_bytes(const std::string& b, const std::string& path) {
  auto bad = [&](const std::string& what) {
    fail("'", path, "' is not a readable .keras archive: ", what,
         ". Save it again with Keras (model.save('model.keras'))");
  };
  if (b.size() < kEndSize) bad("too short for a ZIP file");
  // The end record sits in the last 22 bytes + a comment of at most 64 KiB.
  size_t end = std::string::npos;
  const size_t lowest = b.size() > kEndSize + 0xFFFF ? b.size() - kEndSize - 0xFFFF : 0;
  for (size_t at = b.size() - kEndSize + 1; at-- > lowest;)
    if (u32(b, at) == kEndOfCentralDir) {
      end = at;
      break;
    }
  if (end == std::string::npos) bad("no end-of-central-directory record (truncated?)");
  const uint32_t disk = u16(b, end + 4), entries = u16(b, end + 10), cd_size = u32(b, end + 12),
                 cd_offset = u32(b, end + 16);
  if (disk != 0) bad("a multi-part archive");
  if (entries == 0xFFFF || cd_offset == 0xFFFFFFFFu) bad("a ZIP64 archive (over 4 GiB?), which tl does not read");
  if (static_cast<uint64_t>(cd_offset) + cd_size > end) bad("the central directory lies outside the file");

  std::vector<ZipMember> members;
  std::set<std::string> names;
  size_t at = cd_offset;
  for (uint32_t i = 0; i < entries; ++i) {
    if (at + kCentralHeaderSize > end || u32(b, at) != kCentralHeader) bad("damaged central directory entry " + std::to_string(i));
    const uint32_t flags = u16(b, at + 8), method = u16(b, at + 10), crc = u32(b, at + 16),
                   packed = u32(b, at + 20), size = u32(b, at + 24), name_len = u16(b, at + 28),
                   extra_len = u16(b, at + 30), comment_len = u16(b, at + 32), local = u32(b, at + 42);
    if (at + kCentralHeaderSize + name_len > end) bad("damaged central directory entry " + std::to_string(i));
    const std::string name = b.substr(at + kCentralHeaderSize, name_len);
    at += kCentralHeaderSize + name_len + extra_len + comment_len;
    const std::string member = "member '" + name + "'";
    if (flags & 1) bad(member + " is encrypted");
    if (method != 0)
      fail("'", path, "': ", member, " is compressed (", describe_method(method),
           "); tl reads only stored (uncompressed) members, as Keras writes them. Re-save it with Keras, or "
           "re-pack it uncompressed (python3 -m zipfile cannot; use zip -0)");
    if (packed != size) bad(member + " is stored but its compressed and uncompressed sizes differ");
    if (packed == 0xFFFFFFFFu || local == 0xFFFFFFFFu) bad(member + " uses ZIP64 sizes, which tl does not read");
    if (static_cast<uint64_t>(local) + kLocalHeaderSize > cd_offset || u32(b, local) != kLocalHeader)
      bad(member + ": no local header where the central directory says");
    const uint32_t local_name_len = u16(b, local + 26), local_extra_len = u16(b, local + 28);
    if (b.compare(local + kLocalHeaderSize, local_name_len, name) != 0 || local_name_len != name_len)
      bad(member + ": the local header names another member");
    // Sizes in the local header are zero when a data descriptor follows (bit 3).
    if (!(u16(b, local + 6) & 8) && (u32(b, local + 18) != packed || u32(b, local + 22) != size))
      bad(member + ": local header and central directory disagree on its size");
    const uint64_t data = static_cast<uint64_t>(local) + kLocalHeaderSize + local_name_len + local_extra_len;
    if (data + size > cd_offset) bad(member + " extends past the end of the data (truncated?)");
    if (!names.insert(name).second) bad(member + " appears twice");
    ZipMember m{name, b.substr(static_cast<size_t>(data), size)};
    if (zip_crc32(m.data.data(), m.data.size()) != crc) bad(member + " fails its CRC-32 check (damaged file)");
    members.push_back(std::move(m));
  }
  return members;
}

std::vector<ZipMember> read_stored_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '", path, "'");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in && !in.eof()) fail("cannot read '", path, "'");
  return read_stored_zip_bytes(bytes.str(), path);
}

void write_stored_zip(const std::string& path, const std::vector<ZipMember>& members) {
  std::string out, central;
  std::set<std::string> names;
  for (const ZipMember& m : members) {
    if (m.name.empty() || m.name.size() > 0xFFFF || !names.insert(m.name).second)
      fail("cannot write '", path, "': bad or repeated member name '", m.name, "'");
    if (m.data.size() >= 0xFFFFFFFFu || out.size() >= 0xFFFFFFFFu)
      fail("cannot write '", path, "': over 4 GiB, which needs ZIP64 (not supported)");
    const uint32_t crc = zip_crc32(m.data.data(), m.data.size()), size = static_cast<uint32_t>(m.data.size());
    const uint32_t offset = static_cast<uint32_t>(out.size());
    // Version 2.0, no flags, stored, time 00:00 date 1980-01-01 (reproducible).
    put32(out, kLocalHeader); put16(out, 20); put16(out, 0); put16(out, 0); put16(out, 0); put16(out, 0x21);
    put32(out, crc); put32(out, size); put32(out, size);
    put16(out, static_cast<uint32_t>(m.name.size())); put16(out, 0);
    out += m.name;
    out += m.data;
    put32(central, kCentralHeader); put16(central, 20); put16(central, 20); put16(central, 0); put16(central, 0);
    put16(central, 0); put16(central, 0x21); put32(central, crc); put32(central, size); put32(central, size);
    put16(central, static_cast<uint32_t>(m.name.size())); put16(central, 0); put16(central, 0);
    put16(central, 0); put16(central, 0); put32(central, 0); put32(central, offset);
    central += m.name;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  put32(out, kEndOfCentralDir); put16(out, 0); put16(out, 0);
  put16(out, static_cast<uint32_t>(members.size())); put16(out, static_cast<uint32_t>(members.size()));
  put32(out, static_cast<uint32_t>(central.size())); put32(out, cd_offset); put16(out, 0);
  write_bytes_atomically(path, out.data(), out.size());
}

}  // namespace tl
