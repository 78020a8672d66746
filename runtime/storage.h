// Storage: one allocation of raw bytes on one device, shared by the tensors
// that view it. Allocation goes through an Allocator so that device memory
// can come from a caching allocator held by the Context (no cudaMalloc in the
// training loop) while host memory is plain aligned memory.
#pragma once

#include <cstddef>
#include <memory>

#include "runtime/shape.h"

namespace tl {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* ptr, size_t bytes) = 0;
  virtual Device device() const = 0;
};

class Storage {
 public:
  // Host memory, 64-byte aligned (a cache line; what AVX-512 loads like).
  explicit Storage(size_t bytes);
  // Memory from `allocator` (device memory from the Context's caching allocator).
  Storage(size_t bytes, std::shared_ptr<Allocator> allocator);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return allocator_ ? allocator_->device() : Device::CPU; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  std::shared_ptr<Allocator> allocator_;  // null for host memory
};

}  // namespace tl
