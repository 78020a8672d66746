// The data room: CIFAR-10 binary reader, JPEG/PNG image folders, the
// synthetic set, dataset splits and the DataLoader (shuffle, batches,
// augmentation). Every fixture (CIFAR files, images) is written by the test
// itself into a temporary folder: no downloaded data is needed.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/cifar10.h"
#include "data/dataset.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/random.h"
#include "data/synthetic.h"
#include "apps/data_setup.h"
#include "tests/support/data_fixtures.h"

namespace tl::test {
namespace {

std::vector<uint8_t> tensor_bytes(const Tensor& t) {
  const uint8_t* p = t.data<uint8_t>();
  return {p, p + t.numel()};
}

// ------------------------------------------------------------ CIFAR-10 ----

constexpr int64_t kRecords = 3;  // records per fixture file
constexpr int64_t kRecordBytes = 3073;

// A fixture batch file: random pixels, label (first_label + r) % 10.
std::vector<uint8_t> cifar_file(uint32_t seed, int first_label) {
  std::vector<uint8_t> bytes = lcg_bytes(kRecords * kRecordBytes, seed);
  for (int64_t r = 0; r < kRecords; ++r) bytes[r * kRecordBytes] = uint8_t((first_label + r) % 10);
  return bytes;
}

const char* const kTrainFiles[5] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                    "data_batch_4.bin", "data_batch_5.bin"};

// root/cifar-10-batches-bin/ with five small train files, a test file and a
// class list with blank lines and stray whitespace.
fs::path write_cifar_fixture(const fs::path& root) {
  const fs::path dir = root / "cifar-10-batches-bin";
  for (int f = 0; f < 5; ++f) write_bytes(dir / kTrainFiles[f], cifar_file(100 + f, 3 * f));
  write_bytes(dir / "test_batch.bin", cifar_file(200, 7));
  std::ofstream(dir / "batches.meta.txt") << "c0\n c1 \r\nc2\nc3\n\nc4\nc5\nc6\nc7\nc8\nc9\n\n \n";
  return dir;
}

// Checks every pixel and label of `set` against the raw files, in order:
// pixel (c, y, x) of record r sits at byte r*3073 + 1 + c*1024 + y*32 + x.
void expect_matches_files(const ImageSet& set, const std::vector<fs::path>& files) {
  ASSERT_EQ(set.images.shape(), (Shape{int64_t(files.size()) * kRecords, 32, 32, 3}));
  ASSERT_EQ(set.labels.shape(), (Shape{int64_t(files.size()) * kRecords}));
  const uint8_t* images = set.images.data<uint8_t>();
  const int32_t* labels = set.labels.data<int32_t>();
  int64_t mismatches = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    const std::vector<uint8_t> raw = read_bytes(files[f]);
    for (int64_t r = 0; r < kRecords; ++r) {
      const int64_t n = int64_t(f) * kRecords + r;
      const uint8_t* record = raw.data() + r * kRecordBytes;
      EXPECT_EQ(labels[n], record[0]) << "sample " << n;
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < 32; ++y)
          for (int64_t x = 0; x < 32; ++x)
            mismatches += images[((n * 32 + y) * 32 + x) * 3 + c] != record[1 + c * 1024 + y * 32 + x];
    }
  }
  EXPECT_EQ(mismatches, 0) << "pixels not at NHWC (n, y, x, c) = file offset 1 + c*1024 + y*32 + x";
}

