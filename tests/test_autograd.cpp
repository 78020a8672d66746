// The autograd core: gradient accumulation along several paths (the
// diamond), no_grad, frozen parameters, and the freed-graph error.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/support/compare.h"

#ifdef TL_WITH_CUDA
#include "runtime/cuda/cuda_state.h"
#endif

namespace tl::test {
namespace {

constexpr Tolerance kExact{0.0, 0.0};  // sums of a few small floats: exact

Tensor leaf(const std::vector<float>& values) {
  Tensor t = Tensor::from_vector({static_cast<int64_t>(values.size())}, values);
  t.set_requires_grad(true);
  return t;
}

// x is used twice: y = relu(x) + x. dy/dx = (x > 0) + 1: both paths must add.
TEST(Autograd, DiamondAccumulatesBothPaths) {
  Context ctx;
  Tensor x = leaf({-2.0f, -0.5f, 0.5f, 3.0f});
  Tensor y = ops::add(ctx, ops::relu(ctx, x), x);
  backward(ctx, y, Tensor::full({4}, 1.0f));
  EXPECT_TRUE(all_close(x.grad(), Tensor::from_vector({4}, {1, 1, 2, 2}), kExact, "dx"));
}

// Node::backward_adding (what the CUDA conv2d uses to add its dx onto a
// residual gradient with cuDNN's beta = 1), with a test op y = k * h whose
// adding form counts its calls.
Tensor scaled(Context& ctx, const Tensor& h, float k, int* adding_calls) {
  Tensor y = ctx.empty(h.shape());
  for (int64_t i = 0; i < h.numel(); ++i) y.data<float>()[i] = k * h.data<float>()[i];
  attach_node(ctx, y, "scaled", {h}, [&ctx, h, k](const Tensor& dy) {
    Tensor dh = ctx.empty(h.shape());
    for (int64_t i = 0; i < h.numel(); ++i) dh.data<float>()[i] = k * dy.data<float>()[i];
    return std::vector<Tensor>{dh};
  });
  y.grad_fn()->backward_adding = [k, adding_calls](const Tensor& dy, const Tensor& sum) {
    ++*adding_calls;
    for (int64_t i = 0; i < sum.numel(); ++i) sum.data<float>()[i] += k * dy.data<float>()[i];
    return std::vector<Tensor>{sum};
  };
  return y;
}

// h feeds two such ops: whichever runs second adds onto the gradient the
// first left, once, and the total is right; for a leaf (the sum is .grad)
// and for a non-leaf (the sum is pending in backward()).
TEST(Autograd, AnOpAddsItsGradientOntoTheOneAlreadyThere) {
  Context ctx;
  for (bool through_relu : {false, true}) {
    SCOPED_TRACE(through_relu ? "non-leaf" : "leaf");
    Tensor x = leaf({1.0f, 2.0f, 0.5f});
    const Tensor h = through_relu ? ops::relu(ctx, x) : x;
    int adding_calls = 0;
    const Tensor y = ops::add(ctx, scaled(ctx, h, 2.0f, &adding_calls),
                              scaled(ctx, h, 3.0f, &adding_calls));
    backward(ctx, y, Tensor::from_vector({3}, {1.0f, 10.0f, 100.0f}));
    EXPECT_EQ(adding_calls, 1);
    EXPECT_TRUE(all_close(x.grad(), Tensor::from_vector({3}, {5, 50, 500}), kExact, "dx"));
  }
}

// y = k * h + h: add hands ONE gradient tensor to both of its inputs, so
// the gradient h has when the scaled op runs is shared: it must not be
// added onto in place (that would change the op's own dy too).
TEST(Autograd, AGradientSharedWithAnotherInputIsNotAddedOntoInPlace) {
  Context ctx;
  Tensor x = leaf({1.0f, 2.0f});
  const Tensor h = ops::relu(ctx, x);
  int adding_calls = 0;
  const Tensor y = ops::add(ctx, scaled(ctx, h, 2.0f, &adding_calls), h);
  backward(ctx, y, Tensor::from_vector({2}, {1.0f, 10.0f}));
  EXPECT_EQ(adding_calls, 0);
  EXPECT_TRUE(all_close(x.grad(), Tensor::from_vector({2}, {3, 30}), kExact, "dx"));
}

// A deeper diamond: a = x + x; b = a + x; gradient 3 everywhere.
TEST(Autograd, SameTensorTwiceInOneOp) {
  Context ctx;
  Tensor x = leaf({1.0f, 2.0f});
  Tensor b = ops::add(ctx, ops::add(ctx, x, x), x);
  backward(ctx, b, Tensor::full({2}, 1.0f));
  EXPECT_TRUE(all_close(x.grad(), Tensor::full({2}, 3.0f), kExact, "dx"));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Context ctx;
  Tensor x = leaf({1.0f, -1.0f});
  backward(ctx, ops::relu(ctx, x), Tensor::full({2}, 1.0f));
  backward(ctx, ops::relu(ctx, x), Tensor::full({2}, 1.0f));
  EXPECT_TRUE(all_close(x.grad(), Tensor::from_vector({2}, {2, 0}), kExact, "dx"));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, NoGradRecordsNothing) {
  Context ctx;
  Tensor x = leaf({1.0f, 2.0f});
  {
    NoGradGuard guard(ctx);
    Tensor y = ops::relu(ctx, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_TRUE(ctx.grad_enabled());  // the guard restores the mode
  EXPECT_NE(ops::relu(ctx, x).grad_fn(), nullptr);
}

TEST(Autograd, FrozenParameterGetsNoGradient) {
  Context ctx;
  Tensor trained = leaf({1.0f, -1.0f});
  Tensor frozen = leaf({5.0f, 5.0f});
  frozen.set_requires_grad(false);
  Tensor y = ops::add_relu(ctx, trained, frozen);
  backward(ctx, y, Tensor::full({2}, 1.0f));
  EXPECT_TRUE(trained.grad().defined());
  EXPECT_FALSE(frozen.grad().defined());
}

TEST(Autograd, AllFrozenMeansNoGraph) {
  Context ctx;
  Tensor a = Tensor::full({3}, 1.0f), b = Tensor::full({3}, 2.0f);
  Tensor y = ops::add(ctx, a, b);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_THROW(backward(ctx, y, Tensor::full({3}, 1.0f)), Error);
}

TEST(Autograd, SecondBackwardThroughFreedGraphIsAnError) {
  Context ctx;
  Tensor x = leaf({1.0f});
  Tensor y = ops::relu(ctx, ops::relu(ctx, x));
  backward(ctx, y);
  try {
    backward(ctx, y);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("second time"), std::string::npos) << e.what();
  }
}

TEST(Autograd, ScalarRootSeedsOne) {
  Context ctx;
  Tensor x = leaf({4.0f});
  backward(ctx, ops::relu(ctx, x));
  EXPECT_TRUE(all_close(x.grad(), Tensor::full({1}, 1.0f), kExact, "dx"));
  Tensor v = leaf({1.0f, 2.0f});
  EXPECT_THROW(backward(ctx, ops::relu(ctx, v)), Error);  // not a scalar, no gradient given
}

TEST(Autograd, ReshapeRoutesGradientBack) {
  Context ctx;
  Tensor x = Tensor::from_vector({2, 3}, {1, -2, 3, -4, 5, -6});
  x.set_requires_grad(true);
  Tensor y = ops::relu(ctx, ops::reshape(ctx, x, {6}));
  backward(ctx, y, Tensor::full({6}, 1.0f));
  ASSERT_EQ(x.grad().shape(), (Shape{2, 3}));
  EXPECT_TRUE(all_close(x.grad(), Tensor::from_vector({2, 3}, {1, 0, 1, 0, 1, 0}), kExact, "dx"));
}

TEST(Autograd, LongChainDoesNotOverflowTheStack) {
  // The topological sort is iterative: 20,000 nodes deep is fine.
  Context ctx;
  Tensor x = leaf({1.0f});
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = ops::relu(ctx, y);
  backward(ctx, y);
  EXPECT_TRUE(all_close(x.grad(), Tensor::full({1}, 1.0f), kExact, "dx"));
}

TEST(Autograd, DeepGraphIsFreedWithoutRecursion) {
  // Dropping a 200,000-node graph that never ran backward must not recurse,
  // also through ops whose backward closure keeps a second handle on its
  // input (linear saves x) and an op that lists one input twice.
  Context ctx;
  Tensor x = Tensor::from_vector({1, 1}, {1.0f});
  x.set_requires_grad(true);
  const Tensor w = Tensor::from_vector({1, 1}, {1.0f});
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = ops::add(ctx, ops::linear(ctx, y, w, Tensor()), y);
  // Every linear node's backward closure holds a handle on w: the count says
  // whether the graph is alive (and, at the end, whether it was all freed).
  EXPECT_GE(w.impl_ptr().use_count(), 100000 + 1);
  y = Tensor();  // a recursive destructor would overflow the stack here
  EXPECT_EQ(w.impl_ptr().use_count(), 1) << "nodes of the dropped graph are still alive";
  EXPECT_EQ(x.impl_ptr().use_count(), 1);
}

TEST(Tensor, ViewSharesStorageAndChecksSize) {
  Tensor t = Tensor::from_vector({2, 2}, {1, 2, 3, 4});
  Tensor v = t.view({4});
  v.data<float>()[0] = 9;
  EXPECT_EQ(t.data<float>()[0], 9);
  EXPECT_THROW(t.view({3}), Error);
  EXPECT_THROW(t.data<int32_t>(), Error);
}

TEST(Context, PoisonFillsNaN) {
  Context ctx;
  ctx.set_poison_allocations(true);
  Tensor t = ctx.empty({4});
  for (float v : t.to_vector()) EXPECT_TRUE(std::isnan(v));
}

TEST(Context, CudaWithoutBackendOrGpuIsAClearError) {
#ifdef TL_WITH_CUDA
  if (cuda::device_count() > 0) GTEST_SKIP() << "a GPU is present: nothing to refuse";
#endif
  try {
    Context ctx(Device::CUDA);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("on the CPU"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tl::test
