"""Chapter 06 reference: the seed's projection head, forward and backward.

Writes Tests/Fixtures/ch06-projection.safetensors:
  head.* weights (projection, fc, layer_norm), x (4, 10), mask (4, 6) dropout multipliers (0 or 1/0.9),
  upstream g (4, 6), y = head(x) with that mask, and the gradients of sum(y * g): dx, d<param>.
Run: python Scripts/reference/ch06_projection.py
"""
import torch
from torch import nn

from common import save_fixture, seed_everything


class ProjectionHead(nn.Module):
    """The seed's head: Linear → GELU → Linear → Dropout → + residual → LayerNorm."""

    def __init__(self, embedding_dim, projection_dim, dropout=0.1):
        super().__init__()
        self.projection = nn.Linear(embedding_dim, projection_dim)
        self.gelu = nn.GELU()
        self.fc = nn.Linear(projection_dim, projection_dim)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(projection_dim)

    def forward(self, x, mask=None):
        projected = self.projection(x)
        x = self.gelu(projected)
        x = self.fc(x)
        # With an explicit mask (multipliers 0 or 1/(1-p)) dropout is replayable; otherwise nn.Dropout.
        x = x * mask if mask is not None else self.dropout(x)
        x = x + projected
        return self.layer_norm(x)


def main() -> None:
    seed_everything(0)
    head = ProjectionHead(10, 6)
    with torch.no_grad():
        head.layer_norm.weight.add_(0.1 * torch.randn(6))
        head.layer_norm.bias.add_(0.1 * torch.randn(6))
    x = torch.randn(4, 10, requires_grad=True)
    mask = (torch.rand(4, 6) >= 0.1).float() / 0.9
    g = torch.randn(4, 6)
    y = head(x, mask)
    (y * g).sum().backward()
    t = {"x": x.detach(), "mask": mask, "g": g, "y": y.detach(), "dx": x.grad}
    for name, p in head.named_parameters():
        t[f"head.{name}"] = p.detach()
        t[f"grad.head.{name}"] = p.grad
    save_fixture("ch06-projection", t)


if __name__ == "__main__":
    main()
