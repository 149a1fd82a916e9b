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
