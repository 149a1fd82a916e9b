"""The white-versus-varied experiment on a borrowed GPU, in one call of at most ~9 minutes on a bare machine.

On the device (see benchmarks/gpu_experiment.sh, which the device tool runs with `carry: ["gpu-pack"]`):

    python benchmarks/gpu_experiment.py run --pack gpu-pack/faces.npz --out $OUT --budget-s 500

trains ResMaskingNet and CBAM-ResNet50 on mlfw-white and on varied masks (drawn online by maskgen in 16 loader
workers from the packed landmarks, fresh every epoch, keyed as on the CPU), with the paper's augmentations on
the GPU, bf16 autocast and channels_last, each run given an equal share of the time left; scores the best
epoch of each on the validation photos under no mask, white masks and varied masks; and writes everything
into at most five files under --out: results.json (per-photo predictions included), table.md,
learning-curves.png, loader.json, and the log the shell script keeps. A run that would overrun its share
stops at the end of a step and keeps what it has; results.json is rewritten after every run.

Back here:

    python benchmarks/gpu_experiment.py import /work/.device/.../results.json     # -> results/experiment-gpu/
    python benchmarks/gpu_experiment.py loader --pack gpu-pack/faces.npz           # masks/s per CPU core

`import` lays the runs out as benchmarks/experiment.py does, so its table and the paired varied-minus-white
comparison (with 95 % intervals) come from the same code. `--preset tiny` is the end-to-end CPU test.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
sys.path.insert(0, str(Path(__file__).resolve().parent))  # provenance, beside this script
import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a bare machine runs the source tree, uninstalled

from fer.data import LABELS  # noqa: E402
from fer.gpu_augment import to_model_input  # noqa: E402
from fer.metrics import classification_metrics  # noqa: E402
from fer.models import create_model, list_models  # noqa: E402
from fer.packed import EpochKeyedSampler, PackedFaces, PackedMaskedDataset  # noqa: E402
from maskgen.images import write_bytes_atomic  # noqa: E402
from maskgen.seeding import derive_seed  # noqa: E402

EVAL_MASKS = ("none", "mlfw-white", "varied")
PRESETS = {
    # one H200 and 16 cores: the time goes to the runs; the batch keeps the GPU busy without hurting from-scratch
    # training (the cpu-fast recipe otherwise: RAdam, one-cycle, label smoothing 0.1, class-weighted loss)
    "h200": {"batch": 256, "lr": 3e-3, "max_epochs": 60, "workers": None, "max_train": None, "max_val": None,
             "probe_steps": 8},
    "tiny": {"batch": 16, "lr": 2e-3, "max_epochs": 2, "workers": 2, "max_train": 96, "max_val": 48,
             "probe_steps": 2},
}


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def write_json(path: Path, payload: dict) -> None:
    write_bytes_atomic(path, (json.dumps(payload, indent=1) + "\n").encode())


# --- data ---------------------------------------------------------------------------------------------------

def loader_rate(dataset: PackedMaskedDataset, count: int) -> float:
    """Samples per second of one process (one core): decoding is done, so this is masking and tensor work."""
    count = min(count, len(dataset))
    started = time.perf_counter()
    for position in range(count):
        dataset[position]
    return count / (time.perf_counter() - started)


def render_split(dataset: PackedMaskedDataset, workers: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole evaluation split, masked once (fixed seed), as uint8 (N, 3, S, S) and labels."""
    loader = torch.utils.data.DataLoader(dataset, batch, num_workers=workers)
    images, labels = zip(*loader)
    return torch.cat(images), torch.cat(labels)


# --- training -----------------------------------------------------------------------------------------------

def predict(model: nn.Module, images: torch.Tensor, device: torch.device, batch: int, bf16: bool,
            channels_last: bool) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(images), batch):
            chunk = to_model_input(images[start:start + batch].to(device), channels_last=channels_last)
            out.append(model(chunk).argmax(1).cpu())
    return torch.cat(out).numpy()


