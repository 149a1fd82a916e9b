"""Materials, photo matching and the estimators behind them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import maskgen
from maskgen import photo
from maskgen.appearance import PATTERNS, Material, list_texture_files, render_material
from maskgen.composite import soften_chroma
from maskgen.kinds import sample_params
from maskgen.photo import (SKIN_CHROMA, analyse_region, chroma_planes, estimate_blur, estimate_chroma_blur,
                           estimate_noise, luminance)

COLOURS = ((0.8, 0.2, 0.2), (0.1, 0.3, 0.9), (0.9, 0.9, 0.2))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_pattern_renders_deterministically_and_differs_from_plain(pattern):
    material = Material(pattern=pattern, colours=COLOURS, seed=3, fibre=0.0)
    albedo, relief = render_material(material, (64, 96))
    assert albedo.shape == (64, 96, 3) and albedo.dtype == np.float32
    assert 0.0 <= albedo.min() and albedo.max() <= 1.0
    again, _ = render_material(material, (64, 96))
    assert np.array_equal(albedo, again)
    if pattern != "plain":
        assert albedo.std(axis=(0, 1)).max() > 0.02, "a pattern should vary over the mask"


def test_at_least_ten_code_made_families():
    assert len(set(PATTERNS) - {"plain"}) >= 10


def test_builtin_and_user_textures(tmp_path):
    builtin = list_texture_files()
    assert len(builtin) >= 5
    extra = tmp_path / "fabrics"
    extra.mkdir()
    cv2.imwrite(str(extra / "mine.png"), np.full((32, 32, 3), (0, 0, 255), np.uint8))  # red in BGR
    files = list_texture_files((str(extra),))
    assert str(extra / "mine.png") in files
    material = Material(pattern="image", texture_file=str(extra / "mine.png"), seed=1, fibre=0.0)
    albedo, _ = render_material(material, (48, 72))
    assert albedo[..., 0].mean() > 0.9 and albedo[..., 2].mean() < 0.1
    with pytest.raises(FileNotFoundError):
        list_texture_files((str(tmp_path / "missing"),))


def test_construction_details_make_relief():
    plain, flat = render_material(Material(seed=1), (64, 96))
    assert not flat.any()
    _, pleated = render_material(Material(seed=1, pleats=3, nose_wire=True, edge_band=0.05), (64, 96))
    assert pleated.std() > 0.05


def _neutral_share(drawn) -> float:
    """Share of masks whose ground is black, grey or white (low saturation), as two thirds of real ones are."""
    rgb = np.array([p.material.colours[0] for p in drawn])
    return float(((rgb.max(axis=1) - rgb.min(axis=1)) < 0.12).mean())


def test_varied_style_follows_real_mask_frequencies():
    """benchmarks/results/real-masks-kinds.md: cloth 42 %, surgical 38 %, black/grey/white 66 %, a few prints."""
    rng = np.random.default_rng(0)
    drawn = [sample_params("varied", rng) for _ in range(2000)]
    kinds = {kind: np.mean([p.kind == kind for p in drawn]) for kind in maskgen.KINDS}
    assert kinds["cloth"] > 0.3 and kinds["surgical"] > 0.3 and max(kinds["gaiter"], kinds["sport"]) < 0.09
    assert 0.55 < _neutral_share(drawn) < 0.8
    patterned = np.mean([p.material.pattern != "plain" for p in drawn])
    assert 0.08 < patterned < 0.25
    surgical = [p for p in drawn if p.kind == "surgical"]
    assert np.mean([p.material.pattern == "plain" for p in surgical]) > 0.95


def test_varied_wide_draws_every_kind_many_patterns_and_colours():
    rng = np.random.default_rng(0)
    drawn = [sample_params("varied-wide", rng) for _ in range(400)]
    assert {p.kind for p in drawn} == set(maskgen.KINDS)
    assert len({p.material.pattern for p in drawn}) >= 10
    colours = np.array([p.material.colours[0] for p in drawn])
    assert colours.std(axis=0).min() > 0.15, "colours should spread over the colour space"
    assert _neutral_share(drawn) < _neutral_share([sample_params("varied", rng) for _ in range(400)]) - 0.1
    assert np.mean([p.material.pattern != "plain" for p in drawn]) > 0.3


def test_baseline_is_one_white_flat_mask():
    rng = np.random.default_rng(0)
    drawn = [sample_params("mlfw-white", rng) for _ in range(20)]
    assert {p.material.colours[0] for p in drawn} == {(0.96, 0.96, 0.97)}
    assert all(p.shading < 0.5 and not p.match_photo for p in drawn)


def _test_card(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    card = np.zeros((160, 160), np.float32)
    for _ in range(40):
        x, y = rng.integers(0, 150, 2)
        w, h = rng.integers(5, 40, 2)
        cv2.rectangle(card, (int(x), int(y)), (int(x + w), int(y + h)), float(rng.random()), -1)
    return card


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.0, 3.0])
def test_blur_estimate_tracks_real_blur(sigma):
    card = _test_card()
    blurred = cv2.GaussianBlur(card, (0, 0), sigma) if sigma else card
    assert abs(estimate_blur(blurred) - sigma) < 0.5 + 0.2 * sigma


@pytest.mark.parametrize("sigma", [0.0, 0.02, 0.05])
def test_noise_estimate_tracks_real_noise(sigma):
    card = cv2.GaussianBlur(_test_card(), (0, 0), 1.5)
    noisy = card + np.random.default_rng(1).normal(0, sigma, card.shape).astype(np.float32)
    assert abs(estimate_noise(noisy) - sigma) < 0.006 + 0.2 * sigma


def _colour_card(seed: int = 0) -> np.ndarray:
    """Rectangles whose lightness and colour both change at every edge (float RGB)."""
    rng = np.random.default_rng(seed)
    card = np.zeros((160, 160, 3), np.float32)
    for _ in range(40):
        x, y = rng.integers(0, 150, 2)
        w, h = rng.integers(5, 40, 2)
        cv2.rectangle(card, (int(x), int(y)), (int(x + w), int(y + h)), rng.random(3).tolist(), -1)
    return card


def _with_chroma_blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    ycc[..., 1:] = cv2.GaussianBlur(ycc[..., 1:], (0, 0), sigma)
    return np.clip(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB), 0.0, 1.0)


@pytest.mark.parametrize("luma_sigma", [0.0, 1.0])
@pytest.mark.parametrize("chroma_sigma", [0.0, 1.0, 2.0])
def test_chroma_blur_estimate_tracks_colour_softer_than_lightness(luma_sigma, chroma_sigma):
    card = _colour_card()
    if luma_sigma:
        card = cv2.GaussianBlur(card, (0, 0), luma_sigma)
    if chroma_sigma:
        card = _with_chroma_blur(card, float(np.hypot(luma_sigma, chroma_sigma)))  # on top of the luma blur
    luma_blur = estimate_blur(luminance(card))
    assert abs(estimate_chroma_blur(card, luma_blur) - chroma_sigma) < 0.45 + 0.2 * chroma_sigma


def test_chroma_blur_is_zero_without_colour_and_for_grey_photos():
    grey_card = np.repeat(_test_card()[..., None], 3, axis=2)
    assert estimate_chroma_blur(grey_card, estimate_blur(grey_card[..., 0])) == 0.0
    assert analyse_region(_with_chroma_blur(_colour_card(), 1.5), greyscale=True).chroma_blur == 0.0
    assert analyse_region(_with_chroma_blur(_colour_card(), 1.5), greyscale=False).chroma_blur > 0.8


def test_softened_chroma_keeps_lightness_and_everything_outside_the_mask():
    card = _colour_card(2)
    alpha = np.zeros(card.shape[:2], np.float32)
    alpha[40:120, 30:130] = 1.0
    out = soften_chroma(card.copy(), alpha, 1.5)
    outside = alpha == 0
    assert np.array_equal(out[outside], card[outside]), "pixels the mask does not cover must not change"
    assert np.allclose(luminance(out), luminance(card), atol=2e-3), "only the colour is blurred, not the lightness"
    inside = ~outside
    edges = [(np.diff(chroma_planes(x), axis=1) ** 2)[inside[:, 1:]].mean() for x in (card, out)]
    assert edges[1] < 0.6 * edges[0], "colour edges under the mask are softer (less gradient energy)"
    assert np.array_equal(soften_chroma(card.copy(), alpha, 0.0), card), "no colour blur, no change"


def test_mask_colour_edges_are_as_soft_as_the_photos(samples, sample_faces, monkeypatch):
    """On a photo whose colour is blurrier than its lightness (as JPEG's half-resolution colour makes it), the
    mask's colour edges soften with it; the pixels it does not cover stay as they were."""
    name = "Heather_Mills_0004_color112"
    image = samples[name].astype(np.float32) / 255.0
    soft = (_with_chroma_blur(cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), 2.0) * 255
            ).round().astype(np.uint8)
    faces = [f.scaled_to(soft.shape[:2]) for f in sample_faces[name]]
    matched = maskgen.render(soft, faces, style="surgical", seed=3)
    monkeypatch.setattr(photo, "estimate_chroma_blur", lambda rgb, luma_blur: 0.0)
    unsoftened = maskgen.render(soft, faces, style="surgical", seed=3)
    assert np.array_equal(matched.occlusion, unsoftened.occlusion)
    occ = matched.occlusion
    assert np.array_equal(matched.image[~occ], unsoftened.image[~occ])
    planes = [chroma_planes(r.image.astype(np.float32) / 255.0) for r in (matched, unsoftened)]
    grad = [(np.diff(p, axis=0) ** 2)[occ[1:]].mean() for p in planes]
    assert grad[0] < 0.8 * grad[1]


