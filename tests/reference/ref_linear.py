"""linear (Keras Dense): y = x w + b with w stored (in, out); forward and backward."""
import torch
import torch.nn.functional as F
from common import randn, f32, leaf


def cases():
    batch, n_in, n_out = 4, 6, 5
    for name, with_bias in (("linear", True), ("linear_nobias", False)):
        x = leaf(randn((batch, n_in), 21))
        w = leaf(randn((n_in, n_out), 22, scale=0.5))  # tl layout (in, out)
        b = leaf(randn((n_out,), 23)) if with_bias else None
        dy = randn((batch, n_out), 24)
        # PyTorch's Linear wants (out, in): transpose at the boundary.
        y = F.linear(x, w.t(), b)
        y.backward(dy)
        out = {"x": f32(x), "w": f32(w), "dy": f32(dy), "y": f32(y), "dx": f32(x.grad),
               "dw": f32(w.grad)}
        if with_bias:
            out.update({"b": f32(b), "db": f32(b.grad)})
        yield name, out
