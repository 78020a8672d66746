// Scratch device memory for the duration of one kernel launch sequence
// (partial sums, lookup tables, error flags), taken from the CudaState's
// caching allocator, so a kernel asks for it without knowing about tensors.
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/cuda/cuda_state.h"
#include "runtime/storage.h"

namespace tl::cuda {

// Owns one scratch block. Releasing it right after the launches that use it
// is safe: every tl kernel runs on the CudaState's one stream, so work queued
// later on the recycled block starts after ours has finished.
class Scratch {
 public:
  // Room for `count` values of T (at least one byte is always allocated, so
  // the pointer is valid even for count == 0).
  template <typename T>
  T* take(CudaState& gpu, int64_t count) {
    const int64_t bytes = count * static_cast<int64_t>(sizeof(T));
    block_ = std::make_unique<Storage>(static_cast<size_t>(bytes > 0 ? bytes : 1), gpu.allocator);
    return static_cast<T*>(block_->data());
  }

 private:
  std::unique_ptr<Storage> block_;
};

}  // namespace tl::cuda
