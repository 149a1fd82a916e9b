"""Keyed seeding in real DataLoaders, and `maskgen.tv.FaceMask` (torchvision v2) for pipelines without
Albumentations."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the [fer] extra (torch, torchvision)")
PIL_Image = pytest.importorskip("PIL.Image")
from torchvision import tv_tensors  # noqa: E402
from torchvision.transforms import v2  # noqa: E402

import maskgen  # noqa: E402
from maskgen.tv import FaceMask as TVFaceMask  # noqa: E402

NAME = "Heather_Mills_0004_color112"


@pytest.fixture(scope="module")
def photo(samples, sample_faces):
    return samples[NAME], np.stack([f.landmarks for f in sample_faces[NAME]])


class KeyedAlbumentations(torch.utils.data.Dataset):
    """The documented recipe: one pipeline, reseeded per sample from (run seed, index, epoch)."""

    def __init__(self, image, landmarks, keyed: bool, size: int = 6) -> None:
        self.image, self.landmarks, self.keyed, self.size = image, landmarks, keyed, size
        self.pipeline = A.Compose([maskgen.FaceMask(p=1.0), A.HorizontalFlip(p=0.5)], seed=1)
        self.epoch = 0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        pipeline = maskgen.reseed(self.pipeline, maskgen.sample_seed(7, index, self.epoch)) if self.keyed \
            else self.pipeline
        return pipeline(image=self.image, face_landmarks=self.landmarks)["image"]


def pass_bytes(dataset, epoch: int, workers: int) -> list[bytes]:
    dataset.epoch = epoch
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=workers)
    return [item.numpy().tobytes() for batch in loader for item in batch]


def test_keyed_albumentations_recipe_is_fresh_per_epoch_and_independent_of_workers(photo):
    image, landmarks = photo
    data = KeyedAlbumentations(image, landmarks, keyed=True)
    epoch0, epoch1 = pass_bytes(data, 0, workers=2), pass_bytes(data, 1, workers=2)
    assert len(set(epoch0)) == len(epoch0)  # every sample its own mask
    assert all(a != b for a, b in zip(epoch0, epoch1))  # and a new one every epoch
    assert pass_bytes(data, 0, workers=0) == epoch0 and pass_bytes(data, 1, workers=1) == epoch1


def test_the_trap_the_recipe_avoids(photo):
    """Compose(seed=...) copied into re-created workers repeats the same masks every epoch."""
    image, landmarks = photo
    data = KeyedAlbumentations(image, landmarks, keyed=False)
    assert pass_bytes(data, 0, workers=2) == pass_bytes(data, 1, workers=2)


def test_sample_seed_and_reseed():
    assert maskgen.sample_seed(1, "a.jpg", 0) == maskgen.sample_seed(1, "a.jpg", 0)
    assert len({maskgen.sample_seed(1, "a.jpg", e) for e in range(100)}) == 100
    assert maskgen.sample_seed(-3, 5) != maskgen.sample_seed(3, 5)
    with pytest.raises(ValueError, match="integer"):
        maskgen.sample_seed(1.5, 0)
    with pytest.raises(TypeError, match="set_random_seed"):
        maskgen.reseed(object(), 1)


def chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).contiguous()


def test_tv_keeps_the_input_type_and_matches_render(photo, sample_faces):
    image, landmarks = photo
    expected = maskgen.render(image, sample_faces[NAME], style="cloth", seed=3).image
    sample = {"image": chw(image), "face_landmarks": torch.from_numpy(landmarks), "mask_seed": 3, "label": 1}
    out = TVFaceMask(style="cloth", p=1.0)(sample)
    assert isinstance(out["image"], torch.Tensor) and out["image"].dtype == torch.uint8
    assert np.array_equal(out["image"].permute(1, 2, 0).numpy(), expected)
    assert out["label"] == 1 and out["mask_seed"] == 3 and out["face_landmarks"] is sample["face_landmarks"]
    wrapped = TVFaceMask(style="cloth", p=1.0)({"image": tv_tensors.Image(chw(image)), "face_landmarks": landmarks,
                                                 "mask_seed": 3})
    assert isinstance(wrapped["image"], tv_tensors.Image) and torch.equal(wrapped["image"], out["image"])
    torch.manual_seed(0)
    for mode in ("RGB", "L", "RGBA"):
        pil = PIL_Image.fromarray(image).convert(mode)
        masked = TVFaceMask(p=1.0)(pil)  # no landmarks: detected
        assert isinstance(masked, PIL_Image.Image) and masked.mode == mode and masked.size == pil.size
        assert not np.array_equal(np.asarray(masked), np.asarray(pil))
    assert TVFaceMask(p=0.0)(PIL_Image.fromarray(image)).tobytes() == PIL_Image.fromarray(image).tobytes()


def test_tv_occlusion_is_a_mask_that_follows_spatial_transforms(photo):
    image, landmarks = photo
    sample = lambda: {"image": tv_tensors.Image(chw(image)), "face_landmarks": landmarks, "mask_seed": 5}
    plain = TVFaceMask(p=1.0, occlusion_key="occlusion")(sample())
    flipped = v2.Compose([TVFaceMask(p=1.0, occlusion_key="occlusion"), v2.RandomHorizontalFlip(p=1.0)])(sample())
    assert isinstance(flipped["occlusion"], tv_tensors.Mask) and plain["occlusion"].sum() > 0
    assert torch.equal(flipped["occlusion"], plain["occlusion"].flip(-1))
    assert torch.equal(flipped["image"], plain["image"].flip(-1))


def test_tv_bad_input_is_refused_clearly(photo):
    image, landmarks = photo
    with pytest.raises(ValueError, match="style"):
        TVFaceMask(style="balaclava")
    with pytest.raises(ValueError, match="top"):
        TVFaceMask(top=(-1, 2))
    with pytest.raises(ValueError, match="C, H, W"):
        TVFaceMask(p=1.0)(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="overwrite"):
        TVFaceMask(p=1.0, occlusion_key="mask")({"image": chw(image), "mask": torch.zeros(1), "face_landmarks":
                                                 landmarks})
    with pytest.raises(ValueError, match="normalised"):
        TVFaceMask(p=1.0)({"image": chw(image), "face_landmarks": landmarks / 112.0})


class TVDataset(torch.utils.data.Dataset):
    def __init__(self, image, landmarks, keyed: bool) -> None:
        self.image, self.landmarks, self.keyed = chw(image), landmarks, keyed
        self.transform = v2.Compose([TVFaceMask(p=1.0), v2.RandomHorizontalFlip(p=0.5)])
        self.epoch = 0

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int):
        sample = {"image": self.image, "face_landmarks": self.landmarks}
        if self.keyed:
            sample["mask_seed"] = maskgen.sample_seed(7, index, self.epoch)
        return self.transform(sample)["image"]


def test_tv_in_a_real_dataloader(photo):
    """torch's RNG (seeded per worker and per epoch by the DataLoader) or a keyed seed from the sample."""
    image, landmarks = photo
    streamed = TVDataset(image, landmarks, keyed=False)
    torch.manual_seed(0)
    first = pass_bytes(streamed, 0, workers=2)
    second = pass_bytes(streamed, 1, workers=2)
    assert len(set(first)) == len(first) and all(a != b for a, b in zip(first, second))
    torch.manual_seed(0)
    assert pass_bytes(streamed, 0, workers=2) == first  # torch.manual_seed makes the run repeatable
    keyed = TVDataset(image, landmarks, keyed=True)
    keyed.transform = TVFaceMask(p=1.0)  # masks only: a flip would still draw from torch's RNG
    assert pass_bytes(keyed, 0, workers=0) == pass_bytes(keyed, 0, workers=2)


def test_tv_takes_a_placement_a_tensor_seed_and_logs_bad_faces(photo, caplog):
    image, landmarks = photo
    placement = maskgen.Placement(wear="chin", top=(0.2, 0.4))
    a = TVFaceMask(p=1.0, placement=placement)({"image": chw(image), "face_landmarks": landmarks,
                                                "mask_seed": torch.tensor(5)})
    b = TVFaceMask(p=1.0, wear="chin", top=(0.2, 0.4))({"image": chw(image), "face_landmarks": landmarks,
                                                        "mask_seed": 5})
    assert torch.equal(a["image"], b["image"])
    broken = landmarks.copy()
    broken[0, 0, 0] = np.nan
    with caplog.at_level("WARNING", logger="maskgen"):
        out = TVFaceMask(p=1.0)({"image": chw(image), "face_landmarks": broken})
    assert torch.equal(out["image"], chw(image)) and "not finite" in caplog.text
    with pytest.raises(ValueError, match="numpy arrays are not images"):
        TVFaceMask(p=1.0)(image)
