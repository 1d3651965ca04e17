"""Chapter 08's PyTorch twin: the same recipe trained by PyTorch — same architecture (timm ViT + HF BERT +
the seed's projection heads), the same initial weights (read from the Swift run's initial.safetensors),
the same data files, split, order, captions, flips and dropout masks (the Swift generators ported
below), the same AdamW groups, schedule, clamp and loss — so any difference in accuracy per second is
speed, not recipe.

  python Scripts/reference/ch08_twin.py --init OUT/initial.safetensors --data OUT/data --out TWIN [--seconds 300]
  python Scripts/reference/ch08_twin.py ... --steps 5      # a few steps, losses printed (compare with OUT/log.jsonl)

Writes TWIN/log.jsonl with the keys the Swift chapter writes ("step" lines: loss; "epoch" lines:
train_seconds, zero_shot_test, zero_shot_unseen). Training seconds exclude evaluation, as in Swift.
"""
import argparse
import csv
import json
import math
import os
import sys
import time
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from timm.models.vision_transformer import VisionTransformer
from transformers import BertConfig, BertModel, BertTokenizer

sys.path.insert(0, os.path.dirname(__file__))
from ch06_projection import ProjectionHead  # noqa: E402
from ch07_contrastive_loss import TinyCLIP  # noqa: E402

M64 = (1 << 64) - 1
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---- the Swift generators (Sources/Shared/Tensor/Random.swift, DeterministicInit.swift) ----------
def splitmix64(z):
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & M64
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & M64
    return z ^ (z >> 31)


class SeededRNG:
    def __init__(self, seed):
        self.state = seed & M64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        return splitmix64(self.state)

    def next_float(self):
        return (self.next() >> 40) * (1.0 / 16777216.0)

    def uniform(self, lo, hi):
        return lo + (hi - lo) * ((self.next() >> 11) * (1.0 / 9007199254740992.0))


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def seeded_shuffle(items, seed):
    a = list(items)
    rng = SeededRNG(seed)
    for i in range(len(a) - 1, 0, -1):
        j = rng.next() % (i + 1)
        a[i], a[j] = a[j], a[i]
    return a


def split_by_image(images, fraction, seed):
    shuffled = seeded_shuffle(sorted(images), seed)
    n = math.ceil(len(images) * fraction)
    return sorted(shuffled[n:]), sorted(shuffled[:n])


def dropout_mask(shape, p, rng):
    keep = np.float32(1 / (1 - p))
    values = [0.0 if rng.next_float() < p else keep for _ in range(shape[0] * shape[1])]
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


def mirrored_caption(caption):
    swap = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}
    out, word = [], ""
    for ch in caption:
        if ch.isalpha():
            word += ch
        else:
            out.append(swap.get(word, word)); word = ""; out.append(ch)
    out.append(swap.get(word, word))
    return "".join(out)


# ---- the model ------------------------------------------------------------------------------------
class TwinCLIP(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        v, t = c["model"]["vit"], c["model"]["text"]
        pool = v.get("pool", "classToken")
        self.vit = VisionTransformer(img_size=v["imageSize"], patch_size=v["patchSize"], in_chans=v["channels"], num_classes=v["numClasses"],
                                     embed_dim=v["width"], depth=v["depth"], num_heads=v["heads"], mlp_ratio=v["mlpDim"] / v["width"],
                                     qkv_bias=True, global_pool="token" if pool == "classToken" else "avg", fc_norm=False,
                                     norm_layer=partial(torch.nn.LayerNorm, eps=v["layerNormEps"]))
        self.bert = BertModel(BertConfig(vocab_size=t["vocabSize"], hidden_size=t["hiddenSize"], num_hidden_layers=t["layers"],
                                         num_attention_heads=t["heads"], intermediate_size=t["intermediateSize"],
                                         max_position_embeddings=t["maxPositions"], type_vocab_size=t["typeVocabSize"],
                                         layer_norm_eps=t["layerNormEps"], hidden_act="gelu", hidden_dropout_prob=0.0,
                                         attention_probs_dropout_prob=0.0), add_pooling_layer=False)
        p = c["model"]["projectionDim"]
        if c["model"].get("head", "seed") == "linear":
            head = LinearHead
        else:  # the config's dropout: with no masks to replay (p = 0) the head must not fall back to nn.Dropout(0.1)
            head = partial(ProjectionHead, dropout=c["model"]["dropout"])
        self.image_projection = head(v["width"], p)
        self.text_projection = head(t["hiddenSize"], p)
        self.logit_scale = torch.nn.Parameter(torch.tensor(0.0))

    # Checkpoint keys exactly as chapter 07's reference model names them (same attribute names).
    keyed_parameters = TinyCLIP.keyed_parameters

    def embed(self, pixels, ids, mask, image_mask=None, text_mask=None):
        feats = self.vit.forward_head(self.vit.forward_features(pixels), pre_logits=True)
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask[..., None].float()
        text = F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)
        return self.image_projection(feats, image_mask), self.text_projection(text, text_mask)


