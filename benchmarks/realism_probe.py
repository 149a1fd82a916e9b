"""Realism probes: does one change to the renderer move the two-sample test, beyond the seeds' noise?

    python benchmarks/realism_probe.py no-straps colours-round-2 --seeds 8
    python benchmarks/realism_probe.py --list

A probe swaps renderer constants or functions for the length of one run (as `realism.py --ablation` does) and
draws `varied` on the real unmasked photos with the same seeds as the unchanged renderer, so each probe is paired
with it mask for mask and seed for seed. Both go through `realism.py`'s two-sample test (`--seeds` classifier
seeds, `--epochs` each); a probe is worth adopting only when it is lower on most seeds and its mean difference is
several standard errors from zero. Cheaper than `realism.py` (on 2 cores: about a minute to find the faces, then
about 6 minutes per probe at 8 seeds, against 30 for the full benchmark), so many ideas can be tried before one
is adopted and every benchmark is rerun.

Each probe appends one record to `--out` (by default the committed benchmarks/results/realism-probes.jsonl; give
another file for a trial): the probe, what it changes, the commit, the seeds and each seed's accuracy, and the
paired difference from the unchanged renderer. The unchanged renderer gets a record of its own the first time:
it is reused from `--out` for as long as the renderer (maskgen/) and the test (realism.py) are the same git trees
with no uncommitted changes, on the same photos, seeds and epochs, so commits that touch neither (docs,
results) keep it; anything else runs it again (and prints which).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import provenance  # noqa: E402
import realism  # noqa: E402

import maskgen.kinds as kinds  # noqa: E402
from fer.cli import at_least  # noqa: E402
from maskgen.photo import luminance  # noqa: E402

RESULTS = realism.RESULTS / "realism-probes.jsonl"
UNCHANGED = "unchanged"
# what the two-sample figures depend on besides the probe: the renderer and the test
SOURCES = ("maskgen", "benchmarks/realism.py")  # not this file: adding a probe keeps the baseline
MIN_PHOTOS = 20  # fewer usable faces on a side than this and the held-out 30 % says nothing


def _looks_with(kind_colours: dict[str, dict[str, float]], patterns: dict[str, dict[str, float]] | None = None
                ) -> dict:
    """`varied`'s looks with some kinds' colour weights (and pattern weights) replaced."""
    real = dict(kinds.LOOKS["real"])
    for kind, colours in kind_colours.items():
        real[kind] = dataclasses.replace(real[kind], colours=colours)
    for kind, extra in (patterns or {}).items():
        real[kind] = dataclasses.replace(real[kind], patterns=dict(real[kind].patterns) | extra)
    return {"maskgen.kinds.LOOKS": dict(kinds.LOOKS) | {"real": real}}


# A second round of colour weights towards the real photos' families (mask-colours.json): charcoal up, grey and
# white a little down, pink up, green down.
_COLOURS_ROUND_2 = {
    "surgical": {"white": 13.5, "light-blue": 6, "surgical-blue": 4, "sea-green": 0.3, "black": 3, "navy": 2,
                 "pale-green": 0.3, "beige": 1.5, "cream": 1, "light-grey": 0.2, "pastel-pink": 3.2, "peach": 1.0},
    "cloth": {"black": 12, "charcoal": 15, "grey": 0.5, "light-grey": 0.3, "navy": 2.5, "white": 1.5, "denim": 1,
              "pastel-pink": 2.2, "hot-pink": 1.0, "red": 0.8, "mustard": 1.0, "beige": 1, "peach": 0.5,
              "olive": 0.3, "burgundy": 1.2},
    "gaiter": {"black": 2, "charcoal": 1.5, "grey": 0.5, "navy": 0.7, "olive": 0.3, "denim": 0.5, "burgundy": 0.3},
    "sport": {"black": 3, "grey": 0.5, "charcoal": 1.3, "navy": 0.4, "white": 0.4, "red": 0.2, "olive": 0.1},
    "kn95": {"white": 6, "black": 1.5, "light-grey": 0.3, "grey": 0.2, "pastel-pink": 0.6, "surgical-blue": 0.2,
             "peach": 0.3},
}
_MORE_MELANGE = {"cloth": {"melange": 8.0}}
_FEWER_PLAIN = {"cloth": {"plain": 15.0}}  # patterned renders scored more real than plain ones


def _wavy_top_edge(amplitude: float) -> dict:
    """The top edge lowered by a smooth wave of up to `amplitude` half face widths, 3 to 6 waves across, after it
    is levelled: real edges wrinkle and bend along the nose wire, drawn ones are one clean curve. Only lowered, so
    it never nears the eyes; the wave is drawn from the edge itself, so each mask keeps its own."""
    import maskgen.geometry as geometry

    level_in_view = geometry._level_in_view

    def wavy(frontal, surface, axes, x, top, apex, lowest):
        levelled = level_in_view(frontal, surface, axes, x, top, apex, lowest)
        rng = np.random.default_rng(zlib.crc32(np.round(levelled, 6).tobytes()))
        across = np.linspace(0.0, 1.0, len(levelled))
        wave = sum(np.sin(2 * np.pi * (rng.uniform(3, 6) * across + rng.uniform())) for _ in range(2))
        return levelled + amplitude * (wave + 2.0) / 4.0
    return {"maskgen.geometry._level_in_view": wavy}


def _muted_colours(keep: float) -> dict:
    """Every drawn fabric colour moved towards the grey of its own lightness, keeping `keep` of its saturation
    (over 1: away from it): cameras, haze and worn dye might mute real masks' colours more than the palette's."""
    colour = kinds._colour

    def muted(*args, **kwargs):
        rgb = np.asarray(colour(*args, **kwargs))
        grey = float(luminance(rgb))
        return tuple(float(c) for c in np.clip(grey + keep * (rgb - grey), 0.0, 1.0))
    return {"maskgen.kinds._colour": muted}


@dataclasses.dataclass(frozen=True)
class Probe:
    description: str
    patch: Callable[[], dict]  # "package.module.NAME" -> value, for realism.patched


PROBES: dict[str, Probe] = {
    "no-straps": Probe("no ear loops or head straps on any mask",
                       lambda: {"maskgen.kinds.STRAP_SHOWS": 0.0}),
    "solid-straps": Probe("straps shown solid on every mask that has them (as before 2026-12-07)",
                          lambda: {"maskgen.kinds.STRAP_SHOWS": 1.0, "maskgen.kinds.STRAP_OPACITY": (1.0, 1.0)}),
    "colours-round-2": Probe("a second round of colour weights towards the real families (charcoal up, grey and "
                             "white down, pink up, green down)", lambda: _looks_with(_COLOURS_ROUND_2)),
    "more-melange": Probe("heathered cloth drawn on about 7 % of masks instead of 1.9 %",
                          lambda: _looks_with({}, _MORE_MELANGE)),
    "colours-round-2-melange": Probe("colours-round-2 and more-melange together",
                                     lambda: _looks_with(_COLOURS_ROUND_2, _MORE_MELANGE)),
    "patterned-cloth": Probe("plain cloth at half its weight (15 instead of 30): 47 % of cloth masks "
                             "patterned instead of 31 %", lambda: _looks_with({}, _FEWER_PLAIN)),
    "wavy-top-edge": Probe("the top edge lowered by a smooth wave of up to 0.03 half face widths, 3 to 6 waves "
                           "across", lambda: _wavy_top_edge(0.03)),
    "wavy-top-edge-strong": Probe("the same wave, up to 0.06 half face widths", lambda: _wavy_top_edge(0.06)),
    "muted-colours": Probe("every fabric colour keeps 75 % of its saturation (moved towards its lightness's grey)",
                           lambda: _muted_colours(0.75)),
    "vivid-colours": Probe("every fabric colour with 125 % of its saturation (the opposite of muted-colours)",
                           lambda: _muted_colours(1.25)),
}


def renderer_state() -> dict:
    """The commit, the git trees of the renderer and the test (a baseline is reused only for the same ones), and
    whether either has uncommitted changes (tracked or new files), which make the trees say nothing."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=realism.ROOT, capture_output=True, text=True)
        except OSError:
            return None
        return done.stdout.strip() if done.returncode == 0 else None
    trees = [git("rev-parse", f"HEAD:{source}") for source in SOURCES]
    changes = git("status", "--porcelain", "--", *SOURCES)
    known = all(trees) and changes is not None
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown",
            "renderer": ",".join(tree[:12] for tree in trees) if known else None,
            "uncommitted_changes": bool(changes) or not known}


