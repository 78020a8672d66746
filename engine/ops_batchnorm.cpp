// batchnorm: batch normalisation over the last (channel) axis, optionally
// fused with the ReLU after it; training (batch statistics, running
// statistics updated in place) and inference (running statistics).
#include <cstring>

#include "engine/autograd.h"
#include "runtime/device_copy.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/reference/batchnorm.h"

namespace tl::ops {
using namespace detail;

namespace {

constexpr const char* kOp = "batchnorm";

void check_channel_vector(const Tensor& t, const char* arg, int64_t channels) {
  check_float(t, kOp, arg, 1);
  if (t.size(0) != channels)
    fail(kOp, ": ", arg, " has ", t.size(0), " values but x has ", channels,
         " channels (its last axis)");
}

// A private copy of a (C) statistics vector, so that a later in-place update
// of the running statistics cannot change what an inference node's backward
// differentiates.
Tensor copy_of(const Context& ctx, const Tensor& t) {
  Tensor c = ctx.empty(t.shape());
  if (ctx.device() == Device::CPU)
    std::memcpy(c.raw_data(), t.raw_data(), t.nbytes());
  else
    copy_device_to_device(ctx.gpu(), c.raw_data(), t.raw_data(), t.nbytes());
  return c;
}

}  // namespace

namespace {

// The checks both ops make; returns x as a (rows, C) matrix.
BatchNormGeometry checked_geometry(const Context& ctx, const Tensor& x, const Tensor& gamma,
                                   const Tensor& beta, const Tensor& running_mean,
                                   const Tensor& running_var, const BatchNormOptions& options) {
  check_floating(x, kOp, "x", -1);
  if (x.dim() != 2 && x.dim() != 4)
    fail(kOp, ": x must be (N, C) or (N, H, W, C), got shape ", shape_str(x.shape()));
  const int64_t channels = x.size(-1);
  const BatchNormGeometry geom{x.numel() / (channels > 0 ? channels : 1), channels};
  if (geom.rows == 0 || channels == 0)
    fail(kOp, ": x is empty, shape ", shape_str(x.shape()));
  check_channel_vector(gamma, "gamma", channels);
  check_channel_vector(beta, "beta", channels);
  check_channel_vector(running_mean, "running_mean", channels);
  check_channel_vector(running_var, "running_var", channels);
  const Tensor& shift = options.shift;
  if (shift.defined()) {
    if (!options.training)
      fail(kOp, ": a shift only cancels in training mode (batch statistics); in inference "
                "add it to x first");
    check_channel_vector(shift, "shift", channels);
  }
  if (!(options.eps > 0.0f)) fail(kOp, ": eps must be positive, got ", options.eps);
  if (!(options.momentum >= 0.0f && options.momentum <= 1.0f))
    fail(kOp, ": momentum must be in [0, 1] (Keras convention, 0.99 keeps 99% of the old "
              "running value), got ", options.momentum);
  check_device(ctx, kOp, {&x, &gamma, &beta, &running_mean, &running_var, &shift});
  return geom;
}

// running_mean += (1 - momentum) * shift: the running mean of x + shift
// (the statistics kernel saw x).
void move_running_mean_by_shift(Context& ctx, const Tensor& running_mean, const Tensor& shift,
                                int64_t channels, float momentum) {
  if (ctx.device() == Device::CPU)
    batchnorm_shift_running_mean_cpu<float>(running_mean.data<float>(), shift.data<float>(),
                                            channels, momentum);
  else
    batchnorm_shift_running_mean_cuda(ctx.gpu(), running_mean.data<float>(),
                                      shift.data<float>(), channels, momentum);
}

// The training-mode backward: {dx, dgamma, dbeta, dshift} from dy, each
// only where its input requires it.
std::vector<Tensor> train_backward(Context& ctx, const Tensor& dy, const Tensor& x,
                                   const Tensor& gamma, const Tensor& beta, const Tensor& shift,
                                   const Tensor& save_mean, const Tensor& save_invstd,
                                   const BatchNormGeometry& geom, bool relu) {
  Tensor dx = gradient_buffer_if(ctx, x.requires_grad(), x);
  Tensor dgamma = gradient_buffer_if(ctx, gamma.requires_grad(), gamma);
  Tensor dbeta = gradient_buffer_if(ctx, beta.requires_grad(), beta);
  // Exactly zero: the shift cancels in the batch statistics.
  Tensor dshift = shift.defined() && shift.requires_grad() ? ctx.zeros(shift.shape()) : Tensor();
  if (ctx.device() == Device::CPU) {
    cpu_kernel(ctx, batchnorm_backward_train_cpu<float>, batchnorm_backward_train_reference<float>)(
        ptr_or_null(dx), ptr_or_null(dgamma), ptr_or_null(dbeta), dy.data<float>(),
        x.data<float>(), gamma.data<float>(), beta.data<float>(), save_mean.data<float>(),
        save_invstd.data<float>(), geom, relu);
  } else {
    with_storage_type(x, [&](auto type) {
      using T = decltype(type);
      batchnorm_backward_train_cuda(ctx.gpu(), data_or_null<T>(dx), ptr_or_null(dgamma),
                                    ptr_or_null(dbeta), dy.data<T>(), x.data<T>(),
                                    gamma.data<float>(), beta.data<float>(),
                                    save_mean.data<float>(), save_invstd.data<float>(), geom,
                                    relu);
    });
  }
  return {dx, dgamma, dbeta, dshift};
}

// The inference-mode backward: {dx, dgamma, dbeta} around the running
// statistics (`mean`, `var`: private copies taken at the forward).
std::vector<Tensor> infer_backward(Context& ctx, const Tensor& dy, const Tensor& x,
                                   const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                                   const Tensor& var, const BatchNormGeometry& geom, float eps,
                                   bool relu) {
  Tensor dx = gradient_buffer_if(ctx, x.requires_grad(), x);
  Tensor dgamma = gradient_buffer_if(ctx, gamma.requires_grad(), gamma);
  Tensor dbeta = gradient_buffer_if(ctx, beta.requires_grad(), beta);
  if (ctx.device() == Device::CPU) {
    cpu_kernel(ctx, batchnorm_backward_infer_cpu<float>, batchnorm_backward_infer_reference<float>)(
        ptr_or_null(dx), ptr_or_null(dgamma), ptr_or_null(dbeta), dy.data<float>(),
        x.data<float>(), gamma.data<float>(), beta.data<float>(), mean.data<float>(),
        var.data<float>(), geom, eps, relu);
  } else {
    with_storage_type(x, [&](auto type) {
      using T = decltype(type);
      batchnorm_backward_infer_cuda(ctx.gpu(), data_or_null<T>(dx), ptr_or_null(dgamma),
                                    ptr_or_null(dbeta), dy.data<T>(), x.data<T>(),
                                    gamma.data<float>(), beta.data<float>(), mean.data<float>(),
                                    var.data<float>(), geom, eps, relu);
    });
  }
  return {dx, dgamma, dbeta};
}

}  // namespace

Tensor batchnorm(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                 const Tensor& running_mean, const Tensor& running_var,
                 const BatchNormOptions& options) {
  // bf16 x: statistics and parameters stay float32. The GPU's kernels read
  // and write bf16 themselves; the CPU runs the float32 op between casts.
  if (is_bf16(x) && ctx.device() == Device::CPU)
    return to_bf16(ctx, batchnorm(ctx, widen(ctx, x), gamma, beta, running_mean, running_var,
                                  options));
  const BatchNormGeometry geom =
      checked_geometry(ctx, x, gamma, beta, running_mean, running_var, options);
  const int64_t channels = geom.channels;
  const Tensor& shift = options.shift;
  const bool relu = options.relu;
  const float eps = options.eps;
  Tensor y = ctx.empty(x.shape(), x.dtype());

  if (options.training) {
    Tensor save_mean = ctx.empty({channels});    // (C)
    Tensor save_invstd = ctx.empty({channels});  // (C)
    if (ctx.device() == Device::CPU) {
      cpu_kernel(ctx, batchnorm_forward_train_cpu<float>, batchnorm_forward_train_reference<float>)(
          y.data<float>(), save_mean.data<float>(), save_invstd.data<float>(),
          running_mean.data<float>(), running_var.data<float>(), x.data<float>(),
          gamma.data<float>(), beta.data<float>(), geom, eps, options.momentum, relu);
    } else {
      with_storage_type(x, [&](auto type) {
        using T = decltype(type);
        batchnorm_forward_train_cuda(ctx.gpu(), y.data<T>(), save_mean.data<float>(),
                                     save_invstd.data<float>(), running_mean.data<float>(),
                                     running_var.data<float>(), x.data<T>(), gamma.data<float>(),
                                     beta.data<float>(), geom, eps, options.momentum, relu);
      });
    }
    if (shift.defined())
      move_running_mean_by_shift(ctx, running_mean, shift, channels, options.momentum);
    if (any_requires_grad(ctx, {&x, &gamma, &beta, &shift})) {
      attach_node(ctx, y, kOp, {x, gamma, beta, shift},
                  [&ctx, x, gamma, beta, shift, save_mean, save_invstd, geom,
                   relu](const Tensor& dy) {
                    return train_backward(ctx, dy, x, gamma, beta, shift, save_mean,
                                          save_invstd, geom, relu);
                  });
    }
    return y;
  }

  // Inference: the running statistics are read, never written.
  if (ctx.device() == Device::CPU) {
    cpu_kernel(ctx, batchnorm_forward_infer_cpu<float>, batchnorm_forward_infer_reference<float>)(
        y.data<float>(), x.data<float>(), gamma.data<float>(), beta.data<float>(),
        running_mean.data<float>(), running_var.data<float>(), geom, eps, relu);
  } else {
    with_storage_type(x, [&](auto type) {
      using T = decltype(type);
      batchnorm_forward_infer_cuda(ctx.gpu(), y.data<T>(), x.data<T>(), gamma.data<float>(),
                                   beta.data<float>(), running_mean.data<float>(),
                                   running_var.data<float>(), geom, eps, relu);
    });
  }
  if (any_requires_grad(ctx, {&x, &gamma, &beta})) {
    Tensor mean = copy_of(ctx, running_mean), var = copy_of(ctx, running_var);
    attach_node(ctx, y, kOp, {x, gamma, beta},
                [&ctx, x, gamma, beta, mean, var, geom, eps, relu](const Tensor& dy) {
                  return infer_backward(ctx, dy, x, gamma, beta, mean, var, geom, eps, relu);
                });
  }
  return y;
}

Tensor batchnorm_add_relu(Context& ctx, const Tensor& x, const Tensor& residual,
                          const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                          const Tensor& running_var, const BatchNormOptions& options) {
  constexpr const char* op = "batchnorm_add_relu";
  BatchNormOptions bn = options;
  bn.relu = false;  // the ReLU comes after the add
  if (!residual.defined()) fail(op, ": residual is undefined");
  if (residual.shape() != x.shape())
    fail(op, ": residual has shape ", shape_str(residual.shape()), ", x ", shape_str(x.shape()));
  if (residual.dtype() != x.dtype()) fail_mixed_dtypes(op, x, residual);
  if (ctx.device() == Device::CPU) {
    // The CPU is the composition itself (the reference the GPU's one pass is
    // checked against); a bf16 one is that float32 composition between
    // casts: one rounding, as the GPU's fused kernel rounds.
    if (is_bf16(x))
      return to_bf16(ctx, batchnorm_add_relu(ctx, widen(ctx, x), widen(ctx, residual), gamma,
                                             beta, running_mean, running_var, options));
    return add_relu(ctx, residual, batchnorm(ctx, x, gamma, beta, running_mean, running_var, bn));
  }

  const BatchNormGeometry geom =
      checked_geometry(ctx, x, gamma, beta, running_mean, running_var, bn);
  check_device(ctx, op, {&residual});
  const int64_t channels = geom.channels;
  const Tensor& shift = bn.shift;
  Tensor y = ctx.empty(x.shape(), x.dtype());
  Tensor save_mean, save_invstd, mean, var;
  if (bn.training) {
    save_mean = ctx.empty({channels});
    save_invstd = ctx.empty({channels});
    with_storage_type(x, [&](auto type) {
      using T = decltype(type);
      batchnorm_add_relu_forward_train_cuda(
          ctx.gpu(), y.data<T>(), save_mean.data<float>(), save_invstd.data<float>(),
          running_mean.data<float>(), running_var.data<float>(), x.data<T>(), residual.data<T>(),
          gamma.data<float>(), beta.data<float>(), geom, bn.eps, bn.momentum);
    });
    if (shift.defined()) move_running_mean_by_shift(ctx, running_mean, shift, channels, bn.momentum);
  } else {
    with_storage_type(x, [&](auto type) {
      using T = decltype(type);
      batchnorm_add_relu_forward_infer_cuda(ctx.gpu(), y.data<T>(), x.data<T>(),
                                            residual.data<T>(), gamma.data<float>(),
                                            beta.data<float>(), running_mean.data<float>(),
                                            running_var.data<float>(), geom, bn.eps);
    });
    if (any_requires_grad(ctx, {&x, &gamma, &beta})) {
      mean = copy_of(ctx, running_mean);
      var = copy_of(ctx, running_var);
    }
  }
  if (any_requires_grad(ctx, {&x, &residual, &gamma, &beta, &shift})) {
    // Backward: the ReLU's mask from y, applied to dy, is the residual's
    // gradient and the BN's incoming one (the composition's add_relu node).
    Tensor y_saved = y.view(y.shape());
    attach_node(ctx, y, op, {x, residual, gamma, beta, shift},
                [&ctx, x, residual, gamma, beta, shift, save_mean, save_invstd, mean, var,
                 y_saved, geom, bn](const Tensor& dy) {
                  Tensor g = ctx.empty(y_saved.shape(), y_saved.dtype());
                  with_storage_type(y_saved, [&](auto type) {
                    using T = decltype(type);
                    relu_backward_cuda(ctx.gpu(), g.data<T>(), dy.data<T>(), y_saved.data<T>(),
                                       y_saved.numel());
                  });
                  std::vector<Tensor> grads =
                      bn.training ? train_backward(ctx, g, x, gamma, beta, shift, save_mean,
                                                   save_invstd, geom, /*relu=*/false)
                                  : infer_backward(ctx, g, x, gamma, beta, mean, var, geom,
                                                   bn.eps, /*relu=*/false);
                  const Tensor d_residual = residual.requires_grad() ? g : Tensor();
                  const Tensor dshift = grads.size() > 3 ? grads[3] : Tensor();
                  return std::vector<Tensor>{grads[0], d_residual, grads[1], grads[2], dshift};
                });
  }
  return y;
}

}  // namespace tl::ops
