"""Small face photos shipped with the package for the demo, the docs and the tests (origin: SOURCES.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np


def sample_paths() -> list[Path]:
    folder = Path(str(resources.files(__name__)))
    return sorted(p for p in folder.iterdir() if p.suffix == ".jpg")


def sample_names() -> list[str]:
    return [p.stem for p in sample_paths()]


def load_sample(name: str) -> np.ndarray:
    """A sample photo as stored: greyscale (H, W) uint8 for grey LFW photos, RGB (H, W, 3) for colour ones."""
    from ..images import read_image

    for path in sample_paths():
        if path.stem == name:
            return read_image(path)
    raise KeyError(f"no sample named {name!r}; available: {', '.join(sample_names())}")
