"""`maskgen` command line: render, detect, preview, demo. A thin layer over `maskgen.batch` and the core.

Exit codes: 0 done (individual bad files are listed in the manifest, not fatal); 1 nothing could be done
(no usable image, or every file failed); 2 bad arguments or DST in the way; 130 interrupted (rerun with
--resume to finish).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import multiprocessing
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from . import __version__
from .batch import (
    MANIFEST,
    RUN,
    SUMMARY,
    VARIANT_CHUNK,
    WorkersDying,
    ManifestJournal,
    RenderOptions,
    Summary,
    Task,
    detect_file,
    died_alone,
    file_seed,
    iter_process_file,
    output_relpath,
    plan_run,
    process_file,
    remove_outputs,
    scan_tree,
    write_csv_manifest,
)
from .images import (IMAGE_SUFFIXES, ImageError, is_image_path, read_image, remove_partial_writes,
                     write_bytes_atomic, write_image)
from .kinds import STYLES, Placement

EXIT_OK, EXIT_NOTHING_DONE, EXIT_USAGE, EXIT_WORKERS_DYING, EXIT_SOME_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
MAX_PER_IMAGE = 10_000  # more needs --allow-many
log = logging.getLogger("maskgen")
IN_FLIGHT_PER_WORKER = 3  # chunks queued per worker process: none waits for the parent's round trip
CHUNK_FILES = 8  # files per chunk sent to a worker
PARENT_POLL_SECONDS = 1.0  # how often a worker checks that the run it works for is still there

# Values that look like a negative number or a LOW,HIGH range starting with one ("-1", "-0.5", "-1,5",
# "-0.1,0.5") are values, not options: `--chin-drop -0.1,0.2` works as written. argparse's own pattern only takes
# single numbers.
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
NEGATIVE_VALUE = re.compile(rf"^-{_NUMBER}(?:,-?{_NUMBER})?$", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser (and its subparsers) that reads `-1,5` as a value, see NEGATIVE_VALUE."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_VALUE


class UsageError(Exception):
    """Bad arguments discovered after parsing (exit 2)."""


def _wear(text: str) -> str | dict[str, float]:
    if "=" not in text:
        return text.strip()
    try:  # "correct=0.8,nose_out=0.1,chin=0.1"
        return {k.strip(): float(v) for k, v in sorted(part.split("=") for part in text.split(","))}
    except ValueError as exc:
        raise UsageError(f"--wear: expected MODE or MODE=WEIGHT,..., got {text!r}") from exc


def _placement(args: argparse.Namespace) -> Placement:
    try:
        return Placement(wear=_wear(args.wear), top=args.top, chin_drop=args.chin_drop)
    except ValueError as exc:  # Placement names its fields; say which option that was
        message = str(exc)
        for field, option in (("chin_drop", "--chin-drop"), ("top", "--top"), ("wear", "--wear")):
            if message.startswith(field + " "):
                message = option + message[len(field):]
                break
        raise UsageError(message) from exc


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH such as 0.2,0.8 or -0.1,0.2, got {text!r}") from exc
    return low, high


# Numeric options and their allowed range (low, high; None: no upper bound), checked before any work.
LIMITS = {
    "workers": ("--workers", 1, None),
    "per_image": ("--per-image", 1, None),
    "quality": ("--quality", 1, 100),
    "limit": ("--limit", 1, None),
    "max_faces": ("--max-faces", 1, None),
    "count": ("-n/--count", 1, None),
    "columns": ("--columns", 1, None),
    "size": ("--size", 16, 2048),
}


def _validate(args: argparse.Namespace) -> None:
    """Refuse out-of-range numbers up front, one line each (exit 2), instead of failing half-way."""
    for dest, (name, low, high) in LIMITS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if high is None and value < low:
            raise UsageError(f"{name} must be at least {low} (got {value})")
        if high is not None and not low <= value <= high:
            raise UsageError(f"{name} must be between {low} and {high} (got {value})")
    if getattr(args, "per_image", 1) > MAX_PER_IMAGE and not args.allow_many:
        raise UsageError(f"--per-image {args.per_image} is more than {MAX_PER_IMAGE:,} variants per photo; "
                         f"add --allow-many if you mean it")


def _add_style_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--style", default="varied", choices=STYLES,
                        help="varied (every kind, colour and pattern), mlfw-white (the M-LFW-FER baseline), "
                             "or one kind (default: varied)")
    parser.add_argument("--seed", type=int, default=0, help="global seed; each file's seed derives from it "
                                                            "and the file's relative path (default: 0)")
    parser.add_argument("--wear", default="correct",
                        help="correct, nose_out, chin, or a mix such as correct=0.8,nose_out=0.1,chin=0.1")
    parser.add_argument("--top", type=_range, default=None, metavar="LOW,HIGH",
                        help="height of the top edge within the wear mode's span, 0..1")
    parser.add_argument("--chin-drop", type=_range, default=None, metavar="LOW,HIGH",
                        help="how far below the chin, in half face widths")
    parser.add_argument("--textures", action="append", default=[], metavar="DIR",
                        help="extra folder of fabric photos (repeatable)")
    parser.add_argument("--max-faces", type=int, default=4, metavar="N", help="most faces per photo (default: 4)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="maskgen", description="Realistic, varied synthetic face masks.")
    parser.add_argument("--version", action="version", version=f"maskgen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every failure as it happens")
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="mask every photo under SRC into DST, mirroring the folder tree",
                            description="Mask every photo under SRC (a folder, or one photo) into DST, mirroring "
                                        "its folder tree. Writes DST/manifest.jsonl (one line per output), "
                                        "DST/run.json (the options) and DST/summary.json.")
    render.add_argument("src", type=Path, help="a folder (searched recursively) or one photo")
    render.add_argument("dst", type=Path)
    _add_style_arguments(render)
    render.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="worker processes (default: all cores)")
    render.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local processes, or Ray actors on a Ray cluster (maskgen's ray extra)")
    render.add_argument("--address", default=None, metavar="HOST:PORT",
                        help="with --engine ray: join this cluster (e.g. 10.0.0.5:6379); default: start a "
                             "local Ray with --workers CPUs")
    render.add_argument("--per-image", type=int, default=1, metavar="K",
                        help=f"K masked variants per photo (at most {MAX_PER_IMAGE:,} without --allow-many)")
    render.add_argument("--allow-many", action="store_true", help=f"allow --per-image above {MAX_PER_IMAGE:,}")
    render.add_argument("--format", dest="image_format", default=None, choices=("jpg", "png", "webp", "bmp", "tif"),
                        help="output format (default: keep each file's own; GIF becomes PNG)")
    render.add_argument("--quality", type=int, default=95, metavar="Q", help="JPEG quality, 1..100 (default: 95)")
    render.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in DST (with the options it was started with)")
    render.add_argument("--overwrite", action="store_true",
                        help="start again in a non-empty DST: the outputs of the run recorded there are removed")
    render.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N files (sorted), N >= 1")
    render.add_argument("--dry-run", action="store_true", help="list what would be done, write nothing")
    render.add_argument("--manifest", choices=("jsonl", "csv"), default="jsonl",
                        help="also write manifest.csv when csv (the JSONL journal is always kept)")
    render.add_argument("--save-occlusion", action="store_true",
                        help="write NAME.occlusion.png (255 = covered) beside each output")
    render.add_argument("--keep-unmasked", action="store_true",
                        help="copy photos with no face (or none maskable) to DST unchanged, so DST has every "
                             "readable photo; their status stays no_face, with kept_unmasked: true")
    render.add_argument("--cache", type=Path, default=None, metavar="FILE",
                        help="landmark cache file (default: DST/landmarks.sqlite)")

    detect = sub.add_parser("detect", help="build the landmark cache for every photo under SRC")
    detect.add_argument("src", type=Path, help="a folder (searched recursively) or one photo")
    detect.add_argument("--cache", type=Path, required=True, metavar="FILE", help="cache file to create or extend")
    detect.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="worker processes (default: all cores)")
    detect.add_argument("--max-faces", type=int, default=4, metavar="N", help="most faces per photo (default: 4)")

    preview = sub.add_parser("preview", help="a contact sheet of N random photos from SRC, masked")
    preview.add_argument("src", type=Path, help="a folder (searched recursively) or one photo")
    preview.add_argument("--out", type=Path, required=True, help="PNG to write")
    preview.add_argument("-n", "--count", type=int, default=24, help="photos on the sheet (default: 24)")
    preview.add_argument("--columns", type=int, default=8, help="tiles per row (default: 8)")
    preview.add_argument("--size", type=int, default=160, help="tile size in px, 16..2048 (default: 160)")
    _add_style_arguments(preview)

    demo = sub.add_parser("demo", help="render the bundled sample faces in every style into a contact sheet")
    demo.add_argument("--out", type=Path, default=Path("demo-out/contact-sheet.png"), help="PNG to write")
    demo.add_argument("--seed", type=int, default=0, help="global seed (default: 0)")
    demo.add_argument("--size", type=int, default=160, help="tile size in px, 16..2048 (default: 160)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GLOG_minloglevel", "2")
    commands = {"render": cmd_render, "detect": cmd_detect, "preview": cmd_preview, "demo": cmd_demo}
    try:
        _validate(args)
        return commands[args.command](args)
    except UsageError as exc:
        print(f"maskgen {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:
        print(f"maskgen {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _stop_children()
        print("\ninterrupted; run the same command with --resume to finish", file=sys.stderr)
        return EXIT_INTERRUPTED
    except WorkersDying as exc:
        print(f"maskgen {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_WORKERS_DYING


def _stop_children() -> None:
    """Stop any worker process still running after Ctrl-C (a pool interrupted while it was starting up, say):
    Python's exit would otherwise wait for it for good. Its output is written atomically, so nothing is torn."""
    for child in multiprocessing.active_children():
        child.terminate()
    for child in multiprocessing.active_children():
        child.join(timeout=5)


