"""Chapter 11 reference: the CLIP BPE tokenizer, open_clip's and Hugging Face's, on 5,000+ awkward strings.

Writes
  Assets/clip-bpe-merges.txt           the merge list CLIP's vocabulary is built from: a "#version: 0.2" line,
                                       then the first 48,894 merges of open_clip's bpe_simple_vocab_16e6.txt.gz
                                       (byte for byte; the rest of that file is never read by either reference)
  Tests/Fixtures/ch11-tokenizer.jsonl  one JSON object per string:
      {"text": ..., "ids": [...]}      open_clip's SimpleTokenizer.encode (no start/end, not truncated)
      "row": [...]                     for a few strings: open_clip's tokenize() row, 77 ids with padding
      "hf": [...]                      Hugging Face's CLIPTokenizer ids without <|startoftext|>/<|endoftext|>,
                                       present only where they differ from open_clip's
      "mojibake": true                 where ftfy's fix_encoding changes the text (the one ftfy step not ported),
      "unfixed": [...]                 with open_clip's ids when its ftfy runs with fix_encoding=False
Run: python Scripts/reference/ch11_tokenizer.py   (needs open-clip-torch 3.3.0 and ftfy 6.3.1, see requirements.txt)
"""
import gzip
import json
import os
import random

import ftfy
import open_clip
from open_clip.tokenizer import SimpleTokenizer, default_bpe
from transformers import CLIPTokenizer

from ch04_tokenizer import corpus as bert_corpus
from common import FIXTURES, REPO

MERGES = 49152 - 256 - 2

CLIP_SPECIAL = [
    # ftfy's fixes, one by one
    "don\u2019t stop", "\u201cquoted\u201d", "it\u02bcs", "\u2018single\u2019", "\u201e low \u201f",
    "\ufb01sh \ufb02ower \ufb03ce \ufb06op", "\u0132sselmeer \u01c4 \u01c9", "\uff21\uff22\uff23 \uff44\uff45\uff46 \uff11\uff12\uff13",
    "\uff01\uff1f\uff08\uff09", "\uff76\uff80\uff76\uff85 \uff8a\uff9f", "ideographic\u3000space", "c1 \x80 euro \x85 ellipsis \x92 quote",
    "\x1b[36;44mblue\x1b[0m text", "\x1b[1mbold", "ctrl \x01\x02\x0b\x0e\x1f\x7f end", "bom\ufeffin", "arabic\u206acontrol",
    "obj\ufffcect", "line\r\nbreaks\rand\u2028more\u2029", "e\u0301 a\u0308 n\u0303", "\u212b\u2126",
    # HTML entities: ftfy's strict pass, then html.unescape twice
    "fish &amp; chips", "&lt;b&gt;bold&lt;/b&gt;", "it&#39;s", "&#x27;hex&#X27;", "caf&eacute;", "CAF&EACUTE;",
    "&NTILDE; &ntilde; &nTILDE;", "&amp;amp;", "&amp;amp;amp;", "&nbsp;space", "&nbsp space", "&ampx", "&notit;",
    "&copy 2024", "&euro;5", "&hellip;", "&mdash;&ndash;", "&#0;", "&#128;", "&#150;", "&#xD800;", "&#1114112;",
    "&#99999999999;", "&#65;&#66", "&unknown;", "&;", "&#;", "& amp;", "a <b> &amp; c", "<html>&amp;</html>",
    "&Jscr;ohn", "&checkmark;", "&SZLIG;", "&quot;hi&quot;", "&apos;", "&#x1F600;", "&gt&lt",
    # contractions and their edges
    "I'll we've they're she's can't I'd I'm", "I'LL WE'VE", "'s 't 're", "'''", "rock'n'roll", "o'clock's",
    "x's'", "'ll'll", "dog\u2019s", "\u2019s",
    # the special tokens spelled out, the way open_clip and Hugging Face each match them
    "<start_of_text>", "a <end_of_text> b", "<|startoftext|>", "<|endoftext|> tail", "<START_OF_TEXT>",
    # final sigma and other case mappings
    "ΟΔΥΣΣΕΥΣ", "ΣΑΣ Σ", "AΣ.", "Σ", "ΑΣ'Β", "\u0130stanbul", "\u1e9e", "\u01c5", "ǅungla",
    # numbers and digit runs
    "2024", "3.14", "١٢٣٤", "½¾", "x²y³", "ⅫⅣ", "①②", "10,000,000",
    # long texts around the 75-piece cut
    " ".join(["photo"] * 74), " ".join(["photo"] * 75), " ".join(["photo"] * 76), " ".join(["word"] * 200),
    "a" * 300, "😀" * 40, "日本" * 60,
    # found by a hostile review: IGNORECASE contractions, ftfy's per-line "<" rule
    "dog'\u017f bone", "'\ufb05", "'\u017f't", "&amp;amp;amp;\n<b>", "a &amp; b\nc <d> &amp;\n&amp; e", "<i>\n&amp;",
    # long texts: the 75-token cut is found without cleaning everything (a space, a line, a "<" later in the line)
    ("word &amp; " * 700) + "<b> end", ("x" * 5000) + " tail &amp;", ("caf\u00e9 " * 1500) + "\n&lt;" * 3,
    # mojibake, which only ftfy's fix_encoding repairs
    "caf\u00c3\u00a9", "\u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d", "The Mona Lisa doesn\u00e2\u20ac\u2122t have eyebrows.",
    "\u00c3\u00a0 la mode", "s\u00c3\u00b3",
]


