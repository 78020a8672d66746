#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/context.h"
#include "kernels/cast.h"
#include "kernels/elementwise.h"
#include "runtime/check.h"

namespace tl {

bool any_requires_grad(const Context& ctx, std::initializer_list<const Tensor*> inputs) {
  if (!ctx.grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t && t->requires_grad()) return true;
  return false;
}

void attach_node(const Context& ctx, Tensor& output, std::string op, std::vector<Tensor> inputs,
                 BackwardFn backward) {
  if (ctx.timeline()) ctx.mark("forward " + op);
  auto node = std::make_shared<Node>();
  node->op = std::move(op);
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  output.impl()->grad_fn = std::move(node);
  output.impl()->requires_grad = true;
}

Node::~Node() {
  std::vector<std::shared_ptr<Node>> orphans;
  auto adopt_orphans = [&orphans](Node& node) {
    // The backward closure first: it often holds a second handle on an input
    // (conv2d saves x), which would keep the input's count above one.
    node.backward = nullptr;
    node.backward_adding = nullptr;
    while (!node.inputs.empty()) {  // one at a time: an input listed twice counts down
      Tensor t = std::move(node.inputs.back());
      node.inputs.pop_back();
      // Only a parent that nobody else holds would be destroyed with us.
      if (t.impl() && t.impl_ptr().use_count() == 1 && t.impl()->grad_fn)
        orphans.push_back(std::move(t.impl()->grad_fn));
    }
  };
  adopt_orphans(*this);
  while (!orphans.empty()) {
    std::shared_ptr<Node> node = std::move(orphans.back());
    orphans.pop_back();
    if (node.use_count() == 1) adopt_orphans(*node);
  }
}

namespace {

// Post-order of the graph above `root` (children before parents), computed
// without recursion.
std::vector<std::shared_ptr<TensorImpl>> topological_order(const std::shared_ptr<TensorImpl>& root) {
  // Strong references: running a node frees its inputs, and the tensors
  // still to be visited must survive that.
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::unordered_set<TensorImpl*> visited;
  // Each stack entry is a tensor and the index of the next input to visit.
  std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack{{root, 0}};
  visited.insert(root.get());
  while (!stack.empty()) {
    Node* node = stack.back().first->grad_fn.get();
    size_t& next = stack.back().second;
    if (node && next < node->inputs.size()) {
      const std::shared_ptr<TensorImpl>& child = node->inputs[next++].impl_ptr();
      if (child && child->requires_grad && visited.insert(child.get()).second)
        stack.push_back({child, 0});  // invalidates `next`; it is not used again
    } else {
      order.push_back(std::move(stack.back().first));
      stack.pop_back();
    }
  }
  return order;
}

// a + b into a new tensor, recorded by nothing (the sum of two gradients of
// one tensor). It calls the add kernels directly: autograd sits below the
// differentiable ops and must not depend on them. A bf16 activation's
// gradients are bf16: summed in float32 and rounded once.
Tensor sum_of_gradients(Context& ctx, const Tensor& a, const Tensor& b) {
  TL_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype() &&
               (a.dtype() == DType::F32 || a.dtype() == DType::BF16),
           "backward(): two gradients of one tensor differ: ", shape_str(a.shape()), " ",
           dtype_name(a.dtype()), " and ", shape_str(b.shape()), " ", dtype_name(b.dtype()));
  Tensor sum = ctx.empty(a.shape(), a.dtype());
  const bool bf16 = a.dtype() == DType::BF16;
  if (ctx.device() == Device::CPU) {
    if (bf16)
      add_bf16_cpu(sum.data<uint16_t>(), a.data<uint16_t>(), b.data<uint16_t>(), a.numel());
    else
      add_forward_cpu<float>(sum.data<float>(), a.data<float>(), b.data<float>(), a.numel());
  } else {
    if (bf16)
      add_bf16_cuda(ctx.gpu(), sum.data<uint16_t>(), a.data<uint16_t>(), b.data<uint16_t>(),
                    a.numel());
    else
      add_forward_cuda(ctx.gpu(), sum.data<float>(), a.data<float>(), b.data<float>(), a.numel());
  }
  return sum;
}

// The gradient node.inputs[0] holds so far (pending for a non-leaf, .grad
// for a leaf), when an op may add to it in place: it exists, has the
// input's dtype, and nothing else refers to its memory (an op may return one
// gradient tensor for two inputs, as add does, or views of one buffer).
// Null otherwise.
const Tensor* gradient_so_far(const Node& node,
                              const std::unordered_map<TensorImpl*, Tensor>& pending) {
  if (node.inputs.empty()) return nullptr;
  TensorImpl* input = node.inputs[0].impl();
  if (!input || !input->requires_grad) return nullptr;
  const Tensor* sum = nullptr;
  if (input->grad_fn) {
    auto it = pending.find(input);
    if (it != pending.end()) sum = &it->second;
  } else if (input->grad.defined()) {
    sum = &input->grad;
  }
  if (!sum || sum->dtype() != input->dtype) return nullptr;
  const TensorImpl* impl = sum->impl();
  if (sum->impl_ptr().use_count() != 1 || !impl->storage || impl->storage.use_count() != 1)
    return nullptr;
  return sum;
}

}  // namespace