# --- render ------------------------------------------------------------------------------------------------

def _source(src: Path) -> tuple[Path, str | None]:
    """The folder outputs are relative to, and the file name when SRC is one photo (else None)."""
    if not src.exists():
        raise UsageError(f"SRC does not exist: {src}")
    if src.is_file():
        if not is_image_path(src):
            raise UsageError(f"SRC is a file but not an image ({' '.join(sorted(IMAGE_SUFFIXES))}): {src}")
        if not os.access(src, os.R_OK):
            raise UsageError(f"SRC is not readable: {src}")
        return src.parent, src.name
    if not src.is_dir():
        raise UsageError(f"SRC is neither a folder nor a file: {src}")
    if not os.access(src, os.R_OK | os.X_OK):
        raise UsageError(f"SRC is not readable: {src}")
    return src, None


def _tasks(root: Path, name: str | None) -> list[Task]:
    return [Task(name)] if name is not None else scan_tree(root)


def _check_dst(src: Path, root: Path, single: bool, dst: Path, args: argparse.Namespace) -> None:
    if args.resume and args.overwrite:
        raise UsageError("--resume and --overwrite exclude each other: continue the run in DST, or start again")
    src_r, root_r, dst_r = src.resolve(), root.resolve(), dst.resolve()
    if single and dst_r == root_r:
        raise UsageError("DST must not be the folder SRC is in (the output would replace the photo)")
    if not single and (dst_r == src_r or src_r in dst_r.parents):
        raise UsageError("DST must not be SRC or lie inside it (outputs would be read back as inputs)")
    if dst.exists() and not dst.is_dir():
        raise UsageError(f"DST exists and is not a folder: {dst}")
    if not args.dry_run and dst.exists() and any(dst.iterdir()) and not (args.resume or args.overwrite):
        raise UsageError(f"DST is not empty: {dst}; use --resume to continue a run there, or --overwrite")


