// Exact arithmetic: how the CUDA kernels that promise results bit-identical to
// the CPU reference (kernels/*.cpp) write their float and double arithmetic.
//
// IEEE 754 fixes the result of each +, -, *, / and sqrt (rounded to nearest,
// ties to even), so the same chain of operations on the same operands gives
// the same bits on a CPU and on a GPU. nvcc does not keep the chain the same:
// by default (-fmad=true) it contracts a * b + c into one fused multiply-add,
// which rounds once where the CPU reference, built for baseline x86-64 (no FMA
// instruction), rounds twice. One contraction changes a result's last bit,
// and some last bits matter far beyond their size: batch norm's backward
// recomputes the forward's ReLU mask from x, and a y within one rounding of 0
// that changes sign passes or blocks the whole gradient of its element
// (docs/lab/batchnorm_backward.md). With every multiplication and addition of
// a kernel written through these helpers, nvcc cannot contract anything, the
// GPU repeats the CPU's roundings one by one, and the tests can demand equal
// bits, which catches every indexing or ordering mistake a tolerance would
// hide (tests/gpu/cuda_parity.h: matches_cpu_exactly).
//
// mul_exact and add_exact are __fmul_rn / __fadd_rn (__dmul_rn / __dadd_rn
// for double): a multiplication and an addition that nvcc never fuses with
// anything. sub_exact is add_exact of the negation, spelled with its own
// intrinsic (__fsub_rn, __dsub_rn) so that the generated code stays the one
// the kernels had before these names. Division and square root are not about
// contraction: with nvcc's defaults (-prec-div=true, -prec-sqrt=true) a / b
// and sqrt are correctly rounded already, and the kernels call __fdiv_rn,
// __fsqrt_rn (__ddiv_rn, __dsqrt_rn) by name where the result must stay
// exact even under --use_fast_math.
//
// What it costs: an FMA is one instruction where these are two, and it would
// round once (half an ulp closer to the true value). The kernels that use the
// helpers are memory-bound, a few operations per 4 to 12 bytes moved, while
// an H200 can issue about 14 float operations per byte its memory delivers,
// so the extra instructions should hide behind the memory traffic (the GB/s
// tables of docs/lab/ will show it once a GPU has run them); a compute-bound
// kernel would pay up to twice the arithmetic.
#pragma once

namespace tl::cuda {

__device__ __forceinline__ float mul_exact(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float add_exact(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float sub_exact(float a, float b) { return __fsub_rn(a, b); }

__device__ __forceinline__ double mul_exact(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double add_exact(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double sub_exact(double a, double b) { return __dsub_rn(a, b); }

}  // namespace tl::cuda
