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
//      and wait for it.
//
// Threads: Debian's oneDNN runs its kernels on OpenMP threads, whose idle
// spinning is what tl's own pool exists to avoid (runtime/thread_pool.h).
// So oneDNN is asked for ONE thread per call, and tl runs the calls on its
// pool, one slice of the batch each: the images of a convolution are
// independent, forward and backward-data simply split; backward-weights
// sums its slices' weight gradients afterwards, in slice order (so a run is
// repeatable for a given thread count). OpenMP then never starts a team.
#include <oneapi/dnnl/dnnl.hpp>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kernels/conv2d_onednn.h"
#include "runtime/check.h"
#include "runtime/thread_pool.h"

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

// OpenMP's thread count for this thread set to 1 while it lives (oneDNN
// reads it when it builds a primitive and when it runs one), and put back
// after: the calling thread may be a user's, with OpenMP work of its own.
class OneOpenMpThread {
 public:
#ifdef _OPENMP
  OneOpenMpThread() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~OneOpenMpThread() { omp_set_num_threads(saved_); }
#else
  OneOpenMpThread() = default;  // a build without OpenMP: oneDNN's own default
#endif
  OneOpenMpThread(const OneOpenMpThread&) = delete;
  OneOpenMpThread& operator=(const OneOpenMpThread&) = delete;

 private:
  [[maybe_unused]] int saved_ = 1;
};

// The batch cut into slices of nearly equal size (sizes differ by at most
// one image), one per thread of tl's pool.
struct BatchSlices {
  int64_t batch, count;
  explicit BatchSlices(int64_t n)
      : batch(n), count(std::max<int64_t>(1, std::min<int64_t>(n, cpu_threads()))) {}
  int64_t begin(int64_t i) const { return batch * i / count; }
  int64_t size(int64_t i) const { return begin(i + 1) - begin(i); }
};
Conv2dGeometry with_batch(Conv2dGeometry g, int64_t batch) {
  g.batch = batch;
  return g;
}

// The primitives of one geometry (its batch is a slice's), the blocked
// weight buffers they use, and the reorders in and out of them. Built on
// first use, kept for the process: one entry per distinct geometry (a new
// batch size, such as an epoch's last partial batch, is a new entry with
// its own weight buffers).
struct ConvPrimitives {
  dnnl::convolution_forward::primitive_desc forward_pd;
  dnnl::convolution_forward forward;
  memory forward_w;  // weights in forward's layout
  dnnl::reorder w_to_forward;
  // Backward, built on the first backward call of this geometry.
  bool has_backward = false;
  dnnl::convolution_backward_data::primitive_desc backward_data_pd;
  dnnl::convolution_backward_data backward_data;
  memory backward_data_w;
  dnnl::reorder w_to_backward_data;
  dnnl::convolution_backward_weights::primitive_desc backward_weights_pd;
  dnnl::convolution_backward_weights backward_weights;
  dnnl::reorder dw_to_user;
  // Per slice that runs this geometry at once: dw in backward-weights'
  // layout, and each primitive's scratch memory (oneDNN's "user"
  // scratchpad mode: two threads may run one primitive with their own).
  struct SliceBuffers {
    memory backward_dw, forward_scratch, backward_data_scratch, backward_weights_scratch;
  };
  std::deque<SliceBuffers> slices;  // a deque: references stay valid as it grows
};

