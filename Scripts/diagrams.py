"""Draws the walkthroughs' diagrams as SVG into Walkthroughs/images/diagram-*.svg (standard library only):

    python3 Scripts/diagrams.py

clip-overview     two towers → heads → the N × N matrix → the loss, both directions (chapters 06, 07)
blocks            ViT's pre-norm block beside BERT's post-norm layer (chapters 03, 05)
data-parallel     two ranks: local forward, all-gather, the whole batch's loss, gradient sum (chapter 10)
chapters          which chapter builds on which (README)
qkv-heads         the fused qkv row: Q | K | V, each split into head slices; one head's three slices (chapter 02)
causal-mask       which keys each query may see in OpenAI's text tower, and where the feature is read (chapters 02, 11)
bpe-merges        one word through CLIP's real merge table, merge by merge (chapter 11)
gemm-packing      B cut into KC × NR panels and A into MR × KC slivers, copied contiguous (GEMM.md)
register-tile     one step of p in the 8 × 32 micro-kernel: a broadcast, two loads, sixteen FMAs (GEMM.md)
backward-by-hand  the worked example of chapter 07 as a micrograd graph: each node's value and gradient (chapter 07)

Every diagram carries class="diagram" and a class="title" element, which ChartTests checks.
"""
import html
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Walkthroughs", "images")
COLOURS = {"image": "#dbe8fb", "text": "#fde5cf", "shared": "#e3f1dd", "loss": "#f9d9d9", "plain": "#f2f2f2"}


class Diagram:
    def __init__(self, width, height, title):
        self.w, self.h = width, height
        self.parts = [f'<text class="title" x="{width / 2}" y="26" text-anchor="middle" font-size="15" font-weight="bold">'
                      f"{html.escape(title)}</text>"]

    def box(self, x, y, w, h, label, kind="plain", sub=None):
        self.parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{COLOURS[kind]}" stroke="#555"/>')
        ty = y + h / 2 + (0 if sub else 4)
        self.parts.append(f'<text x="{x + w / 2}" y="{ty}" text-anchor="middle" font-size="12">{html.escape(label)}</text>')
        if sub:
            self.parts.append(f'<text x="{x + w / 2}" y="{ty + 15}" text-anchor="middle" font-size="10" fill="#555">'
                              f"{html.escape(sub)}</text>")

    def arrow(self, x1, y1, x2, y2, label=None, dashed=False):
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        self.parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#444" stroke-width="1.4" '
                          f'marker-end="url(#head)"{dash}/>')
        if label:
            self.parts.append(f'<text x="{(x1 + x2) / 2 + 5}" y="{(y1 + y2) / 2 - 4}" font-size="10" fill="#333">'
                              f"{html.escape(label)}</text>")

    def text(self, x, y, s, size=11, anchor="start", colour="#333"):
        self.parts.append(f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="{size}" fill="{colour}">{html.escape(s)}</text>')

    def cell(self, x, y, w, h, fill, label=None, size=10, colour="#222", stroke="#777"):
        self.parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}" stroke="{stroke}" stroke-width="0.8"/>')
        if label is not None:
            self.parts.append(f'<text x="{x + w / 2}" y="{y + h / 2 + size / 3}" text-anchor="middle" font-size="{size}" '
                              f'fill="{colour}">{html.escape(label)}</text>')

    def write(self, name):
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" width="{self.w}" height="{self.h}" '
               f'viewBox="0 0 {self.w} {self.h}" font-family="Helvetica, Arial, sans-serif">\n'
               '<defs><marker id="head" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
               '<path d="M0,0 L8,4 L0,8 z" fill="#444"/></marker></defs>\n'
               f'<rect width="{self.w}" height="{self.h}" fill="white"/>\n' + "\n".join(self.parts) + "\n</svg>\n")
        with open(os.path.join(OUT, f"diagram-{name}.svg"), "w", encoding="utf-8") as f:
            f.write(svg)


