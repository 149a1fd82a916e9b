"""Whole-dataset rendering: plan, per-file work, manifest journal, resume.

The engines (local processes here, Ray in `maskgen.ray_engine`) only decide *where* `process_file` runs.
Every file's seed comes from the global seed and its relative path, so outputs do not depend on the engine,
the worker count or the order; a resumed run writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import csv
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

from .images import ImageError, is_image_path, read_image, writable_suffix, write_bytes_atomic, write_image
from .kinds import Placement
from .landmarks import Face, detect_faces
from .seeding import derive_seed

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"
RUN = "run.json"  # the options of the run in DST, written before any work: a resume must match them
FINAL_STATUSES = ("rendered", "no_face", "unreadable", "skipped")
VARIANT_CHUNK = 8  # variants per task when a file is split (--per-image above this), so progress is journalled


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
    keep_unmasked: bool = False  # copy photos without a masked face through unchanged (status stays no_face)


@dataclass(frozen=True)
class Task:
    relpath: str  # POSIX path relative to SRC
    is_image: bool = True
    error: str | None = None  # set for entries that could not even be listed
    variants: tuple[int, int] | None = None  # [start, stop) of the variants to render; None: all of them


def file_seed(seed: int, relpath: str, variant: int) -> int:
    """Seed of one output: a hash of the global seed, the relative path and the variant number (keyed, so the
    bytes do not depend on the engine, the worker count, the order or a resume)."""
    return derive_seed(seed, relpath, variant)


def output_relpath(relpath: str, variant: int, per_image: int, image_format: str | None) -> str:
    """DST-relative output path: the source's, with `_m{variant}` when there are several variants, in
    `image_format`, or in the source's own format when OpenCV can write it (GIF sources come out as PNG)."""
    path = Path(relpath)
    suffix = f".{image_format.lstrip('.')}" if image_format else writable_suffix(path.suffix)
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
            if name.startswith(".") or name in (MANIFEST, SUMMARY, RUN):
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


def close_worker_caches() -> None:
    """Close this process's landmark caches (a worker that is about to end)."""
    while _worker_cache:
        _worker_cache.popitem()[1].close()


@dataclass
class Detection:
    """Stage one of a file: its faces, or the records that end it early (not an image, unreadable)."""

    relpath: str
    landmarks: np.ndarray | None = None  # (N, 478, 3) float32 in pixels of the source image
    image_size: tuple[int, int] | None = None
    early: list[dict[str, Any]] | None = None
    image: np.ndarray | None = None  # the decoded photo when stage one had to decode it (same process only)
    variants: tuple[int, int] | None = None  # the task's variant range; None: all of options.per_image


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
    return Detection(task.relpath, faces_to_array(faces), size, image=decoded[0] if decoded else None,
                     variants=task.variants)


def _check_size(size: tuple[int, int]) -> None:
    if min(size) < 8:
        raise ImageError(f"image too small ({size[1]}x{size[0]} px)")


def render_file(detection: Detection, options: RenderOptions) -> list[dict[str, Any]]:
    """Stage two: render every variant of a file whose faces are known, write it atomically, report it."""
    return list(iter_render_file(detection, options))


def iter_render_file(detection: Detection, options: RenderOptions) -> Iterator[dict[str, Any]]:
    """`render_file`, one record per variant as soon as its output is written (so a caller can journal it)."""
    from .landmarks import faces_from_array
    from .render import apply_masks, draw_params

    if detection.early is not None:
        yield from detection.early
        return
    relpath = detection.relpath
    faces = faces_from_array(detection.landmarks, detection.image_size)
    image = detection.image
    source = Path(options.src) / relpath
    start, stop = detection.variants or (0, options.per_image)
    for variant in range(start, stop):
        out_rel = output_relpath(relpath, variant, options.per_image, options.image_format)
        seed = file_seed(options.seed, relpath, variant)
        record: dict[str, Any] = {"source": relpath, "output": out_rel, "variant": variant, "seed": seed,
                                  "faces": len(faces)}
        if not faces:
            yield _unmasked(record, "no face found", None, image, source, detection.image_size, options)
            continue
        try:
            image = read_image(source) if image is None else image
        except ImageError as exc:
            yield {**record, "output": None, "status": "unreadable", "reason": str(exc)}
            continue
        params = draw_params(len(faces), options.style, seed, options.placement, options.texture_dirs)
        result = apply_masks(image, faces, params, texture_dirs=options.texture_dirs)
        if result.masked_faces == 0:
            yield _unmasked(record, result.reason, result.params, image, source, detection.image_size, options)
            continue
        try:
            write_image(Path(options.dst) / out_rel, result.image, quality=options.quality)
            if options.save_occlusion:
                occ = occlusion_relpath(out_rel)
                write_image(Path(options.dst) / occ, result.occlusion.astype(np.uint8) * 255)
                record["occlusion"] = occ
        except (ImageError, OSError) as exc:  # the disk, not the photo: "failed", which a resume retries
            yield {**record, "output": None, "status": "failed", "reason": f"cannot write: {exc}"}
            continue
        yield {**record, "status": "rendered", "reason": None, "masked_faces": result.masked_faces,
               "params": result.params}


