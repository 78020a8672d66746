"""softmax_cross_entropy: F.cross_entropy (mean over the batch), its value
and the gradient of the logits for a given upstream gradient dloss,
including logits of +-1e4 (finite loss and gradient)."""
import numpy as np
import torch
import torch.nn.functional as F
from common import DTYPE, generator, randn, f32, leaf


def one(name, logits, labels, dloss):
    z = leaf(logits)
    loss = F.cross_entropy(z, labels)
    loss.backward(torch.tensor(dloss, dtype=DTYPE))
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    return name, {"logits": f32(z), "labels": labels.numpy().astype(np.int32),
                  "dloss": np.array([dloss], dtype=np.float32),
                  "loss": np.array([loss.item()], dtype=np.float32), "dlogits": f32(z.grad)}


def cases():
    n, c = 6, 10
    labels = torch.randint(0, c, (n,), generator=generator(81))
    yield one("softmax_xent", randn((n, c), 82, scale=3.0), labels, 0.7)

    # Huge logits: exp would overflow without the max subtraction. Row 0 puts
    # +1e4 on the label, row 1 -1e4 on the label and +1e4 elsewhere (loss 2e4),
    # row 2 ties two +1e4 entries, row 3 is all -1e4.
    big = torch.tensor([[1e4, -1e4, 0.0, 5.0, -1e4],
                        [-1e4, 1e4, 3.0, -2.0, 0.5],
                        [1e4, 1e4, -1e4, 0.0, 1.0],
                        [-1e4, -1e4, -1e4, -1e4, -1e4]], dtype=DTYPE)
    yield one("softmax_xent_big", big, torch.tensor([0, 0, 1, 4]), 1.0)
