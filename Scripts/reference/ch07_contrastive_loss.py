"""Chapter 07 reference: the backward pass of every layer, the contrastive losses, and one whole tiny
CLIP (small ViT + small BERT + both heads + loss) with every parameter gradient.

Writes
  Tests/Fixtures/ch07-layer-grads.safetensors   per layer: inputs, parameters, upstream gradient g,
      output y and the gradients of sum(y * g) w.r.t. the input and every parameter
  Tests/Fixtures/ch07-clip-tiny.safetensors     tiny CLIP weights (keys as CLIP.parameterTable names them),
      pixels, token ids + mask, dropout masks, and for two variants —
      std.*  : pooled image feature, L2-normalised embeddings, exp(logit_scale)       (standard CLIP)
      seed.* : ImageNet-logits image feature, raw embeddings, logit_scale as is       (the seed)
      — the loss, both projections, and grad.<key> for every parameter.
Run: python Scripts/reference/ch07_contrastive_loss.py
"""
import math

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Attention, Block, VisionTransformer
from transformers import BertConfig, BertModel

from ch06_projection import ProjectionHead
from common import save_fixture, seed_everything


def grads_of(module_params, inputs, fn, prefix, t, g=None):
    """Runs y = fn(), backprops sum(y * g) and stores y, g, the inputs' and parameters' gradients."""
    y = fn()
    if g is None:
        g = torch.randn_like(y)
    (y * g).sum().backward()
    t[f"{prefix}.y"], t[f"{prefix}.g"] = y.detach(), g
    for name, x in inputs.items():
        t[f"{prefix}.{name}"] = x.detach()
        if x.grad is not None:
            t[f"{prefix}.d{name}"] = x.grad
    for name, p in module_params:
        t[f"{prefix}.param.{name}"] = p.detach()
        t[f"{prefix}.grad.{name}"] = p.grad


def perturb(module, scale=0.1):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))


def clip_loss_standard(I, T, logit_scale):
    In, Tn = F.normalize(I, dim=-1), F.normalize(T, dim=-1)
    logits = logit_scale.exp() * In @ Tn.t()
    labels = torch.arange(I.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2, logits


def clip_loss_seed(I, T, logit_scale):
    """The seed's ClipLoss: raw projections, logit_scale multiplied in as is (no exp, no clamp)."""
    logits = logit_scale * I @ T.t()
    labels = torch.arange(I.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2, logits


def layers(t):
    lin = torch.nn.Linear(12, 9)
    x = torch.randn(3, 5, 12, requires_grad=True)
    grads_of(lin.named_parameters(), {"x": x}, lambda: lin(x), "linear", t)

    ln = torch.nn.LayerNorm(64, eps=1e-6)
    perturb(ln)
    x = (torch.randn(6, 64) * 2 + 0.5).requires_grad_()
    grads_of(ln.named_parameters(), {"x": x}, lambda: ln(x), "layernorm", t)

    x = (torch.randn(1000) * 3).requires_grad_()
    grads_of([], {"x": x}, lambda: F.gelu(x), "gelu", t)

    x = (torch.randn(5, 13) * 3).requires_grad_()
    grads_of([], {"x": x}, lambda: torch.softmax(x, -1), "softmax", t)

    B, N, D, H = 2, 5, 16, 4
    attn = Attention(D, num_heads=H, qkv_bias=True)
    perturb(attn)
    mask = torch.ones(B, N)
    mask[1, 3:] = 0
    x = torch.randn(B, N, D, requires_grad=True)

    def masked_attention():
        qkv = attn.qkv(x).reshape(B, N, 3, H, D // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        s = (q @ k.transpose(-2, -1)) * (D // H) ** -0.5 + (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        return attn.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(B, N, D))

    grads_of(attn.named_parameters(), {"x": x}, masked_attention, "attention", t)
    t["attention.mask"] = mask

    fc1, fc2 = torch.nn.Linear(8, 32), torch.nn.Linear(32, 8)
    x = torch.randn(2, 3, 8, requires_grad=True)
    params = [("fc1." + n, p) for n, p in fc1.named_parameters()] + [("fc2." + n, p) for n, p in fc2.named_parameters()]
    grads_of(params, {"x": x}, lambda: fc2(F.gelu(fc1(x))), "mlp", t)

    block = Block(dim=16, num_heads=4, mlp_ratio=2.0, qkv_bias=True)
    perturb(block)
    x = torch.randn(2, 5, 16, requires_grad=True)
    grads_of(block.named_parameters(), {"x": x}, lambda: block(x), "block", t)

    conv = torch.nn.Conv2d(3, 8, kernel_size=4, stride=4)
    x = torch.randn(2, 3, 8, 8)
    grads_of(conv.named_parameters(), {"x": x}, lambda: conv(x).flatten(2).transpose(1, 2), "patch", t)

    x = torch.randn(2, 5, 6, requires_grad=True)
    pm = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.float32)
    grads_of([], {"x": x}, lambda: F.normalize((x * pm[..., None]).sum(1) / pm.sum(1, keepdim=True), dim=-1), "pool", t)
    t["pool.mask"] = pm

    logits = (torch.randn(4, 7) * 3).requires_grad_()
    targets = torch.tensor([0, 3, 6, 2])
    loss = F.cross_entropy(logits, targets)
    loss.backward()
    t["ce.logits"], t["ce.targets"], t["ce.loss"], t["ce.dlogits"] = logits.detach(), targets, loss.detach().reshape(1), logits.grad

    for kind, fn in (("standard", clip_loss_standard), ("seed", clip_loss_seed)):
        I = torch.randn(5, 6, requires_grad=True)
        T = torch.randn(5, 6, requires_grad=True)
        scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
        loss, logits = fn(I, T, scale)
        loss.backward()
        t.update({f"loss.{kind}.I": I.detach(), f"loss.{kind}.T": T.detach(), f"loss.{kind}.loss": loss.detach().reshape(1),
                  f"loss.{kind}.logits": logits.detach(), f"loss.{kind}.dI": I.grad, f"loss.{kind}.dT": T.grad,
                  f"loss.{kind}.dscale": scale.grad.reshape(1)})


class TinyCLIP(torch.nn.Module):
    def __init__(self, image_feature):
        super().__init__()
        self.image_feature = image_feature
        self.vit = VisionTransformer(img_size=32, patch_size=8, in_chans=3, num_classes=10, embed_dim=64, depth=2,
                                     num_heads=4, mlp_ratio=4.0, qkv_bias=True)
        self.bert = BertModel(BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=64, max_position_embeddings=64, hidden_act="gelu",
                                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
                              add_pooling_layer=False)
        width = 64 if image_feature == "pooled" else 10
        self.image_projection = ProjectionHead(width, 16)
        self.text_projection = ProjectionHead(32, 16)
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self, pixels, ids, mask, image_mask, text_mask, loss_fn):
        feats = self.vit.forward_head(self.vit.forward_features(pixels), pre_logits=self.image_feature == "pooled")
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask[..., None].float()
        text = F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)
        I = self.image_projection(feats, image_mask)
        T = self.text_projection(text, text_mask)
        loss, _ = loss_fn(I, T, self.logit_scale)
        return loss, I, T

    def keyed_parameters(self):
        for n, p in self.vit.named_parameters():
            yield "image_encoder.model." + n, p
        for n, p in self.bert.named_parameters():
            yield "text_encoder.model." + n, p
        for n, p in self.image_projection.named_parameters():
            yield "image_projection." + n, p
        for n, p in self.text_projection.named_parameters():
            yield "text_projection." + n, p
        yield "logit_scale", self.logit_scale


