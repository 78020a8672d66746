#include "runtime/storage.h"

#include <cstdlib>

#include "runtime/check.h"

namespace tl {

Storage::Storage(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  // aligned_alloc wants a size that is a multiple of the alignment.
  ptr_ = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!ptr_) fail("out of host memory allocating ", bytes, " bytes");
}

Storage::Storage(size_t bytes, std::shared_ptr<Allocator> allocator)
    : bytes_(bytes), allocator_(std::move(allocator)) {
  TL_CHECK(allocator_ != nullptr, "Storage needs an allocator");
  if (bytes > 0) ptr_ = allocator_->allocate(bytes);
}

Storage::~Storage() {
  if (!ptr_) return;
  if (allocator_)
    allocator_->release(ptr_, bytes_);
  else
    std::free(ptr_);
}

}  // namespace tl
