// Context: everything an op needs besides its tensors, passed explicitly
// (no singletons): the device, the allocator for that device, the CUDA
// stream and library handles, the seed and position of the random stream,
// and whether autograd records operations.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/shape.h"
#include "runtime/storage.h"
#include "engine/tensor.h"

namespace tl {

namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: stream, cuBLAS/cuDNN handles, workspace
}
class OpTimeline;  // engine/op_timeline.h
struct StepCapture;  // engine/step_capture.h

// Which CPU kernels the differentiable ops run (docs/cpu_reference.md):
//  Fast       the default: BLAS GEMMs, tiled reductions, tl's thread pool (kernels/*.cpp)
//  Reference  the plain loops of kernels/reference/: one loop nest per
//             kernel, sums in double, no threads. Much slower; for checking
//             (the gradient checks and the PyTorch parity tests run on it) and
//             for reading alongside a debugger.
enum class CpuKernels { Fast, Reference };

class Context {
 public:
  // A CPU context, or a CUDA context on the current GPU (throws a tl::Error
  // that says why when the build or the machine has no usable GPU).
  explicit Context(Device device = Device::CPU, uint64_t seed = 0);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Device device() const { return device_; }
  // Null for the CPU; the caching device allocator for CUDA.
  const std::shared_ptr<Allocator>& allocator() const { return allocator_; }
  // An uninitialised tensor on this context's device.
  Tensor empty(const Shape& shape, DType dtype = DType::F32) const;
  // On a GPU these two are queued on the stream (a memset, a fill kernel):
  // the host does not wait for them.
  Tensor zeros(const Shape& shape, DType dtype = DType::F32) const;
  Tensor full(const Shape& shape, float value) const;  // float32
  // Copies a tensor to this context's device (no copy if already there).
  Tensor to_device(const Tensor& t) const;
  Tensor to_host(const Tensor& t) const;

  // ---- randomness: Philox(seed, stream, element); see runtime/philox.h ----
  uint64_t seed() const { return seed_; }
  // A fresh stream id for one random op (one dropout call). Saved in
  // checkpoints so a resumed run draws the same numbers.
  uint64_t next_random_stream() { return random_stream_++; }
  uint64_t random_stream_position() const { return random_stream_; }
  void set_random_stream_position(uint64_t position) { random_stream_ = position; }

  // ---- CUDA graph capture (engine/step_capture.h) ----
  // Not null while a training step is being captured into a graph: the ops
  // read their per-step values from device memory then, and leave the host
  // state (the random stream position) alone. Set by the graph's owner.
  StepCapture* capture() const { return capture_; }
  void set_capture(StepCapture* capture) { capture_ = capture; }

  // ---- autograd recording ----
  bool grad_enabled() const { return grad_enabled_; }
  void set_grad_enabled(bool enabled) { grad_enabled_ = enabled; }

  // Debugging and tests: fill every tensor this context allocates with NaN,
  // so an output element a kernel forgot to write cannot pass a comparison.
  void set_poison_allocations(bool poison) { poison_ = poison; }
  bool poison_allocations() const { return poison_; }

  // The CPU kernel tier the ops use (engine/ops_common.h: cpu_kernel).
  // A CUDA context ignores it.
  void set_cpu_kernels(CpuKernels kernels) { cpu_kernels_ = kernels; }
  CpuKernels cpu_kernels() const { return cpu_kernels_; }

  // Waits for queued device work (no-op on the CPU).
  void synchronize() const;

  // Profiling: the ops, backward() and the training step mark this timeline
  // as they go (engine/op_timeline.h); null (the default) marks nothing. The
  // caller owns it and clears it before it dies.
  void set_timeline(OpTimeline* timeline) { timeline_ = timeline; }
  OpTimeline* timeline() const { return timeline_; }
  // timeline()->mark(label) when there is a timeline.
  void mark(const std::string& label) const;

  // GPU math mode: let cuDNN convolutions and cuBLAS GEMMs use TF32 tensor
  // cores (inputs rounded to a 10-bit mantissa, FP32 accumulation: several
  // times faster, ~1e-3 relative error). Off by default. A CPU context
  // ignores it: the CPU reference is always FP32.
  void set_allow_tf32(bool allow);
  bool allow_tf32() const;

  // GPU reproducibility: restrict cuDNN to the algorithms it documents as
  // deterministic (CUDNN_DETERMINISTIC), so that two runs with the same seed
  // give the same bits. Off by default: the fastest algorithm for a pass may
  // split its reduction with atomics (some backward-filter ones do), whose
  // order varies run to run. Every other GPU kernel of tl is deterministic
  // already (fixed reduction partitions, no floating-point atomics), and so
  // is cuBLAS on one stream. The CPU is always deterministic.
  void set_deterministic(bool deterministic);
  bool deterministic() const;

  // The CUDA runtime state (stream, cuBLAS/cuDNN handles, workspace,
  // allocator) that the kernels take: null for a CPU context.
  cuda::CudaState* cuda() const { return cuda_.get(); }
  // The same, for a CUDA context; a tl::Error on a CPU context.
  cuda::CudaState& gpu() const;

 private:
  Device device_;
  uint64_t seed_;
  uint64_t random_stream_ = 0;
  bool grad_enabled_ = true;
  bool poison_ = false;
  CpuKernels cpu_kernels_ = CpuKernels::Fast;
  OpTimeline* timeline_ = nullptr;
  StepCapture* capture_ = nullptr;
  std::shared_ptr<Allocator> allocator_;
  std::unique_ptr<cuda::CudaState> cuda_;
};

// Turns autograd recording off for a scope (evaluation, optimiser steps).
class NoGradGuard {
 public:
  explicit NoGradGuard(Context& ctx) : ctx_(ctx), previous_(ctx.grad_enabled()) {
    ctx_.set_grad_enabled(false);
  }
  ~NoGradGuard() { ctx_.set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  Context& ctx_;
  bool previous_;
};

}  // namespace tl