def tiny_clip():
    t = {}
    pixels = torch.randn(4, 3, 32, 32)
    ids = torch.randint(1, 1000, (4, 7))
    mask = torch.ones(4, 7, dtype=torch.int64)
    mask[2, 4:] = 0
    mask[3, 2:] = 0
    ids[mask == 0] = 0
    image_mask = (torch.rand(4, 16) >= 0.1).float() / 0.9
    text_mask = (torch.rand(4, 16) >= 0.1).float() / 0.9
    t.update({"pixels": pixels, "input_ids": ids, "attention_mask": mask, "image_dropout": image_mask, "text_dropout": text_mask})
    for variant, feature, loss_fn in (("std", "pooled", clip_loss_standard), ("seed", "logits", clip_loss_seed)):
        torch.manual_seed(1 if variant == "std" else 2)
        model = TinyCLIP(feature)
        perturb(model, 0.05)
        with torch.no_grad():
            model.logit_scale.fill_(math.log(1 / 0.07))
        loss, I, T = model(pixels, ids, mask, image_mask, text_mask, loss_fn)
        loss.backward()
        t[f"{variant}.loss"], t[f"{variant}.image_projection"], t[f"{variant}.text_projection"] = loss.detach().reshape(1), I.detach(), T.detach()
        for key, p in model.keyed_parameters():
            t[f"{variant}.weight.{key}"] = p.detach().reshape(1) if p.dim() == 0 else p.detach()
            grad = p.grad if p.grad is not None else torch.zeros_like(p)  # e.g. the ViT head when pooled is used
            t[f"{variant}.grad.{key}"] = grad.reshape(1) if p.dim() == 0 else grad
    return t


def main() -> None:
    seed_everything(0)
    t = {}
    layers(t)
    save_fixture("ch07-layer-grads", t)
    seed_everything(0)
    save_fixture("ch07-clip-tiny", tiny_clip())


if __name__ == "__main__":
    main()