def _check_texture_dirs(folders) -> None:
    for folder in folders:
        if not Path(folder).exists():
            raise UsageError(f"texture folder not found: {folder}")
        if not Path(folder).is_dir():
            raise UsageError(f"--textures takes folders of images; not a folder: {folder}")


def _check_writable(folder: Path, shown: str) -> None:
    """Create `folder` and write (and remove) a file in it, so a place nobody may write to is refused in one
    line before any work, not found out photo by photo (`shown` names it: "DST x", "--out y")."""
    import tempfile

    blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:  # mkdir would only say "File exists" or "Not a directory"
        raise UsageError(f"cannot write to {shown}: {blocking} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".maskgen-write-check-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write to {shown}: {exc.strerror or exc}") from None


def _check_cache(path: Path) -> None:
    """A --cache file that is not a landmark cache (SQLite) is refused before any work: every worker would
    otherwise fail on it after DST was set up."""
    import sqlite3

    if path.exists():
        try:
            with contextlib.closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as connection:
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise UsageError(f"--cache {path} is not a landmark cache: {exc}") from None


# The options a run's outputs depend on, as recorded in DST/run.json: a resume must repeat them. (--workers,
# --engine, --address, --limit, --manifest, --cache and --dry-run change no output byte and may differ.)
RUN_OPTIONS = {"src": "SRC", "style": "--style", "seed": "--seed", "per_image": "--per-image",
               "format": "--format", "quality": "--quality", "wear": "--wear", "top": "--top",
               "chin_drop": "--chin-drop", "textures": "--textures", "save_occlusion": "--save-occlusion",
               "max_faces": "--max-faces", "keep_unmasked": "--keep-unmasked"}


def _run_options(args: argparse.Namespace, options: RenderOptions) -> dict[str, Any]:
    values = {"src": str(args.src.resolve()), "style": options.style, "seed": options.seed,
              "per_image": options.per_image, "format": options.image_format, "quality": options.quality,
              "wear": _wear(args.wear), "top": args.top, "chin_drop": args.chin_drop,
              "textures": list(options.texture_dirs), "save_occlusion": options.save_occlusion,
              "max_faces": options.max_faces, "keep_unmasked": options.keep_unmasked}
    return json.loads(json.dumps(values))  # as it reads back from run.json (tuples as lists)


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _check_resume(dst: Path, current: dict[str, Any]) -> None:
    """Refuse a resume whose output-changing options differ from those recorded when the run started."""
    path = dst / RUN
    if path.exists():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))["options"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"cannot read the recorded options in {path} ({exc}); use --overwrite to start "
                             f"again") from exc
    elif (dst / MANIFEST).exists():  # a run from before run.json: its summary has the style and seed at least
        try:
            summary = json.loads((dst / SUMMARY).read_text(encoding="utf-8"))
            recorded = {"style": summary["style"], "seed": summary["seed"]}
        except (OSError, ValueError, KeyError, TypeError):
            recorded = {}
        print(f"maskgen render: warning: {path} is missing (a run from an older maskgen); only "
              + (" and ".join(RUN_OPTIONS[k] for k in recorded) or "none") + " of the options can be checked",
              file=sys.stderr)
    else:
        return
    differences = [f"{name}: {_show(current[key])} != {_show(recorded[key])} recorded"
                   for key, name in RUN_OPTIONS.items() if key in recorded and current[key] != recorded[key]]
    if differences:
        raise UsageError("cannot --resume with other options than the run in DST (" + "; ".join(differences)
                         + "); repeat the recorded options (DST/run.json), or use --overwrite to start again")


