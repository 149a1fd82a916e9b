"""`fer` command-line defaults: where the landmark cache goes when `--cache` is not given."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="fer needs the [fer] extra (torch, torchvision)")

import maskgen  # noqa: E402
from fer.cli import main as fer_main  # noqa: E402
from fer.data import LABELS  # noqa: E402


@pytest.fixture()
def folder_dataset(tmp_path) -> Path:
    """LFW-FER layout: {train,eval}/{negative,neutral,positive}/ with the bundled samples."""
    root = tmp_path / "lfwfer"
    paths = maskgen.sample_paths()
    for split in ("train", "eval"):
        for i, label in enumerate(LABELS):
            folder = root / split / label
            folder.mkdir(parents=True)
            for j in range(2):
                src = paths[(3 * i + j + (split == "eval")) % len(paths)]
                shutil.copy(src, folder / f"{j}_{src.name}")
    return root


def test_default_landmark_cache_lies_beside_the_run_not_in_the_working_folder(folder_dataset, tmp_path,
                                                                               monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = tmp_path / "runs" / "a"
    assert fer_main(["train", "--data", str(folder_dataset), "--model", "mobilenet_v2", "--config", "smoke",
                     "--mask", "varied", "--val-split", "eval", "--out", str(run)]) == 0
    cache = tmp_path / "runs" / "landmarks-lfwfer.sqlite"
    assert cache.is_file() and list(elsewhere.iterdir()) == []
    assert fer_main(["evaluate", "--data", str(folder_dataset), "--split", "eval", "--checkpoint",
                     str(run / "best.pt"), "--mask", "mlfw-white", "--out", str(run / "eval")]) == 0
    assert [p.name for p in (tmp_path / "runs").glob("*.sqlite")] == [cache.name]  # the same cache, shared
    assert list(elsewhere.iterdir()) == []
