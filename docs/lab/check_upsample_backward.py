"""The bilinear upsampling backward of docs/lab/upsample_backward.md (the gather
form: each input pixel collects from the outputs that read it), checked against
PyTorch's autograd in float64 (run by CTest: DocsLab.UpsampleBackward)."""
import math
import torch

def taps(o, n_in, n_out):                        # half-pixel centres, clamped at 0
    src = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
    i0 = int(math.floor(src)); i1 = min(i0 + 1, n_in - 1); lam = src - i0
    return [(i0, 1 - lam), (i1, lam)]

H, W, OH, OW = 5, 3, 12, 7
x = torch.randn(1, 1, H, W, dtype=torch.float64, requires_grad=True)
dy = torch.randn(1, 1, OH, OW, dtype=torch.float64)
torch.nn.functional.interpolate(x, size=(OH, OW), mode="bilinear", align_corners=False).backward(dy)

dx = torch.zeros(H, W, dtype=torch.float64)      # gather: loop over INPUT pixels
for iy in range(H):
    for ix in range(W):
        for oy in range(OH):
            for ty, wy in taps(oy, H, OH):
                if ty != iy: continue
                for ox in range(OW):
                    for tx, wx in taps(ox, W, OW):
                        if tx == ix: dx[iy, ix] += wy * wx * dy[0, 0, oy, ox]
err = (dx - x.grad[0, 0]).abs().max().item()
assert err < 1e-12, f"dx: max |diff| {err}"
print(f"dx: max |diff| vs autograd {err:.1e}")