class LinearHead(torch.nn.Module):
    """OpenAI's CLIP's projection (the Swift config's head "linear"): one Linear, no dropout, no LayerNorm."""

    def __init__(self, embedding_dim, projection_dim):
        super().__init__()
        self.projection = torch.nn.Linear(embedding_dim, projection_dim)

    def forward(self, x, mask=None):
        return self.projection(x)


def clip_loss(image, text, logit_scale):
    logits = logit_scale.exp() * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).t()
    labels = torch.arange(image.shape[0])
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


# ---- data -----------------------------------------------------------------------------------------
def read_captions(path):
    images, captions = [], {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name, caption = row["image"], row["caption"].strip()
            if name not in captions:
                images.append(name); captions[name] = []
            captions[name].append(caption)
    return images, captions


def load_pixels(path, side):
    image = Image.open(path).convert("RGB")
    if image.size != (side, side):
        image = image.resize((side, side), Image.BICUBIC)
    return torch.from_numpy(np.asarray(image, dtype=np.float32).copy()).permute(2, 0, 1) / 127.5 - 1  # mean .5, std .5


class Batches:
    def __init__(self, folder, captions, tokenizer, config):
        self.folder, self.captions, self.tokenizer, self.c = folder, captions, tokenizer, config
        self.side = config["model"]["vit"]["imageSize"]
        self.max_length = config["model"]["maxTextLength"]

    def tokens(self, texts):
        enc = self.tokenizer(texts, padding="longest", truncation=True, max_length=self.max_length, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def make(self, names, epoch, train):
        seed, pipeline = self.c["seed"], self.c["imagePipeline"]
        pixels, texts = [], []
        for name in names:
            rng = SeededRNG(((seed ^ fnv1a64(name)) + epoch * 0xD1B54A32D192ED03) & M64)
            options = self.captions[name]
            caption = options[rng.next() % len(options)] if train else options[0]
            x = load_pixels(os.path.join(self.folder, name), self.side)
            if pipeline == "resizeAugment" and train and rng.uniform(0, 1) < 0.5:
                x = x.flip(-1); caption = mirrored_caption(caption)
            elif pipeline not in ("resize", "resizeAugment"):
                raise SystemExit(f"the twin reads the resize pipelines only, not {pipeline}")
            pixels.append(x); texts.append(caption)
        ids, mask = self.tokens(texts)
        return torch.stack(pixels), ids, mask


# ---- evaluation -----------------------------------------------------------------------------------
TEMPLATES = ["a picture of a {}", "there is one {} here", "a {}"]


@torch.no_grad()
def zero_shot(model, data, sets, classes, batches):
    model.eval()
    texts = [t.replace("{}", c) for c in classes for t in TEMPLATES]
    ids, mask = batches.tokens(texts)
    hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask[..., None].float()
    text = F.normalize(model.text_projection(F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)), dim=-1)
    class_emb = F.normalize(text.reshape(len(classes), len(TEMPLATES), -1).mean(1), dim=-1)
    out = {}
    for name, (pixels, truth) in sets.items():
        feats = []
        for i in range(0, len(truth), 128):
            f = model.vit.forward_head(model.vit.forward_features(pixels[i:i + 128]), pre_logits=True)
            feats.append(F.normalize(model.image_projection(f), dim=-1))
        predicted = (torch.cat(feats) @ class_emb.t()).argmax(1)
        out[name] = (predicted == truth).float().mean().item()
    model.train()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    log_path = os.path.join(args.out, "log.jsonl")
    if os.path.exists(log_path):
        os.remove(log_path)

    with safe_open(args.init, "pt") as f:
        config = json.loads(f.metadata()["config"])
        weights = {k[len("model."):]: f.get_tensor(k) for k in f.keys() if k.startswith("model.")}
    model = TwinCLIP(config)
    with torch.no_grad():
        for key, p in model.keyed_parameters():
            p.copy_(weights[key].reshape(p.shape))
    opt_c = config["optimizer"]
    groups = {"image": [], "text": [], "heads": [], "scale": []}
    for key, p in model.keyed_parameters():
        groups["scale" if key == "logit_scale" else "image" if key.startswith("image_encoder.") else
               "text" if key.startswith("text_encoder.") else "heads"].append(p)
    base = [opt_c["textLearningRate"] if opt_c.get("seedFaithfulImageLearningRate") else opt_c["imageLearningRate"],
            opt_c["textLearningRate"], opt_c["headLearningRate"], opt_c["headLearningRate"]]
    tower_decay = opt_c.get("towerWeightDecay", 0.0)
    optimizer = torch.optim.AdamW([{"params": groups["image"], "lr": base[0], "weight_decay": tower_decay},
                                   {"params": groups["text"], "lr": base[1], "weight_decay": tower_decay},
                                   {"params": groups["heads"], "lr": base[2], "weight_decay": opt_c["headWeightDecay"]},
                                   {"params": groups["scale"], "lr": base[3], "weight_decay": 0.0}],
                                  betas=(opt_c["beta1"], opt_c["beta2"]), eps=opt_c["eps"], foreach=False)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=config["plateauFactor"],
                                                           patience=config["plateauPatience"])

    images, captions = read_captions(os.path.join(args.data, "captions.csv"))
    train, validation = split_by_image(images, config["validationFraction"], config["seed"])
    tokenizer = BertTokenizer(os.path.join(REPO, "Assets", "bert-base-uncased-vocab.txt"), do_lower_case=True)
    batches = Batches(os.path.join(args.data, "images"), captions, tokenizer, config)
    classes = [c + " " + s for c in json.load(open(os.path.join(args.data, "dataset.json")))["colours"]
               for s in json.load(open(os.path.join(args.data, "dataset.json")))["shapes"]]
    side = config["model"]["vit"]["imageSize"]
    sets = {}
    with open(os.path.join(args.data, "labels.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    for split in ("test", "unseen"):
        chosen = [r for r in rows if r["split"] == split and r["label"]]
        if chosen:
            sets[split] = (torch.stack([load_pixels(os.path.join(args.data, "images", r["image"]), side) for r in chosen]),
                           torch.tensor([classes.index(r["label"]) for r in chosen]))

    batch_size, epochs = config["batchSize"], config["epochs"]
    steps_per_epoch = (len(train) + batch_size - 1) // batch_size
    if config.get("maxStepsPerEpoch"):
        steps_per_epoch = min(steps_per_epoch, config["maxStepsPerEpoch"])
    total, warmup = epochs * steps_per_epoch, config.get("warmupSteps", 0)
    p_drop, proj = config["model"]["dropout"], config["model"]["projectionDim"]
    clip_norm = opt_c.get("gradientClip")
    log = open(log_path, "a")
    step, training_seconds = 0, 0.0
    # The run's time budget: --seconds, else the config's own (the tiny default is 300 s).
    budget = args.seconds if args.seconds is not None else config.get("seconds")
    print(f"twin: {sum(p.numel() for p in model.parameters())} parameters, {len(train)} train images, {epochs} epochs × "
          f"{steps_per_epoch} steps of {batch_size}, {torch.get_num_threads()} threads", flush=True)
    done = False
    for epoch in range(epochs):
        order = seeded_shuffle(train, (config["seed"] + epoch * 0x9E3779B9) & M64)
        epoch_loss, epoch_steps = 0.0, 0
        for b in range(steps_per_epoch):
            clock = time.perf_counter()
            names = order[b * batch_size:(b + 1) * batch_size]
            if len(names) < 2:  # a contrastive batch needs two pairs: Swift skips it too, without a step
                continue
            pixels, ids, mask = batches.make(names, epoch, train=True)
            schedule = config.get("schedule", "plateau")
            if schedule in ("cosine", "constant"):
                warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
                if schedule == "constant":
                    mult = warm
                elif budget is not None:  # a time budget: the cosine runs on training seconds (Swift's rule)
                    mult = warm * 0.5 * (1 + math.cos(math.pi * min(1.0, training_seconds / budget)))
                else:
                    mult = (step + 1) / warmup if step < warmup else \
                        0.5 * (1 + math.cos(math.pi * min(step - warmup, max(total, warmup + 1) - warmup) / (max(total, warmup + 1) - warmup)))
                for g, lr in zip(optimizer.param_groups, base):
                    g["lr"] = lr * mult
            masks = (None, None)
            if p_drop > 0:
                rng = SeededRNG(config["seed"] ^ ((step + 1) * 0xA24BAED4963EE407 & M64))
                masks = (dropout_mask((len(names), proj), p_drop, rng), dropout_mask((len(names), proj), p_drop, rng))
            image, text = model.embed(pixels, ids, mask, *masks)
            loss = clip_loss(image, text, model.logit_scale)
            optimizer.zero_grad()
            loss.backward()
            if clip_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(max=math.log(100))
            step += 1
            training_seconds += time.perf_counter() - clock
            epoch_loss += loss.item(); epoch_steps += 1
            log.write(json.dumps({"kind": "step", "step": step, "epoch": epoch + 1, "loss": loss.item(),
                                  "train_seconds": training_seconds}) + "\n")
            if args.steps is not None:
                print(f"step {step}: loss {loss.item():.6f}", flush=True)
                if step >= args.steps:
                    return
            if budget is not None and training_seconds >= budget:
                done = True
                break
        if done:
            break
        # validation loss (caption 0, no dropout) drives ReduceLROnPlateau, as in Swift
        if config.get("schedule", "plateau") == "plateau" and validation:
            model.eval()
            with torch.no_grad():
                total_loss, count = 0.0, 0
                for i in range(0, len(validation), batch_size):
                    names = validation[i:i + batch_size]
                    if len(names) < 2:
                        continue
                    image, text = model.embed(*batches.make(names, 0, train=False))
                    total_loss += clip_loss(image, text, model.logit_scale).item() * len(names); count += len(names)
            model.train()
            scheduler.step(total_loss / count)
        scores = zero_shot(model, args.data, sets, classes, batches)
        line = {"kind": "epoch", "epoch": epoch + 1, "train_loss": epoch_loss / max(epoch_steps, 1), "train_seconds": training_seconds,
                "zero_shot_test": scores.get("test", 0), "zero_shot_unseen": scores.get("unseen", 0)}
        log.write(json.dumps(line) + "\n"); log.flush()
        print(f"epoch {epoch + 1}: train loss {line['train_loss']:.4f}  zero-shot at {training_seconds:.0f} s: "
              f"test {100 * line['zero_shot_test']:.1f}%  unseen {100 * line['zero_shot_unseen']:.1f}%", flush=True)
    scores = zero_shot(model, args.data, sets, classes, batches)
    log.write(json.dumps({"kind": "final", "train_seconds": training_seconds, "steps": step,
                          "zero_shot_test": scores.get("test", 0), "zero_shot_unseen": scores.get("unseen", 0)}) + "\n")
    print(f"final after {training_seconds:.0f} s, {step} steps: test {100 * scores.get('test', 0):.1f}%  "
          f"unseen {100 * scores.get('unseen', 0):.1f}%", flush=True)


if __name__ == "__main__":
    main()
