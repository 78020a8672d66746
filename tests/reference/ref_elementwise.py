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
