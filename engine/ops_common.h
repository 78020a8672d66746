// Helpers shared by the engine/ops_*.cpp files (not part of the public API).
#pragma once

#include <string>

#include "engine/context.h"
#include "engine/tensor.h"

namespace tl::ops::detail {

// Checks that every defined tensor lives on the Context's device.
void check_device(const Context& ctx, const char* op, std::initializer_list<const Tensor*> tensors);
// Checks a float32 tensor of the given rank, naming the op and the argument.
void check_float(const Tensor& t, const char* op, const char* arg, int64_t rank);
// The same for a float32 or bfloat16 tensor.
void check_floating(const Tensor& t, const char* op, const char* arg, int64_t rank);
// A new tensor shaped (and typed) like `like` on ctx's device to receive a gradient when
// `required`; otherwise an undefined tensor, whose null pointer
// (ptr_or_null) tells the backward kernel to skip that gradient.
Tensor gradient_buffer_if(const Context& ctx, bool required, const Tensor& like);
// ---- bfloat16 activations (see ops::cast in engine/ops.h) ----
inline bool is_bf16(const Tensor& t) { return t.defined() && t.dtype() == DType::BF16; }
// t as float32 (exact for bf16; recorded by autograd).
Tensor widen(Context& ctx, const Tensor& t);
// t rounded to bfloat16 (recorded by autograd).
Tensor to_bf16(Context& ctx, const Tensor& t);
// A float32 weight rounded to bfloat16 and back, as the tensor cores take
// it; its gradient is rounded to bfloat16 on the way back too, as a bf16
// convolution's weight gradient is.
Tensor bf16_rounded(Context& ctx, const Tensor& w);
// bf16 and float32 arguments mixed where the op wants activations of one dtype.
[[noreturn]] void fail_mixed_dtypes(const char* op, const Tensor& a, const Tensor& b);

// Raw pointer of an optional tensor (null when undefined).
inline float* ptr_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }
template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
// Calls f(T{}) with T the type a kernel takes x's values as: float, or
// uint16_t (bit patterns) for bfloat16. For launchers overloaded on both.
template <typename F>
void with_storage_type(const Tensor& x, F&& f) {
  if (is_bf16(x))
    f(uint16_t{});
  else
    f(float{});
}

// The CPU kernel the context asks for (Context::set_cpu_kernels): `fast`,
// the default, or `reference`, its plain-loop twin from kernels/reference/
// with the same signature. Each op's CPU branch reads
//   cpu_kernel(ctx, conv2d_forward_cpu<float>, conv2d_forward_reference<float>)(y, x, ...);
// (Fn is deduced from `reference`; `fast` may name an overload set.)
template <typename Fn>
Fn* cpu_kernel(const Context& ctx, Fn* fast, Fn* reference) {
  return ctx.cpu_kernels() == CpuKernels::Reference ? reference : fast;
}

}  // namespace tl::ops::detail
