"""Chapter 05 reference: the BERT encoder.

Writes
  Tests/Fixtures/ch05-bert-small-weights.safetensors   a small random transformers BertModel (HF key names)
  Tests/Fixtures/ch05-bert-small-config.json           its config.json
  Tests/Fixtures/ch05-bert.safetensors
      small.input_ids, small.attention_mask (2, 9), small.embeddings, small.layer{i}, small.hidden,
      small.pooled (mean over real tokens), small.embedding (L2-normalised)
      minilm.embeddings (60, 384): sentence-transformers encode(normalize_embeddings=True) of the
      sentences in __metadata__["minilm_sentences"] (JSON list), when the MiniLM files are present
Run: python Scripts/reference/ch05_bert.py   (fetch MiniLM first: bash Scripts/fetch-minilm.sh)
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

from common import FIXTURES, REPO, save_fixture, seed_everything

SENTENCES = [
    "A dog runs across the grass.", "Two children are playing in the snow.", "A man rides a bicycle down the street.",
    "A woman is reading a book in the park.", "A red circle above a small blue square.", "A green triangle.",
    "a photo of a yellow star", "A picture of a purple hexagon on a white background.", "The cat sleeps on the sofa.",
    "A group of people stand outside a building.", "Someone is cooking dinner in the kitchen.",
    "A boy jumps into a swimming pool.", "Two dogs are fighting over a stick.", "A surfer rides a large wave.",
    "An old man sits on a bench feeding pigeons.", "A little girl in a pink dress is dancing.",
    "The sun sets behind the mountains.", "A crowd watches a street performer.", "A black and white photo of a train.",
    "A person climbs a steep rock wall.", "A chef slices vegetables.", "Children run through a sprinkler.",
    "A horse grazes in a field.", "A woman in a blue jacket waits for the bus.", "Three men play basketball.",
    "A small brown dog carries a ball.", "A couple walks along the beach at sunset.", "Fireworks light up the night sky.",
    "A skier speeds down a snowy slope.", "A musician plays the guitar on stage.", "café crème brûlée",
    "Zürich and São Paulo", "你好，世界", "emoji 😀 in a caption", "UPPERCASE WORDS ONLY", "punctuation!!! ???",
    "", "a", "the the the the", "A very long caption " + "that keeps going " * 12 + "and ends.",
    "A blue square below a red circle.", "a large orange diamond to the left of a pink heart",
    "A tiny black cross.", "two white stars", "A brown circle next to a green square.",
    "An unusual sentence with supercalifragilisticexpialidocious in it.", "Numbers: 1, 2, 3, 1000, 3.14",
    "A man in a red shirt is climbing a rock.", "A dog is running.", "A cat is sleeping.", "A car drives fast.",
    "Someone plays the piano.", "A bird flies over the lake.", "Snow covers the trees.",
    "Kids build a sandcastle.", "A woman jogs with her dog.", "A yellow taxi in the rain.",
    "Astronauts float in space.", "Bread and cheese on a table.", "The end.",
]


def main() -> None:
    seed_everything(0)
    t = {}
    config = BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu",
                        layer_norm_eps=1e-12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertModel(config, add_pooling_layer=True).eval()
    with torch.no_grad():
        for p in model.parameters():  # make LayerNorms and biases non-trivial
            p.add_(0.05 * torch.randn_like(p))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(FIXTURES, "ch05-bert-small-weights.safetensors"), metadata={"format_version": "1"})
    with open(os.path.join(FIXTURES, "ch05-bert-small-config.json"), "w") as f:
        f.write(config.to_json_string())
    ids = torch.randint(1, 1000, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.int64)
    mask[1, 5:] = 0
    ids[1, 5:] = 0
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    t["small.input_ids"], t["small.attention_mask"] = ids, mask
    t["small.embeddings"] = out.hidden_states[0]
    for i, h in enumerate(out.hidden_states[1:]):
        t[f"small.layer{i}"] = h
    hidden = out.last_hidden_state
    m = mask.unsqueeze(-1).float()
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    t["small.hidden"], t["small.pooled"] = hidden, pooled
    t["small.embedding"] = torch.nn.functional.normalize(pooled, p=2, dim=1)

    meta = {"minilm_sentences": json.dumps(SENTENCES)}
    minilm = os.environ.get("CLIP_MINILM_DIR", os.path.expanduser("~/.cache/clip-swift/all-MiniLM-L6-v2"))
    if os.path.exists(os.path.join(minilm, "model.safetensors")):
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer import modules as models

        word = models.Transformer(minilm, max_seq_length=256)
        st = SentenceTransformer(modules=[word, models.Pooling(word.get_embedding_dimension(), "mean"), models.Normalize()])
        t["minilm.embeddings"] = torch.from_numpy(st.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True))
        meta["minilm_max_seq_length"] = "256"
    else:
        print("MiniLM not found: run bash Scripts/fetch-minilm.sh for the minilm.* fixtures")
    save_fixture("ch05-bert", t, meta)


if __name__ == "__main__":
    main()
