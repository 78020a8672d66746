// 2-D convolution on the GPU (conv2d.h) through cuDNN: forward, backward
// data (dx), backward filter (dw), plus the bias and its gradient.
//
//   y[n, oy, ox, o] = bias[o] + sum_{ky, kx, c} x[n, oy*s - p + ky, ox*s - p + kx, c]
//                                               * w[o, ky, kx, c]
//
// Layout: float32 activations in NHWC (CUDNN_TENSOR_NHWC: the layout cuDNN's
// tensor-core kernels want natively, so no transposes), filters in KRSC
// (cuDNN's NHWC filter format), which is byte for byte tl's OHWI weight.
// Cross-correlation (the kernel is not flipped), symmetric zero padding.
//
// Choices:
// * Algorithms by measurement. For each (pass, shape, stride, pad, math mode)
//   cudnnFind*AlgorithmEx runs every algorithm once on the real buffers; the
//   ranking is kept in the CudaState's ConvAlgoCache (runtime/cuda/conv_cache.h),
//   so each shape is measured once per Context. Heuristics (cudnnGet*_v7) are
//   often wrong for NHWC FP32 and cost as much to call as the cache lookup.
// * Workspace. Measuring may use up to the cache's limit (1 GiB), or half of
//   the device's free memory when that is less; algorithms that need more
//   are not tried. At run time the fastest algorithm whose workspace can be
//   allocated is used: when memory is short, the next one in the ranking
//   that needs less (the list usually ends with a zero-workspace algorithm).
// * bfloat16 (conv2d_*_bf16_cuda): x, w and y (dx, dw, dy) in bfloat16, float32
//   sums, tensor-core math; what the bf16 training path runs
//   (engine/ops_conv.cpp). Measured and cached apart from float32 (ConvKey::bf16).
// * Math. TF32 off (the default): CUDNN_FMA_MATH. CUDNN_DEFAULT_MATH would NOT
//   do: on Ampere and later it lets cuDNN use TF32 tensor cores for FP32
//   data. TF32 on (CudaState::allow_tf32): CUDNN_DEFAULT_MATH, which permits
//   TF32 tensor cores (what PyTorch does with allow_tf32), and each algorithm
//   then runs with the math type cuDNN measured it with. We do not use
//   CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: it also permits down-conversion of
//   the FP32 tensors to FP16, more precision loss than TF32.
// * Bias. Added by bias_add_rows_cuda (kernels/linear.cu) after the
//   convolution: an NHWC output is a (N*OH*OW, O) matrix. The fused
//   cudnnConvolutionBiasActivationForward would save that one pass over y,
//   but with the identity activation it accepts only IMPLICIT_PRECOMP_GEMM,
//   which would override the measured choice (often FFT or Winograd for
//   3x3, or another GEMM variant); the extra memory-bound pass costs ~2% of a
//   ResNet50 convolution. The bias gradient is bias_grad_rows_cuda, a
//   deterministic column sum, rather than cudnnConvolutionBackwardBias (its
//   NHWC support is not documented, and the same kernel serves Dense).
// * Determinism. Context::set_deterministic (train_cifar --deterministic)
//   keeps only the algorithms cuDNN marks CUDNN_DETERMINISTIC; it is part of
//   the cache key, so both rankings can coexist.
// * Residual gradients. Where a tensor feeds two paths (a residual block's
//   input feeds its first convolution and its shortcut), autograd would sum
//   the two gradients in a separate kernel; instead the convolution's dx is
//   written with beta = 1 onto the gradient already there (add_to_dx,
//   engine/autograd.h: Node::backward_adding), saving that kernel's three
//   passes over the tensor. Algorithms are measured into scratch memory then,
//   never over the gradient being added to.
// * Descriptors are RAII objects (runtime/cuda/cudnn_desc.h), built per call
//   (a few microseconds, small next to any convolution).
#include <algorithm>
#include <climits>
#include <vector>

#include "runtime/cuda/check.h"
#include "runtime/cuda/conv_cache.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/cudnn_desc.h"
#include "runtime/cuda/scratch.h"
#include "kernels/cast.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/channel_tiling.cuh"
#include "kernels/linear.h"

