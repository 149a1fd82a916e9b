"""Whole-dataset rendering: plan, per-file work, manifest journal, resume.

The engines (local processes here, Ray in `maskgen.ray_engine`) only decide *where* `process_file` runs.
Every file's seed comes from the global seed and its relative path, so outputs do not depend on the engine,
the worker count or the order; a resumed run writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .images import ImageError, is_image_path, read_image, write_bytes_atomic, write_image
from .kinds import Placement
from .landmarks import Face, detect_faces

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"
FINAL_STATUSES = ("rendered", "no_face", "unreadable", "skipped")


@dataclass(frozen=True)
class RenderOptions:
    """Everything a worker needs to render one file; picklable, so it travels to processes and Ray."""

    src: str
    dst: str
    style: str = "varied"
    seed: int = 0
    per_image: int = 1
    image_format: str | None = None  # "jpg", "png", ... or None to keep each file's own
    save_occlusion: bool = False
    cache: str | None = None
    placement: Placement = field(default_factory=Placement)
    texture_dirs: tuple[str, ...] = ()
    max_faces: int = 4
    quality: int = 95


@dataclass(frozen=True)
class Task:
    relpath: str  # POSIX path relative to SRC
    is_image: bool = True
    error: str | None = None  # set for entries that could not even be listed


def file_seed(seed: int, relpath: str, variant: int) -> int:
    """Seed of one output: a hash of the global seed, the relative path and the variant number."""
    digest = hashlib.blake2b(f"{seed}\x00{relpath}\x00{variant}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def output_relpath(relpath: str, variant: int, per_image: int, image_format: str | None) -> str:
    path = Path(relpath)
    suffix = f".{image_format.lstrip('.')}" if image_format else path.suffix
    stem = path.stem if per_image == 1 else f"{path.stem}_m{variant}"
    return (path.parent / f"{stem}{suffix}").as_posix()


def occlusion_relpath(output: str) -> str:
    path = Path(output)
    return (path.parent / f"{path.stem}.occlusion.png").as_posix()


def scan_tree(src: Path) -> list[Task]:
    """Every file below SRC, sorted; unreadable folders are reported as tasks with an error."""
    tasks: list[Task] = []

    def on_error(error: OSError) -> None:
        rel = Path(error.filename).resolve().relative_to(src.resolve()).as_posix() if error.filename else "?"
        tasks.append(Task(relpath=rel, is_image=False, error=f"unreadable folder: {error.strerror}"))

    for folder, dirs, files in os.walk(src, onerror=on_error):
        dirs.sort()
        for name in sorted(files):
            full = Path(folder) / name
            rel = full.relative_to(src).as_posix()
            if name.startswith(".") or name in (MANIFEST, SUMMARY):
                continue
            tasks.append(Task(relpath=rel, is_image=is_image_path(name)))
    return sorted(tasks, key=lambda t: t.relpath)


_worker_cache: dict[str, Any] = {}


def landmark_cache(path: str | None, root: str):
    if path is None:
        return None
    key = f"{path}|{root}"
    if key not in _worker_cache:
        from .cache import LandmarkCache

        _worker_cache[key] = LandmarkCache(path, root=root)
    return _worker_cache[key]


@dataclass
class Detection:
    """Stage one of a file: its faces, or the records that end it early (not an image, unreadable)."""

    relpath: str
    landmarks: np.ndarray | None = None  # (N, 478, 3) float32 in pixels of the source image
    image_size: tuple[int, int] | None = None
    early: list[dict[str, Any]] | None = None
    image: np.ndarray | None = None  # the decoded photo when stage one had to decode it (same process only)


def detect_file(task: Task, options: RenderOptions) -> Detection:
    """Read a file and find its faces (through the landmark cache). Never raises for bad input."""
    from .landmarks import faces_to_array

    base = {"source": task.relpath}
    if task.error is not None:
        return Detection(task.relpath, early=[{**base, "output": None, "status": "unreadable", "reason": task.error,
                                               "faces": 0}])
    if not task.is_image:
        return Detection(task.relpath, early=[{**base, "output": None, "status": "skipped",
                                               "reason": "not an image file", "faces": 0}])
    path = Path(options.src) / task.relpath
    decoded: list[np.ndarray] = []  # the photo, when it had to be decoded: stage two then reuses it

    def detect(source: Path) -> tuple[list[Face], tuple[int, int]]:
        image = read_image(source)
        _check_size(image.shape[:2])
        decoded.append(image)
        return detect_faces(image, options.max_faces), image.shape[:2]

    try:
        cache = landmark_cache(options.cache, options.src)
        faces, size = detect(path) if cache is None else cache.entry_for_file(path, detect)
        _check_size(size)
    except (ImageError, OSError, ValueError) as exc:
        return Detection(task.relpath, early=[{**base, "output": None, "status": "unreadable", "reason": str(exc),
                                               "faces": 0}])
    return Detection(task.relpath, faces_to_array(faces), size, image=decoded[0] if decoded else None)


def _check_size(size: tuple[int, int]) -> None:
    if min(size) < 8:
        raise ImageError(f"image too small ({size[1]}x{size[0]} px)")


def render_file(detection: Detection, options: RenderOptions) -> list[dict[str, Any]]:
    """Stage two: render every variant of a file whose faces are known, write it atomically, report it."""
    from .landmarks import faces_from_array
    from .render import apply_masks, draw_params

    if detection.early is not None:
        return detection.early
    relpath = detection.relpath
    faces = faces_from_array(detection.landmarks, detection.image_size)
    image = detection.image
    records = []
    for variant in range(options.per_image):
        out_rel = output_relpath(relpath, variant, options.per_image, options.image_format)
        seed = file_seed(options.seed, relpath, variant)
        record: dict[str, Any] = {"source": relpath, "output": out_rel, "variant": variant, "seed": seed,
                                  "faces": len(faces)}
        if not faces:
            records.append({**record, "output": None, "status": "no_face", "reason": "no face found"})
            continue
        try:
            image = read_image(Path(options.src) / relpath) if image is None else image
        except ImageError as exc:
            records.append({**record, "output": None, "status": "unreadable", "reason": str(exc)})
            continue
        params = draw_params(len(faces), options.style, seed, options.placement, options.texture_dirs)
        result = apply_masks(image, faces, params, texture_dirs=options.texture_dirs)
        if result.masked_faces == 0:
            records.append({**record, "output": None, "status": "no_face", "reason": result.reason,
                            "params": result.params})
            continue
        try:
            write_image(Path(options.dst) / out_rel, result.image, quality=options.quality)
            if options.save_occlusion:
                occ = occlusion_relpath(out_rel)
                write_image(Path(options.dst) / occ, result.occlusion.astype(np.uint8) * 255)
                record["occlusion"] = occ
        except (ImageError, OSError) as exc:
            records.append({**record, "output": None, "status": "unreadable", "reason": f"cannot write: {exc}"})
            continue
        records.append({**record, "status": "rendered", "reason": None, "masked_faces": result.masked_faces,
                        "params": result.params})
    return records


def process_file(task: Task, options: RenderOptions) -> list[dict[str, Any]]:
    """Both stages for one source file; one manifest record per output. Never raises for bad input."""
    started = time.perf_counter()
    records = render_file(detect_file(task, options), options)
    elapsed = time.perf_counter() - started
    for r in records:
        r["seconds"] = round(elapsed / len(records), 4)
    return records


class ManifestJournal:
    """DST/manifest.jsonl: one line per output, appended (and flushed) as each file finishes.

    A killed run leaves at most one torn last line, which `load` ignores; `--resume` then redoes that file.
    """

    def __init__(self, dst: Path) -> None:
        self.path = dst / MANIFEST
        self._handle: io.TextIOBase | None = None

    def load(self) -> dict[str, list[dict[str, Any]]]:
        """Finished records by source path (last run wins)."""
        done: dict[str, list[dict[str, Any]]] = {}
        if not self.path.exists():
            return done
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn line from an interrupted run
                done.setdefault(record["source"], []).append(record)
        return done

    def complete(self, records: list[dict[str, Any]], dst: Path, per_image: int) -> bool:
        """Whether a source's earlier records cover every variant and their outputs exist."""
        final = [r for r in records if r.get("status") in FINAL_STATUSES]
        if not final:
            return False
        if final[-1]["status"] in ("unreadable", "skipped") and final[-1].get("variant") is None:
            return True
        variants = {r.get("variant") for r in final}
        if len(variants) < per_image:
            return False
        return all(r["output"] is None or (dst / r["output"]).exists() for r in final)

    def compact(self, keep: dict[str, list[dict[str, Any]]]) -> None:
        """Rewrite the journal with only the records being kept (drops torn lines and superseded runs)."""
        payload = "".join(json.dumps(r, sort_keys=True) + "\n" for recs in keep.values() for r in recs)
        write_bytes_atomic(self.path, payload.encode("utf-8"))

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8")
        for record in records:
            self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def write_csv_manifest(dst: Path, records: Iterable[dict[str, Any]]) -> Path:
    """manifest.csv beside the journal: flat columns, parameters as one JSON column."""
    columns = ["source", "output", "status", "reason", "faces", "masked_faces", "variant", "seed", "occlusion",
               "seconds", "params"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        row = dict(record)
        if "params" in row:
            row["params"] = json.dumps(row["params"], sort_keys=True)
        writer.writerow(row)
    path = dst / "manifest.csv"
    write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))
    return path


@dataclass
class Summary:
    files: int = 0
    outputs: int = 0
    counts: Counter = field(default_factory=Counter)
    faces: int = 0
    seconds: float = 0.0
    resumed: int = 0

    def add(self, records: list[dict[str, Any]]) -> None:
        self.files += 1
        for r in records:
            self.counts[r["status"]] += 1
            if r["status"] == "rendered":
                self.outputs += 1
                self.faces += int(r.get("masked_faces", 0))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = dict(self.counts)
        data["faces_per_second"] = round(self.faces / self.seconds, 2) if self.seconds > 0 else None
        return data

    def lines(self) -> Iterator[str]:
        yield (f"{self.files} files in {self.seconds:.1f} s ({self.resumed} already done): "
               f"{self.counts.get('rendered', 0)} rendered, {self.counts.get('no_face', 0)} no face, "
               f"{self.counts.get('unreadable', 0)} unreadable, {self.counts.get('skipped', 0)} skipped")
        if self.seconds > 0 and self.faces:
            yield f"{self.faces} faces masked, {self.faces / self.seconds:.1f} faces/s"
