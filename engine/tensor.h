// Tensor: a shape, an element type and a view into shared Storage, plus the
// autograd fields (requires_grad, the accumulated gradient, the Node that
// produced it). Tensors are cheap handles: copying one shares the data.
//
// Tensors are always contiguous (row-major over their shape). A reshape is a
// view sharing the storage; there are no strided views, which keeps every
// kernel a plain loop over contiguous memory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/check.h"
#include "runtime/shape.h"
#include "runtime/storage.h"

namespace tl {

struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;

  // Uninitialised host tensor.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  // Uninitialised tensor from `allocator` (device memory).
  static Tensor empty(const Shape& shape, DType dtype, std::shared_ptr<Allocator> allocator);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);  // host
  static Tensor full(const Shape& shape, float value);                // host, float32
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values);  // host

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }

  // Typed pointer to the first element; checks the element type.
  template <typename T>
  T* data() const;
  void* raw_data() const;

  // A view of the same data with another shape (same numel). Not recorded
  // by autograd: use ops::reshape for a differentiable reshape.
  Tensor view(const Shape& shape) const;

  // Host copy of the data as a vector (float32 tensors, and bfloat16 ones
  // widened, which is exact; copies from device).
  std::vector<float> to_vector() const;
  // Overwrites a float32 tensor (host or device) with `values` (numel of them).
  void copy_from_host(const std::vector<float>& values) const;

  // ---- autograd ----
  bool requires_grad() const;
  // Marks a leaf (a parameter) as needing its gradient; false freezes it.
  void set_requires_grad(bool required);
  // The accumulated gradient (undefined until a backward reaches this tensor).
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  void zero_grad() const;  // drops the gradient
  std::shared_ptr<Node> grad_fn() const;
  bool is_leaf() const { return grad_fn() == nullptr; }

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  Shape shape;
  DType dtype = DType::F32;
  std::shared_ptr<Storage> storage;
  size_t byte_offset = 0;  // where this view starts inside storage
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
};

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::F32; }
template <>
constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <>
constexpr DType dtype_of<uint8_t>() { return DType::U8; }
// bfloat16 values are held as their bit patterns (runtime/bf16.h).
template <>
constexpr DType dtype_of<uint16_t>() { return DType::BF16; }

template <typename T>
T* Tensor::data() const {
  TL_CHECK(defined(), "data() of an undefined tensor");
  TL_CHECK(dtype() == dtype_of<T>(), "tensor holds ", dtype_name(dtype()),
           ", asked for ", dtype_name(dtype_of<T>()));
  return static_cast<T*>(raw_data());
}

// Throws a tl::Error naming `what` unless t has exactly `expected` shape.
void check_shape(const Tensor& t, const Shape& expected, const std::string& what);

}  // namespace tl
