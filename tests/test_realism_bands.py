"""realism_bands.py's filters: each takes away exactly the information it names, from both sides alike.

The benchmark reads "the gap left after this filter" as "the part of the gap in what the filter kept", which
holds only if the low pass removes fine detail and keeps shading, the high pass the reverse, grey removes
colour and nothing else, and the masked filters touch only their side of the area.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")  # the benchmark trains its classifiers with torch (the `fer` extra)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import realism  # noqa: E402
import realism_bands  # noqa: E402

CROP = realism.CROP


def _checkerboard(amplitude: float) -> np.ndarray:
    rows, cols = np.indices((CROP, CROP))
    return (amplitude * (((rows + cols) % 2) * 2 - 1)).astype(np.float32)[..., None]


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_every_filter_keeps_shape_and_dtype(n, seed):
    rng = np.random.default_rng(seed)
    crops = rng.integers(0, 256, (n, CROP, CROP, 3)).astype(np.uint8)
    areas = rng.random((n, CROP, CROP)) < 0.5
    for name, filter_ in realism_bands.FILTERS.items():
        out = filter_(crops, areas)
        assert out.shape == crops.shape and out.dtype == np.uint8, name


def test_grey_removes_colour_and_keeps_lightness():
    reddish = np.zeros((1, CROP, CROP, 3), np.uint8) + np.array([200, 100, 100], np.uint8)
    out = realism_bands.grey(reddish)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    assert abs(int(out[0, 0, 0, 0]) - round(float(np.array([200, 100, 100]) @ realism_bands.maskgen.photo.LUMA))) <= 1


def test_low_pass_removes_pixel_detail_and_high_pass_keeps_only_it():
    step = np.zeros((1, CROP, CROP, 3), np.float32) + 80
    step[:, :, CROP // 2:] = 180
    textured = np.clip(step + _checkerboard(20), 0, 255).astype(np.uint8)
    low = realism_bands.low_pass(textured, 2.0).astype(np.float32)
    assert np.abs(low[0, 10:54, 5:20] - 80).max() < 1.5 and np.abs(low[0, 10:54, 44:59] - 180).max() < 1.5
    high = realism_bands.high_pass(textured, 2.0).astype(np.float32)
    away_from_step = high[0, 10:54, 5:20]
    assert abs(away_from_step.mean() - 127.5) < 1.0 and 15 < away_from_step.std() < 25  # the weave, around grey
    flat = realism_bands.high_pass(np.full((1, CROP, CROP, 3), 200, np.uint8), 2.0)
    assert np.abs(flat.astype(int) - 127).max() <= 1  # no shading or colour left


def test_the_masked_low_pass_touches_only_its_side_of_the_area():
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, (2, CROP, CROP, 3)).astype(np.uint8)
    areas = np.zeros((2, CROP, CROP), bool)
    areas[:, 32:, 16:48] = True
    far_inside, far_outside = (slice(None), slice(40, 60), slice(24, 40)), (slice(None), slice(0, 24))
    inside = realism_bands.low_pass_where(crops, areas, 2.0, inside=True)
    assert (inside[far_outside] == crops[far_outside]).all()
    assert inside[far_inside].std() < 0.5 * crops[far_inside].std()
    outside = realism_bands.low_pass_where(crops, areas, 2.0, inside=False)
    assert (outside[far_inside] == crops[far_inside]).all()
    assert outside[far_outside].std() < 0.5 * crops[far_outside].std()


def _stripes(across: bool) -> np.ndarray:
    """Stripes 4 px apart running across the face (across=True: bright and dark rows) or down it."""
    index = np.indices((CROP, CROP))[0 if across else 1]
    return np.repeat((128 + 60 * np.sign(np.sin(index * np.pi / 2 + 0.5)))[None, ..., None], 3, axis=-1).astype(np.uint8)


@pytest.mark.parametrize("axis", ["y", "x"])
def test_blurring_along_an_axis_wipes_out_only_the_structure_that_runs_across_it(axis):
    wiped, kept = (_stripes(across=True), _stripes(across=False)) if axis == "y" else \
        (_stripes(across=False), _stripes(across=True))
    centre = (0, slice(8, 56), slice(8, 56))
    assert realism_bands.blur_along(wiped, 2.0, axis)[centre].std() < 0.1 * wiped[centre].std()
    assert (realism_bands.blur_along(kept, 2.0, axis)[centre] == kept[centre]).all()


def test_the_directional_filters_touch_only_their_rows_of_the_mask_area():
    crops = _stripes(across=True)
    areas = np.zeros((1, CROP, CROP), bool)
    areas[:, realism.BLANK_ROW:, 12:52] = True
    top, below = realism_bands.FILTERS["blur_along_y_2px_top_edge_rows"], \
        realism_bands.FILTERS["blur_along_y_2px_below_top_edge_rows"]
    edge = realism_bands.TOP_EDGE_END
    top_rows, lower_rows, beside = (0, slice(31, edge - 2), slice(20, 44)), \
        (0, slice(edge + 2, 62), slice(20, 44)), (0, slice(31, 62), slice(0, 8))
    out = top(crops, areas)
    assert out[top_rows].std() < 0.1 * crops[top_rows].std() and (out[lower_rows] == crops[lower_rows]).all()
    out = below(crops, areas)
    assert out[lower_rows].std() < 0.1 * crops[lower_rows].std() and (out[top_rows] == crops[top_rows]).all()
    assert (out[beside] == crops[beside]).all() and (top(crops, areas)[beside] == crops[beside]).all()


def test_the_control_sees_the_upper_face_through_the_same_filter(monkeypatch):
    """The gap subtracts a control run on the filtered crops, lower face blanked after filtering: a control left
    unfiltered would set the floor from information the whole-face test no longer had."""
    seen = []

    def record(side_1, side_0, seeds, epochs):
        seen.append((side_1, side_0))
        return {"mean": 0.9 if len(seen) == 1 else 0.8, "std": 0.0, "runs": [0.9]}

    monkeypatch.setattr(realism, "two_sample", record)
    rng = np.random.default_rng(2)
    real, synthetic, bare = (rng.integers(0, 256, (3, CROP, CROP, 3)).astype(np.uint8) for _ in range(3))
    areas = np.zeros((3, CROP, CROP), bool)
    result = realism_bands.banded_gap(realism_bands.FILTERS["grey"], real, synthetic, bare, areas, areas,
                                      [0], [0], epochs=1)
    (whole_real, whole_synthetic), (control_real, control_bare) = seen
    assert (whole_real == realism_bands.grey(real)).all() and (whole_synthetic == realism_bands.grey(synthetic)).all()
    assert (control_real == realism.blank_lower(realism_bands.grey(real))).all()
    assert (control_bare == realism.blank_lower(realism_bands.grey(bare))).all()
    assert result["realism_gap_over_control"] == pytest.approx(0.1)
