"""Mask geometry: where the mask sits on a face, as a 3D surface laid over the face mesh.

A mask is a grid over its own (u, v) square (u across the face from the subject's right to left, v from the
top edge down). Every grid point is placed in the face's frontal frame (X across, Y down, Z away from the
camera, in units of half the face width) relative to mesh vertices: the top edge on the nose, the sides on the
face outline, the bottom below the chin. Its depth comes from the mesh surface, so when the frame is turned
back into the photo's pose the grid bends round the cheek, the far side narrows and the silhouette follows the
cheek contour. The renderer then warps the grid triangle by triangle.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from . import mesh
from .arrays import clamp

WEAR_MODES = ("correct", "nose_out", "chin")
OUTLINES = ("rect", "cup", "fold", "contour", "tube")
UV_MARGIN = 0.06  # the grid reaches past the outline so its edge can be anti-aliased
STRAP_KINDS = ("loops", "head", "none")
EYE_MARGIN = 0.07  # how far below the lowest eye landmark the top edge stays, in half face widths:
# real masks reach close under the eyes on the cheeks (0.13 left a band of bare cheek the realism test noticed)
SOFT_MIN_DEPTH = 0.03  # depth scale of the soft minimum that lays the fabric over the mesh
STRAP_HIDDEN = 0.15  # sin(yaw) past which the far side's straps are behind the head
NECK_WIDTH = 0.72  # a gaiter's width at chin level and below, as a share of its width at the jaw angle
VIEW_LEVEL_LIMIT = 0.3  # the most the top edge is lowered to look like one arc in the photo, in half face widths
NOSE_CLEARANCE = 0.08  # ... but across the nose it stays this far above the tip, when worn over the nose
VIEW_EYE_MARGIN = 0.05  # ... and how far below an eye it stays in the photo
VIEW_EYE_MARGIN_PX = 2.0  # ... and at least this many pixels: on tiny faces 0.05 is under a pixel, and the
# anti-aliased edge plus a landmark's rounding to its pixel reached the eye corner
VIEW_EYE_REACH = 0.12  # across the photo, how far beside an eye landmark that holds
LEVEL_TOLERANCE_PX = 0.05  # the top edge counts as level in the photo once it rises by less than this


@dataclass(frozen=True)
class MaskShape:
    """Where and how a mask sits. Lengths are in half face widths, so one shape fits any face size.

    Args:
        wear: "correct" (over nose and mouth), "nose_out" (under the nose) or "chin" (mouth and nose out).
        top: 0..1, how high the top edge sits within the wear's range (for "correct": from the nose tip
            up to the bridge just below the eyes).
        side_drop: how much lower the top edge is at the cheeks than on the nose.
        chin_drop: how far the bottom edge hangs below the chin.
        width: share of the face half-width covered on each side (about 1 reaches the face outline).
        tightness: 1 follows every hollow of the face, 0 spans taut from nose to cheeks and nose to chin.
        bulge: dome in front of the mouth (cup masks).
        fold: height of a vertical ridge down the middle (KN95).
        standoff: fabric thickness in front of the skin.
        outline: the cut of the fabric in (u, v): rect, cup, fold, contour or tube.
        straps: ear "loops", "head" straps, or "none".
    """

    wear: str = "correct"
    top: float = 0.6
    side_drop: float = 0.15
    chin_drop: float = 0.15
    width: float = 0.95
    tightness: float = 0.5
    bulge: float = 0.0
    fold: float = 0.0
    standoff: float = 0.02
    outline: str = "rect"
    straps: str = "loops"

    def __post_init__(self) -> None:
        if self.wear not in WEAR_MODES:
            raise ValueError(f"wear must be one of {WEAR_MODES}, got {self.wear!r}")
        if self.outline not in OUTLINES:
            raise ValueError(f"outline must be one of {OUTLINES}, got {self.outline!r}")
        if self.straps not in STRAP_KINDS:
            raise ValueError(f"straps must be one of {STRAP_KINDS}, got {self.straps!r}")


@dataclass(frozen=True)
class FaceFrame:
    """The head's pose: an origin between the ears, unit axes (rows: across, down, away), a scale in px."""

    origin: np.ndarray
    axes: np.ndarray
    scale: float

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> FaceFrame:
        points = landmarks.astype(np.float64)
        across = points[mesh.CHEEK_LEFT] - points[mesh.CHEEK_RIGHT]
        down = points[mesh.CHIN_BOTTOM] - points[mesh.NOSE_BRIDGE_TOP]
        scale = float(np.linalg.norm(across)) / 2.0
        if scale < 1e-3:
            raise ValueError("degenerate face: the outline has no width")
        ex = across / np.linalg.norm(across)
        down = down - ex * (down @ ex)
        ey = down / max(np.linalg.norm(down), 1e-9)
        ez = np.array([ex[1] * ey[2] - ex[2] * ey[1], ex[2] * ey[0] - ex[0] * ey[2],
                       ex[0] * ey[1] - ex[1] * ey[0]])  # np.cross costs ten times as much on one vector
        origin = (points[mesh.CHEEK_LEFT] + points[mesh.CHEEK_RIGHT]) / 2.0
        return cls(origin=origin, axes=np.stack([ex, ey, ez]), scale=scale)

    def to_frontal(self, points: np.ndarray) -> np.ndarray:
        return (points - self.origin) @ self.axes.T / self.scale

    def to_image(self, frontal: np.ndarray) -> np.ndarray:
        return frontal * self.scale @ self.axes + self.origin

    @property
    def yaw_sin(self) -> float:
        """Positive when the subject's right cheek turns towards the camera."""
        return float(self.axes[0, 2])


