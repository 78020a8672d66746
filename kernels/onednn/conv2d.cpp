// oneDNN convolutions (kernels/conv2d_onednn.h), compiled when CMake finds
// libdnnl. The steps of every call:
//   1. describe the tensors: activations NHWC ("nhwc" in oneDNN's
//      vocabulary, whose dimension order is always N, C, H, W), weights OHWI
//      ("ohwi"); the weights oneDNN computes with are "any": it picks its
//      blocked layout;
//   2. find (or build once) the primitives for this geometry: building one
//      JIT-compiles its kernel, milliseconds, so they are cached by geometry;
//   3. reorder the OHWI weights into the chosen layout (scaling them per
//      output channel when a batch norm is folded in), run the primitive,
//      and wait for it (oneDNN's CPU stream runs in the calling thread, on
//      the OpenMP threads tl's own kernels use).
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "kernels/conv2d_onednn.h"
#include "runtime/check.h"

namespace tl {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// One geometry, with whether it has a bias, scales its weights (a folded
// batch norm) and ends in a ReLU: what decides every primitive below.
using GeometryKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                               int64_t, int64_t, bool, bool, bool>;
GeometryKey key_of(const Conv2dGeometry& g, bool bias, const ConvFold& fold) {
  return {g.batch,  g.in_h, g.in_w, g.in_c, g.out_c, g.kernel_h, g.kernel_w, g.stride, g.pad,
          bias, fold.weight_scale != nullptr, fold.relu};
}

struct Descs {
  memory::desc x, w_user, w_any, bias, y;
  memory::dims strides, pad;
};
Descs descs_of(const Conv2dGeometry& g, bool bias) {
  const auto f32 = memory::data_type::f32;
  const memory::dims weights{g.out_c, g.in_c, g.kernel_h, g.kernel_w};
  return {memory::desc({g.batch, g.in_c, g.in_h, g.in_w}, f32, Tag::nhwc),
          memory::desc(weights, f32, Tag::ohwi),
          memory::desc(weights, f32, Tag::any),
          bias ? memory::desc({g.out_c}, f32, Tag::x) : memory::desc(),
          memory::desc({g.batch, g.out_c, g.out_h(), g.out_w()}, f32, Tag::nhwc),
          {g.stride, g.stride},
          {g.pad, g.pad}};
}

// The primitives of one geometry, the blocked weight buffers they use, and
// the reorders in and out of them. Built on first use, kept for the process:
// one entry per distinct geometry (a new batch size, such as an epoch's
// last partial batch, is a new entry with its own weight buffers).
struct ConvPrimitives {
  dnnl::convolution_forward::primitive_desc forward_pd;
  dnnl::convolution_forward forward;
  memory forward_w;  // weights in forward's layout
  dnnl::reorder w_to_forward;
  // Backward, built on the first backward call of this geometry.
  bool has_backward = false;
  dnnl::convolution_backward_data backward_data;
  memory backward_data_w;
  dnnl::reorder w_to_backward_data;
  dnnl::convolution_backward_weights backward_weights;
  memory backward_dw;  // dw in backward-weights' layout
  dnnl::reorder dw_to_user;
};

// The engine (the CPU), its stream, and the primitive cache. One mutex guards
// the cache and the blocked buffers in it: tl runs one op at a time, and two
// Contexts on two threads simply take turns here.
struct OneDnn {
  dnnl::engine cpu{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{cpu};
  std::mutex mutex;
  std::map<GeometryKey, ConvPrimitives> cache;
};
OneDnn& onednn() {
  static OneDnn instance;
  return instance;
}

ConvPrimitives& primitives_for(OneDnn& dnn, const Conv2dGeometry& g, bool bias,
                               const ConvFold& fold = {}) {
  const GeometryKey key = key_of(g, bias, fold);
  auto found = dnn.cache.find(key);
  if (found != dnn.cache.end()) return found->second;
  const Descs d = descs_of(g, bias);
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training,
                                             dnnl::algorithm::convolution_direct, d.x, d.w_any,
                                             d.bias, d.y, d.strides, d.pad, d.pad);
  ConvPrimitives p;
  dnnl::primitive_attr conv_attr;  // the ReLU as a post-op on each output block
  if (fold.relu) {
    dnnl::post_ops relu;
    relu.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    conv_attr.set_post_ops(relu);
  }
  p.forward_pd = dnnl::convolution_forward::primitive_desc(desc, conv_attr, dnn.cpu);
  p.forward = dnnl::convolution_forward(p.forward_pd);
  p.forward_w = memory(p.forward_pd.weights_desc(), dnn.cpu);
  dnnl::primitive_attr reorder_attr;  // the scale per output channel (dimension 0 of OIHW)
  if (fold.weight_scale) reorder_attr.set_output_scales(1 << 0, {DNNL_RUNTIME_F32_VAL});
  p.w_to_forward = dnnl::reorder(dnnl::reorder::primitive_desc(
      dnn.cpu, d.w_user, dnn.cpu, p.forward_pd.weights_desc(), reorder_attr));
  return dnn.cache.emplace(key, std::move(p)).first->second;
}

void add_backward(OneDnn& dnn, ConvPrimitives& p, const Conv2dGeometry& g) {
  if (p.has_backward) return;
  const Descs d = descs_of(g, false);
  const auto direct = dnnl::algorithm::convolution_direct;
  const dnnl::convolution_backward_data::primitive_desc data_pd(
      dnnl::convolution_backward_data::desc(direct, d.x, d.w_any, d.y, d.strides, d.pad, d.pad),
      dnn.cpu, p.forward_pd);
  p.backward_data = dnnl::convolution_backward_data(data_pd);
  p.backward_data_w = memory(data_pd.weights_desc(), dnn.cpu);
  p.w_to_backward_data =
      dnnl::reorder(memory(d.w_user, dnn.cpu, DNNL_MEMORY_NONE), p.backward_data_w);
  const dnnl::convolution_backward_weights::primitive_desc weights_pd(
      dnnl::convolution_backward_weights::desc(direct, d.x, d.w_any, d.y, d.strides, d.pad, d.pad),
      dnn.cpu, p.forward_pd);
  p.backward_weights = dnnl::convolution_backward_weights(weights_pd);
  p.backward_dw = memory(weights_pd.diff_weights_desc(), dnn.cpu);
  p.dw_to_user = dnnl::reorder(p.backward_dw, memory(d.w_user, dnn.cpu, DNNL_MEMORY_NONE));
  p.has_backward = true;
}

// oneDNN reports a failure (no kernel for a shape, out of memory) as a
// dnnl::error; this turns it into tl's error naming the convolution.
[[noreturn]] void fail_with(const dnnl::error& e, const char* what, const Conv2dGeometry& g) {
  fail("oneDNN ", what, " of a ", g.kernel_h, "x", g.kernel_w, " convolution (batch ", g.batch,
       ", ", g.in_h, "x", g.in_w, "x", g.in_c, " -> ", g.out_c, " channels, stride ", g.stride,
       ", pad ", g.pad, ") failed: ", e.what(), " (dnnl status ", int(e.status), ")");
}

// A oneDNN view of caller memory (no copy). oneDNN's API takes void*.
memory view(const memory::desc& desc, const dnnl::engine& cpu, const float* data) {
  return memory(desc, cpu, const_cast<float*>(data));
}

}  // namespace

