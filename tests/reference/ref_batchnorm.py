"""batchnorm (optionally fused with ReLU): training and inference, forward and
backward, and the Keras running-statistics update.

PyTorch is the judge of y and the gradients (F.batch_norm, float64). Its own
running-statistics update differs from Keras's (momentum 1 - ours, unbiased
variance), so the expected running statistics are computed here explicitly:
    running = momentum * old + (1 - momentum) * batch
with the BIASED batch variance."""
import torch
import torch.nn.functional as F
from common import randn, rand, f32, leaf, nchw, nhwc

MOMENTUM = 0.99
EPS_RESNET = 1.001e-5  # Keras ResNet50's BatchNormalization epsilon
EPS_KERAS = 1e-3       # Keras's default (the reference head)


def scalar(v):
    return torch.tensor([v], dtype=torch.float64)


def bn_case(name, shape, relu, eps, training, seed):
    """shape is tl's layout: (N, H, W, C) or (N, C)."""
    C = shape[-1]
    # An offset and a spread per channel, so the mean is far from 0 (the
    # case a one-pass variance would get wrong) and channels differ.
    x = randn(shape, seed) * rand((C,), seed + 1, 0.5, 2.0) + randn((C,), seed + 2, 3.0)
    x = leaf(x.to(torch.float32).to(x.dtype))  # representable in float32, as tl reads it
    gamma = leaf(rand((C,), seed + 3, 0.5, 1.5))
    beta = leaf(randn((C,), seed + 4, 0.5))
    running_mean = randn((C,), seed + 5)
    running_var = rand((C,), seed + 6, 0.5, 2.0)
    dy = randn(shape, seed + 7)

    xt = nchw(x) if x.dim() == 4 else x  # torch wants channels at axis 1
    if training:
        yt = F.batch_norm(xt, None, None, gamma, beta, training=True, eps=eps)
    else:
        yt = F.batch_norm(xt, running_mean, running_var, gamma, beta, training=False, eps=eps)
    if relu:
        yt = torch.relu(yt)
    y = nhwc(yt) if x.dim() == 4 else yt
    y.backward(dy)

    if training:
        axes = tuple(range(x.dim() - 1))  # every axis but the channels
        batch_mean = x.detach().mean(dim=axes)
        batch_var = x.detach().var(dim=axes, unbiased=False)
        new_mean = MOMENTUM * running_mean + (1 - MOMENTUM) * batch_mean
        new_var = MOMENTUM * running_var + (1 - MOMENTUM) * batch_var
    else:
        new_mean, new_var = running_mean, running_var

    return name, {
        "x": f32(x), "gamma": f32(gamma), "beta": f32(beta),
        "running_mean": f32(running_mean), "running_var": f32(running_var),
        "dy": f32(dy), "y": f32(y),
        "dx": f32(x.grad), "dgamma": f32(gamma.grad), "dbeta": f32(beta.grad),
        "new_running_mean": f32(new_mean), "new_running_var": f32(new_var),
        "eps": f32(scalar(eps)), "momentum": f32(scalar(MOMENTUM)),
        "relu": f32(scalar(1.0 if relu else 0.0)),
    }


def cases():
    # Training: rank 4 and rank 2, with and without the fused ReLU, both epsilons.
    yield bn_case("bn_train_4d_relu", (2, 5, 4, 6), True, EPS_RESNET, True, 100)
    yield bn_case("bn_train_4d", (2, 5, 4, 6), False, EPS_KERAS, True, 200)
    yield bn_case("bn_train_2d_relu", (16, 7), True, EPS_KERAS, True, 300)
    yield bn_case("bn_train_2d", (16, 7), False, EPS_RESNET, True, 400)
    # Inference with the running statistics; gradients still flow.
    yield bn_case("bn_infer_4d_relu", (2, 5, 4, 6), True, EPS_RESNET, False, 500)
    yield bn_case("bn_infer_2d", (16, 7), False, EPS_KERAS, False, 600)
