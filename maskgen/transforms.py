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

from .face_source import FaceSource, unpack_placement
from .kinds import STYLES, MaskParams, Placement
from .landmarks import Face
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

    Bad input: a mistake that would repeat on every sample raises `ValueError` at the first call (landmarks
    of the wrong shape, landmarks normalised to 0..1 instead of pixels, a float image outside [0, 1], an
    `occlusion_key` the sample already has). A problem of one sample never stops a pipeline: a face whose
    landmarks hold NaN is skipped (logged once), the other faces are masked.

    The drawn parameters (`get_applied_params()`, `ReplayCompose` records) are plain JSON; replayed on
    another photo they put the same masks on that photo's own faces (parameters reused in turn when it has
    more faces than the first).

    Args:
        style: "varied", "mlfw-white" or one kind: "surgical", "n95", "kn95", "cloth", "gaiter", "sport".
        wear: "correct", "nose_out", "chin", or a mapping of those to probabilities.
        top: range of the top edge's height within the wear mode's span (0..1); None for the kind's default.
        chin_drop: range of how far below the chin the mask reaches (half face widths); None for default.
        width: range of the share of the face's half-width covered per side; None for default.
        texture_dirs: extra folders of fabric photos for cloth masks and gaiters.
        landmarks_key: name of the extra field that carries landmarks with the sample.
        cache: path of a landmark cache (SQLite) used, and filled, when the sample has no landmarks.
        occlusion_key: if set, the occlusion map (uint8, 1 = covered) is written to this field. "mask" has
            later spatial transforms keep it aligned with the image; when the sample already has a "mask", use
            another key and declare it, e.g. `A.Compose(..., additional_targets={"occlusion": "mask"})`.
        max_faces: most faces detected per image.
        p: probability of applying the transform.
        placement: a `maskgen.Placement`, instead of `wear`, `top`, `chin_drop` and `width` (it is stored as
            those, so `A.to_dict` keeps it).

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
        placement: Any = None  # a maskgen.Placement, checked in __init__

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
        placement: Placement | None = None,
    ) -> None:
        super().__init__(p=p)
        if placement is not None:  # the same placement `render` takes, unpacked into serialisable arguments
            wear, top, chin_drop, width = unpack_placement(placement, wear, top, chin_drop, width)
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
        self._source = FaceSource(cache, max_faces)
        self._occlusion: np.ndarray | None = None
        self._pending: tuple[np.ndarray, list[Face]] | None = None

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("style", "wear", "top", "chin_drop", "width", "texture_dirs", "landmarks_key", "cache",
                "occlusion_key", "max_faces")

    @property
    def available_keys(self) -> set[str]:
        # Declared so that A.Compose(strict=True) accepts the landmarks field and the occlusion output.
        extra = {self.landmarks_key} | ({self.occlusion_key} if self.occlusion_key else set())
        return set(self._available_keys) | extra

    def _faces(self, image: np.ndarray, data: dict[str, Any]) -> list[Face]:
        return self._source.faces(image, data.get(self.landmarks_key))

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        image = data["image"] if "image" in data else data["images"][0]
        faces = self._faces(image, data)
        drawn = draw_params(len(faces), self.style, self.random_generator, self._placement, self.texture_dirs)
        self._pending = (image, faces)  # handed to apply_with_params of this very call, not saved in params
        return {"mask_params": [p.to_dict() for p in drawn]}

    def apply(self, img: np.ndarray, faces: list[Face], mask_params: list[dict[str, Any]],
              **params: Any) -> np.ndarray:
        if not faces or not mask_params:
            self._occlusion = np.zeros(img.shape[:2], bool)
            return img
        drawn = [MaskParams.from_dict(mask_params[i % len(mask_params)]) for i in range(len(faces))]
        result = apply_masks(img, faces, drawn, texture_dirs=self.texture_dirs)
        self._occlusion = result.occlusion
        return result.image

    def apply_with_params(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._occlusion = None
        image = kwargs["image"] if "image" in kwargs else kwargs["images"][0]
        pending, self._pending = self._pending, None
        # A fresh call found the faces while drawing; a replay (ReplayCompose) finds this photo's own faces.
        faces = pending[1] if pending is not None and pending[0] is image else self._faces(image, kwargs)
        result = super().apply_with_params({**params, "faces": faces}, *args, **kwargs)
        if self.occlusion_key is not None and self._occlusion is not None:
            result[self.occlusion_key] = self._occlusion.astype(np.uint8)
        return result

    def __call__(self, *args: Any, force_apply: bool = False, **kwargs: Any) -> Any:
        if self.occlusion_key is not None and self.occlusion_key in kwargs:
            raise ValueError(
                f"FaceMask(occlusion_key={self.occlusion_key!r}) would overwrite the sample's own "
                f"{self.occlusion_key!r}; choose another key, e.g. occlusion_key='occlusion' with "
                "A.Compose(..., additional_targets={'occlusion': 'mask'}) so spatial transforms keep it aligned")
        result = super().__call__(*args, force_apply=force_apply, **kwargs)
        if self.occlusion_key is not None and self.occlusion_key not in result and "image" in result:
            result[self.occlusion_key] = np.zeros(result["image"].shape[:2], np.uint8)  # not applied: no cover
        return result
