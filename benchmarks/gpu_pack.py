"""Pack what the GPU run needs into one file that travels with the working tree (at most ~50 MiB).

    python benchmarks/gpu_pack.py                          # gpu-pack/faces.npz: train + val at 112 px
    python benchmarks/gpu_pack.py --size 64 --max-per-split 200 --out gpu-pack/tiny.npz   # for a CPU test

The photos are resized to the training size and JPEG-compressed, their landmarks (from the landmark cache;
photos missing from it are detected once, here) scaled and quantised; labels, splits and file names go along.
The device machine then needs numpy, OpenCV and torch only: no dataset, no MediaPipe, no Albumentations.
`gpu-pack/` is ignored by git: name it in the device tool's `carry`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from fer.data import build_landmark_cache, check_images, find_samples  # noqa: E402
from fer.packed import pack_faces  # noqa: E402
from fer.train import stratified_subset  # noqa: E402
from maskgen.cache import LandmarkCache  # noqa: E402
from maskgen.images import read_image, to_uint8_rgb  # noqa: E402
from maskgen.landmarks import detect_faces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MASKGEN_DATA", ROOT.parent / "shared" / "data"))
LIMIT_MIB = 50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "lfw-expressions")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "landmarks-lfw-expressions.sqlite")
    parser.add_argument("--splits", default="train,val")
    parser.add_argument("--size", type=int, default=112, help="training resolution in px")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the packed photos")
    parser.add_argument("--max-per-split", type=int, default=None, help="a stratified subset (tests)")
    parser.add_argument("--out", type=Path, default=ROOT / "gpu-pack" / "faces.npz")
    args = parser.parse_args(argv)
    if not 16 <= args.size <= 512:
        parser.error("--size must be 16..512")
    if not 1 <= args.quality <= 100:
        parser.error("--quality must be 1..100")
    started = time.perf_counter()
    chosen = []
    for split in args.splits.split(","):
        samples, root = find_samples(args.data, split)
        if args.max_per_split is not None:
            keep = stratified_subset(np.array([s.label for s in samples]), args.max_per_split, seed=0)
            samples = [samples[i] for i in keep]
        samples = check_images(samples, skip_bad=True)
        cache = LandmarkCache(args.cache, root)
        build_landmark_cache(samples, cache)
        chosen.append((split, samples, cache))

    def photos():
        for split, samples, cache in chosen:
            for sample in tqdm(samples, desc=f"packing {split}", unit="img"):
                image = to_uint8_rgb(read_image(sample.path))
                faces = cache.faces_for_file(sample.path, lambda p: (detect_faces(image), image.shape[:2]))
                yield split, sample.path.name, sample.label, image, faces

    meta = pack_faces(photos(), args.size, args.out, args.quality,
                      extra_meta={"source": str(args.data), "command": " ".join(["python", *sys.argv])})
    mib = args.out.stat().st_size / 2**20
    print(f"wrote {args.out}: {meta['photos']} photos ({meta['per_split']}), {meta['faces']} faces at "
          f"{args.size} px; {mib:.1f} MiB (photos {meta['photo_bytes'] / 2**20:.1f}, landmarks "
          f"{meta['landmark_bytes'] / 2**20:.1f}) in {time.perf_counter() - started:.0f} s")
    if mib > LIMIT_MIB:
        print(f"warning: over {LIMIT_MIB} MiB; the device tool carries at most 64 MiB with the working tree: "
              "lower --size or --quality", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
