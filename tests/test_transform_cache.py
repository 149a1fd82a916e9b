"""`maskgen.FaceMask` in Albumentations pipelines, and the landmark cache behind it."""

from __future__ import annotations

import pickle

import albumentations as A
import cv2
import numpy as np
import pytest

import maskgen
from maskgen.cache import LandmarkCache, array_digest, file_digest
from maskgen.images import write_image


@pytest.fixture()
def colour(samples, sample_faces):
    name = "Heather_Mills_0004_color112"
    return samples[name], np.stack([f.landmarks for f in sample_faces[name]])


def test_compose_seed_makes_runs_repeatable(colour):
    image, landmarks = colour
    make = lambda seed: A.Compose([maskgen.FaceMask(p=1.0)], seed=seed)
    first = make(137)(image=image, face_landmarks=landmarks)["image"]
    again = make(137)(image=image, face_landmarks=landmarks)["image"]
    other = make(138)(image=image, face_landmarks=landmarks)["image"]
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_successive_calls_draw_fresh_masks(colour):
    image, landmarks = colour
    aug = A.Compose([maskgen.FaceMask(p=1.0)], seed=1)
    outs = {aug(image=image, face_landmarks=landmarks)["image"].tobytes() for _ in range(4)}
    assert len(outs) == 4


def test_detects_when_no_landmarks_given(colour):
    image, landmarks = colour
    aug = lambda: A.Compose([maskgen.FaceMask(p=1.0)], seed=5)
    assert np.array_equal(aug()(image=image)["image"], aug()(image=image, face_landmarks=landmarks)["image"])


def test_probability_zero_and_one(colour):
    image, landmarks = colour
    untouched = A.Compose([maskgen.FaceMask(p=0.0)], seed=1)(image=image, face_landmarks=landmarks)["image"]
    assert np.array_equal(untouched, image)
    applied = A.Compose([maskgen.FaceMask(p=1.0)], seed=1)(image=image, face_landmarks=landmarks)["image"]
    assert not np.array_equal(applied, image)


def test_serialisation_round_trip(colour, tmp_path):
    image, landmarks = colour
    aug = A.Compose([maskgen.FaceMask(style="cloth", wear={"correct": 0.5, "chin": 0.5}, top=(0.4, 0.6),
                                      texture_dirs=[str(tmp_path)], p=1.0)], seed=3)
    restored = A.from_dict(A.to_dict(aug))
    restored.set_random_seed(3)
    assert isinstance(restored.transforms[0], maskgen.FaceMask)
    assert restored.transforms[0].wear == {"correct": 0.5, "chin": 0.5}
    assert np.array_equal(aug(image=image, face_landmarks=landmarks)["image"],
                          restored(image=image, face_landmarks=landmarks)["image"])


def test_arguments_are_validated():
    with pytest.raises(ValueError):
        maskgen.FaceMask(style="balaclava")
    with pytest.raises(ValueError):
        maskgen.FaceMask(p=1.5)
    with pytest.raises(ValueError):
        maskgen.FaceMask(max_faces=0)


def test_keypoints_kept_and_occlusion_follows_flip(colour):
    image, landmarks = colour
    aug = A.Compose([maskgen.FaceMask(p=1.0, occlusion_key="mask"), A.HorizontalFlip(p=1.0)],
                    keypoint_params=A.KeypointParams(format="xy"), seed=2, strict=True)
    plain = A.Compose([maskgen.FaceMask(p=1.0, occlusion_key="mask")], seed=2)
    out = aug(image=image, face_landmarks=landmarks, keypoints=np.array([[10.0, 20.0]]))
    unflipped = plain(image=image, face_landmarks=landmarks)
    assert np.allclose(out["keypoints"], [[image.shape[1] - 1 - 10.0, 20.0]])
    assert np.array_equal(out["mask"], unflipped["mask"][:, ::-1])
    assert out["mask"].dtype == np.uint8 and out["mask"].any()


def test_no_face_passes_through():
    noise = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    out = A.Compose([maskgen.FaceMask(p=1.0, occlusion_key="occ")], seed=1)(image=noise)
    assert np.array_equal(out["image"], noise) and not out["occ"].any()


def test_transform_uses_and_fills_the_cache(colour, tmp_path):
    image, _ = colour
    path = tmp_path / "faces.sqlite"
    aug = A.Compose([maskgen.FaceMask(p=1.0, cache=str(path))], seed=4)
    first = aug(image=image)["image"]
    cache = LandmarkCache(path)
    assert len(cache) == 1 and len(cache.get(array_digest(image), array_digest(image))) == 1
    aug2 = A.Compose([maskgen.FaceMask(p=1.0, cache=str(path))], seed=4)
    assert np.array_equal(aug2(image=image)["image"], first)


