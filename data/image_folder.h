// Image files -> uint8 RGB tensors: single images (apps/predict) and a
// folder of class subfolders (your own data set, Keras
// `image_dataset_from_directory` style).
//
// Decoding uses libjpeg (TL_HAVE_JPEG) and libpng (TL_HAVE_PNG), both
// optional at build time; without one, reading that format is a tl::Error
// naming the file and the missing library. Binary PPM/PGM (data/pnm.h) needs
// no library. The format is recognised from the file's first bytes, not its
// extension. Grayscale, palette and 16-bit PNGs
// and grayscale/CMYK JPEGs become 8-bit RGB; an alpha channel is dropped
// (the colour values are kept as stored, as PIL's convert("RGB") does).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace tl {

// The most pixels (width x height) an image's header may claim. The header is
// checked before anything is allocated: a 1 KB file can claim 60000x60000
// (10.8 GB decoded), and decoding it would fill memory until the system
// kills the process. The default is Pillow's Image.MAX_IMAGE_PIXELS
// (89,478,485: about 9500x9500, 256 MB decoded), so any image Pillow (and
// thus Keras's loader) opens without a DecompressionBombWarning opens here.
constexpr int64_t kDefaultMaxImagePixels = 89'478'485;

// The limit in force: the environment variable TL_MAX_IMAGE_PIXELS when it
// is set (a positive whole number of pixels; anything else is a tl::Error
// naming the variable), kDefaultMaxImagePixels otherwise.
int64_t max_image_pixels();

// Decodes a JPEG, PNG or binary PPM/PGM file to (H, W, 3) uint8 RGB on the host. An image
// whose header claims more than `max_pixels` pixels is a tl::Error naming the
// file and the claimed size, raised before decoding.
Tensor read_image_rgb(const std::string& path, int64_t max_pixels);
Tensor read_image_rgb(const std::string& path);  // max_pixels = max_image_pixels()

// Bilinear resize of (H, W, 3) uint8 to (height, width, 3) with half-pixel
// centres (align_corners=False, as tf.image.resize without antialiasing and
// torch's interpolate), rounded to the nearest integer.
Tensor resize_image_rgb(const Tensor& image, int64_t height, int64_t width);

// What an image folder holds, before any image is decoded: enough to check
// class lists (e.g. train/ against test/) in milliseconds rather than after
// reading every image.
struct ImageFolderListing {
  std::string root;
  std::vector<std::string> class_names;  // the subfolder names, sorted byte-wise
  std::vector<std::string> files;        // class by class, sorted by path within a class
  std::vector<int32_t> labels;           // (files.size()) each file's index in class_names
};

// Lists root/<class>/**/*.{jpg,jpeg,png,ppm,pgm} (extension case-insensitive; names
// starting with '.' are skipped), following symbolic links as Keras does.
// tl::Error, naming the folder or link, when root is missing or has no class
// subfolders, when a class folder holds no image (it would add a class the
// model never sees), or when a symbolic link points back to a folder that
// contains it (a loop).
ImageFolderListing list_image_folder(const std::string& root);

// Decodes every listed file (limit: max_image_pixels()) and resizes it to
// size x size unless it already has that size. Samples come class by class,
// in listing order; labels are the class indices.
ImageSet read_image_folder(const ImageFolderListing& listing, int64_t size);
ImageSet read_image_folder(const std::string& root, int64_t size);  // list, then read

}  // namespace tl
