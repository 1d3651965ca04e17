"""Where does chapter 08's accuracy go? Two quick probes in PyTorch on a generated shapes folder, with
every image held in memory so only the model costs time (2 threads, one seed, a few minutes each):

  supervised   the same tiny ViT (timm, patch 16, width 128, depth 4, class token) trained as a plain
               32-way classifier on the labels: how fast can this *tower* learn colour × shape at all?
  contrastive  the twin's whole CLIP (ch08_twin.TwinCLIP, the configuration read from a Swift
               checkpoint) trained with the symmetric loss, with switches for the usual suspects:
               --captions label (one caption "a red circle" per image), --dedup (identical captions in
               a batch are not negatives), --scale (initial log logit scale), --lr, --text-lr.

  ~/venvs/clip-ref/bin/python Scripts/probe.py supervised --data OUT/data [--seconds 100] [--patch 16]
  ~/venvs/clip-ref/bin/python Scripts/probe.py contrastive --data OUT/data --config OUT/last.safetensors

Both print zero-shot / classification accuracy on the test split after every epoch, with training
seconds (evaluation not counted). Walkthrough 08's "Tokens bigger than the thing" quotes them. A study
tool, not a fixture: nothing in the tests reads its output.
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F
from safetensors import safe_open
from timm.models.vision_transformer import VisionTransformer
from transformers import BertTokenizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "Scripts", "reference"))
from ch08_twin import TEMPLATES, TwinCLIP, load_pixels, mirrored_caption  # noqa: E402


def cosine(step, total, warmup):
    return min(1, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / total))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["supervised", "contrastive"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--config", help="contrastive: a chapter 08 checkpoint whose configuration to train")
    ap.add_argument("--seconds", type=float, default=100)
    ap.add_argument("--epochs", type=int, default=10, help="the cosine's length (stops earlier at --seconds)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--patch", type=int, default=16, help="supervised: patch size")
    ap.add_argument("--captions", choices=["all", "label"], default="all")
    ap.add_argument("--dedup", action="store_true")
    ap.add_argument("--scale", type=float, default=math.log(1 / 0.07))
    ap.add_argument("--text-lr", type=float, default=None)
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    random.seed(0)

    shapes = json.load(open(os.path.join(a.data, "dataset.json")))
    classes = [c + " " + s for c in shapes["colours"] for s in shapes["shapes"]]
    rows = list(csv.DictReader(open(os.path.join(a.data, "labels.csv"), newline="")))
    label = {r["image"]: r["label"] for r in rows}
    image = lambda name: load_pixels(os.path.join(a.data, "images", name), shapes["size"])  # mean .5, std .5, as chapter 08
    test = {s: (torch.stack([image(r["image"]) for r in rows if r["split"] == s]),
                torch.tensor([classes.index(r["label"]) for r in rows if r["split"] == s])) for s in ("test", "unseen")}
    captions = {}
    for r in csv.DictReader(open(os.path.join(a.data, "captions.csv"), newline="")):
        captions.setdefault(r["image"], []).append(r["caption"])
    if a.mode == "supervised":
        names = [n for n in captions if label.get(n)]  # one-shape images: they have a class
        model = VisionTransformer(img_size=shapes["size"], patch_size=a.patch, num_classes=len(classes), embed_dim=128, depth=4,
                                  num_heads=4, mlp_ratio=4, global_pool="token")
        groups = [{"params": list(model.parameters()), "lr": a.lr}]
    else:
        if not a.config:
            sys.exit("contrastive needs --config OUT/last.safetensors (a chapter 08 checkpoint: its configuration is trained)")
        with safe_open(a.config, "pt") as f:
            config = json.loads(f.metadata()["config"])
        model = TwinCLIP(config)
        with torch.no_grad():
            model.logit_scale.fill_(a.scale)
        names = list(captions)
        tokenizer = BertTokenizer(os.path.join(REPO, "Assets", "bert-base-uncased-vocab.txt"), do_lower_case=True)
        tokens = lambda texts: tokenizer(texts, padding="longest", truncation=True, max_length=config["model"]["maxTextLength"], return_tensors="pt")
        tower = [p for n, p in model.named_parameters() if n.startswith("vit")]
        rest = [p for n, p in model.named_parameters() if not n.startswith("vit")]
        groups = [{"params": tower, "lr": a.lr}, {"params": rest, "lr": a.text_lr or a.lr}]
    for g in groups:
        g["base"] = g["lr"]
    optimizer = torch.optim.AdamW(groups, weight_decay=0)
    images = torch.stack([image(n) for n in names])
    targets = torch.tensor([classes.index(label[n]) if label.get(n) else -1 for n in names])
    per_epoch = len(names) // a.batch
    total, step, seconds = per_epoch * a.epochs, 0, 0.0
    print(f"{a.mode}: {len(names)} training images, {per_epoch} steps of {a.batch} an epoch, test {len(test['test'][1])} images")

    @torch.no_grad()
    def accuracy():
        model.eval()
        out = {}
        if a.mode == "contrastive":
            t = tokens([tpl.replace("{}", c) for c in classes for tpl in TEMPLATES])
            hidden = model.bert(input_ids=t["input_ids"], attention_mask=t["attention_mask"]).last_hidden_state
            m = t["attention_mask"][..., None].float()
            text = model.text_projection(F.normalize((hidden * m).sum(1) / m.sum(1), dim=-1))
            text = F.normalize(text, dim=-1).view(len(classes), len(TEMPLATES), -1).mean(1)
        for split, (x, y) in test.items():
            if a.mode == "supervised":
                scores = model(x)
            else:
                scores = F.normalize(model.image_projection(model.vit.forward_head(model.vit.forward_features(x), pre_logits=True)), dim=-1) @ text.t()
            out[split] = (scores.argmax(-1) == y).float().mean().item()
        model.train()
        return out

    for epoch in range(a.epochs):
        order = torch.randperm(len(names))
        start = time.time()
        for i in range(per_epoch):
            idx = order[i * a.batch:(i + 1) * a.batch]
            x = images[idx].clone()
            flip = torch.rand(len(idx)) < 0.5
            x[flip] = x[flip].flip(-1)
            for g in optimizer.param_groups:
                g["lr"] = g["base"] * cosine(step, total, a.warmup)
            if a.mode == "supervised":
                loss = F.cross_entropy(model(x), targets[idx])
            else:
                # flips swap left and right in the captions, as chapter 08's loader does
                texts = ["a " + label[names[j]] if a.captions == "label" and label.get(names[j]) else random.choice(captions[names[j]]) for j in idx]
                texts = [mirrored_caption(t) if f else t for t, f in zip(texts, flip)]
                t = tokens(texts)
                img, txt = model.embed(x, t["input_ids"], t["attention_mask"])
                logits = model.logit_scale.exp() * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).t()
                if a.dedup:
                    same = torch.tensor([[texts[p] == texts[q] and p != q for q in range(len(texts))] for p in range(len(texts))])
                    logits = logits.masked_fill(same, -1e4)
                labels = torch.arange(len(idx))
                loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if a.mode == "contrastive":
                with torch.no_grad():
                    model.logit_scale.clamp_(max=math.log(100))
        seconds += time.time() - start
        acc = accuracy()
        print(f"epoch {epoch + 1}: {seconds:.0f} s, loss {loss.item():.3f}, test {100 * acc['test']:.1f}%, unseen pairs {100 * acc['unseen']:.1f}%", flush=True)
        if seconds >= a.seconds:
            break


if __name__ == "__main__":
    main()