_SAME_FORMAT = {".jpeg": ".jpg", ".tiff": ".tif"}


def _unmasked(record: dict[str, Any], reason: str | None, params: list | None, image: np.ndarray | None,
              source: Path, size: tuple[int, int] | None, options: RenderOptions) -> dict[str, Any]:
    """The record of a variant with no masked face; with `keep_unmasked`, the photo is copied to its output
    (its bytes when the format is unchanged, else re-encoded) and an empty occlusion map written beside it."""
    record = {**record, "status": "no_face", "reason": reason}
    if params is not None:
        record["params"] = params
    if not options.keep_unmasked:
        return {**record, "output": None}
    out_rel = record["output"]
    target = Path(options.dst) / out_rel
    try:
        same = (_SAME_FORMAT.get(source.suffix.lower(), source.suffix.lower())
                == _SAME_FORMAT.get(target.suffix.lower(), target.suffix.lower()))
        if same:
            write_bytes_atomic(target, source.read_bytes())
        else:
            write_image(target, read_image(source) if image is None else image, quality=options.quality)
        if options.save_occlusion and size is not None:
            occ = occlusion_relpath(out_rel)
            write_image(Path(options.dst) / occ, np.zeros(tuple(size), np.uint8))
            record["occlusion"] = occ
    except (ImageError, OSError) as exc:
        return {**record, "output": None, "status": "failed", "reason": f"cannot copy unmasked: {exc}"}
    return {**record, "kept_unmasked": True}


WORKER_DIED = ("the process rendering it died (killed for memory, or a crash in a native library); "
               "a later --resume tries it again")


DEATHS_IN_A_ROW = 3  # files in a row that each kill a worker alone: the workers themselves are failing


class WorkersDying(RuntimeError):
    """Worker processes die whatever file they are given (they cannot start, or the machine kills every one):
    going on would only mark every remaining file failed, one fresh worker at a time."""

    def __init__(self, deaths_in_a_row: int) -> None:
        super().__init__(f"{deaths_in_a_row} files in a row each killed the worker process rendering it alone: "
                         "the workers themselves are failing (out of memory? see the messages above); stopping. "
                         "What is done is kept: run the same command with --resume once the cause is fixed")


def failed_records(task: Task, reason: str) -> list[dict[str, Any]]:
    """The records of a task whose worker died under it: one per variant it was to render (so the rest of a
    split file still counts), or one for the whole file. "failed" is not final: a resume redoes the task."""
    base = {"source": task.relpath, "output": None, "status": "failed", "reason": reason, "faces": 0}
    if task.variants is None:
        return [base]
    return [{**base, "variant": variant} for variant in range(*task.variants)]


def died_alone(task: Task, deaths_in_a_row: int) -> list[dict[str, Any]]:
    """What both engines record when `task`'s worker died while rendering it alone, the `deaths_in_a_row`-th
    such task in a row: its failed records, or, at DEATHS_IN_A_ROW, WorkersDying."""
    if deaths_in_a_row >= DEATHS_IN_A_ROW:
        raise WorkersDying(deaths_in_a_row)
    log.warning("%s: %s", task.relpath, WORKER_DIED)
    return failed_records(task, WORKER_DIED)


def process_file(task: Task, options: RenderOptions) -> list[dict[str, Any]]:
    """Both stages for one source file; one manifest record per output. Never raises for bad input."""
    return list(iter_process_file(task, options))


def iter_process_file(task: Task, options: RenderOptions) -> Iterator[dict[str, Any]]:
    """`process_file`, record by record as each output is written; `seconds` is the time since the last."""
    last = time.perf_counter()
    for record in iter_render_file(detect_file(task, options), options):
        now = time.perf_counter()
        record["seconds"] = round(now - last, 4)
        last = now
        yield record


def _outputs_exist(record: dict[str, Any], dst: Path) -> bool:
    return all(record.get(key) is None or (dst / record[key]).exists() for key in ("output", "occlusion"))


@dataclass
class Plan:
    """What a run (or a resume) still has to do, and which journal records stay."""

    todo: list[Task]
    keep: dict[str, list[dict[str, Any]]]  # records of finished outputs, by source
    planned: dict[str, int]  # outputs this run will write (or records it will add), by source
    files_done: int = 0  # files of the plan already finished

    @property
    def outputs(self) -> int:
        return sum(self.planned.values())