def _check_clashes(tasks: list[Task], options: RenderOptions) -> None:
    """Refuse two photos that would write the same output (x.png and x.gif; x.png and x.jpg with --format)."""
    first: dict[str, str] = {}
    clashes = []
    for task in tasks:
        if task.is_image and task.error is None:
            out = output_relpath(task.relpath, 0, options.per_image, options.image_format)
            if out in first:
                clashes.append(f"{first[out]} and {task.relpath} -> {out}")
            first.setdefault(out, task.relpath)
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise UsageError(f"two photos would write the same output: {clashes[0]}{more}; rename one of them")


def cmd_render(args: argparse.Namespace) -> int:
    root, single = _source(args.src)
    _check_dst(args.src, root, single is not None, args.dst, args)
    options = RenderOptions(
        src=str(root.resolve()), dst=str(args.dst.resolve()), style=args.style, seed=args.seed,
        per_image=args.per_image, image_format=args.image_format, save_occlusion=args.save_occlusion,
        cache=str((args.cache or args.dst / "landmarks.sqlite").resolve()), placement=_placement(args),
        texture_dirs=tuple(str(Path(t).resolve()) for t in args.textures), max_faces=args.max_faces,
        quality=args.quality, keep_unmasked=args.keep_unmasked)
    _check_texture_dirs(options.texture_dirs)
    run_options = _run_options(args, options)
    dst = Path(options.dst)
    if args.resume:
        _check_resume(dst, run_options)

    tasks = _tasks(root, single)
    if args.limit is not None:
        tasks = tasks[: args.limit]
    _check_clashes(tasks, options)
    journal = ManifestJournal(dst)
    previous = journal.load() if args.resume else {}
    stale = journal.load() if args.overwrite else {}  # the earlier run's records: its outputs are removed
    plan = plan_run(tasks, previous, dst, options.per_image, VARIANT_CHUNK)
    images = sum(t.is_image for t in tasks if t.relpath in plan.planned)
    if args.dry_run:
        stale_outputs = sum(bool(r.get(k)) for recs in stale.values() for r in recs for k in ("output", "occlusion"))
        others = len(plan.planned) - images  # one record each
        print(f"would render {images} images ({plan.outputs - others} outputs; {others} other files "
              f"listed as skipped; {plan.files_done} already done) from {args.src} into {args.dst} with style "
              f"{args.style}, {args.per_image} variant(s) each"
              + (f"; would first remove {stale_outputs} files of the run in DST" if stale_outputs else ""))
        todo = [t for t in tasks if t.relpath in plan.planned]
        for task in todo[:20]:
            print(f"  {task.relpath}" + ("" if task.is_image else "  (skipped: not an image)"))
        if len(todo) > 20:
            print(f"  ... and {len(todo) - 20} more")
        return EXIT_OK
    if not tasks or not any(t.is_image for t in tasks):
        print(f"maskgen render: no image files under {args.src}", file=sys.stderr)
        return EXIT_NOTHING_DONE
    if args.engine == "ray":  # before DST is touched, so a rerun once Ray is fixed needs no --resume
        from .ray_engine import check_ray

        check_ray(args.address)

    _check_cache(Path(options.cache))
    _check_writable(dst, f"DST {args.dst}")
    if args.overwrite:
        removed = remove_outputs(dst, (r for recs in stale.values() for r in recs))
        if stale:
            (dst / "manifest.csv").unlink(missing_ok=True)
        if removed:
            print(f"removed {removed} files of the earlier run in {args.dst}")
    if args.overwrite or not (args.resume and (dst / RUN).exists()):
        record = {"maskgen": __version__, "command": " ".join(sys.argv), "options": run_options}
        write_bytes_atomic(dst / RUN, (json.dumps(record, indent=2) + "\n").encode())
    if args.resume or args.overwrite:
        journal.compact(plan.keep)  # drop torn lines and records of outputs about to be redone
        remove_partial_writes(dst)  # and the half-written files of a killed run
    summary = Summary(resumed=plan.files_done)
    started = time.perf_counter()
    results = iter(())
    try:
        nodes: dict[str, int] = {}
        if args.engine == "ray":
            from .ray_engine import run_ray

            results = run_ray(plan.todo, options, args.workers, args.address, nodes_seen=nodes)
        else:
            results = run_local(plan.todo, options, args.workers)
        remaining = dict(plan.planned)  # outputs still to come, by source
        with tqdm(total=plan.outputs, unit="output", desc="masking", dynamic_ncols=True) as bar:
            for records in results:
                if not records:
                    continue
                source = records[0]["source"]
                if records[0].get("variant") is None:  # the file ended as a whole (each of its tasks says so)
                    if source not in remaining:
                        continue
                    count, files = remaining.pop(source), 1
                else:
                    count = len(records)
                    left = remaining.get(source, 0) - count
                    files = int(source in remaining and left <= 0)
                    if left <= 0:
                        remaining.pop(source, None)
                    else:
                        remaining[source] = left
                journal.append(records)
                summary.add(records, files)
                for r in records:
                    if r["status"] != "rendered":
                        log.info("%s: %s (%s)", r["source"], r["status"], r["reason"])
                bar.update(count)
    finally:
        # Ctrl-C lands here while the engine's generator waits at a yield: closing it stops the workers now
        # (an open pool would be joined at interpreter exit, waiting for workers nobody tells to stop).
        results.close()
        journal.close()
        summary.seconds = time.perf_counter() - started
    recorded = journal.load()
    if args.manifest == "csv":
        write_csv_manifest(dst, [r for recs in recorded.values() for r in recs])
    totals = Summary(resumed=plan.files_done, seconds=summary.seconds)
    for recs in recorded.values():
        totals.add(recs)
    report = {"command": " ".join(sys.argv), "this_run": summary.as_dict(), "all": totals.as_dict(),
              "style": args.style, "seed": args.seed, "workers": args.workers, "engine": args.engine,
              "options": run_options}
    if args.engine == "ray":
        report["ray_files_per_node"] = nodes
    write_bytes_atomic(dst / SUMMARY, (json.dumps(report, indent=2) + "\n").encode())
    for line in summary.lines():
        print(line)
    print(f"manifest: {journal.path}")
    if totals.counts.get("rendered", 0) == 0:
        return EXIT_NOTHING_DONE
    if summary.counts.get("failed", 0):
        return EXIT_SOME_FAILED
    return EXIT_OK


