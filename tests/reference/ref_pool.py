"""maxpool2d and global average pooling: forward and backward.

Inputs are random floats, so windows have no ties and the argmax (and so
the gradient) is unambiguous."""
import torch.nn.functional as F
from common import randn, f32, leaf, nchw, nhwc


def maxpool_case(name, shape, kernel, stride, pad, seed):
    x = leaf(randn(shape, seed))  # (N, H, W, C)
    y = nhwc(F.max_pool2d(nchw(x), kernel, stride, padding=pad))
    dy = randn(tuple(y.shape), seed + 1)
    y.backward(dy)
    return name, {"x": f32(x), "dy": f32(dy), "y": f32(y), "dx": f32(x.grad)}


def cases():
    # ResNet50's stem pool: 3x3 stride 2, padding 1; odd and even sizes.
    yield maxpool_case("maxpool_3x3s2p1", (2, 9, 8, 5), 3, 2, 1, 700)
    yield maxpool_case("maxpool_2x2s2", (2, 6, 7, 3), 2, 2, 0, 710)

    x = leaf(randn((3, 4, 5, 6), 720))
    y = x.mean(dim=(1, 2))
    dy = randn(tuple(y.shape), 721)
    y.backward(dy)
    yield "global_avgpool", {"x": f32(x), "dy": f32(dy), "y": f32(y), "dx": f32(x.grad)}
