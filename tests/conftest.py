"""Shared fixtures: the bundled sample faces (detected once per session) and the optional shared data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

import maskgen

os.environ.setdefault("GLOG_minloglevel", "2")

# CI explores the same examples on every run (a failure there is then reproducible); locally hypothesis
# draws new ones each time, which is where new failures get found.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

DATA_DIR = Path(os.environ.get("MASKGEN_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
needs_data = pytest.mark.skipif(not (DATA_DIR / "lfw-expressions").is_dir(),
                                reason=f"shared data not found at {DATA_DIR} (set MASKGEN_DATA)")


@pytest.fixture(scope="session")
def samples() -> dict[str, np.ndarray]:
    return {name: maskgen.load_sample(name) for name in maskgen.sample_names()}


@pytest.fixture(scope="session")
def sample_faces(samples) -> dict[str, list[maskgen.Face]]:
    return {name: maskgen.detect_faces(image) for name, image in samples.items()}


@pytest.fixture(scope="session")
def frontal(samples, sample_faces) -> tuple[np.ndarray, maskgen.Face]:
    name = "Tommy_Robredo_0001"
    return samples[name], sample_faces[name][0]


@pytest.fixture(scope="session")
def csv_dataset(tmp_path_factory) -> Path:
    """The lfw-expressions CSV layout (labels.csv, images/) with the bundled samples: 5 train, 3 val."""
    root = tmp_path_factory.mktemp("csvdata")
    (root / "images").mkdir()
    lines = ["image,emotion,expression,identity,source,split,color112"]
    for i, path in enumerate(maskgen.sample_paths()):
        shutil.copy(path, root / "images" / path.name)
        expression = ("negative", "neutral", "positive")[i % 3]
        lines.append(f"{path.name},x,{expression},p{i},lfw,{'train' if i < 5 else 'val'},0")
    lines.append("surprised.jpg,surprise,,p9,lfw,train,0")  # no three-class label: skipped
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root
