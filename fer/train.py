"""Training: the paper's protocol as a config, smaller CPU configs, checkpoints, early stopping, logs, plots."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from maskgen.images import write_bytes_atomic
from maskgen.seeding import derive_seed

from .data import LABELS, FaceDataset
from .metrics import classification_metrics
from .models import create_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """One training protocol. `paper` is the seed paper's; the cpu-* configs finish on two CPU cores."""

    image_size: int = 224
    batch_size: int = 48
    epochs: int = 50
    optimizer: str = "sgd"  # "sgd" (the paper's text) or "radam" (what its published code ran)
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 1e-3
    plateau_patience: int = 2
    early_stop_patience: int = 8
    augment: bool = True
    balance: str = "none"  # "none", "weights" (class-weighted loss) or "sampler" (balanced batches)
    max_train: int | None = None  # a stratified subset of the training set (CPU configs)
    max_val: int | None = None
    workers: int = 2
    schedule: str = "plateau"  # "plateau" (the paper's reduce-on-plateau) or "onecycle" (warm-up, cosine decay)
    label_smoothing: float = 0.0
    bf16: bool = False  # bfloat16 autocast (CPUs with avx512_bf16 run ResNets ~1.7x faster; GPUs too)
    channels_last: bool = False
    preload: bool = False  # photos decoded once, at the training size, into memory; masks drawn at that size


CONFIGS: dict[str, TrainConfig] = {
    "paper": TrainConfig(),
    "paper-radam": TrainConfig(optimizer="radam"),
    # from scratch on CPU: larger learning rate, class weights for the rare negative class
    "cpu-tiny": TrainConfig(image_size=64, batch_size=32, epochs=3, optimizer="radam", lr=1e-3, weight_decay=1e-4,
                            balance="weights", max_train=3000, max_val=600, early_stop_patience=3),
    "cpu-small": TrainConfig(image_size=96, batch_size=32, epochs=8, optimizer="radam", lr=1e-3, weight_decay=1e-4,
                             balance="weights", max_train=9100, max_val=1800, early_stop_patience=4),
    # the whole training split at 96 px, one-cycle schedule, label smoothing, bf16, photos in memory: both paper
    # models pass 65 % balanced accuracy within the hour on 2 cores (cpu-long: the same for 14 epochs)
    "cpu-fast": TrainConfig(image_size=96, batch_size=64, epochs=6, optimizer="radam", lr=2e-3, weight_decay=1e-4,
                            balance="weights", max_val=1800, early_stop_patience=6, schedule="onecycle",
                            label_smoothing=0.1, bf16=True, preload=True),
    "cpu-long": TrainConfig(image_size=96, batch_size=64, epochs=14, optimizer="radam", lr=2e-3, weight_decay=1e-4,
                            balance="weights", max_val=1800, early_stop_patience=6, schedule="onecycle",
                            label_smoothing=0.1, bf16=True, preload=True),
    "smoke": TrainConfig(image_size=32, batch_size=4, epochs=1, optimizer="radam", lr=1e-3, augment=False,
                         workers=0),
}


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def stratified_subset(labels: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Indices of at most `limit` samples, keeping the class proportions (and every class present)."""
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picks = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        take = max(1, int(round(limit * len(members) / len(labels))))
        picks.append(rng.choice(members, min(take, len(members)), replace=False))
    return np.sort(np.concatenate(picks))


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    if config.optimizer == "radam":
        return torch.optim.RAdam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                 decoupled_weight_decay=True)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """A checkpoint written like every maskgen output: to a temporary file beside it, then renamed."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.1,
                                                          patience=config.plateau_patience)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, epochs=config.epochs,
                                                   steps_per_epoch=max(1, steps_per_epoch), pct_start=0.2)
    raise ValueError(f"unknown schedule {config.schedule!r}; use 'plateau' or 'onecycle'")


