"""The rendering core: determinism, layouts, occlusion maps, metadata, bad input."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maskgen
from maskgen.kinds import MaskParams
from posed import posed_face

SHADOW_BAND_PX = 6  # the contact shadow may darken a band this wide just outside the occlusion map


def changed_pixels(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    diff = before != after
    return diff if diff.ndim == 2 else diff.any(axis=2)


def assert_occlusion_explains_changes(before, out, *more):
    """Every changed pixel lies in the occlusion map (or its shadow band), and nearly every covered pixel
    changed. A mask the colour of the photo changes nothing where they match, so `more` takes further
    (before, result) pairs rendered with the same seed on other photo colours: a covered pixel must have
    changed in one of them."""
    covered_and_changed = np.zeros(out.occlusion.shape, bool)
    for image, result in ((before, out), *more):
        assert np.array_equal(result.occlusion, out.occlusion)
        changed = changed_pixels(image, result.image)
        outside = changed & ~result.occlusion
        if outside.any():
            distance = cv2.distanceTransform((~result.occlusion).astype(np.uint8), cv2.DIST_L2, 5)
            assert distance[outside].max() <= SHADOW_BAND_PX, "pixels changed far outside the occlusion map"
        covered_and_changed |= changed
    assert covered_and_changed[out.occlusion].mean() > 0.9


@pytest.mark.parametrize("style", maskgen.STYLES)
def test_every_style_on_every_sample(samples, sample_faces, style):
    for name, image in samples.items():
        out = maskgen.render(image, sample_faces[name], style=style, seed=11)
        assert out.image.shape == image.shape and out.image.dtype == image.dtype
        assert out.occlusion.shape == image.shape[:2] and out.occlusion.dtype == bool
        assert out.reason is None and out.masked_faces == 1
        kind = out.params[0]["kind"]
        assert kind == style or style == "varied" and kind in maskgen.KINDS
        assert_occlusion_explains_changes(image, out)


def test_same_seed_same_bytes_other_seed_other_bytes(frontal):
    image, face = frontal
    first = maskgen.render(image, [face], seed=42)
    again = maskgen.render(image, [face], seed=42)
    other = maskgen.render(image, [face], seed=43)
    assert first.image.tobytes() == again.image.tobytes()
    assert first.params == again.params
    assert first.image.tobytes() != other.image.tobytes()


def test_seed_is_recorded_and_reproduces(frontal):
    image, face = frontal
    out = maskgen.render(image, [face])
    assert isinstance(out.seed, int)
    assert maskgen.render(image, [face], seed=out.seed).image.tobytes() == out.image.tobytes()


def test_params_round_trip_through_json(frontal):
    image, face = frontal
    out = maskgen.render(image, [face], style="varied", seed=8)
    record = json.loads(json.dumps(out.params[0]))
    params = MaskParams.from_dict(record)
    again = maskgen.apply_masks(image, [face], [params])
    assert again.image.tobytes() == out.image.tobytes()


def test_no_face_returns_image_unchanged_with_reason():
    noise = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    out = maskgen.render(noise, style="varied", seed=1)
    assert out.reason == "no face" and out.params == []
    assert np.array_equal(out.image, noise) and not out.occlusion.any()


def test_tiny_face_is_skipped_not_raised(frontal):
    image, face = frontal
    tiny = maskgen.Face(face.landmarks * 0.03, image.shape[:2])
    out = maskgen.render(image, [tiny], seed=1)
    assert out.params[0]["status"] == "skipped" and "too small" in out.params[0]["reason"]
    assert np.array_equal(out.image, image)


def test_face_outside_the_image_is_skipped(frontal):
    image, face = frontal
    away = maskgen.Face(face.landmarks + np.array([5000, 5000, 0], np.float32), image.shape[:2])
    out = maskgen.render(image, [away], seed=1)
    assert out.params[0]["status"] == "skipped"


def test_greyscale_photo_stays_greyscale(samples, sample_faces):
    grey = samples["Tommy_Robredo_0001"]
    assert grey.ndim == 2
    rgb = np.repeat(grey[..., None], 3, axis=2)
    out = maskgen.render(rgb, sample_faces["Tommy_Robredo_0001"], style="cloth", seed=2)
    assert np.array_equal(out.image[..., 0], out.image[..., 1]) and np.array_equal(out.image[..., 1],
                                                                                  out.image[..., 2])
    out2 = maskgen.render(grey, sample_faces["Tommy_Robredo_0001"], style="cloth", seed=2)
    assert out2.image.ndim == 2


@pytest.mark.parametrize("layout", ["grey", "grey1", "rgb", "rgba", "uint16", "float32"])
def test_layouts_are_preserved(samples, sample_faces, layout):
    name = "Heather_Mills_0004_color112"
    rgb = samples[name]
    image = {
        "grey": cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
        "grey1": cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None],
        "rgb": rgb,
        "rgba": np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)]),
        "uint16": rgb.astype(np.uint16) * 257,
        "float32": rgb.astype(np.float32) / 255.0,
    }[layout]
    out = maskgen.render(image, sample_faces[name], style="surgical", seed=4)
    assert out.image.shape == image.shape and out.image.dtype == image.dtype
    assert out.occlusion.any()
    if layout == "rgba":
        assert (out.image[..., 3][out.occlusion] >= 128).all()
        assert (out.image[..., 3][~out.occlusion] == 128).all()
    assert_occlusion_explains_changes(image, out)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(32, 4000), channels=st.sampled_from([0, 3, 4]), seed=st.integers(0, 2**31 - 1),
       yaw=st.floats(-40, 40), colour=st.integers(0, 255))
def test_any_size_and_colour(sample_faces, size, channels, seed, yaw, colour):
    face = posed_face(sample_faces["Linda_Sanchez_0001"][0], yaw, 0, 0, size)
    shape = (size, size) if channels == 0 else (size, size, channels)
    image = np.full(shape, colour, np.uint8)
    out = maskgen.render(image, [face], style="varied", seed=seed)
    assert out.image.shape == image.shape and out.image.dtype == np.uint8
    if size >= 48:
        assert out.masked_faces == 1 and out.occlusion.any()
    if out.occlusion.any():
        inverse = 255 - image
        assert_occlusion_explains_changes(image, out, (inverse, maskgen.render(inverse, [face], seed=seed)))
    again = maskgen.render(image, [face], style="varied", seed=seed)
    assert again.image.tobytes() == out.image.tobytes()


def test_several_faces_each_get_a_mask(samples, sample_faces):
    a = cv2.resize(cv2.cvtColor(samples["Linda_Sanchez_0001"], cv2.COLOR_GRAY2RGB), (200, 200))
    b = cv2.resize(samples["Heather_Mills_0004_color112"], (200, 200))
    pair = np.hstack([a, b])
    faces = maskgen.detect_faces(pair)
    assert len(faces) == 2
    out = maskgen.render(pair, faces, seed=9)
    assert out.masked_faces == 2
    assert out.occlusion[:, :200].any() and out.occlusion[:, 200:].any()


def test_bad_arguments_raise_clearly(frontal):
    image, face = frontal
    with pytest.raises(ValueError, match="style"):
        maskgen.render(image, [face], style="balaclava")
    with pytest.raises(ValueError, match="parameter sets"):
        maskgen.apply_masks(image, [face], [])
    with pytest.raises(maskgen.ImageError):
        maskgen.render(np.zeros((10, 10, 2), np.uint8), [])
