"""Realism probes: does one change to the renderer move the two-sample test, beyond the seeds' noise?

    python benchmarks/realism_probe.py no-straps colours-round-2 --seeds 8
    python benchmarks/realism_probe.py --list

A probe swaps renderer constants or functions for the length of one run (as `realism.py --ablation` does) and
draws `varied` on the real unmasked photos with the same seeds as the renderer as committed, so each probe is
paired with the unchanged renderer mask for mask and seed for seed. Both go through `realism.py`'s two-sample
test (`--seeds` classifier seeds, 6 epochs each); a probe is worth adopting only when it is lower on most seeds
and its mean difference is several standard errors from zero. Cheaper than `realism.py` (about 8 minutes per
probe at 8 seeds on 2 cores, against 30 for the full benchmark), so many ideas can be tried before one is
adopted and every benchmark is rerun.

Each run appends one record to benchmarks/results/realism-probes.jsonl: the probe, what it changes, the commit
(and whether the tree had uncommitted changes), the seeds and each seed's accuracy, plus, for a probe, the
paired difference from the unchanged renderer. The unchanged renderer is run once per commit and seed count
and reused while the tree is clean.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import provenance  # noqa: E402
import realism  # noqa: E402

import maskgen.kinds as kinds  # noqa: E402

RESULTS = realism.RESULTS / "realism-probes.jsonl"
UNCHANGED = "unchanged"


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
}


def tree_state() -> dict:
    """The commit the renderer comes from, and whether uncommitted changes could make it another renderer."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=realism.ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "maskgen"))
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown", "renderer_changed_since": dirty}


def load_runs(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_run(path: Path, record: dict) -> None:
    """One line per run, written whole: an interrupted probe loses only itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def paired(probe: list[float], base: list[float]) -> dict:
    """Mean of the per-seed differences, its standard error, and on how many seeds the probe came out lower."""
    diff = np.asarray(probe) - np.asarray(base)
    return {"mean_difference": float(diff.mean()),
            "standard_error": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan"),
            "lower_on_seeds": int((diff < 0).sum()), "seeds": int(len(diff))}


def run_probe(name: str, patch: dict, faces: list, real: np.ndarray, seeds: list[int], epochs: int) -> list[float]:
    crops = np.stack([realism.align(realism.render_variant(image, face, index, "varied", {}, patch), face)
                      for index, (image, face) in enumerate(tqdm(faces, desc=name, unit="face"))])
    return realism.two_sample(real, crops, seeds, epochs)["runs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probes", nargs="*", help="names from --list")
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos per folder (for a try)")
    parser.add_argument("--with-mask", type=Path, default=realism.DATA / "real-masks" / "with_mask")
    parser.add_argument("--without-mask", type=Path, default=realism.DATA / "real-masks" / "without_mask")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON-lines file runs are appended to")
    args = parser.parse_args()
    if args.list or not args.probes:
        for name, probe in PROBES.items():
            print(f"{name}: {probe.description}")
        return
    unknown = [name for name in args.probes if name not in PROBES]
    if unknown:
        parser.error(f"unknown probe(s) {', '.join(unknown)}; --list shows them")

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    seeds = list(range(args.seeds))
    real_faces, _ = realism.load_faces(args.with_mask, args.limit)
    bare_faces, _ = realism.load_faces(args.without_mask, args.limit)
    real = np.stack([realism.align(image, face) for image, face in real_faces])
    state = tree_state()
    common = {"date": provenance.today(), "command": provenance.command(), **state, "seeds": seeds,
              "epochs": args.epochs, "photos": {"real_masked": len(real), "unmasked": len(bare_faces)},
              "machine": provenance.machine()}

    def same_setup(run: dict) -> bool:
        return (run["commit"] == state["commit"] and not run["renderer_changed_since"]
                and not state["renderer_changed_since"] and run["seeds"] == seeds and run["epochs"] == args.epochs
                and run["photos"] == common["photos"])
    base = next((run for run in reversed(load_runs(args.out)) if run["probe"] == UNCHANGED and same_setup(run)), None)
    if base is None:
        start = time.time()
        base = {"probe": UNCHANGED, "changes": "none: varied as committed", **common,
                "accuracy": run_probe(UNCHANGED, {}, bare_faces, real, seeds, args.epochs),
                "seconds": round(time.time() - start)}
        append_run(args.out, base)
    print(f"{UNCHANGED}: {np.mean(base['accuracy']):.2%}")
    for name in args.probes:
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
