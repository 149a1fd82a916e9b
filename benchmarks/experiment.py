"""The experiment: do varied masks close the synthetic-to-real gap? Train on unmasked, mlfw-white and varied
masked faces; score every model on validation photos under every mask condition (and on a labelled real
masked folder when one is given); assemble the table in the layout of the seed paper's Table 1.

    python benchmarks/experiment.py --models resmasking,cbam_resnet50 --config cpu-tiny
    python benchmarks/experiment.py --models resmasking --conditions varied        # one run at a time
    python benchmarks/experiment.py --config paper --real-test REAL_DIR            # the GPU protocol
    python benchmarks/experiment.py --models resmasking --conditions mlfw-white,varied --seeds 1,2,3
                                                       # repeated runs, mean and spread in summary.md

Each (model, training condition) run is saved on its own under benchmarks/results/experiment-CONFIG/ and
skipped when already there, so the table can be assembled across sessions; checkpoints stay in runs/, and a
run cut short goes on from its last finished epoch (runs/.../last.pt) when started again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402

from fer.cli import at_least, main as fer  # noqa: E402
from fer.data import LABELS, DatasetError, find_samples  # noqa: E402
from fer.models import list_models  # noqa: E402
from fer.train import CONFIGS  # noqa: E402
from fer.metrics import paired_difference  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))  # provenance, beside this script
import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKGEN_DATA", ROOT.parent / "shared" / "data"))
CONDITIONS = ("none", "mlfw-white", "varied")
# The seed paper's Table 1 (accuracy, %): ImageNet-initialised models at 224 px; "validation" is on the training
# condition's own validation photos (M-LFW: white-masked, LFW: unmasked), "test" on real masked faces.
PAPER_TABLE_1 = {
    ("resmasking", "mlfw-white"): {"train": 81.504, "validation": 78.417, "test": 52.593},
    ("resmasking", "none"): {"train": 98.862, "validation": 89.167, "test": 33.333},
    ("cbam_resnet50", "mlfw-white"): {"train": 91.692, "validation": 76.750, "test": 53.333},
    ("cbam_resnet50", "none"): {"train": 92.208, "validation": 88.000, "test": 34.815},
}


def seed_dir(root: Path, seed: int) -> Path:
    """Seed 0 lives at the top of an experiment's folder (as it always has), other seeds in seed-N/."""
    return root if seed == 0 else root / f"seed-{seed}"


def run_one(model: str, condition: str, args: argparse.Namespace, results: Path) -> None:
    run = seed_dir(args.runs / f"experiment-{args.config}", args.seed) / f"{model}-{condition}"
    saved = results / f"{model}-{condition}"
    if (saved / "train.json").exists() and not args.force:
        print(f"{model} trained on {condition}: already done")
    else:
        cache = ["--cache", str(args.cache)]
        # a run cut short (a session ends) goes on from its last finished epoch: keyed randomness makes the
        # resumed run the very run it would have been
        resuming = (run / "last.pt").exists() and not args.force
        # otherwise the script owns its run folders: --force, or a run that never saved an epoch, starts afresh
        start = ["--resume", str(run / "last.pt")] if resuming else ["--overwrite"]
        if resuming:
            print(f"{model} trained on {condition}: resuming from {run / 'last.pt'}")
        code = fer(["train", "--data", str(args.data), "--model", model, "--config", args.config, "--mask", condition,
                    "--out", str(run), "--seed", str(args.seed), *cache, *start])
        if code != 0:
            raise SystemExit(f"training {model} on {condition} failed ({code})")
        saved.mkdir(parents=True, exist_ok=True)
        for name in ("train.json", "history.csv", "learning-curve.png"):
            shutil.copy(run / name, saved / name)
    tests = [("val", args.data, eval_mask, False) for eval_mask in CONDITIONS]
    if args.real_test is not None:
        # lfw-expressions is mostly grey: a colour test set is also scored in grey, which removes the colour
        # shift between training and test (the table shows both; the grey column is the like-for-like one)
        tests += [("real", args.real_test, "none", False), ("real", args.real_test, "none", True)]
    for split, data, eval_mask, grey in tests:
        target = saved / f"eval-{split}-{eval_mask}{'-grey' if grey else ''}"
        if (target / "metrics.json").exists() and not args.force:
            continue
        code = fer(["evaluate", "--data", str(data), "--split", "val" if split == "val" else "test",
                    "--checkpoint", str(run / "best.pt"), "--mask", eval_mask, "--mask-seed", "0",
                    "--out", str(target), "--cache", str(args.cache), "--max-samples", str(args.max_eval),
                    *(["--greyscale"] if grey else []),
                    # the grid of misclassified photos is looked at for real masked faces only
                    *([] if split == "real" else ["--no-grid"])])
        if code != 0:
            raise SystemExit(f"evaluating {model}/{condition} on {split}/{eval_mask} failed ({code})")


