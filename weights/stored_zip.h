// Just enough ZIP for Keras's .keras archives: Keras writes them with
// Python's zipfile in ZIP_STORED mode (no compression, sizes in the local
// headers, no data descriptors), so tl reads and writes only that form and
// needs no zlib/libzip. Why not libzip: one more system dependency for a
// file format whose members are never compressed by Keras; a reader of
// stored members is ~150 lines and checks everything it relies on.
//
// Reading checks the end-of-central-directory record, every central
// directory entry against its local header (name, sizes, method), that each
// member lies inside the file, and its CRC-32. A compressed, encrypted or
// ZIP64 member is refused with a message that says so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tl {

struct ZipMember {
  std::string name;
  std::string data;  // the member's bytes
};

// Reads every member of the archive at `path` (held in memory). Throws
// tl::Error naming the file (and the member) for anything it cannot read.
std::vector<ZipMember> read_stored_zip(const std::string& path);
// The same from bytes already in memory; `path` names them in messages.
std::vector<ZipMember> read_stored_zip_bytes(const std::string& bytes, const std::string& path);

// Writes `members` uncompressed, atomically (weights/atomic_write.h).
void write_stored_zip(const std::string& path, const std::vector<ZipMember>& members);

// The ZIP (IEEE 802.3) CRC-32 of `size` bytes.
uint32_t zip_crc32(const void* data, size_t size);

}  // namespace tl
