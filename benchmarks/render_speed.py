"""Rendering speed: detection, rendering from cached landmarks (varied vs the mlfw-white baseline, on 250 px
photos, on the same faces at the 112 px training resolution and at other sizes, with a fit of the fixed cost
per mask that no per-pixel speed-up removes), and dataset throughput with 1 and 2 worker
processes (and Ray). Writes benchmarks/results/render_speed.json.

    python benchmarks/render_speed.py                      # 250 px photos from ../shared/data if present
    python benchmarks/render_speed.py --faces 200 --throughput-files 400

Speeds are reported as ratios measured side by side in one run: these machines are noisy.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import maskgen  # noqa: E402
from maskgen.batch import RenderOptions, scan_tree  # noqa: E402
from maskgen.cli import run_local  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))  # provenance, beside this script
import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKGEN_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
REPEATS = 3  # timings per face and style; the best one counts


def machine() -> dict:
    return provenance.machine(processor=platform.processor() or platform.machine(),
                              python=platform.python_version(), opencv_threads=cv2.getNumThreads())


def photo_paths(count: int) -> tuple[list[Path], str]:
    labels = DATA / "lfw-expressions" / "labels.csv"
    if labels.exists():
        rows = list(csv.DictReader(open(labels)))
        picks = np.random.default_rng(0).choice(len(rows), min(count, len(rows)), replace=False)
        return [DATA / "lfw-expressions" / "images" / rows[i]["image"] for i in picks], "lfw-expressions/images"
    return list(maskgen.sample_paths()) * (count // 8 + 1), "bundled samples"


def load_250(paths: list[Path]) -> list[np.ndarray]:
    images = []
    for path in paths:
        image = maskgen.read_image(path)
        if max(image.shape[:2]) != 250:
            scale = 250 / max(image.shape[:2])
            image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
        images.append(image)
    return images


def time_each(fn, items) -> list[float]:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def resized(work: list, size: int) -> list:
    """Photos scaled so their longer side is `size` px, their faces scaled alike (as `FaceMask` does behind an
    `A.Resize`)."""
    out = []
    for image, faces in work:
        scale = size / max(image.shape[:2])
        small = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
        out.append((small, [f.scaled_to(small.shape[:2]) for f in faces]))
    return out


def time_styles(work: list) -> dict[str, float]:
    """Median ms per face of each style. The styles are interleaved so drift of the machine hits both alike,
    and each face keeps its best of REPEATS (as timeit does): on a shared machine the slower repeats measure
    the neighbours, not the renderer."""
    rounds: dict[str, list[float]] = {"varied": [], "mlfw-white": []}
    for index, (image, found) in enumerate(work):
        for style in rounds:
            best = float("inf")
            for _ in range(REPEATS):
                start = time.perf_counter()
                maskgen.render(image, found, style=style, seed=index)
                best = min(best, (time.perf_counter() - start) * 1000.0 / len(found))
            rounds[style].append(best)
    return {style: statistics.median(times) for style, times in rounds.items()}


def fixed_cost(medians: dict[int, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per style, the least-squares line ms = fixed + per_kilopixel * (photo pixels / 1000) through the medians
    at each size. The intercept is what a mask costs whatever the photo's size (the Python and numpy calls of
    the pipeline on a grid of fixed size): no speed-up of the per-pixel work can take a face below it."""
    sizes = sorted(medians)
    kilopixels = np.array([size * size / 1000.0 for size in sizes])  # lfw-expressions photos are square
    fits = {}
    for style in medians[sizes[0]]:
        slope, intercept = np.polyfit(kilopixels, [medians[size][style] for size in sizes], 1)
        fits[style] = {"fixed_ms": float(intercept), "ms_per_kilopixel": float(slope)}
    return fits


def bench_single(count: int, train_size: int, sweep: tuple[int, ...] = ()) -> dict:
    cv2.setNumThreads(1)
    paths, source = photo_paths(count)
    images = load_250(paths)
    maskgen.detect_faces(images[0])  # build the graph outside the timing
    detect_ms = time_each(maskgen.detect_faces, images)
    faces = [maskgen.detect_faces(im) for im in images]
    work = [(im, f) for im, f in zip(images, faces) if f]
    result = {"source": source, "photos": len(images), "faces_found": len(work), "repeats_per_face": REPEATS,
              "detect_ms_median": statistics.median(detect_ms)}
    full, small = time_styles(work), time_styles(resized(work, train_size))
    for style, ms in full.items():
        result[f"render_ms_per_face_median[{style}]"] = ms
        result[f"render_faces_per_second[{style}]"] = 1000.0 / ms
    for style, ms in small.items():
        result[f"render_ms_per_face_median_{train_size}px[{style}]"] = ms
    result["varied_over_mlfw_white_time_ratio"] = full["varied"] / full["mlfw-white"]
    result["detect_over_render_varied_time_ratio"] = result["detect_ms_median"] / full["varied"]
    result[f"varied_{train_size}px_over_250px_time_ratio"] = small["varied"] / full["varied"]
    if sweep:
        medians = {250: full, train_size: small} | {size: time_styles(resized(work, size))
                                                     for size in sweep if size not in (250, train_size)}
        result["median_ms_per_face_by_size"] = {str(size): medians[size] for size in sorted(medians)}
        result["fixed_cost_fit"] = fixed_cost(medians)
    return result


