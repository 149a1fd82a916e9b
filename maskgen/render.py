"""The rendering core: photo + faces + parameters -> masked photo, occlusion map and metadata.

`render` draws parameters (seeded) and calls `apply_masks`, which is deterministic. The Albumentations
transform and the CLI are thin layers over these two functions.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import composite, geometry, photo, raster
from .appearance import render_material, texture_shape
from .images import ImageLayout, describe_layout, from_float_rgb, sample_pixels, to_float
from .kinds import MaskParams, Placement, sample_params
from .landmarks import Face, detect_faces, faces_from_input
from .seeding import check_seed

log = logging.getLogger(__name__)

MIN_FACE_PX = 12  # narrower faces cannot carry a visible mask; they are skipped with a reason


@dataclass
class RenderResult:
    """What `render` returns.

    Attributes:
        image: the masked photo, in the input's layout (dtype, channels).
        occlusion: (H, W) bool, True where a mask or strap changed the pixel (its soft edge included).
        params: one dict per face: status ("masked" or "skipped"), reason, bbox and every mask parameter.
        reason: why nothing was masked ("no face", ...), else None.
        seed: the seed the parameters were drawn with (None if parameters were given).
        coverage: (H, W) float32 mask coverage in [0, 1], for soft use of the occlusion.
    """

    image: np.ndarray
    occlusion: np.ndarray
    params: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    seed: int | None = None
    coverage: np.ndarray | None = None

    @property
    def masked_faces(self) -> int:
        return sum(1 for p in self.params if p.get("status") == "masked")


def render(image: np.ndarray, faces: Sequence[Face] | None = None, style: str = "varied", seed: int | None = None,
           placement: Placement | None = None, texture_dirs: Sequence[str] = (), max_faces: int = 4) -> RenderResult:
    """Put a mask on every face of a photo.

    Args:
        image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array, uint8, uint16 or float in [0, 1].
        faces: `Face`s from `detect_faces` (or a cache), or landmark arrays ((N, 478, 3) in pixels); detected
            when None.
        style: "varied", "mlfw-white" or one kind ("surgical", "n95", "kn95", "cloth", "gaiter", "sport").
        seed: same seed, same pixels; any integer (negative ones too). None draws one (recorded in the result).
        placement: where masks sit (wear mode and ranges); realistic defaults when None.
        texture_dirs: extra folders of fabric photos for the "image" pattern.
        max_faces: most faces detected when `faces` is None.

    Example:
        >>> import maskgen
        >>> image = maskgen.load_sample("Tommy_Robredo_0001")
        >>> out = maskgen.render(image, style="surgical", seed=7)
        >>> out.image.shape == image.shape, out.occlusion.any(), out.params[0]["kind"]
        (True, True, 'surgical')
    """
    layout = describe_layout(image)
    faces = detect_faces(image, max_faces=max_faces) if faces is None else _as_faces(faces, image, "render")
    if seed is None:
        seed = secrets.randbits(63)
    params = draw_params(len(faces), style, seed, placement, tuple(texture_dirs))
    result = _apply_masks(image, layout, faces, params, tuple(texture_dirs))
    result.seed = seed
    return result


def draw_params(count: int, style: str, seed: int | np.random.Generator, placement: Placement | None = None,
                texture_dirs: tuple[str, ...] = ()) -> list[MaskParams]:
    """One independent parameter draw per face, from one seed (any integer) or a caller's Generator."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count (the number of faces) must be a non-negative integer, got {count!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))
    return [sample_params(style, rng, placement, texture_dirs) for _ in range(count)]


def apply_masks(image: np.ndarray, faces: Sequence[Face], params: Sequence[MaskParams | Mapping[str, Any]],
                texture_dirs: tuple[str, ...] = ()) -> RenderResult:
    """Render the given masks on the given faces (`Face`s or landmark arrays, as `render` takes them).
    Deterministic: no random draws happen here. `params` may also be the JSON records a render reported
    (`RenderResult.params`, a manifest's `params`), which replays those very masks."""
    layout = describe_layout(image)
    return _apply_masks(image, layout, _as_faces(faces, image, "apply_masks"), _as_params(params), texture_dirs)


def _as_params(params) -> list[MaskParams]:
    out = []
    for index, p in enumerate(params):
        if isinstance(p, MaskParams):
            out.append(p)
            continue
        try:
            out.append(MaskParams.from_dict(p))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"params[{index}] is neither a MaskParams nor a record of one (kind, shape, material, "
                             f"seed, as RenderResult.params holds): {exc!r}") from None
    return out


def _as_faces(faces, image: np.ndarray, caller: str) -> list[Face]:
    """`Face`s as given, or landmark arrays checked and turned into faces (a face with NaN landmarks is
    skipped and logged, as `FaceMask` does; a wrong shape is an error)."""
    if isinstance(faces, (Face, np.ndarray)) or not all(isinstance(f, Face) for f in faces):
        faces, skipped = faces_from_input(faces, image.shape[:2])
        for reason in skipped:
            log.warning("%s: %s; skipped", caller, reason)
    return list(faces)


