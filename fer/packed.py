"""Faces packed for a machine that has neither the dataset nor MediaPipe (e.g. a borrowed GPU machine).

One `.npz` file holds each photo resized to the training size and JPEG-compressed (single-channel when the
photo is grey), its faces' landmarks scaled to that size and quantised to 1/8 px (stored as offsets from the
mean face, LZMA-compressed: about a tenth of their float size), its label, split and file name. maskgen renders
masks from those landmarks, so the other machine needs numpy, OpenCV and torch, and nothing else.

    pack = PackedFaces.load("gpu-pack/faces.npz")
    train = PackedMaskedDataset(pack, pack.split("train"), mask="varied", seed=0)

Masks are keyed exactly as `fer.data.FaceDataset` keys them: training sample `name` in epoch `e` uses
`sample_seed(seed, name, e)`, evaluation uses `file_seed(fixed_seed, name, 0)`.
"""

from __future__ import annotations

import io
import json
import logging
import lzma
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

import maskgen
from maskgen.images import write_bytes_atomic
from maskgen.landmarks import Face
from maskgen.mesh import NUM_LANDMARKS
from maskgen.seeding import sample_seed

from .data import mask_seed

PACK_VERSION = 1
LANDMARK_STEPS_PER_PX = 8
log = logging.getLogger(__name__)


def encode_photo(image: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a uint8 RGB photo; grey photos (most of LFW) as one channel, about a third smaller."""
    if image.ndim == 3 and np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1],
                                                                                          image[..., 2]):
        image = image[..., 0]
    pixels = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def decode_photo(data: np.ndarray) -> np.ndarray:
    """uint8 RGB from `encode_photo`'s bytes (grey ones replicated to three channels)."""
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("a packed photo could not be decoded")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def quantise_landmarks(landmarks: np.ndarray) -> tuple[bytes, np.ndarray]:
    """(F, 478, 3) float px -> (LZMA bytes, mean face in steps). Offsets from the mean face are small and
    alike across photos, so stored landmark by landmark they compress well."""
    steps = np.round(np.asarray(landmarks, np.float64) * LANDMARK_STEPS_PER_PX)
    mean = np.round(steps.mean(axis=0)) if len(steps) else np.zeros((NUM_LANDMARKS, 3))
    offsets = steps - mean
    if len(offsets) and np.abs(offsets).max() > np.iinfo(np.int16).max:
        raise ValueError("landmarks too far from the mean face to quantise (is the pack size huge?)")
    columns = np.ascontiguousarray(offsets.astype(np.int16).reshape(len(steps), -1).T)
    return lzma.compress(columns.tobytes(), preset=9), mean.astype(np.int32)


def dequantise_landmarks(data: bytes, mean: np.ndarray, count: int) -> np.ndarray:
    columns = np.frombuffer(lzma.decompress(data), np.int16).reshape(NUM_LANDMARKS * 3, count)
    steps = columns.T.reshape(count, NUM_LANDMARKS, 3).astype(np.int32) + mean
    return (steps / LANDMARK_STEPS_PER_PX).astype(np.float32)


@dataclass
class PackedFaces:
    """Decoded pack: photos (N, size, size, 3) uint8 and each photo's faces at that size."""

    pixels: np.ndarray
    faces: list[list[Face]]
    labels: np.ndarray
    splits: np.ndarray  # index into split_names, per photo
    split_names: tuple[str, ...]
    names: list[str]
    meta: dict

    @property
    def size(self) -> int:
        return int(self.pixels.shape[1])

    def split(self, name: str) -> np.ndarray:
        if name not in self.split_names:
            raise KeyError(f"the pack has no split {name!r}; it has {', '.join(self.split_names)}")
        return np.flatnonzero(self.splits == self.split_names.index(name))

    @classmethod
    def load(cls, path: str | Path, threads: int = 8) -> PackedFaces:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(bytes(archive["meta"]).decode())
            if meta.get("version") != PACK_VERSION:
                raise ValueError(f"{path}: pack version {meta.get('version')}, expected {PACK_VERSION}")
            blob, offsets = archive["photos"], archive["photo_offsets"]
            face_counts = archive["face_counts"].astype(np.int64)
            landmarks = dequantise_landmarks(bytes(archive["landmarks"]), archive["landmark_mean"],
                                             int(face_counts.sum()))
            labels, splits = archive["labels"].astype(np.int64), archive["splits"].astype(np.int64)
            names = bytes(archive["names"]).decode().split("\n")
        size = int(meta["size"])
        pixels = np.empty((len(labels), size, size, 3), np.uint8)

        def decode(index: int) -> None:
            pixels[index] = decode_photo(blob[offsets[index]:offsets[index + 1]])

        with ThreadPoolExecutor(threads) as pool:  # cv2 releases the GIL while decoding
            list(pool.map(decode, range(len(labels))))
        starts = np.concatenate([[0], np.cumsum(face_counts)])
        faces = [[Face(landmarks[j], (size, size)) for j in range(starts[i], starts[i + 1])]
                 for i in range(len(labels))]
        return cls(pixels, faces, labels, splits, tuple(meta["splits"]), names, meta)


def pack_faces(photos: Iterator[tuple[str, str, int, np.ndarray, list[Face]]], size: int, path: str | Path,
               quality: int = 90, extra_meta: dict | None = None) -> dict:
    """Write a pack from (split, file name, label, uint8 RGB photo, faces in that photo's pixels) tuples.

    Returns the pack's metadata (counts and sizes). The photo is resized to size x size (as `FaceDataset`
    with `preload` does) and its faces scaled to match; a photo without a face is kept (it trains unmasked,
    as it would on the CPU)."""
    encoded, labels, splits, names, counts, landmarks = [], [], [], [], [], []
    split_names: list[str] = []
    for split, name, label, image, faces in photos:
        if "\n" in name:
            raise ValueError(f"a file name with a line break cannot be packed: {name!r}")
        small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        encoded.append(encode_photo(small, quality))
        if split not in split_names:
            split_names.append(split)
        labels.append(label)
        splits.append(split_names.index(split))
        names.append(name)
        scaled = [face.scaled_to((size, size)) for face in faces]
        counts.append(len(scaled))
        landmarks.extend(face.landmarks for face in scaled)
    if not encoded:
        raise ValueError("nothing to pack")
    packed_landmarks, mean = quantise_landmarks(np.array(landmarks).reshape(-1, NUM_LANDMARKS, 3))
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int64)
    meta = {"version": PACK_VERSION, "size": size, "quality": quality, "splits": split_names,
            "photos": len(encoded), "faces": int(sum(counts)), "photo_bytes": int(offsets[-1]),
            "landmark_bytes": len(packed_landmarks),
            "per_split": {s: splits.count(i) for i, s in enumerate(split_names)}, **(extra_meta or {})}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
              "photos": np.frombuffer(b"".join(encoded), np.uint8), "photo_offsets": offsets,
              "labels": np.array(labels, np.int8), "splits": np.array(splits, np.int8),
              "names": np.frombuffer("\n".join(names).encode(), np.uint8),
              "face_counts": np.array(counts, np.uint8), "landmarks": np.frombuffer(packed_landmarks, np.uint8),
              "landmark_mean": mean}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # the parts are compressed already
    write_bytes_atomic(Path(path), buffer.getvalue())
    return meta


