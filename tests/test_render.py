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

SHADOW_BAND_PX = 6  # the shadows may darken a band this wide just outside the occlusion map ...
SHADOW_BAND_SHARE = 0.07  # ... or this share of the mask's width, on big faces


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
            columns = np.flatnonzero(result.occlusion.any(axis=0))
            band = max(SHADOW_BAND_PX, SHADOW_BAND_SHARE * (columns.max() - columns.min() + 1))
            assert distance[outside].max() <= band, "pixels changed far outside the occlusion map"
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
        assert kind == style or style in ("varied", "varied-wide") and kind in maskgen.KINDS
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
    broken = image.astype(np.float32) / 255.0
    broken[int(face.landmarks[:, 1].mean()), int(face.landmarks[:, 0].mean())] = np.nan  # in the middle of the face
    with pytest.raises(maskgen.ImageError, match="1 NaN or infinite"):
        maskgen.render(broken, [face])


def test_any_integer_seed_in_python_as_on_the_command_line(frontal):
    image, face = frontal
    negative = maskgen.render(image, [face], style="cloth", seed=-1)
    assert negative.seed == -1 and negative.masked_faces == 1
    assert np.array_equal(negative.image, maskgen.render(image, [face], style="cloth", seed=-1).image)
    assert not np.array_equal(negative.image, maskgen.render(image, [face], style="cloth", seed=1).image)
    huge = maskgen.render(image, [face], style="cloth", seed=2**80)
    assert huge.masked_faces == 1
    assert maskgen.draw_params(1, "cloth", np.int64(-5)) == maskgen.draw_params(1, "cloth", -5)
    for bad in (1.5, "7", True):
        with pytest.raises(ValueError, match="seed must be an integer"):
            maskgen.render(image, [face], seed=bad)
    with pytest.raises(ValueError, match="non-negative integer"):
        maskgen.draw_params(-1, "varied", 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"top": (-5, 7)}, r"top must lie within \[0.0, 1.0\]"),
    ({"top": (0.8, 0.2)}, "low <= high"),
    ({"chin_drop": (-1, 5)}, "chin_drop must lie within"),
    ({"width": (0.9, float("nan"))}, "low <= high"),
    ({"width": (1, 2, 3)}, "two numbers"),
    ({"wear": {"correct": 0}}, "at least one positive weight"),
    ({"wear": {"correct": -1, "chin": 2}}, "finite numbers >= 0"),
    ({"wear": {"correct": float("inf")}}, "finite numbers >= 0"),
    ({"wear": {}}, "at least one positive weight"),
    ({"wear": "upside_down"}, "unknown wear mode"),
])
def test_placement_refuses_what_cannot_sit_on_a_face(kwargs, message):
    with pytest.raises(ValueError, match=message):
        maskgen.Placement(**kwargs)
    with pytest.raises(ValueError):
        maskgen.FaceMask(**kwargs)


def test_placement_accepts_its_limits_and_zero_weights_beside_a_positive_one():
    placement = maskgen.Placement(wear={"correct": 1, "chin": 0}, top=(0, 1), chin_drop=(-0.2, 1.5), width=(0.5, 1.25))
    assert placement.top == (0.0, 1.0)
    rng = np.random.default_rng(0)
    assert {placement.draw_wear(rng) for _ in range(50)} == {"correct"}