class Autocast:
    """bfloat16 autocast on the training device when asked, else nothing (a reusable context factory)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self):
        return torch.autocast(device().type, dtype=torch.bfloat16, enabled=self.enabled)


def predict(model: nn.Module, loader: torch.utils.data.DataLoader, desc: str = "eval",
            autocast: Autocast | None = None) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    labels, preds = [], []
    autocast = autocast or Autocast(False)
    with torch.no_grad(), autocast():
        for images, targets in tqdm(loader, desc=desc, unit="batch", leave=False):
            logits = model(images.to(device()))
            preds.append(logits.argmax(1).cpu().numpy())
            labels.append(targets.numpy())
    return np.concatenate(labels), np.concatenate(preds)


def train(model_name: str, train_set: FaceDataset, val_set: FaceDataset, config: TrainConfig, out: Path,
          weights: str | None = None, resume: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """Train with early stopping on validation balanced accuracy; writes best.pt, last.pt, history and plots.
    `resume`: a last.pt checkpoint to continue, as `load_resume` read and checked it."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = create_model(model_name, num_classes=len(LABELS), weights=weights).to(device())
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config)
    labels = train_set.labels
    counts = np.bincount(labels, minlength=len(LABELS)).astype(np.float64)
    class_weights = torch.tensor(counts.sum() / (len(LABELS) * np.maximum(counts, 1)), dtype=torch.float32)
    criterion = nn.CrossEntropyLoss(weight=class_weights.to(device()) if config.balance == "weights" else None,
                                    label_smoothing=config.label_smoothing)
    generator = torch.Generator().manual_seed(seed)
    if config.balance == "sampler":
        sampler = torch.utils.data.WeightedRandomSampler(class_weights[labels].double(), len(labels),
                                                         generator=generator)
        train_loader = torch.utils.data.DataLoader(train_set, config.batch_size, sampler=sampler,
                                                   num_workers=config.workers)
    else:
        train_loader = torch.utils.data.DataLoader(train_set, config.batch_size, shuffle=True, generator=generator,
                                                   num_workers=config.workers,
                                                   drop_last=len(train_set) > config.batch_size)
    val_loader = torch.utils.data.DataLoader(val_set, config.batch_size * 2, num_workers=config.workers)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch=len(train_loader))
    autocast = Autocast(config.bf16)

    start_epoch, best, stale, history = 0, -math.inf, 0, []
    if resume is not None:
        model.load_state_dict(resume["model_state"])
        optimizer.load_state_dict(resume["optimizer_state"])
        scheduler.load_state_dict(resume["scheduler_state"])
        start_epoch, best, stale, history = resume["epoch"] + 1, resume["best"], resume["stale"], resume["history"]

    for epoch in range(start_epoch, config.epochs):
        model.train()
        # keyed by epoch, so a resumed run sees the very order, masks and augmentations it would have seen
        train_set.set_epoch(epoch)
        generator.manual_seed(derive_seed(seed, "order", epoch))
        torch.manual_seed(derive_seed(seed, "torch", epoch) % 2**63)  # dropout and the like, keyed too
        started, seen, loss_sum = time.perf_counter(), 0, 0.0
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False)
        for images, targets in bar:
            images, targets = images.to(device()), targets.to(device())
            if config.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = criterion(model(images).float(), targets)
            loss.backward()
            optimizer.step()
            if config.schedule == "onecycle":
                scheduler.step()
            seen += len(targets)
            loss_sum += loss.item() * len(targets)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        y_true, y_pred = predict(model, val_loader, autocast=autocast)
        metrics = classification_metrics(y_true, y_pred, LABELS)
        if config.schedule == "plateau":
            scheduler.step(metrics["balanced_accuracy"])
        row = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "lr": optimizer.param_groups[0]["lr"],
               "seconds": time.perf_counter() - started, "images_per_second": seen / (time.perf_counter() - started),
               **{f"val_{k}": v for k, v in metrics.items() if not isinstance(v, (dict, list))}}
        history.append(row)
        improved = metrics["balanced_accuracy"] > best
        best, stale = (metrics["balanced_accuracy"], 0) if improved else (best, stale + 1)
        state = {"model_name": model_name, "model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
                 "scheduler_state": scheduler.state_dict(), "epoch": epoch, "best": best, "stale": stale,
                 "history": history, "config": dataclasses.asdict(config), "labels": LABELS,
                 "mask": train_set.mask, "image_size": config.image_size, "greyscale": train_set.greyscale,
                 "seed": seed}
        save_atomic(state, out / "last.pt")
        if improved:  # the model to evaluate: without the optimiser's moments, a third of last.pt's size
            save_atomic({k: v for k, v in state.items() if k not in RESUME_ONLY}, out / "best.pt")
        write_history(history, out)
        log.info("epoch %d: loss %.3f, val acc %.3f, balanced %.3f", epoch + 1, row["train_loss"],
                 row["val_accuracy"], row["val_balanced_accuracy"])
        print(f"epoch {epoch + 1}: loss {row['train_loss']:.3f}  val acc {row['val_accuracy']:.3f}  "
              f"balanced {row['val_balanced_accuracy']:.3f}  ({row['images_per_second']:.0f} img/s)", flush=True)
        if stale >= config.early_stop_patience:
            print(f"early stop: no improvement for {stale} epochs")
            break
    return {"best_val_balanced_accuracy": best, "epochs_run": len(history), "history": history}


