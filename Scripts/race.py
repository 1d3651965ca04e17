"""The race: chapter 08 (Swift) and its PyTorch twin train the same recipe from the same initial
weights on the same files for the same wall-clock budget, one after the other on this machine, and
zero-shot accuracy is plotted against training seconds for both.

  ~/venvs/clip-ref/bin/python Scripts/race.py [--seconds 300] [--out output/race] [--record NAME] [-- extra ch08 flags]
  ~/venvs/clip-ref/bin/python Scripts/race.py --from-logs --out OUT --record NAME   (remake race.json from the logs)
  e.g. -- --shapes 'radius=[0.12,0.3]' races on the small shapes (generated into OUT/data on the first run)

Steps: (1) a few steps of each from the same weights, losses side by side (the data path agrees);
(2) Swift for --seconds, then the twin for --seconds, both with 2 threads; (3) race.svg (two curves,
axes, legend) and race.json. Needs a release build (swift build -c release --product ch08-training)
and the reference venv (Scripts/reference/requirements.txt). Training seconds exclude evaluation.
"""
import argparse
import html
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CH08 = os.path.join(REPO, ".build", "release", "ch08-training")
TWIN = os.path.join(REPO, "Scripts", "reference", "ch08_twin.py")


def run(cmd, log):
    print("$ " + " ".join(cmd), flush=True)
    with open(log, "w") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if code != 0:
        sys.exit(f"failed ({code}): see {log}")


def read_log(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def curve(entries, kinds=("epoch", "final")):
    return [(e["train_seconds"], 100 * e["zero_shot_test"], 100 * e["zero_shot_unseen"]) for e in entries
            if e.get("kind") in kinds and "zero_shot_test" in e]


def svg(series, seconds, path, title):
    """One chart: accuracy (%) against training seconds, a line per series, axes, ticks and a legend."""
    W, H, L, R, T, B = 720, 420, 60, 20, 40, 50
    x = lambda s: L + (W - L - R) * s / seconds
    y = lambda a: T + (H - T - B) * (1 - a / 100)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text class="title" x="{W / 2}" y="22" text-anchor="middle" font-size="14">{html.escape(title)}</text>']
    for a in range(0, 101, 20):
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{y(a)}" y2="{y(a)}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y(a) + 4}" text-anchor="end">{a}</text>')
    step = 60 if seconds > 240 else 30 if seconds > 90 else 10
    for s in range(0, int(seconds) + 1, step):
        out.append(f'<line x1="{x(s)}" x2="{x(s)}" y1="{H - B}" y2="{H - B + 5}" stroke="black"/>')
        out.append(f'<text x="{x(s)}" y="{H - B + 18}" text-anchor="middle">{s}</text>')
    out.append(f'<line x1="{L}" x2="{W - R}" y1="{H - B}" y2="{H - B}" stroke="black"/>')
    out.append(f'<line x1="{L}" x2="{L}" y1="{T}" y2="{H - B}" stroke="black"/>')
    out.append(f'<text class="x-label" x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">training seconds (evaluation not counted), 2 threads</text>')
    out.append(f'<text class="y-label" x="16" y="{(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 {(T + H - B) / 2})">zero-shot accuracy (%)</text>')
    for i, (name, colour, dash, points) in enumerate(series):
        if points:
            d = " ".join(f"{x(s):.1f},{y(a):.1f}" for s, a in [(0, 100 / 32)] + points)
            out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>')
            for s, a in points:
                out.append(f'<circle cx="{x(s):.1f}" cy="{y(a):.1f}" r="2.5" fill="{colour}"/>')
        ly = T + 14 + 18 * i
        out.append(f'<line x1="{W - R - 250}" x2="{W - R - 220}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>')
        out.append(f'<text class="legend" x="{W - R - 212}" y="{ly + 4}">{html.escape(name)}</text>')
    out.append("</svg>")
    open(path, "w").write("\n".join(out))


def cpu_name():
    """The CPU kind, as BENCHMARKS.md names its sections: model name, family/model, widest vector ISA."""
    info = open("/proc/cpuinfo").read()
    field = lambda k: next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith(k)), "?")
    flags = field("flags").split()
    return f"{field('model name')} · family {field('cpu family')} model {field('model')} · " + ("AVX-512" if "avx512f" in flags else "AVX2")


