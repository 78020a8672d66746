"""The whole model: Keras ResNet50 + the reference head, built in PyTorch.

The weights are random, written with h5py in the exact Keras legacy layout
(root layer_names as fixed-length NULLPAD strings, one group per layer with
weight_names, datasets at /<layer>/<layer>/<weight>:0, conv kernels HWIO,
Dense kernels (in, out)); tl's test loads that SAME file. PyTorch then runs
the Keras graph in float64: explicit zero padding before the stem conv and
the max pool, conv biases, the stride on the first 1x1 conv of a block, BN
eps 1.001e-5 in the backbone and 1e-3 in the head, Keras's momentum
convention (biased batch variance) for the moving statistics, and dropout
with tl's Philox mask (seed SEED, streams 0, 1, 2 in layer order), so the
training-mode logits and gradients can be compared too.
"""
import h5py
import numpy as np
import torch
import torch.nn.functional as F

from ref_dropout import keep_mask

SIZE = 64          # input resolution: small so the test runs in seconds
BATCH = 4          # > 2: with 2 samples a training-mode BN passes (analytically) zero gradient
CLASSES = 10
SEED = 77          # tl Context seed for the dropout masks
BACKBONE_EPS = 1.001e-5
HEAD_EPS = 1e-3
MOMENTUM = 0.99
STAGES = [(2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2), (5, 512, 3, 2)]


def backbone_layers():
    """(layer name, kind, params) in Keras model order."""
    layers = [("conv1_conv", "conv", (3, 64, 7)), ("conv1_bn", "bn", 64)]
    cin = 64
    for stage, f, blocks, _ in STAGES:
        for b in range(1, blocks + 1):
            p = f"conv{stage}_block{b}_"
            if b == 1:
                layers += [(p + "0_conv", "conv", (cin, 4 * f, 1)), (p + "0_bn", "bn", 4 * f)]
            layers += [(p + "1_conv", "conv", (cin, f, 1)), (p + "1_bn", "bn", f),
                       (p + "2_conv", "conv", (f, f, 3)), (p + "2_bn", "bn", f),
                       (p + "3_conv", "conv", (f, 4 * f, 1)), (p + "3_bn", "bn", 4 * f)]
            cin = 4 * f
    return layers


def head_layers(features):
    layers, width = [], features
    for i, h in enumerate([256, 128, 64]):
        s = "" if i == 0 else f"_{i}"
        layers += [("batch_normalization" + s, "bn", width), ("dense" + s, "dense", (width, h))]
        width = h
    layers.append(("dense_3", "dense", (width, CLASSES)))
    return layers


def random_weights(layers, rng):
    """Keras-layout float32 arrays; He-scaled kernels, BN statistics kept tame."""
    w = {}
    for name, kind, p in layers:
        if kind == "conv":
            cin, cout, k = p
            w[name] = {"kernel": rng.normal(0, np.sqrt(2.0 / (k * k * cin)), (k, k, cin, cout)),
                       "bias": rng.normal(0, 0.05, cout)}
        elif kind == "dense":
            cin, cout = p
            w[name] = {"kernel": rng.normal(0, np.sqrt(2.0 / cin), (cin, cout)),
                       "bias": rng.normal(0, 0.05, cout)}
        else:
            c = p
            # The last BN of a residual branch gets a small gamma, so activations
            # stay O(1) through 16 blocks in inference mode.
            scale = 0.3 if name.endswith("_3_bn") else 1.0
            w[name] = {"gamma": rng.uniform(0.5, 1.5, c) * scale, "beta": rng.normal(0, 0.1, c),
                       "moving_mean": rng.normal(0, 0.1, c), "moving_variance": rng.uniform(0.5, 1.5, c)}
    return {l: {k: v.astype(np.float32) for k, v in d.items()} for l, d in w.items()}


def write_keras_h5(path, layers, weights):
    order = {"conv": ["kernel", "bias"], "dense": ["kernel", "bias"],
             "bn": ["gamma", "beta", "moving_mean", "moving_variance"]}
    with h5py.File(path, "w") as f:
        # h5py-2 style: a numpy S array -> fixed-length NULLPAD strings.
        f.attrs["layer_names"] = np.array([n.encode() for n, _, _ in layers], dtype="S")
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name, kind, _ in layers:
            g = f.create_group(name)
            names = [f"{name}/{w}:0" for w in order[kind]]
            g.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for full, w in zip(names, order[kind]):
                g.create_dataset(full, data=weights[name][w])