namespace tl {
namespace {

using cuda::ConvAlgo;
using cuda::ConvKey;
using cuda::ConvPass;
using cuda::CudaState;
using cuda::Scratch;

int to_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    fail("conv2d (CUDA): ", what, " = ", v, " does not fit cuDNN's 32-bit descriptor sizes");
  return static_cast<int>(v);
}

// float32 data, or bfloat16 data with float32 sums.
enum class Data { kFloat, kBf16 };

cudnnDataType_t cudnn_type(Data d) {
  return d == Data::kBf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}
size_t element_bytes(Data d) { return d == Data::kBf16 ? 2 : 4; }

// Whether tensor-core math is allowed: TF32 for float32 data when the
// CudaState allows it, always for bfloat16 (what it is for).
bool tensor_ops(const CudaState& s, Data d) { return d == Data::kBf16 || s.allow_tf32; }

// The math type set on the descriptor while measuring (see the top comment).
cudnnMathType_t search_math(const CudaState& s, Data d) {
  return tensor_ops(s, d) ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

// The descriptors of one convolution: x, y, w and the convolution itself.
struct ConvDescriptors {
  cuda::TensorDesc x, y;
  cuda::FilterDesc w;
  cuda::ConvDesc conv;

  ConvDescriptors(const Conv2dGeometry& g, cudnnMathType_t math, Data data) {
    const int n = to_int(g.batch, "batch"), c = to_int(g.in_c, "in channels");
    const int o = to_int(g.out_c, "out channels");
    const cudnnDataType_t type = cudnn_type(data);
    x.set_nhwc(n, c, to_int(g.in_h, "height"), to_int(g.in_w, "width"), type);
    w.set_krsc(o, c, to_int(g.kernel_h, "kernel height"), to_int(g.kernel_w, "kernel width"),
               type);
    conv.set_2d(to_int(g.pad, "pad"), to_int(g.stride, "stride"));
    conv.set_math(math);
    const int oh = to_int(g.out_h(), "output height"), ow = to_int(g.out_w(), "output width");
    y.set_nhwc(n, o, oh, ow, type);
    // tl and cuDNN must agree on the output size, or y would be misread.
    int yn = 0, yc = 0, yh = 0, yw = 0;
    TL_CUDNN_CHECK(
        cudnnGetConvolution2dForwardOutputDim(conv.get(), x.get(), w.get(), &yn, &yc, &yh, &yw));
    if (yn != n || yc != o || yh != oh || yw != ow)
      fail("conv2d (CUDA): cuDNN computes a ", yn, "x", yh, "x", yw, "x", yc, " output, tl ", n,
           "x", oh, "x", ow, "x", o, " (internal error)");
  }
};

ConvKey make_key(ConvPass pass, const Conv2dGeometry& g, const CudaState& s, Data data,
                 std::initializer_list<const void*> pointers) {
  ConvKey k;
  k.pass = pass;
  k.batch = g.batch, k.in_h = g.in_h, k.in_w = g.in_w, k.in_c = g.in_c;
  k.out_c = g.out_c, k.kernel_h = g.kernel_h, k.kernel_w = g.kernel_w;
  k.stride = g.stride, k.pad = g.pad;
  k.tf32 = s.allow_tf32 && data == Data::kFloat;
  k.bf16 = data == Data::kBf16;
  k.deterministic = s.deterministic;
  k.aligned = std::all_of(pointers.begin(), pointers.end(),
                          [](const void* p) { return cuda::aligned16(p); });
  return k;
}

// Makes room for measuring and returns the workspace size to measure with:
// the cache's limit, or half of the free device memory (plus the current
// workspace, which is reused) when that is less, halved again while even
// that cannot be allocated.
size_t reserve_measuring_workspace(CudaState& s) {
  size_t free_bytes = 0, total_bytes = 0;
  TL_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  size_t budget = std::min(s.conv_algos->workspace_limit(), s.workspace_bytes() + free_bytes / 2);
  while (budget > 0 && !s.reserve_workspace(budget))
    budget = budget > (size_t(1) << 20) ? budget / 2 : 0;
  return budget;
}

// cudnnFind* results -> the usable ones, fastest first. Without tensor ops
// (float32 data, TF32 off) every algorithm runs with CUDNN_FMA_MATH, the mode
// it was measured under (cuDNN may label a result CUDNN_DEFAULT_MATH, which
// on Ampere+ would admit TF32); a result measured with tensor-op math is
// dropped then. With
// `deterministic`, so is every algorithm cuDNN does not document as
// bit-reproducible (CUDNN_NON_DETERMINISTIC: reductions split with atomics).
template <typename Perf>
std::vector<ConvAlgo> rank(const std::vector<Perf>& perf, int returned, size_t budget,
                           bool tensor_ops, bool deterministic) {
  std::vector<ConvAlgo> ranked;
  for (int i = 0; i < returned; ++i) {
    const Perf& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > budget) continue;
    if (deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
    if (!tensor_ops && (p.mathType == CUDNN_TENSOR_OP_MATH ||
                  p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    ConvAlgo a;
    a.algo = static_cast<int>(p.algo);
    a.math = tensor_ops ? p.mathType : CUDNN_FMA_MATH;
    a.workspace = p.memory;
    a.time_ms = p.time;
    ranked.push_back(a);
  }
  // cuDNN returns them sorted by time already; a stable sort keeps its order
  // on ties and guards against a future change.
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const ConvAlgo& a, const ConvAlgo& b) { return a.time_ms < b.time_ms; });
  return ranked;
}

// The ranking for `key`: from the cache, or measured now by `measure`
// (which returns the ranking and sets `budget` to the workspace it allowed).
template <typename Measure>
const std::vector<ConvAlgo>& algorithms(CudaState& s, const ConvKey& key, Measure&& measure) {
  if (const std::vector<ConvAlgo>* cached = s.conv_algos->find(key)) return *cached;
  if (s.capturing)  // measuring runs and times kernels: not inside a graph capture
    fail("conv2d (CUDA): ", key.str(), " was not measured before the CUDA graph capture; a "
         "step without a graph must run first");
  size_t budget = 0;
  std::vector<ConvAlgo> ranked = measure(budget);
  if (ranked.empty())
    fail("conv2d (CUDA): cuDNN has no usable algorithm for ", key.str(), " within a workspace of ",
         budget, " bytes. If the GPU is short of memory, reduce the batch size.");
  return s.conv_algos->insert(key, std::move(ranked));
}

// The fastest algorithm whose workspace can be allocated now.
const ConvAlgo& pick(CudaState& s, const std::vector<ConvAlgo>& ranked, const ConvKey& key) {
  for (const ConvAlgo& a : ranked)
    if (s.reserve_workspace(a.workspace)) return a;
  size_t smallest = ranked.front().workspace;
  for (const ConvAlgo& a : ranked) smallest = std::min(smallest, a.workspace);
  fail("conv2d (CUDA): out of GPU memory for the cuDNN workspace of ", key.str(),
       " (the smallest algorithm needs ", smallest, " bytes). Reduce the batch size.");
}

// TL_SYNC_CHECK=1: report an asynchronous fault at the call that caused it.
void sync_check(const CudaState& s) {
  if (s.sync_check) TL_CUDA_CHECK(cudaStreamSynchronize(s.stream));
}

int max_count(cudnnStatus_t (*get)(cudnnHandle_t, int*), cudnnHandle_t handle) {
  int count = 0;
  TL_CUDNN_CHECK(get(handle, &count));
  return std::max(count, 1);
}

// y = conv(x, w) in `data`, y already sized (rows > 0, in_c > 0).
void forward(CudaState& s, void* y, const void* x, const void* w, const Conv2dGeometry& g,
             Data data) {
  ConvDescriptors d(g, search_math(s, data), data);
  const ConvKey key = make_key(ConvPass::kForward, g, s, data, {x, w, y});
  const std::vector<ConvAlgo>& ranked = algorithms(s, key, [&](size_t& budget) {
    const int requested = max_count(cudnnGetConvolutionForwardAlgorithmMaxCount, s.cudnn);
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(requested));
    int returned = 0;
    d.conv.set_math(search_math(s, data));
    budget = reserve_measuring_workspace(s);
    // Writes y while measuring; it is computed again below.
    TL_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
        s.cudnn, d.x.get(), x, d.w.get(), w, d.conv.get(), d.y.get(), y, requested, &returned,
        perf.data(), s.workspace(budget), budget));
    return rank(perf, returned, budget, tensor_ops(s, data), s.deterministic);
  });
  const ConvAlgo& a = pick(s, ranked, key);
  d.conv.set_math(a.math);
  const float one = 1.0f, zero = 0.0f;  // float scaling factors for float and bf16 data alike
  TL_CUDNN_CHECK(cudnnConvolutionForward(s.cudnn, &one, d.x.get(), x, d.w.get(), w, d.conv.get(),
                                         static_cast<cudnnConvolutionFwdAlgo_t>(a.algo),
                                         s.workspace(a.workspace), a.workspace, &zero, d.y.get(),
                                         y));
  sync_check(s);
}

