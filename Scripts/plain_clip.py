"""A plain PyTorch CLIP, as a reader would write one from the paper and the libraries' defaults — the
reference point of chapter 08's recipe study (issue 27), trained on a chapter 08 shapes folder:

  timm VisionTransformer(img 64, patch 16, width 128, depth 4, heads 4, num_classes 0): class token,
      final norm, timm's own init;
  transformers BertModel(hidden 128, 2 layers, 4 heads, intermediate 512, max positions 64), its own init,
      the bert-base-uncased vocabulary, mean pooling over the mask;
  one nn.Linear(128, 128) per tower as the projection (no MLP, no dropout, no LayerNorm), L2-normalised;
  logit_scale = ln(1/0.07), clamped at ln 100, exp'd;
  AdamW lr 5e-4, weight decay 1e-2 on every parameter, constant, no warm-up;
  batches of 64 drawn at random each step, one of the image's captions at random, no augmentation,
  pixels scaled to [-1, 1].

Zero-shot is measured as chapter 08 measures it (the same labels.csv, classes and three templates) every
--every seconds of training and at the end; training seconds exclude evaluation.

  ~/venvs/clip-ref/bin/python Scripts/plain_clip.py --data OUT/data --out plain [--seconds 300] [--seed 0]
"""
import argparse
import csv
import json
import os
import random
import sys
import time

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from transformers import BertConfig, BertModel, BertTokenizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "Scripts", "reference"))
from ch08_twin import TEMPLATES, load_pixels, read_captions  # noqa: E402


class PlainCLIP(torch.nn.Module):
    def __init__(self, side, patch, width=128):
        super().__init__()
        self.vit = VisionTransformer(img_size=side, patch_size=patch, embed_dim=width, depth=4, num_heads=4, num_classes=0)
        self.bert = BertModel(BertConfig(vocab_size=30522, hidden_size=width, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=4 * width, max_position_embeddings=64), add_pooling_layer=False)
        self.image_projection = torch.nn.Linear(width, width)
        self.text_projection = torch.nn.Linear(width, width)
        self.logit_scale = torch.nn.Parameter(torch.tensor(2.6592600369262695))  # ln(1/0.07)

    def encode_image(self, pixels):
        return F.normalize(self.image_projection(self.vit(pixels)), dim=-1)

    def encode_text(self, ids, mask):
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask[..., None].float()
        return F.normalize(self.text_projection((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)), dim=-1)


@torch.no_grad()
def zero_shot(model, sets, classes, tokenizer):
    model.eval()
    texts = [t.replace("{}", c) for c in classes for t in TEMPLATES]
    enc = tokenizer(texts, padding="longest", return_tensors="pt")
    text = model.encode_text(enc["input_ids"], enc["attention_mask"])
    class_emb = F.normalize(text.reshape(len(classes), len(TEMPLATES), -1).mean(1), dim=-1)
    out = {}
    for name, (pixels, truth) in sets.items():
        image = torch.cat([model.encode_image(pixels[i:i + 256]) for i in range(0, len(truth), 256)])
        out[name] = ((image @ class_emb.t()).argmax(1) == truth).float().mean().item()
    model.train()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="a chapter 08 shapes folder (captions.csv, labels.csv, dataset.json, images/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--steps", type=int, default=None, help="stop after this many steps instead (equal-steps rows)")
    ap.add_argument("--every", type=float, default=30, help="seconds of training between evaluations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "log.jsonl"), "w")

    dataset = json.load(open(os.path.join(args.data, "dataset.json")))
    side = dataset["size"]
    classes = [c + " " + s for c in dataset["colours"] for s in dataset["shapes"]]
    images, captions = read_captions(os.path.join(args.data, "captions.csv"))
    folder = os.path.join(args.data, "images")
    # Every training image in memory once (the plain script's advantage: no decoding in the loop).
    pixels = torch.stack([load_pixels(os.path.join(folder, name), side) for name in images])
    tokenizer = BertTokenizer(os.path.join(REPO, "Assets", "bert-base-uncased-vocab.txt"), do_lower_case=True)
    sets = {}
    with open(os.path.join(args.data, "labels.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    for split in ("test", "unseen"):
        chosen = [r for r in rows if r["split"] == split and r["label"]]
        sets[split] = (torch.stack([load_pixels(os.path.join(folder, r["image"]), side) for r in chosen]),
                       torch.tensor([classes.index(r["label"]) for r in chosen]))

    model = PlainCLIP(side, args.patch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    print(f"plain CLIP: {sum(p.numel() for p in model.parameters())} parameters, {len(images)} images, batch {args.batch}, "
          f"patch {args.patch}, seed {args.seed}, {torch.get_num_threads()} threads", flush=True)
    step, seconds, next_eval = 0, 0.0, args.every
    while (args.steps is None and seconds < args.seconds) or (args.steps is not None and step < args.steps):
        clock = time.perf_counter()
        chosen = random.sample(range(len(images)), args.batch)
        texts = [random.choice(captions[images[i]]) for i in chosen]
        enc = tokenizer(texts, padding="longest", truncation=True, max_length=64, return_tensors="pt")
        image = model.encode_image(pixels[chosen])
        text = model.encode_text(enc["input_ids"], enc["attention_mask"])
        logits = model.logit_scale.exp() * image @ text.t()
        labels = torch.arange(args.batch)
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(max=4.605170249938965)
        step += 1
        seconds += time.perf_counter() - clock
        log.write(json.dumps({"kind": "step", "step": step, "loss": loss.item(), "train_seconds": seconds}) + "\n")
        if seconds >= next_eval:
            next_eval += args.every
            scores = zero_shot(model, sets, classes, tokenizer)
            log.write(json.dumps({"kind": "epoch", "step": step, "train_seconds": seconds, "zero_shot_test": scores["test"],
                                  "zero_shot_unseen": scores["unseen"]}) + "\n")
            log.flush()
            print(f"{seconds:5.0f} s, step {step}: loss {loss.item():.4f}  zero-shot test {100 * scores['test']:.1f}%  "
                  f"unseen {100 * scores['unseen']:.1f}%", flush=True)
    scores = zero_shot(model, sets, classes, tokenizer)
    log.write(json.dumps({"kind": "final", "step": step, "train_seconds": seconds, "steps": step,
                          "zero_shot_test": scores["test"], "zero_shot_unseen": scores["unseen"]}) + "\n")
    print(f"final after {seconds:.0f} s, {step} steps ({1000 * seconds / max(step, 1):.0f} ms/step): test {100 * scores['test']:.1f}%  "
          f"unseen {100 * scores['unseen']:.1f}%", flush=True)


if __name__ == "__main__":
    main()
