#include "runtime/cuda/cuda_state.h"

#include <cstdlib>
#include <sstream>

#include "runtime/cuda/caching_allocator.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/conv_cache.h"
#include "runtime/cuda/staged_upload.h"
#include "runtime/device_copy.h"

namespace tl::cuda {

// A trivial kernel whose presence in the binary tells us whether this GPU's
// architecture was compiled for (cudaFuncGetAttributes fails otherwise).
void probe_kernel_attributes(cudaFuncAttributes* attributes);  // device_probe.cu

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

std::string no_device_reason() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return cudaGetErrorString(err);
  }
  return count == 0 ? "no CUDA device found" : "";
}

std::unique_ptr<CudaState> CudaState::create() {
  if (device_count() == 0)
    fail("no usable GPU (", no_device_reason(),
         "). Compute on the CPU, or run on a machine with an NVIDIA GPU and driver.");
  auto state = std::make_unique<CudaState>();
  TL_CUDA_CHECK(cudaSetDevice(state->device));
  TL_CUDA_CHECK(cudaGetDeviceProperties(&state->properties, state->device));
  cudaFuncAttributes attributes{};
  try {
    probe_kernel_attributes(&attributes);
  } catch (const Error&) {
    fail("this tl binary has no kernels for ", state->properties.name, " (sm_",
         state->properties.major, state->properties.minor, "): rebuild with -DTL_CUDA_ARCHS=",
         state->properties.major, state->properties.minor);
  }
  // A blocking stream: plain cudaMemcpy (legacy default stream) orders itself
  // after the work queued here, so host<->device copies need no extra sync.
  TL_CUDA_CHECK(cudaStreamCreate(&state->stream));
  TL_CUBLAS_CHECK(cublasCreate(&state->cublas));
  TL_CUBLAS_CHECK(cublasSetStream(state->cublas, state->stream));
  // FP32 by default: TF32 tensor-core math only when the user asks for it.
  TL_CUBLAS_CHECK(cublasSetMathMode(state->cublas, CUBLAS_PEDANTIC_MATH));
  // cuBLAS's workspace, ours: fixed for the Context's life, so a GEMM in a
  // captured CUDA graph uses the memory (and so the kernels) an eager one
  // does, and nothing is allocated during a capture. 32 MiB is what NVIDIA
  // recommends for Hopper. (After cublasSetStream, which would reset it.)
  state->cublas_workspace_bytes_ = size_t(32) << 20;
  TL_CUDA_CHECK(cudaMalloc(&state->cublas_workspace_, state->cublas_workspace_bytes_));
  TL_CUBLAS_CHECK(
      cublasSetWorkspace(state->cublas, state->cublas_workspace_, state->cublas_workspace_bytes_));
  TL_CUDNN_CHECK(cudnnCreate(&state->cudnn));
  TL_CUDNN_CHECK(cudnnSetStream(state->cudnn, state->stream));
  state->caching_allocator = std::make_shared<CachingAllocator>();
  state->allocator = state->caching_allocator;
  state->conv_algos = std::make_unique<ConvAlgoCache>();
  state->uploads = std::make_unique<StagedUpload>();
  TL_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&state->deferred_device_),
                           sizeof(DeferredChecks)));
  const DeferredChecks none;
  TL_CUDA_CHECK(cudaMemcpy(state->deferred_device_, &none, sizeof none, cudaMemcpyHostToDevice));
  const char* sync = std::getenv("TL_SYNC_CHECK");
  state->sync_check = sync && std::string(sync) == "1";
  return state;
}

CudaState::~CudaState() {
  // Destructors must not throw: errors here are ignored on purpose.
  if (stream) cudaStreamSynchronize(stream);
  uploads.reset();  // its events belong to the stream's context
  if (workspace_) cudaFree(workspace_);
  if (deferred_device_) cudaFree(deferred_device_);
  if (cudnn) cudnnDestroy(cudnn);
  if (cublas) cublasDestroy(cublas);
  if (cublas_workspace_) cudaFree(cublas_workspace_);
  if (stream) cudaStreamDestroy(stream);
}

void CudaState::synchronize() {
  TL_CUDA_CHECK(cudaStreamSynchronize(stream));
  raise_deferred_errors();
}

