"""`fer` command line: train, evaluate, models. `python -m fer ...` works the same.

    fer train --data ../shared/data/lfw-expressions --model resmasking --config cpu-tiny --mask varied --out runs/a
    fer evaluate --data ../shared/data/lfw-expressions --split val --checkpoint runs/a/best.pt --mask mlfw-white
    fer models
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from maskgen.cache import LandmarkCache
from maskgen.images import write_image
from maskgen.sheet import contact_sheet

from .data import LABELS, MASKS, DatasetError, FaceDataset, build_landmark_cache, check_images, find_samples
from .metrics import classification_metrics, plot_confusion
from .models import count_parameters, create_model, list_models
from .train import CONFIGS, device, load_resume, predict, stratified_subset, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fer", description="Facial expression recognition on masked faces.")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", type=Path, required=True,
                       help="labels.csv (or its folder), a {train,eval}/{class}/ tree, or a {class}/ test folder")
        p.add_argument("--colour", action="store_true", help="CSV layout: use the colour 112 px crops")
        p.add_argument("--greyscale", action="store_true", help="convert every photo to grey")
        p.add_argument("--cache", type=Path, default=None,
                       help="landmark cache (default: landmarks-<dataset>.sqlite beside the run folder: "
                            "beside --out for train, beside the checkpoint's folder for evaluate)")
        p.add_argument("--skip-bad", action="store_true",
                       help="leave unreadable photos out (logged) instead of failing")

    t = sub.add_parser("train", help="train a model")
    data_args(t)
    t.add_argument("--model", required=True, choices=list_models())
    t.add_argument("--config", default="cpu-tiny", choices=sorted(CONFIGS))
    t.add_argument("--mask", default="none", choices=MASKS, help="mask condition applied online to training photos")
    t.add_argument("--train-split", default="train")
    t.add_argument("--val-split", default="val", help="validation split (LFW-FER folders: eval)")
    t.add_argument("--val-mask", default=None, choices=MASKS, help="mask on validation photos (default: --mask)")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--weights", default=None, help="local weights file to start from")
    t.add_argument("--resume", default=None, type=Path,
                   help="checkpoint (last.pt) to continue; the run's settings must be repeated (--epochs may grow)")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    t.add_argument("--epochs", type=at_least(1), default=None)
    t.add_argument("--image-size", type=at_least(16), default=None)
    t.add_argument("--balance", choices=("none", "weights", "sampler"), default=None)
    t.add_argument("--optimizer", choices=("sgd", "radam"), default=None)
    t.add_argument("--max-train", type=at_least(1), default=None)
    t.add_argument("--workers", type=at_least(0), default=None)
    t.add_argument("--seed", type=int, default=0)

    e = sub.add_parser("evaluate", help="score a checkpoint; JSON, confusion-matrix PNG, misclassified grid (JPEG)")
    data_args(e)
    e.add_argument("--checkpoint", required=True, type=Path)
    e.add_argument("--split", default="test")
    e.add_argument("--mask", default="none", choices=MASKS)
    e.add_argument("--mask-seed", type=int, default=0, help="fixed masks: every model sees the same pixels")
    e.add_argument("--out", type=Path, required=True, help="folder for metrics.json and the PNGs")
    e.add_argument("--max-samples", type=at_least(1), default=None)
    e.add_argument("--no-grid", action="store_true",
                   help="skip misclassified.jpg (the grid of up to 40 misclassified photos, about 100 KB)")

    m = sub.add_parser("models", help="list the models with their parameter counts")
    m.add_argument("--image-size", type=int, default=64, help="also check a forward pass at this size")
    return parser


def at_least(low: int):
    """An argparse type: an integer no smaller than `low`, refused before any work otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what was asked, for the reports
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return {"train": cmd_train, "evaluate": cmd_evaluate, "models": cmd_models}[args.command](args)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"fer {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = f"; continue with --resume {args.out / 'last.pt'}" if args.command == "train" else ""
        print(f"\nfer {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


def default_cache_path(args: argparse.Namespace, root: Path) -> Path:
    """`landmarks-<dataset>.sqlite` beside the run folder, whatever the working folder: the folder holding
    `--out` for `fer train`, the one holding the checkpoint's folder for `fer evaluate`, so `--out runs/a` and
    `--checkpoint runs/a/best.pt` share `runs/landmarks-<dataset>.sqlite` (and so do runs/b, runs/c ...)."""
    run = args.out if args.command == "train" else args.checkpoint.resolve().parent
    return run.resolve().parent / f"landmarks-{root.resolve().name}.sqlite"


def _cache(args: argparse.Namespace, root: Path, needed: bool) -> LandmarkCache | None:
    if not needed:
        return None
    return LandmarkCache(args.cache or default_cache_path(args, root), root=root)


def _find(args, split: str) -> tuple[list, Path]:
    """A split's samples and their root, before anything is read from the photos."""
    samples, root = find_samples(args.data, split, args.colour)
    if args.colour:
        every = len(find_samples(args.data, split, False)[0])
        if every > len(samples):
            print(f"--colour: {len(samples)} of the {every} {split} photos have a colour copy; the others are left out")
    return samples, root


def _prepare(args, found: tuple[list, Path], mask: str, limit: int | None, seed: int):
    """`_find`'s samples cut to `limit`, checked readable, and their landmarks cached when they are masked."""
    samples, root = found
    samples = [samples[i] for i in stratified_subset(np.array([s.label for s in samples]), limit, seed)]
    samples = check_images(samples, args.skip_bad)
    cache = _cache(args, root, mask != "none")
    if cache is not None:
        build_landmark_cache(samples, cache)
    return samples, cache, root


def cmd_train(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in {"epochs": args.epochs, "image_size": args.image_size, "balance": args.balance,
                                   "optimizer": args.optimizer, "max_train": args.max_train,
                                   "workers": args.workers}.items() if v is not None}
    config = dataclasses.replace(CONFIGS[args.config], **overrides)
    val_mask = args.val_mask or args.mask
    create_model(args.model)  # fail on a bad model or weights file before touching the data
    resume = _check_run_folder(args, config)
    # both splits found before a minute of checks on either
    found = {split: _find(args, split) for split in (args.train_split, args.val_split)}
    train_samples, train_cache, _ = _prepare(args, found[args.train_split], args.mask, config.max_train, args.seed)
    val_samples, val_cache, _ = _prepare(args, found[args.val_split], val_mask, config.max_val, args.seed)
    train_set = FaceDataset(train_samples, config.image_size, args.mask, train_cache, augment=config.augment,
                            greyscale=args.greyscale, seed=args.seed, preload=config.preload)
    val_set = FaceDataset(val_samples, config.image_size, val_mask, val_cache, fixed_seed=args.seed,
                          greyscale=args.greyscale, preload=config.preload)
    print(f"training {args.model} ({args.config}, mask {args.mask}) on {len(train_set)} photos, "
          f"validating on {len(val_set)} (mask {val_mask}); device {device()}")
    summary = train(args.model, train_set, val_set, config, args.out, weights=args.weights, resume=resume,
                    seed=args.seed)
    report = {"command": "fer " + shlex.join(args.argv), "model": args.model,
              "config": args.config, "settings": dataclasses.asdict(config), "mask": args.mask, "val_mask": val_mask,
              "data": str(args.data), "train_count": len(train_set), "val_count": len(val_set), "seed": args.seed,
              **summary}
    (args.out / "train.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"best validation balanced accuracy {summary['best_val_balanced_accuracy']:.3f}; wrote {args.out}")
    return 0


def _check_run_folder(args: argparse.Namespace, config) -> dict | None:
    """Before any data is read: --out holds no other run (unless --overwrite), and a --resume checkpoint
    exists and repeats the run's settings. Returns that checkpoint, read once."""
    if args.resume is not None:
        return load_resume(args.resume, args.model, config, args.mask, args.greyscale, args.seed)
    if not args.overwrite and any((args.out / name).exists() for name in ("train.json", "last.pt")):
        raise ValueError(f"{args.out} already holds a run; continue it with --resume {args.out / 'last.pt'}, "
                         "or pass --overwrite to replace it")
    return None


def write_predictions(path: Path, files: list[Path], y_true: np.ndarray, y_pred: np.ndarray) -> None:
    """One row per photo, so two models scored on the same photos can be compared pair by pair."""
    lines = ["file,label,prediction"] + [f"{f.as_posix()},{LABELS[t]},{LABELS[p]}"
                                         for f, t, p in zip(files, y_true, y_pred)]
    path.write_text("\n".join(lines) + "\n")


def cmd_evaluate(args: argparse.Namespace) -> int:
    state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    if "model_name" not in state:
        raise ValueError(f"{args.checkpoint} is not a fer checkpoint")
    model = create_model(state["model_name"], num_classes=len(LABELS))
    model.load_state_dict(state["model_state"])
    model.to(device())
    samples, cache, root = _prepare(args, _find(args, args.split), args.mask, args.max_samples, args.mask_seed)
    greyscale = args.greyscale or state.get("greyscale", False)
    dataset = FaceDataset(samples, state["image_size"], args.mask, cache, fixed_seed=args.mask_seed,
                          greyscale=greyscale)
    loader = torch.utils.data.DataLoader(dataset, 64, num_workers=2)
    y_true, y_pred = predict(model, loader)
    metrics = classification_metrics(y_true, y_pred, LABELS)
    args.out.mkdir(parents=True, exist_ok=True)
    title = f"{state['model_name']} (trained {state.get('mask')}) on {args.split}, mask {args.mask}"
    plot_confusion(np.array(metrics["confusion"]), LABELS, args.out / "confusion.png", title)
    wrong = np.flatnonzero(y_true != y_pred)[:40]
    if len(wrong) and not args.no_grid:
        sheet = contact_sheet([dataset.load(int(i)) for i in wrong],
                              [f"{LABELS[y_true[i]]}->{LABELS[y_pred[i]]}" for i in wrong], columns=8, size=96)
        write_image(args.out / "misclassified.jpg", sheet, quality=80)  # small enough to commit
    report = {"checkpoint": str(args.checkpoint), "model": state["model_name"], "trained_mask": state.get("mask"),
              "data": str(args.data), "split": args.split, "mask": args.mask, "mask_seed": args.mask_seed, **metrics}
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    write_predictions(args.out / "predictions.csv", [s.path.relative_to(root) for s in samples], y_true, y_pred)
    print(f"{title}: accuracy {metrics['accuracy']:.3f}, balanced {metrics['balanced_accuracy']:.3f}, "
          f"macro-F1 {metrics['macro_f1']:.3f} on {metrics['count']} photos; wrote {args.out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    print(f"{'model':<16}{'parameters':>14}  output at {args.image_size} px and 224 px")
    for name in list_models():
        model = create_model(name).eval()
        shapes = []
        with torch.no_grad():
            for size in (args.image_size, 224):
                shapes.append(tuple(model(torch.zeros(2, 3, size, size)).shape))
        print(f"{name:<16}{count_parameters(model):>14,}  {shapes[0]} {shapes[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