def test_colour_cast_is_measured_against_skin_not_grey():
    rng = np.random.default_rng(3)
    skin = np.clip(SKIN_CHROMA * 0.55 + rng.normal(0, 0.02, (64, 64, 3)), 0, 1).astype(np.float32)
    neutral = analyse_region(skin, greyscale=False).cast
    assert np.allclose(neutral, 1.0, atol=0.02), "an ordinary face under neutral light needs no cast"
    bluish = analyse_region(np.clip(skin * np.array([0.8, 1.0, 1.25], np.float32), 0, 1), greyscale=False).cast
    assert bluish[2] > 1.04 > 0.96 > bluish[0], "light bluer than usual tints the mask blue"
    assert analyse_region(skin, greyscale=True).cast == (1.0, 1.0, 1.0)


def test_mask_is_lit_like_the_photo(samples, sample_faces):
    image = samples["Heather_Mills_0004_color112"]
    faces = sample_faces["Heather_Mills_0004_color112"]
    bright = maskgen.render(image, faces, style="surgical", seed=5)
    dark_photo = (image * 0.4).astype(np.uint8)
    dark = maskgen.render(dark_photo, faces, style="surgical", seed=5)
    occ = bright.occlusion & dark.occlusion
    assert dark.image[occ].mean() < 0.7 * bright.image[occ].mean()