RESUME_ONLY = ("optimizer_state", "scheduler_state")  # kept in last.pt, left out of best.pt

# What a resume may change: how long it goes on, and how the work is spread (no result depends on it).
RESUMABLE_CHANGES = ("epochs", "early_stop_patience", "workers")


def load_resume(path: str | Path, model_name: str, config: TrainConfig, mask: str, greyscale: bool,
                seed: int) -> dict[str, Any]:
    """The checkpoint at `path` (a last.pt) to continue, refused unless it is one of this model's and repeats the
    run's settings (`resume_differences`): read once, before any data, and handed to `train`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if "model_name" in state and "optimizer_state" not in state:
        raise ValueError(f"{path} holds the model only (best.pt); resume from last.pt beside it")
    if state.get("model_name") != model_name:
        raise ValueError(f"{path} is a {state.get('model_name')!r} checkpoint, not {model_name!r}")
    changed = resume_differences(state, model_name, config, mask, greyscale, seed)
    if changed:
        raise ValueError(f"--resume must repeat the run's settings (only {', '.join(RESUMABLE_CHANGES)} may "
                         f"change); this command differs in: {'; '.join(changed)}")
    return state


def resume_differences(state: dict[str, Any], model_name: str, config: TrainConfig, mask: str, greyscale: bool,
                       seed: int) -> list[str]:
    """What a resumed run would do differently from the checkpoint's run, as "name: was -> now" lines; a resume
    must repeat the run's settings, or train.json would describe a run that never happened."""
    was = {"model": state.get("model_name"), "mask": state.get("mask"), "greyscale": state.get("greyscale"),
           "seed": state.get("seed", seed),  # checkpoints from before the seed was kept cannot say
           **{k: v for k, v in state.get("config", {}).items() if k not in RESUMABLE_CHANGES}}
    now = {"model": model_name, "mask": mask, "greyscale": greyscale, "seed": seed,
           **{k: v for k, v in dataclasses.asdict(config).items() if k not in RESUMABLE_CHANGES}}
    return [f"{key}: {was.get(key)!r} -> {now.get(key)!r}" for key in now if was.get(key) != now.get(key)]


def write_history(history: list[dict[str, Any]], out: Path) -> None:
    (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    keys = list(history[0])
    lines = [",".join(keys)] + [",".join(str(row[k]) for k in keys) for row in history]
    (out / "history.csv").write_text("\n".join(lines) + "\n")
    plot_learning_curve(history, out / "learning-curve.png")


def plot_learning_curve(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, left = plt.subplots(figsize=(6, 3.5))
    left.plot(epochs, [row["train_loss"] for row in history], "o-", color="tab:red", label="train loss")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    right = left.twinx()
    right.plot(epochs, [row["val_accuracy"] for row in history], "s-", label="val accuracy")
    right.plot(epochs, [row["val_balanced_accuracy"] for row in history], "^-", label="val balanced accuracy")
    right.set_ylim(0, 1)
    left.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.legend(loc="upper center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(path, dpi=100)
    plt.close(fig)
