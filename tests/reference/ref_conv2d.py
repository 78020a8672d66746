"""conv2d (NHWC / OHWI in tl): forward and the gradients of x, w and bias.

PyTorch computes in NCHW / OIHW; the tensors are permuted at the boundary so
torch's own F.conv2d (in float64) is the judge. Each case also stores
`geom` = [stride, pad] so the C++ test cannot disagree with it.
"""
import numpy as np
import torch
import torch.nn.functional as F
from common import randn, f32, leaf, nchw, nhwc

# name, (N, H, W, C), (O, KH, KW), stride, pad, bias
CONFIGS = [
    ("conv2d_3x3_s1_p1", (2, 7, 6, 5), (6, 3, 3), 1, 1, True),
    ("conv2d_3x3_s2_p1", (2, 8, 11, 4), (6, 3, 3), 2, 1, True),
    ("conv2d_1x1_s2_p0", (2, 7, 9, 8), (12, 1, 1), 2, 0, True),   # ResNet downsampling
    ("conv2d_1x1_s1_p0", (2, 5, 6, 8), (6, 1, 1), 1, 0, True),    # pointwise: no im2col
    ("conv2d_7x7_s2_p3", (2, 16, 13, 3), (8, 7, 7), 2, 3, True),  # the stem, small
    ("conv2d_3x3_s1_p1_nobias", (2, 6, 5, 4), (5, 3, 3), 1, 1, False),
]


def cases():
    for i, (name, (n, h, w, c), (o, kh, kw), stride, pad, has_bias) in enumerate(CONFIGS):
        seed = 100 + 10 * i
        x = leaf(randn((n, h, w, c), seed))                                   # NHWC
        wt = leaf(randn((o, kh, kw, c), seed + 1, scale=(kh * kw * c) ** -0.5))  # OHWI
        b = leaf(randn((o,), seed + 2)) if has_bias else None
        y_nchw = F.conv2d(nchw(x), wt.permute(0, 3, 1, 2), b, stride=stride, padding=pad)
        y = nhwc(y_nchw)
        dy = randn(tuple(y.shape), seed + 3)
        y.backward(dy)
        out = {"x": f32(x), "w": f32(wt), "dy": f32(dy), "y": f32(y), "dx": f32(x.grad),
               "dw": f32(wt.grad), "geom": np.array([stride, pad], dtype=np.int64)}
        if has_bias:
            out["b"] = f32(b)
            out["db"] = f32(b.grad)
        yield name, out