TEST(Cifar10, ReadsTrainFilesInOrderAsNHWC) {
  DataTempDir tmp;
  const fs::path dir = write_cifar_fixture(tmp.path());
  const ImageSet train = read_cifar10_train(tmp.path().string(), kRecords);
  std::vector<fs::path> files;
  for (const char* f : kTrainFiles) files.push_back(dir / f);
  expect_matches_files(train, files);
  EXPECT_EQ(train.class_names,
            (std::vector<std::string>{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"}));
  EXPECT_EQ(train.source, dir.string());
}

TEST(Cifar10, ReadsTestBatchFromTheBatchesFolderItself) {
  DataTempDir tmp;
  const fs::path dir = write_cifar_fixture(tmp.path());
  fs::remove(dir / "batches.meta.txt");  // -> the standard class list
  const ImageSet test = read_cifar10_test(dir.string(), kRecords);
  expect_matches_files(test, {dir / "test_batch.bin"});
  EXPECT_EQ(test.class_names, cifar10_class_names());
  EXPECT_EQ(test.class_names.front(), "airplane");
  EXPECT_EQ(test.class_names.back(), "truck");
}

TEST(Cifar10, TruncatedFileIsAnErrorNamingFileAndSize) {
  DataTempDir tmp;
  const fs::path dir = write_cifar_fixture(tmp.path());
  std::vector<uint8_t> bytes = cifar_file(200, 0);
  bytes.resize(bytes.size() - 100);  // 9119 bytes: not a whole number of records
  write_bytes(dir / "test_batch.bin", bytes);
  expect_contains(error_of([&] { read_cifar10_test(tmp.path().string(), kRecords); }),
                  {(dir / "test_batch.bin").string(), "9119 bytes", "truncated"});
  // The official size is checked by default: 30,730,000 bytes per file.
  expect_contains(error_of([&] { read_cifar10_test(tmp.path().string()); }),
                  {"test_batch.bin", "9119 bytes", "expected 30730000"});
  // Whole records, but the wrong number of them.
  write_bytes(dir / "test_batch.bin", lcg_bytes(4 * kRecordBytes, 1));
  expect_contains(error_of([&] { read_cifar10_test(tmp.path().string(), kRecords); }),
                  {"test_batch.bin", "12292 bytes", "expected 9219", "record count"});
}

TEST(Cifar10, LabelAboveNineNamesFileAndRecord) {
  DataTempDir tmp;
  const fs::path dir = write_cifar_fixture(tmp.path());
  std::vector<uint8_t> bytes = cifar_file(300, 0);
  bytes[2 * kRecordBytes] = 11;
  write_bytes(dir / "data_batch_4.bin", bytes);
  expect_contains(error_of([&] { read_cifar10_train(tmp.path().string(), kRecords); }),
                  {(dir / "data_batch_4.bin").string(), "record 2", "label 11"});
}

TEST(Cifar10, MissingDataSaysWhereItLookedAndHowToGetIt) {
  DataTempDir tmp;
  const std::string missing = (tmp.path() / "nowhere").string();
  expect_contains(error_of([&] { read_cifar10_train(missing); }),
                  {missing + "/cifar-10-batches-bin/data_batch_1.bin", missing + "/data_batch_1.bin",
                   "scripts/get_cifar10.sh", "cifar-10-binary.tar.gz"});
  expect_contains(error_of([&] { read_cifar10_test(missing); }),
                  {missing + "/cifar-10-batches-bin/test_batch.bin", "scripts/get_cifar10.sh"});
  // One train file missing out of five.
  const fs::path dir = write_cifar_fixture(tmp.path());
  fs::remove(dir / "data_batch_3.bin");
  expect_contains(error_of([&] { read_cifar10_train(tmp.path().string(), kRecords); }),
                  {(dir / "data_batch_3.bin").string(), "missing", "scripts/get_cifar10.sh"});
}

TEST(Cifar10, ClassListWithWrongCountIsAnError) {
  DataTempDir tmp;
  const fs::path dir = write_cifar_fixture(tmp.path());
  std::ofstream(dir / "batches.meta.txt") << "cat\ndog\n";
  expect_contains(error_of([&] { read_cifar10_test(tmp.path().string(), kRecords); }),
                  {"batches.meta.txt", "2 classes", "expected 10"});
}

// --------------------------------------------------------- image folder ----

std::vector<uint8_t> constant_rgb(int w, int h, std::array<uint8_t, 3> rgb) {
  std::vector<uint8_t> out;
  for (int i = 0; i < w * h; ++i) out.insert(out.end(), rgb.begin(), rgb.end());
  return out;
}

// Largest |a - b| over two equal-size byte vectors.
int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  int worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
  return worst;
}

// JPEG at quality 100 without chroma subsampling: only the DCT rounding and
// the YCbCr round trip remain, a few levels at most.
constexpr int kJpegTolerance = 4;

TEST(ImageFolder, ReadsPngExactlyAndConvertsGrayAndRgbaToRgb) {
#ifndef TL_HAVE_PNG
  GTEST_SKIP() << "tl was built without libpng";
#else
  DataTempDir tmp;
  const std::vector<uint8_t> rgb = lcg_bytes(5 * 3 * 3, 1);
  write_png(tmp.path() / "rgb.png", 5, 3, 3, rgb);
  const Tensor a = read_image_rgb((tmp.path() / "rgb.png").string());
  EXPECT_EQ(a.shape(), (Shape{3, 5, 3}));
  EXPECT_EQ(tensor_bytes(a), rgb);

  const std::vector<uint8_t> gray = lcg_bytes(4 * 2, 2);
  write_png(tmp.path() / "gray.png", 4, 2, 1, gray);
  const Tensor g = read_image_rgb((tmp.path() / "gray.png").string());
  ASSERT_EQ(g.shape(), (Shape{2, 4, 3}));
  for (size_t p = 0; p < gray.size(); ++p)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(g.data<uint8_t>()[p * 3 + c], gray[p]) << "gray pixel " << p;

  // RGBA: alpha dropped, colours kept as stored (also where alpha is 0).
  std::vector<uint8_t> rgba = lcg_bytes(3 * 2 * 4, 3), expected;
  rgba[3] = 0;
  rgba[7] = 128;
  for (size_t p = 0; p < 6; ++p) expected.insert(expected.end(), rgba.begin() + 4 * p, rgba.begin() + 4 * p + 3);
  write_png(tmp.path() / "rgba.png", 3, 2, 4, rgba);
  EXPECT_EQ(tensor_bytes(read_image_rgb((tmp.path() / "rgba.png").string())), expected);
#endif
}

TEST(ImageFolder, ReadsJpegRgbAndGray) {
#ifndef TL_HAVE_JPEG
  GTEST_SKIP() << "tl was built without libjpeg";
#else
  DataTempDir tmp;
  std::vector<uint8_t> rgb;  // a smooth two-way gradient (JPEG-friendly)
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x) rgb.insert(rgb.end(), {uint8_t(10 * x), uint8_t(15 * y), uint8_t(200 - 5 * x)});
  write_jpeg(tmp.path() / "a.jpg", 24, 16, 3, rgb);
  const Tensor a = read_image_rgb((tmp.path() / "a.jpg").string());
  ASSERT_EQ(a.shape(), (Shape{16, 24, 3}));
  EXPECT_LE(max_abs_diff(tensor_bytes(a), rgb), kJpegTolerance);

  std::vector<uint8_t> gray;
  for (int i = 0; i < 8 * 8; ++i) gray.push_back(uint8_t(3 * i));
  write_jpeg(tmp.path() / "g.jpeg", 8, 8, 1, gray);
  const Tensor g = read_image_rgb((tmp.path() / "g.jpeg").string());
  ASSERT_EQ(g.shape(), (Shape{8, 8, 3}));
  std::vector<uint8_t> expected;
  for (uint8_t v : gray) expected.insert(expected.end(), {v, v, v});
  EXPECT_LE(max_abs_diff(tensor_bytes(g), expected), kJpegTolerance);
  const uint8_t* p = g.data<uint8_t>();
  for (int64_t i = 0; i < 64; ++i) EXPECT_TRUE(p[3 * i] == p[3 * i + 1] && p[3 * i] == p[3 * i + 2]) << i;
#endif
}

TEST(ImageFolder, ResizeIsBilinearWithHalfPixelCentres) {
  // 1x2 -> 1x4: output x samples (x + 0.5) / 2 - 0.5 = -0.25 (clamped to 0),
  // 0.25, 0.75, 1.25 (clamped to the last pixel) -> 0, 25, 75, 100.
  Tensor row = Tensor::empty({1, 2, 3}, DType::U8);
  const uint8_t values[6] = {0, 100, 200, 100, 0, 40};
  std::copy(values, values + 6, row.data<uint8_t>());
  const Tensor wide = resize_image_rgb(row, 1, 4);
  EXPECT_EQ(tensor_bytes(wide), (std::vector<uint8_t>{0, 100, 200, 25, 75, 160, 75, 25, 80, 100, 0, 40}));

  // 4x4 -> 2x2: output pixel i samples 2i + 0.5, the mean of a 2x2 block
  // (no antialiasing beyond that), rounded to nearest.
  Tensor square = Tensor::empty({4, 4, 3}, DType::U8);
  for (int64_t p = 0; p < 16; ++p)
    for (int64_t c = 0; c < 3; ++c) square.data<uint8_t>()[p * 3 + c] = uint8_t(p * 10 + c);
  const Tensor small = resize_image_rgb(square, 2, 2);
  ASSERT_EQ(small.shape(), (Shape{2, 2, 3}));
  // Block mean of pixels {0,1,4,5} (values 0,10,40,50) is 25, etc.
  const uint8_t expected[12] = {25, 26, 27, 45, 46, 47, 105, 106, 107, 125, 126, 127};
  EXPECT_EQ(tensor_bytes(small), std::vector<uint8_t>(expected, expected + 12));
}

#ifdef TL_HAVE_PNG
// train_cifar --dataset folder on one root/<class>/ tree: a stratified tenth
// becomes the test set (apps/data_setup.cpp), drawn from every class.
TEST(ImageFolder, OneTreeHoldsOutAShuffledTenthForTesting) {
  DataTempDir tmp;
  for (int i = 0; i < 40; ++i) {
    const std::string cls = i % 2 ? "dog" : "cat";
    write_png(tmp.path() / cls / (std::to_string(i) + ".png"), 4, 4, 3,
              std::vector<uint8_t>(48, static_cast<uint8_t>(i)));
  }
  app::TrainOptions o;
  o.dataset = "folder";
  o.data_dir = tmp.path().string();
  o.image_size = 4;
  o.val_split = 0;
  o.batch_size = 2;
  std::ostringstream log;
  const app::DataSplits splits = app::load_data(o, log);
  ASSERT_EQ(splits.train.size(), 36);
  ASSERT_EQ(splits.test.size(), 4);
  std::set<int> seen;  // every image once, in train or test (the pixel value is its id)
  for (const ImageSet* s : {&splits.train, &splits.test})
    for (int64_t i = 0; i < s->size(); ++i) seen.insert(s->images.data<uint8_t>()[i * 48]);
  EXPECT_EQ(seen.size(), 40u);
  std::set<int32_t> test_classes;
  for (int64_t i = 0; i < 4; ++i) test_classes.insert(splits.test.labels.data<int32_t>()[i]);
  EXPECT_EQ(test_classes.size(), 2u) << "a shuffled hold-out, not the last class";
}
#endif

TEST(ImageFolder, ReadsSortedClassFoldersAndResizes) {
#if !defined(TL_HAVE_PNG) || !defined(TL_HAVE_JPEG)
  GTEST_SKIP() << "tl was built without libpng or libjpeg";
#else
  DataTempDir tmp;
  const fs::path root = tmp.path() / "images";
  // Classes sort to {cat, dog}; files sort by path within a class, nested
  // folders included; other files and hidden entries are ignored.
  write_png(root / "dog" / "b.png", 2, 3, 3, constant_rgb(2, 3, {10, 20, 30}));
  write_jpeg(root / "dog" / "a.JPG", 8, 8, 3, constant_rgb(8, 8, {200, 100, 50}));
  write_png(root / "cat" / "z.png", 4, 4, 3, constant_rgb(4, 4, {1, 2, 3}));
  write_png(root / "cat" / "sub" / "y.png", 16, 16, 1, std::vector<uint8_t>(256, 90));
  write_png(root / ".hidden" / "x.png", 4, 4, 3, constant_rgb(4, 4, {9, 9, 9}));
  write_png(root / "cat" / ".x.png", 4, 4, 3, constant_rgb(4, 4, {9, 9, 9}));
  write_bytes(root / "cat" / "notes.txt", {'h', 'i'});
  write_bytes(root / "readme.txt", {'h', 'i'});

  const ImageSet set = read_image_folder(root.string(), 4);
  EXPECT_EQ(set.class_names, (std::vector<std::string>{"cat", "dog"}));
  ASSERT_EQ(set.images.shape(), (Shape{4, 4, 4, 3}));
  EXPECT_EQ(std::vector<int32_t>(set.labels.data<int32_t>(), set.labels.data<int32_t>() + 4),
            (std::vector<int32_t>{0, 0, 1, 1}));
  // cat/sub/y.png (gray 90), cat/z.png, dog/a.JPG, dog/b.png: each constant,
  // and a constant image stays constant under bilinear resizing.
  const std::array<std::array<uint8_t, 3>, 4> colours = {{{90, 90, 90}, {1, 2, 3}, {200, 100, 50}, {10, 20, 30}}};
  const std::array<int, 4> tolerance = {0, 0, kJpegTolerance, 0};
  for (int64_t n = 0; n < 4; ++n) {
    const uint8_t* im = set.images.data<uint8_t>() + n * 48;
    EXPECT_LE(max_abs_diff(std::vector<uint8_t>(im, im + 48), constant_rgb(4, 4, colours[n])), tolerance[n])
        << "sample " << n;
  }
  EXPECT_EQ(set.source, root.string());
#endif
}

TEST(ImageFolder, CorruptJpegIsAClearErrorNamingTheFile) {
#ifndef TL_HAVE_JPEG
  GTEST_SKIP() << "tl was built without libjpeg";
#else
  DataTempDir tmp;
  // A JPEG start-of-image marker followed by garbage: libjpeg's error_exit
  // would print and exit(); ours must throw.
  std::vector<uint8_t> garbage = {0xFF, 0xD8, 0xFF, 0xE0};
  const std::vector<uint8_t> noise = lcg_bytes(200, 9);
  garbage.insert(garbage.end(), noise.begin(), noise.end());
  write_bytes(tmp.path() / "bad.jpg", garbage);
  expect_contains(error_of([&] { read_image_rgb((tmp.path() / "bad.jpg").string()); }),
                  {(tmp.path() / "bad.jpg").string(), "JPEG"});

  // A valid JPEG cut short inside the compressed data: libjpeg only warns
  // and pads with grey, which must not pass silently.
  std::vector<uint8_t> image = lcg_bytes(32 * 32 * 3, 4);
  write_jpeg(tmp.path() / "full.jpg", 32, 32, 3, image);
  std::vector<uint8_t> bytes = read_bytes(tmp.path() / "full.jpg");
  bytes.resize(bytes.size() * 3 / 4);
  write_bytes(tmp.path() / "cut.jpg", bytes);
  expect_contains(error_of([&] { read_image_rgb((tmp.path() / "cut.jpg").string()); }),
                  {(tmp.path() / "cut.jpg").string(), "truncated"});

  // Inside an image folder the error still names the file.
  write_bytes(tmp.path() / "set" / "a" / "bad.jpg", garbage);
  expect_contains(error_of([&] { read_image_folder((tmp.path() / "set").string(), 8); }),
                  {(tmp.path() / "set" / "a" / "bad.jpg").string()});
#endif
}

TEST(ImageFolder, CorruptPngIsAClearErrorNamingTheFile) {
#ifndef TL_HAVE_PNG
  GTEST_SKIP() << "tl was built without libpng";
#else
  DataTempDir tmp;
  write_png(tmp.path() / "full.png", 16, 16, 3, lcg_bytes(16 * 16 * 3, 5));
  std::vector<uint8_t> bytes = read_bytes(tmp.path() / "full.png");
  bytes.resize(bytes.size() / 2);
  write_bytes(tmp.path() / "cut.png", bytes);
  expect_contains(error_of([&] { read_image_rgb((tmp.path() / "cut.png").string()); }),
                  {(tmp.path() / "cut.png").string(), "PNG"});
#endif
}

#ifndef TL_HAVE_JPEG
TEST(ImageFolder, JpegWithoutLibjpegSaysSo) {
  DataTempDir tmp;
  write_bytes(tmp.path() / "a.jpg", {0xFF, 0xD8, 0xFF, 0xE0, 0, 0});
  expect_contains(error_of([&] { read_image_rgb((tmp.path() / "a.jpg").string()); }),
                  {(tmp.path() / "a.jpg").string(), "libjpeg"});
}
#endif
#ifndef TL_HAVE_PNG
TEST(ImageFolder, PngWithoutLibpngSaysSo) {
  DataTempDir tmp;
  write_bytes(tmp.path() / "a.png", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0});
  expect_contains(error_of([&] { read_image_rgb((tmp.path() / "a.png").string()); }),
                  {(tmp.path() / "a.png").string(), "libpng"});
}
#endif

