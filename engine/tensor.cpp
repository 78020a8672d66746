#include "engine/tensor.h"

#include <cstring>

#include "engine/autograd.h"
#include "runtime/bf16.h"
#include "runtime/device_copy.h"

namespace tl {
namespace {

Tensor make_tensor(const Shape& shape, DType dtype, std::shared_ptr<Storage> storage) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::move(storage);
  return Tensor(std::move(impl));
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  return make_tensor(shape, dtype, std::make_shared<Storage>(bytes));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, std::shared_ptr<Allocator> allocator) {
  if (!allocator) return empty(shape, dtype);
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  return make_tensor(shape, dtype, std::make_shared<Storage>(bytes, std::move(allocator)));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (t.nbytes()) std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value;
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
  TL_CHECK(shape_numel(shape) == static_cast<int64_t>(values.size()), "from_vector: shape ",
           shape_str(shape), " needs ", shape_numel(shape), " values, got ", values.size());
  Tensor t = empty(shape);
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(float));
  return t;
}

const Shape& Tensor::shape() const {
  TL_CHECK(defined(), "shape() of an undefined tensor");
  return impl_->shape;
}

int64_t Tensor::size(int64_t axis) const {
  const int64_t d = dim();
  if (axis < 0) axis += d;
  TL_CHECK(axis >= 0 && axis < d, "axis ", axis, " out of range for shape ", shape_str(shape()));
  return shape()[static_cast<size_t>(axis)];
}

int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { return impl_->dtype; }
Device Tensor::device() const { return impl_->storage->device(); }

void* Tensor::raw_data() const {
  TL_CHECK(defined(), "raw_data() of an undefined tensor");
  return static_cast<char*>(impl_->storage->data()) + impl_->byte_offset;
}

Tensor Tensor::view(const Shape& new_shape) const {
  TL_CHECK(shape_numel(new_shape) == numel(), "cannot view a tensor of shape ",
           shape_str(shape()), " as ", shape_str(new_shape), ": element counts differ");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = new_shape;
  impl->dtype = impl_->dtype;
  impl->storage = impl_->storage;
  impl->byte_offset = impl_->byte_offset;
  return Tensor(std::move(impl));
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  if (out.empty()) return out;
  if (dtype() == DType::BF16) {
    std::vector<uint16_t> bits(out.size());
    if (device() == Device::CPU)
      std::memcpy(bits.data(), data<uint16_t>(), bits.size() * sizeof(uint16_t));
    else
      copy_device_to_host(bits.data(), data<uint16_t>(), bits.size() * sizeof(uint16_t));
    bf16_to_float_cpu(out.data(), bits.data(), static_cast<int64_t>(out.size()));
    return out;
  }
  if (device() == Device::CPU)
    std::memcpy(out.data(), data<float>(), out.size() * sizeof(float));
  else
    copy_device_to_host(out.data(), data<float>(), out.size() * sizeof(float));
  return out;
}

void Tensor::copy_from_host(const std::vector<float>& values) const {
  TL_CHECK(static_cast<int64_t>(values.size()) == numel(), "copy_from_host: ", values.size(),
           " values for a tensor of shape ", shape_str(shape()));
  if (values.empty()) return;
  if (device() == Device::CPU)
    std::memcpy(data<float>(), values.data(), values.size() * sizeof(float));
  else
    copy_host_to_device(data<float>(), values.data(), values.size() * sizeof(float));
}

bool Tensor::requires_grad() const { return defined() && impl_->requires_grad; }

void Tensor::set_requires_grad(bool required) {
  TL_CHECK(defined(), "set_requires_grad on an undefined tensor");
  TL_CHECK(!required || dtype() == DType::F32 || dtype() == DType::BF16,
           "only float32 and bfloat16 tensors can require gradients, not ", dtype_name(dtype()));
  TL_CHECK(is_leaf(), "set_requires_grad is for leaves (parameters), not computed tensors");
  impl_->requires_grad = required;
}

Tensor Tensor::grad() const { return defined() ? impl_->grad : Tensor(); }
void Tensor::set_grad(const Tensor& grad) const { impl_->grad = grad; }
void Tensor::zero_grad() const { impl_->grad = Tensor(); }

std::shared_ptr<Node> Tensor::grad_fn() const { return defined() ? impl_->grad_fn : nullptr; }

void check_shape(const Tensor& t, const Shape& expected, const std::string& what) {
  if (!t.defined()) fail(what, ": tensor is undefined, expected shape ", shape_str(expected));
  if (t.shape() != expected)
    fail(what, ": expected shape ", shape_str(expected), ", got ", shape_str(t.shape()));
}

}  // namespace tl
