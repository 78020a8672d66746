// The CUDA half of a Context: the GPU in use, one stream, the cuBLAS and
// cuDNN handles bound to it, their workspaces, the caching allocator, the
// math mode (FP32 or TF32) and the measured convolution algorithms.
// Created by Context(Device::CUDA); never a global.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <memory>
#include <string>

#include "runtime/cuda/device_count.h"
#include "runtime/storage.h"

namespace tl::cuda {

class CachingAllocator;
class ConvAlgoCache;  // runtime/cuda/conv_cache.h
class StagedUpload;   // runtime/cuda/staged_upload.h

// Failures a kernel finds in its data, reported to the host LATER rather than
// at the launch: waiting for a kernel's verdict would drain the pipeline in
// the middle of every training step. Kernels write here (device memory: an
// atomic on mapped host memory is not dependable over PCIe) and the host
// raises the first failure as a tl::Error at its next wait for the stream,
// reading these few bytes then: CudaState::synchronize() (so
// Context::synchronize), Context::to_host and the trainer's metric reads
// (layers/step_metrics.h).
struct DeferredChecks {
  static constexpr unsigned long long kNone = ~0ull;
  // softmax_cross_entropy: (sample << 32) | uint32(label) of the smallest
  // sample with a label outside [0, classes) (atomicMin), or kNone.
  unsigned long long bad_label = kNone;
  long long bad_label_classes = 0;
};

struct CudaState {
  int device = 0;
  cudaDeviceProp properties{};
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  std::shared_ptr<CachingAllocator> caching_allocator;
  std::shared_ptr<Allocator> allocator;  // the same object, as the engine's interface
  bool sync_check = false;               // TL_SYNC_CHECK=1: synchronise after each launch
  // TF32 tensor-core math for cuDNN convolutions and cuBLAS GEMMs (inputs
  // rounded to a 10-bit mantissa, FP32 accumulation). Off: strict FP32.
  // Change it through set_allow_tf32 so that cuBLAS follows.
  bool allow_tf32 = false;
  // Only cuDNN algorithms documented as deterministic (Context::set_deterministic).
  bool deterministic = false;
  // cuDNN algorithms measured per convolution shape (kernels/conv2d.cu).
  std::unique_ptr<ConvAlgoCache> conv_algos;
  // Small per-step uploads queued without a host wait (kernels/optim.cu).
  std::unique_ptr<StagedUpload> uploads;
  // A CUDA graph of a step is being captured on `stream`
  // (runtime/cuda/graph_capture.h): nothing may wait for the device, free
  // device memory or measure cuDNN algorithms now, so the workspace must not
  // grow and every convolution must have been measured by an earlier step.
  bool capturing = false;
  int capture_pool = -1;  // the caching allocator's private pool of that capture

  // Picks GPU 0, checks that this binary has kernels for it, creates the
  // stream and handles. Throws tl::Error saying why when there is no usable GPU.
  static std::unique_ptr<CudaState> create();
  ~CudaState();

  // Waits for the stream, then raises what the kernels reported meanwhile
  // (raise_deferred_errors).
  void synchronize();
  // The deferred checks, as the kernels see them (a device pointer), for a
  // launcher about to queue a kernel that checks: raise_deferred_errors()
  // reads them only when some launcher asked since its last read.
  DeferredChecks* deferred_checks_on_device() {
    deferred_checks_armed_ = true;
    return deferred_device_;
  }
  // Throws the first failure recorded in the deferred checks since the last
  // call, and clears them. Call only once the stream has drained up to the
  // work to be checked (after a synchronising copy or synchronize()): the
  // read is one small blocking copy, skipped when no checking kernel ran.
  void raise_deferred_errors();
  // Whether a checking kernel was queued since the last read (a CUDA graph
  // that captured one arms the checks again at each replay).
  bool deferred_checks_armed() const { return deferred_checks_armed_; }
  // Sets allow_tf32 and the cuBLAS math mode (TF32 tensor ops or pedantic FP32).
  void set_allow_tf32(bool allow);
  // Scratch memory for cuDNN, grown on demand and kept (never freed in the loop).
  void* workspace(size_t bytes);
  // Grows the workspace to at least `bytes` without throwing: false when the
  // device cannot provide it even after the caching allocator has returned
  // its free blocks (the old, smaller workspace is gone then too).
  bool reserve_workspace(size_t bytes);
  size_t workspace_bytes() const { return workspace_bytes_; }
  // Driver, runtime, cuDNN and cuBLAS versions, GPU name, SMs, memory.
  std::string describe() const;

 private:
  DeferredChecks* deferred_device_ = nullptr;  // cudaMalloc'd
  bool deferred_checks_armed_ = false;         // a checking kernel was queued since the last read
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  void* cublas_workspace_ = nullptr;  // cublasSetWorkspace's (create())
  size_t cublas_workspace_bytes_ = 0;
};

}  // namespace tl::cuda