TEST(ImageFolder, NotAnImageOrNoImagesIsAClearError) {
  DataTempDir tmp;
  write_bytes(tmp.path() / "text.png", {'h', 'e', 'l', 'l', 'o'});
  expect_contains(error_of([&] { read_image_rgb((tmp.path() / "text.png").string()); }),
                  {(tmp.path() / "text.png").string(), "not a JPEG, PNG or binary PPM/PGM file"});
  expect_contains(error_of([&] { read_image_rgb((tmp.path() / "none.png").string()); }),
                  {(tmp.path() / "none.png").string(), "does not exist"});
  expect_contains(error_of([&] { read_image_folder((tmp.path() / "missing").string(), 32); }),
                  {(tmp.path() / "missing").string(), "does not exist"});
  fs::create_directories(tmp.path() / "empty" / "cat");
  expect_contains(error_of([&] { read_image_folder((tmp.path() / "empty").string(), 32); }),
                  {(tmp.path() / "empty").string(), "no .jpg"});
  fs::create_directories(tmp.path() / "flat");
  expect_contains(error_of([&] { read_image_folder((tmp.path() / "flat").string(), 32); }),
                  {(tmp.path() / "flat").string(), "no class subfolders"});
}

// ------------------------------------------------------------ synthetic ----

TEST(Synthetic, IsDeterministicAndBalanced) {
  const ImageSet a = make_synthetic(40, 16, 7), b = make_synthetic(40, 16, 7), c = make_synthetic(40, 16, 8);
  EXPECT_EQ(a.images.shape(), (Shape{40, 16, 16, 3}));
  EXPECT_EQ(tensor_bytes(a.images), tensor_bytes(b.images));
  EXPECT_NE(tensor_bytes(a.images), tensor_bytes(c.images));
  ASSERT_EQ(a.class_names.size(), 10u);
  EXPECT_EQ(a.class_names[3], "synthetic-3");
  for (int64_t i = 0; i < 40; ++i) EXPECT_EQ(a.labels.data<int32_t>()[i], i % 10);
  EXPECT_EQ(tensor_bytes(subset(a, 5).images), std::vector<uint8_t>(a.images.data<uint8_t>(), a.images.data<uint8_t>() + 5 * 16 * 16 * 3))
      << "a prefix must not depend on n";
  const ImageSet three = make_synthetic(9, 8, 1, 3);
  EXPECT_EQ(three.class_names.size(), 3u);
  EXPECT_EQ(three.labels.data<int32_t>()[8], 2);
}

