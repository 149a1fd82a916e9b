"""Face landmarks: MediaPipe Face Mesh, fully offline.

mediapipe 0.10.21 ships its face detector and face-mesh models inside the wheel (the legacy
`mediapipe.solutions.face_mesh` graph), so nothing is ever downloaded. Landmarks are returned in pixels:
x and y in the image, z on the same scale as x (smaller is nearer the camera).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from . import mesh
from .images import describe_layout, to_uint8_rgb

log = logging.getLogger(__name__)

DETECT_MAX_SIDE = 1280  # larger photos are detected on a downscaled copy; faces there are big anyway
DETECT_MIN_SIDE = 192  # smaller photos are upscaled: the mesh model reads 192 px crops
PAD_FRACTION = 0.3  # a face cropped tight to its outline is found once the photo is padded


@dataclass(frozen=True)
class Face:
    """One detected face: 478 landmarks (x, y, z) in pixels of the image it was found in."""

    landmarks: np.ndarray  # (478, 3) float32
    image_size: tuple[int, int]  # (height, width) of that image

    def __post_init__(self) -> None:
        points = np.asarray(self.landmarks, dtype=np.float32)
        if points.shape != (mesh.NUM_LANDMARKS, 3):
            raise ValueError(f"a face needs ({mesh.NUM_LANDMARKS}, 3) landmarks, got shape {points.shape}")
        if not np.all(np.isfinite(points)):
            raise ValueError(f"a face's landmarks must be finite; {int((~np.isfinite(points)).sum())} are NaN or inf")
        object.__setattr__(self, "landmarks", points)
        object.__setattr__(self, "image_size", (int(self.image_size[0]), int(self.image_size[1])))

    @property
    def width(self) -> float:
        """Face width in pixels (outline at eye level), the scale every shape parameter is relative to."""
        return float(np.linalg.norm(self.landmarks[mesh.CHEEK_LEFT] - self.landmarks[mesh.CHEEK_RIGHT]))

    def scaled_to(self, image_size: tuple[int, int]) -> Face:
        """The same face in a resized copy of its image."""
        height, width = image_size[:2]
        if (height, width) == self.image_size:
            return self
        sy, sx = height / self.image_size[0], width / self.image_size[1]
        scale = np.array([sx, sy, sx], dtype=np.float32)
        return Face(self.landmarks * scale, (height, width))

    def transformed(self, matrix: np.ndarray, image_size: tuple[int, int]) -> Face:
        """Apply a 2x3 affine map to x and y (z is scaled by the map's scale), e.g. after a crop or flip."""
        matrix = np.asarray(matrix, dtype=np.float64)
        xy = self.landmarks[:, :2] @ matrix[:, :2].T + matrix[:, 2]
        z = self.landmarks[:, 2:] * np.sqrt(abs(np.linalg.det(matrix[:, :2])))
        return Face(np.concatenate([xy, z], axis=1).astype(np.float32), image_size)


def faces_from_array(landmarks: np.ndarray, image_size: tuple[int, int]) -> list[Face]:
    """Faces from a (478, 3) or (N, 478, 3) array, e.g. read from a cache or passed with a sample."""
    points = np.asarray(landmarks, dtype=np.float32)
    if points.ndim == 2:
        points = points[None]
    if points.size == 0:
        return []
    return [Face(p, image_size) for p in points]


def faces_from_input(given: object, image_size: tuple[int, int]) -> tuple[list[Face], list[str]]:
    """Landmarks handed in by a caller (with a training sample, say) as faces for an image of `image_size`.

    The rule: a mistake that would repeat on every sample is an error at the first call (a wrong shape, such as
    (N, 478, 2); landmarks normalised to 0..1 instead of pixels); a problem of one sample is not (a face whose
    landmarks hold NaN or inf is skipped, and its reason returned, so one bad row never stops a training run).

    Accepts a `Face`, a list of `Face`, a (478, 3) or (N, 478, 3) array, or a list of (478, 3) arrays.
    Returns the usable faces and one reason per skipped face.
    """
    if isinstance(given, Face):
        return [given.scaled_to(image_size)], []
    if isinstance(given, (list, tuple)) and given and all(isinstance(f, Face) for f in given):
        return [f.scaled_to(image_size) for f in given], []
    try:
        points = np.asarray(given, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"face landmarks must be a (N, {mesh.NUM_LANDMARKS}, 3) array in pixels, a list of "
                         f"such arrays or of maskgen.Face: {exc}") from None
    if points.size == 0:
        return [], []
    if points.ndim == 2:
        points = points[None]
    if points.ndim != 3 or points.shape[1:] != (mesh.NUM_LANDMARKS, 3):
        raise ValueError(f"face landmarks must have shape (N, {mesh.NUM_LANDMARKS}, 3): x, y in pixels and z on "
                         f"x's scale, as maskgen.detect_faces returns them; got {points.shape}")
    finite = np.isfinite(points).all(axis=(1, 2))
    usable = points[finite]
    height, width = image_size[:2]
    if len(usable) and min(height, width) >= 32 and np.abs(usable[..., :2]).max() <= 1.5:
        raise ValueError(f"face landmarks look normalised to 0..1 (all |x|, |y| <= 1.5 on a {width}x{height} "
                         "image); pass pixels: multiply x and z by the image width and y by its height")
    skipped = [f"face {i}: landmarks are not finite (NaN or inf)" for i in np.flatnonzero(~finite)]
    return [Face(p, image_size) for p in usable], skipped


def faces_to_array(faces: list[Face]) -> np.ndarray:
    if not faces:
        return np.zeros((0, mesh.NUM_LANDMARKS, 3), np.float32)
    return np.stack([f.landmarks for f in faces]).astype(np.float32)


class FaceMeshDetector:
    """A reusable MediaPipe Face Mesh graph. Creating one takes ~0.1 s, so keep it for many photos.

    Not thread-safe (MediaPipe graphs are not); each worker process or thread should own one, or use
    `detect_faces`, which keeps one per process behind a lock.
    """

    def __init__(self, max_faces: int = 4, min_confidence: float = 0.5) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from mediapipe.python.solutions import face_mesh  # imported late: it is slow and logs on import

        self.max_faces = max_faces
        with quiet_native_logs():
            self._graph = face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=max_faces,
                refine_landmarks=True,
                min_detection_confidence=min_confidence,
            )
            # the graph starts its threads (which log) asynchronously: one run waits for them, still quiet
            self._graph.process(np.zeros((64, 64, 3), np.uint8))

    def close(self) -> None:
        self._graph.close()

    def __enter__(self) -> FaceMeshDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces in a photo of any supported layout, largest first. An empty list if none."""
        describe_layout(image)
        rgb = to_uint8_rgb(image)
        height, width = rgb.shape[:2]
        scale = 1.0
        longest, shortest = max(height, width), min(height, width)
        if longest > DETECT_MAX_SIDE:
            scale = DETECT_MAX_SIDE / longest
        elif shortest < DETECT_MIN_SIDE:
            scale = DETECT_MIN_SIDE / shortest
        work = rgb
        if scale != 1.0:
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            work = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                              interpolation=interpolation)
        points = self._run(work)
        if not points:
            pad = int(round(PAD_FRACTION * max(work.shape[:2])))
            padded = cv2.copyMakeBorder(work, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            points = [p - np.array([pad, pad, 0], np.float32) for p in self._run(padded)]
        sx, sy = width / work.shape[1], height / work.shape[0]
        faces = [Face(p * np.array([sx, sy, sx], np.float32), (height, width)) for p in points]
        return sorted(faces, key=lambda f: -f.width)

    def _run(self, rgb: np.ndarray) -> list[np.ndarray]:
        # MediaPipe's C++ side logs as each of its models first runs (the landmark model once a face is found);
        # quieting every run costs microseconds
        with quiet_native_logs():
            result = self._graph.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            return []
        height, width = rgb.shape[:2]
        scale = np.array([width, height, width], np.float32)
        return [
            np.array([(p.x, p.y, p.z) for p in face.landmark], np.float32) * scale
            for face in result.multi_face_landmarks
        ]


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null while MediaPipe builds or runs its graph.

    Its C++ side writes start-up lines ("INFO: Created TensorFlow Lite XNNPACK delegate", "W0000 ...
    inference_feedback_manager.cc") straight to the descriptor, past Python and past GLOG_minloglevel, so
    only a redirect silences them. They are kept with MASKGEN_NATIVE_LOGS=1 (inherited by worker processes) or
    when the "maskgen" logger is at DEBUG (`logging.getLogger("maskgen").setLevel(logging.DEBUG)`).
    """
    keep = os.environ.get("MASKGEN_NATIVE_LOGS") == "1" or logging.getLogger("maskgen").isEnabledFor(logging.DEBUG)
    if keep:
        yield
        return
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()  # what Python already wrote must not be lost in the redirect
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_shared: dict[int, FaceMeshDetector] = {}
_shared_lock = threading.Lock()
_inherited: list[FaceMeshDetector] = []  # a forked parent's graphs: never run, never destroyed, in the child


