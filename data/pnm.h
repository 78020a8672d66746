// Binary Netpbm images (PPM "P6" colour, PGM "P5" grey): a 15-byte text
// header and the raw 8-bit samples. tl reads them without any library, so
// an image folder of .ppm files works in builds that have neither libjpeg
// nor libpng (the GPU machine: bench/gpu_check.sh trains on a CIFAR-10
// subset that scripts/stage_gpu_bundle.sh writes as .ppm files).
//
// Header: magic ("P6" or "P5"), width, height, maxval, each separated by
// whitespace, '#' comments allowed between them, then exactly one whitespace
// byte before the samples (Netpbm's definition). Samples are row-major,
// RGB-interleaved for P6. maxval 1..255; values are rescaled to 0..255
// (v * 255 / maxval, rounded) when maxval is not 255. 16-bit files
// (maxval > 255) are refused with a message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace tl {

// True when the bytes start like a binary PPM or PGM ("P6" / "P5" and a
// whitespace byte).
bool is_pnm(const std::vector<uint8_t>& bytes);

struct PnmHeader {
  int64_t width = 0, height = 0, maxval = 0;
  int64_t channels = 0;      // 3 for P6, 1 for P5
  size_t data_offset = 0;    // where the samples start
};

// Parses and checks the header; `path` names the file in errors.
PnmHeader read_pnm_header(const std::vector<uint8_t>& bytes, const std::string& path);

// Decodes to (H, W, 3) uint8 RGB (grey is replicated into R, G and B).
Tensor decode_pnm(const std::vector<uint8_t>& bytes, const std::string& path);

// The encoder, for tests and tools: (H, W, 3) uint8 RGB -> a P6 file's bytes.
std::vector<uint8_t> encode_ppm(const uint8_t* rgb, int64_t height, int64_t width);

}  // namespace tl
