"""Where a transform's faces come from, shared by the Albumentations and the torchvision `FaceMask`: the
landmarks given with the sample, else the landmark cache, else MediaPipe. Imports neither framework."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from .cache import LandmarkCache
from .kinds import Placement
from .landmarks import Face, detect_faces, faces_from_input

log = logging.getLogger("maskgen.transforms")


class FaceSource:
    """Faces for one image: given landmarks (checked: a repeated mistake raises, a NaN face is skipped and
    logged once), else the cache at `cache` (opened on first use, filled on a miss), else detection."""

    def __init__(self, cache: str | None, max_faces: int) -> None:
        self.cache_path, self.max_faces = cache, max_faces
        self._cache: LandmarkCache | None = None
        self._warned = False

    def faces(self, image: np.ndarray, given: Any = None) -> list[Face]:
        if given is not None:
            if hasattr(given, "detach"):  # a torch tensor, without importing torch here
                given = given.detach().cpu().numpy()
            faces, skipped = faces_from_input(given, image.shape[:2])
            if skipped:
                level = logging.DEBUG if self._warned else logging.WARNING
                log.log(level, "FaceMask: %s; skipped (further such faces are logged at DEBUG)", "; ".join(skipped))
                self._warned = True
            return faces
        if self.cache_path is not None:
            if self._cache is None:
                self._cache = LandmarkCache(self.cache_path)
            return self._cache.faces_for_array(image, lambda im: detect_faces(im, self.max_faces))
        return detect_faces(image, self.max_faces)

    def __getstate__(self) -> dict[str, Any]:  # travels to DataLoader workers without an open cache
        return {"cache_path": self.cache_path, "max_faces": self.max_faces}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cache_path"], state["max_faces"])


def unpack_placement(placement: Any, wear: Any, top: Any, chin_drop: Any, width: Any) -> tuple:
    """`placement=Placement(...)` as the four arguments it stands for; refused beside any of them."""
    if isinstance(placement, Mapping):  # Albumentations' argument validation hands dataclasses on as dicts
        placement = Placement(**placement)
    if not isinstance(placement, Placement):
        raise ValueError(f"placement must be a maskgen.Placement, got {type(placement).__name__}")
    if wear != "correct" or any(v is not None for v in (top, chin_drop, width)):
        raise ValueError("give either placement=Placement(...) or wear/top/chin_drop/width, not both")
    return placement.wear, placement.top, placement.chin_drop, placement.width