void backward(Context& ctx, const Tensor& root, const Tensor& grad_root) {
  TL_CHECK(root.defined(), "backward() on an undefined tensor");
  TL_CHECK(root.requires_grad(),
           "backward() on a tensor that does not require grad: nothing in its graph is trainable "
           "(all parameters frozen, or computed under no_grad)");
  Tensor seed = grad_root;
  if (!seed.defined()) {
    TL_CHECK(root.numel() == 1, "backward() without a gradient needs a scalar, got shape ",
             shape_str(root.shape()));
    seed = ctx.full(root.shape(), 1.0f);  // made on the device: no upload
  }
  check_shape(seed, root.shape(), "backward(): gradient of the root");

  // Gradients of non-leaf tensors live here only until their node has run.
  std::unordered_map<TensorImpl*, Tensor> pending;
  // Out of place on purpose: a backward function may hand the same gradient
  // tensor to two inputs (add does), so summing in place would corrupt the other.
  int64_t sums = 0;  // gradient sums so far (for the timeline)
  auto add_gradients = [&](const Tensor& a, const Tensor& b) {
    ++sums;
    return sum_of_gradients(ctx, a, b);
  };
  auto accumulate = [&](TensorImpl* impl, const Tensor& g) {
    if (impl->grad_fn) {
      auto [it, inserted] = pending.try_emplace(impl, g);
      if (!inserted) it->second = add_gradients(it->second, g);
    } else {
      impl->grad = impl->grad.defined() ? add_gradients(impl->grad, g) : g;
    }
  };
  accumulate(root.impl(), seed);

  const std::vector<std::shared_ptr<TensorImpl>> order = topological_order(root.impl_ptr());
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* impl = it->get();
    if (!impl->grad_fn) continue;
    Node& node = *impl->grad_fn;
    TL_CHECK(node.backward, "backward through '", node.op,
             "' a second time: its graph was freed by the first backward()");
    auto found = pending.find(impl);
    if (found == pending.end()) {  // no gradient reached this tensor: nothing flows on
      node.backward = nullptr;
      node.backward_adding = nullptr;
      node.inputs.clear();
      continue;
    }
    Tensor grad_output = std::move(found->second);
    pending.erase(found);
    // The gradient inputs[0] has received so far, when this node can add its
    // own to it in place (Node::backward_adding).
    const Tensor* sum = node.backward_adding ? gradient_so_far(node, pending) : nullptr;
    std::vector<Tensor> grads =
        sum ? node.backward_adding(grad_output, *sum) : node.backward(grad_output);
    if (ctx.timeline()) ctx.mark("backward " + node.op);
    const int64_t sums_before = sums;
    TL_CHECK(grads.size() == node.inputs.size(), "op '", node.op, "' returned ", grads.size(),
             " gradients for ", node.inputs.size(), " inputs");
    for (size_t i = 0; i < grads.size(); ++i) {
      TensorImpl* input = node.inputs[i].impl();
      if (!input || !input->requires_grad || !grads[i].defined()) continue;
      if (i == 0 && sum) {  // added in place: it is where the input's gradient lies already
        TL_CHECK(grads[0].impl() == sum->impl(), "backward(): op '", node.op,
                 "' did not return the gradient it was to add to");
        continue;
      }
      check_shape(grads[i], input->shape, "gradient from '" + node.op + "'");
      TL_CHECK(grads[i].dtype() == input->dtype, "backward(): op '", node.op, "' returned a ",
               dtype_name(grads[i].dtype()), " gradient for a ", dtype_name(input->dtype),
               " input");
      accumulate(input, grads[i]);
    }
    if (ctx.timeline() && sums > sums_before) ctx.mark("backward gradient sums");
    // Free the saved tensors now; the graph cannot be run twice.
    node.backward = nullptr;
    node.backward_adding = nullptr;
    node.inputs.clear();
  }
}

}  // namespace tl