def clip_overview():
    d = Diagram(880, 330, "CLIP: two towers, two heads, one N × N matrix, a loss in both directions")
    d.box(20, 60, 120, 44, "N images", "image", "(N, 3, 224, 224)")
    d.box(170, 60, 150, 44, "image tower", "image", "ViT-B/16 (ch. 01–03)")
    d.box(350, 60, 140, 44, "image head", "image", "→ 512, L2 norm (ch. 06)")
    d.box(20, 230, 120, 44, "N captions", "text", "token ids (ch. 04)")
    d.box(170, 230, 150, 44, "text tower", "text", "BERT, mean pool (ch. 05)")
    d.box(350, 230, 140, 44, "text head", "text", "→ 512, L2 norm (ch. 06)")
    for y in (82, 252):
        d.arrow(140, y, 168, y)
        d.arrow(320, y, 348, y)
    d.arrow(490, 90, 548, 125)
    d.text(500, 125, "Î (N, 512)", 10)
    d.arrow(490, 244, 548, 210)
    d.text(500, 212, "T̂ (N, 512)", 10)
    x0, y0, c = 555, 110, 22  # the matrix
    for i in range(5):
        for j in range(5):
            fill = "#4a7bd0" if i == j else "#e8eef8"
            d.parts.append(f'<rect x="{x0 + j * c}" y="{y0 + i * c}" width="{c}" height="{c}" fill="{fill}" stroke="white"/>')
    d.text(x0 + 55, y0 - 14, "Z = exp(s) · Î·T̂ᵀ  (N × N)", 11, "middle")
    d.text(x0 + 55, y0 + 5 * c + 16, "diagonal = true pairs", 10, "middle", "#555")
    d.box(715, 62, 150, 48, "rows: image → text", "loss", "CE(Z, diagonal)")
    d.box(715, 212, 150, 48, "columns: text → image", "loss", "CE(Zᵀ, diagonal)")
    d.arrow(667, 130, 713, 95)
    d.arrow(667, 190, 713, 228)
    d.text(790, 160, "loss = ½ (rows + columns)", 11, "middle")
    d.text(790, 176, "(ch. 07)", 10, "middle", "#555")
    d.write("clip-overview")


def blocks():
    d = Diagram(700, 430, "ViT's pre-norm block (chapter 03) beside BERT's post-norm layer (chapter 05)")
    for x, title in [(60, "ViT block: norm first"), (400, "BERT layer: norm after the sum")]:
        d.text(x + 120, 56, title, 12, "middle")
    # pre-norm: x → LN → attn → (+) → LN → MLP → (+)
    x = 60
    d.box(x + 60, 70, 120, 30, "x (residual stream)", "plain")
    d.box(x + 60, 120, 120, 30, "LayerNorm", "shared")
    d.box(x + 60, 165, 120, 30, "attention", "image")
    d.box(x + 95, 210, 50, 26, "+", "plain")
    d.box(x + 60, 255, 120, 30, "LayerNorm", "shared")
    d.box(x + 60, 300, 120, 30, "MLP (GELU)", "image")
    d.box(x + 95, 345, 50, 26, "+", "plain")
    for y1, y2 in [(100, 118), (150, 163), (195, 208), (236, 253), (285, 298), (330, 343)]:
        d.arrow(x + 120, y1, x + 120, y2)
    d.parts.append(f'<path d="M{x + 60},85 C{x},85 {x},223 {x + 93},223" fill="none" stroke="#888" stroke-dasharray="5 3" marker-end="url(#head)"/>')
    d.parts.append(f'<path d="M{x + 95},236 C{x},236 {x},358 {x + 93},358" fill="none" stroke="#888" stroke-dasharray="5 3" marker-end="url(#head)"/>')
    d.text(x - 50, 160, "skip: untouched", 10)
    d.text(x + 120, 395, "the stream grows; each sub-layer reads a normalised copy", 10, "middle", "#555")
    # post-norm: x → attn → (+) → LN → MLP → (+) → LN
    x = 400
    d.box(x + 60, 70, 120, 30, "x", "plain")
    d.box(x + 60, 120, 120, 30, "attention", "text")
    d.box(x + 95, 165, 50, 26, "+", "plain")
    d.box(x + 60, 210, 120, 30, "LayerNorm", "shared")
    d.box(x + 60, 255, 120, 30, "MLP (GELU)", "text")
    d.box(x + 95, 300, 50, 26, "+", "plain")
    d.box(x + 60, 345, 120, 30, "LayerNorm", "shared")
    for y1, y2 in [(100, 118), (150, 163), (191, 208), (240, 253), (285, 298), (326, 343)]:
        d.arrow(x + 120, y1, x + 120, y2)
    d.parts.append(f'<path d="M{x + 60},85 C{x},85 {x},178 {x + 93},178" fill="none" stroke="#888" stroke-dasharray="5 3" marker-end="url(#head)"/>')
    d.parts.append(f'<path d="M{x + 60},225 C{x},225 {x},313 {x + 93},313" fill="none" stroke="#888" stroke-dasharray="5 3" marker-end="url(#head)"/>')
    d.text(x + 120, 395, "every output is normalised; the skip passes through each LayerNorm", 10, "middle", "#555")
    d.write("blocks")


