// The real CIFAR-10 sample that ships in datasets/cifar10-sample/ (data/cifar10.h):
// it reads as 2,000 + 1,000 class-balanced 32x32 images that look like
// photographs, not noise, and a missing sample is an error that says where
// it should be. (Its bytes are pinned by datasets/cifar10-sample/SHA256SUMS,
// checked by the Cifar10SampleChecksums test.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "data/cifar10.h"

namespace tl::test {
namespace {

std::vector<int64_t> class_counts(const ImageSet& set) {
  std::vector<int64_t> counts(10, 0);
  const int32_t* labels = set.labels.data<int32_t>();
  for (int64_t i = 0; i < set.size(); ++i) ++counts.at(static_cast<size_t>(labels[i]));
  return counts;
}

// Mean and standard deviation of every pixel value of the set.
std::pair<double, double> pixel_moments(const ImageSet& set) {
  const uint8_t* p = set.images.data<uint8_t>();
  const int64_t n = set.images.numel();
  double sum = 0, sum2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += p[i];
    sum2 += double(p[i]) * p[i];
  }
  const double mean = sum / double(n);
  return {mean, std::sqrt(sum2 / double(n) - mean * mean)};
}

// How far neighbouring pixels differ on average: small for photographs
// (neighbours are alike), ~85 for uniform noise.
double mean_neighbour_difference(const ImageSet& set) {
  const uint8_t* p = set.images.data<uint8_t>();
  double sum = 0;
  int64_t count = 0;
  for (int64_t n = 0; n < set.size(); ++n)
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x + 1 < 32; ++x)
        for (int64_t c = 0; c < 3; ++c) {
          const uint8_t* a = p + ((n * 32 + y) * 32 + x) * 3 + c;
          sum += std::abs(int(a[0]) - int(a[3]));
          ++count;
        }
  return sum / double(count);
}

TEST(Cifar10Sample, ReadsTwoThousandTrainingAndOneThousandTestImagesBalancedOverTheClasses) {
  const std::string dir = cifar10_sample_dir();
  const ImageSet train = read_cifar10_sample_train(dir);
  const ImageSet test = read_cifar10_sample_test(dir);
  EXPECT_EQ(train.images.shape(), (Shape{kCifar10SampleTrain, 32, 32, 3}));
  EXPECT_EQ(test.images.shape(), (Shape{kCifar10SampleTest, 32, 32, 3}));
  EXPECT_EQ(class_counts(train), std::vector<int64_t>(10, 200));
  EXPECT_EQ(class_counts(test), std::vector<int64_t>(10, 100));
  EXPECT_EQ(train.class_names, cifar10_class_names());
  EXPECT_EQ(test.class_names, cifar10_class_names());
}

TEST(Cifar10Sample, LooksLikePhotographsNotNoise) {
  const ImageSet train = read_cifar10_sample_train(cifar10_sample_dir());
  const auto [mean, stddev] = pixel_moments(train);
  // CIFAR-10's published per-channel means are 113-126 and deviations 62-66
  // (of 255); uniform noise would give 127.5 and 73.6, hence the second check.
  EXPECT_NEAR(mean, 120.0, 10.0);
  EXPECT_NEAR(stddev, 64.0, 8.0);
  EXPECT_LT(mean_neighbour_difference(train), 20.0);
}

TEST(Cifar10Sample, MissingSampleSaysWhereItBelongs) {
  try {
    read_cifar10_sample_train("/nonexistent/cifar10-sample");
    FAIL() << "read a sample that does not exist";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("datasets/cifar10-sample"), std::string::npos) << message;
    EXPECT_NE(message.find("TL_CIFAR10_SAMPLE"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace tl::test
