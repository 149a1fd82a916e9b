"""Rasterising a mask grid: which pixel sees which point of the mask, triangle by triangle.

The grid is split into triangles; back-facing ones (the far side of the mask as it wraps round a turned
head) are dropped and the rest are painted far to near into a triangle-index buffer, so the nearest surface
wins. Per pixel, barycentric weights then give (u, v), the surface normal and the local pixels-per-(u, v)
Jacobian, all vectorised.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from .arrays import grid_gradient

SUBPIXEL_BITS = 4


@dataclass(frozen=True)
class Fragments:
    """The covered pixels of a region of interest; per-pixel attributes are stored attribute-major."""

    index: np.ndarray  # (N,) int: the covered pixel inside the ROI, row * ROI width + column
    uv: np.ndarray  # (2, N) float32
    normal: np.ndarray  # (3, N) float32, unit, facing the camera (z > 0)
    duv_dxy: np.ndarray  # (2, 2, N) float32: d(u, v) / d(x, y) of the covering triangle


@functools.lru_cache(maxsize=64)
def grid_triangles(rows: int, columns: int) -> np.ndarray:
    """Vertex indices (T, 3) of a rows x columns grid, two triangles per cell, counter-clockwise in (u, v)."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(columns - 1), indexing="ij")
    a = (r * columns + c).ravel()
    b, d, e = a + 1, a + columns, a + columns + 1
    tris = np.concatenate([np.stack([a, b, e], 1), np.stack([a, e, d], 1)])
    tris.flags.writeable = False  # shared by every caller through the cache
    return tris


def vertex_normals(points: np.ndarray) -> np.ndarray:
    """Unit normals (NV, NU, 3) of a grid surface in image space, flipped to face the camera (z > 0 means
    towards the viewer, i.e. minus the image depth axis)."""
    du = grid_gradient(points, axis=1)
    dv = grid_gradient(points, axis=0)
    # -(du x dv), with z then flipped: image depth grows away from the camera, normals use z towards it
    normal = np.stack([du[..., 2] * dv[..., 1] - du[..., 1] * dv[..., 2],
                       du[..., 0] * dv[..., 2] - du[..., 2] * dv[..., 0],
                       du[..., 0] * dv[..., 1] - du[..., 1] * dv[..., 0]], axis=-1)
    normal /= np.maximum(np.sqrt((normal * normal).sum(axis=-1, keepdims=True)), 1e-9)
    return normal


def rasterize(points: np.ndarray, uv: np.ndarray, normals: np.ndarray, origin: tuple[float, float],
              size: tuple[int, int]) -> Fragments:
    """Rasterise the grid into the ROI whose top-left pixel is `origin` (x, y) and whose size is (h, w)."""
    height, width = size
    rows_n, cols_n = points.shape[:2]
    tris = grid_triangles(rows_n, cols_n)
    flat = points.reshape(-1, 3)
    corners = (flat[:, :2] - (np.asarray(origin, np.float64) + 0.5))[tris]  # (T, 3, 2), pixel centres at .0
    p0, p1, p2 = corners[:, 0], corners[:, 1], corners[:, 2]
    area = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (p1[:, 1] - p0[:, 1])
    front = area > 1e-6  # same winding as the frontal (u right, v down) layout
    order = np.flatnonzero(front)
    order = order[np.argsort(-flat[:, 2][tris[order]].sum(axis=1), kind="stable")]  # far first

    ids = np.full((height, width), -1, np.int32)
    fixed = np.round(corners[order] * (1 << SUBPIXEL_BITS)).astype(np.int32)  # OpenCV: pixel centres at .0 too
    for polygon, index in zip(fixed, order.tolist()):
        cv2.fillConvexPoly(ids, polygon, index, cv2.LINE_8, SUBPIXEL_BITS)

    flat_ids = ids.reshape(-1)
    index = np.flatnonzero(flat_ids >= 0)
    tri = flat_ids[index]
    rows, cols = np.divmod(index, width)
    # Every attribute is affine in (x, y) inside a triangle: attr = c_x x + c_y y + c_0. One closed-form
    # solve per triangle, then one 1-D gather per coefficient (attribute-major: far faster than gathering
    # rows of a (T, k) table and striding through them).
    attributes = np.concatenate([uv.reshape(-1, 2)[tris], normals.reshape(-1, 3)[tris]], axis=2)  # (T, 3, 5)
    coefficients = _affine_coefficients(corners, attributes, np.where(front, area, 1.0))  # (3, 5, T)
    gathered = np.take(coefficients.reshape(-1, coefficients.shape[-1]), tri, axis=1).reshape(3, 5, -1)
    gx, gy, g0 = gathered
    values = gx * cols.astype(np.float32)
    values += gy * rows.astype(np.float32)
    values += g0
    normal = values[2:5]
    normal *= 1.0 / np.sqrt(np.maximum(normal[0] ** 2 + normal[1] ** 2 + normal[2] ** 2, 1e-18))
    duv_dxy = np.stack([gx[:2], gy[:2]], axis=1)  # (uv component, xy component, N)
    return Fragments(index, values[:2], normal, duv_dxy)


def _affine_coefficients(corners: np.ndarray, attributes: np.ndarray, det: np.ndarray) -> np.ndarray:
    """Per triangle, each attribute as c_x * x + c_y * y + c_0 (closed-form 2D barycentrics): (3, k, T)
    float32 for (c_x, c_y, c_0). `det` is twice each triangle's signed area (nonzero)."""
    p0, p1, p2 = corners[:, 0], corners[:, 1], corners[:, 2]
    det = det[:, None]
    a0, a1, a2 = attributes[:, 0], attributes[:, 1], attributes[:, 2]
    d1, d2 = a1 - a0, a2 - a0
    cx = (d1 * (p2[:, 1:2] - p0[:, 1:2]) - d2 * (p1[:, 1:2] - p0[:, 1:2])) / det
    cy = (d2 * (p1[:, 0:1] - p0[:, 0:1]) - d1 * (p2[:, 0:1] - p0[:, 0:1])) / det
    c0 = a0 - cx * p0[:, 0:1] - cy * p0[:, 1:2]
    return np.stack([cx.T, cy.T, c0.T]).astype(np.float32)
