"""Chapter 11 reference: fine-tuning OpenAI's CLIP with AdamW, as `clip train --clip` does it.

Reads the small CLIPModel that ch11_openai_clip.py wrote (Tests/Fixtures/ch11-clip-small-hf) and takes
three AdamW steps on three batches of four (image, caption) pairs, twice:
  full  every parameter trained (open_clip's parameter groups: weight decay on the weight matrices and
        the patch conv, none on biases, LayerNorms, the class/position/token embeddings, logit_scale)
  lit   LiT, locked-image tuning: the vision tower and visual_projection frozen (requires_grad False)
The loss is CLIP's symmetric cross-entropy over exp(logit_scale) · cos; after each step logit_scale is
clamped to ln 100 as open_clip does.

Writes Tests/Fixtures/ch11-finetune.safetensors
  batch<k>.pixels (4, 3, 32, 32), batch<k>.ids (4, L) as float, batch<k>.mask (4, L)   k = 0, 1, 2
      each row <bos> tokens 999 (= <|endoftext|>, the largest id) then 0s, as open_clip pads
  <run>.loss (3,)              the loss of each step, before its update          run = full, lit
  <run>.grad0.<key>            the first step's gradient of every trained parameter (Hugging Face keys)
  <run>.final.<key>            every parameter after the three steps
Run: python Scripts/reference/ch11_finetune.py   (after ch11_openai_clip.py)
"""
import math
import os

import torch
from transformers import CLIPModel

from common import FIXTURES, save_fixture, seed_everything

LR_IMAGE, LR_TEXT, LR_SCALE, WEIGHT_DECAY = 1e-3, 2e-3, 1e-2, 0.1


def batches():
    g = torch.Generator().manual_seed(11)
    out = []
    for k in range(3):
        pixels = torch.randn(4, 3, 32, 32, generator=g)
        lengths = [5, 3, 16, 8][k:] + [5, 3, 16, 8][:k]  # a row that fills the context, rows of other lengths
        length = max(lengths)
        ids = torch.zeros(4, length, dtype=torch.long)
        mask = torch.zeros(4, length, dtype=torch.long)
        for r, n in enumerate(lengths):
            body = torch.randint(3, 999, (n - 2,), generator=g)
            ids[r, :n] = torch.cat([torch.tensor([0]), body, torch.tensor([999])])
            mask[r, :n] = 1
        out.append((pixels, ids, mask))
    return out


def no_decay(name: str, p: torch.Tensor) -> bool:
    return p.ndim < 2 or "position_embedding" in name or "token_embedding" in name


def run(lit: bool, data):
    model = CLIPModel.from_pretrained(os.path.join(FIXTURES, "ch11-clip-small-hf")).train()
    groups = {k: [] for k in ("image", "image.no_decay", "text", "text.no_decay", "scale")}
    for name, p in model.named_parameters():
        image = name.startswith("vision_model.") or name.startswith("visual_projection.")
        if name == "logit_scale":
            groups["scale"].append(p)
        elif image and lit:
            p.requires_grad_(False)
        else:
            groups[("image" if image else "text") + (".no_decay" if no_decay(name, p) else "")].append(p)
    settings = {"image": (LR_IMAGE, WEIGHT_DECAY), "image.no_decay": (LR_IMAGE, 0.0), "text": (LR_TEXT, WEIGHT_DECAY),
                "text.no_decay": (LR_TEXT, 0.0), "scale": (LR_SCALE, 0.0)}
    optimizer = torch.optim.AdamW([{"params": ps, "lr": settings[n][0], "weight_decay": settings[n][1]} for n, ps in groups.items() if ps],
                                  betas=(0.9, 0.999), eps=1e-8)
    losses, out = [], {}
    for k, (pixels, ids, mask) in enumerate(data):
        image = model.get_image_features(pixel_values=pixels)
        text = model.get_text_features(input_ids=ids)
        image, text = getattr(image, "pooler_output", image), getattr(text, "pooler_output", text)
        image, text = image / image.norm(dim=-1, keepdim=True), text / text.norm(dim=-1, keepdim=True)
        logits = model.logit_scale.exp() * image @ text.t()
        targets = torch.arange(4)
        loss = (torch.nn.functional.cross_entropy(logits, targets) + torch.nn.functional.cross_entropy(logits.t(), targets)) / 2
        optimizer.zero_grad()
        loss.backward()
        losses.append(loss.item())
        if k == 0:
            for name, p in model.named_parameters():
                if p.grad is not None:
                    out[f"grad0.{name}"] = p.grad.detach().clone()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(max=math.log(100))
    for name, p in model.named_parameters():
        out[f"final.{name}"] = p.detach().clone()
    out["loss"] = torch.tensor(losses)
    print(f"  {'lit ' if lit else 'full'} losses {losses}")
    return out


def main() -> None:
    seed_everything(0)
    data = batches()
    tensors = {}
    for k, (pixels, ids, mask) in enumerate(data):
        tensors.update({f"batch{k}.pixels": pixels, f"batch{k}.ids": ids.float(), f"batch{k}.mask": mask.float()})
    for name, lit in (("full", False), ("lit", True)):
        tensors.update({f"{name}.{k}": v for k, v in run(lit, data).items()})
    save_fixture("ch11-finetune", tensors, {"transformers": __import__("transformers").__version__})


if __name__ == "__main__":
    main()
