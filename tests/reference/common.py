"""Helpers shared by the ref_*.py reference modules."""
import numpy as np
import torch

# Double precision for the reference computations: the C++ side is float32,
# so the reference's own rounding is negligible next to the tolerances.
DTYPE = torch.float64


def generator(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(shape, seed, scale=1.0):
    return (torch.randn(*shape, generator=generator(seed), dtype=torch.float32) * scale).to(DTYPE)


def rand(shape, seed, lo=0.0, hi=1.0):
    return (torch.rand(*shape, generator=generator(seed), dtype=torch.float32) * (hi - lo) + lo).to(DTYPE)


def f32(t):
    """The float32 array tl will read (inputs are rounded to float32 once, here)."""
    return t.detach().to(torch.float32).numpy()


def nhwc(t):
    """(N, C, H, W) -> (N, H, W, C)."""
    return t.permute(0, 2, 3, 1)


def nchw(t):
    """(N, H, W, C) -> (N, C, H, W)."""
    return t.permute(0, 3, 1, 2)


def leaf(t):
    return t.detach().clone().requires_grad_(True)
