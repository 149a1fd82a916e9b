"""What masking costs a real training step, unmasked against `varied` masks, side by side, at 64 and 112 px.

The step is `fer`'s ResMaskingNet step in the cpu-fast recipe: bf16 autocast, the paper's augmentations, photos
preloaded at the training size and masks drawn at that size. Writes benchmarks/results/train_overhead.json.
Data: lfw-expressions under ../shared/data (or $MASKGEN_DATA).

    python benchmarks/train_overhead.py                         # lfw-expressions from ../shared/data
    python benchmarks/train_overhead.py --sizes 112 --batches 4

Two measurements per size:
- serial (no loader workers): every batch is built twice, unmasked and masked, from the same photos and
  augmentation draws, and one training step runs on it; masking's cost is the difference between the two
  builds, and its share is that cost over the masked build plus the step.
- loader (the recipe's DataLoader workers, 2): images per second of whole training steps with each dataset,
  the slowdown a user sees when the workers and the step share the machine's cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from fer.data import FaceDataset, find_samples  # noqa: E402
from fer.train import CONFIGS, Autocast, make_optimizer, stratified_subset  # noqa: E402
from fer.models import create_model  # noqa: E402
from maskgen.cache import LandmarkCache  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))  # provenance, beside this script
import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKGEN_DATA", ROOT.parent / "shared" / "data")) / "lfw-expressions"
MODEL = "resmasking"


def datasets(samples, cache, size: int) -> dict[str, FaceDataset]:
    return {mask: FaceDataset(samples, size, mask, cache if mask != "none" else None, augment=True, seed=0,
                              preload=True) for mask in ("none", "varied")}


def collate(dataset: FaceDataset, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    items = [dataset[i] for i in indices]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def serial(sets: dict[str, FaceDataset], model: nn.Module, config, batches: int) -> dict:
    """Seconds per image of building each batch, and of the step, with no workers."""
    optimizer = make_optimizer(model, config)
    criterion = nn.CrossEntropyLoss()
    autocast = Autocast(config.bf16)
    build = {mask: 0.0 for mask in sets}
    step, images = 0.0, 0
    order = np.random.default_rng(0).permutation(len(sets["none"]))
    for b in range(batches + 1):  # the first batch warms up allocators and caches, and is not counted
        indices = order[b * config.batch_size:(b + 1) * config.batch_size].tolist()
        if not indices:
            break
        built = {}
        for mask, dataset in sets.items():
            start = time.perf_counter()
            built[mask] = collate(dataset, indices)
            if b:
                build[mask] += time.perf_counter() - start
        start = time.perf_counter()
        x, y = built["varied"]
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = criterion(model(x).float(), y)
        loss.backward()
        optimizer.step()
        if b:
            step += time.perf_counter() - start
            images += len(indices)
    masking = (build["varied"] - build["none"]) / images
    return {"images": images, "build_ms_per_image": {m: 1000.0 * t / images for m, t in build.items()},
            "step_ms_per_image": 1000.0 * step / images, "masking_ms_per_image": 1000.0 * masking,
            "masking_share_of_masked_step": masking / ((build["varied"] + step) / images)}


def loader(sets: dict[str, FaceDataset], model: nn.Module, config, batches: int) -> dict:
    """Images per second of whole training steps fed by a DataLoader with the recipe's workers."""
    optimizer = make_optimizer(model, config)
    criterion = nn.CrossEntropyLoss()
    autocast = Autocast(config.bf16)
    rates = {}
    for mask, dataset in sets.items():
        subset = torch.utils.data.Subset(dataset, list(range(min(len(dataset), (batches + 1) * config.batch_size))))
        batches_seen, images, start = 0, 0, None
        for x, y in torch.utils.data.DataLoader(subset, config.batch_size, num_workers=config.workers):
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = criterion(model(x).float(), y)
            loss.backward()
            optimizer.step()
            batches_seen += 1
            if batches_seen == 1:  # workers started and warmed up: the clock starts after the first batch
                start = time.perf_counter()
            else:
                images += len(y)
        rates[mask] = images / (time.perf_counter() - start)
    return {"workers": config.workers, "images_per_second": rates,
            "masked_over_unmasked_rate": rates["varied"] / rates["none"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help=f"the lfw-expressions folder (default {DATA})")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "landmarks-lfw-expressions.sqlite",
                        help="landmark cache (filled on a miss)")
    parser.add_argument("--sizes", default="64,112", help="training sizes in px, comma-separated (default 64,112)")
    parser.add_argument("--batches", type=int, default=8,
                        help="timed batches of 64 per measurement, after one warm-up batch (default 8)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_overhead.json",
                        help="JSON to write (default: the committed benchmarks/results/train_overhead.json)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    base = CONFIGS["cpu-fast"]
    samples, root = find_samples(args.data, "train")
    count = (args.batches + 2) * base.batch_size  # a stratified subset can come out a few photos short
    samples = [samples[i] for i in stratified_subset(np.array([s.label for s in samples]), count, 0)]
    cache = LandmarkCache(args.cache, root=root)
    report = {"command": provenance.command(),
              "date": provenance.today(), "model": MODEL, "recipe": "cpu-fast",
              "machine": provenance.machine(torch_threads=torch.get_num_threads()), "sizes": {}}
    for size in (int(s) for s in args.sizes.split(",")):
        config = dataclasses.replace(base, image_size=size)
        sets = datasets(samples, cache, size)
        torch.manual_seed(0)
        model = create_model(MODEL, num_classes=3)
        report["sizes"][str(size)] = {"serial": serial(sets, model, config, args.batches),
                                      "loader": loader(sets, model, config, args.batches)}
        print(json.dumps({size: report["sizes"][str(size)]}, indent=2), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
