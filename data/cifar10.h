// CIFAR-10 reader for the official binary release (cifar-10-binary.tar.gz).
//
// Layout (docs/formats.md section 4): no header; each record is 3073 bytes,
// a label byte (0-9) then 1024 R, 1024 G, 1024 B bytes, each plane 32x32
// row-major, so pixel (c, y, x) sits at offset 1 + c*1024 + y*32 + x. The
// reader returns NHWC uint8 (N, 32, 32, 3), the layout the engine uses.
//
// Files: data_batch_1..5.bin (train, 10,000 records each, read in that
// order) and test_batch.bin (test, 10,000), plus batches.meta.txt with the
// class names one per line. `dir` may be the folder that holds
// cifar-10-batches-bin/ or that folder itself.
//
// Get the data with scripts/get_cifar10.sh (needs a network).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace tl {

constexpr int64_t kCifar10Records = 10000;  // per official file
constexpr int64_t kCifar10RecordBytes = 3073;
constexpr int64_t kCifar10Side = 32;

// The official class names, in label order.
const std::vector<std::string>& cifar10_class_names();

// 50,000 training images (data_batch_1..5.bin). `records_per_file` is the
// record count each file must hold; leave it at 10,000 (tests pass a small
// count to read small fixture files).
ImageSet read_cifar10_train(const std::string& dir, int64_t records_per_file = kCifar10Records);

// 10,000 test images (test_batch.bin).
ImageSet read_cifar10_test(const std::string& dir, int64_t records_per_file = kCifar10Records);

// The real CIFAR-10 sample that ships in the repository
// (datasets/cifar10-sample/, made by scripts/make_cifar_sample.py from the
// official files): the first 200 training and the first 100 test images of
// each class, in the official order and record layout (train.bin, test.bin).
// It makes the first run real without a download.
constexpr int64_t kCifar10SampleTrain = 2000;
constexpr int64_t kCifar10SampleTest = 1000;
// Where the sample is: $TL_CIFAR10_SAMPLE when set, else the repository's
// datasets/cifar10-sample (the source tree tl was built from).
std::string cifar10_sample_dir();
ImageSet read_cifar10_sample_train(const std::string& dir);
ImageSet read_cifar10_sample_test(const std::string& dir);

// The folder that holds the batch files: dir/cifar-10-batches-bin when that
// holds them, else dir itself when it does; otherwise throws tl::Error that
// says where it looked and how to get the data.
std::string find_cifar10_dir(const std::string& dir, const std::string& first_file = "data_batch_1.bin");

}  // namespace tl
