"""Chapter 08's recipe study (issue 27): one change at a time from the default recipe, each trained for the
same number of steps (or seconds) on the same generated data, with several seeds, beside the plain PyTorch
CLIP (Scripts/plain_clip.py) — then a table of mean ± sd over the seeds, on the test images and on the
colour–shape pairs never seen in training.

  ~/venvs/clip-ref/bin/python Scripts/study.py --data OUT/data --out study [--epochs 10 | --seconds 120]
                                               [--seeds 0,1,2] [--variants default,linear-head,...]
                                               [--base default|second-edition]

Each run is chapter 08 (release build) with --set flags, or plain_clip.py for "plain"; runs already in
OUT/results.jsonl are not run again (the study resumes), and their checkpoints are deleted once measured.
Equal steps: --epochs E (75 steps of 64 an epoch on the default data; the cosine spans the epochs).
Equal seconds: --seconds S (the cosine spans the seconds). A study tool, not a fixture.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CH08 = os.path.join(REPO, ".build", "release", "ch08-training")

# One change each from chapter 08's default recipe; "plain" is the plain PyTorch CLIP.
VARIANTS = {
    "default": [],
    "linear-head": ["--set", "model.head=linear"],
    "no-dropout": ["--set", "model.dropout=0"],
    "constant-lr": ["--set", "schedule=constant", "--set", "warmupSteps=0"],
    "no-flips": ["--set", "imagePipeline=resize"],
    "decay-all": ["--set", "optimizer.towerWeightDecay=0.01", "--set", "optimizer.headWeightDecay=0.01"],
    "standard-init": ["--set", "model.initialisation=standard"],
    "scale-start-4.6": ["--set", "model.initialLogitScale=4.6"],
    "mean-pool": ["--set", "model.vit.pool=mean"],
    "text-16": ["--set", "model.maxTextLength=16"],
    "batch-32": ["--batch-size", "32"],
    "plain-recipe": ["--set", "model.head=linear", "--set", "model.dropout=0", "--set", "schedule=constant", "--set", "warmupSteps=0",
                     "--set", "imagePipeline=resize", "--set", "optimizer.towerWeightDecay=0.01", "--set", "optimizer.headWeightDecay=0.01",
                     "--set", "model.initialisation=standard"],
    "init+no-dropout": ["--set", "model.initialisation=standard", "--set", "model.dropout=0"],
    "init+no-dropout+scale-4.6": ["--set", "model.initialisation=standard", "--set", "model.dropout=0", "--set", "model.initialLogitScale=4.6"],
    # the second edition's default: uniform init, head dropout 0.1, a 17-epoch cosine whatever the budget
    "second-edition": ["--set", "model.initialisation=uniform", "--set", "model.dropout=0.1", "--epochs", "17"],
    # the second edition's recipe (uniform init, head dropout 0.1) under today's budget or step count
    "second-edition-recipe": ["--set", "model.initialisation=uniform", "--set", "model.dropout=0.1"],
    "plain": None,
}


def wilson(p, n, z=1.96):
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def run_one(args, name, seed, folder):
    os.makedirs(folder, exist_ok=True)
    log = os.path.join(folder, "stdout.log")
    if name == "plain":
        cmd = [sys.executable, os.path.join(REPO, "Scripts", "plain_clip.py"), "--data", args.data, "--out", folder, "--seed", str(seed),
               "--every", "1e9"]
        cmd += ["--seconds", str(args.seconds)] if args.seconds else ["--steps", str(args.epochs * args.steps_per_epoch), "--seconds", "1e9"]
    else:
        base = ["--set", "model.initialisation=uniform", "--set", "model.dropout=0.1"] if args.base == "second-edition" else []
        cmd = [CH08, "--data", args.data, "--out", folder, "--overwrite", "--set", f"seed={seed}"] + base + VARIANTS[name]
        if "--epochs" not in VARIANTS[name]:
            cmd += ["--seconds", str(args.seconds)] if args.seconds else ["--epochs", str(args.epochs)]
    print("$ " + " ".join(cmd), flush=True)
    with open(log, "w") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if code != 0:
        sys.exit(f"{name} seed {seed} failed ({code}): see {log}")
    entries = [json.loads(line) for line in open(os.path.join(folder, "log.jsonl")) if line.strip()]
    final = [e for e in entries if e.get("kind") == "final"][-1]
    losses = [e["loss"] for e in entries if e.get("kind") == "step"]
    for name_ in ("last.safetensors", "best.safetensors", "initial.safetensors"):
        if os.path.exists(os.path.join(folder, name_)):
            os.remove(os.path.join(folder, name_))
    return {"variant": name, "seed": seed, "test": final["zero_shot_test"], "unseen": final["zero_shot_unseen"],
            "seconds": final["train_seconds"], "steps": final.get("steps", len(losses)),
            "loss_800": losses[799] if len(losses) >= 800 else None, "last_loss": sum(losses[-50:]) / max(len(losses[-50:]), 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--steps-per-epoch", type=int, default=75, help="for the plain CLIP's equal-steps runs")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--unseen-images", type=int, default=1000)
    ap.add_argument("--base", choices=["default", "second-edition"], default="default",
                    help="what every Swift variant changes from: today's default, or the second edition's "
                         "(uniform init, head dropout 0.1), which Walkthrough 08's equal-steps table used")
    ap.add_argument("--record", metavar="NAME", help="also write Results/NAME.json: every run, and per variant the "
                    "mean and sd over the seeds (what the walkthroughs quote)")
    ap.add_argument("--cpu", help="with --record: the CPU the runs were made on, if not this machine's")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results_path = os.path.join(args.out, "results.jsonl")
    done = [json.loads(line) for line in open(results_path)] if os.path.exists(results_path) else []
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        sys.exit(f"--seeds takes whole numbers separated by commas, e.g. 0,1,2 (got {args.seeds!r})")
    unknown = [name for name in args.variants.split(",") if name not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    for name in args.variants.split(","):
        for seed in seeds:
            if any(r["variant"] == name and r["seed"] == seed for r in done):
                continue
            result = run_one(args, name, seed, os.path.join(args.out, f"{name}-seed{seed}"))
            done.append(result)
            with open(results_path, "a") as f:
                f.write(json.dumps(result) + "\n")
            print(f"  {name} seed {seed}: test {100 * result['test']:.1f}%  unseen {100 * result['unseen']:.1f}%  "
                  f"{result['steps']} steps in {result['seconds']:.0f} s", flush=True)
            shutil.rmtree(os.path.join(args.out, f"{name}-seed{seed}", "data"), ignore_errors=True)

    budget = f"{args.seconds:.0f} s" if args.seconds else f"{args.epochs} epochs ({args.epochs * args.steps_per_epoch} steps)"
    print(f"\n| variant ({budget}, seeds {args.seeds}) | test | unseen pairs | steps | ms/step | loss, last 50 steps |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for name in args.variants.split(","):
        rows = [r for r in done if r["variant"] == name and r["seed"] in seeds]
        if not rows:
            continue
        summary[name] = {f"{key}_{stat}": round(f([100 * r[key] for r in rows]), 6) if len(rows) > 1 or stat == "mean" else 0.0
                         for key in ("test", "unseen") for stat, f in (("mean", statistics.mean), ("sd", statistics.stdev))}
        summary[name].update(steps=statistics.mean(r["steps"] for r in rows),
                             ms_per_step=1000 * statistics.mean(r["seconds"] / max(r["steps"], 1) for r in rows),
                             last_loss=statistics.mean(r["last_loss"] for r in rows), seeds=len(rows))

        def ms(key):
            values = [100 * r[key] for r in rows]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.1f} ± {sd:.1f}"

        steps = statistics.mean(r["steps"] for r in rows)
        ms_step = 1000 * statistics.mean(r["seconds"] / max(r["steps"], 1) for r in rows)
        loss = statistics.mean(r["last_loss"] for r in rows)
        print(f"| {name} | {ms('test')} | {ms('unseen')} | {steps:.0f} | {ms_step:.0f} | {loss:.3f} |")
    if args.record:
        from race import cpu_name
        record = {"budget": budget, "cpu": args.cpu or cpu_name(), "summary": summary,
                  "runs": [r for r in done if r["variant"] in summary and r["seed"] in seeds]}
        json.dump(record, open(os.path.join(REPO, "Results", args.record + ".json"), "w"), indent=1)
        print(f"recorded in Results/{args.record}.json")
    print(f"\n(one run's 95% interval on {args.unseen_images} unseen images near 60%: "
          f"{100 * wilson(0.6, args.unseen_images)[0]:.1f}–{100 * wilson(0.6, args.unseen_images)[1]:.1f}%)")


if __name__ == "__main__":
    main()
