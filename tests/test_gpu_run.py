"""The GPU run's parts, on the CPU: the pack, the keyed packed dataset, the batched augmentations, and the
whole device command end to end on a tiny config with MediaPipe, Albumentations and pydantic unimportable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="the GPU run needs the [fer] extra (torch, torchvision)")

import maskgen  # noqa: E402
from fer.gpu_augment import paper_augment, to_model_input  # noqa: E402
from fer.packed import (LANDMARK_STEPS_PER_PX, EpochKeyedSampler, PackedFaces, PackedMaskedDataset,  # noqa: E402
                        decode_photo, dequantise_landmarks, encode_photo, quantise_landmarks)
from maskgen.batch import file_seed  # noqa: E402
from maskgen.cache import LandmarkCache  # noqa: E402
from maskgen.seeding import sample_seed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BLOCKED = ("mediapipe", "albumentations", "albucore", "pydantic", "pydantic_core")


@pytest.fixture(scope="module")
def pack_path(csv_dataset, tmp_path_factory) -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_pack
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    out = tmp_path_factory.mktemp("pack") / "faces.npz"
    cache = out.parent / "landmarks.sqlite"
    assert gpu_pack.main(["--data", str(csv_dataset), "--cache", str(cache), "--size", "64", "--out", str(out)]) == 0
    return out


def test_pack_keeps_photos_labels_and_landmarks(pack_path, csv_dataset):
    pack = PackedFaces.load(pack_path)
    assert pack.pixels.shape == (8, 64, 64, 3) and pack.pixels.dtype == np.uint8
    assert pack.split_names == ("train", "val") and len(pack.split("train")) == 5 and len(pack.split("val")) == 3
    assert pack.names[0] == maskgen.sample_paths()[0].name and pack.labels.tolist() == [i % 3 for i in range(8)]
    cache = LandmarkCache(pack_path.parent / "landmarks.sqlite", csv_dataset)
    for index, name in enumerate(pack.names):
        cached = cache.faces_for_file(csv_dataset / "images" / name, None)
        assert len(pack.faces[index]) == len(cached) >= 1
        expected = cached[0].scaled_to((64, 64)).landmarks
        assert np.abs(pack.faces[index][0].landmarks - expected).max() <= 0.5 / LANDMARK_STEPS_PER_PX + 1e-4
    import cv2

    from maskgen.images import to_uint8_rgb

    photo = to_uint8_rgb(maskgen.load_sample(pack.names[0].removesuffix(".jpg")))

    small = cv2.resize(photo, (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(pack.pixels[0].astype(int) - small).mean() < 3  # JPEG at quality 90
    with pytest.raises(KeyError, match="no split 'test'"):
        pack.split("test")


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.floats(8, 400), st.integers(0, 2**31 - 1))
def test_landmarks_survive_quantisation_within_a_sixteenth_of_a_pixel(faces, scale, seed):
    points = np.random.default_rng(seed).random((faces, maskgen.mesh.NUM_LANDMARKS, 3)) * scale
    data, mean = quantise_landmarks(points)
    assert np.abs(dequantise_landmarks(data, mean, faces) - points).max() <= 0.5 / LANDMARK_STEPS_PER_PX + 1e-4


def test_grey_photos_are_packed_as_one_channel_and_come_back_as_three():
    grey = np.repeat(np.random.default_rng(0).integers(0, 255, (40, 40, 1), np.uint8), 3, axis=2)
    colour = grey.copy()
    colour[..., 0] //= 2
    assert len(encode_photo(grey, 90)) < len(encode_photo(colour, 90))
    back = decode_photo(np.frombuffer(encode_photo(grey, 90), np.uint8))
    assert back.shape == (40, 40, 3) and np.array_equal(back[..., 0], back[..., 2])


def test_packed_masks_are_keyed_like_face_dataset_and_fresh_every_epoch(pack_path):
    pack = PackedFaces.load(pack_path)
    train = PackedMaskedDataset(pack, pack.split("train"), mask="varied", seed=3)
    n = len(train)
    first, again, next_epoch = train[1][0], train[1][0], train[n + 1][0]
    assert torch.equal(first, again) and not torch.equal(first, next_epoch)
    expected = maskgen.render(pack.pixels[1].copy(), pack.faces[1], style="varied",
                              seed=sample_seed(3, pack.names[1], 0)).image
    assert np.array_equal(first.permute(1, 2, 0).numpy(), expected)
    evaluation = PackedMaskedDataset(pack, pack.split("val"), mask="mlfw-white", fixed_seed=0)
    index = int(pack.split("val")[0])
    assert torch.equal(evaluation[0][0], evaluation[len(evaluation)][0])  # the same mask in every epoch
    expected = maskgen.render(pack.pixels[index].copy(), pack.faces[index], style="mlfw-white",
                              seed=file_seed(0, pack.names[index], 0)).image
    assert np.array_equal(evaluation[0][0].permute(1, 2, 0).numpy(), expected)
    with pytest.raises(ValueError, match="mask must be"):
        PackedMaskedDataset(pack, [0], mask="tartan")


def test_persistent_workers_see_fresh_masks_and_the_same_batches_as_one_process(pack_path):
    pack = PackedFaces.load(pack_path)
    dataset = PackedMaskedDataset(pack, pack.split("train"), mask="varied", seed=0)

    def epochs(workers: int) -> list[torch.Tensor]:
        sampler = EpochKeyedSampler(len(dataset), seed=0)
        loader = torch.utils.data.DataLoader(dataset, 5, sampler=sampler, num_workers=workers,
                                             persistent_workers=workers > 0)
        seen = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            seen.append(torch.cat([images for images, _ in loader]))
        return seen

    alone, pooled = epochs(0), epochs(2)
    assert all(torch.equal(a, b) for a, b in zip(alone, pooled))
    assert not torch.equal(alone[0], alone[1])


def test_gpu_augmentations_are_keyed_and_stay_in_range():
    images = torch.rand(6, 3, 32, 32)
    out = paper_augment(images, torch.Generator().manual_seed(1))
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, paper_augment(images, torch.Generator().manual_seed(1)))
    assert not torch.equal(out, paper_augment(images, torch.Generator().manual_seed(2)))
    batch = (images * 255).to(torch.uint8)
    plain = to_model_input(batch)
    assert plain.dtype == torch.float32 and torch.allclose(plain, (batch.float() / 255 - 0.5) / 0.25)
    with pytest.raises(ValueError, match="float"):
        paper_augment(batch, torch.Generator())


def test_device_command_runs_end_to_end_without_mediapipe_or_albumentations(pack_path, tmp_path):
    """What the bare GPU machine runs, here on the CPU, with the packages it lacks made unimportable."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {BLOCKED!r}:\n"
        "            raise ImportError(f'{name} is not on the device machine')\n"
        "sys.meta_path.insert(0, Block())\n")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(blocker), "OUT": str(out), "PACK": str(pack_path), "BUDGET_S": "240",
           "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_experiment.sh"), "--preset", "tiny", "--cpu",
                           "--models", "mobilenet_v2", "--workers", "2"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["learning-curves.png", "loader.json", "log.txt", "results.json", "table.md"]  # at most 8
    report = json.loads((out / "results.json").read_text())
    assert [(r["model"], r["trained_on"]) for r in report["runs"]] == [("mobilenet_v2", "mlfw-white"),
                                                                       ("mobilenet_v2", "varied")]
    assert all(len(r["evaluations"][m]["predictions"]) == 3 for r in report["runs"] for m in ("none", "varied"))
    loader = json.loads((out / "loader.json").read_text())
    assert loader["samples_per_second_per_core"]["varied"] > 0

    results = tmp_path / "experiment-gpu"
    imported = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_experiment.py"), "import",
                               str(out / "results.json"), "--to", str(results)],
                              capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr[-3000:]
    for condition in ("mlfw-white", "varied"):
        run = results / f"mobilenet_v2-{condition}"
        assert (run / "train.json").is_file() and (run / "history.csv").is_file()
        rows = (run / "eval-val-none" / "predictions.csv").read_text().splitlines()
        assert rows[0] == "file,label,prediction" and len(rows) == 4
    assert "| mobilenet_v2 | none |" in (results / "paired.md").read_text()


def test_device_command_refuses_unknown_models_and_conditions(pack_path, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_experiment.py"), "run", "--pack",
                           str(pack_path), "--out", str(tmp_path), "--conditions", "mlfw-white,tartan", "--cpu"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "unknown model or condition: tartan" in done.stderr
