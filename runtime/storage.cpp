#include "runtime/storage.h"

#include "runtime/check.h"
#include "runtime/host_block_cache.h"

namespace tl {

Storage::Storage(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  ptr_ = HostBlockCache::instance().allocate(bytes);
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
    HostBlockCache::instance().release(ptr_, bytes_);
}

}  // namespace tl