// Per-image mean colour (3 features).
std::array<double, 3> mean_rgb(const ImageSet& set, int64_t n) {
  const int64_t pixels = set.height() * set.width();
  const uint8_t* im = set.images.data<uint8_t>() + n * pixels * 3;
  std::array<double, 3> m{};
  for (int64_t p = 0; p < pixels; ++p)
    for (int c = 0; c < 3; ++c) m[c] += im[p * 3 + c];
  for (double& v : m) v /= double(pixels);
  return m;
}

TEST(Synthetic, SamplesDifferButClassesAreLearnable) {
  const ImageSet train = make_synthetic(500, 32, 1), test = make_synthetic(500, 32, 2);
  // Two samples of one class are different images.
  const std::vector<uint8_t> bytes = tensor_bytes(train.images);
  const size_t image = 32 * 32 * 3;
  int64_t differing = 0;
  for (size_t j = 0; j < image; ++j) differing += std::abs(int(bytes[j]) - int(bytes[10 * image + j])) > 8;
  EXPECT_GT(differing, int64_t(image / 4)) << "samples 0 and 10 (both class 0) are nearly identical";

  // Learnable: even a nearest-class-mean classifier on the mean colour, far
  // weaker than a CNN, beats chance (10%) by a wide margin on unseen samples.
  std::array<std::array<double, 3>, 10> centre{};
  for (int64_t n = 0; n < train.size(); ++n) {
    const auto m = mean_rgb(train, n);
    for (int c = 0; c < 3; ++c) centre[size_t(n % 10)][c] += m[c] / 50.0;
  }
  int64_t correct = 0;
  for (int64_t n = 0; n < test.size(); ++n) {
    const auto m = mean_rgb(test, n);
    size_t best = 0;
    double best_d = 1e30;
    for (size_t k = 0; k < 10; ++k) {
      double d = 0;
      for (int c = 0; c < 3; ++c) d += (m[c] - centre[k][c]) * (m[c] - centre[k][c]);
      if (d < best_d) best_d = d, best = k;
    }
    correct += int64_t(best) == test.labels.data<int32_t>()[n];
  }
  const double accuracy = double(correct) / double(test.size());
  std::printf("nearest-mean-colour accuracy on the synthetic set: %.3f\n", accuracy);
  EXPECT_GT(accuracy, 0.5);
  EXPECT_LT(accuracy, 1.0) << "colour alone should not separate every sample: the set would be trivial";
}