def plan_run(tasks: list[Task], previous: dict[str, list[dict[str, Any]]], dst: Path, per_image: int,
             chunk: int | None = VARIANT_CHUNK) -> Plan:
    """Split the work into tasks, skipping every output the journal records and DST holds.

    With `chunk`, missing variants are planned in runs of at most `chunk` (a file with many variants becomes
    several tasks, each journalled when done, and a resume renders only the variants still missing); with
    `chunk=None` a file with any variant missing is redone whole (engines that take whole files). Records of
    sources outside `tasks` are kept as they are."""
    keep = {source: records for source, records in previous.items()}
    todo: list[Task] = []
    planned: dict[str, int] = {}
    plan = Plan(todo, keep, planned)
    for task in tasks:
        final = [r for r in previous.get(task.relpath, ()) if r.get("status") in FINAL_STATUSES]
        ended = final[-1] if final and final[-1].get("variant") is None else None
        if ended is not None and not (ended["status"] == "skipped" and task.is_image):  # not an image, unreadable
            plan.files_done += 1
            keep[task.relpath] = final[-1:]
            continue
        if not task.is_image or task.error is not None:
            keep.pop(task.relpath, None)
            todo.append(task)
            planned[task.relpath] = 1
            continue
        done: dict[int, dict[str, Any]] = {}
        for record in final:
            variant = record.get("variant")
            if isinstance(variant, int) and 0 <= variant < per_image and _outputs_exist(record, dst):
                done[variant] = record
        missing = [v for v in range(per_image) if v not in done]
        if not missing:
            plan.files_done += 1
            keep[task.relpath] = [done[v] for v in sorted(done)]
            continue
        if chunk is None:
            keep.pop(task.relpath, None)
            todo.append(task)
            planned[task.relpath] = per_image
            continue
        if done:
            keep[task.relpath] = [done[v] for v in sorted(done)]
        else:
            keep.pop(task.relpath, None)
        planned[task.relpath] = len(missing)
        for run_start, run_stop in _runs(missing):
            for a in range(run_start, run_stop, chunk):
                span = (a, min(a + chunk, run_stop))
                todo.append(Task(task.relpath, True, None, None if span == (0, per_image) else span))
    return plan


def _runs(values: list[int]) -> Iterator[tuple[int, int]]:
    """Sorted integers as [start, stop) runs of consecutive values."""
    start = prev = values[0]
    for v in values[1:]:
        if v != prev + 1:
            yield start, prev + 1
            start = v
        prev = v
    yield start, prev + 1


def remove_outputs(dst: Path, records: Iterable[dict[str, Any]]) -> int:
    """Delete the outputs and occlusion maps that `records` (an earlier run's journal) say were written into
    DST, and the folders that leaves empty. Nothing outside DST and nothing unrecorded is touched."""
    root = dst.resolve()
    removed, folders = 0, set()
    for record in records:
        for key in ("output", "occlusion"):
            rel = record.get(key)
            if not rel:
                continue
            path = (root / rel).resolve()
            if root not in path.parents or not path.is_file():
                continue
            path.unlink()
            removed += 1
            folders.update(p for p in path.parents if root in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            pass
    return removed


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
               "kept_unmasked", "seconds", "params"]
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
    kept_unmasked: int = 0

    def add(self, records: list[dict[str, Any]], files: int = 1) -> None:
        """Count records; `files`: how many source files they finish (0 for part of a file's variants)."""
        self.files += files
        for r in records:
            self.counts[r["status"]] += 1
            if r["status"] == "rendered":
                self.outputs += 1
                self.faces += int(r.get("masked_faces", 0))
            elif r.get("kept_unmasked"):
                self.outputs += 1
                self.kept_unmasked += 1

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = dict(self.counts)
        data["faces_per_second"] = round(self.faces / self.seconds, 2) if self.seconds > 0 else None
        return data

    def lines(self) -> Iterator[str]:
        kept = f" ({self.kept_unmasked} copied unmasked)" if self.kept_unmasked else ""
        yield (f"{self.files} files in {self.seconds:.1f} s ({self.resumed} already done): "
               f"{self.counts.get('rendered', 0)} rendered, {self.counts.get('no_face', 0)} no face{kept}, "
               f"{self.counts.get('unreadable', 0)} unreadable, {self.counts.get('skipped', 0)} skipped"
               + (f", {self.counts['failed']} failed (see the manifest; --resume retries)"
                  if self.counts.get("failed") else ""))
        if self.seconds > 0 and self.faces:
            yield f"{self.faces} faces masked, {self.faces / self.seconds:.1f} faces/s"
