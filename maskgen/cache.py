"""The landmark cache: one SQLite file per dataset, so no photo is ever detected twice.

Rows are keyed by the photo's path relative to the dataset root and the hash of its bytes, so a moved
dataset still hits and an edited photo misses. A photo with no face is cached too (as zero faces), so
training loops do not retry it every epoch. Arrays passed in memory (the Albumentations transform) are keyed by
a hash of their pixels. SQLite handles several worker processes writing at once.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from . import mesh
from .landmarks import Face, faces_from_array, faces_to_array

SCHEMA = """
CREATE TABLE IF NOT EXISTS faces (
    relpath TEXT NOT NULL,
    digest TEXT NOT NULL,
    height INTEGER NOT NULL,
    width INTEGER NOT NULL,
    count INTEGER NOT NULL,
    landmarks BLOB NOT NULL,
    PRIMARY KEY (relpath, digest)
);
CREATE INDEX IF NOT EXISTS faces_digest ON faces (digest);
"""


def file_digest(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        return bytes_digest(handle.read())


def bytes_digest(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def array_digest(image: np.ndarray) -> str:
    """Key for a decoded image: its pixels, shape and dtype."""
    header = f"{image.shape}|{image.dtype}|".encode()
    return "array:" + bytes_digest(header + np.ascontiguousarray(image).tobytes())


def _use_wal(connection: sqlite3.Connection, attempts: int = 60) -> None:
    """Switch the database to write-ahead logging (persistent, so normally only its creator does it).

    Changing the journal mode does not wait on the busy timeout: a worker opening the cache while another
    writes would fail at once with "database is locked". So the mode is only set when it is not WAL already,
    and a busy database is retried with back-off."""
    for attempt in range(attempts):
        try:
            if str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(min(0.02 * (attempt + 1), 0.5))


class LandmarkCache:
    """Landmarks of a dataset's photos.

    Args:
        path: the cache file (created if missing).
        root: the dataset folder; paths given to `get`/`put` are stored relative to it.

    Example:
        >>> cache = LandmarkCache("faces.sqlite", root="LFW-FER")  # doctest: +SKIP
        >>> faces = cache.faces_for_file("LFW-FER/train/neutral/x.jpg", detect)  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, root: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        self.root = Path(root).resolve() if root is not None else None
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.executescript(SCHEMA)

    # Connections are per process and per thread: a pickled cache reconnects in the worker.
    def __getstate__(self) -> dict:
        return {"path": self.path, "root": self.root}

    def __setstate__(self, state: dict) -> None:
        self.path, self.root = state["path"], state["root"]
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None or getattr(self._local, "pid", None) != os.getpid():
            connection = sqlite3.connect(self.path, timeout=120.0, isolation_level=None)
            _use_wal(connection)
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    def close(self) -> None:
        """Close this thread's connection. The last connection to close folds the write-ahead log into the
        file itself, so a finished run leaves one self-contained file to copy."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and getattr(self._local, "pid", None) == os.getpid():
            connection.close()
        self._local.connection = None

    def relative(self, path: str | os.PathLike) -> str:
        resolved = Path(path).resolve()
        if self.root is not None:
            try:
                return resolved.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return resolved.as_posix()

    def get(self, relpath: str, digest: str) -> list[Face] | None:
        """Cached faces (possibly none), or None when the photo was never detected."""
        entry = self.entry(relpath, digest)
        return None if entry is None else entry[0]

    def entry(self, relpath: str, digest: str) -> tuple[list[Face], tuple[int, int]] | None:
        """Cached faces and the (height, width) of the photo they were found in, or None on a miss."""
        row = self._connect().execute(
            "SELECT height, width, count, landmarks FROM faces WHERE relpath = ? AND digest = ?", (relpath, digest)
        ).fetchone()
        if row is None:
            row = self._connect().execute(
                "SELECT height, width, count, landmarks FROM faces WHERE digest = ? LIMIT 1", (digest,)
            ).fetchone()
        return None if row is None else (_decode(*row), (int(row[0]), int(row[1])))

    def put(self, relpath: str, digest: str, faces: list[Face], image_size: tuple[int, int]) -> None:
        points = faces_to_array(faces).astype(np.float32)
        self._connect().execute(
            "INSERT OR REPLACE INTO faces VALUES (?, ?, ?, ?, ?, ?)",
            (relpath, digest, int(image_size[0]), int(image_size[1]), len(faces), points.tobytes()),
        )

    def faces_for_file(self, path: str | os.PathLike, detect) -> list[Face]:
        """Cached faces of a photo file, detecting (with `detect(path) -> (faces, image_size)`) on a miss."""
        return self.entry_for_file(path, detect)[0]

    def entry_for_file(self, path: str | os.PathLike, detect) -> tuple[list[Face], tuple[int, int]]:
        """`faces_for_file` with the photo's (height, width). A hit is answered from the file's hash: the
        photo is only decoded (by `detect`) on a miss."""
        relpath, digest = self.relative(path), file_digest(path)
        cached = self.entry(relpath, digest)
        if cached is not None:
            return cached
        faces, image_size = detect(path)
        self.put(relpath, digest, faces, image_size)
        return faces, (int(image_size[0]), int(image_size[1]))

    def faces_for_array(self, image: np.ndarray, detect) -> list[Face]:
        """Cached faces of an in-memory image, detecting with `detect(image) -> faces` on a miss."""
        digest = array_digest(image)
        cached = self.get(digest, digest)
        if cached is not None:
            return cached
        faces = detect(image)
        self.put(digest, digest, faces, image.shape[:2])
        return faces

    def __len__(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM faces").fetchone()[0])

    def __contains__(self, relpath: str) -> bool:
        return self._connect().execute("SELECT 1 FROM faces WHERE relpath = ? LIMIT 1", (relpath,)).fetchone() \
            is not None

    def items(self) -> Iterator[tuple[str, list[Face]]]:
        for relpath, height, width, count, blob in self._connect().execute(
                "SELECT relpath, height, width, count, landmarks FROM faces ORDER BY relpath"):
            yield relpath, _decode(height, width, count, blob)

    def put_many(self, rows: Iterable[tuple[str, str, list[Face], tuple[int, int]]]) -> None:
        connection = self._connect()
        connection.execute("BEGIN")
        try:
            for relpath, digest, faces, size in rows:
                self.put(relpath, digest, faces, size)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def _decode(height: int, width: int, count: int, blob: bytes) -> list[Face]:
    points = np.frombuffer(blob, np.float32).reshape(count, mesh.NUM_LANDMARKS, 3)
    return faces_from_array(points, (height, width))
