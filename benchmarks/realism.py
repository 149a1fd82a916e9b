"""Realism: how distinguishable are synthetic-masked faces from real masked ones?

    python benchmarks/realism.py --with-mask ../shared/data/real-masks/with_mask \\
        --without-mask ../shared/data/real-masks/without_mask

Masks are rendered onto the real unmasked photos, so the only intended difference from the real masked
photos is whether the mask is real. Both sides are compared as aligned face crops (eyes and mouth at fixed
places), which removes framing, crowds and product shots; photos with no usable face are dropped and counted.

1. Classifier two-sample test: a small CNN learns to tell synthetic-masked from real-masked crops; its held-out
   accuracy (several seeds, mean and spread) is the measure; 50 % means indistinguishable.
2. Control: the same test on the upper face only (everything below the eyes blanked on both sides), real
   masked against real unmasked photos. The two
   photo collections differ in more than the mask (sources, quality), and this measures how much. The
   renderer's own realism gap is the whole-face accuracy minus this control. A second, framing-aware control
   also sees where each photo ends (the padding of crops that reach past it), which differs between the
   collections and which no renderer can change (`blank_lower`); a third blanks only where a mask may lie
   and keeps the rest of the lower half (`mask_area`). The plain control and each style's whole-face test
   also report their held-out accuracy split by framing (`by_framing`: crops whose lower face is more than
   30 % padding past the photo's edge, and the rest), and the gap over the control on each part.
3. Mask detector: a CNN trained on real with-mask versus real without-mask crops, applied to the synthetic
   crops: the share it calls masked.

For mlfw-white, varied and each kind. Writes benchmarks/results/realism.json, realism.png (bars) and
realism-samples.png (the synthetic crops the two-sample test found most and least real).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from tqdm import tqdm  # noqa: E402

import maskgen  # noqa: E402
from maskgen import mesh  # noqa: E402
from maskgen.images import ImageError, to_uint8_rgb  # noqa: E402
from maskgen.sheet import contact_sheet  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))  # provenance, beside this script
import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKGEN_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
CROP = 64
# Where the eye centres go in a CROP x CROP aligned crop (the mouth lands near (0.5, 0.78) on most faces).
TEMPLATE = np.array([[0.32, 0.38], [0.68, 0.38]], np.float32) * CROP
BLANK_BELOW = 0.46  # the control blanks everything below this height (just under the eyes, above any mask)
BLANK_ROW = int(BLANK_BELOW * CROP)  # ... the first crop row it blanks
PADDING_GREY = 127  # what `align` shows past the photo's edges
BLANK_GREY = PADDING_GREY  # what the controls show in place of what they hide: the same grey, so blanking adds no cue
PADDED = 0.3  # a crop is 'padded' when more of its lower face than this lies past the photo's edge
# The real side of every two-sample test mixes the kinds as real masked photos do (counted by eye).
REAL_KIND_SHARE = maskgen.kinds.REAL_KIND_SHARE


def align(image: np.ndarray, face: maskgen.Face) -> np.ndarray:
    """A CROP x CROP RGB crop with the eye centres at the template's places (similarity transform).

    Eyes only: on a masked face the detector has to guess where the mouth is, on an unmasked one it sees it,
    so aligning on the mouth would frame real-masked and synthetic-masked crops differently, and the
    classifiers would learn the framing instead of the mask."""
    return cv2.warpAffine(to_uint8_rgb(image), _alignment(face), (CROP, CROP), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(PADDING_GREY,) * 3)


def in_photo(image: np.ndarray, face: maskgen.Face) -> np.ndarray:
    """(CROP, CROP) bool: the crop pixels `align` takes from the photo; the rest is padding past its edges.

    Tight portraits end at the chin, so their crops are padded exactly where a mask would be; how much differs
    between the two photo collections (see `blank_lower`)."""
    inside = np.full(image.shape[:2], 255, np.uint8)
    warped = cv2.warpAffine(inside, _alignment(face), (CROP, CROP), flags=cv2.INTER_AREA,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped >= 128


def mask_area(face: maskgen.Face) -> np.ndarray:
    """(CROP, CROP) bool: where in `align`'s crop any worn mask may lie, from the face's landmarks: the face
    outline below the eyes, widened by two pixels, and down to the crop's bottom between the jaw angles (masks
    hang below the chin). Blanked by the mask-area control; everything else (hair, ears, neck, clothes,
    background) stays visible."""
    outline = to_crop(face, mesh.FACE_OVAL)
    jaw = to_crop(face, [mesh.JAW_RIGHT, mesh.JAW_LEFT])
    jaw[:, 1] = CROP
    hull = cv2.convexHull(np.concatenate([outline, jaw]).astype(np.float32))
    area = np.zeros((CROP, CROP), np.uint8)
    cv2.fillConvexPoly(area, np.round(hull * 16).astype(np.int32), 1, cv2.LINE_8, 4)
    area = cv2.dilate(area, np.ones((5, 5), np.uint8))
    area[:BLANK_ROW] = 0
    return area.astype(bool)


def to_crop(face: maskgen.Face, indices) -> np.ndarray:
    """(K, 2) positions of the landmarks `indices` in `align`'s crop."""
    matrix = _alignment(face)
    return face.landmarks[np.asarray(indices), :2] @ matrix[:, :2].T + matrix[:, 2]


