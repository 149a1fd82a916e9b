"""`maskgen` command line: render, detect, preview, demo. A thin layer over `maskgen.batch` and the core.

Exit codes: 0 done (individual bad files are listed in the manifest, not fatal); 1 nothing could be done
(no usable image, or every file failed); 2 bad arguments or DST in the way; 130 interrupted (rerun with
--resume to finish).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from . import __version__
from .batch import (
    SUMMARY,
    ManifestJournal,
    RenderOptions,
    Summary,
    Task,
    file_seed,
    process_file,
    scan_tree,
    write_csv_manifest,
)
from .images import ImageError, read_image, write_bytes_atomic, write_image
from .kinds import STYLES, Placement

EXIT_OK, EXIT_NOTHING_DONE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
log = logging.getLogger("maskgen")


class UsageError(Exception):
    """Bad arguments discovered after parsing (exit 2)."""


def _placement(args: argparse.Namespace) -> Placement:
    wear: Any = args.wear
    if "=" in wear:  # "correct=0.8,nose_out=0.1,chin=0.1"
        wear = {k: float(v) for k, v in (part.split("=") for part in wear.split(","))}
    try:
        return Placement(wear=wear, top=args.top, chin_drop=args.chin_drop)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}") from exc
    return low, high


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
    parser.add_argument("--max-faces", type=int, default=4, help="most faces per photo (default: 4)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maskgen", description="Realistic, varied synthetic face masks.")
    parser.add_argument("--version", action="version", version=f"maskgen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every failure as it happens")
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="mask every photo under SRC into DST, mirroring the folder tree",
                            description="Mask every photo under SRC into DST, mirroring its folder tree. "
                                        "Writes DST/manifest.jsonl (one line per output) and DST/summary.json.")
    render.add_argument("src", type=Path)
    render.add_argument("dst", type=Path)
    _add_style_arguments(render)
    render.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all cores)")
    render.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local processes, or Ray Data on a Ray cluster (pip install 'maskgen[ray]')")
    render.add_argument("--address", default=None,
                        help="with --engine ray: join this cluster (e.g. 10.0.0.5:6379); default: start a "
                             "local Ray with --workers CPUs")
    render.add_argument("--per-image", type=int, default=1, metavar="K", help="K masked variants per photo")
    render.add_argument("--format", dest="image_format", default=None, choices=("jpg", "png", "webp", "bmp", "tif"),
                        help="output format (default: keep each file's own)")
    render.add_argument("--quality", type=int, default=95, help="JPEG quality (default: 95)")
    render.add_argument("--resume", action="store_true", help="continue an interrupted run in DST")
    render.add_argument("--overwrite", action="store_true", help="render into a non-empty DST anyway")
    render.add_argument("--limit", type=int, default=None, help="only the first N files (sorted)")
    render.add_argument("--dry-run", action="store_true", help="list what would be done, write nothing")
    render.add_argument("--manifest", choices=("jsonl", "csv"), default="jsonl",
                        help="also write manifest.csv when csv (the JSONL journal is always kept)")
    render.add_argument("--save-occlusion", action="store_true",
                        help="write NAME.occlusion.png (255 = covered) beside each output")
    render.add_argument("--cache", type=Path, default=None,
                        help="landmark cache file (default: DST/landmarks.sqlite)")

    detect = sub.add_parser("detect", help="build the landmark cache for every photo under SRC")
    detect.add_argument("src", type=Path)
    detect.add_argument("--cache", type=Path, required=True, help="cache file to create or extend")
    detect.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    detect.add_argument("--max-faces", type=int, default=4)

    preview = sub.add_parser("preview", help="a contact sheet of N random photos from SRC, masked")
    preview.add_argument("src", type=Path, help="a folder (searched recursively) or one photo")
    preview.add_argument("--out", type=Path, required=True, help="PNG to write")
    preview.add_argument("-n", "--count", type=int, default=24)
    preview.add_argument("--columns", type=int, default=8)
    preview.add_argument("--size", type=int, default=160, help="tile size in px")
    _add_style_arguments(preview)

    demo = sub.add_parser("demo", help="render the bundled sample faces in every style into a contact sheet")
    demo.add_argument("--out", type=Path, default=Path("demo-out/contact-sheet.png"))
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--size", type=int, default=160)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GLOG_minloglevel", "2")
    commands = {"render": cmd_render, "detect": cmd_detect, "preview": cmd_preview, "demo": cmd_demo}
    try:
        return commands[args.command](args)
    except UsageError as exc:
        print(f"maskgen {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:
        print(f"maskgen {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command with --resume to finish", file=sys.stderr)
        return EXIT_INTERRUPTED


# --- render ------------------------------------------------------------------------------------------------

def _check_dirs(src: Path, dst: Path, resume: bool, overwrite: bool, dry_run: bool) -> None:
    if not src.exists():
        raise UsageError(f"SRC does not exist: {src}")
    if not src.is_dir():
        raise UsageError(f"SRC is not a folder: {src}")
    if not os.access(src, os.R_OK | os.X_OK):
        raise UsageError(f"SRC is not readable: {src}")
    src_r, dst_r = src.resolve(), dst.resolve()
    if dst_r == src_r or src_r in dst_r.parents:
        raise UsageError("DST must not be SRC or lie inside it (outputs would be read back as inputs)")
    if dst.exists() and not dst.is_dir():
        raise UsageError(f"DST exists and is not a folder: {dst}")
    if not dry_run and dst.exists() and any(dst.iterdir()) and not (resume or overwrite):
        raise UsageError(f"DST is not empty: {dst}; use --resume to continue a run there, or --overwrite")


def cmd_render(args: argparse.Namespace) -> int:
    _check_dirs(args.src, args.dst, args.resume, args.overwrite, args.dry_run)
    if args.per_image < 1 or args.workers < 1:
        raise UsageError("--per-image and --workers must be at least 1")
    options = RenderOptions(
        src=str(args.src.resolve()), dst=str(args.dst.resolve()), style=args.style, seed=args.seed,
        per_image=args.per_image, image_format=args.image_format, save_occlusion=args.save_occlusion,
        cache=str((args.cache or args.dst / "landmarks.sqlite").resolve()), placement=_placement(args),
        texture_dirs=tuple(str(Path(t).resolve()) for t in args.textures), max_faces=args.max_faces,
        quality=args.quality)
    for folder in options.texture_dirs:
        if not Path(folder).is_dir():
            raise UsageError(f"texture folder not found: {folder}")

    tasks = scan_tree(args.src)
    if args.limit is not None:
        tasks = tasks[: args.limit]
    dst = Path(options.dst)
    journal = ManifestJournal(dst)
    previous = journal.load() if args.resume else {}
    todo = [t for t in tasks if not (t.relpath in previous and journal.complete(previous[t.relpath], dst,
                                                                                options.per_image))]
    done_before = len(tasks) - len(todo)
    images = sum(t.is_image for t in todo)
    if args.dry_run:
        print(f"would render {images} images ({len(todo) - images} other files listed as skipped; "
              f"{done_before} already done) from {args.src} into {args.dst} with style {args.style}, "
              f"{args.per_image} variant(s) each")
        for task in todo[:20]:
            print(f"  {task.relpath}" + ("" if task.is_image else "  (skipped: not an image)"))
        if len(todo) > 20:
            print(f"  ... and {len(todo) - 20} more")
        return EXIT_OK
    if not tasks or not any(t.is_image for t in tasks):
        print(f"maskgen render: no image files under {args.src}", file=sys.stderr)
        return EXIT_NOTHING_DONE

    dst.mkdir(parents=True, exist_ok=True)
    redo = {t.relpath for t in todo}
    kept = {t.relpath: previous[t.relpath] for t in tasks if t.relpath in previous and t.relpath not in redo}
    if args.resume or args.overwrite:
        journal.compact(kept)  # drop torn lines and records of files about to be redone
    summary = Summary(resumed=done_before)
    started = time.perf_counter()
    try:
        nodes: dict[str, int] = {}
        if args.engine == "ray":
            from .ray_engine import run_ray

            results = run_ray(todo, options, args.workers, args.address, nodes_seen=nodes)
        else:
            results = run_local(todo, options, args.workers)
        with tqdm(total=len(todo), unit="file", desc="masking", dynamic_ncols=True) as bar:
            for records in results:
                journal.append(records)
                summary.add(records)
                for r in records:
                    if r["status"] != "rendered":
                        log.info("%s: %s (%s)", r["source"], r["status"], r["reason"])
                bar.update(1)
    finally:
        journal.close()
        summary.seconds = time.perf_counter() - started
    recorded = journal.load()
    if args.manifest == "csv":
        write_csv_manifest(dst, [r for recs in recorded.values() for r in recs])
    totals = Summary(resumed=done_before, seconds=summary.seconds)
    for recs in recorded.values():
        totals.add(recs)
    report = {"command": " ".join(sys.argv), "this_run": summary.as_dict(), "all": totals.as_dict(),
              "style": args.style, "seed": args.seed, "workers": args.workers, "engine": args.engine}
    if args.engine == "ray":
        report["ray_files_per_node"] = nodes
    write_bytes_atomic(dst / SUMMARY, (json.dumps(report, indent=2) + "\n").encode())
    for line in summary.lines():
        print(line)
    print(f"manifest: {journal.path}")
    if totals.counts.get("rendered", 0) == 0:
        return EXIT_NOTHING_DONE
    return EXIT_OK


def _init_worker() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    os.environ.setdefault("GLOG_minloglevel", "2")
    _init_worker_inline()


def _process(args: tuple[Task, RenderOptions]) -> list[dict[str, Any]]:
    return process_file(*args)


def run_local(tasks: list[Task], options: RenderOptions, workers: int):
    """Results as they finish, in any order (each file's output depends only on its own seed)."""
    if workers <= 1:
        _init_worker_inline()
        for task in tasks:
            yield process_file(task, options)
        return
    context = multiprocessing.get_context("spawn")  # fork would copy MediaPipe's threads half-initialised
    pool = context.Pool(workers, initializer=_init_worker)
    try:
        yield from pool.imap_unordered(_process, [(t, options) for t in tasks], chunksize=4)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _init_worker_inline() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would only contend


# --- detect ------------------------------------------------------------------------------------------------

def _detect_one(args: tuple[str, str, str, int]) -> tuple[str, str | None]:
    relpath, src, cache_path, max_faces = args
    from .batch import landmark_cache
    from .landmarks import detect_faces

    cache = landmark_cache(cache_path, src)
    path = Path(src) / relpath
    try:
        image = read_image(path)
        faces = cache.faces_for_file(path, lambda _: (detect_faces(image, max_faces), image.shape[:2]))
    except (ImageError, OSError, ValueError) as exc:
        return relpath, f"unreadable: {exc}"
    return relpath, None if faces else "no face"


def cmd_detect(args: argparse.Namespace) -> int:
    if not args.src.is_dir():
        raise UsageError(f"SRC is not a folder: {args.src}")
    from .cache import LandmarkCache

    LandmarkCache(args.cache, root=args.src)  # create the schema once, before workers race to
    tasks = [t for t in scan_tree(args.src) if t.is_image]
    if not tasks:
        print(f"maskgen detect: no image files under {args.src}", file=sys.stderr)
        return EXIT_NOTHING_DONE
    jobs = [(t.relpath, str(args.src.resolve()), str(args.cache.resolve()), args.max_faces) for t in tasks]
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
                problems[problem.split(":")[0]] = problems.get(problem.split(":")[0], 0) + 1
                log.info("%s: %s", relpath, problem)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    found = len(jobs) - sum(problems.values())
    print(f"{len(jobs)} images: face found in {found} ({100.0 * found / len(jobs):.1f} %), "
          + ", ".join(f"{k}: {v}" for k, v in problems.items()) + f"; cache: {args.cache}")
    return EXIT_OK if found else EXIT_NOTHING_DONE


# --- preview and demo --------------------------------------------------------------------------------------

def cmd_preview(args: argparse.Namespace) -> int:
    from .render import render
    from .sheet import contact_sheet

    if args.src.is_file():
        files = [args.src]
    elif args.src.is_dir():
        files = [args.src / t.relpath for t in scan_tree(args.src) if t.is_image]
    else:
        raise UsageError(f"SRC does not exist: {args.src}")
    if not files:
        print(f"maskgen preview: no image files under {args.src}", file=sys.stderr)
        return EXIT_NOTHING_DONE
    rng = np.random.default_rng(args.seed)
    picks = [files[i] for i in rng.choice(len(files), size=min(args.count, len(files)), replace=False)] \
        if len(files) > 1 else files * args.count
    images, captions = [], []
    placement = _placement(args)
    for index, path in enumerate(tqdm(picks, unit="photo", desc="preview")):
        try:
            image = read_image(path)
        except ImageError as exc:
            log.warning("%s", exc)
            continue
        result = render(image, style=args.style, seed=file_seed(args.seed, str(path), index), placement=placement,
                        texture_dirs=args.textures, max_faces=args.max_faces)
        images.append(result.image)
        kinds = sorted({p["kind"] for p in result.params if p.get("status") == "masked"})
        captions.append(",".join(kinds) if kinds else (result.reason or "no face"))
    if not images:
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
