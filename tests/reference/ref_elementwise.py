"""relu, add, add_relu: forward and backward."""
import torch
from common import randn, f32, leaf


def cases():
    shape = (2, 5, 4, 3)
    x = leaf(randn(shape, 1))
    dy = randn(shape, 2)
    y = torch.relu(x)
    y.backward(dy)
    yield "relu", {"x": f32(x), "dy": f32(dy), "y": f32(y), "dx": f32(x.grad)}

    a, b = leaf(randn(shape, 3)), leaf(randn(shape, 4))
    y = a + b
    y.backward(dy)
    yield "add", {"a": f32(a), "b": f32(b), "dy": f32(dy), "y": f32(y), "da": f32(a.grad), "db": f32(b.grad)}

    a, b = leaf(randn(shape, 5)), leaf(randn(shape, 6))
    y = torch.relu(a + b)
    y.backward(dy)
    yield "add_relu", {"a": f32(a), "b": f32(b), "dy": f32(dy), "y": f32(y), "da": f32(a.grad), "db": f32(b.grad)}

    # Flatten of an NHWC tensor, as Keras's Flatten runs over (H, W, C).
    x = leaf(randn((2, 3, 2, 4), 7))
    y = x.reshape(2, -1)
    dy_flat = randn((2, 24), 8)
    y.backward(dy_flat)
    yield "flatten", {"x": f32(x), "dy": f32(dy_flat), "y": f32(y), "dx": f32(x.grad)}
