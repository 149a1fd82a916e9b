"""Keyed seeds: every random draw is a function of (run seed, sample, epoch, variant), never of a stream.

A stream (one generator consumed sample after sample) gives results that depend on the number of DataLoader
workers, on their order and on where a run was resumed; worse, `A.Compose(..., seed=s)` copied into every
worker gives every worker, and every epoch when workers are re-created, the very same masks. A keyed seed
has none of these problems: the same sample in the same epoch always gets the same mask, a new epoch gets a
new one, and nothing else matters.

    import maskgen
    seed = maskgen.sample_seed(run_seed, index, epoch)        # inside Dataset.__getitem__
    out = maskgen.reseed(pipeline, seed)(image=image)          # an Albumentations Compose, keyed per sample
"""

from __future__ import annotations

import hashlib
import numbers
from typing import Any, TypeVar

SEED_BITS = 63
_SEED_MASK = (1 << SEED_BITS) - 1

T = TypeVar("T")


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed that is a hash of the parts (ints or strings), so nearby keys give unrelated seeds."""
    digest = hashlib.blake2b("\x00".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _SEED_MASK


def sample_seed(run_seed: int, sample: int | str, epoch: int = 0, variant: int = 0) -> int:
    """The seed of one sample's random draws in one epoch: fresh every epoch, independent of worker count,
    order and resume. `sample` is the sample's index or, better, a stable name such as its relative path."""
    return derive_seed(check_seed(run_seed, "run_seed"), sample, int(epoch), int(variant))


def check_seed(seed: Any, name: str = "seed") -> int:
    """Any integer (negative ones included, as the command line takes them) as a valid numpy seed.

    Non-negative seeds are returned unchanged, so they draw exactly what they always drew; a negative seed
    is hashed to a non-negative one. Floats, bools and strings are refused: they are almost always a bug."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {seed!r} ({type(seed).__name__})")
    seed = int(seed)
    return seed if seed >= 0 else derive_seed("negative", seed)


def reseed(pipeline: T, seed: int) -> T:
    """Set an Albumentations pipeline's (or transform's) random state from a keyed seed; returns it.

    Call it per sample with `sample_seed(...)` so each sample's augmentation is keyed, not streamed. Costs a
    few microseconds per transform in the pipeline."""
    setter = getattr(pipeline, "set_random_seed", None)
    if setter is None:
        raise TypeError(f"{type(pipeline).__name__} has no set_random_seed(); pass an Albumentations Compose "
                        "or transform")
    setter(check_seed(seed))
    return pipeline