// --------------------------------------------------- dataset and loader ----

// A set whose image n is filled with bytes that identify it: pixel bytes are
// pseudo-random (so flips and shifts are visible) and never 0 (so padding is).
ImageSet numbered_set(int64_t n, int64_t side = 8) {
  ImageSet set;
  set.images = Tensor::empty({n, side, side, 3}, DType::U8);
  set.labels = Tensor::empty({n}, DType::I32);
  std::vector<uint8_t> bytes = lcg_bytes(size_t(n * side * side * 3), 77);
  for (auto& b : bytes) b = uint8_t(1 + b % 255);
  std::copy(bytes.begin(), bytes.end(), set.images.data<uint8_t>());
  for (int64_t i = 0; i < n; ++i) set.labels.data<int32_t>()[i] = int32_t(i % 3);
  set.class_names = {"a", "b", "c"};
  set.source = "numbered";
  return set;
}

std::vector<uint8_t> image_of(const ImageSet& set, int64_t n) {
  const int64_t bytes = set.height() * set.width() * 3;
  const uint8_t* p = set.images.data<uint8_t>() + n * bytes;
  return {p, p + bytes};
}

std::vector<int64_t> all_indices(DataLoader& loader, int64_t epoch, std::vector<int64_t>* sizes = nullptr) {
  std::vector<int64_t> seen;
  BatchIterator it = loader.epoch(epoch);
  for (Batch b; it.next(b);) {
    if (sizes) sizes->push_back(b.images.size(0));
    seen.insert(seen.end(), b.indices.begin(), b.indices.end());
  }
  return seen;
}

