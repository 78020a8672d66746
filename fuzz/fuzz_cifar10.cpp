// Fuzzes the CIFAR-10 binary reader (data/cifar10.h): read_cifar10_train and
// read_cifar10_test on a folder the driver writes from the input.
//
// Input layout (make_seed_corpus.py writes it):
//   byte 0   options:  bit 0     records per file: 1 (clear) or 2 (set)
//                      bit 1     nested layout: DIR/cifar-10-batches-bin/...
//                      bit 2     write batches.meta.txt (the class names)
//                      bit 3     the training set (data_batch_1..5.bin, each
//                                the same bytes) instead of test_batch.bin
//                      bit 4     records per file = file size / 3073 instead
//                                (0 for a short file: the "must be positive" path)
//                      bit 5     leave data_batch_3.bin out (a missing file)
//   byte 1   with bit 2: the length L of the class list, then L bytes of it
//   rest     the batch file
// Checks on success: (N, 32, 32, 3) uint8 images whose pixels are the
// file's planar bytes interleaved, labels 0-9 equal to the label bytes, ten
// class names.
#include <cstring>
#include <vector>

#include "data/cifar10.h"
#include "fuzz/fuzz_util.h"

namespace fs = std::filesystem;
using tl::fuzz::write_file;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t options = data[0];
  size_t pos = 1;
  const uint8_t* meta = nullptr;
  size_t meta_size = 0;
  if (options & 4) {
    if (pos >= size) return 0;
    const size_t wanted = data[pos++];
    meta_size = std::min(wanted, size - pos);
    meta = data + pos;
    pos += meta_size;
  }
  const uint8_t* batch = data + pos;
  const size_t batch_size = size - pos;
  const bool train = options & 8;
  int64_t records = (options & 1) ? 2 : 1;
  if (options & 16) records = static_cast<int64_t>(batch_size / tl::kCifar10RecordBytes);

  // A fresh folder each time: nothing may leak from one input to the next.
  const fs::path root = tl::fuzz::scratch_dir() / "cifar";
  fs::remove_all(root);
  const fs::path folder = (options & 2) ? root / "cifar-10-batches-bin" : root;
  fs::create_directories(folder);
  if (meta) write_file(folder / "batches.meta.txt", meta, meta_size);
  if (train) {
    for (int i = 1; i <= 5; ++i)
      if (!(i == 3 && (options & 32)))
        write_file(folder / ("data_batch_" + std::to_string(i) + ".bin"), batch, batch_size);
  } else {
    write_file(folder / "test_batch.bin", batch, batch_size);
  }

  tl::ImageSet set;
  const bool ok = tl::fuzz::expect_tl_error_only("read_cifar10", [&] {
    set = train ? tl::read_cifar10_train(root.string(), records) : tl::read_cifar10_test(root.string(), records);
  });
  if (!ok) return 0;

  // It was accepted: it must be exactly what the file says.
  const int64_t files = train ? 5 : 1;
  const int64_t n = files * records;
  TL_FUZZ_REQUIRE(batch_size == static_cast<size_t>(records * tl::kCifar10RecordBytes),
                  "a file of ", batch_size, " bytes was accepted as ", records, " records");
  TL_FUZZ_REQUIRE(set.images.shape() == tl::Shape({n, 32, 32, 3}) && set.images.dtype() == tl::DType::U8,
                  "images ", tl::shape_str(set.images.shape()));
  TL_FUZZ_REQUIRE(set.labels.shape() == tl::Shape({n}) && set.labels.dtype() == tl::DType::I32);
  TL_FUZZ_REQUIRE(set.class_names.size() == 10, set.class_names.size(), " class names");
  for (const std::string& name : set.class_names) TL_FUZZ_REQUIRE(!name.empty(), "an empty class name");
  const uint8_t* images = set.images.data<uint8_t>();
  const int32_t* labels = set.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* record = batch + (i % records) * tl::kCifar10RecordBytes;
    TL_FUZZ_REQUIRE(labels[i] == record[0] && labels[i] >= 0 && labels[i] < 10, "label ", labels[i]);
    for (int64_t p = 0; p < 1024; ++p)
      for (int64_t c = 0; c < 3; ++c)
        TL_FUZZ_REQUIRE(images[(i * 1024 + p) * 3 + c] == record[1 + c * 1024 + p], "pixel ", p, " of record ", i);
  }
  return 0;
}