OTHER_MASK = {"mlfw-white": "varied", "varied": "mlfw-white"}


def cross_mask_drop(row: dict, measure: str) -> float | None:
    """The in-house synthetic gap: a model's score on its own mask condition minus on the other one."""
    other = OTHER_MASK.get(row["trained_on"])
    own_key, other_key = f"val-{row['trained_on']}", f"val-{other}"
    if other is None or own_key not in row or other_key not in row:
        return None
    return row[own_key][measure] - row[other_key][measure]


def assemble(results: Path, models: list[str], args: argparse.Namespace) -> dict:
    rows = []
    for model in models:
        for condition in CONDITIONS:
            saved = results / f"{model}-{condition}"
            if not (saved / "train.json").exists():
                continue
            row = {"model": model, "trained_on": condition}
            for metrics_path in sorted(saved.glob("eval-*/metrics.json")):
                metrics = json.loads(metrics_path.read_text())
                key = metrics_path.parent.name.removeprefix("eval-")
                row[key] = {"accuracy": metrics["accuracy"], "balanced_accuracy": metrics["balanced_accuracy"],
                            "macro_f1": metrics["macro_f1"], "count": metrics["count"]}
            rows.append(row)
    for row in rows:
        drop = cross_mask_drop(row, "accuracy")
        if drop is not None:
            row["cross_mask_drop"] = drop
    report = {"command": provenance.command(),
              "date": provenance.today(), "config": args.config, "seed": args.seed,
              "machine": provenance.machine(), "rows": rows}
    (results / "experiment.json").write_text(json.dumps(report, indent=2) + "\n")
    (results / "table.md").write_text(markdown(rows) + "\n")
    return report


def summary_rows(root: Path, seeds: list[int], models: list[str] | None = None) -> list[dict]:
    """Per (model, training condition), from each seed's experiment.json: mean, spread and runs of every cell and
    of the cross-mask drop, in plain and balanced accuracy. `models`: only these (default: all)."""
    cells: dict[tuple[str, str], dict[str, list[float]]] = {}
    for seed in seeds:
        path = seed_dir(root, seed) / "experiment.json"
        if not path.exists():
            continue
        for row in json.loads(path.read_text())["rows"]:
            if models is not None and row["model"] not in models:
                continue
            entry = cells.setdefault((row["model"], row["trained_on"]), {})
            for key, value in row.items():
                if key.startswith(("val-", "real-")):
                    entry.setdefault(key, []).append(value["accuracy"])
                    entry.setdefault(f"{key}/balanced", []).append(value["balanced_accuracy"])
            for name, measure in (("cross_mask_drop", "accuracy"), ("cross_mask_drop/balanced", "balanced_accuracy")):
                drop = cross_mask_drop(row, measure)
                if drop is not None:
                    entry.setdefault(name, []).append(drop)
    return [{"model": model, "trained_on": trained_on,
             **{key: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v} for key, v in entry.items()}}
            for (model, trained_on), entry in cells.items()]


