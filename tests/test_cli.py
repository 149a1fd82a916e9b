"""The `maskgen` command line, end to end, on the bundled samples and on a folder of broken files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import maskgen
from maskgen.cli import EXIT_NOTHING_DONE, EXIT_OK, EXIT_USAGE, main


@pytest.fixture()
def dataset(tmp_path) -> Path:
    """A small LFW-FER-like tree: class folders of sample faces, plus junk that must be reported."""
    root = tmp_path / "src"
    for i, path in enumerate(maskgen.sample_paths()):
        folder = root / "train" / ("neutral", "positive")[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / path.name)
    broken = root / "eval" / "negative"
    broken.mkdir(parents=True)
    (broken / "empty.jpg").write_bytes(b"")
    (broken / "text.jpg").write_bytes(b"not an image at all")
    whole = maskgen.sample_paths()[0].read_bytes()
    (broken / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (broken / "notes.txt").write_text("labels go here")
    import numpy as np
    import cv2

    cv2.imwrite(str(broken / "noface.png"), np.random.default_rng(0).integers(0, 255, (90, 90, 3), np.uint8))
    return root


def records(dst: Path) -> list[dict]:
    return [json.loads(line) for line in (dst / "manifest.jsonl").read_text().splitlines()]


def outputs(dst: Path) -> dict[str, bytes]:
    return {p.relative_to(dst).as_posix(): p.read_bytes() for p in dst.rglob("*.jpg")}


def test_render_mirrors_tree_and_accounts_for_every_file(dataset, tmp_path, capsys):
    dst = tmp_path / "dst"
    code = main(["render", str(dataset), str(dst), "--workers", "1", "--seed", "3", "--save-occlusion",
                 "--manifest", "csv"])
    assert code == EXIT_OK
    recs = {r["source"]: r for r in records(dst)}
    sources = {p.relative_to(dataset).as_posix() for p in dataset.rglob("*") if p.is_file()}
    assert set(recs) == sources
    statuses = {s: r["status"] for s, r in recs.items()}
    assert statuses["eval/negative/empty.jpg"] == "unreadable"
    assert statuses["eval/negative/text.jpg"] == "unreadable"
    assert statuses["eval/negative/cut.jpg"] == "unreadable"
    assert statuses["eval/negative/notes.txt"] == "skipped"
    assert statuses["eval/negative/noface.png"] == "no_face"
    rendered = [r for r in recs.values() if r["status"] == "rendered"]
    assert len(rendered) == 8
    for r in rendered:
        assert (dst / r["output"]).is_file() and (dst / r["occlusion"]).is_file()
        assert r["params"][0]["kind"] in maskgen.KINDS and r["seed"] > 0
    assert (dst / "train" / "neutral").is_dir() and (dst / "manifest.csv").is_file()
    summary = json.loads((dst / "summary.json").read_text())
    assert summary["all"]["counts"] == {"rendered": 8, "unreadable": 3, "skipped": 1, "no_face": 1}
    assert "8 rendered" in capsys.readouterr().out


def test_results_do_not_depend_on_worker_count(dataset, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["render", str(dataset), str(one), "--workers", "1", "--seed", "5"]) == EXIT_OK
    assert main(["render", str(dataset), str(two), "--workers", "2", "--seed", "5"]) == EXIT_OK
    assert outputs(one) == outputs(two) and len(outputs(one)) == 8


def test_per_image_format_and_style(dataset, tmp_path):
    dst = tmp_path / "dst"
    assert main(["render", str(dataset), str(dst), "--workers", "1", "--per-image", "2", "--format", "png",
                 "--style", "mlfw-white", "--limit", "7"]) == EXIT_OK
    names = sorted(p.name for p in dst.rglob("*.png") if "occlusion" not in p.name)
    assert len(names) == 4 and all("_m0" in n or "_m1" in n for n in names)
    kinds = {r["params"][0]["kind"] for r in records(dst) if r["status"] == "rendered"}
    assert kinds == {"mlfw-white"}


def test_existing_dst_needs_resume_or_overwrite(dataset, tmp_path, capsys):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "something").write_text("x")
    assert main(["render", str(dataset), str(dst)]) == EXIT_USAGE
    assert "not empty" in capsys.readouterr().err
    assert main(["render", str(dataset), str(dataset / "inside")]) == EXIT_USAGE
    assert main(["render", str(tmp_path / "missing"), str(tmp_path / "x")]) == EXIT_USAGE


def test_dry_run_writes_nothing(dataset, tmp_path, capsys):
    dst = tmp_path / "dst"
    assert main(["render", str(dataset), str(dst), "--dry-run"]) == EXIT_OK
    assert not dst.exists() and "would render 12 images" in capsys.readouterr().out


def test_nothing_to_do_exits_one(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no photos")
    assert main(["render", str(empty), str(tmp_path / "out")]) == EXIT_NOTHING_DONE


def test_killed_run_resumes_to_the_same_bytes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for copy in range(6):
        for path in maskgen.sample_paths():
            shutil.copy(path, src / f"{copy}_{path.name}")
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main(["render", str(src), str(whole), "--workers", "1", "--seed", "9"]) == EXIT_OK

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "maskgen", "render", str(src), str(cut), "--workers", "1",
                             "--seed", "9"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        manifest = cut / "manifest.jsonl"
        if manifest.exists() and len(manifest.read_text().splitlines()) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(records(cut))
    assert 10 <= done_before < 48, "the run should have been killed half-way"
    assert main(["render", str(src), str(cut), "--workers", "2", "--seed", "9", "--resume"]) == EXIT_OK
    assert outputs(cut) == outputs(whole)
    recs = records(cut)
    assert len(recs) == 48 and len({r["source"] for r in recs}) == 48
    assert not list(cut.rglob(".tmp-*"))


def test_detect_then_render_uses_the_cache(dataset, tmp_path, capsys):
    cache = tmp_path / "faces.sqlite"
    assert main(["detect", str(dataset), "--cache", str(cache), "--workers", "1"]) == EXIT_OK
    assert "face found in 8" in capsys.readouterr().out
    from maskgen.cache import LandmarkCache

    assert len(LandmarkCache(cache)) == 9  # 8 faces + the photo with none; broken files are not cached
    assert main(["render", str(dataset), str(tmp_path / "dst"), "--cache", str(cache), "--workers", "1"]) == EXIT_OK


def test_preview_and_demo_write_contact_sheets(dataset, tmp_path):
    sheet = tmp_path / "sheet.png"
    assert main(["preview", str(dataset), "--out", str(sheet), "-n", "6", "--style", "cloth"]) == EXIT_OK
    assert maskgen.read_image(sheet).shape[1] > 400
    demo = tmp_path / "demo.png"
    assert main(["demo", "--out", str(demo), "--size", "64"]) == EXIT_OK
    image = maskgen.read_image(demo)
    assert image.shape[0] > 8 * 64


def test_help_lists_every_subcommand():
    result = subprocess.run([sys.executable, "-m", "maskgen", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("render", "detect", "preview", "demo"):
        assert command in result.stdout


def test_a_cached_file_is_not_decoded_to_find_its_faces(dataset, tmp_path, monkeypatch):
    """Stage one answers a cache hit from the file's hash; only stage two decodes the photo, and on a miss
    the photo decoded in stage one is handed on, not read again."""
    from maskgen import batch
    from maskgen.batch import RenderOptions, detect_file, render_file, scan_tree

    cache = tmp_path / "faces.sqlite"
    assert main(["detect", str(dataset), "--cache", str(cache), "--workers", "1"]) == EXIT_OK
    options = RenderOptions(src=str(dataset), dst=str(tmp_path / "dst"), cache=str(cache))
    task = next(t for t in scan_tree(dataset) if t.relpath.startswith("train/"))
    decoded = []
    real_read = batch.read_image
    monkeypatch.setattr(batch, "read_image", lambda path: decoded.append(path) or real_read(path))
    detection = detect_file(task, options)
    assert decoded == [] and detection.image is None and len(detection.landmarks) == 1
    assert render_file(detection, options)[0]["status"] == "rendered" and len(decoded) == 1

    fresh = RenderOptions(src=str(dataset), dst=str(tmp_path / "dst2"), cache=str(tmp_path / "empty.sqlite"))
    detection = detect_file(task, fresh)
    assert detection.image is not None and len(decoded) == 2
    assert render_file(detection, fresh)[0]["status"] == "rendered" and len(decoded) == 2
