"""Array helpers for the small arrays a mask is made of (a few hundred grid points, a few thousand pixels).

At these sizes numpy's generic entry points (`np.clip`, `np.gradient`) spend more time on argument handling than
on the arithmetic; these do the same sums with plain ufunc calls.
"""

from __future__ import annotations

import numpy as np


def clamp(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """`np.clip(values, low, high)` for arrays, at a third of its cost on small ones."""
    return np.minimum(np.maximum(values, low), high)


def grid_gradient(values: np.ndarray, axis: int) -> np.ndarray:
    """`np.gradient` along axis 0 or 1 (central inside, one-sided at the ends), for grids of 2+ samples."""
    out = np.empty_like(values)
    if axis == 0:
        np.subtract(values[2:], values[:-2], out=out[1:-1])
        out[1:-1] *= 0.5
        out[0] = values[1] - values[0]
        out[-1] = values[-1] - values[-2]
    elif axis == 1:
        np.subtract(values[:, 2:], values[:, :-2], out=out[:, 1:-1])
        out[:, 1:-1] *= 0.5
        out[:, 0] = values[:, 1] - values[:, 0]
        out[:, -1] = values[:, -1] - values[:, -2]
    else:
        raise ValueError(f"grid_gradient takes axis 0 or 1, got {axis}")
    return out
