"""The BN+ReLU training backward of docs/lab/batchnorm_backward.md, checked
against PyTorch's autograd in float64 (run by CTest: DocsLab.BatchNormBackward)."""
import torch

torch.manual_seed(0)
m, C, eps = 37, 5, 1.001e-5                      # rows (N*H*W) and channels
x = torch.randn(m, C, dtype=torch.float64, requires_grad=True)
gamma = torch.rand(C, dtype=torch.float64, requires_grad=True)
beta = torch.randn(C, dtype=torch.float64, requires_grad=True)
dout = torch.randn(m, C, dtype=torch.float64)

mean, var = x.mean(0), x.var(0, unbiased=False)  # batch statistics, biased variance
y = torch.relu(gamma * (x - mean) / torch.sqrt(var + eps) + beta)
y.backward(dout)

with torch.no_grad():                             # the page's formulas
    invstd = 1 / torch.sqrt(var + eps)
    xhat = (x - mean) * invstd
    g = dout * (gamma * xhat + beta > 0)          # the ReLU mask, from the forward's y
    dbeta, dgamma = g.sum(0), (g * xhat).sum(0)
    dx = gamma * invstd * (g - g.mean(0) - xhat * (g * xhat).mean(0))
for name, ours, torchs in [("dx", dx, x.grad), ("dgamma", dgamma, gamma.grad), ("dbeta", dbeta, beta.grad)]:
    err = (ours - torchs).abs().max().item()
    assert err < 1e-12, f"{name}: max |diff| {err}"
    print(f"{name}: max |diff| vs autograd {err:.1e}")
