"""Chapter 09 reference: zero-shot classification with prompt ensembling, and retrieval metrics over a
set with five captions per image — computed in PyTorch from fixed embeddings, independently of Swift.

Writes Tests/Fixtures/ch09-zero-shot.safetensors
  zs.text         (K*T, P) unit text embeddings of class k, template t at row k*T + t
  zs.image        (N, P)   unit image embeddings
  zs.logit_scale  ()       the learned log-scale
  zs.classes      (K, P)   class embeddings: normalize(mean_t normalize(text))    (OpenAI CLIP's ensembling)
  zs.logits, zs.probs (N, K)
  rt.similarity   (I, C)   image x caption similarities, with deliberate ties
  rt.image_of_text (C,)    int64, the image each caption belongs to (five per image, shuffled)
  rt.i2t_ranks (I,), rt.t2i_ranks (C,)  int64, 1-based; ties count against the query
  rt.i2t_recall, rt.t2i_recall (3,)     R@1, R@5, R@10;  rt.*_mean_rank, rt.*_median_rank
Run: python Scripts/reference/ch09_zero_shot.py
"""
import numpy as np
import torch
import torch.nn.functional as F

from common import save_fixture, seed_everything


def zero_shot(t):
    K, T, P, N = 7, 4, 16, 11
    text = F.normalize(torch.randn(K * T, P), dim=-1)
    image = F.normalize(torch.randn(N, P), dim=-1)
    logit_scale = torch.tensor(2.3)
    classes = F.normalize(text.view(K, T, P).mean(dim=1), dim=-1)
    logits = logit_scale.exp() * image @ classes.T
    t.update({"zs.text": text, "zs.image": image, "zs.logit_scale": logit_scale, "zs.classes": classes,
              "zs.logits": logits, "zs.probs": logits.softmax(dim=-1)})


def rank_of_best(scores, targets):
    """1-based rank of the best-scoring target: items strictly above it, plus non-targets tying with it."""
    best = scores[targets].max()
    others = torch.ones_like(scores, dtype=torch.bool)
    others[targets] = False
    return int((scores[others] >= best).sum()) + 1


def retrieval(t):
    I, per = 9, 5
    C = I * per
    image_of_text = torch.arange(I).repeat_interleave(per)[torch.randperm(C)]
    # Scores on a coarse grid (multiples of 1/8) so that ties happen, plus a boost for the true pairs.
    similarity = (torch.randint(-8, 9, (I, C)).float() / 8)
    similarity[image_of_text, torch.arange(C)] += (torch.rand(C) < 0.5).float() * 0.5
    similarity[3, :] = 0.25  # one image scores every caption the same: all ties
    i2t = torch.tensor([rank_of_best(similarity[i], (image_of_text == i).nonzero().flatten()) for i in range(I)])
    t2i = torch.tensor([rank_of_best(similarity[:, c], torch.tensor([int(image_of_text[c])])) for c in range(C)])
    for name, ranks in (("i2t", i2t), ("t2i", t2i)):
        t[f"rt.{name}_ranks"] = ranks
        t[f"rt.{name}_recall"] = torch.tensor([(ranks <= k).float().mean() for k in (1, 5, 10)])
        t[f"rt.{name}_mean_rank"] = ranks.float().mean()
        # The median of an even count is the mean of the two middle ranks (numpy's convention).
        t[f"rt.{name}_median_rank"] = torch.tensor(float(np.median(ranks.numpy())))
    t["rt.similarity"] = similarity
    t["rt.image_of_text"] = image_of_text


def main():
    seed_everything(9)
    t = {}
    zero_shot(t)
    retrieval(t)
    save_fixture("ch09-zero-shot", t)


if __name__ == "__main__":
    main()