class KerasResNet50Head:
    """Functional float64 model over a dict of torch leaves (NCHW inside)."""

    def __init__(self, weights, pool="flatten"):
        self.t = {}
        for layer, d in weights.items():
            for k, v in d.items():
                t = torch.tensor(v, dtype=torch.float64)
                if k == "kernel" and t.dim() == 4:
                    t = t.permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
                self.t[(layer, k)] = t.requires_grad_(k not in ("moving_mean", "moving_variance"))
        self.pool = pool

    def conv(self, x, name, stride=1, pad=0):
        return F.conv2d(x, self.t[(name, "kernel")], self.t[(name, "bias")], stride=stride, padding=pad)

    def bn(self, x, name, eps, training):
        g, b = self.t[(name, "gamma")], self.t[(name, "beta")]
        rm, rv = self.t[(name, "moving_mean")], self.t[(name, "moving_variance")]
        if not training:
            return F.batch_norm(x, rm, rv, g, b, False, 0.0, eps)
        dims = [0] + list(range(2, x.dim()))
        mean = x.mean(dim=dims)
        var = x.var(dim=dims, unbiased=False)
        with torch.no_grad():  # Keras: moving = m * moving + (1 - m) * batch (biased var)
            rm.mul_(MOMENTUM).add_((1 - MOMENTUM) * mean)
            rv.mul_(MOMENTUM).add_((1 - MOMENTUM) * var)
        shape = [1, -1] + [1] * (x.dim() - 2)
        return (x - mean.view(shape)) / torch.sqrt(var.view(shape) + eps) * g.view(shape) + b.view(shape)

    def forward(self, x_nhwc, training):
        x = x_nhwc.permute(0, 3, 1, 2).contiguous()
        x = self.conv(F.pad(x, (3, 3, 3, 3)), "conv1_conv", stride=2)
        x = torch.relu(self.bn(x, "conv1_bn", BACKBONE_EPS, training))
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)  # Keras: zero pad, then 'valid' pool
        for stage, _, blocks, stride in STAGES:
            for b in range(1, blocks + 1):
                p = f"conv{stage}_block{b}_"
                s = stride if b == 1 else 1
                if b == 1:
                    shortcut = self.bn(self.conv(x, p + "0_conv", stride=s), p + "0_bn", BACKBONE_EPS, training)
                else:
                    shortcut = x
                h = torch.relu(self.bn(self.conv(x, p + "1_conv", stride=s), p + "1_bn", BACKBONE_EPS, training))
                h = torch.relu(self.bn(self.conv(h, p + "2_conv", pad=1), p + "2_bn", BACKBONE_EPS, training))
                h = self.bn(self.conv(h, p + "3_conv"), p + "3_bn", BACKBONE_EPS, training)
                x = torch.relu(shortcut + h)
        # Keras's Flatten runs over NHWC order.
        h = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1) if self.pool == "flatten" else x.mean(dim=(2, 3))
        for i in range(3):
            s = "" if i == 0 else f"_{i}"
            h = self.bn(h, "batch_normalization" + s, HEAD_EPS, training)
            h = torch.relu(h @ self.t[("dense" + s, "kernel")] + self.t[("dense" + s, "bias")])
            if training:
                h = self.dropout(h, i)
        return h @ self.t[("dense_3", "kernel")] + self.t[("dense_3", "bias")]

    def dropout(self, h, i):
        """tl's Philox mask for dropout layer i (stream i of seed SEED)."""
        keep = torch.tensor(keep_mask(h.numel(), SEED, i, 0.5).reshape(h.shape), dtype=h.dtype)
        return h * keep / 0.5


def cases():
    rng = np.random.default_rng(2024)
    features = (SIZE // 32) ** 2 * 2048
    layers = backbone_layers() + head_layers(features)
    weights = random_weights(layers, rng)
    x = (rng.normal(0, 50, (BATCH, SIZE, SIZE, 3))).astype(np.float32)
    labels = np.array([3, 7, 0, 9], dtype=np.int64)

    model = KerasResNet50Head(weights)
    xt = torch.tensor(x, dtype=torch.float64)
    with torch.no_grad():
        logits_eval = model.forward(xt, training=False)
    logits_train = model.forward(xt, training=True)
    loss = F.cross_entropy(logits_train, torch.tensor(labels))
    loss.backward()

    def grad(layer, w):
        g = model.t[(layer, w)].grad
        return g.permute(0, 2, 3, 1) if g.dim() == 4 else g  # OIHW -> OHWI

    out = {
        "weights.h5": lambda path: write_keras_h5(path, layers, weights),
        "x": x, "labels": labels,
        "logits_eval": logits_eval, "logits_train": logits_train, "loss": loss.detach().reshape(1),
        "conv1_bn_moving_mean": model.t[("conv1_bn", "moving_mean")],
        "conv1_bn_moving_variance": model.t[("conv1_bn", "moving_variance")],
    }
    for layer, w in [("conv1_conv", "kernel"), ("conv1_conv", "bias"), ("conv3_block2_2_bn", "gamma"),
                     ("conv3_block2_2_bn", "beta"), ("conv4_block3_2_conv", "kernel"),
                     ("batch_normalization", "gamma"), ("dense", "kernel"), ("dense_3", "kernel"),
                     ("dense_3", "bias")]:
        out[f"grad_{layer}_{w}"] = grad(layer, w)
    yield "model_resnet50_head", out
