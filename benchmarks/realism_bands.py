"""Realism by band: which information tells `varied` masks from real ones (colour, fine detail, coarse shape)?

    python benchmarks/realism_bands.py            # about 55 min on 2 CPU cores
    # about 30 min: which way the telling detail runs (the filter list is one argument, on one line)
    python benchmarks/realism_bands.py --out benchmarks/results/realism-bands-directional.json --filters \
        blur_along_y_2px_inside_mask_area,blur_along_x_2px_inside_mask_area,blur_along_y_2px_top_edge_rows,blur_along_y_2px_below_top_edge_rows

The two-sample test of `realism.py` (the same crops, classifier, seeds and upper-face control), run again with
one filter applied to *both* sides: greyscale, a low pass (Gaussian blur of 1 or 2 crop pixels), a high pass
(the crop minus its 2 px blur), the 2 px low pass only inside, or only outside, `realism.mask_area`, and a 2 px
blur along one axis only inside it (along y: no structure running across the face; along x: none running down
it), along y also in the top edge's rows or below them only. A filter on both sides takes that information away
from the classifier, so the gap over the (equally filtered) control that is left says how much of the
renderer's realism gap lies in what the filter kept.

This differs from the transplant and ablation probes (docs/benchmarks.md), which change the synthetic side only:
those ask "would this change make the masks more real", this asks "where does the difference lie now".
Writes benchmarks/results/realism-bands.json and realism-bands.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

import maskgen

sys.path.insert(0, str(Path(__file__).resolve().parent))
import provenance  # noqa: E402
import realism  # noqa: E402

Filter = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (crops (N, H, W, 3) uint8, mask areas (N, H, W) bool)


def grey(crops: np.ndarray) -> np.ndarray:
    """Each crop's luma (Rec. 601) in all three channels: no colour left to tell the sides apart by."""
    luma = crops.astype(np.float32) @ maskgen.photo.LUMA
    return np.repeat(np.clip(luma + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def low_pass(crops: np.ndarray, sigma: float) -> np.ndarray:
    """Each crop blurred by a Gaussian of `sigma` crop pixels: only structure wider than that is left."""
    return np.stack([cv2.GaussianBlur(crop, (0, 0), sigma) for crop in crops])


def high_pass(crops: np.ndarray, sigma: float) -> np.ndarray:
    """Each crop minus its `sigma` blur, around mid-grey: only the fine detail is left, no colour or shading."""
    out = [crop.astype(np.float32) - cv2.GaussianBlur(crop.astype(np.float32), (0, 0), sigma) + 127.5
           for crop in crops]
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def low_pass_where(crops: np.ndarray, areas: np.ndarray, sigma: float, inside: bool) -> np.ndarray:
    """`low_pass` only inside each crop's area (or only outside it), faded over a pixel at the area's edge."""
    return blend_where(crops, low_pass(crops, sigma), areas, inside)


def blur_along(crops: np.ndarray, sigma: float, axis: str) -> np.ndarray:
    """Each crop blurred by a Gaussian of `sigma` crop pixels along one axis only: blurring along y ("y")
    wipes out structure that runs across the face (edges, pleats and creases that are near horizontal) and
    keeps structure running down it; "x" the reverse."""
    kernel = cv2.getGaussianKernel(2 * int(np.ceil(3 * sigma)) + 1, sigma)
    identity = np.ones((1, 1), np.float64)
    along_x, along_y = (kernel, identity) if axis == "x" else (identity, kernel)
    return np.stack([cv2.sepFilter2D(crop, -1, along_x, along_y, borderType=cv2.BORDER_REFLECT) for crop in crops])


def blend_where(crops: np.ndarray, filtered: np.ndarray, areas: np.ndarray, inside: bool = True) -> np.ndarray:
    """`filtered` inside each crop's area (or outside it), `crops` elsewhere, faded over a pixel at its edge."""
    weight = np.stack([cv2.GaussianBlur(area.astype(np.float32), (0, 0), 1.0) for area in areas])[..., None]
    if not inside:
        weight = 1.0 - weight
    mixed = crops.astype(np.float32) * (1.0 - weight) + filtered.astype(np.float32) * weight
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


TOP_EDGE_END = 40  # crop rows from realism.BLANK_ROW (29) to here hold a worn mask's top edge (median row 30)


def rows_of(areas: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The areas cut to crop rows [start, stop)."""
    cut = np.zeros_like(areas)
    cut[:, start:stop] = areas[:, start:stop]
    return cut


FILTERS: dict[str, Filter] = {
    "none": lambda crops, areas: crops,
    "grey": lambda crops, areas: grey(crops),
    "low_pass_1px": lambda crops, areas: low_pass(crops, 1.0),
    "low_pass_2px": lambda crops, areas: low_pass(crops, 2.0),
    "high_pass_2px": lambda crops, areas: high_pass(crops, 2.0),
    "low_pass_2px_inside_mask_area": lambda crops, areas: low_pass_where(crops, areas, 2.0, inside=True),
    "low_pass_2px_outside_mask_area": lambda crops, areas: low_pass_where(crops, areas, 2.0, inside=False),
    "blur_along_y_2px_inside_mask_area": lambda crops, areas: blend_where(crops, blur_along(crops, 2.0, "y"), areas),
    "blur_along_x_2px_inside_mask_area": lambda crops, areas: blend_where(crops, blur_along(crops, 2.0, "x"), areas),
    "blur_along_y_2px_top_edge_rows": lambda crops, areas: blend_where(
        crops, blur_along(crops, 2.0, "y"), rows_of(areas, 0, TOP_EDGE_END)),
    "blur_along_y_2px_below_top_edge_rows": lambda crops, areas: blend_where(
        crops, blur_along(crops, 2.0, "y"), rows_of(areas, TOP_EDGE_END, realism.CROP)),
}
DEFAULT_FILTERS = [name for name in FILTERS if not name.startswith("blur_along")]  # the run of 2026-12-03


def banded_gap(filter_: Filter, real: np.ndarray, synthetic: np.ndarray, bare: np.ndarray,
               real_area: np.ndarray, bare_area: np.ndarray, seeds: list[int], control_seeds: list[int],
               epochs: int) -> dict:
    """The two-sample test and the upper-face control, `filter_` applied to both sides of each, and the gap.

    The control is filtered before the lower face is blanked, so it sees the upper face exactly as the
    whole-face test does. Masks are drawn on the unmasked photos, so a synthetic crop's area is its photo's."""
    real_seen = filter_(real, real_area)
    whole = realism.two_sample(real_seen, filter_(synthetic, bare_area), seeds, epochs)
    control = realism.two_sample(realism.blank_lower(real_seen), realism.blank_lower(filter_(bare, bare_area)),
                                 control_seeds, epochs)
    return {"two_sample_whole_face": whole, "control_upper_face_only": control,
            "realism_gap_over_control": whole["mean"] - control["mean"]}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    gaps = [100 * results[name]["realism_gap_over_control"] for name in names]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.barh(names[::-1], gaps[::-1], color="tab:blue")
    ax.axvline(1.5, color="grey", linestyle="--", linewidth=1, label="issue 12's target for varied")
    ax.set_xlabel("two-sample accuracy over the control (points; lower: the filter hid more)")
    ax.set_title("varied vs real masked photos, the same filter on both sides")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-mask", type=Path, default=realism.DATA / "real-masks" / "with_mask")
    parser.add_argument("--without-mask", type=Path, default=realism.DATA / "real-masks" / "without_mask")
    parser.add_argument("--style", default="varied")
    parser.add_argument("--filters", default=",".join(DEFAULT_FILTERS),
                        help=f"any of {', '.join(FILTERS)} (default: all but the blur_along ones, which make "
                             "the directional run, results/realism-bands-directional.json)")
    parser.add_argument("--seeds", type=int, default=8, help="whole-face test (half the gap moves 0.5 seed to seed)")
    parser.add_argument("--control-seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos per folder")
    parser.add_argument("--out", type=Path, default=realism.RESULTS / "realism-bands.json")
    args = parser.parse_args()
    unknown = sorted(set(args.filters.split(",")) - set(FILTERS))
    if unknown:
        parser.error(f"unknown filter(s) {', '.join(unknown)}; choose from {', '.join(FILTERS)}")
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    real_faces, real_dropped = realism.load_faces(args.with_mask, args.limit)
    bare_faces, bare_dropped = realism.load_faces(args.without_mask, args.limit)
    real = np.stack([realism.align(image, face) for image, face in real_faces])
    bare = np.stack([realism.align(image, face) for image, face in bare_faces])
    real_area = np.stack([realism.mask_area(face) for _, face in real_faces])
    bare_area = np.stack([realism.mask_area(face) for _, face in bare_faces])
    synthetic = realism.render_crops(bare_faces, args.style)

    report = {"command": provenance.command(),
              "date": provenance.today(),
              "machine": provenance.machine(torch=torch.__version__),
              "style": args.style, "seeds": args.seeds, "control_seeds": args.control_seeds, "epochs": args.epochs,
              "crop_px": realism.CROP,
              "photos": {"with_mask_used": len(real), "with_mask_dropped": real_dropped,
                         "without_mask_used": len(bare), "without_mask_dropped": bare_dropped},
              "filters": {}}
    for name in tqdm(args.filters.split(","), desc="filters"):
        result = banded_gap(FILTERS[name], real, synthetic, bare, real_area, bare_area, list(range(args.seeds)),
                            list(range(args.control_seeds)), args.epochs)
        report["filters"][name] = result
        tqdm.write(f"{name:>32}: {args.style} {result['two_sample_whole_face']['mean']:.3f}, control "
                   f"{result['control_upper_face_only']['mean']:.3f}, gap {result['realism_gap_over_control']:+.3f}")
        args.out.parent.mkdir(parents=True, exist_ok=True)  # written after every filter: a long run keeps its part
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report["filters"], args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
