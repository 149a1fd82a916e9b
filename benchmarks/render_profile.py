"""Where a mask's time goes: each stage of `maskgen.render`, in ms per face, on the render_speed protocol
(250 px lfw-expressions photos, cached landmarks, one thread). Writes benchmarks/results/render_profile.json.

    python benchmarks/render_profile.py                  # 200 photos, both styles
    python benchmarks/render_profile.py --size 112       # the same faces resized to 112 px, landmarks scaled

Each stage function is wrapped with a timer for the run; a stage called inside another is counted in the outer
one, so the stages add up to the render. "other" is what no stage covers (bookkeeping in render itself). The
wrappers cost about a microsecond per call, so the total reads slightly above render_speed.json's. To profile
an older checkout with the same stages, put it first on the path (PYTHONPATH=that/checkout); stages it does not
have are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import provenance  # noqa: E402
import render_speed  # noqa: E402

import maskgen  # noqa: E402
from maskgen import composite, geometry, raster  # noqa: E402

render = sys.modules["maskgen.render"]  # the module: `maskgen.render` is also the function's name

ROOT = Path(__file__).resolve().parents[1]
STYLES = ("varied", "mlfw-white")
# (stage name, module, attribute): the names render.py looks up at call time
STAGES = (
    ("draw parameters", render, "draw_params"),
    ("face frame", geometry.FaceFrame, "from_landmarks"),
    ("photo style (noise, blur, cast)", render, "_photo_style"),
    ("geometry (place_mask)", geometry, "place_mask"),
    ("lighting fit", render, "_fit_lighting"),
    ("normals", raster, "vertex_normals"),
    ("rasterise", raster, "rasterize"),
    ("material (albedo, relief)", render, "render_material"),
    ("shade", composite, "shade_fragments"),
    ("cut edge", composite, "edge_coverage"),
    ("mask layer", composite, "fragment_layer"),
    ("straps", composite, "strap_coverage"),
    ("straps", composite, "strap_layer"),  # before 2026-11-30
    ("straps under the mask", composite, "add_under"),
    ("grey", composite, "to_grey"),
    ("half-res blur, upsample", composite, "upsample_layer"),
    ("match photo (blur, grain)", composite, "match_photo"),
    ("shadow", composite, "contact_shadow"),
    ("to float", render, "to_float"),
    ("blend", composite, "blend"),
    ("back to the photo's layout", render, "from_float_rgb"),
)


class StageTimer:
    """Wraps stage functions in place; nested calls are charged to the outermost stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.depth = 0
        self.saved: list[tuple[object, str, object]] = []

    def wrap(self, name: str, owner: object, attribute: str) -> None:
        if not hasattr(owner, attribute):  # a stage of another version of maskgen (to profile an older checkout)
            return
        original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
        function = original.__func__ if isinstance(original, classmethod) else original

        def timed(*args, **kwargs):
            if self.depth:
                return function(*args, **kwargs)
            self.depth += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
                self.depth -= 1

        self.saved.append((owner, attribute, original))
        setattr(owner, attribute, classmethod(timed) if isinstance(original, classmethod) else timed)

    def restore(self) -> None:
        for owner, attribute, original in reversed(self.saved):
            setattr(owner, attribute, original)
        self.saved.clear()


def profile(work: list, style: str, repeats: int) -> dict:
    """Per stage, the mean over faces of each face's time split in its fastest of `repeats` renders (the fastest,
    as render_speed times: on a shared machine the slower repeats measure the neighbours)."""
    per_face: list[dict[str, float]] = []
    for index, (image, faces) in enumerate(work):
        best: dict[str, float] | None = None
        for _ in range(repeats):
            timer = StageTimer()
            for name, owner, attribute in STAGES:
                timer.wrap(name, owner, attribute)
            start = time.perf_counter()
            try:
                maskgen.render(image, faces, style=style, seed=index)
            finally:
                total = time.perf_counter() - start
                timer.restore()
            split = {k: v * 1000.0 / len(faces) for k, v in timer.seconds.items()}
            split["total"] = total * 1000.0 / len(faces)
            if best is None or split["total"] < best["total"]:
                best = split
        per_face.append(best)
    names = list(dict.fromkeys(name for name, _, _ in STAGES))
    means = {name: float(np.mean([f.get(name, 0.0) for f in per_face])) for name in names}
    total = float(np.mean([f["total"] for f in per_face]))
    means["other"] = total - sum(means.values())
    return {"faces": len(per_face), "total_ms_mean": total,
            "total_ms_median": statistics.median(f["total"] for f in per_face),
            "stages_ms_mean": {k: round(v, 4) for k, v in sorted(means.items(), key=lambda kv: -kv[1])},
            "stages_share": {k: round(v / total, 4) for k, v in sorted(means.items(), key=lambda kv: -kv[1])}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=200,
                        help="photos to draw from lfw-expressions (those with a face are timed; default 200)")
    parser.add_argument("--size", type=int, default=250, help="longer side of the photos, px (default 250)")
    parser.add_argument("--repeats", type=int, default=3, help="renders per face; the fastest counts (default 3)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON to write (default: the committed benchmarks/results/render_profile[_SIZEpx].json)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    paths, source = render_speed.photo_paths(args.faces)
    images = render_speed.load_250(paths)
    work = [(im, f) for im in images if (f := maskgen.detect_faces(im))]
    if args.size != 250:
        work = render_speed.resized(work, args.size)
    for style in STYLES:  # warm the caches (grain tile, textures, triangle tables) outside the timing
        maskgen.render(work[0][0], work[0][1], style=style, seed=0)
    report = {"command": provenance.command(),
              "date": provenance.today(), "machine": render_speed.machine(), "source": source,
              "size_px": args.size, "styles": {style: profile(work, style, args.repeats) for style in STYLES}}
    out = args.out or ROOT / "benchmarks" / "results" / (
        "render_profile.json" if args.size == 250 else f"render_profile_{args.size}px.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out} ({args.size} px photos; times from a busy machine read high, compare runs side by side)")
    for style, result in report["styles"].items():
        print(f"{style}: {result['total_ms_mean']:.3f} ms/face mean ({result['faces']} faces, {args.size} px)")
        for name, ms in result["stages_ms_mean"].items():
            print(f"  {ms:7.3f} ms  {100 * result['stages_share'][name]:5.1f} %  {name}")


if __name__ == "__main__":
    main()