def gpu_rate(name: str, size: int, args: argparse.Namespace, device: torch.device) -> float:
    """Training images per second of the model alone (random data), to plan how many epochs fit."""
    model = create_model(name, num_classes=len(LABELS)).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.RAdam(model.parameters(), lr=1e-4)
    batch = torch.randint(0, 256, (args.batch, 3, size, size), dtype=torch.uint8, device=device)
    targets = torch.randint(0, len(LABELS), (args.batch,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            loss = nn.functional.cross_entropy(model(to_model_input(batch, channels_last=args.channels_last)).float(),
                                               targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):  # warm-up (cuDNN picks its algorithms)
        step()
    synchronise(device)
    started = time.perf_counter()
    for _ in range(args.probe_steps):
        step()
    synchronise(device)
    return args.probe_steps * args.batch / (time.perf_counter() - started)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


MODEL_RATES: dict[str, float] = {}  # measured once per model and run


def one_cycle(progress: float, peak: float, warm: float = 0.2) -> float:
    """torch's OneCycleLR shape (cosine up from peak/25 over `warm`, cosine down to peak/1e4) as a function of
    the fraction of training done, so the plan can be shortened mid-run and still end annealed."""
    progress = min(max(progress, 0.0), 1.0)
    start, end = peak / 25, peak / 25 / 1e4
    if progress < warm:
        return start + (peak - start) * (1 - math.cos(math.pi * progress / warm)) / 2
    return end + (peak - end) * (1 + math.cos(math.pi * (progress - warm) / (1 - warm))) / 2


def train_run(name: str, mask: str, pack: PackedFaces, train_idx: np.ndarray, val: dict, args: argparse.Namespace,
              device: torch.device, share_s: float, masks_per_s: float) -> dict:
    """One (model, training mask) run inside `share_s` seconds, evaluation included."""
    started = time.perf_counter()
    deadline = started + share_s
    if name not in MODEL_RATES:
        MODEL_RATES[name] = gpu_rate(name, pack.size, args, device)
    rate = MODEL_RATES[name]
    feed = masks_per_s * args.workers * 0.85  # what the loader can deliver (the main process needs a core too)
    eval_s = 3 * len(val["none"][0]) / (rate * 3) + 5
    epoch_s = len(train_idx) / min(rate, feed) * 1.1 + eval_s / 3
    epochs = int(max(1, min(args.max_epochs, (deadline - time.perf_counter() - eval_s) // epoch_s)))
    planned = epochs
    log(f"{name} on {mask}: model {rate:.0f} img/s, loader {feed:.0f} img/s -> {epochs} epochs of ~{epoch_s:.1f} s")

    torch.manual_seed(derive_seed(args.seed, name, mask) % 2**31)
    model = create_model(name, num_classes=len(LABELS)).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    dataset = PackedMaskedDataset(pack, train_idx, mask=mask, seed=args.seed)
    sampler = EpochKeyedSampler(len(dataset), seed=args.seed)
    loader = torch.utils.data.DataLoader(dataset, args.batch, sampler=sampler, num_workers=args.workers,
                                         persistent_workers=args.workers > 0, drop_last=len(dataset) > args.batch,
                                         pin_memory=device.type == "cuda",
                                         prefetch_factor=4 if args.workers > 0 else None)
    labels = pack.labels[train_idx]
    counts = np.bincount(labels, minlength=len(LABELS)).astype(np.float64)
    weights = torch.tensor(counts.sum() / (len(LABELS) * np.maximum(counts, 1)), dtype=torch.float32, device=device)
    criterion = nn.CrossEntropyLoss(weight=weights, label_smoothing=0.1)
    optimizer = torch.optim.RAdam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch, done_steps = max(1, len(loader)), 0
    own_images, own_labels = val[mask]
    history, best, best_epoch, best_state, stopped_early = [], -math.inf, 0, None, False
    for group in optimizer.param_groups:
        group["lr"] = one_cycle(0.0, args.lr)
    for epoch in range(args.max_epochs):
        model.train()
        sampler.set_epoch(epoch)
        epoch_started, seen, loss_sum = time.perf_counter(), 0, torch.zeros((), device=device)
        for step, (images, targets) in enumerate(loader):
            augment = torch.Generator(device=device).manual_seed(derive_seed(args.seed, "augment", epoch, step)
                                                                 % 2**63)
            images = to_model_input(images.to(device, non_blocking=True), augment, args.channels_last)
            targets = targets.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
                loss = criterion(model(images).float(), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done_steps += 1
            for group in optimizer.param_groups:
                group["lr"] = one_cycle(done_steps / (epochs * steps_per_epoch), args.lr)
            seen += len(targets)
            loss_sum += loss.detach() * len(targets)  # no .item(): the GPU is not waited for every step
            if time.perf_counter() > deadline - eval_s:
                stopped_early = True
                break
        seconds = time.perf_counter() - epoch_started
        y_pred = predict(model, own_images, device, args.batch * 2, args.bf16, args.channels_last)
        metrics = classification_metrics(own_labels.numpy(), y_pred, LABELS)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum.item() / max(seen, 1),
                        "lr": optimizer.param_groups[0]["lr"], "seconds": seconds, "images_per_second": seen / seconds,
                        **{f"val_{k}": v for k, v in metrics.items() if not isinstance(v, (dict, list))}})
        log(f"  epoch {epoch + 1}/{epochs}: loss {history[-1]['train_loss']:.3f}, val ({mask}) balanced "
            f"{metrics['balanced_accuracy']:.3f}, {seen / seconds:.0f} img/s")
        if best_state is None or metrics["balanced_accuracy"] > best:
            best, best_epoch = metrics["balanced_accuracy"], epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        if stopped_early:
            log(f"  stopped in epoch {epoch + 1}: the run's time share is spent")
            break
        left = (deadline - eval_s - time.perf_counter()) // (time.perf_counter() - epoch_started)
        if epoch + 1 + left < epochs:  # slower than planned: shorten the schedule, so it still anneals
            epochs = int(epoch + 1 + max(left, 0))
            log(f"  slower than planned: {epochs} epochs in all")
        if epoch + 1 >= epochs:
            break
    del loader  # ends the persistent workers
    model.load_state_dict(best_state)
    evaluations = {}
    for test_mask in EVAL_MASKS:
        images, y_true = val[test_mask]
        y_pred = predict(model, images, device, args.batch * 2, args.bf16, args.channels_last)
        evaluations[test_mask] = {**classification_metrics(y_true.numpy(), y_pred, LABELS),
                                  "predictions": y_pred.astype(int).tolist()}
    log(f"  best epoch {best_epoch}: " + ", ".join(f"{m} {e['balanced_accuracy']:.3f}"
                                                     for m, e in evaluations.items()) + " (balanced, val)")
    return {"model": name, "trained_on": mask, "epochs_planned": planned, "epochs_run": len(history),
            "stopped_early": stopped_early, "best_epoch": best_epoch, "seconds": time.perf_counter() - started,
            "model_images_per_second": rate, "loader_images_per_second": feed, "history": history,
            "evaluations": evaluations}


# --- outputs ------------------------------------------------------------------------------------------------

def table(runs: list[dict]) -> str:
    lines = ["| model | trained on | epochs | " + " | ".join(f"val, {m}" for m in EVAL_MASKS) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in EVAL_MASKS) + " |"]
    for run in runs:
        cells = [f"{e['accuracy']:.1%} ({e['balanced_accuracy']:.1%})" for e in
                 (run["evaluations"][m] for m in EVAL_MASKS)]
        lines.append(f"| {run['model']} | {run['trained_on']} | {run['epochs_run']} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", "Cells: accuracy (balanced accuracy) of the best epoch on the validation photos."])


def plot_curves(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=False)
    for run in runs:
        epochs = [row["epoch"] for row in run["history"]]
        label = f"{run['model']} / {run['trained_on']}"
        axes[0].plot(epochs, [row["train_loss"] for row in run["history"]], "o-", ms=3, label=label)
        axes[1].plot(epochs, [row["val_balanced_accuracy"] for row in run["history"]], "o-", ms=3, label=label)
    axes[0].set(xlabel="epoch", ylabel="training loss")
    axes[1].set(xlabel="epoch", ylabel="val balanced accuracy (own mask)", ylim=(0, 1))
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def environment(device: torch.device, workers: int) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "cpu_count": os.cpu_count(), "workers": workers, "device": str(device), "platform": platform.platform()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def cmd_run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    deadline = started + args.budget_s
    preset = PRESETS[args.preset]
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.workers = args.workers if args.workers is not None else max(1, (os.cpu_count() or 2) - 1)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    args.bf16 = not args.no_bf16
    args.channels_last = device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    plan = [(model, mask) for model in args.models.split(",") for mask in args.conditions.split(",")]
    unknown = sorted({m for _, m in plan} - set(EVAL_MASKS)) + sorted({m for m, _ in plan} - set(list_models()))
    if unknown:
        raise SystemExit(f"unknown model or condition: {', '.join(unknown)} (conditions: {', '.join(EVAL_MASKS)})")
    args.out.mkdir(parents=True, exist_ok=True)
    log(f"device {device}, {args.workers} loader workers, budget {args.budget_s:.0f} s, preset {args.preset}")

    pack = PackedFaces.load(args.pack, threads=max(2, args.workers))
    train_idx, val_idx = pack.split("train"), pack.split("val")
    if args.max_train:
        train_idx = train_idx[:: max(1, len(train_idx) // args.max_train)][: args.max_train]
    if args.max_val:
        val_idx = val_idx[:: max(1, len(val_idx) // args.max_val)][: args.max_val]
    log(f"pack: {len(train_idx)} training and {len(val_idx)} validation photos at {pack.size} px "
        f"({time.perf_counter() - started:.1f} s)")

    rates = {m: loader_rate(PackedMaskedDataset(pack, train_idx, mask=m, seed=args.seed), args.rate_samples)
             for m in EVAL_MASKS}
    loader = {"samples_per_second_per_core": rates, "size": pack.size, "workers": args.workers,
              "estimated_feed": {m: r * args.workers for m, r in rates.items()},
              "environment": environment(device, args.workers)}
    write_json(args.out / "loader.json", loader)
    log("loader, one core: " + ", ".join(f"{m} {r:.0f}/s" for m, r in rates.items()))
    val = {}
    for m in EVAL_MASKS:  # masked once, kept on the device: every epoch's validation is then a few batches
        images, labels = render_split(PackedMaskedDataset(pack, val_idx, mask=m, fixed_seed=0), args.workers, 256)
        val[m] = (images.to(device), labels)
    log(f"validation photos masked ({time.perf_counter() - started:.1f} s)")

    report = {"command": provenance.command(), "date": provenance.today(),
              "preset": args.preset, "seed": args.seed, "budget_s": args.budget_s, "pack": pack.meta,
              "environment": environment(device, args.workers), "loader": loader,
              "settings": {k: getattr(args, k) for k in ("batch", "lr", "max_epochs", "bf16", "channels_last")},
              "val_files": [pack.names[i] for i in val_idx], "val_labels": pack.labels[val_idx].tolist(),
              "runs": [], "not_run": []}
    for number, (model, mask) in enumerate(plan):
        share = (deadline - args.reserve_s - time.perf_counter()) / (len(plan) - number)
        if share < args.min_share_s:
            report["not_run"] = [f"{m}/{c}" for m, c in plan[number:]]
            log(f"out of time: {', '.join(report['not_run'])} not run")
            break
        report["runs"].append(train_run(model, mask, pack, train_idx, val, args, device, share, rates[mask]))
        report["seconds"] = time.perf_counter() - started
        write_json(args.out / "results.json", report)
        (args.out / "table.md").write_text(table(report["runs"]) + "\n")
        plot_curves(report["runs"], args.out / "learning-curves.png")
    log(f"done in {time.perf_counter() - started:.0f} s of {args.budget_s:.0f}")
    print(table(report["runs"]))
    return 0


# --- back on this machine -----------------------------------------------------------------------------------

def cmd_import(args: argparse.Namespace) -> int:
    """results.json -> the layout of benchmarks/experiment.py, then its table and paired comparison."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import experiment

    from fer.cli import write_predictions
    from fer.train import write_history

    report = json.loads(args.results.read_text())
    root = args.to
    results = experiment.seed_dir(root, report["seed"])
    for run in report["runs"]:
        saved = results / f"{run['model']}-{run['trained_on']}"
        saved.mkdir(parents=True, exist_ok=True)
        summary = {k: v for k, v in run.items() if k != "evaluations"}
        write_json(saved / "train.json", {"command": report["command"], "date": report["date"],
                                          "environment": report["environment"], "settings": report["settings"],
                                          "pack": report["pack"], **summary})
        write_history(run["history"], saved)
        (saved / "history.json").unlink()
        for test_mask, evaluation in run["evaluations"].items():
            target = saved / f"eval-val-{test_mask}"
            target.mkdir(exist_ok=True)
            metrics = {k: v for k, v in evaluation.items() if k != "predictions"}
            write_json(target / "metrics.json", {"model": run["model"], "trained_mask": run["trained_on"],
                                                 "split": "val", "mask": test_mask, "mask_seed": 0, **metrics})
            write_predictions(target / "predictions.csv", [Path(f) for f in report["val_files"]],
                              np.array(report["val_labels"]), np.array(evaluation["predictions"]))
    models = sorted({run["model"] for run in report["runs"]})
    namespace = argparse.Namespace(config=f"gpu-{report['preset']}", seed=report["seed"])
    assembled = experiment.assemble(results, models, namespace)
    print(experiment.markdown(assembled["rows"]))
    if experiment.paired(root, models, experiment.saved_seeds(root), namespace)["rows"]:
        print((root / "paired.md").read_text())
    print(f"wrote {root}")
    return 0


def cmd_loader(args: argparse.Namespace) -> int:
    """Masks per second on one core, per condition: what a data loader worker can feed."""
    pack = PackedFaces.load(args.pack)
    train_idx = pack.split("train")
    rates = {m: loader_rate(PackedMaskedDataset(pack, train_idx, mask=m, seed=0), args.samples) for m in EVAL_MASKS}
    report = {"command": provenance.command(), "date": provenance.today(), "size": pack.size,
              "samples": args.samples, "samples_per_second_per_core": rates,
              "machine": provenance.machine(),
              "note": "one process, photos already decoded: the masking and tensor work of one loader worker"}
    print(json.dumps(report, indent=1))
    if args.json:
        write_json(args.json, report)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train and evaluate within a time budget (the device command)")
    run.add_argument("--pack", type=Path, default=ROOT / "gpu-pack" / "faces.npz")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--budget-s", type=float, default=480, help="wall-clock seconds for everything")
    run.add_argument("--reserve-s", type=float, default=10, help="kept back for the last writes")
    run.add_argument("--min-share-s", type=float, default=20, help="a run with less time than this is not started")
    run.add_argument("--preset", choices=sorted(PRESETS), default="h200")
    run.add_argument("--models", default="resmasking,cbam_resnet50")
    run.add_argument("--conditions", default="mlfw-white,varied")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--batch", type=int, default=None)
    run.add_argument("--lr", type=float, default=None)
    run.add_argument("--max-epochs", type=int, default=None)
    run.add_argument("--workers", type=int, default=None)
    run.add_argument("--max-train", type=int, default=None)
    run.add_argument("--max-val", type=int, default=None)
    run.add_argument("--probe-steps", type=int, default=None)
    run.add_argument("--rate-samples", type=int, default=300, help="samples timed per condition for loader.json")
    run.add_argument("--no-bf16", action="store_true")
    run.add_argument("--cpu", action="store_true", help="stay on the CPU even where CUDA is present")
    run.set_defaults(func=cmd_run)
    imp = sub.add_parser("import", help="lay a results.json out like benchmarks/experiment.py and tabulate it")
    imp.add_argument("results", type=Path)
    imp.add_argument("--to", type=Path, default=ROOT / "benchmarks" / "results" / "experiment-gpu")
    imp.set_defaults(func=cmd_import)
    loader = sub.add_parser("loader", help="masks per second per CPU core, per condition")
    loader.add_argument("--pack", type=Path, default=ROOT / "gpu-pack" / "faces.npz")
    loader.add_argument("--samples", type=int, default=500)
    loader.add_argument("--json", type=Path, default=None)
    loader.set_defaults(func=cmd_loader)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
