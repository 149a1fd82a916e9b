"""Where masks sit, for every kind and pose: property tests on real landmarks turned in 3D."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import maskgen
from maskgen import mesh
from maskgen.geometry import FaceFrame, MaskShape, cut_top, place_mask
from posed import frontalised, posed_face

# Turned, and looking up or down: the levelled top edge once let the nose tip poke out at pitches beyond 20.
POSE = dict(
    yaw=st.floats(-50, 50), pitch=st.floats(-30, 30), roll=st.floats(-35, 35),
    size=st.sampled_from([64, 96, 160, 256]), seed=st.integers(0, 2**31 - 1),
    sample=st.sampled_from(["Tommy_Robredo_0001", "Linda_Sanchez_0001", "Heather_Mills_0004_color112"]),
)
FACING = 0.25  # |sin(yaw)| beyond which the far eye is hidden behind the nose and cheek anyway


def at_landmark(image: np.ndarray, face: maskgen.Face, index: int):
    """The value of a per-pixel map at a landmark's pixel."""
    x, y = np.round(face.landmarks[index, :2]).astype(int)
    return image[y, x]


def covered(occlusion: np.ndarray, face: maskgen.Face, index: int) -> bool:
    return bool(at_landmark(occlusion, face, index))


@pytest.mark.parametrize("kind", maskgen.KINDS + (maskgen.BASELINE,))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**POSE)
@example(yaw=0.0, pitch=-14.0, roll=3.0, size=64, seed=0, sample="Tommy_Robredo_0001")  # a corner pixel brushed
# tiny faces looking up: 0.05 half face widths under the eye was under a pixel (geometry.VIEW_EYE_MARGIN_PX)
@example(yaw=0.0, pitch=-15.0, roll=1.0, size=64, seed=359, sample="Tommy_Robredo_0001")
@example(yaw=0.0, pitch=-17.0, roll=0.0, size=64, seed=0, sample="Tommy_Robredo_0001")
@example(yaw=0.0, pitch=-23.0, roll=-29.0, size=64, seed=1011155930, sample="Tommy_Robredo_0001")
def test_mask_covers_mouth_and_nose_never_eyes(sample_faces, kind, yaw, pitch, roll, size, seed, sample):
    # frontalised first, so the pose is the one drawn (Tommy_Robredo_0001 already looks 30 degrees down)
    face = posed_face(frontalised(sample_faces[sample][0]), yaw, pitch, roll, size)
    canvas = np.full((size, size, 3), 127, np.uint8)
    out = maskgen.render(canvas, [face], style=kind, seed=seed)
    assert out.params[0]["status"] == "masked"
    for index in mesh.MOUTH_POINTS + (mesh.NOSE_TIP,):
        assert covered(out.occlusion, face, index), f"landmark {index} not covered"
    yaw_sin = FaceFrame.from_landmarks(face.landmarks).yaw_sin
    eyes = []
    if yaw_sin > -FACING:
        eyes += [mesh.EYE_RIGHT_OUTER, mesh.EYE_RIGHT_UPPER]
    if yaw_sin < FACING:
        eyes += [mesh.EYE_LEFT_OUTER, mesh.EYE_LEFT_UPPER]
    for index in eyes:  # on tiny faces the soft top edge may brush an eye corner's pixel, never cover it
        coverage = at_landmark(out.coverage, face, index)
        assert coverage < 0.25, f"eye landmark {index} covered ({coverage:.2f})"
    # the occlusion stays on and around the face: within its landmarks' box, widened for straps and gaiters
    rows, cols = np.nonzero(out.occlusion)
    (x0, y0), (x1, y1) = face.landmarks[:, :2].min(axis=0), face.landmarks[:, :2].max(axis=0)
    width = x1 - x0
    assert cols.min() >= x0 - 0.35 * width - 2 and cols.max() <= x1 + 0.35 * width + 2
    assert rows.min() >= y0 - 0.35 * width - 2 and rows.max() <= y1 + 0.9 * width + 2


def test_wear_modes_move_the_mask(sample_faces, frontal):
    image, face = frontal
    nose_out = maskgen.render(image, [face], style="surgical", seed=3,
                              placement=maskgen.Placement(wear="nose_out"))
    chin = maskgen.render(image, [face], style="surgical", seed=3, placement=maskgen.Placement(wear="chin"))
    assert not covered(nose_out.occlusion, face, mesh.NOSE_TIP)
    assert covered(nose_out.occlusion, face, mesh.MOUTH_LOWER_INNER)
    assert not covered(chin.occlusion, face, mesh.NOSE_TIP)
    assert not covered(chin.occlusion, face, mesh.MOUTH_UPPER_INNER)
    assert chin.params[0]["shape"]["wear"] == "chin"


