// Image files -> uint8 RGB tensors: single images (apps/predict) and a
// folder of class subfolders (your own data set, Keras
// `image_dataset_from_directory` style).
//
// Decoding uses libjpeg (TL_HAVE_JPEG) and libpng (TL_HAVE_PNG), both
// optional at build time; without one, reading that format is a tl::Error
// naming the file and the missing library. The format is recognised from the
// file's first bytes, not its extension. Grayscale, palette and 16-bit PNGs
// and grayscale/CMYK JPEGs become 8-bit RGB; an alpha channel is dropped
// (the colour values are kept as stored, as PIL's convert("RGB") does).
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace tl {

// Decodes a JPEG or PNG file to (H, W, 3) uint8 RGB on the host.
Tensor read_image_rgb(const std::string& path);

// Bilinear resize of (H, W, 3) uint8 to (height, width, 3) with half-pixel
// centres (align_corners=False, as tf.image.resize without antialiasing and
// torch's interpolate), rounded to the nearest integer.
Tensor resize_image_rgb(const Tensor& image, int64_t height, int64_t width);

// Reads root/<class>/**/*.{jpg,jpeg,png} (extension case-insensitive; names
// starting with '.' are skipped). Classes are the subfolder names sorted
// byte-wise, labels their index; files are sorted by path within each class
// and samples are ordered class by class. Every image is resized to
// size x size unless it already has that size.
ImageSet read_image_folder(const std::string& root, int64_t size);

}  // namespace tl
