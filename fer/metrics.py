"""Scores and pictures of a classifier: accuracy, balanced accuracy, per-class recall, macro-F1, confusion."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """All scores; classes absent from `y_true` get recall NaN and are left out of the balanced accuracy."""
    matrix = confusion(np.asarray(y_true), np.asarray(y_pred), len(labels))
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    hits = np.diag(matrix).astype(np.float64)
    recall = np.where(support > 0, hits / np.maximum(support, 1), np.nan)
    precision = np.where(predicted > 0, hits / np.maximum(predicted, 1), 0.0)
    f1 = np.where(precision + np.nan_to_num(recall) > 0,
                  2 * precision * np.nan_to_num(recall) / np.maximum(precision + np.nan_to_num(recall), 1e-12), 0.0)
    present = support > 0
    return {
        "accuracy": float(hits.sum() / max(matrix.sum(), 1)),
        "balanced_accuracy": float(np.nanmean(recall[present])) if present.any() else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "recall": {label: float(r) for label, r in zip(labels, recall)},
        "support": {label: int(s) for label, s in zip(labels, support)},
        "confusion": matrix.tolist(),
        "count": int(matrix.sum()),
    }


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count}\n{rates[i, j]:.0%}", ha="center", va="center", fontsize=8,
                color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _scores(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """Accuracy and balanced accuracy of many resamples at once: arrays of shape (draws, photos) -> (2, draws)."""
    hits = (y_true == y_pred).astype(np.float64)
    accuracy = hits.mean(axis=-1)
    recalls = []
    for label in range(classes):
        members = (y_true == label).astype(np.float64)
        count = members.sum(axis=-1)
        recalls.append(np.where(count > 0, (hits * members).sum(axis=-1) / np.maximum(count, 1), np.nan))
    return np.stack([accuracy, np.nanmean(np.stack(recalls), axis=0)])


def paired_difference(runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], classes: int,
                      draws: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Model B minus model A, scored on the very same photos, with 95 % intervals.

    `runs` holds one (labels, predictions of A, predictions of B) per training seed. Two intervals answer two
    questions: the bootstrap one resamples the photos (the same draw for A and B, so what they share cancels)
    and says how much the test set's luck moves the mean difference; the Student-t one over seeds (2 or more)
    also counts that every retraining lands elsewhere, and is the one that says whether B trains better.
    """
    from scipy import stats

    generator = np.random.default_rng(seed)
    per_seed, boot = [], []
    for y_true, pred_a, pred_b in runs:
        y_true, pred_a, pred_b = (np.asarray(a) for a in (y_true, pred_a, pred_b))
        if not (y_true.shape == pred_a.shape == pred_b.shape) or y_true.ndim != 1 or len(y_true) == 0:
            raise ValueError("each run needs labels and both models' predictions for the same non-empty photo list")
        per_seed.append(_scores(y_true, pred_b, classes) - _scores(y_true, pred_a, classes))
        picks = generator.integers(0, len(y_true), size=(draws, len(y_true)))
        boot.append(_scores(y_true[picks], pred_b[picks], classes) - _scores(y_true[picks], pred_a[picks], classes))
    per_seed_array, boot_mean = np.stack(per_seed), np.mean(boot, axis=0)
    result: dict[str, Any] = {"seeds": len(runs), "photos": [int(len(r[0])) for r in runs]}
    for row, name in enumerate(("accuracy", "balanced_accuracy")):
        values = per_seed_array[:, row]
        entry = {"mean": float(values.mean()), "per_seed": [float(v) for v in values],
                 "bootstrap_95": [float(np.percentile(boot_mean[row], 2.5)), float(np.percentile(boot_mean[row], 97.5))]}
        if len(values) >= 2:
            half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
            entry["seeds_t_95"] = [float(values.mean() - half), float(values.mean() + half)]
        result[name] = entry
    return result