class ForkedAfterDetection(RuntimeError):
    """MediaPipe cannot run in a process forked from one that had already run it."""


def _forget_parents_detectors() -> None:
    """In a forked child (a DataLoader worker, say) the parent's MediaPipe graphs have lost their threads: a
    call would wait for them forever (and so would their destructor), and a new graph aborts the process. So
    the child keeps them alive but unused, and says so clearly if it is asked to detect."""
    global _shared_lock
    if _shared:
        _inherited.extend(_shared.values())
        _shared.clear()
    _shared_lock = threading.Lock()  # the parent may have held it at the fork


os.register_at_fork(after_in_child=_forget_parents_detectors)


def detect_faces(image: np.ndarray, max_faces: int = 4) -> list[Face]:
    """Find every face in a photo (greyscale, RGB, RGBA, uint8/uint16/float). Largest face first.

    Example:
        >>> import maskgen
        >>> image = maskgen.load_sample("Tommy_Robredo_0001")
        >>> faces = maskgen.detect_faces(image)
        >>> len(faces), faces[0].landmarks.shape
        (1, (478, 3))
    """
    if _inherited:
        raise ForkedAfterDetection(
            "MediaPipe cannot run in a process forked from one that already ran it (a DataLoader worker, say): "
            "give the landmarks with the sample or fill the landmark cache before the workers start "
            "(maskgen detect, LandmarkCache), or start workers with multiprocessing_context='spawn'")
    with _shared_lock:
        detector = _shared.get(max_faces)
        if detector is None:
            detector = _shared[max_faces] = FaceMeshDetector(max_faces=max_faces)
        return detector.detect(image)