bool onednn_available() { return true; }

bool conv2d_forward_onednn(float* y, const float* x, const float* w, const float* bias,
                           const Conv2dGeometry& g, const ConvFold& fold) {
  OneDnn& dnn = onednn();
  const std::lock_guard<std::mutex> lock(dnn.mutex);
  try {
    ConvPrimitives& p = primitives_for(dnn, g, bias != nullptr, fold);
    const Descs d = descs_of(g, bias != nullptr);
    std::unordered_map<int, memory> reorder_args{{DNNL_ARG_FROM, view(d.w_user, dnn.cpu, w)},
                                                 {DNNL_ARG_TO, p.forward_w}};
    if (fold.weight_scale)
      reorder_args.emplace(DNNL_ARG_ATTR_OUTPUT_SCALES,
                           view(memory::desc({g.out_c}, memory::data_type::f32, Tag::x), dnn.cpu,
                                fold.weight_scale));
    p.w_to_forward.execute(dnn.stream, reorder_args);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, view(d.x, dnn.cpu, x)},
                                         {DNNL_ARG_WEIGHTS, p.forward_w},
                                         {DNNL_ARG_DST, view(d.y, dnn.cpu, y)}};
    if (bias) args.emplace(DNNL_ARG_BIAS, view(d.bias, dnn.cpu, bias));
    p.forward.execute(dnn.stream, args);
    dnn.stream.wait();
  } catch (const dnnl::error& e) {
    fail_with(e, "forward", g);
  }
  return true;
}

bool conv2d_backward_onednn(float* dx, float* dw, const float* dy, const float* x, const float* w,
                            const Conv2dGeometry& g) {
  OneDnn& dnn = onednn();
  const std::lock_guard<std::mutex> lock(dnn.mutex);
  try {
    // The forward without bias is the hint both backward primitives need.
    ConvPrimitives& p = primitives_for(dnn, g, false);
    add_backward(dnn, p, g);
    const Descs d = descs_of(g, false);
    if (dx) {
      memory user_w = view(d.w_user, dnn.cpu, w);
      p.w_to_backward_data.execute(dnn.stream, user_w, p.backward_data_w);
      p.backward_data.execute(dnn.stream, {{DNNL_ARG_DIFF_DST, view(d.y, dnn.cpu, dy)},
                                           {DNNL_ARG_WEIGHTS, p.backward_data_w},
                                           {DNNL_ARG_DIFF_SRC, view(d.x, dnn.cpu, dx)}});
    }
    if (dw) {
      p.backward_weights.execute(dnn.stream, {{DNNL_ARG_SRC, view(d.x, dnn.cpu, x)},
                                              {DNNL_ARG_DIFF_DST, view(d.y, dnn.cpu, dy)},
                                              {DNNL_ARG_DIFF_WEIGHTS, p.backward_dw}});
      memory user_dw = view(d.w_user, dnn.cpu, dw);
      p.dw_to_user.execute(dnn.stream, p.backward_dw, user_dw);
    }
    dnn.stream.wait();
  } catch (const dnnl::error& e) {
    fail_with(e, "backward", g);
  }
  return true;
}

}  // namespace tl