def seed_count(row: dict) -> int:
    """How many seeds a `summary_rows` row averages."""
    return max(len(v["runs"]) for v in row.values() if isinstance(v, dict))


def summarise(root: Path, models: list[str], seeds: list[int], args: argparse.Namespace) -> dict:
    """Mean and spread over seeds of every cell and of the cross-mask drop: one short run is noise."""
    rows = summary_rows(root, seeds, models)
    report = {"command": provenance.command(),
              "date": provenance.today(), "config": args.config, "seeds": seeds, "rows": rows}
    (root / "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    columns = [f"val-{c}" for c in CONDITIONS]
    lines = ["| model | trained on | seeds | " + " | ".join(columns) + " | drop on the other mask |",
             "| --- | --- | --- | " + " | ".join("---" for _ in columns) + " | --- |"]
    def pair(row: dict, key: str, signed: bool = False) -> str:
        if key not in row:
            return ""
        plain, balanced = row[key], row[f"{key}/balanced"]
        fmt = "+.1%" if signed else ".1%"
        if len(plain["runs"]) == 1:  # one run has no spread to show
            return f"{plain['mean']:{fmt}} ({balanced['mean']:{fmt}})"
        return (f"{plain['mean']:{fmt}} +- {plain['std']:.1%} "
                f"({balanced['mean']:{fmt}} +- {balanced['std']:.1%})")

    for row in rows:
        cells_text = [pair(row, c) for c in columns]
        lines.append(f"| {row['model']} | {row['trained_on']} | {seed_count(row)} | " + " | ".join(cells_text)
                     + f" | {pair(row, 'cross_mask_drop', signed=True)} |")
    lines += ["", "Mean +- standard deviation over seeds of accuracy (balanced accuracy); each seed has its own "
              "training subset, initialisation and masks. Drop: own mask condition minus the other one."]
    (root / "summary.md").write_text("\n".join(lines) + "\n")
    return report


def saved_seeds(root: Path) -> list[int]:
    seeds = [0] if (root / "experiment.json").exists() else []
    seeds += sorted(int(p.parent.name.removeprefix("seed-")) for p in root.glob("seed-*/experiment.json"))
    return seeds


def read_predictions(path: Path) -> dict[str, tuple[int, int]]:
    """file -> (label, prediction) as class indices, from an evaluation's predictions.csv."""
    rows = {}
    for line in path.read_text().splitlines()[1:]:
        name, label, prediction = line.rsplit(",", 2)
        rows[name] = (LABELS.index(label), LABELS.index(prediction))
    return rows


def paired(root: Path, models: list[str], seeds: list[int], args: argparse.Namespace) -> dict:
    """Varied-trained minus white-trained, same seed, same photos, same test masks, with 95 % intervals."""
    rows = []
    for model in models:
        for test_mask in CONDITIONS:
            runs, used = [], []
            for seed in seeds:
                files = [seed_dir(root, seed) / f"{model}-{trained}" / f"eval-val-{test_mask}" / "predictions.csv"
                         for trained in ("mlfw-white", "varied")]
                if not all(f.exists() for f in files):
                    continue
                white, varied = (read_predictions(f) for f in files)
                shared = sorted(white.keys() & varied.keys())
                if not shared:
                    continue
                runs.append((np.array([white[f][0] for f in shared]), np.array([white[f][1] for f in shared]),
                             np.array([varied[f][1] for f in shared])))
                used.append(seed)
            if runs:
                rows.append({"model": model, "test_mask": test_mask, "seeds_used": used,
                             **paired_difference(runs, len(LABELS))})
    report = {"command": provenance.command(),
              "date": provenance.today(), "config": args.config,
              "compared": "trained on varied minus trained on mlfw-white", "rows": rows}
    if not rows:
        return report
    (root / "paired.json").write_text(json.dumps(report, indent=2) + "\n")

    def interval(entry: dict, key: str) -> str:
        return f"[{entry[key][0]:+.1%}, {entry[key][1]:+.1%}]" if key in entry else "(needs 2 seeds)"

    lines = ["| model | validation masks | seeds | varied - white, balanced accuracy | 95 % over seeds (t) "
             "| 95 % over photos (bootstrap) | accuracy |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        bal, acc = row["balanced_accuracy"], row["accuracy"]
        lines.append(f"| {row['model']} | {row['test_mask']} | {len(row['seeds_used'])} | {bal['mean']:+.1%} | "
                     f"{interval(bal, 'seeds_t_95')} | {interval(bal, 'bootstrap_95')} | {acc['mean']:+.1%} |")
    lines += ["", "Each pair: the same seed (subset, initialisation), the same validation photos under the same "
              "masks (mask seed 0). Positive: the varied-trained model scores higher. The t interval counts the "
              "spread between retrainings; the bootstrap one only the luck of the photos."]
    (root / "paired.md").write_text("\n".join(lines) + "\n")
    return report


def versus_paper(root: Path, seeds: list[int]) -> str:
    """This experiment's table beside the seed paper's Table 1: the paper's own-condition validation and real
    masked test accuracy next to ours (mean over `seeds`), with our scores under every mask and the cross-mask
    drop. Writes versus-paper.md."""
    rows = summary_rows(root, seeds)

    def cell(row: dict, key: str, signed: bool = False) -> str:
        if key not in row:
            return ""
        plain, balanced = row[key], row[f"{key}/balanced"]
        fmt = "+.1f" if signed else ".1f"
        spread = f" +- {100 * plain['std']:.1f}" if len(plain["runs"]) > 1 else ""
        return f"{100 * plain['mean']:{fmt}}{spread} ({100 * balanced['mean']:{fmt}})"

    names = {"none": "unmasked (LFW)", "mlfw-white": "white masks (M-LFW)", "varied": "varied masks"}
    real = "real-none-grey" if any("real-none-grey" in r for r in rows) else "real-none"
    lines = ["| model | trained on | paper: validation, own condition | paper: real masked test | seeds "
             "| ours: val, unmasked | ours: val, white masks | ours: val, varied masks | ours: drop on the other "
             "mask | ours: real masked test |", "| --- " * 10 + "|"]
    for row in sorted(rows, key=lambda r: (r["model"] != "resmasking", r["model"], CONDITIONS.index(r["trained_on"]))):
        paper = PAPER_TABLE_1.get((row["model"], row["trained_on"]))
        paper_cells = [f"{paper['validation']:.1f}", f"{paper['test']:.1f}"] if paper else ["-", "-"]
        ours = [cell(row, f"val-{c}") for c in CONDITIONS]
        own = CONDITIONS.index(row["trained_on"])
        ours[own] = f"**{ours[own]}**" if ours[own] else ""
        drop = cell(row, "cross_mask_drop", signed=True)
        lines.append(f"| {row['model']} | {names[row['trained_on']]} | " + " | ".join(paper_cells)
                     + f" | {seed_count(row)} | " + " | ".join(ours) + f" | {drop} | "
                     + (cell(row, real) or "not given") + " |")
    lines += ["", "Accuracy in % (ours: mean +- spread over seeds, balanced accuracy in brackets; bold: the model's "
              "own condition, the paper's validation column). The paper's models start from ImageNet weights at "
              "224 px and train up to 50 epochs; ours are this config's (see its name), so compare the pattern "
              "across rows and columns, not the levels. The paper had no varied masks: that row is the "
              "experiment's question. Drop: own mask condition minus the other one (white <-> varied)."]
    text = "\n".join(lines) + "\n"
    (root / "versus-paper.md").write_text(text)
    return text


def markdown(rows: list[dict]) -> str:
    """The paper's Table 1 layout: one row per model and training data, accuracy per test condition."""
    columns = [f"val-{c}" for c in CONDITIONS] + [c for c in ("real-none", "real-none-grey")
                                                   if any(c in r for r in rows)]
    names = {"val-none": "val, unmasked", "val-mlfw-white": "val, white masks", "val-varied": "val, varied masks",
             "real-none": "real masked test", "real-none-grey": "real masked test, in grey"}
    lines = ["| model | trained on | " + " | ".join(names[c] for c in columns) + " | drop on the other mask |",
             "| --- | --- | " + " | ".join("---" for _ in columns) + " | --- |"]
    for row in rows:
        cells = [f"{row[c]['accuracy']:.1%} ({row[c]['balanced_accuracy']:.1%})" if c in row else "" for c in columns]
        drop = f"{row['cross_mask_drop']:+.1%}" if "cross_mask_drop" in row else ""
        lines.append(f"| {row['model']} | {row['trained_on']} | " + " | ".join(cells) + f" | {drop} |")
    lines.append("")
    lines.append("Cells: accuracy (balanced accuracy). Drop: accuracy on the model's own mask condition minus "
                 "accuracy on the other one (white <-> varied); smaller means less tied to one mask look.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA / "lfw-expressions",
                        help="a labels.csv dataset (or its folder) or {split}/{class}/ folders, as `fer train` takes")
    parser.add_argument("--models", default="resmasking,cbam_resnet50", help="comma-separated, from `fer models`")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help=f"comma-separated, from {CONDITIONS}")
    parser.add_argument("--config", default="cpu-tiny", choices=sorted(CONFIGS), help="a `fer train` config")
    parser.add_argument("--real-test", type=Path, default=None, help="labelled real masked folder {class}/*")
    parser.add_argument("--max-eval", type=at_least(1), default=600, help="validation photos scored per condition")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "landmarks-lfw-expressions.sqlite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None,
                        help="comma-separated seeds, each a full set of runs (seed 0 in experiment-CONFIG/, seed N "
                             "in experiment-CONFIG/seed-N/), summarised in experiment-CONFIG/summary.md")
    parser.add_argument("--force", action="store_true", help="redo runs that are already saved")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                        help="where experiment-CONFIG/ goes (committed results)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs", help="where checkpoints go (not committed)")
    args = parser.parse_args()
    # Every argument is checked now: a bad one must fail here, not after the runs before it have trained.
    models, conditions = args.models.split(","), args.conditions.split(",")
    if unknown := [m for m in models if m not in list_models()]:
        parser.error(f"--models: unknown {unknown}; choose from {list_models()}")
    if unknown := [c for c in conditions if c not in CONDITIONS]:
        parser.error(f"--conditions: unknown {unknown}; the experiment compares {list(CONDITIONS)}")
    for flag, folder, split in (("--data", args.data, "train"), ("--real-test", args.real_test, None)):
        if folder is not None:
            try:
                find_samples(folder, split)
            except DatasetError as exc:
                parser.error(f"{flag}: {exc}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds is not None else [args.seed]
    except ValueError:
        parser.error(f"--seeds: expected comma-separated whole numbers, got {args.seeds!r}")
    root = args.results / f"experiment-{args.config}"
    for seed in seeds:
        args.seed = seed
        results = seed_dir(root, seed)
        results.mkdir(parents=True, exist_ok=True)
        for model in models:
            for condition in conditions:
                run_one(model, condition, args, results)
        report = assemble(results, models, args)
        print(f"seed {seed}:\n" + markdown(report["rows"]))
    done = saved_seeds(root)  # every seed on disk, from this call or earlier ones
    if len(done) > 1:
        summarise(root, models, done, args)
        print((root / "summary.md").read_text())
    if paired(root, models, done, args)["rows"]:
        print((root / "paired.md").read_text())
    if done:
        print(versus_paper(root, done))


if __name__ == "__main__":
    main()