TEST(Loader, SubsetAndValidationSplitTakeTheFirstAndLastSamples) {
  const ImageSet set = numbered_set(10);
  const ImageSet first = subset(set, 4);
  ASSERT_EQ(first.size(), 4);
  EXPECT_EQ(image_of(first, 3), image_of(set, 3));
  EXPECT_EQ(first.class_names, set.class_names);

  const auto [train, val] = split_validation(set, 0.2);
  ASSERT_EQ(train.size(), 8);
  ASSERT_EQ(val.size(), 2);  // Keras: the LAST 20%
  EXPECT_EQ(image_of(train, 7), image_of(set, 7));
  EXPECT_EQ(image_of(val, 0), image_of(set, 8));
  EXPECT_EQ(val.labels.data<int32_t>()[1], set.labels.data<int32_t>()[9]);
  EXPECT_EQ(split_validation(set, 0.01).second.size(), 1);  // floor(10 * 0.99) = 9 stay
  EXPECT_EQ(split_validation(set, 0.0).second.size(), 0);
  expect_contains(error_of([&] { split_validation(set, 1.0); }), {"[0, 1)"});
  expect_contains(error_of([&] { split_validation(subset(set, 1), 0.5); }), {"empty training set"});
  expect_contains(error_of([&] { subset(set, 11); }), {"holds 10"});
}