def _apply_masks(image: np.ndarray, layout: ImageLayout, faces: Sequence[Face], params: Sequence[MaskParams],
                 texture_dirs: tuple[str, ...]) -> RenderResult:
    height, width = image.shape[:2]
    if len(params) != len(faces):
        raise ValueError(f"got {len(params)} parameter sets for {len(faces)} faces")
    out = image.copy()
    coverage = np.zeros((height, width), np.float32)
    if not faces:
        return RenderResult(image=out, occlusion=coverage > 0, reason="no face", coverage=coverage)

    records: list[dict[str, Any]] = [{} for _ in faces]
    order = sorted(range(len(faces)), key=lambda i: faces[i].width)  # far (small) faces first
    for index in order:
        face = faces[index].scaled_to((height, width))
        record: dict[str, Any] = {"face": index, **params[index].to_dict()}
        try:
            box = _render_face(out, coverage, face, params[index], layout, texture_dirs)
        except FaceSkipped as skip:
            record.update(status="skipped", reason=str(skip))
        else:
            record.update(status="masked", reason=None, bbox=box)
        records[index] = record

    masked = any(r["status"] == "masked" for r in records)
    reasons = sorted({r["reason"] for r in records if r["reason"]})
    return RenderResult(image=out, occlusion=coverage > 0, params=records,
                        reason=None if masked else "; ".join(reasons), coverage=coverage)


class FaceSkipped(Exception):
    """A face that cannot take a mask (too small, outside the image); reported, never raised to callers."""


RIM_WIDTH = 0.006  # the cut edge's shaded rim, in face widths (about a pixel on a 160 px face)
DROP_LENGTH = 0.02  # how far the soft shadow falls from the mask, in face widths
HALF_RES_BLUR = 1.2  # px of photo blur from which the mask is rendered at half resolution, then upsampled


