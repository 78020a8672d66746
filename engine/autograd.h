// Reverse-mode automatic differentiation over a dynamic graph.
//
// Every differentiable op that sees an input requiring a gradient (and a
// Context whose grad mode is on) attaches a Node to its output: the inputs
// it read, and a function from dL/d(output) to dL/d(each input). backward()
// orders the nodes topologically (an iterative depth-first search, so a
// 170-layer network cannot overflow the stack) and walks them in reverse.
// Gradients that reach one tensor along several paths are summed (the
// "diamond" case); a Node frees what it saved once it has run.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace tl {

class Context;

// Computes the gradient of each input from the gradient of the output.
// Returns one tensor per input; an undefined tensor where that input needs
// no gradient (the op can skip the work: frozen parameters cost nothing).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

// Optional second form of a backward (Node::backward_adding): the same
// gradients, except that the gradient of inputs[0] is ADDED to `sum`, a
// gradient that input has received already along another path, and `sum` is
// returned in its place. For an op whose kernel can add its result to its
// output buffer as it writes it (cuDNN's beta = 1): where two paths meet (a
// residual block's input feeds the block's first convolution and its
// shortcut) the separate sum kernel and its temporary are saved.
using BackwardAddingFn =
    std::function<std::vector<Tensor>(const Tensor& grad_output, const Tensor& sum)>;

struct Node {
  std::string op;              // the op that made this node, for error messages ("conv2d")
  std::vector<Tensor> inputs;  // parents in the graph
  BackwardFn backward;
  // Set by an op after attach_node when it has such a kernel (the CUDA
  // conv2d). backward() uses it when inputs[0] has a gradient already that
  // nothing else holds (not shared with another input or a view), of the
  // same dtype; otherwise `backward` runs and the two gradients are summed.
  BackwardAddingFn backward_adding;
  // Frees the graph above this node iteratively: the default recursive
  // chain of destructors would overflow the stack on a deep graph.
  ~Node();
};

// True when grad mode is on and one of the inputs requires a gradient: only
// then does an op record a Node.
bool any_requires_grad(const Context& ctx, std::initializer_list<const Tensor*> inputs);

// Makes `output` a non-leaf that requires grad and whose gradient flows
// through `backward` into `inputs`; `op` names the op in error messages.
// The op's forward is complete (its kernels launched) when it attaches its
// node: ctx marks "forward <op>" on its timeline, if it has one.
void attach_node(const Context& ctx, Tensor& output, std::string op, std::vector<Tensor> inputs,
                 BackwardFn backward);

// Runs backpropagation from `root`. With no `grad_root`, root must hold a
// single element (a loss) and its gradient starts at 1.
void backward(Context& ctx, const Tensor& root, const Tensor& grad_root = Tensor());

}  // namespace tl