void CudaState::raise_deferred_errors() {
  if (!deferred_checks_armed_) return;
  DeferredChecks checks;
  TL_CUDA_CHECK(cudaMemcpy(&checks, deferred_device_, sizeof checks, cudaMemcpyDeviceToHost));
  deferred_checks_armed_ = false;  // the copy waited for every kernel queued before it
  const unsigned long long bad = checks.bad_label;
  if (bad == DeferredChecks::kNone) return;
  const long long classes = checks.bad_label_classes;
  const DeferredChecks none;  // reported once; the context stays usable
  TL_CUDA_CHECK(cudaMemcpy(deferred_device_, &none, sizeof none, cudaMemcpyHostToDevice));
  fail("softmax_cross_entropy: sample ", static_cast<int64_t>(bad >> 32), " has label ",
       static_cast<int32_t>(static_cast<uint32_t>(bad & 0xffffffffu)), ", outside [0, ", classes,
       "); check the data set's labels and the number of classes of the head (found on the "
       "GPU, reported at the next wait for it)");
}

void CudaState::set_allow_tf32(bool allow) {
  TL_CUBLAS_CHECK(cublasSetMathMode(cublas, allow ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH));
  allow_tf32 = allow;
}

namespace {
// Growing the workspace frees the old one, which a graph capture forbids.
[[noreturn]] void fail_growth_in_capture(size_t bytes, size_t have) {
  fail("the cuDNN workspace would grow from ", have, " to ", bytes,
       " bytes during a CUDA graph capture; a step without a graph must run first");
}
}  // namespace

bool CudaState::reserve_workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return true;
  if (capturing) fail_growth_in_capture(bytes, workspace_bytes_);
  if (workspace_) {
    TL_CUDA_CHECK(cudaStreamSynchronize(stream));  // queued work may still use it
    TL_CUDA_CHECK(cudaFree(workspace_));
    workspace_ = nullptr;
    workspace_bytes_ = 0;
  }
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    (void)cudaGetLastError();  // an allocation failure is not sticky: clear it
    caching_allocator->empty_cache();
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
  }
  workspace_ = p;
  workspace_bytes_ = bytes;
  return true;
}

void* CudaState::workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  if (capturing) fail_growth_in_capture(bytes, workspace_bytes_);
  if (workspace_) {
    TL_CUDA_CHECK(cudaStreamSynchronize(stream));
    TL_CUDA_CHECK(cudaFree(workspace_));
    workspace_ = nullptr;
    workspace_bytes_ = 0;
  }
  TL_CUDA_CHECK(cudaMalloc(&workspace_, bytes));
  workspace_bytes_ = bytes;
  return workspace_;
}

std::string CudaState::describe() const {
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  int cublas_version = 0;
  cublasGetVersion(cublas, &cublas_version);
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  std::ostringstream os;
  os << properties.name << " (sm_" << properties.major << properties.minor << ", "
     << properties.multiProcessorCount << " SMs, " << (total_bytes >> 20) << " MiB, "
     << (free_bytes >> 20) << " MiB free); driver " << driver / 1000 << "." << (driver % 1000) / 10
     << ", runtime " << runtime / 1000 << "." << (runtime % 1000) / 10 << ", cuDNN "
     << cudnnGetVersion() << ", cuBLAS " << cublas_version;
  return os.str();
}

}  // namespace tl::cuda

namespace tl {

// These copies are plain cudaMemcpy calls on the LEGACY default stream, and
// that is what orders them with the kernels: the Context's stream is a
// blocking stream (cudaStreamCreate), which the legacy default stream waits
// for and which waits for it. So a copy to the host sees every result queued
// before it, and a kernel queued after a copy to the device sees its data,
// with no explicit synchronisation. Compiling with per-thread default
// streams (nvcc --default-stream per-thread) would silently break this
// ordering: refuse to build that way.
#if defined(CUDA_API_PER_THREAD_DEFAULT_STREAM)
#error "tl's host<->device copies rely on the legacy default stream (see runtime/cuda/cuda_state.cpp)"
#endif

void copy_host_to_device(void* dst, const void* src, size_t bytes) {
  TL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void copy_device_to_host(void* dst, const void* src, size_t bytes) {
  TL_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void copy_device_to_device(cuda::CudaState& gpu, void* dst, const void* src, size_t bytes) {
  TL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, gpu.stream));
}
void fill_device_bytes(cuda::CudaState& gpu, void* dst, unsigned char value, size_t bytes) {
  TL_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, gpu.stream));
}
void queue_host_to_device(cuda::CudaState& gpu, void* dst, const void* src, size_t bytes) {
  gpu.uploads->copy(gpu.stream, dst, src, bytes);
}

}  // namespace tl