def _init_worker() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    os.environ.setdefault("GLOG_minloglevel", "2")
    _exit_with_parent()
    _init_worker_inline()


def _exit_with_parent(poll_seconds: float = PARENT_POLL_SECONDS) -> None:
    """End this worker once its parent is gone (killed, or stopped by a batch scheduler or the memory killer):
    an orphaned worker would otherwise go on holding its memory for good. The parent's death re-parents the
    worker, which a watcher thread notices."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:
                os._exit(EXIT_INTERRUPTED)

    threading.Thread(target=watch, name="maskgen-parent-watch", daemon=True).start()


def _process(args: tuple[Task, RenderOptions]) -> list[dict[str, Any]]:
    return process_file(*args)


def run_local(tasks: list[Task], options: RenderOptions, workers: int, process=None):
    """Lists of records as they finish, in any order (each output depends only on its own seed): one record
    per output in one process, one task's records (a file, or a run of at most VARIANT_CHUNK of its variants)
    with several.

    A worker process that dies (the kernel's memory killer, a crash in native code) takes the pool with it and
    every file then in flight: those are tried again one at a time in a fresh process, so only a file that
    kills its worker by itself ends as "failed" (which a resume retries); the run goes on (`died_alone`).
    `process`: what a worker runs for each (task, options), `_process` unless a test swaps it."""
    process = process or _process
    if not tasks:
        return
    if workers <= 1:
        _init_worker_inline()
        for task in tasks:
            for record in iter_process_file(task, options):
                yield [record]
        return
    pending = collections.deque(tasks)
    deaths_in_a_row = 0
    while pending:
        suspects, _ = yield from _pool_pass(pending, options, workers, process, CHUNK_FILES, IN_FLIGHT_PER_WORKER)
        suspects = collections.deque(suspects)
        while suspects:  # one at a time in one process, so a death names its file
            culprit, finished = yield from _pool_pass(suspects, options, 1, process, 1, 1)
            deaths_in_a_row = 0 if finished else deaths_in_a_row
            for task in culprit:
                deaths_in_a_row += 1
                yield died_alone(task, deaths_in_a_row)


def _pool_pass(pending: collections.deque, options: RenderOptions, workers: int, process, chunk_files: int,
               chunks_per_worker: int):
    """Render tasks from `pending` in a pool of spawned workers, yielding their records, until it is empty or
    the pool breaks. Returns the tasks whose results a broken pool lost (the rest stay in `pending`) and how
    many tasks finished.

    Tasks travel in chunks, a few chunks in flight per worker: a round trip per task kept the workers waiting
    (a fifth fewer faces/s than the multiprocessing.Pool this replaced, measured side by side)."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    size = chunk_files if options.per_image == 1 else 1  # several variants per task already: report each at once
    # spawn: fork would copy MediaPipe's threads half-initialised
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker)
    in_flight: dict[Any, list[Task]] = {}
    finished = 0
    try:
        while pending or in_flight:
            while pending and len(in_flight) < chunks_per_worker * workers:
                chunk = [pending.popleft() for _ in range(min(size, len(pending)))]
                in_flight[pool.submit(_process_chunk, chunk, options, process)] = chunk
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            if any(isinstance(future.exception(), BrokenProcessPool) for future in done):
                lost = []
                for future, chunk in in_flight.items():  # results that came in before the break still count
                    if future.done() and future.exception() is None:
                        finished += len(chunk)
                        yield from future.result()
                    else:
                        lost.extend(chunk)
                return lost, finished
            for future in done:
                finished += len(in_flight.pop(future))
                yield from future.result()
        return [], finished
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: the files being written finish (atomically)