@dataclass(frozen=True)
class MaskGeometry:
    """A placed mask: the (u, v) grid, its points in the photo (x, y px; z depth) and its straps."""

    uv: np.ndarray  # (NV, NU, 2)
    points: np.ndarray  # (NV, NU, 3) image coordinates of the mask surface
    skin: np.ndarray  # (NV, NU, 3) image coordinates of the face surface under the mask
    on_face: np.ndarray  # (NV, NU) bool: the grid point lies inside the face outline
    straps: tuple[np.ndarray, ...]  # polylines (K, 2) in px, drawn under the mask
    strap_width: float  # px
    frame: FaceFrame


def grid_size(face_width_px: float) -> tuple[int, int]:
    """Finer grids for bigger faces, so silhouettes stay smooth on 4000 px photos and cheap on 100 px ones."""
    columns = int(min(max(face_width_px / 10.0, 13), 41))
    return columns, int(round(columns * 0.75))


def place_mask(landmarks: np.ndarray, shape: MaskShape, raster_scale: float = 1.0,
               frame: FaceFrame | None = None) -> MaskGeometry:
    """Lay the mask described by `shape` over a face given its 478 landmarks in pixels.

    `raster_scale` is the resolution the mask will be drawn at relative to the photo (0.5 for half): the grid
    is sized for the pixels it will cover, not for the photo's. `frame` is the face's pose, when the caller
    already has it from these landmarks."""
    frame = FaceFrame.from_landmarks(landmarks) if frame is None else frame
    frontal = frame.to_frontal(landmarks.astype(np.float64))
    columns, rows = grid_size(2.0 * frame.scale * raster_scale)
    u = np.linspace(-UV_MARGIN, 1.0 + UV_MARGIN, columns)
    v = np.linspace(-UV_MARGIN, 1.0 + UV_MARGIN, rows)
    uu, vv = np.meshgrid(u, v)

    surface = FaceSurface.from_frontal(frontal, frame.scale)
    xy = _outline_to_frontal(frontal, shape, uu, vv, frame.axes, surface)
    skin_z, on_face = surface.depth(xy)
    # Near the top edge the nose wire and the straps press the fabric onto the skin: no slack, no standoff.
    pressed = clamp(vv / 0.2, 0.0, 1.0) ** 2
    looseness = (1.0 - min(max(shape.tightness, 0.0), 1.0)) * pressed
    # Pulled across by the straps, the fabric spans the hollows beside the nose instead of following them.
    mask_z = _drape(_bridged_rows(xy[..., 0], skin_z), looseness) - (shape.standoff + _relief(uu, vv, shape)) * pressed

    points = frame.to_image(np.concatenate([xy, mask_z[..., None]], axis=-1))
    skin = frame.to_image(np.concatenate([xy, skin_z[..., None]], axis=-1))
    straps = _strap_paths(frontal, frame, xy, mask_z, uu, vv, shape)
    strap_width = max(1.0, 0.012 * 2.0 * frame.scale)
    return MaskGeometry(np.stack([uu, vv], -1), points, skin, on_face, straps, strap_width, frame)


