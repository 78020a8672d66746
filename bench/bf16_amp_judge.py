#!/usr/bin/env python3
"""PyTorch's AMP-BF16 against its own float32, for the model tl's bf16 test uses.

The outside judge of tests/test_bf16_ops.cpp (Bf16Model.*): how far does
PyTorch's autocast to bfloat16 move the loss, the logits and the gradients of
the same model (Keras's ResNet50 + the reference head, randomly initialised,
every BN on its running statistics, 8 images of 32x32) from float32? tl's
bf16 path should move them about as much, no more.

  /usr/bin/python3 bench/bf16_amp_judge.py     (needs torch; CPU is enough)

Measured 2026-11-30 with torch 1.13 on the CPU: loss 4.7244 vs 4.7196, logits
max |diff| 0.066 (largest logit 7.2), gradient cosine: stem 0.965, last
convolution 0.992, last dense 0.99999.
"""
import copy
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_torch  # noqa: E402  (the same model class as the speed comparison)


def loss_logits_grads(model, x, labels, amp):
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits.float(), labels)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return loss.item(), logits.float().detach(), grads


def main():
    torch.manual_seed(0)
    f32 = compare_torch.build_model_class(torch)(32, dropout=0.0).eval()  # running statistics
    b16 = copy.deepcopy(f32)
    x = torch.rand(8, 3, 32, 32) * 255 - 120  # 'caffe'-preprocessed range
    labels = torch.arange(8)
    l32, z32, g32 = loss_logits_grads(f32, x, labels, amp=False)
    l16, z16, g16 = loss_logits_grads(b16, x, labels, amp=True)
    print(f"loss bf16 {l16:.4f} vs float32 {l32:.4f}; logits max |diff| "
          f"{(z16 - z32).abs().max().item():.3g} (largest {z32.abs().max().item():.3g})")
    for name in ["conv1_conv", "conv5_block3_3_conv", "dense_3"]:
        a = g16[f"layers.{name}.weight"].flatten().double()
        b = g32[f"layers.{name}.weight"].flatten().double()
        cosine = (a @ b / (a.norm() * b.norm())).item()
        print(f"  {name}: gradient cosine {cosine:.6f}, norm ratio {(a.norm() / b.norm()).item():.4f}")


if __name__ == "__main__":
    main()