// dx and dw (either may be null) of conv(x, w) given dy, in `data`; with
// add_to_dx, dx is added to what the buffer holds (cuDNN's beta = 1).
void backward(CudaState& s, void* dx, void* dw, const void* dy, const void* x, const void* w,
              const Conv2dGeometry& g, Data data, bool add_to_dx) {
  const int64_t rows = g.batch * g.out_h() * g.out_w();
  if (!dx && !dw) return;
  if (rows == 0 || g.in_c == 0 || g.out_c == 0) {  // empty sums: zero gradients
    const size_t bytes = element_bytes(data);
    if (dx && !add_to_dx)
      TL_CUDA_CHECK(cudaMemsetAsync(dx, 0, size_t(g.batch * g.in_h * g.in_w * g.in_c) * bytes,
                                    s.stream));
    if (dw)
      TL_CUDA_CHECK(cudaMemsetAsync(
          dw, 0, size_t(g.out_c * g.kernel_h * g.kernel_w * g.in_c) * bytes, s.stream));
    return;
  }
  ConvDescriptors d(g, search_math(s, data), data);
  const float one = 1.0f, zero = 0.0f;

  if (dx) {  // dx = the transposed convolution of dy with w
    const ConvKey key = make_key(ConvPass::kBackwardData, g, s, data, {w, dy, dx});
    const std::vector<ConvAlgo>& ranked = algorithms(s, key, [&](size_t& budget) {
      const int requested =
          max_count(cudnnGetConvolutionBackwardDataAlgorithmMaxCount, s.cudnn);
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(requested));
      int returned = 0;
      d.conv.set_math(search_math(s, data));
      budget = reserve_measuring_workspace(s);
      // Measuring writes its output: not over a gradient being added to.
      Scratch measured;
      void* out = add_to_dx ? measured.take<unsigned char>(
                                  s, g.batch * g.in_h * g.in_w * g.in_c *
                                         static_cast<int64_t>(element_bytes(data)))
                            : dx;
      TL_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
          s.cudnn, d.w.get(), w, d.y.get(), dy, d.conv.get(), d.x.get(), out, requested,
          &returned, perf.data(), s.workspace(budget), budget));
      return rank(perf, returned, budget, tensor_ops(s, data), s.deterministic);
    });
    const ConvAlgo& a = pick(s, ranked, key);
    d.conv.set_math(a.math);
    auto run = [&](void* out, const float* beta) {
      return cudnnConvolutionBackwardData(
          s.cudnn, &one, d.w.get(), w, d.y.get(), dy, d.conv.get(),
          static_cast<cudnnConvolutionBwdDataAlgo_t>(a.algo), s.workspace(a.workspace),
          a.workspace, beta, d.x.get(), out);
    };
    const cudnnStatus_t status = run(dx, add_to_dx ? &one : &zero);
    if (status == CUDNN_STATUS_NOT_SUPPORTED && add_to_dx) {
      // Should the algorithm refuse to blend (cuDNN documents no such
      // limit): the transposed convolution apart, then the sum autograd
      // would have done (a + b into scratch, copied back: the add kernels
      // do not take an output that aliases an input).
      const int64_t n = g.batch * g.in_h * g.in_w * g.in_c;
      const size_t bytes = size_t(n) * element_bytes(data);
      Scratch part_holder, sum_holder;
      void* part = part_holder.take<unsigned char>(s, static_cast<int64_t>(bytes));
      void* sum = sum_holder.take<unsigned char>(s, static_cast<int64_t>(bytes));
      TL_CUDNN_CHECK(run(part, &zero));
      if (data == Data::kBf16)
        add_bf16_cuda(s, static_cast<uint16_t*>(sum), static_cast<const uint16_t*>(dx),
                      static_cast<const uint16_t*>(part), n);
      else
        add_forward_cuda(s, static_cast<float*>(sum), static_cast<const float*>(dx),
                         static_cast<const float*>(part), n);
      TL_CUDA_CHECK(cudaMemcpyAsync(dx, sum, bytes, cudaMemcpyDeviceToDevice, s.stream));
    } else if (status != CUDNN_STATUS_SUCCESS) {
      cuda::throw_cudnn_error(status, "cudnnConvolutionBackwardData", __FILE__, __LINE__);
    }
    sync_check(s);
  }

  if (dw) {  // dw[o, ky, kx, c] = sum over n, oy, ox of dy * the x it multiplied
    const ConvKey key = make_key(ConvPass::kBackwardFilter, g, s, data, {x, dy, dw});
    const std::vector<ConvAlgo>& ranked = algorithms(s, key, [&](size_t& budget) {
      const int requested =
          max_count(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount, s.cudnn);
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(requested));
      int returned = 0;
      d.conv.set_math(search_math(s, data));
      budget = reserve_measuring_workspace(s);
      TL_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
          s.cudnn, d.x.get(), x, d.y.get(), dy, d.conv.get(), d.w.get(), dw, requested, &returned,
          perf.data(), s.workspace(budget), budget));
      return rank(perf, returned, budget, tensor_ops(s, data), s.deterministic);
    });
    const ConvAlgo& a = pick(s, ranked, key);
    d.conv.set_math(a.math);
    TL_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
        s.cudnn, &one, d.x.get(), x, d.y.get(), dy, d.conv.get(),
        static_cast<cudnnConvolutionBwdFilterAlgo_t>(a.algo), s.workspace(a.workspace),
        a.workspace, &zero, d.w.get(), dw));
    sync_check(s);
  }
}

}  // namespace