class PackedMaskedDataset(torch.utils.data.Dataset):
    """Packed photos as uint8 CHW tensors, masked on the fly; augmentation and normalising happen on the GPU.

    An item's key is `epoch * len(self) + position`: the epoch travels with the index (see `EpochKeyedSampler`),
    so persistent workers draw fresh, keyed masks every epoch without being re-created.

    Args:
        pack: a loaded pack.
        indices: the photos of this dataset (e.g. `pack.split("train")`).
        mask: "none", "mlfw-white", "varied" or one kind.
        seed: the run seed (training masks: `sample_seed(seed, name, epoch)`).
        fixed_seed: an int gives every photo the same mask in every epoch (evaluation), as in `FaceDataset`.
    """

    def __init__(self, pack: PackedFaces, indices: Sequence[int], mask: str = "none", seed: int = 0,
                 fixed_seed: int | None = None) -> None:
        if mask != "none" and mask not in maskgen.STYLES:
            raise ValueError(f"mask must be 'none' or one of {maskgen.STYLES}, got {mask!r}")
        self.pack, self.indices = pack, np.asarray(indices, np.int64)
        self.mask, self.seed, self.fixed_seed = mask, seed, fixed_seed

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, position: int, epoch: int = 0) -> np.ndarray:
        """uint8 RGB (size, size, 3), masked as configured."""
        index = int(self.indices[position])
        image = self.pack.pixels[index]
        if self.mask == "none" or not self.pack.faces[index]:
            return image
        seed = mask_seed(self.pack.names[index], self.seed, epoch, self.fixed_seed)
        return maskgen.render(image.copy(), self.pack.faces[index], style=self.mask, seed=seed).image

    def __getitem__(self, key: int) -> tuple[torch.Tensor, int]:
        epoch, position = divmod(int(key), len(self))
        image = self.image(position, epoch)
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), int(
            self.pack.labels[self.indices[position]])


class EpochKeyedSampler(torch.utils.data.Sampler[int]):
    """Shuffled keys `epoch * n + position`; the order is keyed by (seed, epoch), so a resumed run repeats it."""

    def __init__(self, length: int, seed: int = 0, shuffle: bool = True) -> None:
        self.length, self.seed, self.shuffle, self.epoch = length, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            order = np.random.default_rng(sample_seed(self.seed, "order", self.epoch)).permutation(self.length)
        else:
            order = np.arange(self.length)
        return iter((self.epoch * self.length + order).tolist())