def timed_run(records) -> dict:
    """Drain an engine's stream of per-file records: seconds in all, seconds to the first file, faces."""
    start = time.perf_counter()
    first, faces = None, 0
    for recs in records:
        first = time.perf_counter() - start if first is None else first
        faces += sum(r.get("masked_faces", 0) for r in recs)
    seconds = time.perf_counter() - start
    return {"faces_per_second": faces / seconds, "seconds": seconds, "seconds_to_first_file": first}


def warm_folder(tmp: Path, files: int) -> tuple[Path, Path, list, str]:
    """Up to `files` photos copied into `tmp`/src and rendered once, which builds their landmark cache: the
    folder, the cache, its tasks and where the photos came from."""
    paths, source = photo_paths(files)
    src = tmp / "src"
    src.mkdir()
    for i, path in enumerate(paths):
        shutil.copy(path, src / f"{i:05d}_{path.name}")
    cache = tmp / "landmarks.sqlite"
    tasks = scan_tree(src)
    options = RenderOptions(src=str(src), dst=str(tmp / "warm-up"), style="varied", seed=1, cache=str(cache))
    for _ in run_local(tasks, options, os.cpu_count() or 1):
        pass
    return src, cache, tasks, source


def bench_throughput(files: int, ray_engine: bool) -> dict:
    """Faces/s of `maskgen render` over a folder, with the landmark cache already built."""
    with tempfile.TemporaryDirectory() as tmp:
        src, cache, tasks, source = warm_folder(Path(tmp), files)
        result: dict = {"source": source, "files": len(tasks)}
        for workers in (1, 2):
            options = RenderOptions(src=str(src), dst=str(Path(tmp) / f"dst-{workers}"), style="varied", seed=1,
                                    cache=str(cache))
            run = timed_run(run_local(tasks, options, workers))
            result.update({f"workers{workers}_{key}": value for key, value in run.items()})
        result["speedup_1_to_2_workers"] = result["workers2_faces_per_second"] / result["workers1_faces_per_second"]
        if ray_engine:
            result.update(bench_ray(tasks, src, cache, Path(tmp), result["workers2_faces_per_second"]))
        return result


def bench_ray(tasks, src: Path, cache: Path, tmp: Path, local_faces_per_second: float) -> dict:
    """Ray engine on a local 2-CPU Ray (started before the clock, as a running cluster would be). Its actors
    start inside the clock, as the local engine's processes do."""
    import ray

    from maskgen.ray_engine import run_ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        options = RenderOptions(src=str(src), dst=str(tmp / "dst-ray"), style="varied", seed=1, cache=str(cache))
        run = timed_run(run_ray(tasks, options, 2))
    finally:
        ray.shutdown()
    ratio = run["faces_per_second"] / local_faces_per_second
    return {**{f"ray_workers2_{key}": value for key, value in run.items()},
            "ray_over_local_throughput_ratio": ratio, "ray_overhead_fraction": 1.0 - ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=200, help="photos for the single-thread timings")
    parser.add_argument("--throughput-files", type=int, default=300,
                        help="photos for the engine runs (0: skip; more than the dataset holds: all of it)")
    parser.add_argument("--ray", action="store_true", help="also time the Ray engine (needs maskgen[ray])")
    parser.add_argument("--train-size", type=int, default=112,
                        help="also time the same faces resized to this many px (the training resolution)")
    parser.add_argument("--sweep", default="64,160",
                        help="more photo sizes, px, comma-separated, for the fit of each mask's fixed cost ('': none)")
    parser.add_argument("--out", type=Path, default=RESULTS / "render_speed.json")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # the single-thread timings' setting, as machine() records it (engines set their own)
    report = {"command": provenance.command(),
              "date": provenance.today(), "machine": machine(), "seed": 0,
              "single_thread_250px": bench_single(args.faces, args.train_size,
                                                  tuple(int(v) for v in args.sweep.split(",") if v.strip()))}
    if args.throughput_files:
        report["throughput_cached_landmarks"] = bench_throughput(args.throughput_files, args.ray)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