def data_parallel():
    d = Diagram(1070, 330, "Chapter 10: two ranks, one global batch, identical replicas")
    for r, y in [(0, 60), (1, 226)]:
        d.text(20, y - 8, f"rank {r}", 12)
        d.box(20, y, 120, 44, "its 16 pairs", "plain", f"rows {r * 16}–{r * 16 + 15} of 32")
        d.box(160, y, 120, 44, "forward", "image", "a full replica")
        d.box(300, y, 110, 44, "Î, T̂ (16, P)", "shared")
        d.arrow(140, y + 22, 158, y + 22)
        d.arrow(280, y + 22, 298, y + 22)
        d.box(620, y, 130, 44, "backward", "image", "its rows of dÎ, dT̂")
        d.box(950, y, 100, 44, "AdamW", "plain", "the same update")
    d.box(430, 138, 170, 54, "all-gather → (32, P)", "loss", "the 32 × 32 loss, on each rank")
    d.arrow(410, 82, 470, 136, dashed=True)
    d.arrow(410, 248, 470, 194, dashed=True)
    d.arrow(600, 150, 640, 106)
    d.arrow(600, 180, 640, 224)
    d.box(775, 138, 150, 54, "gradient sum", "loss", "reduce + broadcast, 20.1 MB")
    d.arrow(750, 82, 800, 136, dashed=True)
    d.arrow(750, 248, 800, 194, dashed=True)
    d.arrow(925, 150, 960, 106)
    d.arrow(925, 180, 960, 224)
    d.text(535, 310, "dashed: messages between the ranks; solid: work on each rank", 10, "middle", "#555")
    d.write("data-parallel")


def chapters():
    d = Diagram(960, 390, "Which chapter builds on which")
    pos = {"00": (30, 45, "Swift for PyTorch", "plain"),
           "01": (30, 120, "patches", "image"), "02": (30, 220, "attention", "plain"), "04": (30, 295, "tokenizer", "text"),
           "03": (190, 160, "ViT", "image"), "05": (190, 280, "BERT", "text"), "06": (350, 220, "projection", "shared"),
           "07": (500, 220, "contrastive loss", "loss"), "08": (650, 220, "training", "plain"),
           "09": (800, 280, "zero-shot", "shared"), "10": (800, 150, "distributed", "plain"),
           "11": (650, 330, "OpenAI's CLIP", "shared")}
    for k, (x, y, name, kind) in pos.items():
        d.box(x, y, 130, 40, f"{k} {name}", kind)
    for a, b in [("01", "03"), ("02", "03"), ("02", "05"), ("04", "05"), ("03", "06"), ("05", "06"), ("06", "07"), ("07", "08"),
                 ("08", "09"), ("08", "10")]:
        d.arrow(pos[a][0] + 130, pos[a][1] + 20, pos[b][0] - 2, pos[b][1] + 20)
    d.arrow(95, 85, 95, 118)  # 00 → 01: the Swift the chapters are written in
    d.arrow(715, 260, 715, 328)  # 08 → 11: the same training step, OpenAI's towers
    d.arrow(800, 310, 782, 340)  # 09 → 11: zero-shot and search with OpenAI's model
    d.write("chapters")


