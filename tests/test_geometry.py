"""Where masks sit, for every kind and pose: property tests on real landmarks turned in 3D."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maskgen
from maskgen import mesh
from maskgen.geometry import FaceFrame, MaskShape, place_mask
from posed import posed_face

POSE = dict(
    yaw=st.floats(-50, 50), pitch=st.floats(-20, 20), roll=st.floats(-35, 35),
    size=st.sampled_from([64, 96, 160, 256]), seed=st.integers(0, 2**31 - 1),
    sample=st.sampled_from(["Tommy_Robredo_0001", "Linda_Sanchez_0001", "Heather_Mills_0004_color112"]),
)
FACING = 0.25  # |sin(yaw)| beyond which the far eye is hidden behind the nose and cheek anyway


def covered(occlusion: np.ndarray, face: maskgen.Face, index: int) -> bool:
    x, y = np.round(face.landmarks[index, :2]).astype(int)
    return bool(occlusion[y, x])


@pytest.mark.parametrize("kind", maskgen.KINDS + (maskgen.BASELINE,))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**POSE)
def test_mask_covers_mouth_and_nose_never_eyes(sample_faces, kind, yaw, pitch, roll, size, seed, sample):
    face = posed_face(sample_faces[sample][0], yaw, pitch, roll, size)
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
    for index in eyes:
        assert not covered(out.occlusion, face, index), f"eye landmark {index} covered"
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