def final(entries):
    e = next(e for e in reversed(entries) if e.get("kind") == "final")
    return {"steps": e["steps"], "train_seconds": e["train_seconds"], "ms_per_step": 1000 * e["train_seconds"] / e["steps"],
            "test": 100 * e["zero_shot_test"], "unseen": 100 * e["zero_shot_unseen"]}


def report(out, seconds, cpu, check, record=None):
    """race.svg and race.json from OUT's two logs: the curves (seconds, test %, unseen % after each epoch),
    each side's final line (steps, ms per step, accuracies), the CPU, and the first losses side by side.
    With `record`, race.json is also copied to Results/NAME.json, the file the walkthroughs quote."""
    swift_log, twin_log = read_log(os.path.join(out, "swift", "log.jsonl")), read_log(os.path.join(out, "twin", "log.jsonl"))
    a, b = curve(swift_log), curve(twin_log)
    svg([("Swift · test images", "#2857c8", "", [(s, t) for s, t, _ in a]),
         ("PyTorch twin · test images", "#d2461e", "", [(s, t) for s, t, _ in b]),
         ("Swift · unseen pairs", "#2857c8", "5,4", [(s, u) for s, _, u in a]),
         ("PyTorch twin · unseen pairs", "#d2461e", "5,4", [(s, u) for s, _, u in b])],
        seconds, os.path.join(out, "race.svg"), "Chapter 08 race: the same recipe, the same data, the same machine")
    result = {"seconds": seconds, "cpu": cpu, "swift": a, "twin": b,
              "final": {"swift": final(swift_log), "twin": final(twin_log)}, "check": check}
    result["final"]["twin_ms_over_swift_ms"] = result["final"]["twin"]["ms_per_step"] / result["final"]["swift"]["ms_per_step"]
    json.dump(result, open(os.path.join(out, "race.json"), "w"), indent=1)
    if record:
        json.dump(result, open(os.path.join(REPO, "Results", record + ".json"), "w"), indent=1)
        print(f"recorded in Results/{record}.json")
    return a, b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--out", default=os.path.join(REPO, "output", "race"))
    ap.add_argument("--check-steps", type=int, default=5)
    ap.add_argument("--record", metavar="NAME", help="also write Results/NAME.json (what the walkthroughs quote)")
    ap.add_argument("--from-logs", action="store_true", help="do not train: remake race.json/.svg from OUT's logs")
    ap.add_argument("--cpu", help="with --from-logs: the CPU the race ran on, if not this machine's")
    args, extra = ap.parse_known_args()
    extra = [e for e in extra if e != "--"]
    if args.from_logs:
        check = json.load(open(os.path.join(args.out, "race.json"))).get("check", {})
        report(args.out, args.seconds, args.cpu or cpu_name(), check, args.record)
        return
    # Only flags that change the recipe, and that the twin reads back from initial.safetensors; the rest
    # would make the two sides train different things (or point Swift at another folder).
    allowed = {"--set", "--lr", "--epochs", "--batch-size", "--seed-faithful-lr", "--shapes"}
    # --shapes only shapes the generated data (the first run makes it; both sides then read the same files).
    shapes = [x for i, x in enumerate(extra) if x == "--shapes" or (i > 0 and extra[i - 1] == "--shapes")]
    extra = [x for i, x in enumerate(extra) if not (x == "--shapes" or (i > 0 and extra[i - 1] == "--shapes"))]
    for e in shapes + extra:
        if e.startswith("--") and e.split("=")[0] not in allowed:
            sys.exit(f"race.py passes only {', '.join(sorted(allowed))} to the chapter, not {e}")
    if not os.path.exists(CH08):
        sys.exit("build first: swift build -c release --product ch08-training")
    os.makedirs(args.out, exist_ok=True)
    swift, twin = os.path.join(args.out, "swift"), os.path.join(args.out, "twin")
    data = os.path.join(args.out, "data")

    # 1. the same first steps: initial weights from Swift, a few steps each
    check = os.path.join(args.out, "check")
    have_data = os.path.exists(os.path.join(data, "captions.csv"))
    if have_data and shapes:
        sys.exit(f"{data} already holds the data of an earlier race, made with its own shapes: --shapes only "
                 "applies when the data is generated. Choose another --out (or remove that folder).")
    if shapes and len(shapes) % 2:
        sys.exit("--shapes needs a value, e.g. --shapes 'radius=[0.12,0.3]'")
    run([CH08, "--out", check] + (["--data", data] if have_data else []) +
        ["--save-initial", "--overwrite", "--set", f"maxStepsPerEpoch={args.check_steps}", "--epochs", "1"] + extra +
        ([] if have_data else shapes),
        os.path.join(args.out, "check-swift.txt"))
    if not have_data:  # the first run generated the shapes: every later run reads these same files
        if os.path.exists(data):
            sys.exit(f"{data} exists but holds no captions.csv: remove it or choose another --out")
        os.replace(os.path.join(check, "data"), data)
    run([sys.executable, TWIN, "--init", os.path.join(check, "initial.safetensors"), "--data", data, "--out", check + "-twin",
         "--steps", str(args.check_steps)], os.path.join(args.out, "check-twin.txt"))
    ours = [e["loss"] for e in read_log(os.path.join(check, "log.jsonl")) if e["kind"] == "step"]
    theirs = [e["loss"] for e in read_log(os.path.join(check + "-twin", "log.jsonl")) if e["kind"] == "step"]
    print("step  Swift loss   PyTorch loss   difference")
    for i, (a, b) in enumerate(zip(ours, theirs)):
        print(f"{i + 1:>4}  {a:.6f}    {b:.6f}       {abs(a - b):.1e}")

    # 2. the race: Swift, then the twin, each alone on the machine
    run([CH08, "--out", swift, "--data", data, "--save-initial", "--overwrite", "--seconds", str(args.seconds)] + extra,
        os.path.join(args.out, "swift.txt"))
    run([sys.executable, TWIN, "--init", os.path.join(swift, "initial.safetensors"), "--data", data, "--out", twin,
         "--seconds", str(args.seconds)], os.path.join(args.out, "twin.txt"))

    # 3. the picture and the numbers
    a, b = report(args.out, args.seconds, cpu_name(), {"swift": ours, "twin": theirs}, args.record)
    print("\n seconds   Swift test / unseen     twin test / unseen   (after each epoch)")
    for i in range(max(len(a), len(b))):
        sa = f"{a[i][0]:6.0f} s  {a[i][1]:5.1f}% / {a[i][2]:5.1f}%" if i < len(a) else " " * 26
        sb = f"{b[i][0]:6.0f} s  {b[i][1]:5.1f}% / {b[i][2]:5.1f}%" if i < len(b) else ""
        print(f"{sa}    {sb}")
    # At every second, ours ≥ theirs? Compare each curve's last value reached by that second.
    def at(c, s):
        v = [p for p in c if p[0] <= s]
        return v[-1][1] if v else 100 / 32
    worst = min((at(a, s) - at(b, s), s) for s in range(0, int(args.seconds) + 1))
    print(f"\nSwift − twin, test accuracy at the same second: minimum {worst[0]:+.1f} points (at {worst[1]} s;"
          " both curves are steps that move only after an epoch, so a few seconds' lag shows as a whole epoch's gain)")
    # Epoch against epoch: only the "epoch" lines (a "final" line after a mid-epoch stop is not an epoch).
    ea, eb = (curve(read_log(os.path.join(d, "log.jsonl")), kinds=("epoch",)) for d in (swift, twin))
    for i in range(min(len(ea), len(eb))):
        print(f"epoch {i + 1}: Swift {ea[i][0]:.0f} s, twin {eb[i][0]:.0f} s (Swift/twin {ea[i][0] / eb[i][0]:.2f}×); "
              f"test accuracy Swift − twin {ea[i][1] - eb[i][1]:+.1f} points")
    print(f"picture: {os.path.join(args.out, 'race.svg')}")


if __name__ == "__main__":
    main()