TEST(Loader, EverySampleOncePerEpochWithThePartialLastBatch) {
  const ImageSet set = numbered_set(10);
  DataLoader loader(set, {.batch_size = 4, .seed = 5});
  EXPECT_EQ(loader.num_batches(), 3);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<int64_t> sizes;
    std::vector<int64_t> seen = all_indices(loader, epoch, &sizes);
    EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})) << "epoch " << epoch;
  }
  // Each batch carries its samples' images and labels.
  BatchIterator it = loader.epoch(1);
  for (Batch b; it.next(b);)
    for (int64_t j = 0; j < b.images.size(0); ++j) {
      const int64_t i = b.indices[size_t(j)];
      EXPECT_EQ(b.labels.data<int32_t>()[j], set.labels.data<int32_t>()[i]);
      const uint8_t* im = b.images.data<uint8_t>() + j * 8 * 8 * 3;
      EXPECT_EQ(std::vector<uint8_t>(im, im + 8 * 8 * 3), image_of(set, i)) << "no augmentation asked";
    }

  DataLoader dropping(set, {.batch_size = 4, .seed = 5, .drop_last = true});
  EXPECT_EQ(dropping.num_batches(), 2);
  std::vector<int64_t> sizes;
  const std::vector<int64_t> seen = all_indices(dropping, 0, &sizes);
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 8u);
}

TEST(Loader, OrderIsAPureFunctionOfSeedAndEpoch) {
  const ImageSet set = numbered_set(50);
  DataLoader a(set, {.batch_size = 8, .seed = 42}), b(set, {.batch_size = 8, .seed = 42});
  DataLoader other_batch(set, {.batch_size = 7, .seed = 42}), other_seed(set, {.batch_size = 8, .seed = 43});
  EXPECT_EQ(all_indices(a, 3), all_indices(b, 3));
  EXPECT_EQ(all_indices(a, 3), all_indices(other_batch, 3)) << "the order must not depend on the batch size";
  EXPECT_NE(all_indices(a, 3), all_indices(a, 4));
  EXPECT_NE(all_indices(a, 3), all_indices(other_seed, 3));
  // Pinned: the order is part of what a resumed run relies on; a change to
  // the shuffle (or to Philox) must be deliberate.
  EXPECT_EQ(epoch_order(10, 42, 0), (std::vector<int64_t>{7, 8, 0, 6, 2, 1, 9, 5, 4, 3}));

  DataLoader in_order(set, {.batch_size = 8, .shuffle = false});
  std::vector<int64_t> identity(50);
  for (int64_t i = 0; i < 50; ++i) identity[size_t(i)] = i;
  EXPECT_EQ(all_indices(in_order, 2), identity);

  // Resuming at batch 3 gives the batches an uninterrupted epoch gives.
  BatchIterator full = a.epoch(2), resumed = a.epoch(2);
  resumed.seek(3);
  Batch x, y;
  for (int k = 0; k < 4; ++k) ASSERT_TRUE(full.next(x));
  ASSERT_TRUE(resumed.next(y));
  EXPECT_EQ(x.index, 3);
  EXPECT_EQ(y.index, 3);
  EXPECT_EQ(x.indices, y.indices);
}

TEST(Loader, ShuffleIsUniform) {
  // Fisher-Yates with an unbiased draw makes all 6 orders of 3 items equally
  // likely. The classic bug (j drawn from [0, n) instead of [0, i]) gives
  // them probabilities 4/27 or 5/27: counts of 8,889 or 11,111 in 60,000.
  // Unbiased counts are 10,000 +- 91 (1 sd); 500 is 5.5 sd.
  std::map<std::vector<int64_t>, int> counts;
  for (int64_t epoch = 0; epoch < 60000; ++epoch) ++counts[epoch_order(3, 11, epoch)];
  EXPECT_EQ(counts.size(), 6u);
  for (const auto& [order, count] : counts)
    EXPECT_NEAR(count, 10000, 500) << order[0] << order[1] << order[2];
}

