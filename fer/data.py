"""Expression datasets: the LFW-FER / M-LFW-FER folder layout, the lfw-expressions CSV, a labelled test folder;
masks applied online with maskgen, from a landmark cache built once.

Layouts (found automatically from the path given):
- folders: `ROOT/{train,eval}/{negative,neutral,positive}/*.jpg` (LFW-FER, M-LFW-FER; any split names);
- CSV: `labels.csv` with columns `image, expression, split` (and `color112`), images in `images/` beside it
  (or `color112/` with `colour=True`); rows with an empty expression (surprise) are skipped;
- test folder: `ROOT/{negative,neutral,positive}/*` (e.g. labelled real masked photos).
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from tqdm import tqdm

import maskgen
from maskgen.batch import file_seed
from maskgen.cache import LandmarkCache
from maskgen.images import ImageError, is_image_path, to_uint8_rgb
from maskgen.seeding import derive_seed, reseed, sample_seed

if TYPE_CHECKING:
    import albumentations as A

LABELS = ("negative", "neutral", "positive")
MASKS = ("none", *maskgen.STYLES)
log = logging.getLogger(__name__)


class DatasetError(ValueError):
    """A dataset that cannot be used as given; the message says what to fix."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


def find_samples(source: str | Path, split: str | None, colour: bool = False) -> tuple[list[Sample], Path]:
    """Samples of one split and the folder their paths are relative to (the landmark cache's root)."""
    source = Path(source)
    if not source.exists():
        raise DatasetError(f"dataset not found: {source}")
    if source.is_file() and source.suffix == ".csv":
        return csv_samples(source, split, colour), source.parent
    if (source / "labels.csv").is_file():
        return csv_samples(source / "labels.csv", split, colour), source
    if split is not None and (source / split).is_dir():
        return folder_samples(source / split), source
    if any((source / label).is_dir() for label in LABELS):
        return folder_samples(source), source
    folders = f"{{{','.join(LABELS)}}}/"
    layouts = f"labels.csv, {split}/{folders} or {folders}" if split is not None else f"labels.csv or {folders}"
    raise DatasetError(f"{source}: expected {layouts}")


def folder_samples(root: Path) -> list[Sample]:
    present = sorted(p.name for p in root.iterdir() if p.is_dir())
    unknown = [name for name in present if name not in LABELS]
    if unknown:
        raise DatasetError(f"{root}: unknown label folder(s) {unknown}; expected {list(LABELS)}")
    samples = []
    for index, label in enumerate(LABELS):
        folder = root / label
        files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_path(p)) if folder.is_dir() else []
        if not files:
            raise DatasetError(f"{root}: class {label!r} has no images (folder {folder})")
        samples.extend(Sample(p, index) for p in files)
    return samples


def csv_samples(path: Path, split: str | None, colour: bool = False) -> list[Sample]:
    rows = list(csv.DictReader(open(path, newline="", encoding="utf-8")))
    missing = {"image", "expression"} - set(rows[0] if rows else {})
    if missing:
        raise DatasetError(f"{path}: missing column(s) {sorted(missing)}")
    folder = path.parent / ("color112" if colour else "images")
    samples = []
    for row in rows:
        if split is not None and row.get("split") != split:
            continue
        if not row["expression"]:
            continue  # surprise has no class in the three-class scheme
        if row["expression"] not in LABELS:
            raise DatasetError(f"{path}: unknown expression {row['expression']!r} for {row['image']}")
        if colour and row.get("color112") != "1":
            continue
        samples.append(Sample(folder / row["image"], LABELS.index(row["expression"])))
    if not samples:
        raise DatasetError(f"{path}: no labelled rows for split {split!r}")
    counts = Counter(s.label for s in samples)
    empty = [LABELS[i] for i in range(len(LABELS)) if counts[i] == 0]
    if empty:
        raise DatasetError(f"{path}: split {split!r} has no {empty} samples")
    return samples


def check_images(samples: list[Sample], skip_bad: bool) -> list[Sample]:
    """Read every photo once before training: a corrupt file is an error now, not a crash in epoch 7."""
    good, bad = [], []
    for sample in tqdm(samples, desc="checking images", unit="img", leave=False):
        try:
            maskgen.read_image(sample.path)
            good.append(sample)
        except ImageError as exc:
            bad.append(str(exc))
    if bad and not skip_bad:
        listing = "\n  ".join(bad[:20])
        raise DatasetError(f"{len(bad)} unreadable image(s) (use --skip-bad to leave them out):\n  {listing}")
    for reason in bad:
        log.warning("skipped: %s", reason)
    return good


def build_landmark_cache(samples: list[Sample], cache: LandmarkCache) -> None:
    """Detect every face once, with progress; later epochs and runs only read the cache."""
    def detect(path: Path):
        image = maskgen.read_image(path)
        return maskgen.detect_faces(image), image.shape[:2]

    for sample in tqdm(samples, desc="landmarks", unit="img", leave=False):
        cache.faces_for_file(sample.path, detect)


def mask_seed(name: str, run_seed: int, epoch: int, fixed_seed: int | None) -> int:
    """The mask seed of the photo `name`: keyed by (run seed, name, epoch) in training, by (fixed seed, name)
    alone in evaluation, so every model is scored on the same pixels. Shared by every fer dataset."""
    return file_seed(fixed_seed, name, 0) if fixed_seed is not None else sample_seed(run_seed, name, epoch)


