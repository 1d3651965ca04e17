"""Chapter 04 reference: HF BertTokenizerFast ids for a corpus of awkward strings.

Writes Tests/Fixtures/ch04-tokenizer.jsonl, one JSON object per line:
  {"text": ..., "ids": [...]}                     add_special_tokens=True, no truncation
  {"text": ..., "ids": [...], "max_length": 16}   truncation=True, max_length=16
and Tests/Fixtures/ch04-tokenizer-batch.json (a padded batch with attention mask).
The vocabulary is Assets/bert-base-uncased-vocab.txt (the same file all-MiniLM-L6-v2 ships).
Run: python Scripts/reference/ch04_tokenizer.py
"""
import json
import os
import random

from transformers import BertTokenizerFast

from common import FIXTURES, REPO

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white", "pink", "brown"]
SHAPES = ["circle", "square", "triangle", "star", "hexagon", "heart", "diamond", "cross"]
SUBJECTS = ["A dog", "Two children", "A man in a red shirt", "A woman", "Three people", "A brown dog",
            "A little girl", "A group of young men", "An elderly couple", "A cyclist", "The cat"]
VERBS = ["is running through", "jumps over", "sits beside", "plays in", "walks along", "looks at",
         "is standing near", "rides past", "climbs", "waits outside"]
PLACES = ["the grass.", "a fountain", "the snowy hill!", "a busy street", "the beach at sunset", "a wooden fence",
          "the kitchen table", "an old building", "the river bank", "a crowded market"]
SPECIAL = [
    "", " ", "   ", "\t\n\r", "\u00a0", "\u3000", "\u2028", "hello", "Hello, World!", "HELLO WORLD",
    "café", "naïve résumé", "Ångström", "São Paulo", "Zürich", "crème brûlée", "façade", "coöperate",
    "e\u0301", "n\u0303", "a\u0308\u0304", "İstanbul", "ıi", "straße", "ǅ ǈ ǋ", "ΣΊΣΥΦΟΣ", "ὈΔΥΣΣΕΎΣ",
    "ﬁligree ﬂow", "ＡＢＣ ｄｅｆ １２３", "²³ ½ ⅓ Ⅻ", "℃ ℉ № ™ ©", "你好，世界！", "我爱北京天安门",
    "日本語のテキスト", "カタカナ ひらがな", "한국어 텍스트", "中文English混合", "豈 更 車", "𠀀𠀁 𪜀 𫝀 𫠠 𬺰 丽",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Привет, мир!", "Γειά σου Κόσμε",
    "😀 😃 😄", "👍🏽 family: 👨‍👩‍👧‍👦", "🇫🇷🇩🇪", "❤️ ☀️ ✔️", "a\u200bb", "zero\u200dwidth\u200cjoiner", "\ufeffBOM",
    "soft\u00adhyphen", "rtl\u202emark\u202c", "ctrl\u0001\u0002\u0003chars", "nul\u0000byte", "bell\u0007",
    "del\u007f", "c1\u0085next\u0080", "replacement\ufffdchar", "private\ue000use", "tab\there", "new\nline",
    "...", "!!!", "?!?!", "---", "--->", "<<>>", "(((nested)))", "[[brackets]]", "{curly}", "\"quoted\"",
    "'single'", "`back`", "a.b.c", "e-mail", "don't", "it's", "U.S.A.", "$100.00", "€50", "£20", "¥1000",
    "50%", "#hashtag", "@mention", "a+b=c", "x^2", "a|b", "~tilde", "under_score", "back\\slash",
    "«guillemets»", "„Anführungszeichen“", "— em dash —", "… ellipsis", "·middle·dot", "¿Qué?", "¡Hola!",
    "3.14159", "1,000,000", "2024-05-17", "12:30pm", "1st 2nd 3rd 4th", "007", "0x1F600", "1e-10",
    "[CLS]", "[SEP]", "[MASK] is masked", "[mask] lower", "a[SEP]b", "[PAD][UNK]", "[CLS ]", "[[CLS]]",
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "antidisestablishmentarianism", "unbelievably", "tokenization", "preprocessing", "transformer",
    "a" * 99, "a" * 100, "a" * 101, "b" * 250, "xy" * 51, "é" * 100, "é" * 101, "中" * 150,
    "word " * 200, "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX",
    "http://example.com/path?q=1&r=2", "user@example.com", "C:\\Windows\\System32", "<html><body>",
    "multiple     spaces", " leading", "trailing ", "\u2003em\u2002spaces\u2009thin",
]
WORDS = ["photo", "running", "jumped", "happily", "unhappiness", "blueish", "circles", "squared", "triangular",
         "starry", "images", "captions", "zero-shot", "learning", "contrastive", "embeddings", "encoder",
         "café", "naïve", "日本", "😀", "1,234", "x", "the", "of", "and", "ZEBRA", "Qu'est-ce", "ÉCOLE"]