void conv2d_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, const float* w, const float* bias,
                         const Conv2dGeometry& g) {
  const int64_t rows = g.batch * g.out_h() * g.out_w();  // y as a (rows, O) matrix
  if (rows == 0 || g.out_c == 0) return;                  // nothing to write
  if (g.in_c == 0)  // an empty sum: y is the bias alone
    TL_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(rows * g.out_c) * sizeof(float), gpu.stream));
  else
    forward(gpu, y, x, w, g, Data::kFloat);
  if (bias) bias_add_rows_cuda(gpu, y, bias, rows, g.out_c);
}

void conv2d_backward_cuda(cuda::CudaState& gpu, float* dx, float* dw, float* dbias, const float* dy,
                          const float* x, const float* w, const Conv2dGeometry& g,
                          bool add_to_dx) {
  const int64_t rows = g.batch * g.out_h() * g.out_w();  // dy as a (rows, O) matrix
  if (dbias) bias_grad_rows_cuda(gpu, dbias, dy, rows, g.out_c);
  backward(gpu, dx, dw, dy, x, w, g, Data::kFloat, add_to_dx);
}

void conv2d_forward_bf16_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* x,
                              const uint16_t* w, const Conv2dGeometry& g) {
  const int64_t rows = g.batch * g.out_h() * g.out_w();
  if (rows == 0 || g.out_c == 0) return;
  if (g.in_c == 0)
    TL_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(rows * g.out_c) * sizeof(uint16_t), gpu.stream));
  else
    forward(gpu, y, x, w, g, Data::kBf16);
}

void conv2d_backward_bf16_cuda(cuda::CudaState& gpu, uint16_t* dx, uint16_t* dw,
                               const uint16_t* dy, const uint16_t* x, const uint16_t* w,
                               const Conv2dGeometry& g, bool add_to_dx) {
  backward(gpu, dx, dw, dy, x, w, g, Data::kBf16, add_to_dx);
}

}  // namespace tl
