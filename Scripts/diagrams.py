"""Draws the walkthroughs' diagrams as SVG into Walkthroughs/images/diagram-*.svg (standard library only):

    python3 Scripts/diagrams.py

clip-overview     two towers → heads → the N × N matrix → the loss, both directions (chapters 06, 07)
blocks            ViT's pre-norm block beside BERT's post-norm layer (chapters 03, 05)
data-parallel     two ranks: local forward, all-gather, the whole batch's loss, gradient sum (chapter 10)
chapters          which chapter builds on which (README)

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
    d = Diagram(960, 300, "Which chapter builds on which")
    pos = {"01": (30, 70, "patches", "image"), "02": (30, 170, "attention", "plain"), "04": (30, 245, "tokenizer", "text"),
           "03": (190, 110, "ViT", "image"), "05": (190, 230, "BERT", "text"), "06": (350, 170, "projection", "shared"),
           "07": (500, 170, "contrastive loss", "loss"), "08": (650, 170, "training", "plain"),
           "09": (800, 230, "zero-shot", "shared"), "10": (800, 100, "distributed", "plain")}
    for k, (x, y, name, kind) in pos.items():
        d.box(x, y, 130, 40, f"{k} {name}", kind)
    for a, b in [("01", "03"), ("02", "03"), ("02", "05"), ("04", "05"), ("03", "06"), ("05", "06"), ("06", "07"), ("07", "08"),
                 ("08", "09"), ("08", "10")]:
        d.arrow(pos[a][0] + 130, pos[a][1] + 20, pos[b][0] - 2, pos[b][1] + 20)
    d.write("chapters")


if __name__ == "__main__":
    clip_overview()
    blocks()
    data_parallel()
    chapters()
    print("wrote", ", ".join(sorted(f for f in os.listdir(OUT) if f.startswith("diagram-"))))
