"""dropout: the Philox4x32-10 mask, written here independently from the
algorithm (Salmon et al., SC 2011) in plain Python integers, and
y = x * mask / (1 - rate) with its gradient computed by torch.

The stream layout is tl's (runtime/philox.h): key = the 64-bit seed as two
32-bit words (low first); counter = (element // 4 as 64 bits, stream as 64
bits), low words first; element i takes word i % 4; u = (word >> 8) / 2^24;
element kept iff u >= rate.
"""
import numpy as np
import torch
from common import randn, f32, leaf

MASK32 = 0xFFFFFFFF
M0, M1 = 0xD2511F53, 0xCD9E8D57   # round multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85   # key schedule (Weyl) increments

# These must match tests/test_dropout.cpp.
SEED = 0x0123456789ABCDEF
STREAMS = {"dropout": 5, "dropout_high_stream": (7 << 32) | 3}
RATE = 0.3


def philox4x32_10(counter, key):
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32)
        k0 = (k0 + W0) & MASK32
        k1 = (k1 + W1) & MASK32
    return [c0, c1, c2, c3]


# Random123's published known-answer vectors: the implementation above must
# reproduce them before any mask it makes is trusted.
KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([MASK32] * 4, [MASK32, MASK32], [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]
for _ctr, _key, _expected in KAT:
    assert philox4x32_10(_ctr, _key) == _expected, "Philox4x32-10 known-answer test failed"


def keep_mask(n, seed, stream, rate):
    key = [seed & MASK32, seed >> 32]
    keep = np.zeros(n, dtype=bool)
    for block in range((n + 3) // 4):
        words = philox4x32_10([block & MASK32, block >> 32, stream & MASK32, stream >> 32], key)
        for j in range(4):
            i = 4 * block + j
            if i < n:
                keep[i] = (words[j] >> 8) / 16777216.0 >= rate
    return keep


def cases():
    shape = (3, 7, 5)  # 105 elements: the last Philox block is partly used
    for k, (name, stream) in enumerate(STREAMS.items()):
        x = leaf(randn(shape, 31 + k))
        dy = randn(shape, 41 + k)
        mask = torch.from_numpy(keep_mask(x.numel(), SEED, stream, RATE).reshape(shape))
        y = x * mask.to(x.dtype) / (1 - RATE)
        y.backward(dy)
        yield name, {"x": f32(x), "dy": f32(dy), "y": f32(y), "dx": f32(x.grad),
                     "mask": mask.numpy().astype(np.uint8)}