def test_a_white_mask_is_shaded_not_a_paper_cut_out(samples, sample_faces):
    """Real white masks never clip to a flat white, show their pleats, and cast a soft shadow on the skin below
    (realism v2, flaw 2). Before: 70-80 % of a white mask's pixels were pure white on most sample photos."""
    import dataclasses

    from maskgen.kinds import MaskParams

    drawn = sample_params("surgical", np.random.default_rng(3))
    white = dataclasses.replace(drawn.material, colours=((0.94, 0.95, 0.96),), pattern="plain")
    shape = dataclasses.replace(drawn.shape, wear="correct")
    pleated = MaskParams(kind="surgical", shape=shape, material=dataclasses.replace(white, pleats=3), seed=drawn.seed)
    smooth = MaskParams(kind="surgical", shape=shape, material=dataclasses.replace(white, pleats=0), seed=drawn.seed)
    for name, image in samples.items():
        out = maskgen.apply_masks(image, sample_faces[name], [pleated])
        inside = cv2.erode(out.occlusion.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        pixels = out.image[inside].reshape(int(inside.sum()), -1)
        assert (pixels == 255).all(axis=1).mean() < 0.02, f"{name}: clipped to pure white"
        flat = maskgen.apply_masks(image, sample_faces[name], [smooth]).image[inside].reshape(pixels.shape)
        assert np.abs(pixels.astype(int) - flat).mean() > 1.0, f"{name}: the pleats do not show"

    from posed import posed_face

    canvas = np.empty((256, 256, 3), np.uint8)
    canvas[:] = (170, 125, 105)
    face = posed_face(sample_faces["Linda_Sanchez_0001"][0], 0, 0, 0, 256, scale=0.5)  # room below the chin
    out = maskgen.apply_masks(canvas, [face], [pleated])
    rows = np.flatnonzero(out.occlusion.any(axis=1))
    columns = np.flatnonzero(out.occlusion[rows.max()])
    below = np.zeros_like(out.occlusion)
    below[rows.max() + 1: rows.max() + 4, columns.min(): columns.max() + 1] = True  # skin just under the edge
    assert out.image[below].mean() < canvas[below].mean() - 5, "no soft shadow under the mask"  # was 2 levels


def test_highlight_shoulder_keeps_mid_tones_and_rolls_off_highlights(monkeypatch):
    from maskgen import composite

    values = np.linspace(0.0, 2.0, 201, dtype=np.float32)
    out = composite.highlight_shoulder(values)
    below = values <= composite.SHOULDER
    assert np.array_equal(out[below], values[below]) and np.all(np.diff(out) >= 0) and out.max() < 1.0
    monkeypatch.setattr(composite, "SHOULDER", 1.0)  # switched off (the realism ablation does this)
    assert np.array_equal(composite.highlight_shoulder(values), values)


def test_fabric_bulges_and_sheen_vary_the_inside_of_a_mask(samples, sample_faces):
    """`Material.undulation` and `.sheen` (realism v2.1, off for drawn masks) make a plain mask less even inside.
    On black fabric multiplied light barely changes the dark albedo: the sheen is added light, and it follows the
    fabric's shape, so it is not one even lift (docs/benchmarks.md)."""
    import dataclasses

    from maskgen.kinds import MaskParams

    drawn = sample_params("cloth", np.random.default_rng(11))
    black = dataclasses.replace(drawn.material, colours=((0.06, 0.06, 0.07),), pattern="plain", fibre=0.0)
    shape = dataclasses.replace(drawn.shape, wear="correct")
    white = dataclasses.replace(black, colours=((0.85, 0.86, 0.87),))
    variants = (dataclasses.replace(black, undulation=2.0, sheen=0.15), black, dataclasses.replace(white, undulation=2.0),
                white)
    bulge_spread = {}
    for name, image in samples.items():
        worn, flat, bulging, smooth = (maskgen.apply_masks(image, sample_faces[name],
                                                           [MaskParams("cloth", shape, m, drawn.seed)]) for m in variants)
        inside = cv2.erode(worn.occlusion.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        added = worn.image[inside].astype(np.float32) - flat.image[inside]  # the photo's grain is the same in both
        assert added.mean() > 0.5 and added.std() > 2.0, f"{name}: no sheen, or one even lift"
        # on light fabric the bulges show by the light they catch and lose
        bulge_spread[name] = float((bulging.image[inside].astype(np.float32) - smooth.image[inside]).std())
    # how much depends on the photo's light: under soft, even light (Linda_Sanchez_0001) they are faint, yet seen
    assert min(bulge_spread.values()) > 1.0 and np.median(list(bulge_spread.values())) > 4.0, bulge_spread


def test_undulation_and_sheen_default_to_none():
    """A Material built by hand (or loaded from an older params file) and every drawn one: no bulges, no sheen."""
    material = Material(colours=((0.2, 0.3, 0.4),), pleats=3, seed=4)
    assert (material.undulation, material.sheen) == (0.0, 0.0)
    _, relief = render_material(material, (48, 72))
    _, bulging = render_material(Material(colours=((0.2, 0.3, 0.4),), pleats=3, seed=4, undulation=2.0), (48, 72))
    assert np.abs(bulging - relief).max() > 0.5
    for style in (maskgen.BASELINE, "varied", "gaiter"):
        drawn = sample_params(style, np.random.default_rng(0)).material
        assert (drawn.undulation, drawn.sheen) == (0.0, 0.0), style