def test_placement_ranges_are_honoured(frontal):
    image, face = frontal
    low = maskgen.render(image, [face], style="cloth", seed=5, placement=maskgen.Placement(top=(0.0, 0.0)))
    high = maskgen.render(image, [face], style="cloth", seed=5, placement=maskgen.Placement(top=(1.0, 1.0)))
    rows = lambda occ: np.flatnonzero(occ.any(axis=1))
    assert rows(high.occlusion)[0] < rows(low.occlusion)[0]
    with pytest.raises(ValueError):
        maskgen.Placement(wear="on_forehead")
    with pytest.raises(ValueError):
        maskgen.Placement(top=(0.9, 0.1))


def test_far_side_narrows_on_turned_heads(sample_faces):
    base = sample_faces["Linda_Sanchez_0001"][0]
    frontal = place_mask(posed_face(base, 0, 0, 0, 256).landmarks, MaskShape())
    turned = place_mask(posed_face(base, 45, 0, 0, 256).landmarks, MaskShape())
    width = lambda g, cols: np.ptp(g.points[:, cols, 0])
    half = frontal.points.shape[1] // 2
    left, right = slice(0, half), slice(half, None)
    ratio_frontal = width(frontal, left) / width(frontal, right)
    ratio_turned = width(turned, left) / width(turned, right)
    assert 0.7 < ratio_frontal < 1.4
    assert ratio_turned > 1.5 * ratio_frontal or ratio_turned < ratio_frontal / 1.5


def test_mask_shape_validates():
    with pytest.raises(ValueError):
        MaskShape(outline="triangle")
    with pytest.raises(ValueError):
        MaskShape(wear="sideways")


def top_edge_in_photo(face: maskgen.Face, shape: MaskShape, count: int = 161) -> np.ndarray:
    """The drawn grid sampled along the cut's top edge: (count, 2) photo points, u from 0 to 1."""
    placed = place_mask(face.landmarks, shape)
    u = np.linspace(0.0, 1.0, count)
    us, vs = placed.uv[0, :, 0], placed.uv[:, 0, 1]
    column, row = np.interp(u, us, np.arange(len(us))), np.interp(cut_top(shape.outline, u), vs, np.arange(len(vs)))
    c0, r0 = np.minimum(column.astype(int), len(us) - 2), np.minimum(row.astype(int), len(vs) - 2)
    fc, fr = (column - c0)[:, None], (row - r0)[:, None]
    grid = placed.points[..., :2]
    return ((1 - fr) * ((1 - fc) * grid[r0, c0] + fc * grid[r0, c0 + 1])
            + fr * ((1 - fc) * grid[r0 + 1, c0] + fc * grid[r0 + 1, c0 + 1]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# pitch > 0: seen from above, as most portraits are (the cheeks, far behind the nose, then look higher)
@given(yaw=st.floats(-20, 20), pitch=st.floats(-10, 25), roll=st.floats(-35, 35), seed=st.integers(0, 2**31 - 1),
       sample=st.sampled_from(sorted(maskgen.sample_names())))
def test_top_edge_is_one_arc_highest_at_the_nose_bridge(sample_faces, yaw, pitch, roll, seed, sample):
    """Seen from the front, the fabric spans from the nose bridge down to each cheekbone: the edge's height has
    a single maximum near the bridge and never rises again between the outer eye corners (no bat-wing)."""
    face = posed_face(frontalised(sample_faces[sample][0]), yaw, pitch, roll, 256)
    params = maskgen.draw_params(1, "varied", seed)[0]
    if params.shape.wear != "correct":
        return
    edge = top_edge_in_photo(face, params.shape)
    right, left = face.landmarks[mesh.EYE_RIGHT_OUTER, :2], face.landmarks[mesh.EYE_LEFT_OUTER, :2]
    span = float(np.linalg.norm(left - right))
    across = (left - right) / span
    up = np.array([across[1], -across[0]])  # perpendicular to the eye line, towards the forehead
    along, height = (edge - right) @ across / span, (edge - right) @ up / span
    inside = (along > 0) & (along < 1)
    along, height = along[inside], height[inside]
    bridge = float((face.landmarks[mesh.NOSE_BRIDGE, :2] - right) @ across / span)
    near = np.abs(along - bridge) <= 0.1  # "near the bridge": the middle fifth of the eye span
    apex = int(np.flatnonzero(near)[np.argmax(height[near])])
    tolerance = 0.02  # eye spans (a pixel at 50 px): a flat stretch, or the grid's interpolation, is no bat-wing
    assert height[apex] > height.max() - tolerance, (
        f"highest at {along[np.argmax(height)]:.2f} of the eye span, {height.max() - height[apex]:.3f} above the "
        f"edge at the bridge ({bridge:.2f}; {params.kind})")
    # from the bridge outwards the edge only goes down: a running maximum outwards never exceeds its start
    rises = np.concatenate([np.maximum.accumulate(height[apex:]) - height[apex],
                            np.maximum.accumulate(height[: apex + 1][::-1]) - height[apex]])
    assert rises.max() < tolerance, f"the edge rises again by {rises.max():.3f} eye spans ({params.kind})"
