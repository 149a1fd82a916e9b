"""`maskgen render --engine ray`: the same per-file work as the local engine, on a pool of Ray actors.

`--workers` actors, each holding its heavy state (OpenCV settings, a MediaPipe graph built on the first cache
miss) for the whole job. The driver hands out batches of files as actors finish them, two per actor in flight
so none waits for the next; an actor finds a batch's faces (through the landmark cache), renders them, writes
the outputs atomically and returns the manifest records. Each file's seed comes from the global seed and its
relative path, exactly as in the local engine, so a cluster writes the same bytes as a laptop.

Plain actors, not a Ray Data pipeline: the work is one stage with nothing to shuffle, and Ray Data's import and
pipeline start-up held the first results back 4.4 s on a 13,682-file job, against 0.77 s now
(docs/benchmarks.md). Needs the ray extra (`pip install -e ".[ray]"`). The base package never imports ray.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .batch import RenderOptions, Task, died_alone, process_file
from .landmarks import quiet_native_logs

log = logging.getLogger(__name__)
MAX_BATCH_FILES = 64
BATCHES_PER_WORKER = 8  # enough batches for the pool to balance the load, few enough to keep Ray's cost small
IN_FLIGHT_PER_ACTOR = 2  # one batch working, one queued: an actor never waits for the driver's round trip
RETRIES = 3  # an actor that dies (a node lost, memory) is restarted and its batch redone: outputs are atomic


def batch_files(files: int, workers: int) -> int:
    """Files per Ray task. Each task costs scheduling and an object-store round trip, a few milliseconds
    against a few of work per file, so batches are as large as load balance allows."""
    return int(np.clip(-(-files // (BATCHES_PER_WORKER * max(1, workers))), 1, MAX_BATCH_FILES))


class RayUnavailable(ImportError):
    """Ray is not installed or cannot be imported, or the cluster named by --address does not answer."""


CONNECT_TIMEOUT_S = 10.0


def check_ray(address: str | None) -> None:
    """Fail before any work starts when Ray cannot run: the extra missing, or nothing listening at `address`
    (Ray itself would retry a wrong address for minutes without a word)."""
    _import_ray()
    if address is None:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--address must be HOST:PORT of a Ray head node (e.g. 10.0.0.5:6379), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayUnavailable(f"no Ray cluster answers at {address} ({exc}); start one with "
                             f"`ray start --head --port={port}` on {host}, or leave out --address for a local Ray")


def _import_ray():
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise RayUnavailable("the Ray engine needs maskgen's ray extra (pip install -e '.[ray]' in the maskgen "
                             f"checkout): {exc}") from exc
    return ray


class FileStage:
    """An actor: built once per worker, then called on batch after batch of files (detect, render, write).

    Detection and rendering share the actor, as in the local engine's worker processes: with cached landmarks
    detection is a hash and a lookup."""

    def __init__(self, options: RenderOptions, process: Callable | None = None) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        import cv2

        cv2.setNumThreads(1)  # one CPU per actor: OpenCV's own threads would only fight the other actors
        self.options = options
        self.process = process or process_file

    def run(self, tasks: list[Task]) -> tuple[str, list[list[dict[str, Any]]]]:
        """This node's id and each file's manifest records."""
        import ray

        return ray.get_runtime_context().get_node_id(), [self.process(task, self.options) for task in tasks]

    def close(self) -> None:
        """Close this actor's landmark cache, so its rows reach the database file itself, not only its
        write-ahead log (a copy of the file alone would otherwise be empty)."""
        from .batch import close_worker_caches

        close_worker_caches()


def _ray_verbose() -> bool:
    """Ray's chatter (token set-up, execution plans, deprecations, its C++ core's warnings about actor
    restarts) is not for maskgen's users; `maskgen -v` (the "maskgen" logger at INFO) keeps it."""
    return logging.getLogger("maskgen").isEnabledFor(logging.INFO)