def test_cache_keys_by_path_and_content(tmp_path, samples, sample_faces):
    root = tmp_path / "data"
    write_image(root / "a" / "x.png", samples["Heather_Mills_0004_color112"])
    calls = []

    def detect(path):
        calls.append(path)
        return sample_faces["Heather_Mills_0004_color112"], (112, 112)

    cache = LandmarkCache(tmp_path / "c.sqlite", root=root)
    assert len(cache.faces_for_file(root / "a" / "x.png", detect)) == 1
    assert len(cache.faces_for_file(root / "a" / "x.png", detect)) == 1
    assert len(calls) == 1 and "a/x.png" in cache
    # moved dataset: same bytes under another root still hit
    moved = tmp_path / "moved"
    (moved / "a").mkdir(parents=True)
    (moved / "a" / "x.png").write_bytes((root / "a" / "x.png").read_bytes())
    other = LandmarkCache(tmp_path / "c.sqlite", root=moved)
    assert len(other.faces_for_file(moved / "a" / "x.png", detect)) == 1 and len(calls) == 1
    # edited photo misses
    write_image(root / "a" / "x.png", samples["Ozzy_Osbourne_0001_color112"])
    cache.faces_for_file(root / "a" / "x.png", detect)
    assert len(calls) == 2
    # no face is cached as zero faces
    cache.put("none.png", file_digest(root / "a" / "x.png") + "0", [], (10, 10))
    assert cache.get("none.png", file_digest(root / "a" / "x.png") + "0") == []
    # survives pickling (worker processes)
    clone = pickle.loads(pickle.dumps(cache))
    assert len(clone) == len(cache)


@pytest.mark.parametrize("imports", ["import albumentations as A, maskgen", "import maskgen, albumentations as A",
                                     "import maskgen\nimport albumentations.core.serialization\n"
                                     "import albumentations as A"])
