#include "engine/context.h"

#include <cstring>

#include "engine/op_timeline.h"
#include "kernels/elementwise.h"
#include "runtime/check.h"
#include "runtime/device_copy.h"

#ifdef TL_WITH_CUDA
#include "runtime/cuda/cuda_state.h"
#else
namespace tl::cuda {
struct CudaState {};  // a CPU-only build never creates one
}  // namespace tl::cuda
#endif

namespace tl {

cuda::CudaState& Context::gpu() const {
  TL_CHECK(cuda_ != nullptr, "a CUDA kernel was called with a CPU context");
  return *cuda_;
}

Context::Context(Device device, uint64_t seed) : device_(device), seed_(seed) {
  if (device == Device::CUDA) {
#ifdef TL_WITH_CUDA
    cuda_ = cuda::CudaState::create();  // throws a clear error when there is no GPU
    allocator_ = cuda_->allocator;
#else
    fail("a CUDA context: this build of tl has no CUDA backend (it was configured without nvcc "
         "or cuDNN); rebuild with -DTL_CUDA=ON, or compute on the CPU");
#endif
  }
}

Context::~Context() = default;

Tensor Context::empty(const Shape& shape, DType dtype) const {
  Tensor t = Tensor::empty(shape, dtype, allocator_);
  if (poison_ && t.nbytes()) {
    // All-ones bytes: a NaN as float32 (and -1 as int32).
    if (device_ == Device::CPU)
      std::memset(t.raw_data(), 0xFF, t.nbytes());
    else
      fill_device_bytes(*cuda_, t.raw_data(), 0xFF, t.nbytes());
  }
  return t;
}

Tensor Context::zeros(const Shape& shape, DType dtype) const {
  if (device_ == Device::CPU) return Tensor::zeros(shape, dtype);
  Tensor t = Tensor::empty(shape, dtype, allocator_);
  if (t.nbytes()) fill_device_bytes(*cuda_, t.raw_data(), 0, t.nbytes());
  return t;
}

Tensor Context::full(const Shape& shape, float value) const {
  if (device_ == Device::CPU) return Tensor::full(shape, value);
  Tensor t = Tensor::empty(shape, DType::F32, allocator_);
  fill_cuda(*cuda_, t.data<float>(), value, t.numel());
  return t;
}

Tensor Context::to_device(const Tensor& t) const {
  if (t.device() == device_) return t;
  TL_CHECK(t.device() == Device::CPU, "to_device: unexpected source device");
  Tensor out = empty(t.shape(), t.dtype());
  if (t.nbytes()) copy_host_to_device(out.raw_data(), t.raw_data(), t.nbytes());
  return out;
}

Tensor Context::to_host(const Tensor& t) const {
  if (t.device() == Device::CPU) return t;
  Tensor out = Tensor::empty(t.shape(), t.dtype());
  if (t.nbytes()) copy_device_to_host(out.raw_data(), t.raw_data(), t.nbytes());
#ifdef TL_WITH_CUDA
  // The copy waited for every queued kernel: report what they found.
  if (cuda_) cuda_->raise_deferred_errors();
#endif
  return out;
}

void Context::mark(const std::string& label) const {
  if (timeline_) timeline_->mark(label);
}

void Context::synchronize() const {
#ifdef TL_WITH_CUDA
  if (cuda_) cuda_->synchronize();
#endif
}

void Context::set_allow_tf32(bool allow) {
#ifdef TL_WITH_CUDA
  if (cuda_) cuda_->set_allow_tf32(allow);
#else
  (void)allow;
#endif
}

void Context::set_deterministic(bool deterministic) {
#ifdef TL_WITH_CUDA
  if (cuda_) cuda_->deterministic = deterministic;
#else
  (void)deterministic;
#endif
}

bool Context::deterministic() const {
#ifdef TL_WITH_CUDA
  return !cuda_ || cuda_->deterministic;
#else
  return true;
#endif
}

bool Context::allow_tf32() const {
#ifdef TL_WITH_CUDA
  return cuda_ && cuda_->allow_tf32;
#else
  return false;
#endif
}

}  // namespace tl
