"""upsample_bilinear: F.interpolate(mode='bilinear', align_corners=False)
(half-pixel centres), forward and backward, for integer factors and for
sizes that mix upsampling and downsampling."""
import torch.nn.functional as F
from common import randn, f32, leaf, nchw, nhwc

# (case, input NHWC shape, output size)
CASES = [
    ("upsample_x7", (2, 4, 4, 3), (28, 28)),
    ("upsample_32_224", (1, 32, 32, 2), (224, 224)),
    ("upsample_5x7_9x4", (2, 5, 7, 3), (9, 4)),    # H up, W down
    ("upsample_5x7_3x11", (1, 5, 7, 2), (3, 11)),  # H down, W up
]


def cases():
    for k, (name, shape, (oh, ow)) in enumerate(CASES):
        x = leaf(randn(shape, 51 + k))
        dy = randn((shape[0], oh, ow, shape[3]), 61 + k)
        y = nhwc(F.interpolate(nchw(x), size=(oh, ow), mode="bilinear", align_corners=False))
        y.backward(dy)
        yield name, {"x": f32(x), "dy": f32(dy), "y": f32(y), "dx": f32(x.grad)}
