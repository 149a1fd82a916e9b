"""Mask kinds and styles: every random choice about a mask is drawn here, and only here.

`sample_params` turns a style name and a numpy Generator into a `MaskParams`: a plain, JSON-serialisable
record of shape, placement, material and finish. Rendering from the same `MaskParams` always gives the same
pixels, which is what makes results reproducible and auditable (the CLI writes them to its manifest).
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .appearance import PALETTE, Material, list_texture_files
from .geometry import WEAR_MODES, MaskShape

KINDS = ("surgical", "n95", "kn95", "cloth", "gaiter", "sport")
BASELINE = "mlfw-white"
WIDE = "varied-wide"
STYLES = ("varied", WIDE, BASELINE, *KINDS)
PALETTES = ("real", "wide")
# What 100 real masked photos showed, counted by eye (benchmarks/results/real-masks-kinds.md).
REAL_KIND_SHARE = {"cloth": 0.42, "surgical": 0.38, "kn95": 0.07, "n95": 0.06, "sport": 0.05, "gaiter": 0.02}
# How often each kind turns up in the "varied" style: `REAL_KIND_SHARE` a little evened out; and in
# "varied-wide", the broader draw for robustness training.
KIND_WEIGHTS = {"cloth": 0.38, "surgical": 0.36, "kn95": 0.08, "n95": 0.07, "sport": 0.06, "gaiter": 0.05}
KIND_WEIGHTS_WIDE = {"surgical": 0.34, "cloth": 0.2, "kn95": 0.14, "n95": 0.1, "sport": 0.1, "gaiter": 0.12}
ANY_SATURATION = (0.1, 0.9)  # range of saturation for "any colour" draws, low values the most likely
ANY_VALUE = (0.15, 0.95)
# The soft bulges (relief height) and fibre sheen (added light) every drawn fabric gets, see `Material`: off.
# Realism v2.1 drew them at 2.0 and 0.15 (with `composite.CURVE_SHADE` 0.8, `CURVE_POWER` 1): the spread of
# brightness inside a mask then came near real masks', but the masks looked glossy and lumpy, the two-sample test
# and the real-photo detector told them from real ones more easily, and the train-on-synthetic detector gained
# no more than a draw of the bulges moves it (docs/benchmarks.md, "Realism v2.1"). Constants, not draws: set
# them to try it; a seed draws the same masks in every other respect.
FABRIC_UNDULATION = 0.0
FABRIC_SHEEN = 0.0
# How often drawn straps show, and how much of them then (`Material.strap_opacity`). About a quarter of real
# masked photos show a loop (10-12 of 40 counted by eye), thin and partly behind hair; drawn at full strength on
# every mask they were a tell: left off, the two-sample test fell by a point (docs/benchmarks.md, "Straps that
# show as often as real ones"). Drawn last, so a seed draws the same masks in every other respect.
STRAP_SHOWS = 0.35
STRAP_OPACITY = (0.3, 0.8)
# How masks are worn on real masked photos: 5 of the 100 counted by eye had the nose out, none the mask on the
# chin (benchmarks/results/real-masks-kinds.md). Ask for it with `Placement(wear=REAL_WEAR)`. Not the default:
# drawn for every mask, it cost the train-on-synthetic detector 3.8 points on real photos (docs/benchmarks.md,
# "How masks are worn"), so the default stays "correct".
REAL_WEAR = {"correct": 0.95, "nose_out": 0.05}
# Colours seen on real masks that the shared palette lacks (RGB 0-255): peach (nude surgical masks), mustard and
# hot pink (cloth) are a good share of the real masks' yellow-orange and pink families (mask-colours.json).
REAL_EXTRA_COLOURS = {"pale-green": (206, 224, 194), "cream": (238, 232, 214), "peach": (238, 200, 176),
                      "mustard": (212, 160, 40), "hot-pink": (220, 70, 130)}
_NAMED_COLOURS = {name: rgb for name, rgb, _ in PALETTE} | REAL_EXTRA_COLOURS


@dataclass(frozen=True)
class Looks:
    """How a kind's fabric is drawn: a share of any colour at all, else a named colour (names only: weighted
    as in the palette; a mapping: these weights), and the weights of its patterns."""

    any_share: float
    colours: tuple[str, ...] | Mapping[str, float]
    patterns: Mapping[str, float]


LOOKS: dict[str, dict[str, Looks]] = {
    # "real": the frequencies of real masked photos (benchmarks/results/real-masks-kinds.md and
    # mask-colours.json): black, grey and white are two thirds of all masks, light blue most of the rest,
    # about a third of cloth masks printed, surgical masks almost always plain. The colour weights were set
    # so that the rendered masks' colour families come near the real ones' (pink and red 9.5 %, yellow, orange
    # and brown 7 %, green 1 %): with fewer pink, peach and mustard masks the train-on-synthetic detector
    # missed exactly those real masks (docs/benchmarks.md, "Mask colours as real masks' families").
    "real": {
        "surgical": Looks(0.02, {"white": 15, "light-blue": 6, "surgical-blue": 4, "sea-green": 0.6, "black": 3,
                                 "navy": 2, "pale-green": 0.6, "beige": 1.5, "cream": 1, "light-grey": 0.4,
                                 "pastel-pink": 2.5, "peach": 1.0},
                          {"plain": 30.0, "floral": 0.3, "dots": 0.2, "print": 0.3}),
        "n95": Looks(0.0, {"white": 3, "light-grey": 1, "grey": 1, "black": 1, "beige": 0.3}, {"plain": 1.0}),
        "kn95": Looks(0.02, {"white": 6, "black": 1.5, "light-grey": 0.5, "grey": 0.3, "pastel-pink": 0.5,
                             "surgical-blue": 0.2, "peach": 0.3},
                      {"plain": 20.0, "print": 0.3}),
        "cloth": Looks(0.05, {"black": 14, "charcoal": 11, "grey": 1, "light-grey": 0.5, "navy": 2.5, "white": 1.5,
                              "denim": 1, "pastel-pink": 2, "hot-pink": 0.8, "red": 0.8, "mustard": 1.0,
                              "beige": 1, "peach": 0.5, "olive": 0.5, "burgundy": 1},
                       {"plain": 30.0, "floral": 2.5, "print": 2.0, "plaid": 1.5, "image": 1.5, "camouflage": 1.0,
                        "stripes": 1.0, "dots": 1.0, "melange": 1.0, "checks": 0.8, "woven": 0.5, "knit": 0.3,
                        "gradient": 0.2}),
        "gaiter": Looks(0.1, {"black": 2, "charcoal": 1, "grey": 1, "navy": 0.7, "olive": 0.5, "denim": 0.5,
                              "burgundy": 0.3},
                        {"plain": 3.0, "melange": 1.5, "knit": 0.8, "camouflage": 0.8, "stripes": 0.5,
                         "image": 0.5, "print": 0.3}),
        "sport": Looks(0.05, {"black": 3, "grey": 1, "charcoal": 0.8, "navy": 0.4, "white": 0.4, "red": 0.2,
                              "olive": 0.2},
                       {"plain": 8.0, "camouflage": 0.5, "print": 0.5, "melange": 0.3}),
    },
    # "wide": many colours and prints, for training that should not lean on a mask's look
    "wide": {
        "surgical": Looks(0.15, ("white", "surgical-blue", "light-blue", "black", "sea-green", "pastel-pink",
                                 "lavender", "light-grey", "grey", "navy", "yellow"),
                          {"plain": 8.0, "floral": 0.5, "dots": 0.4, "gradient": 0.4, "print": 0.3,
                           "camouflage": 0.2, "stripes": 0.2}),
        "n95": Looks(0.1, ("white", "light-grey", "surgical-blue", "black", "grey", "beige"),
                     {"plain": 6.0, "woven": 1.0, "print": 0.4}),
        "kn95": Looks(0.2, ("white", "black", "grey", "light-grey", "pastel-pink", "surgical-blue", "navy", "beige",
                            "lavender"),
                      {"plain": 8.0, "print": 0.6, "gradient": 0.3, "camouflage": 0.2}),
        "cloth": Looks(0.25, tuple(name for name, _, _ in PALETTE),
                       {"plain": 3.0, "stripes": 1.0, "dots": 1.0, "checks": 1.0, "plaid": 1.0, "floral": 1.2,
                        "camouflage": 0.7, "knit": 0.5, "woven": 0.8, "gradient": 0.4, "print": 0.8, "melange": 0.8,
                        "image": 1.2}),
        "gaiter": Looks(0.25, tuple(name for name, _, _ in PALETTE),
                        {"plain": 2.0, "melange": 1.5, "knit": 1.2, "camouflage": 1.0, "stripes": 0.8,
                         "gradient": 0.6, "print": 0.5, "floral": 0.5, "image": 1.0}),
        "sport": Looks(0.15, ("black", "charcoal", "grey", "navy", "white", "red", "olive"),
                       {"plain": 5.0, "camouflage": 0.6, "print": 0.6, "melange": 0.5}),
    },
}
PRINT_WORDS = ("N95", "FFP2", "KN95", "AIR", "PURE", "SAFE", "CITY", "MOVE", "ZEN", "BREATHE", "NOVA", "FLEX")

Range = tuple[float, float]
# What each placement range may span: beyond these a mask no longer sits on a face (top: 0..1 of the wear
# mode's span; chin_drop and width in half face widths, as in `MaskShape`).
PLACEMENT_LIMITS: dict[str, Range] = {"top": (0.0, 1.0), "chin_drop": (-0.2, 1.5), "width": (0.5, 1.25)}


@dataclass(frozen=True)
class MaskParams:
    """Everything needed to render one mask on one face, and nothing random left to draw."""

    kind: str
    shape: MaskShape
    material: Material
    seed: int  # seeds the grain added to match the photo's noise
    shading: float = 1.0  # 1: lit by the photo's light and the mask's own relief; 0: flat, pasted look
    match_photo: bool = True  # copy the photo's noise, blur, colour cast and colour resolution onto the mask

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; exact (no rounding), so `from_dict` renders the very same pixels."""
        return {
            "kind": self.kind,
            "shape": _fields(self.shape),
            "material": _fields(self.material),
            "seed": self.seed,
            "shading": self.shading,
            "match_photo": self.match_photo,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MaskParams:
        material = dict(data["material"])
        material["colours"] = tuple(tuple(c) for c in material["colours"])
        for key in ("strap_colour", "valve_colour"):
            material[key] = tuple(material[key])
        if material.get("valve") is not None:
            material["valve"] = tuple(material["valve"])
        return cls(kind=data["kind"], shape=MaskShape(**data["shape"]), material=Material(**material),
                   seed=int(data["seed"]), shading=float(data.get("shading", 1.0)),
                   match_photo=bool(data.get("match_photo", True)))


@dataclass(frozen=True)
class Placement:
    """User control over where the mask sits; unset ranges use each kind's realistic defaults.

    Args:
        wear: "correct", "nose_out", "chin", or a mapping of those to probabilities.
        top: range of the top edge's height within the wear mode's span (0 low .. 1 high).
        chin_drop: range of how far below the chin the mask reaches, in half face widths (-0.2 .. 1.5).
        width: range of the share of the face's half-width covered on each side (0.5 .. 1.25).

    Raises:
        ValueError: unknown wear modes, negative or all-zero wear weights, or a range that is reversed or
            outside `PLACEMENT_LIMITS`.
    """

    wear: str | Mapping[str, float] = "correct"
    top: Range | None = None
    chin_drop: Range | None = None
    width: Range | None = None

    def __post_init__(self) -> None:
        if isinstance(self.wear, str):
            modes = [self.wear]
        elif isinstance(self.wear, Mapping):
            modes = list(self.wear)
            weights = list(self.wear.values())
            bad = {m: w for m, w in self.wear.items()
                   if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) or w < 0}
            if bad:
                raise ValueError(f"wear weights must be finite numbers >= 0, got {bad}")
            if not weights or sum(weights) <= 0:
                raise ValueError(f"wear weights must include at least one positive weight, got {dict(self.wear)}")
        else:
            raise ValueError(f"wear must be a wear mode or a mapping of modes to weights, got {self.wear!r}")
        unknown = [m for m in modes if m not in WEAR_MODES]
        if unknown:
            raise ValueError(f"unknown wear mode(s) {unknown}; choose from {WEAR_MODES}")
        for name, (low_limit, high_limit) in PLACEMENT_LIMITS.items():
            value = getattr(self, name)
            if value is None:
                continue
            try:
                low, high = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a (low, high) range of two numbers, got {value!r}") from None
            if not (np.isfinite(low) and np.isfinite(high)) or low > high:
                raise ValueError(f"{name} must be a (low, high) range with low <= high, got {value!r}")
            if low < low_limit or high > high_limit:
                raise ValueError(f"{name} must lie within [{low_limit}, {high_limit}], got {value!r}")
            object.__setattr__(self, name, (low, high))

    def draw_wear(self, rng: np.random.Generator) -> str:
        if isinstance(self.wear, str):
            return self.wear
        return _weighted_choice(rng, self.wear)