def _quiet_ray() -> None:
    if not _ray_verbose():
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # read by the driver's C++ core at ray.init
        logging.getLogger("ray").setLevel(logging.ERROR)


def run_ray(tasks: list[Task], options: RenderOptions, workers: int, address: str | None = None,
            nodes_seen: dict[str, int] | None = None,
            process: Callable | None = None) -> Iterator[list[dict[str, Any]]]:
    """Yield each file's manifest records as Ray finishes them. `nodes_seen` counts files per Ray node.

    An actor that dies more often than Ray restarts it (a file that kills its process every time: the memory
    killer, a crash in native code) loses its batches, and another batch it had queued: a fresh actor takes its
    place, and once the rest is done the lost files are tried again one at a time on the first actor, so only a
    file that kills its worker by itself ends as "failed" (which a resume retries; `died_alone`). `process`:
    what an actor runs per file, `process_file` unless a test swaps it."""
    _quiet_ray()
    ray = _import_ray()
    _quiet_ray()  # importing ray configured its loggers afresh
    if not tasks:  # e.g. a --resume of a finished run: no Ray to start and stop
        return
    started_here = not ray.is_initialized()
    try:
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
        size = batch_files(len(tasks), workers)
        batches = iter([tasks[i:i + size] for i in range(0, len(tasks), size)])
        # SPREAD puts the actors on as many nodes as there are; each takes one CPU for the whole job
        stage = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES,
                           scheduling_strategy="SPREAD")(FileStage)
        actors = [stage.remote(options, process) for _ in range(max(1, min(workers, -(-len(tasks) // size))))]
        lost: list[Task] = []  # files of batches whose actor died for good
        replaced: dict[int, tuple[Any, Any]] = {}  # id of a dead actor -> it and the actor in its place
        pending: dict[Any, tuple[Any, list[Task]]] = {}  # result reference -> the actor and its batch
        counted: set[str] = set()  # photos already counted in nodes_seen (one may come in several runs)

        def count_nodes(node: str, batch: list[Task], files: list) -> Iterator[list[dict[str, Any]]]:
            for task, records in zip(batch, files):
                if nodes_seen is not None and task.relpath not in counted:
                    counted.add(task.relpath)
                    nodes_seen[node] = nodes_seen.get(node, 0) + 1
                yield records

        def hand_out(actor) -> None:
            batch = next(batches, None)
            if batch is not None:
                pending[actor.run.remote(batch)] = (actor, batch)

        for _ in range(IN_FLIGHT_PER_ACTOR):
            for actor in actors:
                hand_out(actor)
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            actor, batch = pending.pop(ready)
            try:
                node, files = ray.get(ready)
            except ray.exceptions.RayActorError:
                lost.extend(batch)
                if id(actor) not in replaced:  # the first of its lost batches to come back: a fresh actor
                    fresh = stage.remote(options, process)
                    replaced[id(actor)] = (actor, fresh)  # the dead handle kept, so its id is never reused
                    actors[next(i for i, a in enumerate(actors) if a is actor)] = fresh
                hand_out(replaced[id(actor)][1])
                continue
            hand_out(actor)
            yield from count_nodes(node, batch, files)
        # One file at a time on the first actor, nothing else in flight, so a death names its file. (Not an actor
        # of its own: every actor holds its CPU for life, and on a full cluster a new one would never start.)
        deaths_in_a_row = 0
        for task in lost:
            try:
                node, files = ray.get(actors[0].run.remote([task]))
            except ray.exceptions.RayActorError:
                deaths_in_a_row += 1
                yield died_alone(task, deaths_in_a_row)
                actors[0] = stage.remote(options, process)  # the dead one's CPU is free again
                continue
            deaths_in_a_row = 0
            yield from count_nodes(node, [task], files)
        ray.get([actor.close.remote() for actor in actors])
    finally:
        if started_here and ray.is_initialized():
            ray.shutdown()
