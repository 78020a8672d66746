// The CUDA half of a Context: the GPU in use, one stream, the cuBLAS and
// cuDNN handles bound to it, a cuDNN workspace, and the caching allocator.
// Created by Context(Device::CUDA); never a global.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <memory>
#include <string>

#include "engine/storage.h"

namespace tl::cuda {

class CachingAllocator;

struct CudaState {
  int device = 0;
  cudaDeviceProp properties{};
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  std::shared_ptr<CachingAllocator> caching_allocator;
  std::shared_ptr<Allocator> allocator;  // the same object, as the engine's interface
  bool sync_check = false;               // TL_SYNC_CHECK=1: synchronise after each launch

  // Picks GPU 0, checks that this binary has kernels for it, creates the
  // stream and handles. Throws tl::Error saying why when there is no usable GPU.
  static std::unique_ptr<CudaState> create();
  ~CudaState();

  void synchronize() const;
  // Scratch memory for cuDNN, grown on demand and kept (never freed in the loop).
  void* workspace(size_t bytes);
  // Driver, runtime, cuDNN and cuBLAS versions, GPU name, SMs, memory.
  std::string describe() const;

 private:
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

// Number of usable GPUs; 0 when the driver is missing or too old (the
// runtime then returns an error rather than 0: any error means "no GPU").
int device_count();
// Why device_count() is 0, in words (e.g. "CUDA driver version is insufficient").
std::string no_device_reason();

}  // namespace tl::cuda
