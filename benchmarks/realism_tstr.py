"""Realism that measures usefulness: train a mask detector on synthetic masks only, test it on real photos.

    python benchmarks/realism_tstr.py             # -> results/realism-tstr.json, realism-tstr.png,
                                                  #    realism-tstr-misses.jpg, realism-tstr-false-alarms.jpg
    python benchmarks/realism_tstr.py --ablation  # -> results/realism-tstr-ablation.json: realism.py's varied
                                                  #    ablations (one part of the renderer switched back each)
    python benchmarks/realism_tstr.py --colour    # -> results/realism-tstr-colour.json (and its .png, -misses.jpg,
                                                  #    -false-alarms.jpg)
    python benchmarks/realism_tstr.py --colour --photo-edges 0.5 --conditions varied,mlfw-white \
        --out benchmarks/results/realism-tstr-colour-photo-edges.json   # how much photo edges cost (photo_edges)

For each condition (mlfw-white, varied, varied-wide and each kind) a small CNN learns "masked or not" from
lfw-expressions faces only: 1,500 photos left unmasked against 1,500 other photos masked by maskgen in that
condition. It is then scored on the real photos of ../shared/data/real-masks (with_mask against without_mask),
none of which it saw. Both classes of the test share the shift from LFW to web photos, so the score says
whether synthetic masks teach what a real mask looks like, not which collection a photo came from (the
two-sample test and the real-trained detector of benchmarks/realism.py both see the collections too).
Crops are aligned on the eyes (as in realism.py). By default they are grey, since most lfw-expressions photos
are grey and the real photos are in colour; `--colour` trains on the colour copies of the lfw-expressions photos
that have one (`color112/`, face-aligned 112 px crops of the same LFW photos) and keeps every crop in colour, so
the detector can also learn a mask's colour against the skin. Balanced accuracy, the recall of real masked
photos and the ROC AUC, mean and spread over seeds; each seed draws its own photos, masks and initialisation
(3 seeds for the styles, 1 for each single kind).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import provenance  # noqa: E402
import maskgen  # noqa: E402
from maskgen.cache import LandmarkCache  # noqa: E402
from maskgen.images import ImageError  # noqa: E402
from maskgen.photo import luminance  # noqa: E402
from maskgen.seeding import derive_seed  # noqa: E402
from maskgen.sheet import contact_sheet  # noqa: E402
from realism import (ABLATIONS, CROP, DATA, PADDING_GREY, RESULTS, align, fit, in_photo, is_padded,  # noqa: E402
                     load_faces, predict, render_variant, usable)

ROOT = Path(__file__).resolve().parents[1]


def grey(crops: np.ndarray) -> np.ndarray:
    return np.repeat(np.round(luminance(crops.astype(np.float32))).astype(np.uint8)[..., None], 3, axis=-1)


def keep_colour(crops: np.ndarray) -> np.ndarray:
    return crops


def photo_folder(data: Path, colour: bool) -> Path:
    return data / ("color112" if colour else "images")


def training_names(data: Path, colour: bool) -> list[str]:
    """The lfw-expressions training photos (with `colour`, those that have a colour copy), sorted."""
    rows = [line.split(",") for line in (data / "labels.csv").read_text().splitlines()[1:]]
    return sorted(r[0] for r in rows if len(r) > 5 and r[5] == "train"
                  and (not colour or (len(r) > 6 and r[6].strip() == "1")))


def synthetic_faces(data: Path, cache_path: Path, count: int,
                    colour: bool = False) -> list[tuple[np.ndarray, maskgen.Face, str]]:
    """Up to `count` lfw-expressions training photos with one usable face, in a fixed shuffled order; with
    `colour`, the colour copies in `color112/` of the training photos that have one."""
    names = training_names(data, colour)
    folder = photo_folder(data, colour)
    order = np.random.default_rng(0).permutation(len(names))
    cache = LandmarkCache(cache_path, data)
    kept = []
    bar = tqdm(total=count, desc=f"usable faces in {folder.name}", unit="img")
    for index in order:
        path = folder / names[index]
        try:
            image = maskgen.read_image(path)
        except ImageError:
            continue
        faces = cache.faces_for_file(path, lambda p: (maskgen.detect_faces(image), image.shape[:2]))
        if len(faces) == 1 and usable(faces[0]):
            kept.append((image, faces[0], names[index]))
            bar.update()
            if len(kept) == count:
                break
    bar.close()
    return kept


Masker = Callable[[np.ndarray, maskgen.Face, int], np.ndarray]  # (photo, face, seed) -> masked photo


def rendered(style: str) -> Masker:
    return lambda image, face, seed: maskgen.render(image, [face], style=style, seed=seed).image


def ablated(style: str, change: dict, patch: dict) -> Masker:
    """An ABLATIONS entry of realism.py as a masker; with no change and no patch, exactly `rendered(style)`."""
    return lambda image, face, seed: render_variant(image, face, seed, style, change, patch)


# Where a photo may end in `align`'s crop without cutting into the eyes (crop px, per side), for `photo_edges`.
EDGE_RANGES = {"bottom": (40.0, float(CROP)), "top": (0.0, 16.0), "left": (0.0, 14.0), "right": (50.0, float(CROP))}
EDGE_TILT = 20.0  # degrees: crops of tilted faces meet the photo's edge at an angle


def photo_edges(crops: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """`share` of the crops cut by one or two straight photo edges, past which they show `align`'s grey padding.

    Most real photos end inside the crop (tight portraits at the chin, 64 % of the unmasked ones; many at the
    sides and top), while the lfw-expressions crops hardly ever do. A detector that has never seen padding reads
    a grey block under the face as a mask: the opt-in `--photo-edges` shows it with the same edges on both classes
    of the training crops. Edges are anti-aliased as `align`'s INTER_AREA leaves them; the eyes are never cut."""
    out = crops.copy()
    ys, xs = np.mgrid[0:CROP, 0:CROP].astype(np.float32) + 0.5
    sides = list(EDGE_RANGES)
    for index in range(len(crops)):
        if rng.random() >= share:
            continue
        kept = np.ones((CROP, CROP), np.float32)
        for side in rng.choice(sides, size=int(rng.integers(1, 3)), replace=False):
            at = rng.uniform(*EDGE_RANGES[side])
            slope = np.tan(np.radians(rng.uniform(-EDGE_TILT, EDGE_TILT)))
            along, across = (xs, ys) if side in ("bottom", "top") else (ys, xs)
            inside = (at + slope * (along - CROP / 2) - across) * (1 if side in ("bottom", "right") else -1)
            kept *= np.clip(inside + 0.5, 0.0, 1.0)
        blend = kept[..., None]
        out[index] = np.round(crops[index] * blend + PADDING_GREY * (1.0 - blend)).astype(np.uint8)
    return out


