"""`maskgen.tv.FaceMask`: the renderer as a `torchvision.transforms.v2` transform, for pipelines without
Albumentations. Needs torch and torchvision (`pip install "maskgen[fer]"`); `import maskgen` never imports it.

    from torchvision.transforms import v2
    from maskgen.tv import FaceMask
    pipeline = v2.Compose([FaceMask(style="varied", p=0.8), v2.RandomHorizontalFlip(), v2.ToDtype(...)])
    pipeline(pil_image)                                             # PIL in, PIL out; faces detected
    pipeline({"image": uint8_chw, "face_landmarks": marks})         # landmarks with the sample (N, 478, 3)

Randomness follows torchvision: draws come from torch's global generator, which a DataLoader seeds per
worker and afresh every epoch (so workers differ, every epoch sees new masks, and `torch.manual_seed` makes a
run repeatable). For draws that do not depend on the worker count either, key them: put an integer under
`seed_key` in the sample, e.g. `maskgen.sample_seed(run_seed, index, epoch)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2._utils import is_pure_tensor

from .face_source import FaceSource, unpack_placement
from .kinds import STYLES, Placement
from .landmarks import Face
from .render import apply_masks, draw_params
from .seeding import check_seed

Range = tuple[float, float]


class FaceMask(v2.Transform):
    """Put a realistic face mask on every face of the image (torchvision v2).

    Args:
        style: "varied", "mlfw-white" or one kind: "surgical", "n95", "kn95", "cloth", "gaiter", "sport".
        wear, top, chin_drop, width: placement, as in `maskgen.Placement` (or pass `placement=Placement(...)`).
        texture_dirs: extra folders of fabric photos.
        landmarks_key: key of a dict sample that carries (N, 478, 3) landmarks in pixels (or `maskgen.Face`s);
            without it the faces come from `cache` or are detected.
        seed_key: key of a dict sample that carries an integer seed for this sample (keyed randomness).
        occlusion_key: with a dict sample, the occlusion map is added under this key as a `tv_tensors.Mask`
            (1, H, W) uint8, so later v2 spatial transforms move it with the image.
        cache: path of a landmark cache (SQLite), used and filled when no landmarks are given.
        max_faces: most faces detected per image.
        p: probability of applying the transform.

    Inputs: a PIL image (L, RGB or RGBA), a uint8 or float ([0, 1]) tensor (C, H, W) with C in 1, 3, 4, a
    `tv_tensors.Image`, or a dict holding one of them; the output has the same type, mode and dtype.
    """

    _transformed_types = (PIL.Image.Image, tv_tensors.Image, is_pure_tensor)

    def __init__(self, style: str = "varied", wear: str | Mapping[str, float] = "correct",
                 top: Range | None = None, chin_drop: Range | None = None, width: Range | None = None,
                 texture_dirs: Sequence[str] = (), landmarks_key: str = "face_landmarks",
                 seed_key: str = "mask_seed", occlusion_key: str | None = None, cache: str | None = None,
                 max_faces: int = 4, p: float = 0.5, placement: Placement | None = None) -> None:
        super().__init__()
        if placement is not None:
            wear, top, chin_drop, width = unpack_placement(placement, wear, top, chin_drop, width)
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must lie in [0, 1], got {p}")
        if not 1 <= max_faces <= 64:
            raise ValueError(f"max_faces must lie in [1, 64], got {max_faces}")
        self.style, self.p, self.max_faces = style, float(p), int(max_faces)
        self.placement = Placement(wear=wear, top=top, chin_drop=chin_drop, width=width)
        self.texture_dirs = tuple(str(d) for d in texture_dirs)
        self.landmarks_key, self.seed_key, self.occlusion_key = landmarks_key, seed_key, occlusion_key
        self.cache = cache
        self._source = FaceSource(cache, self.max_faces)
        self._given: dict[str, Any] = {}
        self._occlusion: np.ndarray | None = None

    def forward(self, *inputs: Any) -> Any:
        # Landmarks and the seed travel in the sample but are not images: take them out before torchvision
        # flattens the sample (a landmarks tensor would otherwise be taken for the image), put them back after.
        sample = inputs[0] if len(inputs) == 1 else None
        extras = {}
        if isinstance(sample, Mapping):
            if self.occlusion_key is not None and self.occlusion_key in sample:
                raise ValueError(f"occlusion_key {self.occlusion_key!r} would overwrite the sample's own field")
            extras = {k: sample[k] for k in (self.landmarks_key, self.seed_key) if k in sample}
            inputs = ({k: v for k, v in sample.items() if k not in extras},)
        self._given, self._occlusion = extras, None
        try:
            output = super().forward(*inputs)
        finally:
            self._given = {}
        if isinstance(output, dict):
            output.update(extras)
            if self.occlusion_key is not None and self._occlusion is not None:
                output[self.occlusion_key] = tv_tensors.Mask(torch.from_numpy(self._occlusion[None]))
        return output

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        if len(flat_inputs) != 1:
            raise ValueError(f"FaceMask takes one image per sample (a PIL image, a (C, H, W) tensor or a "
                             f"tv_tensors.Image; numpy arrays are not images to torchvision), got {len(flat_inputs)}")
        image = _to_numpy(flat_inputs[0])
        applied = self.p >= 1.0 or (self.p > 0.0 and float(torch.rand(())) < self.p)
        seed = self._given.get(self.seed_key)
        if isinstance(seed, torch.Tensor) and seed.numel() == 1 and not seed.is_floating_point():
            seed = int(seed.item())  # a DataLoader-collated or torch-made seed
        seed = check_seed(seed, self.seed_key) if seed is not None else int(torch.randint(0, 2**62, ()).item())
        if not applied:
            self._occlusion = np.zeros(image.shape[:2], np.uint8)
            return {"faces": [], "mask_params": [], "image": image}
        faces = self._faces(image)
        mask_params = draw_params(len(faces), self.style, seed, self.placement, self.texture_dirs)
        return {"faces": faces, "mask_params": mask_params, "image": image}

    def _faces(self, image: np.ndarray) -> list[Face]:
        return self._source.faces(image, self._given.get(self.landmarks_key))

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        image = params["image"]
        if not params["faces"]:
            if self._occlusion is None:
                self._occlusion = np.zeros(image.shape[:2], np.uint8)
            return inpt
        result = apply_masks(image, params["faces"], params["mask_params"], texture_dirs=self.texture_dirs)
        self._occlusion = result.occlusion.astype(np.uint8)
        return _from_numpy(result.image, inpt)

    def extra_repr(self) -> str:
        return f"style={self.style!r}, placement={self.placement}, p={self.p}"


def _to_numpy(inpt: Any) -> np.ndarray:
    """A PIL image or a (C, H, W) tensor as the (H, W[, C]) array the renderer takes."""
    if isinstance(inpt, PIL.Image.Image):
        if inpt.mode not in ("L", "RGB", "RGBA", "I;16"):
            raise ValueError(f"PIL mode {inpt.mode!r} is not supported; convert to 'RGB' or 'L' first")
        return np.asarray(inpt)
    tensor = inpt.as_subclass(torch.Tensor) if isinstance(inpt, tv_tensors.TVTensor) else inpt
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3, 4):
        raise ValueError(f"expected a (C, H, W) image tensor with C in 1, 3, 4, got shape {tuple(tensor.shape)}")
    if tensor.dtype not in (torch.uint8, torch.float32, torch.float64):
        raise ValueError(f"image tensors must be uint8 or float in [0, 1], got {tensor.dtype}")
    return np.ascontiguousarray(tensor.detach().cpu().permute(1, 2, 0).numpy())


def _from_numpy(image: np.ndarray, like: Any) -> Any:
    if isinstance(like, PIL.Image.Image):
        return PIL.Image.fromarray(image)
    array = image if image.ndim == 3 else image[..., None]
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).to(like.device)
    return tv_tensors.wrap(tensor, like=like) if isinstance(like, tv_tensors.TVTensor) else tensor