def test_mediapipe_start_up_lines_do_not_reach_stderr():
    """MediaPipe's C++ side writes INFO/W0000 lines straight to file descriptor 2; users see none of them."""
    import subprocess
    import sys

    code = ("import maskgen\n"
            "for name in maskgen.sample_names():\n"
            "    maskgen.detect_faces(maskgen.load_sample(name))\n"
            "import sys; print('python still writes', file=sys.stderr)\n")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("GLOG_minloglevel", "MASKGEN_NATIVE_LOGS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "python still writes"


def test_render_takes_landmark_arrays_with_the_same_checks_as_facemask(frontal):
    image, face = frontal
    expected = maskgen.render(image, [face], style="kn95", seed=4).image
    for given in (face.landmarks[None], [face.landmarks], face.landmarks):
        assert np.array_equal(maskgen.render(image, given, style="kn95", seed=4).image, expected)
    with pytest.raises(ValueError, match=r"shape \(N, 478, 3\)"):
        maskgen.render(image, face.landmarks[None, :, :2], seed=4)
    with pytest.raises(ValueError, match="normalised"):
        maskgen.render(image, face.landmarks[None] / max(image.shape), seed=4)
    with pytest.raises(ValueError, match="must be a maskgen.Placement"):
        maskgen.render(image, [face], placement={"wear": "chin"})
    broken = face.landmarks.copy()
    broken[3, 0] = np.nan
    with pytest.raises(ValueError, match="must be finite; 1 are NaN"):
        maskgen.Face(broken, face.image_size)


def test_apply_masks_takes_landmark_arrays_as_render_does(frontal):
    image, face = frontal
    params = maskgen.draw_params(1, "cloth", seed=2)
    expected = maskgen.apply_masks(image, [face], params).image
    for given in (face.landmarks[None], [face.landmarks], face.landmarks, face):
        assert np.array_equal(maskgen.apply_masks(image, given, params).image, expected)
    with pytest.raises(ValueError, match=r"shape \(N, 478, 3\)"):
        maskgen.apply_masks(image, face.landmarks[None, :, :2], params)


def test_a_mask_that_lands_off_the_image_is_skipped_not_reported_masked(frontal, monkeypatch):
    """A mask whose every pixel falls outside the image (landmarks from a bigger copy of the photo, say) must
    not be reported "masked" with an unchanged image."""
    image, face = frontal
    params = maskgen.draw_params(1, "gaiter", seed=1)
    out = maskgen.apply_masks(image, [face], params)
    assert out.params[0]["status"] == "masked"
    from maskgen import composite

    blend = composite.blend

    def blend_nothing(photo, layer, shadow):
        layer.alpha[:] = 0.0  # as if every covered pixel were outside the image
        layer.colour[:] = 0.0
        return blend(photo, layer, shadow)

    monkeypatch.setattr(composite, "blend", blend_nothing)
    out = maskgen.apply_masks(image, [face], params)
    assert out.params[0]["status"] == "skipped" and "not visible" in out.params[0]["reason"]
    assert np.array_equal(out.image, image) and not out.occlusion.any()


def test_the_real_wear_mix_leaves_the_nose_out_about_one_mask_in_twenty():
    from maskgen.kinds import REAL_WEAR, sample_params
    placement = maskgen.Placement(wear=REAL_WEAR)
    wears = [sample_params("varied", np.random.default_rng(i), placement).shape.wear for i in range(2000)]
    assert set(wears) <= set(REAL_WEAR)
    assert abs(wears.count("nose_out") / len(wears) - REAL_WEAR["nose_out"]) < 0.02  # about 4.5 standard errors
    assert {sample_params("varied", np.random.default_rng(i)).shape.wear for i in range(200)} == {"correct"}


def test_a_render_replays_from_its_own_json_records(frontal):
    """RenderResult.params (and a manifest's params) are enough to draw the very same masks again."""
    import json

    image, face = frontal
    first = maskgen.render(image, [face], style="varied", seed=21)
    records = json.loads(json.dumps(first.params))  # as a manifest stores them
    again = maskgen.apply_masks(image, [face], records)
    assert np.array_equal(first.image, again.image)
    with pytest.raises(ValueError, match=r"params\[0\] is neither"):
        maskgen.apply_masks(image, [face], [{"kind": "cloth"}])


def test_straps_show_about_as_often_as_on_real_photos_and_only_on_kinds_that_have_them():
    from maskgen.kinds import STRAP_OPACITY, STRAP_SHOWS, sample_params
    drawn = [sample_params("varied", np.random.default_rng(i)) for i in range(2000)]
    strapped = [p for p in drawn if p.shape.straps != "none"]
    assert all(p.material.strap_opacity == 0.0 for p in drawn if p.shape.straps == "none")
    shown = [p.material.strap_opacity for p in strapped if p.material.strap_opacity > 0.0]
    assert abs(len(shown) / len(strapped) - STRAP_SHOWS) < 0.05  # about 4.5 standard errors
    assert min(shown) >= STRAP_OPACITY[0] and max(shown) <= STRAP_OPACITY[1]
    # the M-LFW-FER baseline keeps its solid loops
    assert sample_params("mlfw-white", np.random.default_rng(0)).material.strap_opacity == 1.0


def test_hidden_straps_draw_the_mask_as_no_straps_and_faint_ones_change_less(frontal):
    import dataclasses
    image, face = frontal
    base = MaskParams.from_dict(maskgen.render(image, [face], style="surgical", seed=3).params[0])
    base = dataclasses.replace(base, match_photo=False)

    def with_straps(opacity: float, straps: str = "loops") -> maskgen.RenderResult:
        params = dataclasses.replace(base, shape=dataclasses.replace(base.shape, straps=straps),
                                     material=dataclasses.replace(base.material, strap_opacity=opacity))
        return maskgen.apply_masks(image, [face], [params])

    bare = with_straps(1.0, "none")
    hidden = with_straps(0.0)
    assert np.array_equal(hidden.image, bare.image) and np.array_equal(hidden.occlusion, bare.occlusion)
    straps_only = with_straps(1.0).occlusion & ~bare.occlusion
    assert straps_only.sum() > 20  # the loops reach past the mask's edge towards the ears
    change = {opacity: np.abs(with_straps(opacity).image.astype(float) - image)[straps_only].mean()
              for opacity in (0.5, 1.0)}
    assert 0.35 < change[0.5] / change[1.0] < 0.65
    with pytest.raises(ValueError, match="strap_opacity"):
        dataclasses.replace(base.material, strap_opacity=1.5)