def paper_augmentations(size: int) -> A.Compose:
    """The paper's training augmentations: flip, rotation, colour jitter, translation, Gaussian noise.

    Albumentations is imported here, not at the top: the GPU run (fer.packed, fer.gpu_augment) uses the rest of
    fer on a machine that has no Albumentations."""
    import albumentations as A

    return A.Compose([
        A.HorizontalFlip(p=0.5),
        A.Affine(rotate=(-10, 10), translate_percent=(-0.1, 0.1), p=0.7),
        A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.0, p=0.5),
        A.GaussNoise(std_range=(0.01, 0.05), p=0.3),
    ])


class FaceDataset(torch.utils.data.Dataset):
    """Photos as normalised tensors, masked on the fly.

    Training masks and augmentations are keyed, not streamed: sample i in epoch e is drawn from
    `maskgen.sample_seed(seed, file name, e)`, so every epoch sees fresh masks, and the pixels do not depend on
    the number of DataLoader workers, their order, or where a run was resumed. Call `set_epoch(e)` before
    each epoch (the training loop does; with `persistent_workers=True` the workers would keep the old epoch,
    so the loader here re-creates them).

    Args:
        samples: from `find_samples`.
        size: square input size in px.
        mask: "none", "mlfw-white", "varied" or one kind.
        cache: landmark cache (required when mask != "none").
        augment: apply the paper's augmentations (training).
        fixed_seed: None draws a fresh mask per call (training); an int gives every photo the same mask on
            every call, so all models are scored on the same pixels (evaluation).
        greyscale: convert every photo to grey (replicated to 3 channels).
        preload: decode every photo once, resized to `size`, into one uint8 array in memory (with its faces
            scaled to match), and draw masks at that resolution: no decoding or full-size masking per step.
    """

    MEAN = np.array([0.5, 0.5, 0.5], np.float32)
    STD = np.array([0.25, 0.25, 0.25], np.float32)

    def __init__(self, samples: list[Sample], size: int, mask: str = "none", cache: LandmarkCache | None = None,
                 augment: bool = False, fixed_seed: int | None = None, greyscale: bool = False,
                 seed: int = 0, preload: bool = False) -> None:
        if mask not in MASKS:
            raise DatasetError(f"mask must be one of {MASKS}, got {mask!r}")
        if mask != "none" and cache is None:
            raise DatasetError("masking needs a landmark cache")
        self.samples, self.size, self.mask, self.cache = samples, size, mask, cache
        self.fixed_seed, self.greyscale, self.seed = fixed_seed, greyscale, seed
        self.augment = paper_augmentations(size) if augment else None
        self.epoch = 0
        self._pixels: np.ndarray | None = None  # (N, size, size, 3) uint8 when preloaded
        self._faces: list[list[maskgen.Face]] | None = None
        if preload:
            self._preload()

    def _preload(self) -> None:
        pixels = np.empty((len(self.samples), self.size, self.size, 3), np.uint8)
        faces: list[list[maskgen.Face]] = []
        for index in tqdm(range(len(self.samples)), desc="decoding", unit="img", leave=False):
            image = self._read(index)
            pixels[index] = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
            if self.mask != "none":
                faces.append([f.scaled_to((self.size, self.size)) for f in self._faces_of(index, image)])
        self._pixels, self._faces = pixels, faces if self.mask != "none" else None

    def _read(self, index: int) -> np.ndarray:
        image = to_uint8_rgb(maskgen.read_image(self.samples[index].path))
        if self.greyscale:
            image = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
        return image

    def _faces_of(self, index: int, image: np.ndarray) -> list[maskgen.Face]:
        return self.cache.faces_for_file(self.samples[index].path,
                                         lambda p: (maskgen.detect_faces(image), image.shape[:2]))

    def set_epoch(self, epoch: int) -> None:
        """Key the next pass's random draws to this epoch (fresh masks and augmentations every epoch)."""
        self.epoch = int(epoch)

    def sample_seed(self, index: int) -> int:
        """The seed of sample `index` in the current epoch (its file name keys it, so subsets agree)."""
        return sample_seed(self.seed, self.samples[index].path.name, self.epoch)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples])

    def load(self, index: int) -> np.ndarray:
        """The photo as uint8 RGB, masked as configured, at its own size (at `size` when preloaded)."""
        sample = self.samples[index]
        image = self._read(index) if self._pixels is None else self._pixels[index].copy()
        if self.mask == "none":
            return image
        faces = self._faces_of(index, image) if self._faces is None else self._faces[index]
        seed = mask_seed(sample.path.name, self.seed, self.epoch, self.fixed_seed)
        return maskgen.render(image, faces, style=self.mask, seed=seed).image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.load(index)
        if image.shape[:2] != (self.size, self.size):
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        if self.augment is not None:
            image = reseed(self.augment, derive_seed(self.sample_seed(index), "augment"))(image=image)["image"]
        tensor = (image.astype(np.float32) / 255.0 - self.MEAN) / self.STD
        return torch.from_numpy(tensor.transpose(2, 0, 1).copy()), self.samples[index].label