def _alignment(face: maskgen.Face) -> np.ndarray:
    points = face.landmarks[:, :2]
    source = np.array([points[list(eye)].mean(axis=0) for eye in (mesh.EYE_RIGHT, mesh.EYE_LEFT)], np.float32)
    return _similarity(source, TEMPLATE)


def _similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 x 3 rotation + uniform scale + shift taking two source points exactly onto two target points."""
    src = complex(*(source[1] - source[0]))
    dst = complex(*(target[1] - target[0]))
    factor = dst / src if abs(src) > 1e-6 else 1.0
    a, b = factor.real, factor.imag
    rotation = np.array([[a, -b], [b, a]], np.float64)
    shift = target[0] - rotation @ source[0]
    return np.concatenate([rotation, shift[:, None]], axis=1)


def render_crops(faces: list[tuple[np.ndarray, maskgen.Face]], style: str) -> np.ndarray:
    """`align`'s crop of each photo masked as `maskgen.render` draws `style` for it (seed: its index)."""
    return np.stack([align(maskgen.render(image, [face], style=style, seed=index).image, face)
                     for index, (image, face) in enumerate(tqdm(faces, desc=f"render {style}", unit="img"))])


def usable(face: maskgen.Face) -> bool:
    return face.width >= 40


def load_faces(folder: Path, limit: int | None) -> tuple[list[tuple[np.ndarray, maskgen.Face]], int]:
    """(photo, its largest usable face) for each photo of `folder` with one, and how many had none.

    Every realism benchmark starts here, so a wrong folder ends the run with one line, not a traceback."""
    if not folder.is_dir():
        raise SystemExit(f"error: no folder {folder} (the real-masks photos: see ../shared/data/README.md, "
                         "or set MASKGEN_DATA or --with-mask / --without-mask)")
    files = sorted(p for p in folder.iterdir() if maskgen.images.is_image_path(p))[:limit]
    if not files:
        raise SystemExit(f"error: no photos in {folder}")
    kept, dropped = [], 0
    for path in tqdm(files, desc=f"faces in {folder.name}", unit="img"):
        try:
            image = maskgen.read_image(path)
        except ImageError:
            dropped += 1
            continue
        faces = [f for f in maskgen.detect_faces(image, max_faces=1) if usable(f)]
        if not faces:
            dropped += 1
            continue
        kept.append((image, faces[0]))
    return kept, dropped


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers, channels = [], 3
        for width in (32, 64, 128, 128):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(channels, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((crops.astype(np.float32) / 255.0 - 0.5) / 0.25).permute(0, 3, 1, 2).contiguous()


def fit(crops: np.ndarray, labels: np.ndarray, rng: np.random.Generator, epochs: int) -> nn.Module:
    """A SmallCNN trained on (N, CROP, CROP, 3) uint8 crops and 0/1 labels; `rng` (seeded) draws every order."""
    torch.manual_seed(int(rng.integers(1 << 30)))
    model = SmallCNN()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    inputs, targets = to_tensor(crops), torch.from_numpy(labels.astype(np.int64))
    steps = epochs * -(-len(inputs) // 64)
    # one-cycle schedule: short trainings with a constant rate sometimes stall on one class
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(int(rng.integers(1 << 30))))
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            x = inputs[batch]
            if rng.random() < 0.5:
                x = torch.flip(x, dims=[3])
            loss = nn.functional.cross_entropy(model(x), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model


@dataclass(frozen=True)
class HeldOut:
    """Which items of each side a classifier trained on, and how it did on the 30 % it did not."""

    train_0: np.ndarray
    train_1: np.ndarray
    test_0: np.ndarray
    test_1: np.ndarray
    correct_0: np.ndarray  # bool, per test_0 item
    correct_1: np.ndarray


def train_classifier(x0: np.ndarray, x1: np.ndarray, seed: int, epochs: int) -> tuple[nn.Module, dict, HeldOut]:
    """Train on 70 % of each side, report accuracy on the held-out 30 % (balanced by construction)."""
    rng = np.random.default_rng(seed)
    n = min(len(x0), len(x1))
    i0, i1 = rng.permutation(len(x0))[:n], rng.permutation(len(x1))[:n]
    cut = int(0.7 * n)
    train_x = np.concatenate([x0[i0[:cut]], x1[i1[:cut]]])
    train_y = np.concatenate([np.zeros(cut, np.int64), np.ones(cut, np.int64)])
    test_x = np.concatenate([x0[i0[cut:]], x1[i1[cut:]]])
    test_y = np.concatenate([np.zeros(n - cut, np.int64), np.ones(n - cut, np.int64)])
    model = fit(train_x, train_y, rng, epochs)
    correct = (predict(model, test_x) > 0.5).astype(np.int64) == test_y
    held_out = HeldOut(i0[:cut], i1[:cut], i0[cut:], i1[cut:], correct[:n - cut], correct[n - cut:])
    stats = {"held_out_accuracy": float(correct.mean()), "train": int(2 * cut), "test": int(2 * (n - cut))}
    return model, stats, held_out


def predict(model: nn.Module, crops: np.ndarray) -> np.ndarray:
    """Probability of class 1 for each crop."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(crops), 256):
            out.append(torch.softmax(model(to_tensor(crops[start:start + 256])), dim=1)[:, 1].numpy())
    return np.concatenate(out) if out else np.zeros(0)


def blank_lower(crops: np.ndarray, inside: np.ndarray | None = None) -> np.ndarray:
    """The crops with everything below the eyes blanked to grey. Given `inside` (N, CROP, CROP) from
    `in_photo`, the padding past the photo's edge stays visible (black), so the control sees the framing too.

    The framing-aware control matters because the collections are framed differently: over half of the
    `without_mask` crops have more than 30 % of the lower face padded (tight portraits cut at the chin), against
    about one in eight `with_mask` crops. A mask rendered on such a photo is cut off where the photo ends, so the
    whole-face test can tell the two sides apart by where the photo ends, which no renderer can change; the
    plain control blanks that away and so leaves it in the renderer's gap."""
    out = crops.copy()
    out[:, BLANK_ROW:] = BLANK_GREY
    if inside is not None:
        out[:, BLANK_ROW:][~inside[:, BLANK_ROW:]] = 0
    return out


def blank_mask_area(crops: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """The crops with each one's `mask_area` blanked to grey: a control that sees everything but the mask."""
    out = crops.copy()
    out[areas] = BLANK_GREY
    return out


def lower_padding(inside: np.ndarray) -> np.ndarray:
    """(N,) share of each crop's lower face (below the control's line) that lies past the photo's edge."""
    return 1.0 - inside[:, BLANK_ROW:].mean(axis=(1, 2))


def is_padded(inside: np.ndarray) -> np.ndarray:
    """(N,) bool: the crops whose lower face is more than PADDED padding (`lower_padding`)."""
    return lower_padding(inside) > PADDED


def padded_share(inside: np.ndarray) -> float:
    """The share of crops whose lower face is more than PADDED padding."""
    return float(is_padded(inside).mean())


def accuracy_by_framing(held_out: HeldOut, padded_0: np.ndarray, padded_1: np.ndarray) -> dict:
    """Held-out accuracy on each side's padded crops (`padded_*`: bool per item, more than PADDED of the lower
    face past the photo's edge) and on its framed ones. Side 0 is the compared photos (synthetic masks, or the
    real unmasked photos in a control), side 1 the real masked ones."""
    out = {}
    for side, index, correct, padded in (("compared", held_out.test_0, held_out.correct_0, padded_0),
                                         ("real_masked", held_out.test_1, held_out.correct_1, padded_1)):
        for framing, chosen in (("padded", padded[index]), ("framed", ~padded[index])):
            out[f"{side}_{framing}"] = float(correct[chosen].mean()) if chosen.any() else float("nan")
    return out


def kind_mix_floor(control: float, share: float) -> float:
    """The two-sample accuracy a perfect renderer of one kind alone would still get, against real photos that
    mix every kind: a classifier that knows the kinds apart calls each real mask of another kind real (a share
    `1 - share` of the real side) and falls back on the collections' other differences (the control's
    accuracy) for the rest, 0.5 * ((1 - share) + share * control + control). So a kind that is rare on real
    photos sits well above the control however real it looks (n95, 6 %: 6 points at an 87 % control). An
    estimate: a CNN that tells kinds apart less well gets less, one that also uses how real a mask looks, more."""
    return control + 0.5 * (1.0 - share) * (1.0 - control)


def two_sample(real: np.ndarray, synthetic: np.ndarray, seeds: list[int], epochs: int,
               padded: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Held-out accuracy of telling `synthetic` (side 0) from `real` (side 1), mean and spread over `seeds`.

    Given `padded` (bool per synthetic item, per real item), also the accuracy on each side's padded and framed
    crops (mean over seeds) and, per framing, the balanced accuracy of the two sides: the padded crops are
    told apart by where the photo ends as much as by the mask, so the framed ones show the mask alone."""
    runs, by_framing = [], []
    for seed in seeds:
        _, stats, held_out = train_classifier(synthetic, real, seed, epochs)
        runs.append(stats["held_out_accuracy"])
        if padded is not None:
            by_framing.append(accuracy_by_framing(held_out, *padded))
    result = {"mean": float(np.mean(runs)), "std": float(np.std(runs)), "runs": runs}
    if by_framing:
        split = {key: float(np.nanmean([run[key] for run in by_framing])) for key in by_framing[0]}
        for framing in ("padded", "framed"):
            split[f"balanced_{framing}"] = 0.5 * (split[f"compared_{framing}"] + split[f"real_masked_{framing}"])
        result["by_framing"] = split
    return result


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["conditions"])
    whole = [results["conditions"][n]["two_sample_whole_face"]["mean"] for n in names]
    spread = [results["conditions"][n]["two_sample_whole_face"]["std"] for n in names]
    called = [results["conditions"][n]["detector_called_masked"] for n in names]
    control = results["control_upper_face_only"]["mean"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    left.bar(names, whole, yerr=spread, color=["tab:gray" if n == "mlfw-white" else "tab:blue" for n in names])
    left.axhline(control, color="tab:red", linestyle="--", label=f"control: upper face only ({control:.0%})")
    for key, label, colour in (("control_upper_face_and_framing", "upper face and framing", "tab:orange"),
                               ("control_outside_mask_area", "all but the mask area", "tab:purple")):
        if key in results:
            left.axhline(results[key]["mean"], color=colour, linestyle=":",
                         label=f"control: {label} ({results[key]['mean']:.0%})")
    floors = [(i, results["conditions"][n]["kind_mix_floor"]) for i, n in enumerate(names)
              if "kind_mix_floor" in results["conditions"][n]]
    if floors:
        left.scatter([i for i, _ in floors], [f for _, f in floors], marker="_", s=400, color="black", zorder=3,
                     label="a perfect single kind, against real photos of all kinds")
    left.axhline(0.5, color="black", linewidth=0.8, label="indistinguishable (50 %)")
    left.set_ylim(0.4, 1.0)
    left.set_ylabel("two-sample test accuracy (lower = more real)")
    left.legend(fontsize=8)
    left.tick_params(axis="x", rotation=30)
    right.bar(names, called, color=["tab:gray" if n == "mlfw-white" else "tab:green" for n in names])
    right.axhline(results["detector"]["real_with_mask_called_masked"], color="tab:red", linestyle="--",
                  label="real masked photos (held out)")
    right.set_ylim(0, 1)
    right.set_ylabel("share called 'masked' by a real-photo detector")
    right.legend(fontsize=8)
    right.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# Each variant: the style, changes to the drawn MaskParams, and renderer constants or functions switched back
# to what they were before a realism fix ("module.NAME": value). Same seeds, so the same masks otherwise.
_FLAT_TOP = {"maskgen.geometry._level_in_view": lambda frontal, surface, axes, x, top, apex, lowest: top,
             "maskgen.geometry._single_arc": lambda top, apex: top,
             "maskgen.geometry._bridged_rows": lambda x, depth: depth}
_OLD_SHADING = {"maskgen.composite.CURVE_SHADE": 0.0, "maskgen.composite.RIM_DARKEN": 0.0,
                "maskgen.composite.SHOULDER": 1.0, "maskgen.composite.DROP_SHADOW": 0.0,
                "maskgen.appearance.PLEAT_SHADE": 0.0}
_FABRIC = {"maskgen.kinds.FABRIC_UNDULATION": 2.0, "maskgen.kinds.FABRIC_SHEEN": 0.15,
           "maskgen.composite.CURVE_SHADE": 0.8, "maskgen.composite.CURVE_POWER": 1.0}  # realism v2.1, not adopted
ABLATIONS = {
    "varied (as rendered)": ("varied", {}, {}),
    "varied, with the fabric's bulges and sheen of v2.1 (not adopted)": ("varied", {}, _FABRIC),
    "varied, without the one-arc top edge (flaw 1)": ("varied", {}, _FLAT_TOP),
    "varied, without the shading of v2 (flaw 2)": ("varied", {}, _OLD_SHADING),
    "varied, with the wide palette (flaw 3): varied-wide": ("varied-wide", {}, {}),
    "varied, without any v2 fix": ("varied-wide", {}, {**_FLAT_TOP, **_OLD_SHADING}),
    "varied, photo matching off (no blur, grain or colour cast)": ("varied", {"match_photo": False}, {}),
    "varied, flat (shading 0.15, as mlfw-white)": ("varied", {"shading": 0.15}, {}),
    "mlfw-white (as rendered)": ("mlfw-white", {}, {}),
    "mlfw-white, lit and matched like varied": ("mlfw-white", {"shading": 1.0, "match_photo": True}, {}),
}


class patched:
    """Set module attributes ("package.module.NAME": value) for the duration of a with-block."""

    def __init__(self, changes: dict) -> None:
        import importlib

        self.targets = [(importlib.import_module(k.rsplit(".", 1)[0]), k.rsplit(".", 1)[1], v)
                        for k, v in changes.items()]

    def __enter__(self) -> None:
        self.saved = [(module, name, getattr(module, name)) for module, name, _ in self.targets]
        for module, name, value in self.targets:
            setattr(module, name, value)

    def __exit__(self, *exc) -> None:
        for module, name, value in self.saved:
            setattr(module, name, value)


def render_variant(image: np.ndarray, face: maskgen.Face, seed: int, style: str, change: dict,
                   patch: dict) -> np.ndarray:
    """`style`'s mask for `seed` with its drawn parameters changed by `change` and parts of the renderer
    switched back by `patch` (an ABLATIONS entry); with neither, exactly what `maskgen.render` draws."""
    import dataclasses

    from maskgen.render import apply_masks, draw_params

    with patched(patch):
        params = [dataclasses.replace(p, **change) for p in draw_params(1, style, seed)]
        return apply_masks(image, [face], params).image


def write_ablation(args: argparse.Namespace, detector: nn.Module, detector_stats: dict, bare_faces: list,
                   unseen: np.ndarray, real: np.ndarray) -> None:
    """For each variant, the real-photo detector's "masked" share on the held-out unmasked photos and the
    two-sample test against the real masked crops (one seed), with one part of the renderer switched off."""
    shares, two_samples = {}, {}
    for name, (style, change, patch) in ABLATIONS.items():
        crops = np.stack([align(render_variant(image, face, index, style, change, patch), face)
                          for index, (image, face) in enumerate(bare_faces)])
        shares[name] = float((predict(detector, crops[unseen]) > 0.5).mean())
        two_samples[name] = two_sample(real, crops, [0], args.epochs)["mean"]
        print(f"{name}: detector calls masked {shares[name]:.1%}, two-sample {two_samples[name]:.3f}")
    report = {"command": provenance.command(),
              "date": provenance.today(), "crop_px": CROP, "scored_on_unseen_photos": int(len(unseen)),
              "detector": detector_stats, "detector_called_masked": shares,
              "two_sample_whole_face_seed0": two_samples}
    path = args.out.with_name("realism-ablation.json")
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-mask", type=Path, default=DATA / "real-masks" / "with_mask")
    parser.add_argument("--without-mask", type=Path, default=DATA / "real-masks" / "without_mask")
    parser.add_argument("--conditions", default=",".join((maskgen.BASELINE, "varied", "varied-wide", *maskgen.KINDS)))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos per folder")
    parser.add_argument("--out", type=Path, default=RESULTS / "realism.json")
    parser.add_argument("--ablation", action="store_true",
                        help="instead: which parts of the varied renderer move the detector (realism-ablation.json)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    seeds = list(range(args.seeds))

    real_faces, real_dropped = load_faces(args.with_mask, args.limit)
    bare_faces, bare_dropped = load_faces(args.without_mask, args.limit)
    real = np.stack([align(image, face) for image, face in real_faces])
    bare = np.stack([align(image, face) for image, face in bare_faces])
    real_inside = np.stack([in_photo(image, face) for image, face in real_faces])
    bare_inside = np.stack([in_photo(image, face) for image, face in bare_faces])
    # masks are rendered on the unmasked photos, so a synthetic crop is padded exactly where its photo's is
    padded = (is_padded(bare_inside), is_padded(real_inside))
    real_area = np.stack([mask_area(face) for _, face in real_faces])
    bare_area = np.stack([mask_area(face) for _, face in bare_faces])
    print(f"aligned crops: {len(real)} real masked ({real_dropped} dropped), "
          f"{len(bare)} unmasked ({bare_dropped} dropped)")

    # The detector: real with-mask versus real without-mask (held-out split inside). It is only ever applied
    # to photos it did not train on: a synthetic mask drawn on a photo the detector learned as "unmasked" is
    # judged against its memory of that very photo.
    detector, detector_stats, detector_split = train_classifier(bare, real, seed=100, epochs=2 * args.epochs)
    unseen_bare = np.setdiff1d(np.arange(len(bare)), detector_split.train_0)
    unseen_real = np.setdiff1d(np.arange(len(real)), detector_split.train_1)
    detector_stats["real_with_mask_called_masked"] = float((predict(detector, real[unseen_real]) > 0.5).mean())
    detector_stats["real_without_mask_called_masked"] = float((predict(detector, bare[unseen_bare]) > 0.5).mean())
    detector_stats["scored_on"] = {"with_mask": int(len(unseen_real)), "without_mask": int(len(unseen_bare))}

    if args.ablation:
        write_ablation(args, detector, detector_stats, bare_faces, unseen_bare, real)
        return

    results: dict = {
        "command": provenance.command(),
        "date": provenance.today(),
        "machine": provenance.machine(torch=torch.__version__),
        "seeds": seeds, "epochs": args.epochs, "crop_px": CROP,
        "photos": {"with_mask_used": len(real), "with_mask_dropped": real_dropped,
                   "without_mask_used": len(bare), "without_mask_dropped": bare_dropped},
        "lower_face_padded_over_30_percent": {"with_mask": padded_share(real_inside),
                                              "without_mask": padded_share(bare_inside)},
        "control_upper_face_only": two_sample(blank_lower(real), blank_lower(bare), seeds, args.epochs, padded),
        "control_upper_face_and_framing": two_sample(blank_lower(real, real_inside), blank_lower(bare, bare_inside),
                                                     seeds, args.epochs),
        "control_outside_mask_area": two_sample(blank_mask_area(real, real_area), blank_mask_area(bare, bare_area),
                                                seeds, args.epochs),
        "detector": detector_stats,
        "conditions": {},
    }
    best_worst = {}
    for condition in args.conditions.split(","):
        synthetic = render_crops(bare_faces, condition)
        # three seeds for the two styles the question is about, one for each single kind
        whole = two_sample(real, synthetic, seeds if condition in (maskgen.BASELINE, "varied") else seeds[:1],
                           args.epochs, padded)
        called = float((predict(detector, synthetic[unseen_bare]) > 0.5).mean())
        results["conditions"][condition] = {
            "two_sample_whole_face": whole,
            "realism_gap_over_control": whole["mean"] - results["control_upper_face_only"]["mean"],
            "realism_gap_over_framing_control": whole["mean"] - results["control_upper_face_and_framing"]["mean"],
            "realism_gap_over_mask_area_control": whole["mean"] - results["control_outside_mask_area"]["mean"],
            "detector_called_masked": called,
        }
        control_split = results["control_upper_face_only"]["by_framing"]
        for framing in ("framed", "padded"):
            results["conditions"][condition][f"realism_gap_over_control_{framing}"] = (
                whole["by_framing"][f"balanced_{framing}"] - control_split[f"balanced_{framing}"])
        if condition in REAL_KIND_SHARE:
            floor = kind_mix_floor(results["control_upper_face_only"]["mean"], REAL_KIND_SHARE[condition])
            results["conditions"][condition]["kind_mix_floor"] = floor
            results["conditions"][condition]["realism_gap_over_kind_mix_floor"] = whole["mean"] - floor
        print(f"{condition:>11}: two-sample {whole['mean']:.3f} +- {whole['std']:.3f}, "
              f"detector calls masked {called:.1%}")
        if condition == "varied":
            model, _, split = train_classifier(synthetic, real, seeds[0], args.epochs)
            unseen = synthetic[np.setdiff1d(np.arange(len(synthetic)), split.train_0)]
            realness = predict(model, unseen)  # probability of "real" for each held-out synthetic crop
            order = np.argsort(realness)
            best_worst = {"most real": unseen[order[::-1][:16]], "least real": unseen[order[:16]]}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out.with_suffix(".png"))
    if best_worst:
        images = list(best_worst["most real"]) + list(best_worst["least real"])
        captions = ["most real"] * 16 + ["least real"] * 16
        sheet = contact_sheet(images, captions, columns=16, size=96)
        maskgen.write_image(args.out.with_name("realism-samples.png"), sheet)
    print(json.dumps({k: v for k, v in results.items() if k != "conditions"}, indent=2))


if __name__ == "__main__":
    main()
