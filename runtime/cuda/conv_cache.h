// The cuDNN convolution algorithms chosen for each convolution, by
// measurement. cuDNN offers several algorithms per pass (implicit GEMM,
// precomputed-index GEMM, FFT, Winograd, ...) whose speed depends on the
// shape, the GPU and the math mode; the only reliable way to pick is to run
// them (cudnnFind*AlgorithmEx) once per shape and remember the ranking.
// A training loop sees ~30 distinct shapes in ResNet50, so the measuring
// costs a few hundred milliseconds in the first step and nothing after.
//
// One cache per CudaState (so per Context): no globals. Not thread-safe, as
// the Context it belongs to is not.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace tl::cuda {

enum class ConvPass : int { kForward = 0, kBackwardData = 1, kBackwardFilter = 2 };
const char* conv_pass_name(ConvPass pass);

// Everything the ranking depends on: the pass, the full geometry, the math
// mode (TF32 on or off), whether only deterministic algorithms may run, and whether every pointer is 16-byte aligned (some
// vectorised algorithms refuse misaligned data; tensors from the caching
// allocator always are, views at odd offsets may not be).
struct ConvKey {
  ConvPass pass = ConvPass::kForward;
  int64_t batch = 0, in_h = 0, in_w = 0, in_c = 0;
  int64_t out_c = 0, kernel_h = 0, kernel_w = 0, stride = 1, pad = 0;
  bool tf32 = false;
  bool bf16 = false;  // bfloat16 activations and filters (tensor cores)
  bool aligned = true;
  bool deterministic = false;  // only CUDNN_DETERMINISTIC algorithms ranked

  auto tie() const {
    return std::tie(pass, batch, in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride, pad, tf32,
                    bf16, aligned, deterministic);
  }
  bool operator<(const ConvKey& other) const { return tie() < other.tie(); }
  bool operator==(const ConvKey& other) const { return tie() == other.tie(); }
  std::string str() const;  // "forward N2 8x8x16 -> 32 k3x3 s1 p1 fp32"
};

// One measured algorithm. `algo` holds a cudnnConvolutionFwdAlgo_t,
// BwdDataAlgo_t or BwdFilterAlgo_t (by the key's pass), as an int so that one
// struct serves the three passes.
struct ConvAlgo {
  int algo = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;  // to set on the descriptor before running it
  size_t workspace = 0;                   // bytes it needs
  float time_ms = 0;                      // as measured by cudnnFind*
};

class ConvAlgoCache {
 public:
  // cuDNN may use at most this much scratch memory for one convolution
  // (and less when the device is short: see kernels/conv2d.cu). 1 GiB
  // admits every useful algorithm for ResNet50 at batch 256 and is <1% of an
  // H200's memory.
  static constexpr size_t kDefaultWorkspaceLimit = size_t(1) << 30;

  // The usable algorithms for `key`, fastest first, or null when the shape
  // has not been measured yet.
  const std::vector<ConvAlgo>* find(const ConvKey& key) const;
  // Stores a ranking (fastest first) and returns the stored copy.
  const std::vector<ConvAlgo>& insert(const ConvKey& key, std::vector<ConvAlgo> ranked);

  size_t size() const { return entries_.size(); }
  int64_t measurements() const { return measurements_; }  // insert() calls so far
  void clear() { entries_.clear(); }

  size_t workspace_limit() const { return workspace_limit_; }
  // A new limit applies to shapes measured from now on; clear() to re-measure.
  void set_workspace_limit(size_t bytes) { workspace_limit_ = bytes; }

  // One line per entry: the key and the chosen (first) algorithm.
  std::string summary() const;

 private:
  std::map<ConvKey, std::vector<ConvAlgo>> entries_;
  size_t workspace_limit_ = kDefaultWorkspaceLimit;
  int64_t measurements_ = 0;
};

}  // namespace tl::cuda