def _render_face(out: np.ndarray, coverage: np.ndarray, face: Face, params: MaskParams, layout: ImageLayout,
                 texture_dirs: tuple[str, ...]) -> list[int]:
    """Render one mask into `out` (the caller's layout) and `coverage`, in place; returns the ROI box.

    Only the region of interest is converted to float and back, so a 4000 px photo costs what its mask costs.
    On soft photos the mask is drawn at half resolution: the photo's own blur hides the difference.
    """
    height, width = out.shape[:2]
    if face.width < MIN_FACE_PX:
        raise FaceSkipped(f"face too small ({face.width:.0f} px wide, need {MIN_FACE_PX})")
    try:
        frame = geometry.FaceFrame.from_landmarks(face.landmarks)
        face_px = 2.0 * frame.scale
        style = _photo_style(out, layout, face) if params.match_photo else photo.PhotoStyle(
            greyscale=layout.greyscale, noise_sigma=0.0, blur_sigma=0.0, cast=(1.0, 1.0, 1.0))
        scale = 0.5 if style.blur_sigma >= HALF_RES_BLUR and face_px >= 64 else 1.0
        placed = geometry.place_mask(face.landmarks, params.shape, raster_scale=scale, frame=frame)
    except ValueError as exc:
        raise FaceSkipped(f"face geometry unusable: {exc}") from exc

    shadow_sigma = min(max(0.01 * face_px, 0.6), 2.0)
    straps = placed.straps if params.material.strap_opacity > 0.0 else ()
    pad = int(np.ceil(2.5 * style.blur_sigma + 3.0 * shadow_sigma + DROP_LENGTH * face_px + placed.strap_width + 2))
    xy = np.concatenate([placed.points.reshape(-1, 3)[:, :2], *straps]) if straps else \
        placed.points.reshape(-1, 3)[:, :2]
    x0, y0 = np.floor(xy.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(xy.max(axis=0)).astype(int) + pad + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise FaceSkipped("mask falls outside the image")
    size = (y1 - y0, x1 - x0)

    low_size = (int(np.ceil(size[0] * scale)), int(np.ceil(size[1] * scale)))
    points = placed.points * scale
    normals = raster.vertex_normals(placed.points)
    fragments = raster.rasterize(points, placed.uv, normals, (x0 * scale, y0 * scale), low_size)
    if len(fragments.index) == 0:
        raise FaceSkipped("mask not visible at this pose")

    lighting = _fit_lighting(out, layout, placed)
    mask_height_px = float(np.ptp(points[..., 1]))
    albedo, relief = render_material(params.material, texture_shape(mask_height_px), texture_dirs)
    facing = lighting.irradiance(np.array([[0.0], [0.0], [1.0]], np.float32))[0]
    strap_colour = np.asarray(params.material.strap_colour, np.float32) * float(
        (1.0 - params.shading) + params.shading * facing)
    cast = np.asarray(style.cast, np.float32)
    if style.greyscale:  # a grey photo is shaded and composited in one channel (blending broadcasts it)
        albedo, strap_colour, cast = composite.to_grey(albedo), composite.to_grey(strap_colour), np.float32(1.0)
    colour = composite.shade_fragments(fragments, albedo, relief, 0.012 * face_px * scale, lighting, params.shading,
                                       params.material.sheen)
    colour *= cast
    strap_colour *= cast
    edge, rim = composite.edge_coverage(params.shape.outline, fragments, RIM_WIDTH * face_px * scale)
    colour *= rim[:, None]
    layer = composite.fragment_layer(fragments, colour, edge, low_size)
    if straps:
        strap_alpha = composite.strap_coverage(tuple(p * scale for p in straps), (x0 * scale, y0 * scale),
                                               low_size, max(1.0, placed.strap_width * scale))
        strap_alpha *= params.material.strap_opacity
        layer = composite.add_under(layer, strap_alpha, strap_colour)
    if scale != 1.0:
        # the upsampling itself blurs by about half a low-res pixel; blur the rest before it
        remaining = float(np.sqrt(max(style.blur_sigma**2 - (0.5 / scale) ** 2, 0.0))) * scale
        layer = composite.upsample_layer(composite.blur_layer(layer, remaining), size)
        style = dataclasses.replace(style, blur_sigma=0.0)
    layer = composite.match_photo(layer, style, params.seed)
    shadow = composite.contact_shadow(layer.alpha, shadow_sigma, _shadow_drop(lighting, face_px)) \
        if params.shading > 0.5 else None

    roi = to_float(out[y0:y1, x0:x1], layout)
    blended, alpha = composite.blend(roi, layer, shadow)
    if style.chroma_blur > 0.0:  # only ever measured on colour photos
        blended = composite.soften_chroma(blended, alpha, style.chroma_blur)
    if not alpha.any():  # e.g. landmarks of a bigger copy of the photo: the mask would land off the image
        raise FaceSkipped("mask not visible in the image (landmarks from another size of the photo?)")
    if layout.channels == 4:
        top = 255 if layout.dtype == np.uint8 else (65535 if layout.dtype == np.uint16 else 1.0)
        original = out[y0:y1, x0:x1, 3]
        new_alpha = np.where(alpha > 0, np.maximum(original, (alpha * top).astype(out.dtype)), original)
    else:
        new_alpha = None
    out[y0:y1, x0:x1] = from_float_rgb(blended, layout, new_alpha).reshape(out[y0:y1, x0:x1].shape)
    coverage[y0:y1, x0:x1] = np.maximum(coverage[y0:y1, x0:x1], alpha)
    return [int(x0), int(y0), int(x1), int(y1)]


def _shadow_drop(lighting: photo.Lighting, face_px: float) -> tuple[float, float]:
    """Where the mask's soft shadow falls (px): away from the light's side, and downwards, since faces are
    mostly lit from above; further on bigger faces."""
    dx, dy = lighting.direction[0], lighting.direction[1]
    length = DROP_LENGTH * face_px
    side = min(max(-dx / max(lighting.ambient, 0.05), -1.0), 1.0)
    down = min(max(0.6 - dy / max(lighting.ambient, 0.05), 0.3), 1.0)
    return side * length * 0.5, down * length


def _photo_style(image: np.ndarray, layout: ImageLayout, face: Face) -> photo.PhotoStyle:
    """Noise, blur and colour measured on the face itself (at most a 160 px window at full resolution)."""
    height, width = image.shape[:2]
    x0, y0 = np.maximum(np.floor(face.landmarks[:, :2].min(axis=0)).astype(int), 0)
    x1, y1 = np.ceil(face.landmarks[:, :2].max(axis=0)).astype(int)
    x1, y1 = min(x1, width), min(y1, height)
    cx, cy, half = (x0 + x1) // 2, (y0 + y1) // 2, 80
    window = image[max(cy - half, y0, 0):min(cy + half, y1), max(cx - half, x0, 0):min(cx + half, x1)]
    if window.shape[0] < 8 or window.shape[1] < 8:
        return photo.PhotoStyle(greyscale=layout.greyscale, noise_sigma=0.0, blur_sigma=0.0, cast=(1.0, 1.0, 1.0))
    return photo.analyse_region(to_float(window, layout), layout.greyscale)


def _fit_lighting(image: np.ndarray, layout: ImageLayout, placed: geometry.MaskGeometry) -> photo.Lighting:
    """Light on the skin the mask will cover, read from the photo where the face surface faces the camera."""
    skin_normals = raster.vertex_normals(placed.skin).reshape(-1, 3)
    points = placed.skin.reshape(-1, 3)[:, :2]
    valid = placed.on_face.reshape(-1) & (skin_normals[:, 2] > 0.2)
    return photo.fit_lighting(sample_pixels(image, layout, points), points, image.shape[:2], skin_normals, valid)