// A primitive attribute that leaves the scratch memory to the caller.
dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// The engine (the CPU), its stream, and the primitive cache. One mutex guards
// the cache and the blocked buffers in it: tl runs one op at a time, and two
// Contexts on two threads simply take turns here.
struct OneDnn {
  dnnl::engine cpu{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{cpu};
  std::mutex mutex;
  std::map<GeometryKey, ConvPrimitives> cache;
  std::vector<dnnl::stream> slice_streams;  // slice i's (a stream is not shared by threads)
  std::vector<float> partial_dw;            // slices 1.. of a weight gradient, kept between calls

  dnnl::stream& stream_of_slice(size_t i) {
    while (slice_streams.size() <= i) slice_streams.emplace_back(cpu);
    return slice_streams[i];
  }
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
  dnnl::primitive_attr conv_attr = user_scratchpad();  // and the ReLU as a post-op
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
  p.backward_data_pd = dnnl::convolution_backward_data::primitive_desc(
      dnnl::convolution_backward_data::desc(direct, d.x, d.w_any, d.y, d.strides, d.pad, d.pad),
      user_scratchpad(), dnn.cpu, p.forward_pd);
  p.backward_data = dnnl::convolution_backward_data(p.backward_data_pd);
  p.backward_data_w = memory(p.backward_data_pd.weights_desc(), dnn.cpu);
  p.w_to_backward_data =
      dnnl::reorder(memory(d.w_user, dnn.cpu, DNNL_MEMORY_NONE), p.backward_data_w);
  p.backward_weights_pd = dnnl::convolution_backward_weights::primitive_desc(
      dnnl::convolution_backward_weights::desc(direct, d.x, d.w_any, d.y, d.strides, d.pad, d.pad),
      user_scratchpad(), dnn.cpu, p.forward_pd);
  p.backward_weights = dnnl::convolution_backward_weights(p.backward_weights_pd);
  p.dw_to_user = dnnl::reorder(memory(p.backward_weights_pd.diff_weights_desc(), dnn.cpu, DNNL_MEMORY_NONE),
                               memory(d.w_user, dnn.cpu, DNNL_MEMORY_NONE));
  p.slices.clear();  // made again, with the backward buffers
  p.has_backward = true;
}

// The buffers of slice `index` of p's geometry, allocated on first use.
ConvPrimitives::SliceBuffers& slice_buffers(OneDnn& dnn, ConvPrimitives& p, size_t index) {
  while (p.slices.size() <= index) {
    ConvPrimitives::SliceBuffers b;
    b.forward_scratch = memory(p.forward_pd.scratchpad_desc(), dnn.cpu);
    if (p.has_backward) {
      b.backward_dw = memory(p.backward_weights_pd.diff_weights_desc(), dnn.cpu);
      b.backward_data_scratch = memory(p.backward_data_pd.scratchpad_desc(), dnn.cpu);
      b.backward_weights_scratch = memory(p.backward_weights_pd.scratchpad_desc(), dnn.cpu);
    }
    p.slices.push_back(std::move(b));
  }
  return p.slices[index];
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
  const OneOpenMpThread one_thread;
  const BatchSlices slices(g.batch);
  try {
    // Each distinct slice geometry (at most two sizes) gets its weights
    // re-laid out once, before the slices run.
    std::vector<ConvPrimitives*> of_slice(static_cast<size_t>(slices.count), nullptr);
    for (int64_t i = 0; i < slices.count; ++i) {
      const Conv2dGeometry gs = with_batch(g, slices.size(i));
      ConvPrimitives& p = primitives_for(dnn, gs, bias != nullptr, fold);
      of_slice[i] = &p;
      if (i > 0 && of_slice[i - 1] == &p) continue;
      std::unordered_map<int, memory> reorder_args{
          {DNNL_ARG_FROM, view(descs_of(gs, false).w_user, dnn.cpu, w)}, {DNNL_ARG_TO, p.forward_w}};
      if (fold.weight_scale)
        reorder_args.emplace(DNNL_ARG_ATTR_OUTPUT_SCALES,
                             view(memory::desc({g.out_c}, memory::data_type::f32, Tag::x),
                                  dnn.cpu, fold.weight_scale));
      p.w_to_forward.execute(dnn.stream, reorder_args);
    }
    dnn.stream.wait();
    std::vector<ConvPrimitives::SliceBuffers*> buffers;
    std::vector<dnnl::stream> streams;
    for (int64_t i = 0; i < slices.count; ++i) {
      buffers.push_back(&slice_buffers(dnn, *of_slice[i], static_cast<size_t>(i)));
      streams.push_back(dnn.stream_of_slice(static_cast<size_t>(i)));
    }
    const int64_t x_image = g.in_h * g.in_w * g.in_c, y_image = g.out_h() * g.out_w() * g.out_c;
    parallel_parts(slices.count, [&](int64_t i) {
      const OneOpenMpThread one_thread_here;
      const Descs d = descs_of(with_batch(g, slices.size(i)), bias != nullptr);
      ConvPrimitives& p = *of_slice[i];
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, view(d.x, dnn.cpu, x + slices.begin(i) * x_image)},
          {DNNL_ARG_WEIGHTS, p.forward_w},
          {DNNL_ARG_DST, view(d.y, dnn.cpu, y + slices.begin(i) * y_image)},
          {DNNL_ARG_SCRATCHPAD, buffers[i]->forward_scratch}};
      if (bias) args.emplace(DNNL_ARG_BIAS, view(d.bias, dnn.cpu, bias));
      dnnl::stream& stream = streams[i];
      p.forward.execute(stream, args);
      stream.wait();
    });
  } catch (const dnnl::error& e) {
    fail_with(e, "forward", g);
  }
  return true;
}

