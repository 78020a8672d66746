// Binary PPM / PGM decoding (data/pnm.h): the format tl reads with no image
// library (the GPU machine's training data). Known bytes in, known pixels
// out; every malformed header is a clear error naming the file.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "data/image_folder.h"
#include "data/pnm.h"
#include "runtime/check.h"
#include "tests/support/data_fixtures.h"

namespace tl {
namespace {

std::vector<uint8_t> bytes(const std::string& header, const std::vector<uint8_t>& samples) {
  std::vector<uint8_t> b(header.begin(), header.end());
  b.insert(b.end(), samples.begin(), samples.end());
  return b;
}

std::string error_of(const std::vector<uint8_t>& b) {
  try {
    decode_pnm(b, "img.ppm");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Pnm, DecodesColourPixelsInOrder) {
  // 2x1 image: red, then a colour whose samples include whitespace bytes
  // (10 = '\n', 32 = ' '), which must be read as data, not as separators.
  const Tensor t = decode_pnm(bytes("P6\n2 1\n255\n", {255, 0, 0, 10, 32, 9}), "img.ppm");
  ASSERT_EQ(t.shape(), (Shape{1, 2, 3}));
  const uint8_t* p = t.data<uint8_t>();
  EXPECT_EQ(std::vector<uint8_t>(p, p + 6), (std::vector<uint8_t>{255, 0, 0, 10, 32, 9}));
}

TEST(Pnm, CommentsAndOddWhitespaceInTheHeader) {
  const Tensor t = decode_pnm(bytes("P6 # made by hand\n 1\t1 # size\n255\r", {1, 2, 3}), "img.ppm");
  ASSERT_EQ(t.shape(), (Shape{1, 1, 3}));
  EXPECT_EQ(t.data<uint8_t>()[2], 3);
}

TEST(Pnm, GreyIsReplicatedAndMaxvalRescaled) {
  // P5 with maxval 15: 15 -> 255, 0 -> 0, 8 -> round(8 * 255 / 15) = 136.
  const Tensor t = decode_pnm(bytes("P5\n3 1\n15\n", {15, 0, 8}), "img.pgm");
  ASSERT_EQ(t.shape(), (Shape{1, 3, 3}));
  const uint8_t* p = t.data<uint8_t>();
  EXPECT_EQ(std::vector<uint8_t>(p, p + 9), (std::vector<uint8_t>{255, 255, 255, 0, 0, 0, 136, 136, 136}));
}

TEST(Pnm, EncodeThenDecodeIsIdentity) {
  std::vector<uint8_t> rgb(4 * 3 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  const Tensor t = decode_pnm(encode_ppm(rgb.data(), 4, 3), "round-trip");
  ASSERT_EQ(t.shape(), (Shape{4, 3, 3}));
  EXPECT_EQ(std::vector<uint8_t>(t.data<uint8_t>(), t.data<uint8_t>() + rgb.size()), rgb);
}

TEST(Pnm, RecognisesOnlyBinaryNetpbm) {
  EXPECT_TRUE(is_pnm(bytes("P6\n", {})));
  EXPECT_TRUE(is_pnm(bytes("P5 ", {})));
  EXPECT_FALSE(is_pnm(bytes("P3\n", {})));  // ASCII PPM: not supported
  EXPECT_FALSE(is_pnm(bytes("P6x", {})));
  EXPECT_FALSE(is_pnm(bytes("\xff\xd8\xff", {})));  // a JPEG
}

TEST(Pnm, MalformedFilesAreClearErrors) {
  EXPECT_NE(error_of(bytes("P6\n2 1\n255\n", {1, 2, 3})).find("truncated PNM file"), std::string::npos);
  EXPECT_NE(error_of(bytes("P6\n2\n", {})).find("no height"), std::string::npos);
  EXPECT_NE(error_of(bytes("P6\n0 5\n255\n", {})).find("0x5"), std::string::npos);
  EXPECT_NE(error_of(bytes("P6\n1 1\n65535\n", {0, 0, 0, 0, 0, 0})).find("8-bit files only"), std::string::npos);
  EXPECT_NE(error_of(bytes("P6\n1 1\n255", {})).find("does not end with a whitespace"), std::string::npos);
  EXPECT_NE(error_of(bytes("P6\n1234567890 1\n255\n", {})).find("too many digits"), std::string::npos);
  EXPECT_NE(error_of(bytes("P5\n1 1\n10\n", {11})).find("exceeds maxval"), std::string::npos);
  // Every message names the file.
  EXPECT_NE(error_of(bytes("P6\n2 1\n255\n", {1})).find("img.ppm"), std::string::npos);
}

// The GPU machine has no libjpeg or libpng: an image folder of .ppm files
// (what scripts/stage_gpu_bundle.sh writes) must read like any other, and a
// PPM header is held to the same pixel limit as JPEG and PNG headers.
TEST(Pnm, ImageFolderOfPpmFiles) {
  test::DataTempDir tmp;
  const std::vector<uint8_t> red = {255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0};
  const std::vector<uint8_t> blue = {0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255};
  test::write_bytes(tmp.path() / "a" / "00001.ppm", encode_ppm(red.data(), 2, 2));
  test::write_bytes(tmp.path() / "b" / "00002.ppm", encode_ppm(blue.data(), 2, 2));
  const ImageSet set = read_image_folder(tmp.path().string(), 2);
  ASSERT_EQ(set.size(), 2);
  EXPECT_EQ(set.class_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(set.images.data<uint8_t>()[0], 255);  // a: red
  EXPECT_EQ(set.images.data<uint8_t>()[12 + 2], 255);  // b: blue

  test::write_bytes(tmp.path() / "bomb.ppm", bytes("P6\n60000 60000\n255\n", {0, 0, 0}));
  try {
    read_image_rgb((tmp.path() / "bomb.ppm").string(), 1000);
    FAIL() << "a PPM header claiming 60000x60000 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("PPM header claims 60000x60000"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tl
