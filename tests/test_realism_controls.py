"""The realism benchmark's controls: what each one blanks and what it leaves visible.

The controls set the floor that the renderer's realism gap is measured from, so a control that blanked too
little (the mask leaks in) or too much (the collections' framing hidden) would move every reported gap.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch")  # realism.py trains its classifiers with torch (the `fer` extra)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import realism  # noqa: E402

from maskgen import mesh  # noqa: E402

LINE = realism.BLANK_ROW


def test_a_photo_cut_at_the_mouth_is_padded_where_the_mask_would_be(frontal):
    image, face = frontal
    whole = realism.in_photo(image, face)
    assert whole[LINE:].mean() > 0.7  # most of the lower face lies inside the whole photo
    assert realism.padded_share(whole[None]) == 0.0
    cut = image[:int(face.landmarks[mesh.UPPER_LIP_TOP, 1])]  # a tight portrait that ends at the upper lip
    inside = realism.in_photo(cut, face)
    assert np.array_equal(inside[:LINE], whole[:LINE]) and inside[LINE:].mean() < whole[LINE:].mean() - 0.3
    assert realism.padded_share(inside[None]) == 1.0


def test_the_framing_control_blanks_the_lower_face_and_shows_where_the_photo_ends(frontal):
    image, face = frontal
    cut = image[:int(face.landmarks[mesh.UPPER_LIP_TOP, 1])]
    crop = realism.align(cut, face)[None]
    inside = realism.in_photo(cut, face)[None]
    plain, framed = realism.blank_lower(crop), realism.blank_lower(crop, inside)
    assert np.array_equal(plain[:, :LINE], crop[:, :LINE]) and np.array_equal(framed[:, :LINE], crop[:, :LINE])
    assert (plain[:, LINE:] == 127).all()
    lower_inside = inside[:, LINE:]
    assert (framed[:, LINE:][lower_inside] == 127).all() and (framed[:, LINE:][~lower_inside] == 0).all()


def test_the_mask_area_covers_nose_mouth_and_chin_and_leaves_the_eyes_and_sides(samples, sample_faces):
    for name, image in samples.items():
        face = sample_faces[name][0]
        area = realism.mask_area(face)
        assert not area[:LINE].any(), name
        for x, y in realism.to_crop(face, (*mesh.MOUTH_POINTS, mesh.NOSE_BOTTOM, mesh.CHIN_BOTTOM)):
            col, row = int(round(x)), int(round(y))
            if 0 <= row < realism.CROP and 0 <= col < realism.CROP:
                assert area[row, col], (name, col, row)
        assert 0.2 < area[LINE:].mean() < 0.9, name  # the lower half's corners stay visible
        blanked = realism.blank_mask_area(realism.align(image, face)[None], area[None])[0]
        assert (blanked[area] == 127).all()
        assert np.array_equal(blanked[~area], realism.align(image, face)[~area])


@pytest.mark.parametrize("name", list(realism.ABLATIONS))
def test_every_ablation_still_renders_and_changes_only_what_it_names(frontal, name):
    """Ablations switch renderer functions back by name: a renamed or re-signed function must fail here, not
    an hour into a benchmark run. With no change and no patch a variant is exactly what `render` draws, and a
    patch is undone when the variant is done."""
    import maskgen

    image, face = frontal
    style, change, patch = realism.ABLATIONS[name]
    plain = maskgen.render(image, [face], style=style, seed=3).image
    out = realism.render_variant(image, face, 3, style, change, patch)
    assert out.shape == image.shape and not np.array_equal(out, image)
    assert np.array_equal(out, plain) == (not change and not patch)
    # rendered before the variant and again after it: the same pixels, so the patch was undone
    assert np.array_equal(maskgen.render(image, [face], style=style, seed=3).image, plain)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=12), st.lists(st.integers(0, 6), min_size=1, max_size=12))
def test_roc_auc_is_the_share_of_positive_negative_pairs_ranked_right(positives, negatives):
    import realism_tstr

    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    auc = realism_tstr.roc_auc(np.array(positives, np.float32) / 6, np.array(negatives, np.float32) / 6)
    assert auc == pytest.approx(sum(pairs) / len(pairs))


def test_roc_auc_refuses_a_side_without_scores():
    import realism_tstr

    with pytest.raises(ValueError, match="positive and one negative"):
        realism_tstr.roc_auc(np.array([0.3]), np.array([]))


def test_the_colour_protocol_trains_on_the_colour_copies_of_training_photos_only(tmp_path):
    import shutil

    import realism_tstr

    from maskgen.samples import sample_paths

    samples = {p.stem: p for p in sample_paths()}
    (tmp_path / "images").mkdir()
    (tmp_path / "color112").mkdir()
    rows = ["image,emotion,expression,identity,source,split,color112"]
    for name, split, colour in (("Tommy_Robredo_0001", "train", "1"), ("Madonna_0002", "train", "0"),
                                ("Linda_Sanchez_0001", "test", "1")):
        shutil.copy(samples[name], tmp_path / "images" / f"{name}.jpg")
        if colour == "1":
            shutil.copy(samples["Bill_Frist_0002_color112"], tmp_path / "color112" / f"{name}.jpg")
        rows.append(f"{name}.jpg,neutral,neutral,{name},lfw,{split},{colour}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")

    grey_faces = realism_tstr.synthetic_faces(tmp_path, tmp_path / "grey.sqlite", 5)
    colour_faces = realism_tstr.synthetic_faces(tmp_path, tmp_path / "colour.sqlite", 5, colour=True)

    assert sorted(name for _, _, name in grey_faces) == ["Madonna_0002.jpg", "Tommy_Robredo_0001.jpg"]
    assert [name for _, _, name in colour_faces] == ["Tommy_Robredo_0001.jpg"]  # train split, with a colour copy
    image = colour_faces[0][0]
    assert image.shape[:2] == (112, 112) and np.ptp(image.astype(int), axis=2).max() > 10  # the colour copy


def test_the_kind_mix_floor_grows_as_a_kind_gets_rarer():
    control = 0.87
    assert realism.kind_mix_floor(control, 1.0) == pytest.approx(control)  # the only kind: no mix to tell apart
    assert realism.kind_mix_floor(control, 0.0) == pytest.approx(control + 0.5 * (1 - control))
    floors = [realism.kind_mix_floor(control, realism.REAL_KIND_SHARE[k]) for k in ("cloth", "surgical", "n95")]
    assert floors == sorted(floors) and floors[-1] - control == pytest.approx(0.0611, abs=1e-3)
    assert sum(realism.REAL_KIND_SHARE.values()) == pytest.approx(1.0)


def test_accuracy_by_framing_splits_each_sides_held_out_crops_by_where_its_photo_ends():
    held_out = realism.HeldOut(train_0=np.array([0]), train_1=np.array([0]), test_0=np.array([1, 2, 3, 4]),
                               test_1=np.array([1, 2, 3]), correct_0=np.array([True, True, False, True]),
                               correct_1=np.array([False, True, True]))
    padded_0 = np.array([False, True, True, False, False])  # item 0 trained on: not counted
    padded_1 = np.array([True, True, False, False])
    split = realism.accuracy_by_framing(held_out, padded_0, padded_1)
    assert split == {"compared_padded": 1.0, "compared_framed": 0.5, "real_masked_padded": 0.0,
                     "real_masked_framed": 1.0}
    no_padded_real = realism.accuracy_by_framing(held_out, padded_0, np.zeros(4, bool))
    assert np.isnan(no_padded_real["real_masked_padded"]) and no_padded_real["real_masked_framed"] == 2 / 3


def test_a_two_sample_test_split_by_framing_finds_a_difference_only_where_there_is_one():
    """Side 0 differs from side 1 only on padded crops: the framed crops are told apart at chance."""
    rng = np.random.default_rng(0)
    real = rng.integers(90, 160, (120, realism.CROP, realism.CROP, 3)).astype(np.uint8)
    synthetic = rng.integers(90, 160, (120, realism.CROP, realism.CROP, 3)).astype(np.uint8)
    padded_synthetic = np.arange(120) % 2 == 0
    synthetic[padded_synthetic, LINE:] = 0  # only these carry a cue
    padded = (padded_synthetic, np.arange(120) % 3 == 0)  # padded real crops without the cue: still real
    result = realism.two_sample(real, synthetic, [0], epochs=3, padded=padded)
    split = result["by_framing"]
    assert split["compared_padded"] > 0.9 and split["balanced_padded"] > 0.75
    assert abs(split["compared_framed"] + split["real_masked_framed"] - 1.0) < 0.35  # framed: no better than chance
    assert split["balanced_framed"] == 0.5 * (split["compared_framed"] + split["real_masked_framed"])


def test_fine_shape_tells_grain_from_a_few_sharp_creases():
    """mask_colours.fine_shape: pixel grain is light-tailed and uncorrelated, a crease or two on even fabric
    heavy-tailed, and structure a few pixels wide correlated; an even patch has no shape at all."""
    import cv2

    import mask_colours

    rng = np.random.default_rng(0)
    grain = np.clip(128 + rng.normal(0, 6, (4, realism.CROP, realism.CROP, 1)), 0, 255).repeat(3, -1)
    creased = np.full((4, realism.CROP, realism.CROP, 3), 128.0)
    rows = mask_colours.PATCH[0]
    creased[:, rows.start + 5, :] = 90.0  # one dark crease across the patch
    blobs = np.stack([cv2.GaussianBlur(rng.normal(0, 30, (realism.CROP, realism.CROP)), (0, 0), 1.2)
                      for _ in range(4)])[..., None].repeat(3, -1) + 128
    shape = {name: mask_colours.fine_shape(mask_colours.lightness_layers(x.astype(np.uint8))) for name, x in
             (("grain", grain), ("creased", creased), ("blobs", blobs))}
    assert np.all(shape["creased"]["kurtosis"] > 2 * shape["grain"]["kurtosis"])
    assert np.all(np.abs(shape["grain"]["neighbour_correlation"]) < 0.3)
    assert np.all(shape["blobs"]["neighbour_correlation"] > shape["grain"]["neighbour_correlation"] + 0.3)
    even = mask_colours.fine_shape(mask_colours.lightness_layers(np.full((1, realism.CROP, realism.CROP, 3), 77,
                                                                         np.uint8)))
    assert np.isnan(even["kurtosis"]).all() and np.isnan(even["neighbour_correlation"]).all()


def test_middle_orientation_tells_pleats_from_a_seam_and_from_isotropic_fabric():
    """mask_colours.middle_orientation: stripes running across the face put their energy 'across', a seam
    running down it 'down', smooth random blobs about a third each; an even patch has no direction."""
    import cv2

    import mask_colours

    rows, cols = np.indices((realism.CROP, realism.CROP))
    pleats = (128 + 40 * np.sin(rows * np.pi / 3))[None, ..., None].repeat(3, -1)
    seam = np.full((1, realism.CROP, realism.CROP, 3), 128.0)
    seam[:, :, 31:33] = 80.0
    rng = np.random.default_rng(2)
    blobs = np.stack([cv2.GaussianBlur(rng.normal(0, 30, (realism.CROP, realism.CROP)), (0, 0), 1.5)
                      for _ in range(16)])[..., None].repeat(3, -1) + 128
    runs = {name: mask_colours.middle_orientation(mask_colours.lightness_layers(np.clip(x, 0, 255).astype(np.uint8)))
            for name, x in (("pleats", pleats), ("seam", seam), ("blobs", blobs))}
    assert runs["pleats"]["across"][0] > 0.95 and runs["pleats"]["down"][0] < 0.02
    assert runs["seam"]["down"][0] > 0.95 and runs["seam"]["across"][0] < 0.02
    assert 0.2 < np.median(runs["blobs"]["across"]) < 0.45 and 0.2 < np.median(runs["blobs"]["down"]) < 0.45
    even = mask_colours.middle_orientation(mask_colours.lightness_layers(np.full((1, realism.CROP, realism.CROP, 3),
                                                                                 200, np.uint8)))
    assert np.isnan(even["across"]).all() and np.isnan(even["down"]).all()


def test_clipped_share_counts_only_bright_patches_that_have_lost_their_detail():
    import mask_colours

    pixels = 100
    clipped_white = np.full((1, pixels), 0.99)
    shaded_white = np.linspace(0.7, 0.97, pixels)[None]  # bright, but most of it under the clip
    dark = np.full((1, pixels), 0.2)
    result = mask_colours.clipped_share(np.concatenate([clipped_white, shaded_white, dark]))
    assert result == {"bright_patches": 2, "share_clipped": 0.5}
    assert mask_colours.clipped_share(dark) == {"bright_patches": 0, "share_clipped": None}


def test_a_missing_or_empty_photo_folder_ends_the_run_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match="no folder"):
        realism.load_faces(tmp_path / "missing", None)
    (tmp_path / "notes.txt").write_text("not a photo")
    with pytest.raises(SystemExit, match="no photos in"):
        realism.load_faces(tmp_path, None)


def test_varied_draws_the_colour_families_of_real_masks():
    """The ground colours `varied` draws, in mask_colours' families, come near the real masked photos' shares
    (results/mask-colours.json: pink and red 9.5 %, yellow, orange and brown 7.2 %, green and teal 1.3 %, black
    and charcoal 25 %). Rendering shifts a family by a point or two (light, patterns), hence the margins."""
    import mask_colours

    from maskgen.kinds import sample_params

    rng = np.random.default_rng(0)
    families = [mask_colours.colour_group(np.array(sample_params("varied", rng).material.colours[0]) * 255)
                for _ in range(4000)]
    share = {group: families.count(group) / len(families) for group in mask_colours.GROUPS}
    assert 0.07 < share["pink-red-purple"] < 0.13
    assert 0.045 < share["yellow-orange-brown"] < 0.1
    assert share["green-teal"] < 0.035
    assert 0.2 < share["black"] + share["charcoal"] < 0.34
    assert 0.38 < share["white"] + share["grey"] + share["light-blue"] < 0.5


def test_photo_edges_pad_past_straight_edges_and_never_cut_the_eyes():
    import realism_tstr

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (200, realism.CROP, realism.CROP, 3), dtype=np.uint8)
    assert np.array_equal(realism_tstr.photo_edges(crops, np.random.default_rng(1), 0.0), crops)
    cut = realism_tstr.photo_edges(crops, np.random.default_rng(1), 1.0)
    assert np.array_equal(cut, realism_tstr.photo_edges(crops, np.random.default_rng(1), 1.0))  # seeded
    changed = (cut != crops).any(axis=3)
    assert changed.any(axis=(1, 2)).all()  # share 1: every crop meets an edge
    eyes = (slice(21, 28), np.r_[17:24, 40:47])
    assert not changed[:, eyes[0]][:, :, eyes[1]].any()  # the eyes (centres at row 24, columns 20 and 44) stay
    padded = (cut == realism.PADDING_GREY).all(axis=3) & changed
    assert 0.05 < padded.mean() < 0.5  # pixels past an edge show align's padding grey
    half = realism_tstr.photo_edges(crops, np.random.default_rng(2), 0.5)
    assert 0.35 < (half != crops).any(axis=(1, 2, 3)).mean() < 0.65


def test_recall_and_specificity_apart_on_padded_and_framed_photos():
    import realism_tstr

    realness = np.array([0.9, 0.2, 0.8, 0.7])  # real masked photos: "masked" above 0.5
    called = np.array([0.9, 0.1, 0.2])  # real unmasked photos
    split = realism_tstr.by_framing(realness, called, np.array([True, True, False, False]),
                                    np.array([True, False, False]))
    assert split == {"real_mask_recall_padded": 0.5, "real_mask_recall_framed": 1.0,
                     "unmasked_specificity_padded": 0.0, "unmasked_specificity_framed": 1.0}
    assert np.isnan(realism_tstr.by_framing(realness, called, np.zeros(4, bool), np.zeros(3, bool))[
        "real_mask_recall_padded"])
