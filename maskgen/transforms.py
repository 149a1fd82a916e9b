"""`FaceMask`: the renderer as an Albumentations 2.x transform.

A thin layer: arguments are validated by a pydantic schema, every random choice is drawn from
`self.random_generator` in `get_params_dependent_on_data` (so `A.Compose(..., seed=...)` makes runs
repeatable), and `apply` only executes the drawn parameters with `maskgen.render.apply_masks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import albumentations as A
import numpy as np
from pydantic import AfterValidator, Field

from .cache import LandmarkCache
from .kinds import STYLES, Placement
from .landmarks import Face, detect_faces, faces_from_array
from .render import apply_masks, draw_params

Range = tuple[float, float]


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    return style


class FaceMask(A.ImageOnlyTransform):
    """Put a realistic face mask on every face in the image.

    Landmarks are taken, in this order, from the sample's `landmarks_key` field (an (N, 478, 3) array in
    pixels, a list of such arrays or of `maskgen.Face`), from the landmark cache file `cache`, or detected
    with MediaPipe. An image with no face passes through unchanged.

    Args:
        style: "varied", "mlfw-white" or one kind: "surgical", "n95", "kn95", "cloth", "gaiter", "sport".
        wear: "correct", "nose_out", "chin", or a mapping of those to probabilities.
        top: range of the top edge's height within the wear mode's span (0..1); None for the kind's default.
        chin_drop: range of how far below the chin the mask reaches (half face widths); None for default.
        width: range of the share of the face's half-width covered per side; None for default.
        texture_dirs: extra folders of fabric photos for cloth masks and gaiters.
        landmarks_key: name of the extra field that carries landmarks with the sample.
        cache: path of a landmark cache (SQLite) used, and filled, when the sample has no landmarks.
        occlusion_key: if set, the occlusion map (uint8, 1 = covered) is written to this field; use "mask"
            to have later spatial transforms keep it aligned with the image.
        max_faces: most faces detected per image.
        p: probability of applying the transform.

    Targets:
        image (masks, bboxes and keypoints pass through unchanged: a mask occludes, it moves nothing)

    Image types:
        uint8, uint16, float32; greyscale, RGB, RGBA

    Example:
        >>> import albumentations as A, maskgen
        >>> image = maskgen.load_sample("Heather_Mills_0004_color112")
        >>> aug = A.Compose([maskgen.FaceMask(style="varied", p=1.0), A.HorizontalFlip(p=0.5)], seed=137)
        >>> out = aug(image=image)
        >>> out["image"].shape == image.shape
        True
    """

    class InitSchema(A.core.transforms_interface.BaseTransformInitSchema):
        style: Annotated[str, AfterValidator(_check_style)]
        wear: str | dict[str, float]
        top: Range | None
        chin_drop: Range | None
        width: Range | None
        texture_dirs: Sequence[str]
        landmarks_key: str = Field(min_length=1)
        cache: str | None
        occlusion_key: str | None
        max_faces: int = Field(ge=1, le=64)

    def __init__(
        self,
        style: str = "varied",
        wear: str | dict[str, float] = "correct",
        top: Range | None = None,
        chin_drop: Range | None = None,
        width: Range | None = None,
        texture_dirs: Sequence[str] = (),
        landmarks_key: str = "face_landmarks",
        cache: str | None = None,
        occlusion_key: str | None = None,
        max_faces: int = 4,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        self.style = style
        self.wear = wear
        self.top = top
        self.chin_drop = chin_drop
        self.width = width
        self.texture_dirs = tuple(texture_dirs)
        self.landmarks_key = landmarks_key
        self.cache = cache
        self.occlusion_key = occlusion_key
        self.max_faces = max_faces
        self._placement = Placement(wear=wear, top=top, chin_drop=chin_drop, width=width)
        self._cache: LandmarkCache | None = None
        self._occlusion: np.ndarray | None = None

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("style", "wear", "top", "chin_drop", "width", "texture_dirs", "landmarks_key", "cache",
                "occlusion_key", "max_faces")

    @property
    def available_keys(self) -> set[str]:
        # Declared so that A.Compose(strict=True) accepts the landmarks field and the occlusion output.
        extra = {self.landmarks_key} | ({self.occlusion_key} if self.occlusion_key else set())
        return set(self._available_keys) | extra

    def _faces(self, image: np.ndarray, data: dict[str, Any]) -> list[Face]:
        given = data.get(self.landmarks_key)
        if given is not None:
            if isinstance(given, Face):
                given = [given]
            if isinstance(given, (list, tuple)) and all(isinstance(f, Face) for f in given):
                return [f.scaled_to(image.shape[:2]) for f in given]
            return faces_from_array(np.asarray(given, np.float32), image.shape[:2])
        if self.cache is not None:
            if self._cache is None:
                self._cache = LandmarkCache(self.cache)
            return self._cache.faces_for_array(image, lambda im: detect_faces(im, self.max_faces))
        return detect_faces(image, self.max_faces)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        image = data["image"] if "image" in data else data["images"][0]
        faces = self._faces(image, data)
        mask_params = draw_params(len(faces), self.style, self.random_generator, self._placement,
                                  self.texture_dirs)
        return {"faces": faces, "mask_params": mask_params}

    def apply(self, img: np.ndarray, faces: list[Face], mask_params: list, **params: Any) -> np.ndarray:
        result = apply_masks(img, faces, mask_params, texture_dirs=self.texture_dirs)
        self._occlusion = result.occlusion
        return result.image

    def apply_with_params(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._occlusion = None
        result = super().apply_with_params(params, *args, **kwargs)
        if self.occlusion_key is not None and self._occlusion is not None:
            result[self.occlusion_key] = self._occlusion.astype(np.uint8)
        return result

    def __call__(self, *args: Any, force_apply: bool = False, **kwargs: Any) -> Any:
        result = super().__call__(*args, force_apply=force_apply, **kwargs)
        if self.occlusion_key is not None and self.occlusion_key not in result and "image" in result:
            result[self.occlusion_key] = np.zeros(result["image"].shape[:2], np.uint8)  # not applied: no cover
        return result