def _outline_half_widths(frontal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face outline as functions of height: (heights, right-side X, left-side X), heights increasing."""
    oval = frontal[mesh.FACE_OVAL, :2]
    chin_at = int(np.flatnonzero(mesh.FACE_OVAL == mesh.CHIN_BOTTOM)[0])
    left = oval[: chin_at + 1]  # forehead top -> subject's left -> chin
    right = np.concatenate([oval[chin_at:], oval[:1]])[::-1]  # forehead top -> subject's right -> chin
    heights = np.linspace(oval[:, 1].min(), oval[:, 1].max(), 48)
    left_x = np.interp(heights, np.maximum.accumulate(left[:, 1]), left[:, 0])
    right_x = np.interp(heights, np.maximum.accumulate(right[:, 1]), right[:, 0])
    return heights, right_x, left_x


def _jaw_height(frontal: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Height of the lower face outline (cheek, jaw, chin) at each X."""
    oval = frontal[mesh.FACE_OVAL, :2]
    start = int(np.flatnonzero(mesh.FACE_OVAL == mesh.CHEEK_LEFT)[0])
    stop = int(np.flatnonzero(mesh.FACE_OVAL == mesh.CHEEK_RIGHT)[0])
    lower = oval[start : stop + 1][::-1]  # subject's right cheek -> chin -> left cheek, X increasing
    return np.interp(x, np.maximum.accumulate(lower[:, 0]), lower[:, 1])


def _top_centre_height(frontal: np.ndarray, shape: MaskShape) -> float:
    y = frontal[:, 1]
    if shape.wear == "correct":
        low, high = y[mesh.NOSE_TIP], y[mesh.NOSE_BRIDGE]
    elif shape.wear == "nose_out":
        low, high = y[mesh.UPPER_LIP_TOP], y[mesh.NOSE_BOTTOM]
    else:
        low, high = y[mesh.CHIN_BOTTOM] - 0.25 * (y[mesh.CHIN_BOTTOM] - y[mesh.LOWER_LIP_BOTTOM]), y[
            mesh.LOWER_LIP_BOTTOM]
    return float(low + (high - low) * min(max(shape.top, 0.0), 1.0))


def _eye_floor(frontal: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The highest the top edge may reach at each X: clear of both eyes, with a smooth fall-off beside them."""
    floor = np.full_like(x, -np.inf)
    for eye in (mesh.EYE_RIGHT, mesh.EYE_LEFT):
        pts = frontal[list(eye), :2]
        lowest = pts[:, 1].max() + EYE_MARGIN
        centre, half = pts[:, 0].mean(), (pts[:, 0].max() - pts[:, 0].min()) / 2 + 0.08
        outside = np.maximum(np.abs(x - centre) - half, 0.0)
        floor = np.maximum(floor, lowest - 6.0 * outside**2)
    return floor


def _single_arc(top: np.ndarray, apex: int) -> np.ndarray:
    """The top edge as one arc, highest at `apex` (the nose bridge): from there outwards it only goes down.

    Held below the eyes pointwise, the edge dipped under each eye and rose again beside it (a bat-wing);
    a nose wire pulls the fabric straight from the bridge to the cheekbone instead, so each side keeps the
    lowest height reached so far (Y grows downwards)."""
    return -_outward_min(-top, apex)


def _outward_min(values: np.ndarray, apex: int) -> np.ndarray:
    """Running minimum from `apex` towards both ends."""
    out = values.copy()
    out[apex:] = np.minimum.accumulate(values[apex:])
    out[: apex + 1] = np.minimum.accumulate(values[: apex + 1][::-1])[::-1]
    return out


def _level_in_view(frontal: np.ndarray, surface: FaceSurface, axes: np.ndarray, x: np.ndarray, top: np.ndarray,
                   apex: int, lowest: np.ndarray) -> np.ndarray:
    """Lower the top edge where the camera would see it rise again away from the nose.

    The frontal frame is tilted against the camera (the chin stands further forward than the nose bridge, and
    heads pitch), so the cheeks, far behind the nose, look higher than they are: an edge level in the frame
    looks like a bat-wing in the photo. The fabric's edge is one arc in the photo too; this lowers each side
    until its height in the photo only falls from the apex outwards, never below `lowest` (per column)."""
    image = axes[:, :2]  # how X, Y and Z move a point in the photo
    # level is what the eye line says it is: heights are taken square to it
    eye_line = (frontal[mesh.EYE_LEFT_OUTER] - frontal[mesh.EYE_RIGHT_OUTER]) @ image
    across = eye_line / max(float(np.linalg.norm(eye_line)), 1e-9)
    down = np.array([-across[1], across[0]])
    gain = float(image[1] @ down)
    if gain < 0.3:  # the face is seen nearly from above or below: no such thing as its top edge's height
        return top
    eyes = frontal[list(mesh.EYE_RIGHT + mesh.EYE_LEFT)] @ image  # the eyes as the camera sees them
    eye_across, eye_height = eyes @ across, -(eyes @ down)
    eye_margin = max(VIEW_EYE_MARGIN, VIEW_EYE_MARGIN_PX / surface.px)
    lowered = top.copy()
    for _ in range(6):  # the depth under the edge changes as it moves
        z = _bridged_rows(x[None], surface.depth(np.stack([x, lowered], axis=-1)[None])[0])[0]
        seen = x[:, None] * image[0] + lowered[:, None] * image[1] + z[:, None] * image[2]
        height = -(seen @ down)
        # and never up to an eye, as the camera sees it (pitched heads bring the eyes closer to the edge)
        near_eye = np.abs((seen @ across)[:, None] - eye_across[None, :]) < VIEW_EYE_REACH
        eye_floor = np.where(near_eye, eye_height[None, :] - eye_margin, np.inf).min(axis=1)
        excess = np.maximum(height - _outward_min(np.minimum(height, eye_floor), apex), 0.0)
        if excess.max() * surface.px < LEVEL_TOLERANCE_PX:  # level already, or once it has settled
            break
        lowered = np.minimum(lowered + excess / gain, lowest)
    return lowered


def _lowest_top(frontal: np.ndarray, shape: MaskShape, x: np.ndarray, top: np.ndarray) -> np.ndarray:
    """How far levelling may lower the top edge at each X: VIEW_LEVEL_LIMIT, and across the nose, when the mask
    is worn over it, no lower than NOSE_CLEARANCE above its tip. Turned and pitched heads see the cheeks high
    beside a nose that stands out, and an edge lowered to match let the tip poke out of the fabric."""
    lowest = top + VIEW_LEVEL_LIMIT
    if shape.wear != "correct":
        return lowest
    wings = frontal[[mesh.NOSE_WING_RIGHT, mesh.NOSE_WING_LEFT], 0]
    over_nose = (x >= wings.min()) & (x <= wings.max())
    return np.where(over_nose, np.maximum(top, np.minimum(lowest, frontal[mesh.NOSE_TIP, 1] - NOSE_CLEARANCE)), lowest)


def _outline_to_frontal(frontal: np.ndarray, shape: MaskShape, uu: np.ndarray, vv: np.ndarray,
                        axes: np.ndarray, surface: FaceSurface) -> np.ndarray:
    """(u, v) grid -> frontal (X, Y): top on the nose, sides on the face outline, bottom below the chin; with
    the frame's `axes` and the face `surface`, the top edge is kept one arc as the camera sees it."""
    heights, right_x, left_x = _outline_half_widths(frontal)
    y_jaw_angle = float(np.mean(frontal[[mesh.JAW_RIGHT, mesh.JAW_LEFT], 1]))
    y_cheek = float(np.mean(frontal[[mesh.CHEEK_RIGHT, mesh.CHEEK_LEFT], 1]))
    y_chin = float(frontal[mesh.CHIN_BOTTOM, 1])

    def sides(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        clamped = clamp(y, y_cheek, y_jaw_angle)
        scale = shape.width
        if shape.outline == "tube":  # below the jaw angle a gaiter closes in on the neck
            scale = shape.width * (1.0 - (1.0 - NECK_WIDTH) * clamp((y - y_jaw_angle) / max(y_chin - y_jaw_angle,
                                                                                               1e-6), 0.0, 1.0))
        return np.interp(clamped, heights, right_x) * scale, np.interp(clamped, heights, left_x) * scale

    u_row = uu[0]
    mid_right, mid_left = sides(np.array([0.5 * (y_cheek + y_jaw_angle)]))
    x0 = mid_right + (mid_left - mid_right) * u_row
    edge = np.abs(2.0 * u_row - 1.0)

    top = _top_centre_height(frontal, shape) + shape.side_drop * np.minimum(edge, 1.0) ** 1.5
    apex = int(np.argmin(np.abs(x0 - frontal[mesh.NOSE_BRIDGE, 0])))
    if shape.wear == "correct":
        top = _single_arc(np.maximum(top, _eye_floor(frontal, x0)), apex)
    right, left = sides(top)
    top_x = right + (left - right) * u_row
    top = _level_in_view(frontal, surface, axes, top_x, top, apex, _lowest_top(frontal, shape, top_x, top))
    jaw = np.maximum(_jaw_height(frontal, x0), y_jaw_angle + 0.05)
    bottom = jaw + shape.chin_drop * (1.0 - np.minimum(edge, 1.0) ** 2) + 0.04
    bottom = np.maximum(bottom, top + 0.35)

    y = top[None, :] + (bottom - top)[None, :] * vv
    right, left = sides(y)
    x = right + (left - right) * uu
    return np.stack([x, y], axis=-1)


@dataclass(frozen=True)
class FaceSurface:
    """The face surface in the frontal frame, prepared once per face for the many depth queries of a mask
    (the grid, and the top edge while it is levelled): the lower mesh vertices, and the outline in polar form."""

    vx: np.ndarray  # (K,) float32 X of the mesh vertices below the brows
    vy: np.ndarray  # (K,) float32
    z_min: float
    z_weight: np.ndarray  # (K,) float32: exp((z_min - z) / SOFT_MIN_DEPTH), each vertex's soft-minimum weight
    oval_centre: np.ndarray  # (2,)
    oval_angle: np.ndarray  # (M + 2,) increasing, wrapped once at each end so lookups need no `period`
    oval_radius: np.ndarray  # (M + 2,) at those angles
    px: float  # pixels per frontal unit (half the face width), for tolerances stated in pixels

    @classmethod
    def from_frontal(cls, frontal: np.ndarray, px: float) -> FaceSurface:
        vertices = frontal[: mesh.NUM_MESH_VERTICES]
        lower = vertices[vertices[:, 1] > frontal[mesh.NOSE_BRIDGE_TOP, 1] - 0.2]
        z = lower[:, 2].astype(np.float32)
        z_min = z.min()
        oval = frontal[mesh.FACE_OVAL, :2]
        centre = oval.sum(axis=0) / len(oval)
        rel = oval - centre
        angle = np.arctan2(rel[:, 1], rel[:, 0])
        order = np.argsort(angle)
        angle, radius = angle[order], np.sqrt(rel[order, 0] ** 2 + rel[order, 1] ** 2)
        return cls(vx=np.ascontiguousarray(lower[:, 0], np.float32), vy=np.ascontiguousarray(lower[:, 1], np.float32),
                   z_min=float(z_min), z_weight=np.exp((z_min - z) / np.float32(SOFT_MIN_DEPTH)), oval_centre=centre,
                   oval_angle=np.concatenate([angle[-1:] - 2 * np.pi, angle, angle[:1] + 2 * np.pi]),
                   oval_radius=np.concatenate([radius[-1:], radius, radius[:1]]), px=float(px))

    def depth(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Depth of the face surface under each point (..., 2) (Gaussian-weighted mesh vertices), and whether
        the point is on the face. Beyond the outline the surface keeps falling away, as the jaw and neck do."""
        flat = xy.reshape(-1, 2)
        gx, gy = (np.ascontiguousarray(flat[:, i], np.float32) for i in range(2))
        # Points x vertices, in place in two buffers: fresh temporaries of this size cost more to allocate
        # than the maths, and BLAS threads on such thin matrices cost more still.
        d2 = np.subtract.outer(gx, self.vx)
        d2 *= d2
        dy2 = np.subtract.outer(gy, self.vy)
        dy2 *= dy2
        d2 += dy2
        d2 -= d2.min(axis=1, keepdims=True)
        d2 *= np.float32(-1.0 / (2 * 0.09**2))
        # Clamped exponents: far vertices would otherwise underflow into denormals, which run tens of times
        # slower through exp, multiply and sum. e^-20 is as good as zero here.
        np.maximum(d2, np.float32(-20.0), out=d2)
        weights = np.exp(d2, out=d2)
        total = weights.sum(axis=1)
        # A soft minimum of nearby vertex depths rather than their mean: averaging would shave peaks (the nose
        # tip), which would then poke through the fabric on turned heads.
        weights *= self.z_weight  # in place, not a matrix product: BLAS threads cost more than the sum
        near = weights.sum(axis=1)
        depth = self.z_min - SOFT_MIN_DEPTH * np.log(np.maximum(near / total, 1e-30)).astype(np.float64)
        rel = flat - self.oval_centre
        angle = np.arctan2(rel[:, 1], rel[:, 0])
        limit = np.interp(angle, self.oval_angle, self.oval_radius)
        outside = np.maximum(np.sqrt(rel[:, 0] ** 2 + rel[:, 1] ** 2) - limit, 0.0)
        depth = depth + 1.2 * outside
        return depth.reshape(xy.shape[:-1]), (outside <= 0).reshape(xy.shape[:-1])


BRIDGE_SLOPES = np.tan(np.linspace(-1.45, 1.45, 41))  # dZ/dX of the supporting lines, up to about +-8


def _bridged_rows(x: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Per row, the fabric stretched across the face: the greatest convex function of X below the skin depth
    (Z grows away from the camera), i.e. the front-most supporting lines. It touches the nose ridge and the
    cheekbones and spans straight between them, as a strap-tensioned mask does."""
    slopes = BRIDGE_SLOPES[None, :, None]
    intercepts = (depth[:, None, :] - slopes * x[:, None, :]).min(axis=2, keepdims=True)
    return np.minimum((intercepts + slopes * x[:, None, :]).max(axis=1), depth)


def _taut(depth: np.ndarray) -> np.ndarray:
    """Per row: the fabric stretched from each end to the nearest point, never behind the skin."""
    count = depth.shape[1]
    idx = np.arange(count)[None, :]
    peak = depth.argmin(axis=1)[:, None]
    first, last = depth[:, :1], depth[:, -1:]
    at_peak = depth[np.arange(len(depth))[:, None], peak]
    left = first + (at_peak - first) * idx / np.maximum(peak, 1)
    right = at_peak + (last - at_peak) * (idx - peak) / np.maximum(count - 1 - peak, 1)
    line = np.where(idx <= peak, left, right)
    return np.minimum(depth, line)


def _drape(skin_depth: np.ndarray, looseness: np.ndarray | float) -> np.ndarray:
    """Blend between skin-tight (looseness 0) and taut across rows and down columns (1)."""
    taut = _taut(_taut(skin_depth).T).T
    return skin_depth + looseness * (taut - skin_depth)


def _relief(uu: np.ndarray, vv: np.ndarray, shape: MaskShape) -> np.ndarray:
    """How far the fabric stands out of its drape: a dome for cups, a ridge for folded masks."""
    cu, cv = 2.0 * uu - 1.0, 2.0 * (vv - 0.55)
    dome = clamp(1.0 - cu**2 - cv**2, 0.0, 1.0) ** 0.6
    ridge = clamp(1.0 - np.abs(cu), 0.0, 1.0) * clamp(1.0 - np.abs(2.0 * vv - 1.0) ** 2, 0.0, 1.0)
    return shape.bulge * dome + shape.fold * ridge


def _strap_paths(frontal: np.ndarray, frame: FaceFrame, xy: np.ndarray, depth: np.ndarray,
                 uu: np.ndarray, vv: np.ndarray, shape: MaskShape) -> tuple[np.ndarray, ...]:
    """Ear loops or head straps for each side whose ear faces the camera; the far ones are behind the head."""
    if shape.straps == "none":
        return ()
    surface = np.concatenate([xy, depth[..., None]], axis=-1)
    paths = []
    visible = {0: frame.yaw_sin > -STRAP_HIDDEN, 1: frame.yaw_sin < STRAP_HIDDEN}
    for side, cheek, column in ((0, mesh.CHEEK_RIGHT, 0), (1, mesh.CHEEK_LEFT, -1)):
        if not visible[side]:
            continue
        col = surface[:, column]
        v_col = vv[:, column]
        top = col[int(np.argmin(np.abs(v_col - 0.1)))]
        low = col[int(np.argmin(np.abs(v_col - 0.88)))]
        ear = frontal[cheek].copy()
        outward = np.sign(ear[0]) if ear[0] != 0 else (-1.0 if side == 0 else 1.0)
        if shape.straps == "loops":
            ear_top = ear + np.array([0.08 * outward, -0.12, 0.35])
            ear_back = ear + np.array([0.12 * outward, 0.08, 0.55])
            ear_low = ear + np.array([0.06 * outward, 0.3, 0.4])
            control = [top, ear_top, ear_back, ear_low, low]
        else:
            control = [top, ear + np.array([0.1 * outward, -0.3, 0.8])]
            paths.append(_bezier(np.array(control)))
            control = [low, ear + np.array([0.05 * outward, 0.55, 0.8])]
        paths.append(_bezier(np.array(control)))
    return tuple(frame.to_image(p)[:, :2] for p in paths)


def _bezier(control: np.ndarray, samples: int = 24) -> np.ndarray:
    """A smooth curve from the first to the last control point, pulled towards the others."""
    return _bernstein(len(control), samples) @ control.astype(np.float64)


@functools.lru_cache(maxsize=8)
def _bernstein(count: int, samples: int) -> np.ndarray:
    """(samples, count) weights of a Bezier curve's `count` control points at evenly spaced parameters."""
    t = np.linspace(0.0, 1.0, samples)[:, None]
    k = np.arange(count)[None, :]
    weights = np.array([math.comb(count - 1, i) for i in range(count)], np.float64) * t**k * (1.0 - t) ** (count - 1 - k)
    weights.flags.writeable = False
    return weights


def outline_distance(outline: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (positive inside) to the edge of the fabric's cut, in mask heights.

    Widths are measured in the same unit as heights (a mask is about 1.5 times as wide as tall), so one
    threshold softens every edge alike.
    """
    aspect = 1.5
    side = np.minimum(u, 1.0 - u) * aspect
    edge = np.minimum(np.abs(2.0 * u - 1.0), 1.0)
    if outline == "rect":
        return np.minimum(side, np.minimum(v, 1.0 - v))
    if outline == "cup":
        radius = (np.abs(2.0 * u - 1.0) ** 2.4 + np.abs(2.0 * v - 1.0) ** 2.4) ** (1.0 / 2.4)
        return (1.0 - radius) * 0.5
    top, bottom = _cut_bounds(outline, edge)
    return np.minimum(side, np.minimum(v - top, bottom - v))


def _cut_bounds(outline: str, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v of the top and bottom of the cut at each |2u - 1| (all outlines but the cup)."""
    if outline == "fold":
        return 0.14 * edge, 1.0 - 0.16 * edge
    if outline == "contour":
        return 0.12 * edge**1.3, 1.0 - 0.22 * edge**2
    if outline in ("tube", "rect"):
        return np.zeros_like(edge), np.ones_like(edge)
    raise ValueError(f"unknown outline {outline!r}")


def cut_top(outline: str, u: np.ndarray) -> np.ndarray:
    """v of the fabric's visible top edge at each u (0 for a straight cut; lower at the sides for the others)."""
    edge = np.minimum(np.abs(2.0 * np.asarray(u, np.float64) - 1.0), 1.0)
    if outline == "cup":
        return (1.0 - np.clip(1.0 - edge**2.4, 0.0, 1.0) ** (1.0 / 2.4)) / 2.0
    return _cut_bounds(outline, edge)[0]