def main() -> None:
    rng = random.Random(11)
    texts = list(CLIP_SPECIAL) + bert_corpus(random.Random(42))
    # More CLIP-style prompts: the templates and class names chapter 11 uses.
    classes = [line.strip() for line in open(os.path.join(REPO, "Assets", "imagenet-classes.txt")) if line.strip()]
    templates = ["a photo of a {}.", "a bad photo of the {}.", "a sculpture of a {}.", "itap of my {}.", "a {} in a video game.",
                 "art of the {}.", "a photo of the small {}.", "a origami {}.", "a low resolution photo of the {}."]
    for _ in range(800):
        texts.append(rng.choice(templates).format(rng.choice(classes)))
    tok = SimpleTokenizer()
    assert tok(["A photo of a Dog!"])[0][:8].tolist() == [49406, 320, 1125, 539, 320, 1929, 256, 49407]

    # The merge list, as open_clip reads it: line 0 is a header, lines 1 … 48,894 the merges.
    with gzip.open(default_bpe()) as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = lines[1:MERGES + 1]
    assert len(merges) == MERGES and all(len(m.split(" ")) == 2 for m in merges)
    with open(os.path.join(REPO, "Assets", "clip-bpe-merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")

    # Hugging Face's tokenizer over the same vocabulary: vocab.json's mapping is open_clip's encoder with the
    # special tokens spelled the Hugging Face way. (transformers 5 builds its tokenizers-backed CLIPTokenizer
    # from `vocab=` and `merges=`; `vocab_file=` is ignored there.)
    names = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {names.get(k, k): v for k, v in tok.encoder.items()}
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407 and len(vocab) == 49408
    hf = CLIPTokenizer(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges])
    assert hf("A photo of a Dog!")["input_ids"] == [49406, 320, 1125, 539, 320, 1929, 256, 49407]
    rows, differ, mojibake = 0, 0, 0
    path = os.path.join(FIXTURES, "ch11-tokenizer.jsonl")
    with open(path, "w") as out:
        for i, text in enumerate(texts):
            entry = {"text": text, "ids": tok.encode(text)}
            if i < len(CLIP_SPECIAL) or i % 500 == 0:
                entry["row"] = tok([text])[0].tolist()
                rows += 1
            theirs = hf(text)["input_ids"]
            assert theirs[0] == 49406 and theirs[-1] == 49407
            if theirs[1:-1] != entry["ids"]:
                entry["hf"] = theirs[1:-1]
                differ += 1
            if ftfy.fix_text(text) != ftfy.fix_text(text, fix_encoding=False):
                entry["mojibake"] = True
                mojibake += 1
                fix_text = open_clip.tokenizer.ftfy.fix_text
                open_clip.tokenizer.ftfy.fix_text = lambda t: fix_text(t, fix_encoding=False)
                try:
                    entry["unfixed"] = SimpleTokenizer().encode(text)
                finally:
                    open_clip.tokenizer.ftfy.fix_text = fix_text
            out.write(json.dumps(entry, ensure_ascii=True) + "\n")
    print(f"wrote {path}: {len(texts)} strings, {rows} with a 77-id row, {differ} where Hugging Face differs from open_clip, "
          f"{mojibake} with mojibake")


if __name__ == "__main__":
    main()
