"""The rasteriser: which pixels a grid covers, and what it interpolates there."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from maskgen import raster


def flat_square(left: float, top: float, right: float, bottom: float, depth: float = 0.0, n: int = 5):
    """A flat n x n grid over [left, right] x [top, bottom] (image coordinates: pixel c spans [c, c + 1])."""
    ys, xs = np.meshgrid(np.linspace(top, bottom, n), np.linspace(left, right, n), indexing="ij")
    points = np.stack([xs, ys, np.full_like(xs, depth)], axis=-1)
    u, v = np.meshgrid(np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, n))
    return points, np.stack([u, v], axis=-1)


def covered_span(fragments: raster.Fragments, width: int) -> tuple[int, int, int, int]:
    rows, cols = np.divmod(fragments.index, width)
    return int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())


# a bound: a whole pixel plus a fraction clear of the pixel's edges, where rounding to 1/16 px may go either way
PIXEL = st.integers(4, 20)
FRACTION = st.floats(0.05, 0.95)


@settings(max_examples=60, deadline=None)
@given(left=PIXEL, top=PIXEL, width=st.integers(3, 9), height=st.integers(3, 9),
       fractions=st.tuples(FRACTION, FRACTION, FRACTION, FRACTION), origin=st.integers(0, 3))
def test_covers_the_pixels_it_overlaps(left, top, width, height, fractions, origin):
    right, bottom = left + width + fractions[2], top + height + fractions[3]
    left, top = left + fractions[0], top + fractions[1]
    points, uv = flat_square(left, top, right, bottom)
    fragments = raster.rasterize(points, uv, raster.vertex_normals(points), (origin, origin), (40, 40))
    span = covered_span(fragments, 40)
    # every pixel the square overlaps, and no other: the same rule on every side, so a mask's anti-aliased edge
    # has the same room to the right and below as to the left and above (it once reached a pixel further there)
    expected = (int(np.floor(left)) - origin, int(np.floor(top)) - origin,
                int(np.floor(right)) - origin, int(np.floor(bottom)) - origin)
    assert span == expected
    assert len(fragments.index) == (expected[2] - expected[0] + 1) * (expected[3] - expected[1] + 1)


def test_interpolates_uv_at_pixel_centres():
    points, uv = flat_square(10.0, 12.0, 30.0, 22.0)
    fragments = raster.rasterize(points, uv, raster.vertex_normals(points), (0, 0), (40, 40))
    rows, cols = np.divmod(fragments.index, 40)
    np.testing.assert_allclose(fragments.uv[0], (cols + 0.5 - 10.0) / 20.0, atol=1e-5)
    np.testing.assert_allclose(fragments.uv[1], (rows + 0.5 - 12.0) / 10.0, atol=1e-5)
    # d(u, v) / d(x, y) of an axis-aligned square: 1 / width along x, 1 / height along y, nothing across
    np.testing.assert_allclose(fragments.duv_dxy[:, :, 0], [[1 / 20.0, 0.0], [0.0, 1 / 10.0]], atol=1e-6)
    np.testing.assert_allclose(fragments.normal[2], 1.0, atol=1e-6)


def test_nearer_surface_wins_and_back_faces_are_dropped():
    far, uv = flat_square(5.0, 5.0, 25.0, 25.0, depth=10.0)
    near, _ = flat_square(10.0, 10.0, 20.0, 20.0, depth=0.0)
    both = np.concatenate([far, near], axis=0)  # rows 0-4 the far square, 5-9 the near one; the seam
    # between them runs upwards in the image (y 25 -> 10) while v grows, so it faces away and is dropped
    both_uv = np.concatenate([uv, uv + 2.0], axis=0)  # the near square's uv lie in [2, 3]
    fragments = raster.rasterize(both, both_uv, raster.vertex_normals(both), (0, 0), (32, 32))
    rows, cols = np.divmod(fragments.index, 32)
    centre = (rows == 15) & (cols == 15)
    assert fragments.uv[0][centre][0] >= 2.0  # the near square covers the far one
    mirrored = far[:, ::-1]  # the same square with its columns reversed: wound clockwise, facing away
    away = raster.rasterize(mirrored, uv, raster.vertex_normals(mirrored), (0, 0), (32, 32))
    assert len(away.index) == 0