HEADS = ["#cfe0fa", "#fbe0c4", "#d7efcf"]  # head 0, 1, 2


def qkv_heads():
    d = Diagram(900, 340, "Chapter 02: heads are column slices of the fused qkv output")
    d.text(20, 62, "one token's row of qkv = x · W_qkvᵀ  (width 3D; here D = 6, H = 3 heads, Dh = 2)", 12)
    x0, y0, w = 20, 76, 38
    for part, name in enumerate("QKV"):
        for c in range(6):
            h = c // 2
            d.cell(x0 + (part * 6 + c) * w, y0, w, 30, HEADS[h], f"{name}{c}")
        d.text(x0 + part * 6 * w + 3 * w, y0 + 48, f"{name}: columns " + ["0 ..< D", "D ..< 2D", "2D ..< 3D"][part], 11, "middle")
    # head 1's slices gathered below
    y1 = 200
    d.text(20, y1 + 80, "head 1 reads columns Dh ..< 2·Dh of each part — no copy: a pointer and a row stride of 3D", 12)
    for part, name in enumerate("QKV"):
        bx = 120 + part * 250
        for c in range(2):
            d.cell(bx + c * w, y1, w, 30, HEADS[1], f"{name}{2 + c}")
        d.arrow(x0 + (part * 6 + 2) * w + w, y0 + 32, bx + w, y1 - 2)
        d.text(bx + w, y1 + 48, ["Q_1 (N × Dh)", "K_1 (N × Dh)", "V_1 (N × Dh)"][part], 11, "middle")
    d.text(450, 325, "colour = head; the H heads run in parallel, and their outputs fill the same columns of the context", 10, "middle", "#555")
    d.write("qkv-heads")


def causal_mask():
    tokens = ["<start>", "a", "dog", "on", "grass", "<end>"]
    n, c = len(tokens), 46
    d = Diagram(760, 420, "Chapter 11: the causal mask — token t sees tokens 0…t only")
    x0, y0 = 170, 90
    d.text(x0 + n * c / 2, y0 - 30, "key (the token looked at)", 12, "middle")
    for j, t in enumerate(tokens):
        d.text(x0 + j * c + c / 2, y0 - 8, t, 10, "middle")
    for i, t in enumerate(tokens):
        d.text(x0 - 8, y0 + i * c + c / 2 + 4, t, 10, "end")
        for j in range(n):
            if j <= i:
                d.cell(x0 + j * c, y0 + i * c, c, c, "#cfe0fa" if i < n - 1 else "#9fc2f2", "attend", 9)
            else:
                d.cell(x0 + j * c, y0 + i * c, c, c, "#eeeeee", "−∞", 11, "#999")
    d.text(30, y0 + n * c / 2, "query", 12)
    d.text(x0 + n * c + 20, y0 + 40, "scores of later keys get −∞", 11)
    d.text(x0 + n * c + 20, y0 + 56, "before the softmax: probability 0", 11)
    d.text(x0 + n * c + 20, y0 + (n - 1) * c + 20, "← the feature is read here:", 11)
    d.text(x0 + n * c + 20, y0 + (n - 1) * c + 36, "only <end> has seen every token", 11)
    d.text(380, 400, "BERT (chapter 05) has no such mask: every token sees every other, and the feature is their mean", 10, "middle", "#555")
    d.write("causal-mask")


