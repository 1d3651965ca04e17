"""Chapter 08 reference: training steps of the tiny CLIP with AdamW (the seed's three parameter groups)
and ReduceLROnPlateau.

Starts from the ch07 tiny CLIP weights (std variant: pooled image feature, standard loss), runs 10 steps
on 10 different batches of 4 with replayed dropout masks, and writes Tests/Fixtures/ch08-training.safetensors:
  step{s}.pixels, step{s}.input_ids, step{s}.attention_mask, step{s}.image_dropout, step{s}.text_dropout
  losses (10,)            the loss at each step (before its update)
  after1.<key>            every parameter after the first step
  after10.<key>           every parameter after ten steps
  plateau.metrics (12,), plateau.lr (12, 3)   ReduceLROnPlateau(mode=min, factor=0.8, patience=1)
Groups: image tower lr 1e-4 wd 0, text tower lr 1e-5 wd 0, heads lr 1e-3 wd 1e-3, logit_scale lr 1e-3 wd 0.
Run: python Scripts/reference/ch08_training.py   (after ch07_contrastive_loss.py)
"""
import math
import os

import torch
from safetensors.torch import load_file

from ch07_contrastive_loss import TinyCLIP, clip_loss_standard
from common import FIXTURES, save_fixture, seed_everything


def main() -> None:
    seed_everything(0)
    weights = load_file(os.path.join(FIXTURES, "ch07-clip-tiny.safetensors"))
    model = TinyCLIP("pooled")
    with torch.no_grad():
        for key, p in model.keyed_parameters():
            p.copy_(weights[f"std.weight.{key}"].reshape(p.shape))
    groups = {"image": [], "text": [], "heads": [], "scale": []}
    for key, p in model.keyed_parameters():
        if key.startswith("image_encoder."):
            groups["image"].append(p)
        elif key.startswith("text_encoder."):
            groups["text"].append(p)
        elif key == "logit_scale":
            groups["scale"].append(p)
        else:
            groups["heads"].append(p)
    optimizer = torch.optim.AdamW([
        {"params": groups["image"], "lr": 1e-4, "weight_decay": 0.0},
        {"params": groups["text"], "lr": 1e-5, "weight_decay": 0.0},
        {"params": groups["heads"], "lr": 1e-3, "weight_decay": 1e-3},
        {"params": groups["scale"], "lr": 1e-3, "weight_decay": 0.0},
    ], betas=(0.9, 0.999), eps=1e-8, foreach=False)
    t = {}
    losses = []
    for s in range(10):
        pixels = torch.randn(4, 3, 32, 32)
        ids = torch.randint(1, 1000, (4, 7))
        mask = torch.ones(4, 7, dtype=torch.int64)
        mask[s % 4, 3 + s % 3:] = 0
        ids[mask == 0] = 0
        image_mask = (torch.rand(4, 16) >= 0.1).float() / 0.9
        text_mask = (torch.rand(4, 16) >= 0.1).float() / 0.9
        t.update({f"step{s}.pixels": pixels, f"step{s}.input_ids": ids, f"step{s}.attention_mask": mask,
                  f"step{s}.image_dropout": image_mask, f"step{s}.text_dropout": text_mask})
        optimizer.zero_grad()
        loss, _, _ = model(pixels, ids, mask, image_mask, text_mask, clip_loss_standard)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(max=math.log(100))
        losses.append(loss.item())
        if s in (0, 9):
            for key, p in model.keyed_parameters():
                t[f"after{s + 1}.{key}"] = p.detach().clone().reshape(-1 if p.dim() == 0 else p.shape)  # clone: p changes in place
    t["losses"] = torch.tensor(losses)

    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    opt = torch.optim.AdamW([{"params": [params[0]], "lr": 1e-4}, {"params": [params[1]], "lr": 1e-5},
                             {"params": [params[2]], "lr": 1e-3}])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.8, patience=1)
    metrics = [1.0, 0.9, 0.95, 0.96, 0.85, 0.86, 0.86, 0.84, 0.8399, 0.9, 0.9, 0.9]
    lrs = []
    for m in metrics:
        scheduler.step(m)
        lrs.append([g["lr"] for g in opt.param_groups])
    t["plateau.metrics"] = torch.tensor(metrics)
    t["plateau.lr"] = torch.tensor(lrs)
    save_fixture("ch08-training", t)


if __name__ == "__main__":
    main()
