// CRC32C (Castagnoli): the checksum tl stores beside every tensor of a
// checkpoint (weights/checkpoint.h) and every float dataset it writes.
//
// Why CRC32C: it detects every error burst of up to 32 bits (so every
// flipped byte) and any odd number of flipped bits, it is the checksum
// iSCSI, ext4, Btrfs and LevelDB/RocksDB use for the same job, and it is 30
// lines of plain code with no dependency. It is not a cryptographic hash: it
// catches damage (bad disks, truncated copies, bit rot), not tampering.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tl {

// CRC32C of `size` bytes, continuing from `crc` (the value returned for the
// bytes before them; 0 to start). crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

// CRC32C of float32 values in their little-endian byte form (the form HDF5
// stores them in), so the same values give the same checksum on any host.
uint32_t crc32c_of_floats(const float* values, size_t count);

}  // namespace tl
