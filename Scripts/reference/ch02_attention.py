"""Chapter 02 reference: the transformer layers one by one (Linear, LayerNorm, GELU, softmax,
multi-head attention with timm's fused qkv and a key mask).

Writes Tests/Fixtures/ch02-layers.safetensors. Run: python Scripts/reference/ch02_attention.py
"""
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Attention

from common import save_fixture, seed_everything


def main() -> None:
    seed_everything(0)
    t = {}

    # Linear: y = x W^T + b
    lin = torch.nn.Linear(12, 9)
    x = torch.randn(5, 7, 12)
    t["linear.x"], t["linear.weight"], t["linear.bias"] = x, lin.weight.detach(), lin.bias.detach()
    t["linear.y"] = lin(x).detach()

    # LayerNorm (eps 1e-6) with awkward rows: constant, large offset, tiny scale.
    d = 64
    xl = torch.randn(6, d)
    xl[1] = 3.25  # constant row: variance 0, output = bias
    xl[2] = xl[2] + 1.0e4  # large magnitude
    xl[3] = xl[3] * 1.0e-3  # tiny spread
    xl[4] = xl[4] * 1.0e3
    ln = torch.nn.LayerNorm(d, eps=1e-6)
    with torch.no_grad():
        ln.weight.copy_(1 + 0.1 * torch.randn(d))
        ln.bias.copy_(0.1 * torch.randn(d))
    t["layernorm.x"], t["layernorm.weight"], t["layernorm.bias"] = xl, ln.weight.detach(), ln.bias.detach()
    t["layernorm.y"] = ln(xl).detach()

    # GELU (exact) over a wide range.
    xg = torch.cat([torch.linspace(-10, 10, 2001), torch.randn(999) * 3])
    t["gelu.x"], t["gelu.y"] = xg, F.gelu(xg)

    # Softmax with large magnitudes and -inf entries.
    xs = torch.randn(6, 37)
    xs[1] *= 1000.0
    xs[2] = 5.0  # constant row: uniform
    xs[3, ::2] = float("-inf")
    xs[4] += 1.0e4
    t["softmax.x"], t["softmax.y"] = xs, torch.softmax(xs, dim=-1)

    # Multi-head attention, timm layout, with a key mask on the second sample.
    B, N, D, H = 2, 5, 16, 4
    attn = Attention(D, num_heads=H, qkv_bias=True)
    with torch.no_grad():
        for p in attn.parameters():
            p.add_(0.1 * torch.randn_like(p))
    xa = torch.randn(B, N, D)
    mask = torch.ones(B, N)
    mask[1, 3:] = 0
    qkv = F.linear(xa, attn.qkv.weight, attn.qkv.bias).reshape(B, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    scores = (q @ k.transpose(-2, -1)) * (D // H) ** -0.5
    scores = scores + (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
    probs = scores.softmax(dim=-1)
    ctx = (probs @ v).transpose(1, 2).reshape(B, N, D)
    out = F.linear(ctx, attn.proj.weight, attn.proj.bias)
    with torch.no_grad():
        unmasked = attn(xa)  # timm's own module, no mask
    t["attention.x"], t["attention.mask"] = xa, mask
    t["attention.qkv.weight"], t["attention.qkv.bias"] = attn.qkv.weight.detach(), attn.qkv.bias.detach()
    t["attention.proj.weight"], t["attention.proj.bias"] = attn.proj.weight.detach(), attn.proj.bias.detach()
    t["attention.probs"], t["attention.out"] = probs.detach(), out.detach()
    t["attention.unmasked_out"] = unmasked.detach()
    save_fixture("ch02-layers", t)


if __name__ == "__main__":
    main()