def roc_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties half).

    Separates ranking from calibration: a detector can rank real masked above real unmasked photos well and
    still put its 0.5 threshold in the wrong place for photos unlike its training set."""
    if len(positives) == 0 or len(negatives) == 0:
        raise ValueError("roc_auc needs at least one positive and one negative score")
    scores = np.concatenate([negatives, positives])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based ranks, ties sharing their mean
    above = ranks[len(negatives):].sum() - len(positives) * (len(positives) + 1) / 2
    return float(above / (len(positives) * len(negatives)))


def run(condition: str, faces: list, seed: int, per_class: int, epochs: int, real: np.ndarray,
        bare: np.ndarray, masker: Masker | None = None,
        to_input: Callable[[np.ndarray], np.ndarray] = grey,
        edge_share: float = 0.0) -> tuple[dict, np.ndarray, np.ndarray]:
    """One detector: `condition` keys the photos and mask seeds drawn; `masker` renders them (default: the
    condition's style as it is); `to_input` turns the training crops into what the detector sees (`grey`, or
    `keep_colour`: the real crops must have had the same); `edge_share` of the training crops get photo edges
    (`photo_edges`). Returns the scores, and the probability of "masked" for each real masked and each real
    unmasked crop (for the sheets of misses and false alarms)."""
    rng = np.random.default_rng(derive_seed(seed, "tstr", condition) % 2**63)
    order = rng.permutation(len(faces))
    mask = masker or rendered(condition)
    plain = [align(faces[i][0], faces[i][1]) for i in order[:per_class]]
    masked = [align(mask(faces[i][0], faces[i][1], derive_seed(seed, faces[i][2], condition)), faces[i][1])
              for i in order[per_class:2 * per_class]]
    crops = to_input(np.stack(plain + masked))
    if edge_share > 0:
        crops = photo_edges(crops, np.random.default_rng(derive_seed(seed, "photo-edges", condition)), edge_share)
    labels = np.concatenate([np.zeros(len(plain)), np.ones(len(masked))])
    model = fit(crops, labels, rng, epochs)
    real_scores, bare_scores = predict(model, real), predict(model, bare)
    recall, specificity = float((real_scores > 0.5).mean()), float((bare_scores <= 0.5).mean())
    return {"balanced_accuracy": (recall + specificity) / 2, "real_mask_recall": recall,
            "unmasked_specificity": specificity, "roc_auc": roc_auc(real_scores, bare_scores)}, real_scores, bare_scores


def by_framing(realness: np.ndarray, called: np.ndarray, real_padded: np.ndarray,
               bare_padded: np.ndarray) -> dict:
    """Recall and specificity apart on the padded photos (`is_padded`: more than 30 % of the lower face past
    the photo's edge, mostly tight portraits cut at the chin) and on the framed rest. `nan` where a part is empty."""
    def share(hits: np.ndarray) -> float:
        return float(hits.mean()) if len(hits) else float("nan")
    return {"real_mask_recall_padded": share(realness[real_padded] > 0.5),
            "real_mask_recall_framed": share(realness[~real_padded] > 0.5),
            "unmasked_specificity_padded": share(called[bare_padded] <= 0.5),
            "unmasked_specificity_framed": share(called[~bare_padded] <= 0.5)}


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["conditions"])
    rows = [report["conditions"][n] for n in names]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    x = np.arange(len(names))
    ax.bar(x - 0.2, [r["balanced_accuracy"]["mean"] for r in rows], 0.4,
           yerr=[r["balanced_accuracy"]["std"] for r in rows], label="balanced accuracy on real photos")
    ax.bar(x + 0.2, [r["real_mask_recall"]["mean"] for r in rows], 0.4,
           yerr=[r["real_mask_recall"]["std"] for r in rows], label="real masked photos found (recall)")
    ax.axhline(0.5, color="black", linewidth=0.8)
    ax.set_xticks(x, names, rotation=25, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(f"trained on synthetic masks only (lfw-expressions, {report['crops'].split()[0]} crops), "
                 "tested on real photos", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summarise(runs: list[dict]) -> dict:
    return {key: {"mean": float(np.mean([r[key] for r in runs])), "std": float(np.std([r[key] for r in runs])),
                  "runs": [r[key] for r in runs]} for key in runs[0]}


def write_ablation(args: argparse.Namespace, report: dict, faces: list, real: np.ndarray, bare: np.ndarray,
                   to_input: Callable[[np.ndarray], np.ndarray]) -> None:
    """What each part of the varied renderer does for the usefulness measure: realism.py's varied ablations,
    each with the photos and mask seeds of its style's own condition, so "as rendered" is the varied run."""
    report["variants"] = {}
    path = args.out.with_name(f"{args.out.stem}-ablation.json")
    for name, (style, change, patch) in ABLATIONS.items():
        if style == maskgen.BASELINE:
            continue
        runs = [run(style, faces, seed, args.per_class, args.epochs, real, bare, ablated(style, change, patch),
                    to_input, args.photo_edges)[0] for seed in range(args.seeds)]
        report["variants"][name] = summarise(runs)
        row = report["variants"][name]["balanced_accuracy"]
        print(f"{name}: balanced {row['mean']:.3f} +- {row['std']:.3f}", flush=True)
        path.write_text(json.dumps(report, indent=2) + "\n")  # after each variant: a killed run keeps the rest
    print(f"wrote {path}")


def check_inputs(args: argparse.Namespace) -> None:
    """Every folder and the photo count, before minutes of face detection and training; the output folder made."""
    photos = photo_folder(args.data, args.colour)
    for folder, what in ((photos, "--data's photos" + (" (--colour reads its color112/ copies)" if args.colour
                                                          else "")),
                         (args.with_mask, "--with-mask"), (args.without_mask, "--without-mask")):
        if not folder.is_dir():
            raise SystemExit(f"{what}: no folder {folder}")
    if not (args.data / "labels.csv").is_file():
        raise SystemExit(f"--data: no labels.csv in {args.data}")
    available = len(training_names(args.data, args.colour))
    if args.per_class < 1 or 2 * args.per_class > available:
        raise SystemExit(f"--per-class {args.per_class}: {photos} has {available} training photos, so at most "
                         f"{available // 2} a class (fewer if some have no usable face)")
    args.out.parent.mkdir(parents=True, exist_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "lfw-expressions")
    parser.add_argument("--cache", type=Path, default=None,
                        help="landmark cache (default: runs/landmarks-lfw-expressions.sqlite, or "
                             "runs/landmarks-color112.sqlite with --colour)")
    parser.add_argument("--with-mask", type=Path, default=DATA / "real-masks" / "with_mask")
    parser.add_argument("--without-mask", type=Path, default=DATA / "real-masks" / "without_mask")
    parser.add_argument("--conditions", default=",".join(("mlfw-white", "varied", "varied-wide", *maskgen.KINDS)))
    parser.add_argument("--seeds", type=int, default=3, help="seeds for mlfw-white, varied and varied-wide")
    parser.add_argument("--kind-seeds", type=int, default=1, help="seeds for each single kind")
    parser.add_argument("--per-class", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--limit", type=int, default=None, help="at most this many real photos per folder")
    parser.add_argument("--colour", action="store_true",
                        help="train on the colour copies (color112/) and keep every crop in colour")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: results/realism-tstr.json, or realism-tstr-colour.json with --colour; the "
                             "plot, the misses and false-alarm sheets and the ablation file are named after it")
    parser.add_argument("--ablation", action="store_true",
                        help="instead of --conditions: the varied variants of realism.py's ablation, --seeds each "
                             "(-> --out's name + -ablation.json: realism-tstr-ablation.json, or "
                             "realism-tstr-colour-ablation.json with --colour)")
    parser.add_argument("--photo-edges", type=float, default=0.0, metavar="SHARE",
                        help="cut this share (0-1) of the training crops, both classes alike, by photo edges past "
                             "which they show the grey padding real photos' crops often show (photo_edges); "
                             "default 0: the protocol of the committed results")
    args = parser.parse_args()
    if not 0.0 <= args.photo_edges <= 1.0:
        raise SystemExit(f"--photo-edges {args.photo_edges}: a share from 0 to 1")
    args.out = args.out or RESULTS / ("realism-tstr-colour.json" if args.colour else "realism-tstr.json")
    cache = args.cache or ROOT / "runs" / ("landmarks-color112.sqlite" if args.colour else
                                           "landmarks-lfw-expressions.sqlite")
    to_input = keep_colour if args.colour else grey
    check_inputs(args)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    faces = synthetic_faces(args.data, cache, 2 * args.per_class, args.colour)
    if len(faces) < 2 * args.per_class:
        raise SystemExit(f"only {len(faces)} usable faces in {photo_folder(args.data, args.colour)} for "
                         f"2 x {args.per_class}: use --per-class {len(faces) // 2} or fewer")
    real_faces, real_dropped = load_faces(args.with_mask, args.limit)
    bare_faces, bare_dropped = load_faces(args.without_mask, args.limit)
    real = to_input(np.stack([align(image, face) for image, face in real_faces]))
    bare = to_input(np.stack([align(image, face) for image, face in bare_faces]))
    real_padded, bare_padded = (is_padded(np.stack([in_photo(image, face) for image, face in side]))
                                for side in (real_faces, bare_faces))
    report = {"command": provenance.command(),
              "date": provenance.today(),
              "machine": provenance.machine(torch=torch.__version__),
              "crops": "colour (lfw-expressions color112/)" if args.colour else "grey (lfw-expressions images/)",
              "per_class": args.per_class, "epochs": args.epochs, "photo_edges": args.photo_edges,
              "seeds": args.seeds, "kind_seeds": args.kind_seeds,
              "real_photos": {"with_mask": len(real), "with_mask_dropped": real_dropped,
                              "without_mask": len(bare), "without_mask_dropped": bare_dropped,
                              "with_mask_padded": int(real_padded.sum()),
                              "without_mask_padded": int(bare_padded.sum())},
              "conditions": {}}
    if args.ablation:
        write_ablation(args, report, faces, real, bare, to_input)
        return
    missed = alarmed = None
    for condition in args.conditions.split(","):
        runs = []
        for seed in range(args.kind_seeds if condition in maskgen.KINDS else args.seeds):
            scores, realness, called = run(condition, faces, seed, args.per_class, args.epochs, real, bare,
                                           to_input=to_input, edge_share=args.photo_edges)
            runs.append(scores | by_framing(realness, called, real_padded, bare_padded))
            if condition == "varied" and seed == 0:
                missed = [real_faces[i] for i in np.argsort(realness)[:24] if realness[i] <= 0.5]
                # and the real unmasked photos it is surest are masked: label noise, and photos cut at the chin
                alarmed = [bare_faces[i] for i in np.argsort(-called)[:24] if called[i] > 0.5]
        report["conditions"][condition] = summarise(runs)
        row = report["conditions"][condition]
        print(f"{condition:>12}: balanced {row['balanced_accuracy']['mean']:.3f} +- "
              f"{row['balanced_accuracy']['std']:.3f}, real-mask recall {row['real_mask_recall']['mean']:.3f}")
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out.with_suffix(".png"))
    if missed is None:
        print("no misses sheet: it shows the varied-trained detector's misses (add varied to --conditions)")
    elif missed:
        crops = [cv2.resize(align(image, face), (96, 96)) for image, face in missed]
        sheet = contact_sheet(crops, ["missed"] * len(crops), columns=12, size=96)
        maskgen.write_image(args.out.with_name(f"{args.out.stem}-misses.jpg"), sheet, quality=85)
    if alarmed:
        crops = [cv2.resize(align(image, face), (96, 96)) for image, face in alarmed]
        sheet = contact_sheet(crops, ["called masked"] * len(crops), columns=12, size=96)
        maskgen.write_image(args.out.with_name(f"{args.out.stem}-false-alarms.jpg"), sheet, quality=85)


if __name__ == "__main__":
    main()