def test_from_dict_works_in_either_import_order(imports):
    """A pipeline saved elsewhere loads in a fresh process that never named FaceMask, whatever came first."""
    import subprocess
    import sys

    code = ("import albumentations as A, maskgen\n"
            "d = A.to_dict(A.Compose([maskgen.FaceMask(style='cloth', p=1.0)]))\n")
    restore = (f"import json, sys\n{imports}\n"
               "print(type(A.from_dict(json.loads(sys.stdin.read())).transforms[0]).__name__)\n")
    dumped = subprocess.run([sys.executable, "-c", code + "import json; print(json.dumps(d))"],
                            capture_output=True, text=True, check=True).stdout
    restored = subprocess.run([sys.executable, "-c", restore], input=dumped, capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip() == "FaceMask"


def test_occlusion_key_already_in_the_sample_is_refused(colour):
    image, landmarks = colour
    own = np.full(image.shape[:2], 7, np.uint8)
    aug = A.Compose([maskgen.FaceMask(p=1.0, occlusion_key="mask")], seed=1)
    with pytest.raises(ValueError, match="overwrite the sample's own 'mask'"):
        aug(image=image, face_landmarks=landmarks, mask=own)
    # the documented way: another key, declared as a mask so spatial transforms move it too
    declared = A.Compose([maskgen.FaceMask(p=1.0, occlusion_key="occlusion"), A.HorizontalFlip(p=1.0)],
                         additional_targets={"occlusion": "mask"}, seed=2)
    out = declared(image=image, face_landmarks=landmarks, mask=own)
    plain = A.Compose([maskgen.FaceMask(p=1.0, occlusion_key="occlusion")], seed=2)(image=image,
                                                                                     face_landmarks=landmarks)
    assert np.array_equal(out["mask"], own)
    assert np.array_equal(out["occlusion"], plain["occlusion"][:, ::-1]) and out["occlusion"].any()


def test_replay_record_is_json_and_masks_the_new_photos_own_faces(samples, sample_faces):
    import json

    first, second = "Heather_Mills_0004_color112", "Tommy_Robredo_0001"
    marks = {n: np.stack([f.landmarks for f in sample_faces[n]]) for n in (first, second)}
    replay = A.ReplayCompose([maskgen.FaceMask(style="cloth", p=1.0, occlusion_key="occ")])
    replay.set_random_seed(3)
    out = replay(image=samples[first], face_landmarks=marks[first])
    record = json.loads(json.dumps(out["replay"]))  # plain JSON all the way down
    again = A.ReplayCompose.replay(record, image=samples[second], face_landmarks=marks[second])
    drawn = maskgen.MaskParams.from_dict(record["transforms"][0]["params"]["mask_params"][0])
    expected = maskgen.apply_masks(samples[second], sample_faces[second], [drawn])
    assert np.array_equal(again["image"], expected.image)
    assert np.array_equal(again["occ"].astype(bool), expected.occlusion) and again["occ"].any()
    # without landmarks the new photo's faces are detected, not the first photo's reused
    detected = A.ReplayCompose.replay(record, image=samples[second])
    assert np.array_equal(detected["image"], expected.image)


def test_one_bad_face_never_stops_a_pipeline_but_a_repeated_mistake_is_an_error(colour, caplog):
    image, landmarks = colour
    aug = lambda: A.Compose([maskgen.FaceMask(p=1.0)], seed=1)
    broken = landmarks.copy()
    broken[0, 5, 0] = np.nan
    with caplog.at_level("WARNING", logger="maskgen"):
        out = aug()(image=image, face_landmarks=broken)
    assert np.array_equal(out["image"], image) and "not finite" in caplog.text
    two = np.concatenate([broken, landmarks])  # the good face is still masked
    assert np.array_equal(aug()(image=image, face_landmarks=two)["image"],
                          aug()(image=image, face_landmarks=landmarks)["image"])
    with pytest.raises(ValueError, match=r"shape \(N, 478, 3\)"):
        aug()(image=image, face_landmarks=landmarks[..., :2])
    normalised = landmarks / np.array([image.shape[1], image.shape[0], image.shape[1]], np.float32)
    with pytest.raises(ValueError, match="normalised"):
        aug()(image=image, face_landmarks=normalised)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        aug()(image=image.astype(np.float32), face_landmarks=landmarks)  # a float photo in 0..255


def test_plain_import_does_not_load_albumentations_or_torch():
    """Worker processes import maskgen; Albumentations (and torch, which it imports) only load for FaceMask."""
    import subprocess
    import sys

    code = ("import sys, maskgen\n"
            "assert 'albumentations' not in sys.modules and 'torch' not in sys.modules\n"
            "from maskgen import FaceMask\n"
            "assert FaceMask.__name__ == 'FaceMask' and 'albumentations' in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_placement_object_is_taken_and_serialised_as_its_fields(colour):
    image, landmarks = colour
    placement = maskgen.Placement(wear="chin", top=(0.2, 0.4))
    given = A.Compose([maskgen.FaceMask(p=1.0, placement=placement)], seed=3)
    spelt = A.Compose([maskgen.FaceMask(p=1.0, wear="chin", top=(0.2, 0.4))], seed=3)
    assert np.array_equal(given(image=image, face_landmarks=landmarks)["image"],
                          spelt(image=image, face_landmarks=landmarks)["image"])
    restored = A.from_dict(A.to_dict(given)).transforms[0]
    assert restored.wear == "chin" and tuple(restored.top) == (0.2, 0.4)
    with pytest.raises(ValueError, match="not both"):
        maskgen.FaceMask(placement=placement, wear="chin")


def _centroid(region: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(region)
    return np.array([cols.mean(), rows.mean()])


def _boundary_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The farthest any boundary pixel of one region lies from the other region's boundary (px, both ways)."""
    def boundary(region: np.ndarray) -> np.ndarray:
        region = region.astype(np.uint8)
        return region.astype(bool) & ~cv2.erode(region, np.ones((3, 3), np.uint8)).astype(bool)

    def farthest(source: np.ndarray, target: np.ndarray) -> float:
        distance = cv2.distanceTransform((~boundary(target)).astype(np.uint8), cv2.DIST_L2, 5)
        return float(distance[boundary(source)].max())

    return max(farthest(a, b), farthest(b, a))


@pytest.mark.parametrize("name", ["Tommy_Robredo_0001", "Madonna_0002", "Linda_Sanchez_0001"])
def test_resize_then_mask_matches_mask_then_resize_within_a_pixel(samples, sample_faces, name):
    """The recommended training-resolution pipeline (A.Resize first, then FaceMask with the full-size photo's
    Face objects, which FaceMask scales for you) draws the mask where masking first and resizing after would."""
    import dataclasses

    image, faces = samples[name], sample_faces[name]
    size = 112
    # the pipeline masks the resized photo with the full-size photo's faces scaled to it
    pipeline = A.ReplayCompose([A.Resize(size, size), maskgen.FaceMask(style="varied", p=1.0,
                                                                        occlusion_key="occlusion")])
    small = pipeline(image=image, face_landmarks=faces)
    resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)  # A.Resize's default
    scaled = [f.scaled_to((size, size)) for f in faces]
    drawn = [maskgen.MaskParams.from_dict(p) for p in small["replay"]["transforms"][1]["params"]["mask_params"]]
    expected = maskgen.apply_masks(resized, scaled, drawn)
    assert np.array_equal(small["image"], expected.image)
    assert np.array_equal(small["occlusion"].astype(bool), expected.occlusion)

    # and that is where masking first and resizing after puts the mask: each kind's cut, without the straps
    # (one-pixel lines need not survive a 2x shrink) and the photo's blur (which softens each size differently)
    for seed in range(4):
        params = [dataclasses.replace(p, match_photo=False, shape=dataclasses.replace(p.shape, straps="none"))
                  for p in maskgen.draw_params(len(faces), "varied", seed=seed)]
        direct = maskgen.apply_masks(resized, scaled, params).coverage > 0.5
        full = maskgen.apply_masks(image, faces, params).coverage
        shrunk = cv2.resize(full, (size, size), interpolation=cv2.INTER_AREA) > 0.5
        assert direct.sum() > 200 and abs(int(direct.sum()) - int(shrunk.sum())) < 0.05 * direct.sum()
        assert np.abs(_centroid(direct) - _centroid(shrunk)).max() <= 1.0
        # outlines within a pixel of each other: binarising puts each outline up to half a pixel off its true
        # place, so two outlines a pixel apart can lie two pixel steps apart
        assert _boundary_distance(direct, shrunk) <= 2.0