def load_runs(path: Path) -> list[dict]:
    """The records in `path`; a line that is not one (cut short, edited by hand) is skipped with a warning."""
    if not path.exists():
        return []
    runs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            run = json.loads(line)
        except json.JSONDecodeError as exc:
            print(f"warning: {path} line {number} skipped: not JSON ({exc.msg})", file=sys.stderr)
            continue
        if not isinstance(run, dict) or "probe" not in run or "accuracy" not in run:
            print(f"warning: {path} line {number} skipped: not a probe record", file=sys.stderr)
            continue
        runs.append(run)
    return runs


def append_run(path: Path, record: dict) -> None:
    """One line per run, written whole: an interrupted probe loses only itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cut_short = False
    if path.exists() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            cut_short = f.read(1) != b"\n"
    with path.open("a") as f:
        f.write(("\n" if cut_short else "") + json.dumps(record) + "\n")


def paired(probe: list[float], base: list[float]) -> dict:
    """Mean of the per-seed differences, its standard error, and on how many seeds the probe came out lower
    (at least two seeds: one has no standard error)."""
    diff = np.asarray(probe) - np.asarray(base)
    return {"mean_difference": float(diff.mean()),
            "standard_error": float(diff.std(ddof=1) / np.sqrt(len(diff))),
            "lower_on_seeds": int((diff < 0).sum()), "seeds": int(len(diff))}


def run_probe(name: str, patch: dict, faces: list, real: np.ndarray, seeds: list[int], epochs: int) -> list[float]:
    crops = np.stack([realism.align(realism.render_variant(image, face, index, "varied", {}, patch), face)
                      for index, (image, face) in enumerate(tqdm(faces, desc=name, unit="face"))])
    return realism.two_sample(real, crops, seeds, epochs)["runs"]


def usable_faces(folder: Path, limit: int | None) -> list:
    faces, dropped = realism.load_faces(folder, limit)
    print(f"{folder}: {len(faces)} photos with a usable face, {dropped} dropped (no face, or unreadable)")
    if len(faces) < MIN_PHOTOS:
        raise SystemExit(f"error: only {len(faces)} usable faces in {folder}; a probe needs at least {MIN_PHOTOS}")
    return faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("probes", nargs="*", help="names from --list (none: list them)")
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    parser.add_argument("--seeds", type=at_least(2), default=8, help="classifier seeds 0..N-1, paired")
    parser.add_argument("--epochs", type=at_least(1), default=6, help="training epochs of each classifier")
    parser.add_argument("--limit", type=at_least(1), default=None, help="at most this many photos per folder")
    parser.add_argument("--with-mask", type=Path, default=realism.DATA / "real-masks" / "with_mask",
                        help="real masked photos")
    parser.add_argument("--without-mask", type=Path, default=realism.DATA / "real-masks" / "without_mask",
                        help="real unmasked photos, which the probes draw masks on")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="the JSON-lines file records are appended to (a trial: give another)")
    args = parser.parse_args()
    if args.list or not args.probes:
        for name, probe in PROBES.items():
            print(f"{name}: {probe.description}")
        return
    unknown = [name for name in args.probes if name not in PROBES]
    if unknown:
        parser.error(f"unknown probe(s) {', '.join(unknown)}; --list shows them")
    for folder in (args.with_mask, args.without_mask):
        if not folder.is_dir():
            parser.error(f"no folder {folder} (the real-masks photos: see ../shared/data/README.md)")
    if args.out.is_dir():
        parser.error(f"--out {args.out} is a folder; give a .jsonl file")
    earlier = load_runs(args.out)

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    seeds = list(range(args.seeds))
    real_faces = usable_faces(args.with_mask, args.limit)
    bare_faces = usable_faces(args.without_mask, args.limit)
    real = np.stack([realism.align(image, face) for image, face in real_faces])
    state = renderer_state()
    setup = {"seeds": seeds, "epochs": args.epochs,
             "data": {"with_mask": str(args.with_mask.resolve()), "without_mask": str(args.without_mask.resolve()),
                      "limit": args.limit},
             "photos": {"real_masked": len(real), "unmasked": len(bare_faces)}}
    common = {"date": provenance.today(), "command": provenance.command(), **state, **setup,
              "machine": provenance.machine()}

    def reusable(run: dict) -> bool:
        return (run.get("probe") == UNCHANGED and not state["uncommitted_changes"]
                and not run.get("uncommitted_changes", True) and run.get("renderer") == state["renderer"]
                and all(run.get(key) == value for key, value in setup.items()))
    base = next((run for run in reversed(earlier) if reusable(run)), None)
    if base is None:
        print(f"{UNCHANGED}: no earlier run of this renderer on this setup in {args.out}; running it")
        start = time.time()
        base = {"probe": UNCHANGED, "changes": "none: varied as the renderer stands", **common,
                "accuracy": run_probe(UNCHANGED, {}, bare_faces, real, seeds, args.epochs),
                "seconds": round(time.time() - start)}
        append_run(args.out, base)
        print(f"{UNCHANGED}: {np.mean(base['accuracy']):.2%}")
    else:
        print(f"{UNCHANGED}: {np.mean(base['accuracy']):.2%} (run {base['date']} at commit {base['commit']}, reused)")
    for name in dict.fromkeys(args.probes):  # each once, in the order given
        start = time.time()
        accuracy = run_probe(name, PROBES[name].patch(), bare_faces, real, seeds, args.epochs)
        record = {"probe": name, "changes": PROBES[name].description, **common, "accuracy": accuracy,
                  "paired_with_unchanged": paired(accuracy, base["accuracy"]), "seconds": round(time.time() - start)}
        append_run(args.out, record)
        p = record["paired_with_unchanged"]
        print(f"{name}: {np.mean(accuracy):.2%} ({p['mean_difference']:+.2%} +- {p['standard_error']:.2%}, "
              f"lower on {p['lower_on_seeds']} seeds of {p['seeds']})")
    print(f"appended to {args.out}")


if __name__ == "__main__":
    main()