// The augmentation computed the long way: pad with zeros, crop, mirror.
std::vector<uint8_t> expected_augmented(const std::vector<uint8_t>& in, int64_t side, int64_t pad,
                                        const Augmentation& aug) {
  const int64_t padded = side + 2 * pad;
  std::vector<uint8_t> big(size_t(padded * padded * 3), 0), out;
  for (int64_t y = 0; y < side; ++y)
    std::copy_n(in.begin() + y * side * 3, side * 3, big.begin() + ((y + pad) * padded + pad) * 3);
  for (int64_t y = 0; y < side; ++y) {
    std::vector<std::array<uint8_t, 3>> row;
    for (int64_t x = 0; x < side; ++x) {
      const auto* p = &big[size_t(((y + pad + aug.dy) * padded + (x + pad + aug.dx)) * 3)];
      row.push_back({p[0], p[1], p[2]});
    }
    if (aug.flip) std::reverse(row.begin(), row.end());
    for (const auto& px : row) out.insert(out.end(), px.begin(), px.end());
  }
  return out;
}

TEST(Loader, AugmentationIsReproducibleAndWithinBounds) {
  const int64_t side = 8, pad = 4;
  const ImageSet set = numbered_set(200, side);
  DataLoader loader(set, {.batch_size = 16, .seed = 9, .augment = true, .pad = pad});
  std::set<int64_t> dys, dxs;
  int flips = 0;
  int64_t checked = 0, same_next_epoch = 0;
  BatchIterator it = loader.epoch(3), again = loader.epoch(3), next_epoch = loader.epoch(4);
  for (Batch b, b2, b3; it.next(b);) {
    ASSERT_TRUE(again.next(b2));
    ASSERT_TRUE(next_epoch.next(b3));
    EXPECT_EQ(tensor_bytes(b.images), tensor_bytes(b2.images)) << "same seed and epoch, different crops";
    for (int64_t j = 0; j < b.images.size(0); ++j) {
      const int64_t i = b.indices[size_t(j)];
      const Augmentation aug = augmentation_for(9, 3, i, pad);
      ASSERT_TRUE(aug.dy >= -pad && aug.dy <= pad && aug.dx >= -pad && aug.dx <= pad)
          << "shift (" << aug.dy << ", " << aug.dx << ") outside [-4, 4]";
      dys.insert(aug.dy);
      dxs.insert(aug.dx);
      flips += aug.flip;
      const uint8_t* im = b.images.data<uint8_t>() + j * side * side * 3;
      EXPECT_EQ(std::vector<uint8_t>(im, im + side * side * 3), expected_augmented(image_of(set, i), side, pad, aug))
          << "sample " << i;
      const Augmentation later = augmentation_for(9, 4, i, pad);
      same_next_epoch += later.flip == aug.flip && later.dy == aug.dy && later.dx == aug.dx;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 200);
  EXPECT_EQ(dys.size(), 9u) << "every shift in [-4, 4] should occur among 200 samples";
  EXPECT_EQ(dxs.size(), 9u);
  EXPECT_GT(flips, 60);
  EXPECT_LT(flips, 140);
  EXPECT_LT(same_next_epoch, 20) << "epoch 4 should draw fresh augmentations (expected ~200/162)";
  // Independent of the batch size: sample i gets the same crop either way.
  DataLoader other(set, {.batch_size = 200, .seed = 9, .augment = true, .pad = pad});
  BatchIterator one = other.epoch(3);
  Batch all;
  ASSERT_TRUE(one.next(all));
  const int64_t i = all.indices[0];
  EXPECT_EQ(std::vector<uint8_t>(all.images.data<uint8_t>(), all.images.data<uint8_t>() + side * side * 3),
            expected_augmented(image_of(set, i), side, pad, augmentation_for(9, 3, i, pad)));
}

TEST(Loader, RandomDrawsUseThePhiloxStreamLayout) {
  // data/random.h promises philox_block's words are the bits behind
  // runtime/philox.h's philox_uniform_at (the stream layout dropout uses).
  for (uint64_t block : {0ull, 1ull, 12345ull, (1ull << 40) + 3})
    for (uint64_t w = 0; w < 4; ++w)
      EXPECT_EQ(philox_uniform(philox_block(99, kAugmentStream | 7, block).v[w]),
                philox_uniform_at(99, kAugmentStream | 7, 4 * block + w));
}

TEST(Loader, RejectsBadOptions) {
  const ImageSet set = numbered_set(4);
  expect_contains(error_of([&] { DataLoader(set, {.batch_size = 0}); }), {"batch size"});
  expect_contains(error_of([&] { DataLoader(set, {.pad = 9}); }), {"pad"});
  ImageSet bad = set;
  bad.labels = Tensor::zeros({4}, DType::I32);  // fresh storage: set keeps its labels
  bad.labels.data<int32_t>()[0] = 5;
  expect_contains(error_of([&] { DataLoader(bad, {}); }), {"sample 0", "label 5"});
  expect_contains(error_of([&] { DataLoader(set, {}).epoch(-1); }), {"epoch"});
}

}  // namespace
}  // namespace tl::test