def corpus(rng: random.Random) -> list:
    texts = list(SPECIAL)
    for _ in range(2500):
        texts.append(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(PLACES)}")
    for _ in range(1200):
        size = rng.choice(["small", "large", "tiny", "big", ""])
        a = f"a {size} {rng.choice(COLOURS)} {rng.choice(SHAPES)}".replace("  ", " ")
        b = f"a {rng.choice(COLOURS)} {rng.choice(SHAPES)}"
        rel = rng.choice(["above", "below", "to the left of", "to the right of", "next to"])
        texts.append(rng.choice([a, f"{a} {rel} {b}", f"A photo of {a}.", f"{a.upper()}!", f"{a}, {b}; and more..."]))
    pool = WORDS + SPECIAL[7:120]
    for _ in range(1400):
        n = rng.randint(1, 12)
        sep = rng.choice([" ", "", "  ", "\t", ", ", "-", "\u3000"])
        texts.append(sep.join(rng.choice(pool) for _ in range(n)))
    for _ in range(300):  # random code points from assigned, stable blocks
        chars = []
        for _ in range(rng.randint(1, 20)):
            lo, hi = rng.choice([(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x4E00, 0x4EFF),
                                 (0x3040, 0x30FF), (0xAC00, 0xAC80), (0x2000, 0x206F), (0x1F600, 0x1F64F)])
            chars.append(chr(rng.randint(lo, hi)))
        texts.append("".join(chars))
    return texts


def main() -> None:
    rng = random.Random(42)
    vocab = os.path.join(REPO, "Assets", "bert-base-uncased-vocab.txt")
    tok = BertTokenizerFast(vocab=vocab, do_lower_case=True)  # transformers 5: `vocab=`, the Rust tokenizers backend
    assert tok("Hello, World! [MASK] café")["input_ids"] == [101, 7592, 1010, 2088, 999, 103, 7668, 102]
    texts = corpus(rng)
    path = os.path.join(FIXTURES, "ch04-tokenizer.jsonl")
    with open(path, "w") as f:
        for text in texts:
            ids = tok(text, add_special_tokens=True)["input_ids"]
            f.write(json.dumps({"text": text, "ids": ids}, ensure_ascii=True) + "\n")
        for text in texts[::7]:
            ids = tok(text, add_special_tokens=True, truncation=True, max_length=16)["input_ids"]
            f.write(json.dumps({"text": text, "ids": ids, "max_length": 16}, ensure_ascii=True) + "\n")
    print(f"wrote {os.path.relpath(path, REPO)}: {len(texts)} texts + {len(texts[::7])} truncated")
    batch_texts = ["A dog runs.", "Two children play in the snowy park near a frozen lake.", "", "café ☕"]
    enc = tok(batch_texts, padding=True, truncation=True, max_length=128)
    with open(os.path.join(FIXTURES, "ch04-tokenizer-batch.json"), "w") as f:
        json.dump({"texts": batch_texts, "input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                   "token_type_ids": enc["token_type_ids"]}, f, ensure_ascii=True)


if __name__ == "__main__":
    main()
