// Data the user hands us is never silently wrong (issue 10): image folders
// are split after a seeded, class-stratified shuffle; class lists are
// cross-checked (train/ against test/, checkpoint against the folder
// evaluate reads); image headers that claim too many pixels are refused
// before decoding; the smaller checks (--test-subset, the confusion matrix,
// the CIFAR-10 fallback message, symlink loops). Unit tests first, then the
// apps as a user runs them (DataChecksCli).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdlib>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "apps/data_setup.h"
#include "apps/evaluation.h"
#include "data/cifar10.h"
#include "data/dataset.h"
#include "data/image_folder.h"
#include "tests/support/data_fixtures.h"

namespace tl::test {
namespace {

// ------------------------------------------------------------ fixtures ----

// A side x side PNG whose first pixel is (id % 256, id / 256, label), so the
// image's id survives reading at its own size, and whose other pixels are
// noise seeded by the id, so a model scores every image differently.
void write_id_png(const fs::path& path, int id, int label, int side = 4) {
#ifdef TL_HAVE_PNG
  std::vector<uint8_t> pixels = lcg_bytes(size_t(side * side * 3), uint32_t(id) + 1);
  pixels[0] = uint8_t(id % 256), pixels[1] = uint8_t(id / 256), pixels[2] = uint8_t(label);
  write_png(path, side, side, 3, pixels);
#else
  (void)path, (void)id, (void)label, (void)side;
#endif
}

// root/<class>/<i>.png for each (class, count); ids continue from *next_id.
void write_class_folder(const fs::path& root, const std::vector<std::pair<std::string, int>>& classes,
                        int* next_id) {
  for (size_t k = 0; k < classes.size(); ++k) {
    fs::create_directories(root / classes[k].first);
    for (int i = 0; i < classes[k].second; ++i)
      write_id_png(root / classes[k].first / (std::to_string(i) + ".png"), (*next_id)++, int(k));
  }
}

int image_id(const ImageSet& set, int64_t n) {
  const uint8_t* p = set.images.data<uint8_t>() + n * set.height() * set.width() * 3;
  return p[0] + 256 * p[1];
}

std::set<int> ids_of(const ImageSet& set) {
  std::set<int> ids;
  for (int64_t n = 0; n < set.size(); ++n) ids.insert(image_id(set, n));
  return ids;
}

std::map<std::string, int> class_counts(const ImageSet& set) {
  std::map<std::string, int> counts;
  for (int64_t n = 0; n < set.size(); ++n) ++counts[set.class_names[size_t(set.labels.data<int32_t>()[n])]];
  return counts;
}

// Options for load_data on an image folder of 4x4 images (no resizing).
app::TrainOptions folder_options(const fs::path& root) {
  app::TrainOptions o;
  o.dataset = "folder";
  o.data_dir = root.string();
  o.image_size = 4;
  o.batch_size = 2;
  o.seed = 1;
  return o;
}

// The folder fixtures are PNGs: without libpng these tests have nothing to read.
#ifdef TL_HAVE_PNG
constexpr bool kHavePng = true;
#else
constexpr bool kHavePng = false;
#endif
#define REQUIRE_PNG() \
  if (!kHavePng) GTEST_SKIP() << "tl was built without libpng"

// ------------------------------------------- item 1: stratified splits ----

// The issue: --val-split took the last images of a list sorted by class, so
// the validation set was exactly the last class and that class never reached
// training. Now: a seeded shuffle, stratified by class, before --subset and
// the split; every class lands in training and validation in proportion.
TEST(DataChecks, FolderValidationSplitHoldsEveryClassInProportion) {
  REQUIRE_PNG();
  DataTempDir tmp;
  int id = 0;
  write_class_folder(tmp.path() / "train", {{"a", 10}, {"b", 10}, {"c", 20}}, &id);
  write_class_folder(tmp.path() / "test", {{"a", 1}, {"b", 1}, {"c", 1}}, &id);
  app::TrainOptions o = folder_options(tmp.path());
  o.val_split = 0.25;
  std::ostringstream log;
  const app::DataSplits s = app::load_data(o, log);
  ASSERT_EQ(s.train.size(), 30);
  ASSERT_EQ(s.val.size(), 10);
  // a and b hold 1/4 of the images each and c half: 2.5, 2.5 and 5 of the 10.
  const auto val = class_counts(s.val), train = class_counts(s.train);
  for (const auto& [name, lo, hi] : {std::tuple{"a", 2, 3}, {"b", 2, 3}, {"c", 5, 5}}) {
    EXPECT_GE(val.count(name) ? val.at(name) : 0, lo) << "validation images of class " << name;
    EXPECT_LE(val.count(name) ? val.at(name) : 0, hi) << "validation images of class " << name;
  }
  EXPECT_EQ(train.size(), 3u) << "every class must reach training";
  // A split, not a copy: each image once, in training or validation.
  std::set<int> all = ids_of(s.train);
  for (int v : ids_of(s.val)) EXPECT_TRUE(all.insert(v).second) << "image " << v << " in both";
  EXPECT_EQ(all.size(), 40u);

  // Seeded: the same seed gives the same split, another seed another one.
  std::ostringstream quiet;
  EXPECT_EQ(ids_of(app::load_data(o, quiet).val), ids_of(s.val));
  o.seed = 2;
  EXPECT_NE(ids_of(app::load_data(o, quiet).val), ids_of(s.val));

  // --subset draws from the same stratified order: 20 of 40 images keep the
  // proportions (5, 5, 10), and every class is in training and validation.
  o.subset = 20;
  const app::DataSplits sub = app::load_data(o, quiet);
  ASSERT_EQ(sub.train.size() + sub.val.size(), 20);
  std::map<std::string, int> both = class_counts(sub.train);
  for (const auto& [name, n] : class_counts(sub.val)) both[name] += n;
  EXPECT_NEAR(both["a"], 5, 1);
  EXPECT_NEAR(both["b"], 5, 1);
  EXPECT_NEAR(both["c"], 10, 1);
  EXPECT_EQ(class_counts(sub.train).size(), 3u);
  EXPECT_EQ(class_counts(sub.val).size(), 3u);
}

TEST(DataChecks, FolderTestSubsetIsStratifiedToo) {
  REQUIRE_PNG();
  DataTempDir tmp;
  int id = 0;
  write_class_folder(tmp.path() / "train", {{"a", 4}, {"b", 4}, {"c", 4}}, &id);
  write_class_folder(tmp.path() / "test", {{"a", 4}, {"b", 4}, {"c", 4}}, &id);
  app::TrainOptions o = folder_options(tmp.path());
  o.val_split = 0;
  o.test_subset = 6;
  std::ostringstream log;
  const app::DataSplits s = app::load_data(o, log);
  ASSERT_EQ(s.test.size(), 6);
  EXPECT_EQ(class_counts(s.test), (std::map<std::string, int>{{"a", 2}, {"b", 2}, {"c", 2}}));
}

// A split that would leave a class without a single training image is an
// error naming the class, not a model that never sees it.
TEST(DataChecks, SplitThatLeavesAClassOutOfTrainingIsRefused) {
  REQUIRE_PNG();
  DataTempDir tmp;
  int id = 0;
  write_class_folder(tmp.path() / "train", {{"a", 20}, {"b", 20}, {"rare", 1}}, &id);
  write_class_folder(tmp.path() / "test", {{"a", 1}, {"b", 1}, {"rare", 1}}, &id);
  app::TrainOptions o = folder_options(tmp.path());
  o.subset = 2;
  o.val_split = 0;
  std::ostringstream log;
  expect_contains(error_of([&] { app::load_data(o, log); }), {"--subset 2", "rare"});
}

// CIFAR-10 keeps Keras's convention: the validation set is the LAST fraction
// of the official order, unshuffled. Sparse all-zero files (labels 0) with
// two marked records either side of the split, and one record of each class
// at the start (every class must reach training), keep the fixture cheap.
TEST(DataChecks, CifarValidationIsTheLastFractionOfTheOfficialOrder) {
  DataTempDir tmp;
  const fs::path dir = tmp.path() / "cifar-10-batches-bin";
  fs::create_directories(dir);
  constexpr int64_t kBytes = kCifar10Records * kCifar10RecordBytes;
  for (const char* name : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                           "data_batch_5.bin", "test_batch.bin"}) {
    { std::ofstream(dir / name, std::ios::binary); }
    fs::resize_file(dir / name, kBytes);
  }
  {
    std::fstream f(dir / "data_batch_1.bin", std::ios::in | std::ios::out | std::ios::binary);
    for (int c = 1; c < 10; ++c) f.seekp(c * kCifar10RecordBytes), f.put(char(c));
  }
  {  // records 44,999 and 45,000 are records 4,999 and 5,000 of data_batch_5.bin
    std::fstream f(dir / "data_batch_5.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4999 * kCifar10RecordBytes);
    f.put(char(3));
    f.seekp(5000 * kCifar10RecordBytes);
    f.put(char(7));
  }
  app::TrainOptions o;
  o.dataset = "cifar10";
  o.data_dir = tmp.path().string();
  o.val_split = 0.1;
  std::ostringstream log;
  const app::DataSplits s = app::load_data(o, log);
  ASSERT_EQ(s.train.size(), 45000);
  ASSERT_EQ(s.val.size(), 5000);
  EXPECT_EQ(s.train.labels.data<int32_t>()[44999], 3) << "training must be the first 45,000 records, in order";
  EXPECT_EQ(s.val.labels.data<int32_t>()[0], 7) << "validation must start at record 45,000";
}

// -------------------------------------------------- item 2: class lists ----

TEST(DataChecks, TrainAndTestFoldersMustNameTheSameClasses) {
  REQUIRE_PNG();
  DataTempDir tmp;
  int id = 0;
  write_class_folder(tmp.path() / "train", {{"cat", 2}, {"dog", 2}, {"truck", 2}}, &id);
  write_class_folder(tmp.path() / "test", {{"cat", 1}, {"dog", 1}}, &id);
  app::TrainOptions o = folder_options(tmp.path());
  o.val_split = 0;
  std::ostringstream log;
  // A test/ folder missing one class would shift every later label by one.
  const std::string missing = error_of([&] { app::load_data(o, log); });
  expect_contains(missing, {(tmp.path() / "test").string(), "truck"});
  // A renamed class: both differences are listed.
  write_class_folder(tmp.path() / "test", {{"lorry", 1}}, &id);
  expect_contains(error_of([&] { app::load_data(o, log); }), {"truck", "lorry"});
  // An extra (11th) class in test/ is caught before training too.
  fs::remove_all(tmp.path() / "test" / "lorry");
  write_class_folder(tmp.path() / "test", {{"truck", 1}, {"zebra", 1}}, &id);
  expect_contains(error_of([&] { app::load_data(o, log); }), {"zebra"});
}

TEST(DataChecks, EmptyClassFolderIsAnErrorNamingIt) {
  REQUIRE_PNG();
  DataTempDir tmp;
  int id = 0;
  write_class_folder(tmp.path(), {{"cat", 2}}, &id);
  fs::create_directories(tmp.path() / "dog");
  expect_contains(error_of([&] { read_image_folder(tmp.path().string(), 4); }), {(tmp.path() / "dog").string()});
  // A class folder holding only other files is just as empty.
  write_bytes(tmp.path() / "dog" / "notes.txt", {'h', 'i'});
  expect_contains(error_of([&] { read_image_folder(tmp.path().string(), 4); }), {(tmp.path() / "dog").string()});
}

// ------------------------------------------------- item 3: image limits ----

uint32_t crc32(const uint8_t* data, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_be32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = uint8_t(v >> (24 - 8 * i));
}

// A small valid PNG whose IHDR now claims width x height (CRC fixed up, so
// only the size is a lie): the shape of a decompression bomb.
void write_png_claiming(const fs::path& path, uint32_t width, uint32_t height) {
#ifdef TL_HAVE_PNG
  write_png(path, 4, 4, 3, lcg_bytes(48, 3));
  std::vector<uint8_t> b = read_bytes(path);
  // signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), ...; CRC over type + 13 data bytes
  ASSERT_EQ(std::string(b.begin() + 12, b.begin() + 16), "IHDR");
  put_be32(b, 16, width);
  put_be32(b, 20, height);
  put_be32(b, 29, crc32(b.data() + 12, 17));
  write_bytes(path, b);
#else
  (void)path, (void)width, (void)height;
#endif
}

// The same for a JPEG: the start-of-frame segment holds height then width.
void write_jpeg_claiming(const fs::path& path, uint16_t width, uint16_t height) {
#ifdef TL_HAVE_JPEG
  write_jpeg(path, 8, 8, 3, lcg_bytes(8 * 8 * 3, 4));
  std::vector<uint8_t> b = read_bytes(path);
  size_t at = 2;  // after SOI, walk the segments: FF marker, 2-byte length
  while (at + 4 < b.size() && !(b[at] == 0xFF && b[at + 1] >= 0xC0 && b[at + 1] <= 0xC2))
    at += 2 + size_t(b[at + 2] << 8 | b[at + 3]);
  ASSERT_LT(at + 9, b.size()) << "no start-of-frame marker in the test JPEG";
  b[at + 5] = uint8_t(height >> 8), b[at + 6] = uint8_t(height);
  b[at + 7] = uint8_t(width >> 8), b[at + 8] = uint8_t(width);
  write_bytes(path, b);
#else
  (void)path, (void)width, (void)height;
#endif
}

// 10000x10000 is above the default limit (Pillow's 89,478,485 pixels) yet
// small enough (300 MB) that the unchecked reader fails without exhausting
// memory, so this test can run (and fail) on a reader with no limit.
TEST(DataChecks, PngHeaderClaimingTooManyPixelsIsRefusedBeforeDecoding) {
  REQUIRE_PNG();
  DataTempDir tmp;
  const fs::path bomb = tmp.path() / "cls" / "bomb.png";
  write_png_claiming(bomb, 10000, 10000);
  expect_contains(error_of([&] { read_image_rgb(bomb.string()); }), {bomb.string(), "10000x10000", "89478485"});
  expect_contains(error_of([&] { read_image_folder(tmp.path().string(), 4); }), {bomb.string(), "10000x10000"});
}

TEST(DataChecks, JpegHeaderClaimingTooManyPixelsIsRefusedBeforeDecoding) {
#ifndef TL_HAVE_JPEG
  GTEST_SKIP() << "tl was built without libjpeg";
#else
  DataTempDir tmp;
  const fs::path bomb = tmp.path() / "bomb.jpg";
  write_jpeg_claiming(bomb, 10000, 10000);
  expect_contains(error_of([&] { read_image_rgb(bomb.string()); }), {bomb.string(), "10000x10000", "JPEG"});
#endif
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() { had_ ? ::setenv(name_, old_.c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(DataChecks, ImagePixelLimitIsConfigurable) {
  REQUIRE_PNG();
  DataTempDir tmp;
  const fs::path image = tmp.path() / "a.png";
  write_png(image, 16, 16, 3, lcg_bytes(16 * 16 * 3, 5));
  EXPECT_EQ(read_image_rgb(image.string(), 256).size(0), 16) << "exactly at the limit is allowed";
  expect_contains(error_of([&] { read_image_rgb(image.string(), 255); }), {image.string(), "16x16", "255"});
  {
    ScopedEnv env("TL_MAX_IMAGE_PIXELS", "100");
    expect_contains(error_of([&] { read_image_rgb(image.string()); }),
                    {image.string(), "16x16", "100", "TL_MAX_IMAGE_PIXELS"});
  }
  {
    ScopedEnv env("TL_MAX_IMAGE_PIXELS", "lots");
    expect_contains(error_of([&] { read_image_rgb(image.string()); }), {"TL_MAX_IMAGE_PIXELS", "lots"});
  }
  EXPECT_EQ(read_image_rgb(image.string()).size(1), 16);
}

// ------------------------------------------- item 4: the smaller checks ----

TEST(DataChecks, SubsetsLargerThanTheSetAreRefusedAlike) {
  app::TrainOptions o;
  o.dataset = "synthetic";
  o.synthetic_size = 60;  // 50 train, 10 test
  o.val_split = 0.2;
  o.batch_size = 2;
  std::ostringstream log;
  o.test_subset = 60000;
  expect_contains(error_of([&] { app::load_data(o, log); }), {"--test-subset 60000", "10"});
  o.test_subset = 0;
  o.subset = 60000;
  expect_contains(error_of([&] { app::load_data(o, log); }), {"--subset 60000", "50"});
  // --quick's preset sizes are caps: its demo must run on any data set.
  // (quick_defaults lists the flags --quick set, as parse_train_options does.)
  o.quick = true;
  o.quick_defaults = {"--subset", "--test-subset"};
  o.subset = 2000;
  o.test_subset = 1000;
  const app::DataSplits s = app::load_data(o, log);
  EXPECT_EQ(s.test.size(), 10);
  EXPECT_EQ(s.train.size() + s.val.size(), 50);
  // A size the user typed is kept to, --quick or not.
  o.quick_defaults = {"--test-subset"};
  o.subset = 60000;
  expect_contains(error_of([&] { app::load_data(o, log); }), {"--subset 60000", "50"});
}

// Ten columns used to read "synthe" each: the columns are numbered now, and
// every row names its number and its full class name.
TEST(DataChecks, ConfusionMatrixColumnsAreReadable) {
  app::Evaluation e;
  std::vector<std::string> names;
  for (int c = 0; c < 10; ++c) names.push_back("synthetic-" + std::to_string(c));
  names[9] = "a-rather-long-class-name";
  e.confusion.assign(10, std::vector<int64_t>(10, 0));
  for (int c = 0; c < 10; ++c) e.confusion[size_t(c)][size_t(c)] = 1000 + c, e.confusion[size_t(c)][size_t(9 - c)] += 7;
  const std::string table = app::format_confusion(e, names);
  std::istringstream in(table);
  std::string title, header;
  std::getline(in, title);
  std::getline(in, header);
  std::istringstream tokens(header);
  std::vector<std::string> columns{std::istream_iterator<std::string>(tokens), std::istream_iterator<std::string>()};
  EXPECT_EQ(columns.size(), 10u) << table;
  EXPECT_EQ(std::set<std::string>(columns.begin(), columns.end()).size(), columns.size())
      << "column headings must differ:\n" << table;
  for (int c = 0; c < 10; ++c) {
    std::string row;
    std::getline(in, row);
    expect_contains(row, {names[size_t(c)], std::to_string(1000 + c)});
  }
}

TEST(DataChecks, NoCifarFallsBackToTheShippedRealSampleSayingNotFoundOnce) {
  DataTempDir tmp;
  app::TrainOptions o;
  o.data_dir = (tmp.path() / "nowhere").string();  // --dataset auto
  o.batch_size = 2;
  std::ostringstream log;
  const app::DataSplits data = app::load_data(o, log);
  EXPECT_EQ(count_of(log.str(), "found"), 1) << log.str();
  expect_contains(log.str(), {o.data_dir, "cifar10-sample"});
  // The sample's 2,000 training images, less the default 10% validation, and its 1,000 test images.
  EXPECT_EQ(data.train.size(), 1800);
  EXPECT_EQ(data.val.size(), 200);
  EXPECT_EQ(data.test.size(), 1000);
  EXPECT_EQ(data.train.class_names, cifar10_class_names());
}

TEST(DataChecks, NoCifarAndNoSampleFallsBackToTheSyntheticSetSayingWhy) {
  DataTempDir tmp;
  const ScopedEnv moved("TL_CIFAR10_SAMPLE", (tmp.path() / "no-sample").c_str());
  app::TrainOptions o;
  o.data_dir = (tmp.path() / "nowhere").string();  // --dataset auto
  o.synthetic_size = 60;
  o.batch_size = 2;
  std::ostringstream log;
  app::load_data(o, log);
  expect_contains(log.str(), {o.data_dir, "no-sample", "TL_CIFAR10_SAMPLE", "synthetic"});
}

TEST(DataChecks, SymlinkLoopIsOneErrorNamingTheLink) {
  REQUIRE_PNG();
  DataTempDir tmp;
  int id = 0;
  write_class_folder(tmp.path(), {{"cat", 1}, {"dog", 1}}, &id);
  const fs::path link = tmp.path() / "cat" / "again";
  fs::create_directory_symlink(tmp.path() / "cat", link);
  std::string message;
  try {
    read_image_folder(tmp.path().string(), 4);
    ADD_FAILURE() << "a symlink loop was followed without an error";
  } catch (const Error& e) {
    message = e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a tl::Error: " << e.what();
  }
  EXPECT_EQ(count_of(message, link.string()), 1) << message;
  expect_contains(message, {"loop"});
  // A link to a folder outside the walk is followed as before.
  fs::remove(link);
  write_class_folder(tmp.path() / ".elsewhere", {{"more", 2}}, &id);  // hidden: not a class
  fs::create_directory_symlink(tmp.path() / ".elsewhere" / "more", tmp.path() / "dog" / "more");
  EXPECT_EQ(class_counts(read_image_folder(tmp.path().string(), 4)),
            (std::map<std::string, int>{{"cat", 1}, {"dog", 3}}));
}

// ------------------------------------------------- the apps, end to end ----

struct AppResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

AppResult run_app(const std::string& app, const std::string& args) {
  const std::string binary = std::string(TL_BUILD_DIR) + "/apps/" + app;
  AppResult r;
  if (!fs::exists(binary)) {
    ADD_FAILURE() << binary << " is not built (build the '" << app << "' target)";
    return r;
  }
  FILE* pipe = popen((binary + " " + args + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), pipe)) > 0;) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A failure whose last line is one "<app>: error: ..." line holding every part.
void expect_clean_error(const AppResult& r, const std::string& app, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const size_t at = r.output.rfind(app + ": error: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string line = r.output.substr(at);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "error is not one line: " << line;
  expect_contains(line, parts);
}

// One epoch of a tiny model on tmp/data (train/ and test/ with the classes
// given); returns the checkpoint.
std::string train_tiny_folder_model(const fs::path& tmp, const std::vector<std::pair<std::string, int>>& classes) {
  int id = 0;
  write_class_folder(tmp / "data" / "train", classes, &id);
  std::vector<std::pair<std::string, int>> test = classes;
  for (auto& c : test) c.second = 2;
  write_class_folder(tmp / "data" / "test", test, &id);
  const AppResult r = run_app("train_cifar", "--dataset folder --data-dir " + (tmp / "data").string() +
                                                 " --image-size 32 --pool avg --weights none --epochs 1 "
                                                 "--batch-size 4 --val-split 0.25 --optimizer adam --lr 1e-3 "
                                                 "--output-dir " + (tmp / "run").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return (tmp / "run" / "checkpoints" / "last.h5").string();
}

TEST(DataChecksCli, TrainCifarChecksTheClassListsBeforeTraining) {
  REQUIRE_PNG();
  DataTempDir tmp;
  int id = 0;
  write_class_folder(tmp.path() / "train", {{"cat", 4}, {"dog", 4}}, &id);
  write_class_folder(tmp.path() / "test", {{"cat", 1}, {"dog", 1}, {"eel", 1}}, &id);
  const AppResult r = run_app("train_cifar", "--dataset folder --data-dir " + tmp.path().string() +
                                                 " --image-size 32 --pool avg --weights none --epochs 1 "
                                                 "--batch-size 2 --output-dir " + (tmp.path() / "run").string());
  expect_clean_error(r, "train_cifar", {"eel", (tmp.path() / "test").string()});
  EXPECT_EQ(r.output.find("Epoch"), std::string::npos) << "the check must come before training:\n" << r.output;
  EXPECT_FALSE(fs::exists(tmp.path() / "run" / "checkpoints" / "last.h5"));
}

TEST(DataChecksCli, EvaluateComparesClassNamesAndDescribesOnlyItsTestSet) {
  REQUIRE_PNG();
  DataTempDir tmp;
  const std::string checkpoint = train_tiny_folder_model(tmp.path(), {{"cat", 4}, {"dog", 4}, {"frog", 4}});
  ASSERT_TRUE(fs::exists(checkpoint));

  const AppResult ok = run_app("evaluate", "--checkpoint " + checkpoint + " --dataset folder --data-dir " +
                                               (tmp.path() / "data").string());
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  expect_contains(ok.output, {"6 images", "frog"});
  EXPECT_EQ(ok.output.find("validation"), std::string::npos) << "evaluate describes only its test set:\n" << ok.output;

  // A test folder whose classes differ from the checkpoint's: refused, both names listed.
  int id = 100;
  write_class_folder(tmp.path() / "other" / "test", {{"cat", 1}, {"dog", 1}, {"toad", 1}}, &id);
  expect_clean_error(run_app("evaluate", "--checkpoint " + checkpoint + " --dataset folder --data-dir " +
                                             (tmp.path() / "other").string()),
                     "evaluate", {"frog", "toad", checkpoint});

  // --test-subset above the test set's size is refused, as --subset is.
  expect_clean_error(run_app("evaluate", "--checkpoint " + checkpoint + " --dataset folder --data-dir " +
                                             (tmp.path() / "data").string() + " --test-subset 60000"),
                     "evaluate", {"--test-subset 60000", "6"});

  // predict refuses an image whose header claims too many pixels, naming it.
#ifdef TL_HAVE_JPEG
  const fs::path bomb = tmp.path() / "bomb.jpg";
  write_jpeg_claiming(bomb, 10000, 10000);
  expect_clean_error(run_app("predict", "--checkpoint " + checkpoint + " " + bomb.string()), "predict",
                     {bomb.string(), "10000x10000"});
#endif
}

// The value after `key` on the line that holds it ("" if none).
std::string value_after(const std::string& text, const std::string& key) {
  const size_t at = text.find(key);
  if (at == std::string::npos) return "";
  const size_t begin = at + key.size();
  return text.substr(begin, text.find_first_of(",%\n", begin) - begin);
}

// On one image tree, train_cifar holds out a stratified tenth (drawn with the
// run's seed) and --test-subset takes a stratified part of it; evaluate must
// score exactly those images, so both report the same loss and accuracy.
TEST(DataChecksCli, EvaluateRebuildsTheTestSetTrainingUsed) {
  REQUIRE_PNG();
  DataTempDir tmp;
  int id = 0;
  write_class_folder(tmp.path() / "tree", {{"cat", 10}, {"dog", 10}, {"frog", 20}}, &id);
  const std::string common = "--dataset folder --data-dir " + (tmp.path() / "tree").string() +
                             " --test-subset 3 --batch-size 4 ";
  const AppResult train = run_app("train_cifar", common + "--image-size 32 --pool avg --weights none --epochs 1 "
                                                 "--val-split 0.25 --optimizer adam --lr 1e-3 --seed 7 "
                                                 "--output-dir " + (tmp.path() / "run").string());
  ASSERT_EQ(train.exit_code, 0) << train.output;
  expect_contains(train.output, {"3 test images", "on 3 images"});
  const AppResult eval = run_app("evaluate", common + "--checkpoint " + (tmp.path() / "run" / "checkpoints" / "last.h5").string());
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  expect_contains(eval.output, {"(3 images)"});
  EXPECT_EQ(value_after(eval.output, "Test loss "), value_after(train.output, "Test: loss ")) << train.output << eval.output;
  EXPECT_EQ(value_after(eval.output, "accuracy "), value_after(train.output, "Test: loss " +
                                                               value_after(train.output, "Test: loss ") + ", accuracy "));
}

// evaluate used to rebuild the synthetic set through train_cifar's data
// setup and print a train/validation split training never used.
TEST(DataChecksCli, EvaluateOnTheSyntheticSetPrintsNoTrainingSplit) {
  DataTempDir tmp;
  const AppResult train = run_app("train_cifar", "--dataset synthetic --synthetic-size 60 --image-size 32 "
                                                 "--pool avg --batch-size 16 --weights none --epochs 1 "
                                                 "--val-split 0.2 --seed 3 --output-dir " + tmp.path().string());
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const AppResult r = run_app("evaluate", "--checkpoint " + (tmp.path() / "checkpoints" / "last.h5").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  expect_contains(r.output, {"10 images"});
  EXPECT_EQ(r.output.find("validation"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(" train"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tl::test
