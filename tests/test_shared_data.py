"""Checks on the real data in ../shared/data; skipped with a reason when it is absent."""

from __future__ import annotations

import csv

import numpy as np

import maskgen
from conftest import DATA_DIR, needs_data


@needs_data
def test_face_found_in_at_least_98_percent_of_lfw_expressions():
    rows = list(csv.DictReader(open(DATA_DIR / "lfw-expressions" / "labels.csv")))
    picks = np.random.default_rng(0).choice(len(rows), 400, replace=False)
    found = 0
    for index in picks:
        image = maskgen.read_image(DATA_DIR / "lfw-expressions" / "images" / rows[index]["image"])
        found += bool(maskgen.detect_faces(image))
    assert found / len(picks) >= 0.98, f"face found in {found} of {len(picks)}"


@needs_data
def test_renders_on_real_masked_dataset_photos_without_errors():
    folder = DATA_DIR / "real-masks" / "without_mask"
    files = sorted(folder.glob("*.jpg"))[:40]
    masked = 0
    for path in files:
        out = maskgen.render(maskgen.read_image(path), style="varied", seed=1)
        masked += out.masked_faces > 0
        assert out.image.shape == maskgen.read_image(path).shape
    assert masked >= 0.8 * len(files)
