"""Optimisers: torch.optim.SGD (momentum 0.9, Nesterov off/on, weight decay),
Adam (weight decay as L2) and AdamW run for 3 steps on fixed parameters and
gradient sequences, over two parameter groups with their own hyper-parameters;
the parameters after every step are the expected values.

Parameter p1 (group 1) has NO gradient at step 1 (0-based), so it must be
skipped there: not updated, and (Adam) its step count does not advance.
tests/test_optim.cpp mirrors these settings."""
import torch
from common import randn, f32

SHAPES = [(3, 4), (5,)]
STEPS = 3
SKIP = {(1, 1)}  # (param, step) without a gradient

CONFIGS = {
    "sgd_momentum": (torch.optim.SGD, [dict(lr=0.1, momentum=0.9, weight_decay=1e-2),
                                       dict(lr=0.05, momentum=0.9, weight_decay=0.0)]),
    "sgd_nesterov": (torch.optim.SGD, [dict(lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True),
                                       dict(lr=0.05, momentum=0.9, weight_decay=1e-2, nesterov=True)]),
    "adam_l2": (torch.optim.Adam, [dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2),
                                   dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.0)]),
    "adamw": (torch.optim.AdamW, [dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2),
                                  dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.1)]),
}


def cases():
    for name, (cls, groups) in CONFIGS.items():
        params = [randn(s, 91 + i).requires_grad_(True) for i, s in enumerate(SHAPES)]
        out = {f"p{i}_init": f32(p) for i, p in enumerate(params)}
        opt = cls([dict(params=[p], **h) for p, h in zip(params, groups)])
        for step in range(STEPS):
            for i, p in enumerate(params):
                g = randn(p.shape, 100 + 10 * step + i)
                out[f"g{i}_step{step}"] = f32(g)
                p.grad = None if (i, step) in SKIP else g
            opt.step()
            for i, p in enumerate(params):
                out[f"p{i}_step{step}"] = f32(p)
        yield name, out
