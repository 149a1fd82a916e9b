"""What colour are masks? The lower face of real masked photos against maskgen's styles, in broad colour groups.

    python benchmarks/mask_colours.py        # -> results/mask-colours.json and mask-colours.png

Each photo is aligned as in benchmarks/realism.py (eyes at fixed places, 64 px); the mask colour is the median
of a patch between the nose and the chin, read in HSV and put into one of a few broad groups (black, charcoal,
grey, white, light blue, blue/navy, green/teal, pink/red/purple, yellow/orange/brown); the patch's spread of
lightness tells plain from patterned, and its spread at three scales (coarse: shading, middle: bulges and
creases, fine: texture and grain; on crops whose patch lies inside the photo) how uniform masks are inside, and
what the fine layer is made of (its kurtosis and neighbour correlation: grain, or a few sharp creases and edges),
which way the middle layer's structure runs (across the face like pleats, or down it like a seam or a centre
ridge), and how many bright patches are clipped flat white. Real: ../shared/data/real-masks/with_mask. Synthetic: each style rendered
on ../shared/data/real-masks/without_mask, so lighting and photo quality match as far as they can.
The photos' light tints every mask alike on both sides, so the groups compare like with like, but they are
not the fabric's true colour (a white mask in shade reads as grey).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import provenance  # noqa: E402
import maskgen  # noqa: E402
from maskgen.photo import luminance  # noqa: E402
from realism import ABLATIONS, CROP, DATA, RESULTS, align, in_photo, load_faces, render_variant  # noqa: E402

GROUPS = ("black", "charcoal", "grey", "white", "light-blue", "blue-navy", "green-teal", "pink-red-purple",
          "yellow-orange-brown")
PATCH = (slice(int(0.62 * CROP), int(0.86 * CROP)), slice(int(0.34 * CROP), int(0.66 * CROP)))
PATTERNED_SPREAD = 0.09  # lightness spread (0..1) of the patch above which a mask counts as patterned
SCALES = (1.0, 3.0)  # Gaussian sigmas (px of the 64 px crop) that split lightness into fine / middle / coarse
V21_FABRIC = "varied, with the fabric's bulges and sheen of v2.1 (not adopted)"  # a realism.py ablation, measured too


def colour_group(rgb: np.ndarray) -> str:
    """One broad group for a median RGB colour (0-255)."""
    hsv = cv2.cvtColor(np.uint8(rgb)[None, None], cv2.COLOR_RGB2HSV_FULL)[0, 0] / 255.0
    hue, sat, val = float(hsv[0]) * 360.0, float(hsv[1]), float(hsv[2])
    if val < 0.2:
        return "black"
    if sat < 0.16:
        return "charcoal" if val < 0.4 else "grey" if val < 0.68 else "white"
    if 170 <= hue < 260:
        return "light-blue" if val >= 0.55 and sat < 0.6 else "blue-navy"
    if 75 <= hue < 170:
        return "green-teal"
    if hue >= 260 or hue < 15:
        return "pink-red-purple"
    return "yellow-orange-brown"


def describe(crops: np.ndarray, inside: np.ndarray) -> dict:
    """Colour groups and the patterned share of all `crops`; lightness and its spread inside the mask on the
    crops whose patch lies inside the photo (`inside`: in_photo's masks), where the padding cannot count."""
    patches = crops[:, PATCH[0], PATCH[1]].reshape(len(crops), -1, 3)
    medians = np.median(patches, axis=1)
    lightness = patches.mean(axis=2) / 255.0
    spread = np.percentile(lightness, 90, axis=1) - np.percentile(lightness, 10, axis=1)
    named = [colour_group(m) for m in medians]
    groups = Counter(named)
    whole = inside[:, PATCH[0], PATCH[1]].mean(axis=(1, 2)) >= 0.95
    layers = lightness_layers(crops[whole])
    bands, shape, runs = inside_spread(layers), fine_shape(layers), middle_orientation(layers)
    of_group = np.array(named)[whole]
    members_of = {"all": np.ones(len(of_group), bool), "white": of_group == "white", "black": of_group == "black"}
    return {"photos": int(len(crops)),
            "groups": {g: groups.get(g, 0) / len(crops) for g in GROUPS},
            "patterned": float((spread > PATTERNED_SPREAD).mean()),
            "inside_photos": int(whole.sum()),
            "lightness_deciles": [round(float(v), 1) for v in
                                  np.percentile(lightness[whole].mean(axis=1) * 255, np.arange(10, 100, 10))],
            "inside_spread_median": medians_by_group(bands, members_of, digits=2),
            "inside_fine_shape_median": medians_by_group(shape, members_of, digits=3),
            "inside_middle_orientation_median": medians_by_group(runs, members_of, digits=3),
            "bright_patches_clipped": clipped_share(lightness[whole])}


def medians_by_group(per_crop: dict[str, np.ndarray], members_of: dict[str, np.ndarray], digits: int) -> dict:
    """{group: {measure: median over the group's crops}}, rounded; crops without a value (NaN) left out, and
    groups with no crops left out."""
    return {group: {name: round(float(np.nanmedian(values[members])), digits) for name, values in per_crop.items()}
            for group, members in members_of.items() if members.any()}


def lightness_layers(crops: np.ndarray) -> dict[str, np.ndarray]:
    """Each crop's lightness split at SCALES into coarse (shading), middle (bulges, creases) and fine (weave,
    print, grain) layers, whole crops (N, CROP, CROP)."""
    grey = luminance(crops.astype(np.float32))
    fine_cut, coarse_cut = (np.stack([cv2.GaussianBlur(g, (0, 0), sigma) for g in grey]) if len(grey) else grey
                            for sigma in SCALES)
    return {"coarse": coarse_cut, "middle": fine_cut - coarse_cut, "fine": grey - fine_cut}


def inside_spread(layers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per crop, the standard deviation (grey levels) of the patch's lightness in each layer."""
    return {name: layer[:, PATCH[0], PATCH[1]].std(axis=(1, 2)) for name, layer in layers.items()}


def fine_shape(layers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per crop, what the fine layer of the patch is made of: its kurtosis (3 for noise, higher for a few sharp
    creases, edges and print outlines among smooth fabric) and the correlation of neighbouring pixels (near 0
    for pixel grain, higher for structure a few pixels wide)."""
    patch = layers["fine"][:, PATCH[0], PATCH[1]]
    centred = patch - patch.mean(axis=(1, 2), keepdims=True)
    variance = (centred**2).mean(axis=(1, 2))
    flat = variance < 1e-6  # a perfectly even patch has no shape: left out of the medians
    safe = np.where(flat, 1.0, variance)
    kurtosis = (centred**4).mean(axis=(1, 2)) / safe**2
    across = (centred[:, :, 1:] * centred[:, :, :-1]).mean(axis=(1, 2))
    down = (centred[:, 1:] * centred[:, :-1]).mean(axis=(1, 2))
    correlation = 0.5 * (across + down) / safe
    return {"kurtosis": np.where(flat, np.nan, kurtosis), "neighbour_correlation": np.where(flat, np.nan, correlation)}


def middle_orientation(layers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per crop, which way the middle layer's structure runs in the patch: the share of its gradient energy in
    structure running across the face (gradient within 30 degrees of vertical: pleats, horizontal edges and
    creases) and down it (within 30 degrees of horizontal: seams, a centre ridge, vertical creases). An even
    spread of directions gives a third each."""
    across, down = [], []
    for layer in layers["middle"]:
        grad_x = cv2.Sobel(layer, cv2.CV_32F, 1, 0, ksize=3)[PATCH]
        grad_y = cv2.Sobel(layer, cv2.CV_32F, 0, 1, ksize=3)[PATCH]
        energy = grad_x**2 + grad_y**2
        total = float(energy.sum())
        if total < 1e-6:
            across.append(np.nan)
            down.append(np.nan)
            continue
        steep = np.abs(grad_y) > np.abs(grad_x) * np.tan(np.radians(60))
        flat = np.abs(grad_y) < np.abs(grad_x) * np.tan(np.radians(30))
        across.append(float(energy[steep].sum()) / total)
        down.append(float(energy[flat].sum()) / total)
    return {"across": np.array(across), "down": np.array(down)}


BRIGHT = 170 / 255  # a patch this light on average is a white or pale mask in good light
CLIPPED = 245 / 255  # lightness at which a camera's (or the renderer's) tone curve has left no detail


def clipped_share(lightness: np.ndarray) -> dict:
    """Among bright patches (N, pixels; 0..1), the share with more than half their pixels clipped white: a
    flat white cut-out, with no shading, pleats or grain left to see."""
    bright = lightness.mean(axis=1) >= BRIGHT
    clipped = (lightness[bright] >= CLIPPED).mean(axis=1) > 0.5
    return {"bright_patches": int(bright.sum()),
            "share_clipped": round(float(clipped.mean()), 3) if bright.any() else None}


def distance(a: dict, b: dict) -> float:
    """Total variation distance between two group distributions (0 same, 1 disjoint)."""
    return 0.5 * sum(abs(a["groups"][g] - b["groups"][g]) for g in GROUPS)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["real", *report["synthetic"]]
    rows = [report["real"], *report["synthetic"].values()]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    width = 0.8 / len(rows)
    for i, (name, row) in enumerate(zip(names, rows)):
        ax.bar(np.arange(len(GROUPS)) + i * width, [row["groups"][g] for g in GROUPS], width, label=name)
    ax.set_xticks(np.arange(len(GROUPS)) + 0.4 - width / 2, GROUPS, rotation=20, fontsize=8)
    ax.set_ylabel("share of photos")
    ax.legend(fontsize=8)
    ax.set_title("mask colour on the lower face: real masked photos against maskgen's styles", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-mask", type=Path, default=DATA / "real-masks" / "with_mask")
    parser.add_argument("--without-mask", type=Path, default=DATA / "real-masks" / "without_mask")
    parser.add_argument("--styles", default="varied,varied-wide,mlfw-white")
    parser.add_argument("--ablations", default=V21_FABRIC,
                        help="also these realism.py ablations, separated by ';' (their names hold commas)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "mask-colours.json")
    args = parser.parse_args()
    # names first: a typo found after minutes of face detection costs those minutes
    unknown = [name for name in args.styles.split(",") if name and name not in maskgen.STYLES]
    if unknown:
        raise SystemExit(f"--styles: unknown {unknown}; maskgen has {list(maskgen.STYLES)}")
    unknown = [name for name in args.ablations.split(";") if name and name not in ABLATIONS]
    if unknown:
        raise SystemExit(f"--ablations: unknown {unknown}; realism.py has {list(ABLATIONS)}")
    real_faces, real_dropped = load_faces(args.with_mask, args.limit)
    bare_faces, bare_dropped = load_faces(args.without_mask, args.limit)
    report = {"command": provenance.command(),
              "date": provenance.today(), "groups": list(GROUPS), "patterned_spread": PATTERNED_SPREAD,
              "photos": {"with_mask": len(real_faces), "with_mask_dropped": real_dropped,
                         "without_mask": len(bare_faces), "without_mask_dropped": bare_dropped},
              "real": describe(np.stack([align(image, face) for image, face in real_faces]),
                               np.stack([in_photo(image, face) for image, face in real_faces])),
              "synthetic": {}}
    bare_inside = np.stack([in_photo(image, face) for image, face in bare_faces])
    report["unmasked_skin"] = describe(np.stack([align(image, face) for image, face in bare_faces]), bare_inside)
    for style in [s for s in args.styles.split(",") if s] + [a for a in args.ablations.split(";") if a]:
        look, change, patch = ABLATIONS[style] if style in ABLATIONS else (style, {}, {})
        crops = [align(render_variant(image, face, index, look, change, patch), face)
                 for index, (image, face) in enumerate(tqdm(bare_faces, desc=style, unit="img"))]
        row = describe(np.stack(crops), bare_inside)
        row["distance_to_real"] = distance(row, report["real"])
        report["synthetic"][style] = row
        print(f"{style:>12}: distance to real {row['distance_to_real']:.3f}, patterned {row['patterned']:.1%}, "
              f"spread inside {row['inside_spread_median']['all']}, fine shape {row['inside_fine_shape_median']['all']}")
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out.with_suffix(".png"))
    print(json.dumps({"real": report["real"], **{k: v["groups"] for k, v in report["synthetic"].items()}}, indent=1))


if __name__ == "__main__":
    main()
