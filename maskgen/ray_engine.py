"""`maskgen render --engine ray`: the same per-file work as the local engine, scheduled by Ray Data.

One Ray Data stage over batches of files, an actor pool so that heavy state is built once per worker, not once
per file: each actor finds a file's faces (through the landmark cache, with one MediaPipe graph built on the
first miss), renders it, writes its outputs atomically and returns its manifest records. Each file's seed
comes from the global seed and its relative path, exactly as in the local engine, so a cluster writes the same
bytes as a laptop.

Needs `pip install maskgen[ray]`. The base package never imports ray.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from .batch import RenderOptions, Task, process_file
from .landmarks import quiet_native_logs

log = logging.getLogger(__name__)
MAX_BATCH_FILES = 64
BATCHES_PER_WORKER = 8  # enough batches for the pool to balance the load, few enough to keep Ray's cost small


def batch_files(files: int, workers: int) -> int:
    """Files per Ray task. Each task costs Ray scheduling, a block conversion and an object-store round trip,
    several milliseconds against a few of work per file, so batches are as large as load balance allows."""
    return int(np.clip(-(-files // (BATCHES_PER_WORKER * max(1, workers))), 1, MAX_BATCH_FILES))


class RayUnavailable(ImportError):
    """Ray (or its data extra) is not installed or cannot be imported."""


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise RayUnavailable(f"the Ray engine needs the ray extra (pip install 'maskgen[ray]'): {exc}") from exc
    return ray


class FileStage:
    """An actor: built once per worker, then called on batch after batch of files (detect, render, write).

    Detection and rendering share the actor, as in the local engine's worker processes: with cached landmarks
    detection is a hash and a lookup, and a separate stage cost an actor start per worker and an object-store
    round trip per batch for nothing."""

    def __init__(self, options: RenderOptions) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        import cv2

        cv2.setNumThreads(1)  # one CPU per actor: OpenCV's own threads would only fight the other actors
        self.options = options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import ray

        node = ray.get_runtime_context().get_node_id()
        records = []
        for relpath, is_image, error, variants in zip(batch["relpath"], batch["is_image"], batch["error"],
                                                      batch["variants"]):
            span = json.loads(variants)
            task = Task(relpath=str(relpath), is_image=bool(is_image), error=str(error) if error else None,
                        variants=tuple(span) if span else None)
            records.append(json.dumps(process_file(task, self.options)))
        return {"records": np.array(records, dtype=object), "node": np.array([node] * len(records), dtype=object)}


def _ray_verbose() -> bool:
    """Ray's chatter (token set-up, execution plans, deprecations, its C++ core's warnings about actor
    restarts) is not for maskgen's users; `maskgen -v` (the "maskgen" logger at INFO) keeps it."""
    return logging.getLogger("maskgen").isEnabledFor(logging.INFO)


def _quiet_ray() -> None:
    if not _ray_verbose():
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # read by the driver's C++ core at ray.init
        for name in ("ray", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)


def run_ray(tasks: list[Task], options: RenderOptions, workers: int, address: str | None = None,
            nodes_seen: dict[str, int] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Yield each file's manifest records as Ray finishes them. `nodes_seen` counts files per Ray node."""
    _quiet_ray()
    ray = _import_ray()
    _quiet_ray()  # importing ray configured its loggers afresh
    started_here = not ray.is_initialized()
    if started_here:
        # "local": a fresh Ray of our own, never whatever cluster `ray start` left running on this machine
        kwargs: dict[str, Any] = {"address": address} if address else {"address": "local", "num_cpus": workers,
                                                                     "include_dashboard": False}
        host = (address or "127.0.0.1").rsplit(":", 1)[0]
        if host == "localhost" or host.startswith("127."):
            kwargs["_node_ip_address"] = "127.0.0.1" if host == "localhost" else host  # loopback stays loopback
        verbose = _ray_verbose()
        with contextlib.nullcontext() if verbose else quiet_native_logs():  # the C++ core's start-up lines
            ray.init(log_to_driver=False, logging_level=logging.INFO if verbose else logging.ERROR, **kwargs)
    try:
        if not tasks:
            return
        items = [{"relpath": t.relpath, "is_image": t.is_image, "error": t.error or "",
                  "variants": json.dumps(list(t.variants) if t.variants else None)} for t in tasks]
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.execution_options.preserve_order = False
        batch = batch_files(len(items), workers)
        dataset = ray.data.from_items(items, override_num_blocks=-(-len(items) // batch))
        pool = max(1, workers)
        with warnings.catch_warnings():
            # SPREAD has no named parameter in Ray 2.60 (pinned); passing it as a remote argument is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            rendered = dataset.map_batches(FileStage, fn_constructor_args=(options,), batch_size=batch,
                                           compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=1,
                                           scheduling_strategy="SPREAD")
        for row in rendered.iter_rows():
            if nodes_seen is not None:
                nodes_seen[row["node"]] = nodes_seen.get(row["node"], 0) + 1
            yield json.loads(row["records"])
    finally:
        if started_here:
            ray.shutdown()
