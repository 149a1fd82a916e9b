"""`maskgen render --engine ray`: the same per-file work as the local engine, scheduled by Ray Data.

Two Ray Data stages over batches of files, each an actor pool so that heavy state is built once per worker,
not once per file: landmark detection (one MediaPipe graph per actor, through the landmark cache) and
rendering (writes outputs atomically, returns manifest records). Each file's seed comes from the global seed
and its relative path, exactly as in the local engine, so a cluster writes the same bytes as a laptop.

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

from .batch import Detection, RenderOptions, Task, detect_file, render_file
from .landmarks import quiet_native_logs

log = logging.getLogger(__name__)
MAX_BATCH_FILES = 64
BATCHES_PER_WORKER = 8  # enough batches for the pool to balance the load, few enough to keep Ray's cost small
# Per worker CPU: one renderer (most of the work) and one detector. A renderer never fits beside another on a
# one-CPU node, so the pool spreads over the cluster.
RENDER_CPUS, DETECT_CPUS = 0.75, 0.25


def batch_files(files: int, workers: int) -> int:
    """Files per Ray task. Each task costs Ray scheduling, a block conversion and an object-store round trip,
    several milliseconds against about ten of rendering per file, so batches are as large as load balance allows."""
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


class _Stage:
    """An actor of one stage: built once per worker, then called on batch after batch."""

    def __init__(self, options: RenderOptions) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        import cv2

        cv2.setNumThreads(1)  # one CPU per actor: OpenCV's own threads would only fight the other actors
        self.options = options


class DetectStage(_Stage):
    """Finds faces for a batch of files (MediaPipe loaded once per actor, in its first call)."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list[Any]] = {"relpath": [], "landmarks": [], "size": [], "early": [], "variants": []}
        for relpath, is_image, error, variants in zip(batch["relpath"], batch["is_image"], batch["error"],
                                                      batch["variants"]):
            span = json.loads(variants)
            task = Task(relpath=str(relpath), is_image=bool(is_image), error=str(error) if error else None,
                        variants=tuple(span) if span else None)
            found = detect_file(task, self.options)
            out["relpath"].append(found.relpath)
            out["variants"].append(variants)
            out["landmarks"].append(b"" if found.landmarks is None else found.landmarks.astype(np.float32).tobytes())
            out["size"].append(json.dumps(found.image_size))
            out["early"].append(json.dumps(found.early))
        return {key: np.array(values, dtype=object) for key, values in out.items()}


class RenderStage(_Stage):
    """Renders a batch of detected files and returns their manifest records as JSON."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import ray

        node = ray.get_runtime_context().get_node_id()
        records, nodes = [], []
        for relpath, blob, size, early, variants in zip(batch["relpath"], batch["landmarks"], batch["size"],
                                                        batch["early"], batch["variants"]):
            early = json.loads(early)
            image_size = json.loads(size)
            span = json.loads(variants)
            landmarks = np.frombuffer(blob, np.float32).reshape(-1, 478, 3) if image_size is not None else None
            detection = Detection(str(relpath), landmarks, tuple(image_size) if image_size else None, early,
                                  variants=tuple(span) if span else None)
            records.append(json.dumps(render_file(detection, self.options)))
            nodes.append(node)
        return {"records": np.array(records, dtype=object), "node": np.array(nodes, dtype=object)}


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
            detected = dataset.map_batches(DetectStage, fn_constructor_args=(options,), batch_size=batch,
                                           compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=DETECT_CPUS,
                                           scheduling_strategy="SPREAD")
            rendered = detected.map_batches(RenderStage, fn_constructor_args=(options,), batch_size=batch,
                                            compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=RENDER_CPUS,
                                            scheduling_strategy="SPREAD")
        for row in rendered.iter_rows():
            if nodes_seen is not None:
                nodes_seen[row["node"]] = nodes_seen.get(row["node"], 0) + 1
            yield json.loads(row["records"])
    finally:
        if started_here:
            ray.shutdown()
