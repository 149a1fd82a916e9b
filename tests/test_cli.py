"""The `maskgen` command line, end to end, on the bundled samples and on a folder of broken files."""

from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import maskgen
from maskgen.cli import EXIT_NOTHING_DONE, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, main


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
    (cut / ".tmp-torn.jpg").write_bytes(b"\xff\xd8")  # a write the kill cut short (the kill may leave one too)
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


def test_16_bit_photo_rendered_as_jpeg_keeps_its_tones(tmp_path):
    import numpy as np

    photo = maskgen.load_sample("Heather_Mills_0004_color112")
    out = {}
    for name, image in (("deep", photo.astype(np.uint16) * 257), ("plain", photo)):
        src = tmp_path / name / "src"
        maskgen.write_image(src / "face.png", image)
        assert main(["render", str(src), str(tmp_path / name / "dst"), "--workers", "1", "--format", "jpg"]) \
            == EXIT_OK
        out[name] = maskgen.read_image(tmp_path / name / "dst" / "face.jpg")
    assert out["deep"].dtype == np.uint8
    # the same picture as from the 8-bit photo (not the white image of an unscaled cast)
    assert np.abs(out["deep"].astype(int) - out["plain"]).mean() < 2


def test_overwrite_leaves_exactly_the_new_runs_outputs(dataset, tmp_path, capsys):
    dst = tmp_path / "dst"
    assert main(["render", str(dataset), str(dst), "--workers", "1", "--per-image", "3", "--save-occlusion",
                 "--limit", "9", "--manifest", "csv"]) == EXIT_OK  # 5 broken files, 4 faces
    assert len(list(dst.rglob("*_m2.jpg"))) == 4
    (dst / "train" / "mine.txt").write_text("a file of the user's own")
    (dst / "notes").mkdir()
    (dst / "notes" / "keep.jpg").write_bytes(b"not written by maskgen")
    assert main(["render", str(dataset), str(dst), "--workers", "1", "--overwrite", "--style", "surgical",
                 "--limit", "9"]) == EXIT_OK
    assert "removed 24 files of the earlier run" in capsys.readouterr().out
    listed = {r["output"] for r in records(dst) if r["output"]}
    images = {p.relative_to(dst).as_posix() for p in dst.rglob("*.jpg")} - {"notes/keep.jpg"}
    assert images == listed and len(listed) == 4
    assert not list(dst.rglob("*.occlusion.png")) and not (dst / "manifest.csv").exists()
    assert (dst / "train" / "mine.txt").is_file() and (dst / "notes" / "keep.jpg").is_file()


