// CIFAR-10 binary reader: whole files in one fread each, then a transpose of
// every record from planar (3, 32, 32) to interleaved (32, 32, 3).
//
// The files are small (30.7 MB) and read once per run, so one fread into a
// buffer beats record-by-record reads and keeps the size check exact: the
// size is validated before any byte is interpreted, so a truncated download
// is a clear error instead of a shifted, garbage data set.
#include "data/cifar10.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "runtime/thread_pool.h"

namespace tl {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kPlane = kCifar10Side * kCifar10Side;  // 1024 pixels per colour plane
constexpr int64_t kClasses = 10;

const char* const kHowToGet =
    "Get the data with scripts/get_cifar10.sh [DIR] (needs a network: it downloads "
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, checks its md5 and extracts "
    "DIR/cifar-10-batches-bin/; DIR defaults to the repo's data/), then pass DIR";

// Reads `path`, which must hold exactly `records` records, into `images`
// (records, 32, 32, 3) and `labels` (records). `buffer` is reused across files.
void read_batch_file(const std::string& path, int64_t records, uint8_t* images, int32_t* labels,
                     std::vector<uint8_t>& buffer) {
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) fail("cannot read CIFAR-10 file ", path, ": ", ec.message(), ". ", kHowToGet);
  const int64_t expected = records * kCifar10RecordBytes;
  if (size != expected)
    fail("CIFAR-10 file ", path, " has ", size, " bytes, expected ", expected, " (", records,
         " records of ", kCifar10RecordBytes, " bytes)",
         size % kCifar10RecordBytes != 0 ? ": the size is not a whole number of records, so the "
                                           "file is truncated or is not the binary version"
                                         : ": wrong record count, not the official file",
         ". Download it again with scripts/get_cifar10.sh");

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) fail("cannot open CIFAR-10 file ", path, ": ", std::strerror(errno));
  buffer.resize(static_cast<size_t>(expected));
  if (std::fread(buffer.data(), 1, buffer.size(), file.get()) != buffer.size())
    fail("short read from CIFAR-10 file ", path, " (", buffer.size(), " bytes expected)");

  // Labels first, serially: a bad label must be an error naming the record,
  // before the pixels are converted on the thread pool.
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t label = buffer[static_cast<size_t>(r * kCifar10RecordBytes)];
    if (label >= kClasses)
      fail("CIFAR-10 file ", path, ": record ", r, " (byte offset ", r * kCifar10RecordBytes,
           ") has label ", int(label), ", expected 0-9: the file is corrupt or not CIFAR-10");
    labels[r] = label;
  }

  // Planar RGB -> interleaved: out[p*3 + c] = plane_c[p], p = y*32 + x.
  const uint8_t* src = buffer.data();
  parallel_for(records, true, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const uint8_t* red = src + r * kCifar10RecordBytes + 1;
      const uint8_t* green = red + kPlane;
      const uint8_t* blue = green + kPlane;
      uint8_t* out = images + r * kPlane * 3;
      for (int64_t p = 0; p < kPlane; ++p) {
        out[3 * p + 0] = red[p];
        out[3 * p + 1] = green[p];
        out[3 * p + 2] = blue[p];
      }
    }
  });
}

// Class names from batches.meta.txt (one per line, blank lines skipped, as
// TFDS does); the standard list when the file is absent.
std::vector<std::string> read_class_names(const std::string& folder) {
  const fs::path meta = fs::path(folder) / "batches.meta.txt";
  std::ifstream in(meta);
  if (!in) return cifar10_class_names();
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const auto begin = line.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) continue;
    const auto end = line.find_last_not_of(" \t\r\n");
    names.push_back(line.substr(begin, end - begin + 1));
  }
  if (static_cast<int64_t>(names.size()) != kClasses)
    fail("CIFAR-10 class list ", meta.string(), " names ", names.size(),
         " classes, expected 10 (one per line)");
  return names;
}

ImageSet read_files(const std::string& dir, const std::vector<std::string>& files,
                    int64_t records_per_file) {
  if (records_per_file <= 0) fail("CIFAR-10: records_per_file must be positive, got ", records_per_file);
  const std::string folder = find_cifar10_dir(dir, files.front());
  const auto n = static_cast<int64_t>(files.size()) * records_per_file;

  ImageSet set;
  set.images = Tensor::empty({n, kCifar10Side, kCifar10Side, 3}, DType::U8);
  set.labels = Tensor::empty({n}, DType::I32);
  std::vector<uint8_t> buffer;
  for (size_t i = 0; i < files.size(); ++i) {
    const int64_t first = static_cast<int64_t>(i) * records_per_file;
    const std::string path = (fs::path(folder) / files[i]).string();
    if (!fs::exists(path))
      fail("CIFAR-10 file ", path, " is missing (found ", files.front(), " beside it). ", kHowToGet);
    read_batch_file(path, records_per_file, set.images.data<uint8_t>() + first * kPlane * 3,
                    set.labels.data<int32_t>() + first, buffer);
  }
  set.class_names = read_class_names(folder);
  set.source = folder;
  return set;
}

}  // namespace

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

std::string find_cifar10_dir(const std::string& dir, const std::string& first_file) {
  const fs::path nested = fs::path(dir) / "cifar-10-batches-bin";
  if (fs::exists(nested / first_file)) return nested.string();
  if (fs::exists(fs::path(dir) / first_file)) return dir;
  fail("CIFAR-10 not found: looked for ", (nested / first_file).string(), " and ",
       (fs::path(dir) / first_file).string(), ". ", kHowToGet);
}

ImageSet read_cifar10_train(const std::string& dir, int64_t records_per_file) {
  return read_files(dir,
                    {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                     "data_batch_5.bin"},
                    records_per_file);
}

ImageSet read_cifar10_test(const std::string& dir, int64_t records_per_file) {
  return read_files(dir, {"test_batch.bin"}, records_per_file);
}

std::string cifar10_sample_dir() {
  if (const char* dir = std::getenv("TL_CIFAR10_SAMPLE"); dir && *dir) return dir;
  return (fs::path(TL_DATASETS_DIR) / "cifar10-sample").string();
}

namespace {
ImageSet read_sample_file(const std::string& dir, const char* file, int64_t records) {
  const fs::path path = fs::path(dir) / file;
  if (!fs::exists(path))
    fail("the CIFAR-10 sample file ", path.string(), " is missing: it ships with tl in "
         "datasets/cifar10-sample/ (scripts/make_cifar_sample.py makes it from the official "
         "files); set TL_CIFAR10_SAMPLE to its folder if you moved it");
  ImageSet set;
  set.images = Tensor::empty({records, kCifar10Side, kCifar10Side, 3}, DType::U8);
  set.labels = Tensor::empty({records}, DType::I32);
  std::vector<uint8_t> buffer;
  read_batch_file(path.string(), records, set.images.data<uint8_t>(), set.labels.data<int32_t>(),
                  buffer);
  set.class_names = read_class_names(dir);
  set.source = dir;
  return set;
}
}  // namespace

ImageSet read_cifar10_sample_train(const std::string& dir) {
  return read_sample_file(dir, "train.bin", kCifar10SampleTrain);
}

ImageSet read_cifar10_sample_test(const std::string& dir) {
  return read_sample_file(dir, "test.bin", kCifar10SampleTest);
}

}  // namespace tl