_DEFAULT_PLACEMENT = Placement()  # validated once, not on every draw


def _fields(instance: Any) -> dict[str, Any]:
    """A flat dataclass as a dict: immutable values are shared, only a dict value is deep-copied
    (`dataclasses.asdict` deep-copies everything, which cost more than the rest of the record)."""
    return {f.name: copy.deepcopy(value) if isinstance(value := getattr(instance, f.name), dict) else value
            for f in dataclasses.fields(instance)}


def _weighted_choice(rng: np.random.Generator, weights: Mapping[Any, float] | Sequence[tuple[Any, float]]) -> Any:
    """One key drawn in proportion to its weight. The same draw as `rng.choice(n, p=...)` (one uniform, the
    same CDF search), in plain Python: numpy's per-call overhead cost more than the rest of a draw."""
    items = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
    cdf = list(itertools.accumulate(float(w) for _, w in items))
    total = cdf[-1]
    return items[bisect.bisect_right([c / total for c in cdf], rng.random())][0]


def _pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    """One of `options`, equally likely: the very draw `rng.choice(options)` makes (one integer), without its
    conversion of the options to an array, which cost more than the draw."""
    return options[int(rng.integers(len(options)))]


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _colour(rng: np.random.Generator, any_share: float = 0.3,
            favourites: tuple[str, ...] | Mapping[str, float] | None = None) -> tuple[float, float, float]:
    """A palette colour (weighted by how common it is), or any colour at all.

    Any hue can come up, but saturation is drawn towards dyed-fabric levels and the brightest saturated
    colours are toned down: real masks are almost never neon, and a lime or cyan mask was the first thing
    that gave synthetic crops away in the realism benchmark (docs/benchmarks.md)."""
    if rng.random() < any_share:
        hue = rng.random()
        sat = ANY_SATURATION[0] + (ANY_SATURATION[1] - ANY_SATURATION[0]) * rng.random() ** 1.6
        val = rng.uniform(*ANY_VALUE) * (1.0 - 0.25 * sat)
        rgb = _hsv_to_rgb(hue, sat, val)
    elif isinstance(favourites, Mapping):
        rgb = tuple(c / 255.0 for c in _NAMED_COLOURS[_weighted_choice(rng, favourites)])
    else:
        entries = [(p[1], p[2]) for p in PALETTE if favourites is None or p[0] in favourites]
        rgb = tuple(c / 255.0 for c in _weighted_choice(rng, entries))
    jitter = rng.normal(0.0, 0.02, 3)
    return tuple(min(max(float(c + j), 0.0), 1.0) for c, j in zip(rgb, jitter))


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def _material(rng: np.random.Generator, patterns: Mapping[str, float], ground: tuple[float, float, float],
              texture_dirs: tuple[str, ...], **construction: Any) -> Material:
    pattern = _weighted_choice(rng, patterns)
    colours = [ground] + [_colour(rng, any_share=0.3) for _ in range(int(rng.integers(1, 4)))]
    extra: dict[str, Any] = {}
    texture_file = None
    if pattern == "image":
        files = list_texture_files(texture_dirs)
        if files:
            texture_file = files[int(rng.integers(len(files)))]
            extra["tint"] = float(_pick(rng, (0.0, 0.0, rng.uniform(0.2, 0.6))))
        else:
            pattern = "plain"
    if pattern == "dots":
        extra["dot_radius"] = _uniform(rng, (0.12, 0.3))
    elif pattern == "checks":
        extra["gingham"] = bool(rng.random() < 0.5)
    elif pattern == "plaid":
        extra["plaid_bands"] = [round(_uniform(rng, (0.04, 0.25)), 3) for _ in range(int(rng.integers(2, 4)))]
    elif pattern == "gradient":
        extra["radial"] = bool(rng.random() < 0.3)
    elif pattern == "print":
        extra["logo"] = bool(rng.random() < 0.5)
    text = ""
    if pattern == "print":
        text = str(_pick(rng, PRINT_WORDS)) if rng.random() < 0.6 else "".join(
            chr(65 + int(c)) for c in rng.integers(0, 26, int(rng.integers(2, 6))))
    return Material(
        pattern=pattern,
        colours=tuple(colours),
        pattern_scale=_uniform(rng, (3.0, 12.0)),
        pattern_angle=float(_pick(rng, (0.0, 0.0, 45.0, 90.0, _uniform(rng, (-60.0, 60.0))))),
        texture_file=texture_file,
        text=text,
        seed=int(rng.integers(0, 2**31 - 1)),
        fibre=_uniform(rng, (0.01, 0.06)),
        undulation=FABRIC_UNDULATION,
        sheen=FABRIC_SHEEN,
        strap_colour=construction.pop("strap_colour", ground),
        extra=extra,
        **construction,
    )


