"""From rasterised fragments to pixels: shading, straps, photo matching and blending.

Works on one region of interest (ROI) of the photo at a time, as float32 RGB in [0, 1]. The mask is built as
a premultiplied layer (colour * alpha, alpha) so blurring it to match the photo keeps edges correct.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import outline_distance
from .photo import Lighting, PhotoStyle, luminance
from .arrays import clamp, grid_gradient
from .raster import Fragments

ALPHA_FLOOR = 1.0 / 255.0  # coverage below this is dropped, so the occlusion map is exactly the changed pixels
EDGE_SOFTNESS = 1.0  # px over which a cut edge fades out (anti-aliasing, and the fuzz of real fabric)
SHADOW_STRENGTH = 0.3
DROP_SHADOW = 0.22  # strength of the softer shadow cast away from the light, before SHADOW_STRENGTH's cap
CURVE_SHADE = 0.35  # how much fabric seen edge-on is darkened (normal square to the camera) ...
CURVE_POWER = 2.0  # ... growing as (1 - normal Z) ** CURVE_POWER (realism v2.1 tried 0.8 and 1: docs/benchmarks.md)
SHEEN_SHARPNESS = 6.0  # how narrowly fibre sheen gathers around the mirror direction (a broad lobe: fabric)
RIM_DARKEN = 0.22  # shade of the cut edge's rim
SHOULDER = 0.75  # intensity above which bright fabric rolls off towards white instead of clipping
GRAIN_TILE = 1024
REMAP_COLUMNS = 1024
MIN_VISIBLE_NOISE = 0.5 / 255.0  # grain weaker than half a grey level vanishes in 8-bit output anyway


@dataclass
class Layer:
    """A premultiplied layer over a ROI: colour (RGB, or one grey channel for grey photos) and coverage."""

    colour: np.ndarray  # (h, w, 3) or (h, w, 1), premultiplied
    alpha: np.ndarray  # (h, w)


def sample_map(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a (H, W[, C]) texture at (2, N) uv positions in [0, 1]; returns (N[, C])."""
    height, width = texture.shape[:2]
    count = uv.shape[1]
    # cv2.remap takes at most 32767 rows, so lay the N lookups out as a (rows, REMAP_COLUMNS) image.
    rows = max(1, -(-count // REMAP_COLUMNS))
    maps = np.zeros((2, rows * REMAP_COLUMNS), np.float32)
    maps[0, :count] = uv[0] * width - 0.5
    maps[1, :count] = uv[1] * height - 0.5
    shape = (rows, REMAP_COLUMNS)
    sampled = cv2.remap(texture, maps[0].reshape(shape), maps[1].reshape(shape), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT)
    flat = sampled.reshape(rows * REMAP_COLUMNS, -1)[:count]
    return flat if texture.ndim == 3 else flat[:, 0]


def edge_coverage(outline: str, fragments: Fragments, rim_px: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased coverage of the fabric's cut (signed distance in pixels, through the local Jacobian), and
    the shade of its rim: fabric has a thickness, and its edge turns away from the light over about `rim_px`."""
    u, v = fragments.uv
    step = np.float32(1e-3)
    distance = outline_distance(outline, u, v)
    grad_u = (outline_distance(outline, u + step, v) - distance) / step
    grad_v = (outline_distance(outline, u, v + step) - distance) / step
    jac = fragments.duv_dxy  # [uv component, xy component, N]
    grad_x = grad_u * jac[0, 0] + grad_v * jac[1, 0]
    grad_y = grad_u * jac[0, 1] + grad_v * jac[1, 1]
    pixels = distance / np.maximum(np.sqrt(grad_x * grad_x + grad_y * grad_y), 1e-9)
    coverage = clamp(pixels / EDGE_SOFTNESS + 0.5, 0.0, 1.0).astype(np.float32)
    if rim_px <= 0:
        return coverage, np.ones_like(coverage)
    rim = 1.0 - RIM_DARKEN * clamp(1.0 - pixels / rim_px, 0.0, 1.0) ** 2
    return coverage, rim.astype(np.float32)


def relief_gradient(relief: np.ndarray) -> np.ndarray:
    """(H, W, 2) slope of the relief per unit u and per unit v, ready for one texture lookup."""
    height, width = relief.shape
    if min(height, width) < 2:
        return np.zeros((height, width, 2), np.float32)
    grad_u, grad_v = grid_gradient(relief, axis=1), grid_gradient(relief, axis=0)
    return np.stack([grad_u * width, grad_v * height], axis=-1).astype(np.float32)


def shade_fragments(fragments: Fragments, albedo: np.ndarray, relief: np.ndarray, relief_px: float,
                    lighting: Lighting, shading: float, sheen: float = 0.0) -> np.ndarray:
    """Mask colour per fragment (N, C): albedo (H, W, C: RGB, or one grey channel) lit by the photo's light on
    the relief-perturbed normal, plus the fibres' `sheen` (added light, scaled by `shading` like the rest)."""
    channels = albedo.shape[2]
    bumpy = relief_px > 0 and bool(relief.any())
    # one bilinear lookup for albedo and relief slope together when OpenCV can take them in one map (<= 4)
    if bumpy and channels + 2 <= 4:
        both = sample_map(np.concatenate([albedo, relief_gradient(relief)], axis=2), fragments.uv)
        colour, slope = both[:, :channels], both[:, channels:]
    else:
        colour = sample_map(albedo, fragments.uv).reshape(-1, channels)
        slope = sample_map(relief_gradient(relief), fragments.uv) if bumpy else None  # (N, 2): dh/du, dh/dv
    normal = fragments.normal
    if slope is not None:
        jac = fragments.duv_dxy
        dh_dx = (slope[:, 0] * jac[0, 0] + slope[:, 1] * jac[1, 0]) * relief_px
        dh_dy = (slope[:, 0] * jac[0, 1] + slope[:, 1] * jac[1, 1]) * relief_px
        normal = np.stack([normal[0] - dh_dx, normal[1] - dh_dy, normal[2]])
        normal *= 1.0 / np.sqrt(np.maximum(normal[0] ** 2 + normal[1] ** 2 + normal[2] ** 2, 1e-12))
    # shading 0 pastes the bare albedo (the M-LFW-FER look); 1 lights it fully like the skin around it. Fabric
    # turning away from the camera also darkens whatever the light: less of the light it gets comes back, and
    # more of it is blocked by the cheek and nose (this is what rounds a white mask in a soft, frontal light).
    turned = 1.0 - clamp(normal[2], 0.0, 1.0)
    irradiance = lighting.irradiance(normal)
    light = (1.0 - shading) + shading * irradiance * (1.0 - CURVE_SHADE * turned ** CURVE_POWER)
    colour *= light[:, None]
    if sheen * shading > 0:
        # added, not multiplied: on a black mask the sheen is most of what shows its shape and its creases
        colour += (sheen * shading * irradiance * _mirror_alignment(normal, lighting) ** SHEEN_SHARPNESS)[:, None]
    return highlight_shoulder(colour)


def _mirror_alignment(normal: np.ndarray, lighting: Lighting) -> np.ndarray:
    """(N,) cosine between each (3, N) normal and the half-way vector of the light and the camera (+Z)."""
    half = np.array(lighting.direction, np.float64)
    half = half / max(float(np.linalg.norm(half)), 1e-6) + (0.0, 0.0, 1.0)
    half = (half / max(float(np.linalg.norm(half)), 1e-6)).astype(np.float32)
    return clamp(half[0] * normal[0] + half[1] * normal[1] + half[2] * normal[2], 0.0, 1.0)


def highlight_shoulder(colour: np.ndarray) -> np.ndarray:
    """Bright fabric rolls off softly instead of clipping, as a camera's tone curve does: a lit white mask
    keeps its pleats and its curve instead of turning into a flat white cut-out."""
    if SHOULDER >= 1.0:  # no shoulder: plain clipping
        return colour
    colour = np.asarray(colour, np.float32)
    over = colour - np.float32(SHOULDER)
    np.maximum(over, 0.0, out=over)
    over *= np.float32(-1.0 / (1.0 - SHOULDER))
    np.exp(over, out=over)  # e^(-excess / (1 - SHOULDER)), 1 below the shoulder
    over *= np.float32(-(1.0 - SHOULDER))
    over += np.float32(1.0 - SHOULDER)
    return np.minimum(colour, np.float32(SHOULDER)) + over


def fragment_layer(fragments: Fragments, colour: np.ndarray, coverage: np.ndarray,
                   size: tuple[int, int]) -> Layer:
    """The mask's fragments as a layer over the ROI, with as many channels as `colour` (N, C) has."""
    height, width = size
    alpha = np.zeros(height * width, np.float32)
    alpha[fragments.index] = coverage
    premultiplied = np.zeros((height * width, colour.shape[1]), np.float32)
    premultiplied[fragments.index] = colour * coverage[:, None]
    return Layer(premultiplied.reshape(height, width, -1), alpha.reshape(height, width))


def strap_coverage(paths: tuple[np.ndarray, ...], origin: tuple[float, float], size: tuple[int, int],
                   width: float) -> np.ndarray:
    """Anti-aliased coverage (h, w) of strap polylines in a ROI whose top-left pixel is `origin`."""
    alpha = np.zeros(size, np.float32)
    if not paths:
        return alpha
    shift = 4
    thickness = max(1, int(round(width)))
    polylines = [np.round((p - np.array(origin)) * (1 << shift)).astype(np.int32) for p in paths]
    cv2.polylines(alpha, polylines, False, 1.0, thickness, cv2.LINE_AA, shift)
    return np.minimum(alpha, 1.0, out=alpha)


def add_under(layer: Layer, alpha: np.ndarray, colour: np.ndarray) -> Layer:
    """A flat-coloured coverage (straps) slipped under `layer`, in place: no layer of its own to build."""
    below = alpha * (1.0 - layer.alpha)
    layer.colour += below[..., None] * colour.astype(np.float32)
    layer.alpha += below
    return layer


@functools.lru_cache(maxsize=1)
def _grain_tile() -> np.ndarray:
    """A fixed tile of unit Gaussian noise; each mask reads it at its own seeded offset (much faster than
    drawing fresh normals for every pixel, and just as deterministic)."""
    return np.random.default_rng(20201).standard_normal((GRAIN_TILE, GRAIN_TILE), np.float32)


def grain(size: tuple[int, int], seed: int) -> np.ndarray:
    """Unit Gaussian noise of the given size, fixed by `seed`: a window of the tile (wrapping round it only for
    layers larger than the tile, so the usual window is a view, never a copy of the tile)."""
    tile = _grain_tile()
    height, width = size
    if height <= GRAIN_TILE and width <= GRAIN_TILE:
        oy, ox = seed % (GRAIN_TILE - height + 1), (seed // GRAIN_TILE) % (GRAIN_TILE - width + 1)
        return tile[oy:oy + height, ox:ox + width]
    rows = (np.arange(height) + seed) % GRAIN_TILE
    cols = (np.arange(width) + seed // GRAIN_TILE) % GRAIN_TILE
    return tile[rows[:, None], cols[None, :]]


def match_photo(layer: Layer, style: PhotoStyle, seed: int) -> Layer:
    """Blur the layer like the photo and add its grain; a colour photo's cast is applied by the caller."""
    if style.blur_sigma > 0.3:
        layer = blur_layer(layer, style.blur_sigma)
    if style.noise_sigma >= MIN_VISIBLE_NOISE:
        noise = grain(layer.alpha.shape, seed) * layer.alpha
        noise *= style.noise_sigma
        layer.colour += noise[..., None]
    return layer


def blur_layer(layer: Layer, sigma: float) -> Layer:
    if sigma <= 0.05:
        return layer
    radius = max(1, int(np.ceil(2.5 * sigma)))
    kernel = (2 * radius + 1, 2 * radius + 1)
    colour = cv2.GaussianBlur(layer.colour, kernel, sigma, borderType=cv2.BORDER_CONSTANT)
    # OpenCV drops a trailing axis of length 1 (one-channel layers); the reshape puts it back
    return Layer(colour.reshape(layer.colour.shape),
                 cv2.GaussianBlur(layer.alpha, kernel, sigma, borderType=cv2.BORDER_CONSTANT))


def upsample_layer(layer: Layer, size: tuple[int, int]) -> Layer:
    """A layer drawn at low resolution, resized (bilinear) to the ROI size."""
    target = (size[1], size[0])
    colour = cv2.resize(layer.colour, target, interpolation=cv2.INTER_LINEAR)
    return Layer(colour.reshape(*size, layer.colour.shape[2]),
                 cv2.resize(layer.alpha, target, interpolation=cv2.INTER_LINEAR))


def contact_shadow(alpha: np.ndarray, sigma: float, drop: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The shadow a mask casts on the skin just outside it (0 = none, 1 = black): a thin one all round where
    the fabric stands off the skin, and a softer one offset by `drop` (x, y px) away from the light, which
    shows most under the mask's lower edge and beside it."""
    radius = max(1, int(np.ceil(2.0 * sigma)))
    spread = cv2.GaussianBlur(alpha, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_CONSTANT)
    if drop != (0.0, 0.0):
        moved = shifted(alpha, int(round(drop[0])), int(round(drop[1])))  # the wide blur hides the rounding
        soft = max(1, int(np.ceil(3.0 * sigma)))
        cast = cv2.GaussianBlur(moved, (2 * soft + 1, 2 * soft + 1), 1.5 * sigma, borderType=cv2.BORDER_CONSTANT)
        spread = np.maximum(spread, cast * (DROP_SHADOW / SHADOW_STRENGTH))
    return clamp(spread - alpha, 0.0, 1.0) * SHADOW_STRENGTH


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """`image` moved by whole pixels (x right, y down), zeros where nothing moved in; a slice copy, many
    times cheaper than cv2.warpAffine on float images this small."""
    height, width = image.shape[:2]
    out = np.zeros_like(image)
    if abs(dx) < width and abs(dy) < height:
        out[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
            image[max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
    return out


def blend(photo: np.ndarray, layer: Layer, shadow: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Composite the layer over the photo ROI (float, overwritten; a one-channel layer over a 3-channel photo
    is broadcast, as for grey photos stored as RGB).
    Returns the new ROI and the layer's final coverage."""
    alpha = layer.alpha
    alpha[alpha < ALPHA_FLOOR] = 0.0
    np.minimum(alpha, 1.0, out=alpha)
    colour = np.maximum(layer.colour, 0.0, out=layer.colour)
    np.minimum(colour, alpha[..., None], out=colour)  # premultiplied: no channel brighter than its coverage
    keep = 1.0 - alpha
    if shadow is not None:
        shadow[alpha > 0] = 0.0
        keep -= keep * shadow
    photo *= keep[..., None]
    photo += colour
    return photo, alpha


def soften_chroma(rgb: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Blur the colour (not the lightness) of a blended ROI by `sigma` px where the mask covers it (`alpha` > 0),
    in place: the photo's colour is softer than its lightness (`PhotoStyle.chroma_blur`), so the mask's colour
    edges must be too. Pixels the mask does not cover keep their values, so the occlusion map stays exactly
    the changed pixels; colour from the skin beside the edge still bleeds into the mask's rim, as in a photo."""
    if sigma <= 0.05:
        return rgb
    inside = alpha > 0
    if not inside.any():
        return rgb
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    radius = max(1, int(np.ceil(2.5 * sigma)))
    soft = cv2.GaussianBlur(ycc, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_REFLECT)
    soft[..., 0] = ycc[..., 0]  # lightness as it was: blurring all three and restoring one is the cheapest way
    cv2.copyTo(cv2.cvtColor(soft, cv2.COLOR_YCrCb2RGB), inside.view(np.uint8), rgb)
    return rgb


def to_grey(colour: np.ndarray) -> np.ndarray:
    """Luminance as a single channel (..., 1): grey photos are composited in one channel."""
    return luminance(colour)[..., None]