def bpe_merges(word="photographs"):
    """The merges CLIP's tokenizer applies to one word, read from the real table (Assets/clip-bpe-merges.txt)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Assets", "clip-bpe-merges.txt")
    lines = open(path, encoding="utf-8").read().split("\n")[1:49152 - 256 - 2 + 1]
    rank = {tuple(l.split()): i for i, l in enumerate(lines) if l}
    pieces = list(word[:-1]) + [word[-1] + "</w>"]
    steps = [(None, list(pieces))]
    while len(pieces) > 1:
        pairs = [(rank.get((a, b), 1 << 30), k) for k, (a, b) in enumerate(zip(pieces, pieces[1:]))]
        best, k = min(pairs)
        if best == 1 << 30:
            break
        pieces = pieces[:k] + [pieces[k] + pieces[k + 1]] + pieces[k + 2:]
        steps.append((best, list(pieces)))
    d = Diagram(900, 70 + 34 * len(steps) + 40, f"Chapter 11: BPE on \u201c{word}\u201d — the lowest-ranked adjacent pair merges first")
    y = 60
    for r, ps in steps:
        d.text(20, y + 19, "start: characters" if r is None else f"merge rank {r:,}", 11)
        x = 170
        for piece in ps:
            w = 14 + 9 * len(piece)
            d.cell(x, y, w, 26, "#fde5cf" if piece.endswith("</w>") else "#e3f1dd", piece, 11)
            x += w + 4
        y += 34
    count = len(steps[-1][1])
    d.text(450, y + 16, f"{len(steps) - 1} merges leave {count} token{'' if count == 1 else 's'}; </w> marks the end of a word "
           "(chapter 11 walks the loop in Swift)", 10, "middle", "#555")
    d.write("bpe-merges")


def gemm_packing():
    d = Diagram(940, 430, "GEMM.md: packing — B into KC × NR panels, A into MR × KC slivers, each read in order")
    # B: K x N, blocks of KC rows, panels of NR columns
    bx, by, cw, rh = 40, 80, 22, 18
    d.text(bx, by - 12, "B (K × N), as stored: row after row", 11)
    for r in range(8):
        for c in range(8):
            panel = c // 2
            d.cell(bx + c * cw, by + r * rh, cw, rh, HEADS[panel % 3] if r < 4 else "#f2f2f2")
    d.text(bx + 8 * cw + 8, by + 2 * rh + 4, "← KC rows", 10)
    d.text(bx, by + 8 * rh + 16, "a block of KC rows; a panel = NR columns (colour)", 10)
    d.arrow(bx + 8 * cw + 70, by + 40, 360, by + 40, "copy")
    px = 370
    d.text(px, by - 12, "packed B: each panel contiguous, NR floats for p, then p + 1, …", 11)
    for panel in range(4):
        for r in range(4):
            for c in range(2):
                d.cell(px + (panel * 8 + r * 2 + c) * 16, by + 10, 16, 20, HEADS[panel % 3])
    d.text(px, by + 50, "panel 0 | panel 1 | panel 2 | panel 3  — one stream of memory", 10)
    # A: M x K
    ay = 290
    d.text(bx, ay - 12, "A (M × K): MR rows at a time", 11)
    for r in range(6):
        for c in range(8):
            d.cell(bx + c * cw, ay + r * rh, cw, rh, "#fde5cf" if r < 2 and c < 4 else "#f2f2f2")
    d.text(bx + 8 * cw + 8, ay + rh + 4, "← MR rows", 10)
    d.arrow(bx + 8 * cw + 70, ay + 30, 360, ay + 30, "copy")
    d.text(px, ay - 12, "packed A: the MR values of column p together, then p + 1, …", 11)
    for k in range(4):
        for r in range(2):
            d.cell(px + (k * 2 + r) * 16, ay + 10, 16, 20, "#fde5cf")
    d.text(px, ay + 50, "the micro-kernel reads both packed buffers strictly in order: the prefetcher keeps up", 10)
    d.text(470, 418, "KC × NR of packed B stays in L1 while slivers of A stream past; MC × KC of packed A stays in L2", 10, "middle", "#555")
    d.write("gemm-packing")


def register_tile():
    d = Diagram(900, 400, "GEMM.md: the 8 × 32 register tile (AVX-512) — one step of p")
    x0, y0 = 220, 110
    d.text(x0, y0 - 50, "B[p, 0..<32]: two zmm loads of 16 floats", 11)
    for half in range(2):
        d.cell(x0 + half * 240, y0 - 38, 240, 24, "#d7efcf", f"zmm  B[p, {half * 16}..<{half * 16 + 16}]")
    d.text(30, y0 - 4, "A[0..<8, p]:", 11)
    d.text(30, y0 + 10, "each broadcast", 11)
    d.text(30, y0 + 24, "to 16 lanes", 11)
    for r in range(8):
        d.cell(150, y0 + r * 30, 60, 26, "#fde5cf", f"A[{r}, p]")
        for half in range(2):
            d.cell(x0 + half * 240, y0 + r * 30, 240, 26, "#cfe0fa", f"C[{r}, {half * 16}..<{half * 16 + 16}] += A[{r}, p] · B[p, …]", 10)
    d.text(x0 + 480 + 12, y0 + 110, "16 zmm accumulators", 11)
    d.text(x0 + 480 + 12, y0 + 126, "stay in registers for", 11)
    d.text(x0 + 480 + 12, y0 + 142, "all KC steps of p", 11)
    d.text(450, 370, "per step: 2 loads + 8 broadcasts feed 16 FMAs of 16 lanes (512 flops); AVX2: 6 × 16 with 12 ymm accumulators",
           10, "middle", "#555")
    d.write("register-tile")


def backward_by_hand():
    """Chapter 07's two-pair example as micrograd draws a graph: every node holds its forward value (black)
    and the loss's gradient with respect to it (red), the numbers the walkthrough derives and step 8 prints."""
    d = Diagram(1010, 370, "One backward pass by hand: each node's value, and dL/d(node) in red")

    def node(x, y, w, label, value, grad, kind="plain"):
        d.parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="66" rx="6" fill="{COLOURS[kind]}" stroke="#555"/>')
        d.text(x + w / 2, y + 17, label, 11, "middle", "#222")
        d.text(x + w / 2, y + 36, value, 11, "middle", "#111")
        d.text(x + w / 2, y + 55, grad, 11, "middle", "#c0392b")

    node(15, 55, 175, "image embeddings I", "[[3, 4], [0, 2]]", "[[−.053, .040], [.078, 0]]", "image")
    node(15, 235, 175, "caption embeddings T", "[[1, 0], [0, 3]]", "[[0, −.025], [.050, 0]]", "text")
    node(235, 55, 175, "Î = I / ‖I‖ (rows)", "[[.6, .8], [0, 1]]", "[[−.226, .250], [.156, −.180]]", "image")
    node(235, 235, 175, "T̂ = T / ‖T‖ (rows)", "[[1, 0], [0, 1]]", "[[−.136, −.025], [.150, .020]]", "text")
    node(455, 145, 185, "Z = s · Î · T̂ᵀ", "[[.6, .8], [0, 1]]", "[[−.226, .250], [.156, −.180]]", "shared")
    node(455, 285, 185, "logit_scale (s = e⁰ = 1)", "0", "−0.1154", "shared")
    node(685, 55, 160, "CE over rows", "images → captions .5557", "½", "loss")
    node(685, 235, 160, "CE over columns", "captions → images .5178", "½", "loss")
    node(880, 145, 115, "L = ½ (a + b)", "0.5368", "1", "loss")
    d.arrow(190, 88, 233, 88)
    d.arrow(190, 268, 233, 268)
    d.arrow(410, 100, 453, 165)
    d.arrow(410, 255, 453, 195)
    d.arrow(548, 285, 548, 213)
    d.arrow(640, 165, 683, 100, "softmax rows")
    d.arrow(640, 195, 683, 255, "softmax columns")
    d.arrow(845, 88, 878, 165)
    d.arrow(845, 268, 878, 195)
    d.text(505, 30 + 335, "read right to left: each gradient is its consumer's gradient times a local derivative; "
           "dI ⟂ I on every row (the loss sees directions only)", 10, "middle", "#555")
    d.write("backward-by-hand")


if __name__ == "__main__":
    clip_overview()
    blocks()
    data_parallel()
    chapters()
    qkv_heads()
    causal_mask()
    bpe_merges()
    gemm_packing()
    register_tile()
    backward_by_hand()
    print("wrote", ", ".join(sorted(f for f in os.listdir(OUT) if f.startswith("diagram-"))))