def _process_chunk(tasks: list[Task], options: RenderOptions, process) -> list[list[dict[str, Any]]]:
    return [process((task, options)) for task in tasks]


def _init_worker_inline() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would only contend


# --- detect ------------------------------------------------------------------------------------------------

def _detect_one(args: tuple[str, str, str, int]) -> tuple[str, str | None]:
    """One photo through render's own stage one (same reading, size check and cache), so a file is classed
    the same by both commands."""
    relpath, src, cache_path, max_faces = args
    found = detect_file(Task(relpath), RenderOptions(src=src, dst="", cache=cache_path, max_faces=max_faces))
    if found.early is not None:
        return relpath, f"{found.early[0]['status']}: {found.early[0]['reason']}"
    return relpath, None if len(found.landmarks) else "no face"


def cmd_detect(args: argparse.Namespace) -> int:
    root, single = _source(args.src)
    from .cache import LandmarkCache

    LandmarkCache(args.cache, root=root)  # create the schema once, before workers race to
    tasks = [t for t in _tasks(root, single) if t.is_image]
    if not tasks:
        print(f"maskgen detect: no image files under {args.src}", file=sys.stderr)
        return EXIT_NOTHING_DONE
    jobs = [(t.relpath, str(root.resolve()), str(args.cache.resolve()), args.max_faces) for t in tasks]
    problems: dict[str, int] = {}
    if args.workers <= 1:
        _init_worker_inline()
        results = map(_detect_one, jobs)
        pool = None
    else:
        pool = multiprocessing.get_context("spawn").Pool(args.workers, initializer=_init_worker)
        results = pool.imap_unordered(_detect_one, jobs, chunksize=8)
    try:
        for relpath, problem in tqdm(results, total=len(jobs), unit="file", desc="detecting"):
            if problem:
                kind = problem.split(":")[0]
                problems[kind] = problems.get(kind, 0) + 1
                log.info("%s: %s", relpath, problem)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    found = len(jobs) - sum(problems.values())
    parts = [f"{len(jobs)} images: face found in {found} ({100.0 * found / len(jobs):.1f} %)"]
    parts += [f"{kind}: {count}" for kind, count in sorted(problems.items())]
    print(", ".join(parts) + f"; cache: {args.cache}")
    return EXIT_OK if found else EXIT_NOTHING_DONE