def _sample_kind(kind: str, rng: np.random.Generator, placement: Placement,
                 texture_dirs: tuple[str, ...], palette: str = "real") -> MaskParams:
    wear = placement.draw_wear(rng)

    def shape(top: Range, side_drop: Range, chin_drop: Range, width: Range, tightness: Range,
              outline: str, straps: str, bulge: Range = (0.0, 0.0), fold: Range = (0.0, 0.0),
              standoff: Range = (0.015, 0.035)) -> MaskShape:
        return MaskShape(
            wear=wear,
            top=_uniform(rng, placement.top or top),
            side_drop=_uniform(rng, side_drop),
            chin_drop=_uniform(rng, placement.chin_drop or chin_drop),
            width=_uniform(rng, placement.width or width),
            tightness=_uniform(rng, tightness),
            bulge=_uniform(rng, bulge),
            fold=_uniform(rng, fold),
            standoff=_uniform(rng, standoff),
            outline=outline,
            straps=straps,
        )

    if kind not in KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; choose from {KINDS}")
    looks = LOOKS[palette][kind]
    ground = _colour(rng, looks.any_share, looks.colours)
    patterns = looks.patterns
    if kind == "surgical":
        geometry = shape((0.6, 1.0), (0.05, 0.25), (0.08, 0.32), (0.9, 1.03), (0.1, 0.45), "rect", "loops",
                         bulge=(0.0, 0.08))
        material = _material(rng, patterns, ground, texture_dirs, pleats=int(_pick(rng, (3, 3, 3, 2, 4))),
                             nose_wire=True, edge_band=_uniform(rng, (0.035, 0.06)),
                             strap_colour=ground if rng.random() < 0.7 else (0.95, 0.95, 0.95))
    elif kind == "n95":
        geometry = shape((0.6, 0.95), (0.0, 0.12), (0.0, 0.14), (0.78, 0.92), (0.1, 0.3), "cup", "head",
                         bulge=(0.16, 0.3))
        valve = (float(_pick(rng, (0.3, 0.7))), 0.58, 0.085) if rng.random() < 0.3 else None
        material = _material(rng, patterns, ground, texture_dirs,
                             nose_wire=True, edge_band=_uniform(rng, (0.02, 0.04)), valve=valve,
                             valve_colour=_colour(rng, 0.2, ("white", "grey", "charcoal", "surgical-blue")),
                             strap_colour=_colour(rng, 0.0, ("white", "surgical-blue", "yellow", "grey")
                                                  if palette == "wide" else {"white": 3, "light-grey": 1, "grey": 1}))
    elif kind == "kn95":
        geometry = shape((0.65, 1.0), (0.05, 0.2), (0.05, 0.22), (0.88, 1.0), (0.05, 0.25), "fold", "loops",
                         bulge=(0.02, 0.08), fold=(0.1, 0.22))
        material = _material(rng, patterns, ground,
                             texture_dirs, centre_seam=True, nose_wire=True,
                             edge_band=_uniform(rng, (0.025, 0.05)), strap_colour=ground)
    elif kind == "cloth":
        geometry = shape((0.65, 1.0), (0.05, 0.2), (0.1, 0.3), (0.88, 1.0), (0.35, 0.75), "contour", "loops",
                         bulge=(0.0, 0.06))
        material = _material(rng, patterns, ground, texture_dirs, centre_seam=bool(rng.random() < 0.8),
                             edge_band=_uniform(rng, (0.0, 0.035)),
                             strap_colour=ground if rng.random() < 0.6 else _colour(rng, 0.2))
    elif kind == "gaiter":
        # no nose wire: it sits lower on the nose, runs round the head below the cheekbones, hugs jaw and neck
        geometry = shape((0.4, 0.85), (0.1, 0.25), (0.3, 0.6), (0.95, 1.03), (0.6, 0.9), "tube", "none",
                         standoff=(0.02, 0.045))
        material = _material(rng, patterns, ground, texture_dirs, wrinkles=_uniform(rng, (0.2, 0.8)))
    else:  # sport
        geometry = shape((0.65, 1.0), (0.05, 0.18), (0.05, 0.25), (0.88, 1.0), (0.55, 0.85), "contour",
                         str(_pick(rng, ("loops", "head"))), bulge=(0.03, 0.08))
        side = float(_pick(rng, (0.27, 0.73)))
        material = _material(rng, patterns, ground,
                             texture_dirs, centre_seam=True, edge_band=_uniform(rng, (0.02, 0.04)),
                             valve=(side, 0.6, _uniform(rng, (0.07, 0.1))),
                             valve_colour=_colour(rng, 0.3, ("black", "charcoal", "grey", "red", "white")),
                             strap_colour=ground)
    seed = int(rng.integers(0, 2**31 - 1))
    shows = geometry.straps != "none" and rng.random() < STRAP_SHOWS
    material = dataclasses.replace(material, strap_opacity=_uniform(rng, STRAP_OPACITY) if shows else 0.0)
    return MaskParams(kind=kind, shape=geometry, material=material, seed=seed)


