"""Runs the same workloads with our Swift code and with numpy (OpenBLAS) / PyTorch in one run, on this
machine, with the same thread counts, and prints one table with the ratios.

    python Scripts/bench/compare.py [gemm] [vit] [attention] [attention-core] [minilm] [bert] [clip] [step] [e2e] [memory]
        # builds `bench` in release mode first; with no workload named, runs them all and rewrites
        # this CPU kind's section of BENCHMARKS.md (date, CPU, flags, the table); --no-write prints only

Needs the reference virtual environment (Scripts/reference/requirements.txt). Thread counts are pinned
with threadpoolctl (numpy/OpenBLAS) and torch.set_num_threads. Ratios are ours/theirs in time (lower
is better for us); GFLOP/s counts only the matrix products.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GEMM_SHAPES = [
    (197, 2304, 768, "gemm vit qkv 197x768x2304"),
    (197, 3072, 768, "gemm vit fc1 197x768x3072"),
    (197, 768, 3072, "gemm vit fc2 197x3072x768"),
    (6304, 768, 768, "gemm proj 6304x768x768"),
    (1024, 768, 768, "gemm bert 32x32 1024x768x768"),
    (2048, 2048, 2048, "gemm square 2048^3"),
]
ROWS = []  # (workload, threads, ours s, ref s, ref name, GFLOP or None)
PEAK = {}  # threads -> GFLOP/s of the FMA peak
MICRO = {}  # threads -> GFLOP/s of the GEMM's micro-kernel with its panels in L1


def time_median(fn, min_seconds=0.5, min_runs=3):
    fn()
    times = []
    t0 = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - t0 < min_seconds and len(times) < 200):
        s = time.perf_counter()
        fn()
        times.append(time.perf_counter() - s)
    return statistics.median(times)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def ours(workload, extra=()):
    bench = os.path.join(REPO, ".build", "release", "bench")
    out = subprocess.run([bench, workload, "--threads", "1,2", "--json", *extra], check=True, capture_output=True, text=True)
    return {(r["workload"], r["threads"]): r for r in map(json.loads, out.stdout.splitlines())}


def row(name, threads, t_ours, t_ref, ref_name, gflop=None):
    ROWS.append((name, threads, t_ours, t_ref, ref_name, gflop))
    rate = f"{gflop / t_ours:9.1f}" if gflop else f"{'':9}"
    peak = f"{100 * gflop / t_ours / PEAK[threads]:6.0f}%" if gflop and threads in PEAK else f"{'':7}"
    print(f"{name:32} {threads:>3} {t_ours * 1e3:10.2f} {t_ref * 1e3:10.2f} {ref_name:>8} {t_ours / t_ref:7.2f}x {rate} {peak}", flush=True)


def cpu_kind():
    """(key, title) of this CPU kind: its model name, family/model numbers and widest vector ISA, e.g.
    "AMD EPYC · family 25 model 17 · AVX-512". (VMs often report only "AMD EPYC" as the model name, so the
    numbers are what tell a Zen 4 from a Zen 5.)"""
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if ":" in line:
                name, value = (part.strip() for part in line.split(":", 1))
                info.setdefault(name, value)
    flags = info.get("flags", "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    extra = [f for f in ("avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile") if f in flags]
    model = cpu_model()
    title = (f"{model}, family {info.get('cpu family', '?')} model {info.get('model', '?')}, {isa}"
             + (f" ({', '.join(extra)})" if extra else "") + f", {os.cpu_count()} cores")
    return f"{model} · family {info.get('cpu family', '?')} model {info.get('model', '?')} · {isa}", title


def markdown(versions, memory_rows):
    """This CPU kind's section of BENCHMARKS.md, between its markers."""
    key, title = cpu_kind()
    lines = [
        f"<!-- cpu: {key} -->",
        f"## {title}",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, release build, with `python Scripts/bench/compare.py` "
        "(a run on this CPU kind rewrites this section only).",
        f"Reference: {versions}. Same process run, same machine, same thread counts (1 and 2).",
        "",
        "GFLOP/s counts the matrix products only; % of peak is against the measured FMA peak "
        + ", ".join(f"{PEAK[t]:.0f} GFLOP/s at {t} thread{'s' if t > 1 else ''}" for t in sorted(PEAK)) + " (`bench peak`); "
        "the micro-kernel alone, its panels in L1, runs at " + ", ".join(f"{MICRO[t]:.0f}" for t in sorted(MICRO)) + " GFLOP/s.",
        "",
        "| workload | threads | ours ms | reference ms | reference | ratio | GFLOP/s | % of peak |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, threads, t_ours, t_ref, ref_name, gflop in ROWS:
        rate = f"{gflop / t_ours:.1f}" if gflop else ""
        peak = f"{100 * gflop / t_ours / PEAK[threads]:.0f}%" if gflop and threads in PEAK else ""
        lines.append(f"| {name} | {threads} | {t_ours * 1e3:.2f} | {t_ref * 1e3:.2f} | {ref_name} | {t_ours / t_ref:.2f}× | {rate} | {peak} |")
    if memory_rows:
        lines += ["", "Peak resident memory (one process per measurement, VmHWM; the Python figure includes the "
                  "interpreter and torch's libraries):", "", "| workload | ours MB | torch MB | ratio |", "|---|---:|---:|---:|"]
        for name, mine, ref in memory_rows:
            lines.append(f"| {name} | {mine:.0f} | {ref:.0f} | {mine / ref:.2f}× |")
    lines.append(f"<!-- end cpu: {key} -->")
    return key, "\n".join(lines) + "\n"


def write_section(path, key, section):
    """Replaces this CPU kind's section of BENCHMARKS.md (or adds it before the notes); the other kinds'
    sections and the hand-written notes stay as they are."""
    old = "# Benchmarks\n\n<!-- notes -->\n"
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    begin, end = f"<!-- cpu: {key} -->", f"<!-- end cpu: {key} -->"
    if (begin in old) != (end in old) or (begin in old and old.index(end) < old.index(begin)):
        sys.exit(f"BENCHMARKS.md has a broken section for '{key}' (one marker without the other, or out of order); "
                 f"fix the markers by hand, then rerun. This run's section:\n{section}")
    if begin in old:
        new = old[:old.index(begin)] + section + old[old.index(end) + len(end) + 1:]
    elif "<!-- notes -->" in old:
        new = old[:old.index("<!-- notes -->")] + section + "\n" + old[old.index("<!-- notes -->"):]
    else:
        new = old.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(new)


def clip_onnx_sessions(model):
    """ONNX Runtime sessions (1 and 2 intra-op threads) for a CLIPModel's image and text features, exported
    with torch.onnx.export (TorchScript exporter, opset 17, dynamic batch and length) to a scratch folder;
    each export is checked against the model on one input before it is timed."""
    import onnxruntime as ort
    import torch

    class Features(torch.nn.Module):
        def __init__(self, what):
            super().__init__()
            self.what, self.model = what, model  # a submodule: the exporter keeps its weights as parameters

        def forward(self, x):
            m = self.model
            out = m.get_image_features(pixel_values=x) if self.what == "image" else m.get_text_features(input_ids=x)
            return out if torch.is_tensor(out) else out.pooler_output  # transformers 5: an output object

    folder = "/tmp/clip-bench-onnx"
    os.makedirs(folder, exist_ok=True)
    examples = {"image": torch.randn(2, 3, 224, 224), "text": torch.randint(0, 49000, (2, 12))}
    sessions = {}
    for what, example in examples.items():
        path = os.path.join(folder, f"clip_b32_{what}.onnx")
        name = "pixel_values" if what == "image" else "input_ids"
        axes = {0: "batch"} if what == "image" else {0: "batch", 1: "length"}
        torch.onnx.export(Features(what), (example,), path, input_names=[name], output_names=["features"],
                          dynamic_axes={name: axes}, dynamo=False, opset_version=17)
        for threads in (1, 2):
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            sessions[(what, threads)] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        with torch.no_grad():
            expected = Features(what)(example).numpy()
        got = sessions[(what, 1)].run(None, {name: example.numpy()})[0]
        assert np.abs(got - expected).max() < 1e-4, f"ONNX export of the {what} features differs by {np.abs(got - expected).max()}"
    return sessions


TORCH_MEMORY = """
import sys, torch, timm
torch.set_num_threads(1)
model = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
with torch.no_grad():
    model(torch.randn(int(sys.argv[1]), 3, 224, 224))
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) / 1024)
"""


def main(workloads):
    from threadpoolctl import threadpool_info, threadpool_limits
    import torch

    subprocess.run(["swift", "build", "-c", "release", "--product", "bench"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    print(f"CPU: {cpu_model()}  ·  numpy {np.__version__} ({blas[0].get('internal_api')} {blas[0].get('version')}, "
          f"{blas[0].get('architecture')})  ·  torch {torch.__version__}")
    for (name, threads), r in ours("peak").items():
        if name == "peak fma":
            PEAK[threads] = r["gflops"]
        else:  # the micro-kernel alone in L1: what the GEMM's driver is measured against
            MICRO[threads] = r["gflops"]
    print("FMA peak: " + ", ".join(f"{PEAK[t]:.0f} GFLOP/s at {t} thread(s)" for t in sorted(PEAK))
          + "; micro-kernel in L1: " + ", ".join(f"{MICRO[t]:.0f}" for t in sorted(MICRO)))
    print(f"{'workload':32} {'thr':>3} {'ours ms':>10} {'ref ms':>10} {'ref':>8} {'ratio':>8} {'GFLOP/s':>9} {'%peak':>7}")
    if "gemm" in workloads:
        mine = ours("gemm")
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with threadpool_limits(limits=threads, user_api="blas"):
                for m, n, k, label in GEMM_SHAPES:
                    a = np.random.default_rng(0).uniform(-1, 1, (m, k)).astype(np.float32)
                    b = np.random.default_rng(1).uniform(-1, 1, (n, k)).astype(np.float32)
                    t_np = time_median(lambda: a @ b.T)
                    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                    t_torch = time_median(lambda: ta @ tb.T)
                    t = mine[(label, threads)]["seconds"]
                    row(label, threads, t, t_np, "numpy", 2e-9 * m * n * k)
                    row(label, threads, t, t_torch, "torch", 2e-9 * m * n * k)
    if "vit" in workloads:
        import timm
        mine = ours("vit", ["--batch", "1,8"])
        model = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for batch in (1, 8):
                x = torch.randn(batch, 3, 224, 224)
                with torch.no_grad():
                    t_torch = time_median(lambda: model(x))
                name = f"vit-b/16 forward batch {batch}"
                r = mine[(name, threads)]
                row(name, threads, r["seconds"], t_torch, "torch", r["gflops"] * r["seconds"])

    if "attention" in workloads:
        from timm.models.vision_transformer import Attention

        mine = ours("attention")
        layer = Attention(768, num_heads=12, qkv_bias=True).eval()
        x = torch.randn(1, 197, 768)
        flop = 2e-9 * (197 * 768 * 2304 + 2 * 197 * 197 * 768 + 197 * 768 * 768)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.no_grad():
                t_torch = time_median(lambda: layer(x))
            name = "attention 197 tokens x 12 heads"
            row(name, threads, mine[(name, threads)]["seconds"], t_torch, "torch", flop)

    if "attention-core" in workloads:
        import torch.nn.functional as F

        # The kernels alone: scores, softmax, mix and their backward, from a fused (B, N, 3D) qkv, against
        # torch's scaled_dot_product_attention (its fused CPU kernel), forward and forward + backward.
        mine = ours("attention-core")
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for n, d, h, causal in ((17, 128, 4, False), (65, 128, 4, False), (50, 768, 12, False), (197, 768, 12, False),
                                    (77, 512, 8, True)):
                b, dh = 8, d // h
                qkv = torch.randn(b, n, 3, h, dh).permute(2, 0, 3, 1, 4)
                q, k, v = (t.detach().requires_grad_() for t in qkv.unbind(0))
                dctx = torch.randn(b, h, n, dh)
                with torch.no_grad():
                    t_fwd = time_median(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))

                def both():
                    F.scaled_dot_product_attention(q, k, v, is_causal=causal).backward(dctx)
                t_both = time_median(both)
                label = f"attention core {n} tok x {h}x{dh}{' causal' if causal else ''} b{b}"
                fwd, bwd = mine[(label + " fwd", threads)], mine[(label + " bwd", threads)]
                flop = 2e-9 * 2 * b * n * n * d
                row(label + " fwd", threads, fwd["seconds"], t_fwd, "torch", flop)
                row(label + " fwd+bwd", threads, fwd["seconds"] + bwd["seconds"], t_both, "torch", 3 * flop)
    if "minilm" in workloads or "bert" in workloads:
        from transformers import BertConfig, BertModel

        words = ["a", "dog", "runs", "across", "the", "green", "grass", "while", "two", "children", "play", "in", "snow"]
        sentences = [" ".join(words[(i + j * 7) % len(words)] for j in range(30)) for i in range(32)]
        for name in [w for w in ("minilm", "bert") if w in workloads]:
            directory = os.environ.get("CLIP_MINILM_DIR", os.path.expanduser("~/.cache/clip-swift/all-MiniLM-L6-v2"))
            if name == "minilm" and not os.path.exists(os.path.join(directory, "config.json")):
                # A missing download skips this workload; the rest of the run goes on.
                print(f"{'minilm forward 32x32':32} skipped: no weights in {directory} (bash Scripts/fetch-minilm.sh)")
                continue
            mine = ours(name)
            if name == "minilm":
                from sentence_transformers import SentenceTransformer
                from sentence_transformers.sentence_transformer import modules

                word = modules.Transformer(directory, max_seq_length=256)
                st = SentenceTransformer(modules=[word, modules.Pooling(word.get_embedding_dimension(), "mean"), modules.Normalize()])
                run = lambda: st.encode(sentences, batch_size=32, normalize_embeddings=True)
                ref = "s-t"
            else:
                model = BertModel(BertConfig(), add_pooling_layer=False).eval()
                ids = torch.randint(1000, 2000, (32, 32))

                def run():
                    with torch.no_grad():
                        return model(input_ids=ids).last_hidden_state.mean(1)
                ref = "torch"
            for threads in (1, 2):
                torch.set_num_threads(threads)
                t_ref = time_median(run)
                r = mine[(f"{name} forward 32x32", threads)]
                row(f"{name} forward 32x32", threads, r["seconds"], t_ref, ref, r["gflops"] * r["seconds"])

    if "step" in workloads:
        sys.path.insert(0, os.path.join(REPO, "Scripts", "reference"))
        import math

        import torch.nn.functional as F
        from ch06_projection import ProjectionHead
        from timm.models.vision_transformer import VisionTransformer
        from transformers import BertConfig, BertModel

        mine = ours("step")
        configs = {
            "tiny": (dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, num_classes=10),
                     BertConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                max_position_embeddings=64), 16, 32),
            "vit-b/16+bert-base": (dict(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12, num_classes=1000),
                                   BertConfig(), 512, 224),
        }
        for name, (vit_kwargs, bert_config, proj, size) in configs.items():
            vit = VisionTransformer(**vit_kwargs)
            bert = BertModel(bert_config, add_pooling_layer=False)
            ih, th = ProjectionHead(vit_kwargs["embed_dim"], proj), ProjectionHead(bert_config.hidden_size, proj)
            scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
            params = list(vit.parameters()) + list(bert.parameters()) + list(ih.parameters()) + list(th.parameters()) + [scale]
            pixels = torch.randn(8, 3, size, size)
            ids = torch.randint(1, min(1900, bert_config.vocab_size), (8, 32))

            def run():
                for p in params:
                    p.grad = None
                img = ih(vit.forward_head(vit.forward_features(pixels), pre_logits=True))
                txt = th(F.normalize(bert(input_ids=ids).last_hidden_state.mean(1), dim=-1))
                i, t = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
                logits = scale.exp() * i @ t.t()
                labels = torch.arange(8)
                ((F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2).backward()

            for threads in (1, 2):
                torch.set_num_threads(threads)
                t_ref = time_median(run, min_seconds=1.0)
                label = f"clip {name} fwd+bwd batch 8"
                row(label, threads, mine[(label, threads)]["seconds"], t_ref, "torch")

    if "clip" in workloads:
        # OpenAI's CLIP ViT-B/32 (chapter 11): Hugging Face's CLIPModel, random weights, the same batches.
        import open_clip
        from transformers import CLIPConfig, CLIPModel

        mine = ours("clip-b32")
        model = CLIPModel(CLIPConfig()).eval()
        tokenizer = open_clip.get_tokenizer("ViT-B-32")
        classes = ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead shark", "electric ray", "stingray", "rooster"]
        prompts = [f"a photo of a {classes[i % len(classes)]} number {i}." for i in range(32)]
        onnx_sessions = clip_onnx_sessions(model)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for batch in (1, 32):
                pixels = torch.randn(batch, 3, 224, 224)
                ids = tokenizer(prompts[:batch])
                ids = ids[:, :int(ids.argmax(dim=-1).max()) + 1]  # cut after the last <|endoftext|>, as ours does
                with torch.no_grad():
                    t_image = time_median(lambda: model.get_image_features(pixel_values=pixels))
                    t_text = time_median(lambda: model.get_text_features(input_ids=ids))
                for what, t_ref in (("image", t_image), ("text", t_text)):
                    name = f"clip b/32 {what} features batch {batch}"
                    r = mine[(name, threads)]
                    row(name, threads, r["seconds"], t_ref, "torch", r["gflops"] * r["seconds"] or None)
                # ONNX Runtime on the same weights, exported from the same CLIPModel: often the fastest CPU
                # runtime a user could pick for inference.
                for what, feed in (("image", {"pixel_values": pixels.numpy()}), ("text", {"input_ids": ids.numpy().astype(np.int64)})):
                    session = onnx_sessions[(what, threads)]
                    t_ort = time_median(lambda: session.run(None, feed))
                    name = f"clip b/32 {what} features batch {batch}"
                    r = mine[(name, threads)]
                    row(name, threads, r["seconds"], t_ort, "onnxrt", r["gflops"] * r["seconds"] or None)

    if "e2e" in workloads:
        # As a user with a folder of photos feels it: the marginal time of 32 more photos once the process
        # is running (decode + resize + crop + the image tower), and start-up (process, libraries, weights)
        # as its own row. Each command runs on 8 and on 40 photos, three times each, interleaved; per photo
        # = (median at 40 − median at 8) / 32, start-up = median at 8 − 8 × per photo. One thread is
        # `taskset -c 0` on both sides (both size their thread pools from the CPU affinity).
        #   clip embed-image --vit (ViT-B/16, timm weights)  against  Pillow + timm   (embed_images.py)
        #   clip index --clip (ViT-B/32, a CLIPModel folder)  against  Pillow + open_clip's transform +
        #                                                             Hugging Face's CLIPModel  (index_images.py)
        from PIL import Image
        import timm
        from safetensors.torch import save_file
        from transformers import CLIPConfig, CLIPModel

        work = "/tmp/clip-bench-e2e"
        weights = os.path.join(work, "vit_base_patch16_224.safetensors")
        os.makedirs(work, exist_ok=True)
        if not os.path.exists(weights):
            torch.manual_seed(0)
            save_file(timm.create_model("vit_base_patch16_224", pretrained=False).state_dict(), weights)
        clip_dir = os.path.join(work, "clip-vit-b32-random")
        if not os.path.exists(os.path.join(clip_dir, "model.safetensors")):
            torch.manual_seed(0)
            CLIPModel(CLIPConfig()).save_pretrained(clip_dir, safe_serialization=True)
        source = Image.open(os.path.join(REPO, "Assets", "grace_hopper.jpg")).convert("RGB")
        rng = np.random.default_rng(0)
        folders = {count: os.path.join(work, f"photos{count}") for count in (8, 40)}
        paths = {8: [], 40: []}
        for i in range(40):  # crops of the sample photo at phone-ish sizes, landscape and portrait
            w, h = (640, 480) if i % 2 == 0 else (480, 640)
            x0, y0 = int(rng.integers(0, source.width // 4)), int(rng.integers(0, source.height // 4))
            crop = source.crop((x0, y0, x0 + source.width * 3 // 4, y0 + source.height * 3 // 4)).resize((w, h), Image.BICUBIC)
            for count in (8, 40):
                if i < count:
                    os.makedirs(folders[count], exist_ok=True)
                    path = os.path.join(folders[count], f"photo{i:02d}.jpg")
                    crop.save(path, quality=90)
                    paths[count].append(path)
        clip = os.path.join(REPO, ".build", "release", "clip")
        subprocess.run(["swift", "build", "-c", "release", "--product", "clip"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        embed_twin = os.path.join(REPO, "Scripts", "bench", "embed_images.py")
        index_twin = os.path.join(REPO, "Scripts", "bench", "index_images.py")
        commands = {
            "embed-image --vit (ViT-B/16)": (
                lambda count: [clip, "embed-image", "--vit", weights, "--json", *paths[count]],
                lambda count: [sys.executable, embed_twin, weights, *paths[count]], "timm+PIL"),
            "index --clip (ViT-B/32)": (
                lambda count: [clip, "index", folders[count], "--clip", clip_dir, "--out", os.path.join(work, f"ours{count}.index"),
                               "--overwrite"],
                lambda count: [sys.executable, index_twin, clip_dir, folders[count], os.path.join(work, f"twin{count}.npy")],
                "open_clip+HF"),
        }
        for threads in (1, 2):
            cpus = ["taskset", "-c", ",".join(str(c) for c in range(threads))]

            def run(command):
                start = time.perf_counter()
                subprocess.run(cpus + command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return time.perf_counter() - start

            for label, (mine_cmd, twin_cmd, ref_name) in commands.items():
                times = {(side, count): [] for side in ("ours", "twin") for count in (8, 40)}
                for _ in range(3):
                    for count in (8, 40):
                        for index_file in (os.path.join(work, f"ours{count}.index"),):
                            if os.path.exists(index_file):
                                os.remove(index_file)  # a fresh index each time, not an incremental re-run
                        times[("ours", count)].append(run(mine_cmd(count)))
                        times[("twin", count)].append(run(twin_cmd(count)))
                med = {key: statistics.median(value) for key, value in times.items()}
                per_ours = (med[("ours", 40)] - med[("ours", 8)]) / 32
                per_twin = (med[("twin", 40)] - med[("twin", 8)]) / 32
                if per_ours <= 0 or per_twin <= 0:  # 32 more photos took no time: noise swamped the work
                    print(f"clip {label}, {threads} thread(s): no marginal time to report ({med}); rerun on a quieter machine")
                    continue
                row(f"clip {label} per photo", threads, per_ours, per_twin, ref_name)
                row(f"clip {label} start-up", threads, med[("ours", 8)] - 8 * per_ours, med[("twin", 8)] - 8 * per_twin, ref_name)

    memory_rows = []
    if "memory" in workloads:
        bench = os.path.join(REPO, ".build", "release", "bench")
        for batch in (1, 8):
            out = subprocess.run([bench, "memory-vit", "--batch", str(batch), "--json"], check=True, capture_output=True, text=True)
            mine = json.loads(out.stdout)["megabytes"]
            ref = float(subprocess.run([sys.executable, "-c", TORCH_MEMORY, str(batch)], check=True, capture_output=True,
                                       text=True).stdout.strip())
            memory_rows.append((f"vit-b/16 forward batch {batch}", mine, ref))
            print(f"peak memory vit-b/16 batch {batch}: ours {mine:.0f} MB, torch {ref:.0f} MB, ratio {mine / ref:.2f}x", flush=True)
    return cpu_model(), f"numpy {np.__version__} ({blas[0].get('internal_api')} {blas[0].get('version')}), torch {torch.__version__}", memory_rows


if __name__ == "__main__":
    names = [a for a in sys.argv[1:] if not a.startswith("--")]
    everything = ["gemm", "vit", "attention", "attention-core", "minilm", "bert", "clip", "step", "e2e", "memory"]
    cpu, versions, memory_rows = main(names or everything)
    if not names and "--no-write" not in sys.argv:
        key, section = markdown(versions, memory_rows)
        write_section(os.path.join(REPO, "BENCHMARKS.md"), key, section)
        print(f"wrote the section '{key}' of BENCHMARKS.md")
