#!/usr/bin/env python3
"""The outside judge for train_cifar's CPU recipe: the same model and recipe in
PyTorch, for accuracy and wall time on the same machine.

The model is the Keras-equivalent ResNet50 + reference head from
tests/reference/ref_model.py (the one the parity tests use), in float32, with
Keras's default initialisation (glorot-uniform kernels, zero biases, BN
gamma 1 / beta 0), PyTorch's own dropout, and the same data handling as tl:
CIFAR-10 binary, 'caffe' preprocessing, the first N training images.

  /usr/bin/python3 bench/torch_cifar_baseline.py --data-dir DIR [--subset 10000]
      [--epochs 3] [--batch-size 64] [--lr 1e-3] [--seed 0] [--threads 2]

Prints the per-epoch training loss/accuracy, the test accuracy and the time.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import ref_model as R  # noqa: E402

MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def read_cifar(path_dir, files):
    images, labels = [], []
    for f in files:
        raw = np.fromfile(os.path.join(path_dir, f), dtype=np.uint8).reshape(-1, 3073)
        labels.append(raw[:, 0].astype(np.int64))
        images.append(raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # NHWC RGB
    return np.concatenate(images), np.concatenate(labels)


def caffe(images_u8):
    """RGB uint8 NHWC -> BGR float minus the ImageNet means, NCHW for torch."""
    x = images_u8[..., ::-1].astype(np.float32) - MEAN_BGR
    return torch.from_numpy(np.ascontiguousarray(x))


def keras_init(rng, features):
    layers = R.backbone_layers() + R.head_layers(features)
    w = {}
    for name, kind, p in layers:
        if kind in ("conv", "dense"):
            if kind == "conv":
                cin, cout, k = p
                shape, fan_in, fan_out = (k, k, cin, cout), k * k * cin, k * k * cout
            else:
                cin, cout = p
                shape, fan_in, fan_out = (cin, cout), cin, cout
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            w[name] = {"kernel": rng.uniform(-limit, limit, shape), "bias": np.zeros(cout)}
        else:
            w[name] = {"gamma": np.ones(p), "beta": np.zeros(p), "moving_mean": np.zeros(p),
                       "moving_variance": np.ones(p)}
    return {l: {k: v.astype(np.float32) for k, v in d.items()} for l, d in w.items()}


class TorchDropoutModel(R.KerasResNet50Head):
    def dropout(self, h, i):
        return F.dropout(h, 0.5, training=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--subset", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    d = args.data_dir
    if os.path.isdir(os.path.join(d, "cifar-10-batches-bin")):
        d = os.path.join(d, "cifar-10-batches-bin")
    train_x, train_y = read_cifar(d, [f"data_batch_{i}.bin" for i in range(1, 6)])
    test_x, test_y = read_cifar(d, ["test_batch.bin"])
    train_x, train_y = train_x[:args.subset], train_y[:args.subset]

    model = TorchDropoutModel(keras_init(np.random.default_rng(args.seed), 2048))
    for key, t in model.t.items():
        model.t[key] = t.detach().float().requires_grad_(t.requires_grad)
    params = [t for t in model.t.values() if t.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr, eps=1e-7)  # Keras's epsilon, as tl
    rng = np.random.default_rng(args.seed)
    start = time.time()
    for epoch in range(args.epochs):
        order = rng.permutation(len(train_x))
        loss_sum, correct = 0.0, 0
        for b in range(0, len(order), args.batch_size):
            idx = order[b:b + args.batch_size]
            x, y = caffe(train_x[idx]), torch.from_numpy(train_y[idx])
            logits = model.forward(x, training=True)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
        print(f"epoch {epoch + 1}: train loss {loss_sum / len(order):.4f}, accuracy "
              f"{100 * correct / len(order):.2f}%  ({time.time() - start:.0f} s)", flush=True)
    correct = 0
    with torch.no_grad():
        for b in range(0, len(test_x), 500):
            logits = model.forward(caffe(test_x[b:b + 500]), training=False)
            correct += (logits.argmax(1) == torch.from_numpy(test_y[b:b + 500])).sum().item()
    print(f"test accuracy {100 * correct / len(test_x):.2f}% on {len(test_x)} images; "
          f"wall time {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