# --- preview and demo --------------------------------------------------------------------------------------

def cmd_preview(args: argparse.Namespace) -> int:
    from .render import render
    from .sheet import contact_sheet

    root, single = _source(args.src)
    placement = _placement(args)
    _check_texture_dirs(args.textures)
    if args.out.is_dir():
        raise UsageError(f"--out is a folder, not an image file: {args.out}")
    _check_writable(args.out.parent, f"--out {args.out}")
    files = [root / t.relpath for t in _tasks(root, single) if t.is_image]
    if not files:
        print(f"maskgen preview: no image files under {args.src}", file=sys.stderr)
        return EXIT_NOTHING_DONE
    rng = np.random.default_rng(args.seed)
    picks = [files[i] for i in rng.choice(len(files), size=min(args.count, len(files)), replace=False)] \
        if len(files) > 1 else files * args.count
    images, captions = [], []
    unreadable: set[Path] = set()
    for index, path in enumerate(tqdm(picks, unit="photo", desc="preview")):
        if path in unreadable:
            continue
        try:
            image = read_image(path)
        except ImageError as exc:
            log.warning("%s", exc)
            unreadable.add(path)
            continue
        result = render(image, style=args.style, seed=file_seed(args.seed, str(path), index), placement=placement,
                        texture_dirs=args.textures, max_faces=args.max_faces)
        images.append(result.image)
        kinds = sorted({p["kind"] for p in result.params if p.get("status") == "masked"})
        captions.append(",".join(kinds) if kinds else (result.reason or "no face"))
    if not images:
        print(f"maskgen preview: none of the photos picked could be read ({len(unreadable)} unreadable, "
              f"see the warnings above)", file=sys.stderr)
        return EXIT_NOTHING_DONE
    sheet = contact_sheet(images, captions, columns=args.columns, size=args.size)
    write_image(args.out, sheet)
    print(f"wrote {args.out} ({len(images)} photos)")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Every bundled sample in every style: the first thing a new user sees (`make demo`)."""
    from .kinds import STYLES
    from .render import render
    from .samples import load_sample, sample_names
    from .sheet import contact_sheet

    names = sample_names()
    images, captions = [], []
    for row, name in enumerate(tqdm(names, unit="sample", desc="demo")):
        image = load_sample(name)
        for column, style in enumerate(STYLES):
            result = render(image, style=style, seed=args.seed * 1000 + row * 100 + column)
            images.append(result.image)
            kinds = [p["kind"] for p in result.params if p.get("status") == "masked"]
            captions.append(f"{style}: {kinds[0]}" if style == "varied" and kinds else style)
    sheet = contact_sheet(images, captions, columns=len(STYLES), size=args.size)
    write_image(args.out, sheet)
    print(f"wrote {args.out}: {len(names)} sample faces x {len(STYLES)} styles")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