bool conv2d_backward_onednn(float* dx, float* dw, const float* dy, const float* x, const float* w,
                            const Conv2dGeometry& g) {
  OneDnn& dnn = onednn();
  const std::lock_guard<std::mutex> lock(dnn.mutex);
  const OneOpenMpThread one_thread;
  const BatchSlices slices(g.batch);
  try {
    // The forward without bias is the hint both backward primitives need.
    std::vector<ConvPrimitives*> of_slice(static_cast<size_t>(slices.count), nullptr);
    for (int64_t i = 0; i < slices.count; ++i) {
      const Conv2dGeometry gs = with_batch(g, slices.size(i));
      ConvPrimitives& p = primitives_for(dnn, gs, false);
      add_backward(dnn, p, gs);
      of_slice[i] = &p;
      if (dx && !(i > 0 && of_slice[i - 1] == &p)) {
        memory user_w = view(descs_of(gs, false).w_user, dnn.cpu, w);
        p.w_to_backward_data.execute(dnn.stream, user_w, p.backward_data_w);
      }
    }
    dnn.stream.wait();
    std::vector<ConvPrimitives::SliceBuffers*> buffers;
    std::vector<dnnl::stream> streams;
    for (int64_t i = 0; i < slices.count; ++i) {
      buffers.push_back(&slice_buffers(dnn, *of_slice[i], static_cast<size_t>(i)));
      streams.push_back(dnn.stream_of_slice(static_cast<size_t>(i)));
    }
    // The weight gradient of slice i > 0 goes to partial_dw[i - 1] (OHWI),
    // slice 0's straight to dw; they are added up below.
    const int64_t w_size = g.out_c * g.kernel_h * g.kernel_w * g.in_c;
    std::vector<float>& partial_dw = dnn.partial_dw;
    if (dw) partial_dw.resize(std::max(partial_dw.size(), static_cast<size_t>((slices.count - 1) * w_size)));
    const int64_t x_image = g.in_h * g.in_w * g.in_c, y_image = g.out_h() * g.out_w() * g.out_c;
    parallel_parts(slices.count, [&](int64_t i) {
      const OneOpenMpThread one_thread_here;
      const Descs d = descs_of(with_batch(g, slices.size(i)), false);
      ConvPrimitives& p = *of_slice[i];
      ConvPrimitives::SliceBuffers& b = *buffers[i];
      const float* dy_slice = dy + slices.begin(i) * y_image;
      dnnl::stream& stream = streams[i];
      if (dx) {
        p.backward_data.execute(stream, {{DNNL_ARG_DIFF_DST, view(d.y, dnn.cpu, dy_slice)},
                                         {DNNL_ARG_WEIGHTS, p.backward_data_w},
                                         {DNNL_ARG_DIFF_SRC, view(d.x, dnn.cpu, dx + slices.begin(i) * x_image)},
                                         {DNNL_ARG_SCRATCHPAD, b.backward_data_scratch}});
      }
      if (dw) {
        p.backward_weights.execute(stream, {{DNNL_ARG_SRC, view(d.x, dnn.cpu, x + slices.begin(i) * x_image)},
                                            {DNNL_ARG_DIFF_DST, view(d.y, dnn.cpu, dy_slice)},
                                            {DNNL_ARG_DIFF_WEIGHTS, b.backward_dw},
                                            {DNNL_ARG_SCRATCHPAD, b.backward_weights_scratch}});
        float* target = i == 0 ? dw : partial_dw.data() + (i - 1) * w_size;
        memory user_dw = view(d.w_user, dnn.cpu, target);
        p.dw_to_user.execute(stream, b.backward_dw, user_dw);
      }
      stream.wait();
    });
    if (dw && slices.count > 1) {
      parallel_for(w_size, w_size >= kParallelWorkMin, [&](int64_t begin, int64_t end) {
        for (int64_t i = 1; i < slices.count; ++i) {
          const float* part = partial_dw.data() + (i - 1) * w_size;
          for (int64_t e = begin; e < end; ++e) dw[e] += part[e];
        }
      });
    }
  } catch (const dnnl::error& e) {
    fail_with(e, "backward", g);
  }
  return true;
}

}  // namespace tl