def test_resume_refuses_options_that_differ_from_the_recorded_run(dataset, tmp_path, capsys):
    dst = tmp_path / "dst"
    assert main(["render", str(dataset), str(dst), "--workers", "1", "--limit", "7"]) == EXIT_OK
    before = (dst / "manifest.jsonl").read_bytes()
    capsys.readouterr()
    assert main(["render", str(dataset), str(dst), "--resume", "--style", "surgical", "--seed", "9",
                 "--chin-drop", "0.1,0.2", "--limit", "7"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    for difference in ("--style: surgical != varied recorded", "--seed: 9 != 0 recorded",
                       "--chin-drop: 0.1,0.2 != unset recorded"):
        assert difference in err
    assert (dst / "manifest.jsonl").read_bytes() == before
    # options that change no output byte may differ; the rest of the files are rendered
    assert main(["render", str(dataset), str(dst), "--resume", "--workers", "2", "--manifest", "csv"]) == EXIT_OK
    assert json.loads((dst / "run.json").read_text())["options"]["style"] == "varied"
    assert len(records(dst)) == 13
    assert main(["render", str(dataset), str(dst), "--resume", "--overwrite"]) == EXIT_USAGE
    (dst / "run.json").unlink()  # a run from before run.json: its summary still tells style and seed
    capsys.readouterr()
    assert main(["render", str(dataset), str(dst), "--resume", "--seed", "9"]) == EXIT_USAGE
    assert "--seed: 9 != 0 recorded" in capsys.readouterr().err


def test_many_variants_are_journalled_as_written_and_resume_renders_only_the_missing(tmp_path, monkeypatch,
                                                                                     capsys):
    from maskgen import cli

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(maskgen.sample_paths()[0], src / "face.jpg")
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main(["render", str(src), str(whole), "--workers", "1", "--per-image", "20"]) == EXIT_OK
    assert "20/20" in capsys.readouterr().err  # the progress bar counts outputs, not files

    real = cli.iter_process_file

    def killed_after_five(task, options):
        for count, record in enumerate(real(task, options)):
            if count == 5:
                raise KeyboardInterrupt
            yield record

    monkeypatch.setattr(cli, "iter_process_file", killed_after_five)
    assert main(["render", str(src), str(cut), "--workers", "1", "--per-image", "20"]) == 130
    assert sorted(r["variant"] for r in records(cut)) == [0, 1, 2, 3, 4]  # each variant recorded as written
    monkeypatch.setattr(cli, "iter_process_file", real)
    assert main(["render", str(src), str(cut), "--workers", "2", "--per-image", "20", "--resume"]) == EXIT_OK
    assert json.loads((cut / "summary.json").read_text())["this_run"]["outputs"] == 15
    assert sorted(r["variant"] for r in records(cut)) == list(range(20))
    assert outputs(cut) == outputs(whole) and len(outputs(whole)) == 20

    assert main(["render", str(src), str(tmp_path / "x"), "--per-image", "20000"]) == EXIT_USAGE
    assert "--allow-many" in capsys.readouterr().err
    assert main(["render", str(src), str(tmp_path / "x"), "--per-image", "20000", "--allow-many",
                 "--dry-run"]) == EXIT_OK
    assert "20000 outputs" in capsys.readouterr().out


def test_split_files_give_the_same_bytes_whatever_the_workers(tmp_path):
    from maskgen.batch import VARIANT_CHUNK

    src = tmp_path / "src"
    src.mkdir()
    for path in maskgen.sample_paths()[:2]:
        shutil.copy(path, src / path.name)
    one, two = tmp_path / "one", tmp_path / "two"
    k = str(2 * VARIANT_CHUNK + 3)
    assert main(["render", str(src), str(one), "--workers", "1", "--per-image", k, "--format", "png"]) == EXIT_OK
    assert main(["render", str(src), str(two), "--workers", "2", "--per-image", k, "--format", "png"]) == EXIT_OK
    pngs = lambda d: {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*.png")}
    assert pngs(one) == pngs(two) and len(pngs(one)) == 2 * int(k)
    summary = json.loads((two / "summary.json").read_text())["this_run"]
    assert summary["files"] == 2 and summary["outputs"] == 2 * int(k)


@pytest.mark.parametrize("argv,message", [
    (["render", "SRC", "DST", "--limit", "0"], "--limit must be at least 1 (got 0)"),
    (["render", "SRC", "DST", "--limit", "-3"], "--limit must be at least 1 (got -3)"),
    (["render", "SRC", "DST", "--workers", "0"], "--workers must be at least 1"),
    (["render", "SRC", "DST", "--per-image", "0"], "--per-image must be at least 1"),
    (["render", "SRC", "DST", "--quality", "0"], "--quality must be between 1 and 100"),
    (["render", "SRC", "DST", "--quality", "101"], "--quality must be between 1 and 100"),
    (["render", "SRC", "DST", "--max-faces", "0"], "--max-faces must be at least 1"),
    (["detect", "SRC", "--cache", "c.sqlite", "--workers", "-1"], "--workers must be at least 1"),
    (["detect", "SRC", "--cache", "c.sqlite", "--max-faces", "0"], "--max-faces must be at least 1"),
    (["preview", "SRC", "--out", "s.png", "-n", "0"], "-n/--count must be at least 1"),
    (["preview", "SRC", "--out", "s.png", "--columns", "0"], "--columns must be at least 1"),
    (["preview", "SRC", "--out", "s.png", "--size", "2"], "--size must be between 16 and 2048"),
    (["preview", "SRC", "--out", "s.png", "--max-faces", "0"], "--max-faces must be at least 1"),
    (["demo", "--out", "d.png", "--size", "0"], "--size must be between 16 and 2048"),
])
def test_out_of_range_numbers_are_refused_before_any_work(dataset, tmp_path, capsys, argv, message):
    argv = [str(dataset) if a == "SRC" else str(tmp_path / "dst") if a == "DST" else
            str(tmp_path / a) if a.endswith((".png", ".sqlite")) else a for a in argv]
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # nothing written


def test_negative_ranges_are_values_not_options():
    from maskgen.cli import build_parser

    args = build_parser().parse_args(["render", "a", "b", "--chin-drop", "-1,5", "--top", "-0.1,0.5",
                                      "--seed", "-4"])
    assert args.chin_drop == (-1.0, 5.0) and args.top == (-0.1, 0.5) and args.seed == -4
    args = build_parser().parse_args(["preview", "a", "--out", "s.png", "--chin-drop", "-.5,-1e-1"])
    assert args.chin_drop == (-0.5, -0.1)


def test_negative_ranges_reach_placement_validation(dataset, tmp_path, capsys):
    assert main(["render", str(dataset), str(tmp_path / "dst"), "--chin-drop", "-0.1,0.2", "--dry-run"]) == EXIT_OK
    assert main(["render", str(dataset), str(tmp_path / "dst"), "--chin-drop", "-1,5"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("maskgen render: error: --chin-drop ") and len(err.strip().splitlines()) == 1


def test_detect_reports_and_classes_files_like_render(dataset, tmp_path, capsys):
    import cv2
    import numpy as np

    cv2.imwrite(str(dataset / "eval" / "negative" / "dot.png"), np.zeros((1, 1, 3), np.uint8))
    cache = tmp_path / "faces.sqlite"
    assert main(["detect", str(dataset), "--cache", str(cache), "--workers", "1"]) == EXIT_OK
    line = capsys.readouterr().out.strip()
    assert line == f"13 images: face found in 8 (61.5 %), no face: 1, unreadable: 4; cache: {cache}"
    dst = tmp_path / "dst"
    assert main(["render", str(dataset), str(dst), "--cache", str(cache), "--workers", "1"]) == EXIT_OK
    dot = next(r for r in records(dst) if r["source"].endswith("dot.png"))
    assert dot["status"] == "unreadable" and "too small" in dot["reason"]

    faces = tmp_path / "faces"
    faces.mkdir()
    shutil.copy(maskgen.sample_paths()[0], faces)
    capsys.readouterr()
    assert main(["detect", str(faces), "--cache", str(cache), "--workers", "1"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"1 images: face found in 1 (100.0 %); cache: {cache}"


def test_keep_unmasked_copies_photos_without_a_face(dataset, tmp_path):
    dst = tmp_path / "dst"
    assert main(["render", str(dataset), str(dst), "--workers", "1", "--keep-unmasked", "--save-occlusion"]) \
        == EXIT_OK
    noface = next(r for r in records(dst) if r["source"] == "eval/negative/noface.png")
    assert noface["status"] == "no_face" and noface["kept_unmasked"] is True
    assert (dst / noface["output"]).read_bytes() == (dataset / "eval/negative/noface.png").read_bytes()
    assert not maskgen.read_image(dst / noface["occlusion"]).any()
    readable = {r["source"] for r in records(dst) if r["status"] in ("rendered", "no_face")}
    assert all((dst / r["output"]).is_file() for r in records(dst) if r["source"] in readable)
    again = tmp_path / "again"
    assert main(["render", str(dataset), str(again), "--workers", "1", "--keep-unmasked", "--format", "jpg"]) \
        == EXIT_OK
    copy = maskgen.read_image(again / "eval/negative/noface.jpg")  # re-encoded in the asked format
    assert copy.shape == (90, 90, 3)
    assert main(["render", str(dataset), str(again), "--workers", "1", "--keep-unmasked", "--format", "jpg",
                 "--resume"]) == EXIT_OK
    assert json.loads((again / "summary.json").read_text())["this_run"]["files"] == 0  # the copies count as done


def test_render_takes_one_photo(tmp_path, capsys):
    photo = tmp_path / "in" / "face.jpg"
    photo.parent.mkdir()
    shutil.copy(maskgen.sample_paths()[0], photo)
    dst = tmp_path / "out"
    assert main(["render", str(photo), str(dst), "--workers", "1"]) == EXIT_OK
    assert (dst / "face.jpg").is_file() and [r["source"] for r in records(dst)] == ["face.jpg"]
    assert main(["detect", str(photo), "--cache", str(tmp_path / "c.sqlite"), "--workers", "1"]) == EXIT_OK
    assert "1 images: face found in 1" in capsys.readouterr().out
    assert main(["render", str(photo), str(photo.parent), "--overwrite"]) == EXIT_USAGE
    assert "folder SRC is in" in capsys.readouterr().err
    (tmp_path / "in" / "notes.txt").write_text("x")
    assert main(["render", str(tmp_path / "in" / "notes.txt"), str(tmp_path / "o2")]) == EXIT_USAGE


def test_gif_photos_are_read_and_written_as_png(tmp_path):
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(maskgen.load_sample("Heather_Mills_0004_color112")).save(src / "face.gif")
    dst = tmp_path / "dst"
    assert main(["render", str(src), str(dst), "--workers", "1"]) == EXIT_OK
    (record,) = records(dst)
    assert record["status"] == "rendered" and record["output"] == "face.png"
    assert maskgen.read_image(dst / "face.png").shape == (112, 112, 3)


def test_every_option_is_in_the_docs():
    """Each command's synopsis at the top of docs/cli.md names every option of that command."""
    import argparse

    from maskgen.cli import build_parser

    docs = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    synopsis = docs.split("```")[1]
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    lines: dict[str, str] = {}
    command = None
    for line in synopsis.splitlines():
        if line.startswith("maskgen "):
            command = line.split()[1] if line.split()[1] in subparsers.choices else "[global]"
        if command:
            lines[command] = lines.get(command, "") + line + "\n"
    missing = []
    for name, sub in [("[global]", parser), *subparsers.choices.items()]:
        text = lines.get(name, "")
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help") and not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
                    missing.append(f"{name} {option}")
    assert not missing, f"options missing from the synopsis in docs/cli.md: {missing}"


def test_photos_that_would_write_the_same_output_are_refused(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(maskgen.sample_paths()[0], src / "face.png")
    Image.open(maskgen.sample_paths()[1]).save(src / "face.gif")
    assert main(["render", str(src), str(tmp_path / "dst")]) == EXIT_USAGE
    assert "face.gif and face.png -> face.png" in capsys.readouterr().err
    assert not (tmp_path / "dst").exists()


def test_preview_says_why_it_made_no_sheet(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a photo")
    assert main(["preview", str(bad), "--out", str(tmp_path / "s.png")]) == EXIT_NOTHING_DONE
    assert "none of the photos picked could be read" in capsys.readouterr().err


def test_a_dst_nobody_may_write_to_is_refused_before_any_work(dataset, tmp_path, monkeypatch, capsys):
    import tempfile

    def refused(*args, **kwargs):  # what a read-only folder answers (the tests may run as root, who may write)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refused)
    assert main(["render", str(dataset), str(tmp_path / "dst")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot write to DST" in err and "Permission denied" in err and "Traceback" not in err
    assert not (tmp_path / "dst" / "run.json").exists()


def test_a_cache_that_is_not_a_landmark_cache_is_refused_before_dst_is_touched(dataset, tmp_path, capsys):
    bad = tmp_path / "cache.sqlite"
    bad.write_text("not a database")
    dst = tmp_path / "dst"
    assert main(["render", str(dataset), str(dst), "--cache", str(bad)]) == EXIT_USAGE
    assert "is not a landmark cache" in capsys.readouterr().err and not dst.exists()


def test_outputs_that_cannot_be_written_fail_visibly_and_a_resume_writes_them(dataset, tmp_path, monkeypatch, capsys):
    """A full disk or a folder made read-only mid-run is the disk's fault, not the photo's: "failed" (not
    final), a non-zero exit, and a resume redoes exactly those outputs."""
    from maskgen import batch

    real_write = batch.write_image

    def disk_full_for_neutral(path, *args, **kwargs):
        if "neutral" in str(path):
            raise OSError(28, "No space left on device")
        return real_write(path, *args, **kwargs)

    dst = tmp_path / "dst"
    monkeypatch.setattr(batch, "write_image", disk_full_for_neutral)
    assert main(["render", str(dataset), str(dst), "--workers", "1"]) == EXIT_SOME_FAILED
    out = capsys.readouterr().out
    records = [json.loads(line) for line in (dst / "manifest.jsonl").read_text().splitlines()]
    failed = [r for r in records if r["status"] == "failed"]
    assert failed and all("neutral" in r["source"] and "No space left" in r["reason"] for r in failed)
    assert f"{len(failed)} failed (see the manifest; --resume retries)" in out
    assert not any(r["status"] == "unreadable" and "neutral" in r["source"] for r in records)
    monkeypatch.setattr(batch, "write_image", real_write)
    assert main(["render", str(dataset), str(dst), "--workers", "1", "--resume"]) == EXIT_OK
    records = [json.loads(line) for line in (dst / "manifest.jsonl").read_text().splitlines()]
    assert {r["source"] for r in records if r["status"] == "failed"} == set()
    assert all((dst / r["output"]).is_file() for r in records if "neutral" in r["source"])


def test_preview_and_textures_name_a_file_where_a_folder_is_needed(dataset, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["preview", str(dataset), "--out", str(a_file / "sheet.png")]) == EXIT_USAGE
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["render", str(dataset), str(tmp_path / "dst"), "--textures", str(a_file)]) == EXIT_USAGE
    assert "not a folder" in capsys.readouterr().err