def _mlfw_white(rng: np.random.Generator, placement: Placement) -> MaskParams:
    """M-LFW-FER's mask: one flat white surgical mask, faint pleats, ear loops, pasted without lighting."""
    shape = MaskShape(
        wear=placement.draw_wear(rng),
        top=_uniform(rng, placement.top or (0.5, 0.6)),
        side_drop=0.15,
        chin_drop=_uniform(rng, placement.chin_drop or (0.1, 0.14)),
        width=_uniform(rng, placement.width or (0.9, 0.92)),
        tightness=0.4,
        standoff=0.02,
        outline="rect",
        straps="loops",
    )
    white = (0.96, 0.96, 0.97)
    material = Material(pattern="plain", colours=(white,), pleats=3, fibre=0.0, edge_band=0.0,
                        strap_colour=(0.9, 0.9, 0.9))
    return MaskParams(kind=BASELINE, shape=shape, material=material, seed=int(rng.integers(0, 2**31 - 1)),
                      shading=0.15, match_photo=False)


def sample_params(style: str, rng: np.random.Generator, placement: Placement | None = None,
                  texture_dirs: tuple[str, ...] = ()) -> MaskParams:
    """Draw one mask for one face. `style` is "varied" (kinds, colours and prints as often as on real masked
    photos), "varied-wide" (many more colours and prints: for training that must not lean on a mask's look),
    "mlfw-white" or a kind name (drawn with real-photo colours)."""
    if placement is not None and not isinstance(placement, Placement):
        raise ValueError(f"placement must be a maskgen.Placement (e.g. Placement(wear='chin')), got "
                         f"{type(placement).__name__}")
    placement = placement or _DEFAULT_PLACEMENT
    if style == BASELINE:
        return _mlfw_white(rng, placement)
    palette = "wide" if style == WIDE else "real"
    if style == "varied":
        style = _weighted_choice(rng, KIND_WEIGHTS)
    elif style == WIDE:
        style = _weighted_choice(rng, KIND_WEIGHTS_WIDE)
    if style not in KINDS:
        raise ValueError(f"unknown style {style!r}; choose from {STYLES}")
    return _sample_kind(style, rng, placement, texture_dirs, palette)
