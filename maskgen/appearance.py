"""Mask appearance in the mask's own (u, v) square: colour, printed or woven pattern, and fine relief.

Everything here is a pure function of a `Material` and the texture size, so the same parameters give the
same pixels. A material becomes two maps in (u, v): albedo (RGB in [0, 1]) and a relief height (pleats,
seams, folds, knit rows) that the shader turns into light and shade. The texture families are made in code;
photos of fabric come from `textures/` or any folder the caller names.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from .arrays import clamp
from .images import ImageError, describe_layout, is_image_path, read_image, to_float_rgb

TEXTURE_ASPECT = 1.5  # a mask is about 1.5 times as wide as it is tall; patterns stay round on it

# (name, RGB in 0..255, weight): what people wear, most common first.
PLEAT_SHADE = 0.14  # darkening just under each pleat's fold
UNDULATION_CELLS = 8  # bulges of worn fabric across the mask's width (see `Material.undulation`)

PALETTE: tuple[tuple[str, tuple[int, int, int], float], ...] = (
    ("white", (238, 240, 242), 6.0),
    ("surgical-blue", (126, 178, 216), 6.0),
    ("light-blue", (170, 205, 230), 2.0),
    ("black", (28, 28, 32), 6.0),
    ("charcoal", (62, 63, 68), 3.0),
    ("grey", (128, 130, 134), 2.5),
    ("light-grey", (196, 198, 200), 2.0),
    ("navy", (34, 46, 82), 2.0),
    ("sea-green", (120, 190, 170), 1.5),
    ("pastel-pink", (236, 182, 196), 1.5),
    ("lavender", (180, 160, 212), 1.0),
    ("beige", (214, 196, 168), 1.0),
    ("khaki", (150, 138, 100), 0.8),
    ("denim", (70, 98, 140), 1.0),
    ("red", (180, 36, 44), 0.8),
    ("burgundy", (110, 30, 46), 0.6),
    ("yellow", (236, 206, 80), 0.5),
    ("olive", (98, 104, 60), 0.6),
    ("purple", (104, 62, 140), 0.6),
    ("orange", (230, 120, 50), 0.4),
    ("teal", (30, 120, 130), 0.6),
)

PATTERNS = (
    "plain", "stripes", "dots", "checks", "plaid", "floral", "camouflage", "knit", "woven", "gradient",
    "print", "melange",
)


@dataclass(frozen=True)
class Material:
    """What the fabric looks like. Colours are RGB in [0, 1]; `colours[0]` is the ground colour."""

    pattern: str = "plain"
    colours: tuple[tuple[float, float, float], ...] = ((0.93, 0.94, 0.95),)
    pattern_scale: float = 6.0  # repeats across the mask height
    pattern_angle: float = 0.0  # degrees
    texture_file: str | None = None
    text: str = ""
    seed: int = 0
    pleats: int = 0  # horizontal pleats (surgical)
    centre_seam: bool = False  # vertical seam or fold down the middle (cloth, KN95)
    nose_wire: bool = False
    edge_band: float = 0.0  # width (in v) of a bound or welded edge, 0 for none
    valve: tuple[float, float, float] | None = None  # (u, v, radius) of an exhalation valve
    valve_colour: tuple[float, float, float] = (0.2, 0.2, 0.22)
    wrinkles: float = 0.0  # horizontal folds of a gaiter, 0..1
    fibre: float = 0.03  # strength of the fine fabric grain
    # Worn fabric is never flat: soft, irregular bulges and dents (relief height, 0 for none) and the sheen of
    # its fibres where it faces between the light and the camera (added light, 0 for none). Drawn masks have
    # none by default: see `kinds.FABRIC_UNDULATION` and docs/benchmarks.md, "Realism v2.1".
    undulation: float = 0.0
    sheen: float = 0.0
    strap_colour: tuple[float, float, float] = (0.93, 0.94, 0.95)
    # How much of the straps a photo shows (0 none .. 1 all): a thin cord blurs into the photo, and hair, the
    # ear and the cheek's outline hide most loops; drawn ones show as often as real ones (`kinds.STRAP_SHOWS`).
    strap_opacity: float = 1.0
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS and self.pattern != "image":
            raise ValueError(f"unknown pattern {self.pattern!r}; choose from {PATTERNS + ('image',)}")
        if not self.colours:
            raise ValueError("a material needs at least one colour")
        if not 0.0 <= self.strap_opacity <= 1.0:
            raise ValueError(f"strap_opacity must lie in [0, 1], got {self.strap_opacity!r}")


def texture_shape(mask_height_px: float) -> tuple[int, int]:
    """Texture resolution that matches the mask's size in the photo (no wasted work on small faces)."""
    # Half the mask's pixel height: bilinear lookup hides the 2x upsampling, and texture work is a third of
    # the renderer's time at full resolution.
    height = int(min(max(round(mask_height_px / 16.0) * 8, 48), 384))
    return height, int(round(height * TEXTURE_ASPECT))


def render_material(material: Material, shape: tuple[int, int],
                    texture_dirs: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Albedo (H, W, 3) and relief height (H, W), both float32, over the mask's (u, v) square."""
    height, width = shape
    rng = np.random.default_rng(material.seed)
    colours = np.array(material.colours, np.float32)
    if material.pattern == "image":
        albedo = _image_texture(material, shape, texture_dirs)
    elif material.pattern == "plain":
        albedo = np.empty((height, width, 3), np.float32)
        albedo[:] = colours[0]
    else:
        x, y = _pattern_coordinates(shape, material.pattern_scale, material.pattern_angle)
        albedo = _PATTERN_FUNCTIONS[material.pattern](x, y, colours, rng, material)
    albedo, relief = _construction(material, shape, albedo, rng)
    if material.fibre > 0:
        grain = _value_noise(shape, max(2, width // 3), rng)
        grain -= 0.5
        grain *= material.fibre
        grain += 1.0
        albedo *= grain[..., None]
    if material.undulation > 0:
        bulges = _value_noise(shape, UNDULATION_CELLS, rng)
        relief = relief + material.undulation * (2.0 * bulges - 1.0)
    return np.clip(albedo, 0.0, 1.0, out=albedo), relief


@functools.lru_cache(maxsize=64)
def _uv_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Texel centres in (u, v), (H, W) each; shared through the cache, so read-only."""
    height, width = shape
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = (u + 0.5) / width, (v + 0.5) / height
    u.flags.writeable = v.flags.writeable = False
    return u, v


def _pattern_coordinates(shape: tuple[int, int], scale: float, angle_degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Pattern coordinates: isotropic on the mask, `scale` repeats over its height, rotated."""
    u, v = _uv_grid(shape)
    angle = math.radians(angle_degrees)
    px, py = u * (TEXTURE_ASPECT * scale), v * scale
    return px * math.cos(angle) + py * math.sin(angle), py * math.cos(angle) - px * math.sin(angle)


# --- pattern families -------------------------------------------------------------------------------------

def _mix(colours: np.ndarray, index: np.ndarray) -> np.ndarray:
    return colours[np.clip(index, 0, len(colours) - 1) % len(colours)]


def _plain(x, y, colours, rng, material):
    return np.broadcast_to(colours[0], x.shape + (3,)).copy()


def _stripes(x, y, colours, rng, material):
    bands = max(2, len(colours))
    index = np.floor((y % 1.0) * bands).astype(int)
    return _mix(colours, index)


def _dots(x, y, colours, rng, material):
    radius = float(material.extra.get("dot_radius", 0.22))
    cy = y - np.floor(y) - 0.5
    row_shift = (np.floor(y) % 2) * 0.5  # half-drop arrangement, as most polka prints
    cx = ((x + row_shift) % 1.0) - 0.5
    distance = np.sqrt(cx**2 + cy**2)
    inside = np.clip((radius - distance) / 0.04 + 0.5, 0.0, 1.0)[..., None]
    dot = colours[1 % len(colours)]
    return colours[0] * (1 - inside) + dot * inside


def _checks(x, y, colours, rng, material):
    index = (np.floor(x) + np.floor(y)).astype(int) % 2
    second = colours[1 % len(colours)] if len(colours) > 1 else colours[0] * 0.35
    gingham = (np.floor(x) % 2 + np.floor(y) % 2)[..., None] / 2.0  # 0, 0.5 (overlap tint), 1
    if material.extra.get("gingham", False):
        return colours[0] * (1 - gingham) + second * gingham
    return np.where(index[..., None] == 0, colours[0], second)


def _plaid(x, y, colours, rng, material):
    base = colours[0].copy()
    result = np.broadcast_to(base, x.shape + (3,)).copy()
    widths = material.extra.get("plaid_bands", [0.18, 0.06, 0.1])
    for i, w in enumerate(widths):
        colour = colours[(i + 1) % len(colours)]
        offset = 0.37 * i
        for coord in (x, y):
            band = (np.abs(((coord + offset) % 1.0) - 0.5) < w / 2)[..., None]
            result = np.where(band, result * 0.45 + colour * 0.55, result)
    return result


def _floral(x, y, colours, rng, material):
    """Flowers: petals (five discs round a centre) scattered over a ground, plus small leaves."""
    height, width = x.shape
    result = np.broadcast_to(colours[0], x.shape + (3,)).copy()
    scale = material.pattern_scale
    count = int(np.clip(scale * scale * TEXTURE_ASPECT * 0.6, 4, 200))
    cell = height / scale
    for _ in range(count):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        size = cell * rng.uniform(0.18, 0.32)
        petal_colour = colours[1 + int(rng.integers(0, max(1, len(colours) - 1))) % max(1, len(colours) - 1)] \
            if len(colours) > 1 else 1.0 - colours[0]
        rotation = rng.uniform(0, 2 * np.pi)
        for k in range(5):
            a = rotation + k * 2 * np.pi / 5
            centre = (int(cx + np.cos(a) * size), int(cy + np.sin(a) * size))
            cv2.circle(result, centre, max(1, int(size * 0.7)), tuple(float(c) for c in petal_colour), -1,
                       cv2.LINE_AA)
        cv2.circle(result, (int(cx), int(cy)), max(1, int(size * 0.45)), (0.95, 0.85, 0.3), -1, cv2.LINE_AA)
    return result


def _camouflage(x, y, colours, rng, material):
    height, width = x.shape
    palette = colours if len(colours) >= 3 else np.array(
        [[0.33, 0.36, 0.22], [0.55, 0.5, 0.35], [0.2, 0.22, 0.15], [0.42, 0.32, 0.2]], np.float32)
    field_ = _value_noise((height, width), max(3, int(material.pattern_scale)), rng)
    field_ = 0.6 * field_ + 0.4 * _value_noise((height, width), max(5, int(material.pattern_scale * 2)), rng)
    levels = np.quantile(field_, np.linspace(0, 1, len(palette) + 1)[1:-1])
    return palette[np.digitize(field_, levels)]


def _knit(x, y, colours, rng, material):
    """Rows of interlocking V stitches: shading per stitch gives the familiar knit look."""
    column = x * 2.0
    local = column % 1.0
    v_shape = np.abs(local - 0.5) * 2.0  # 0 at the stitch centre, 1 at its edge
    row = (y * 3.0 + v_shape * 0.5) % 1.0
    shade = 0.78 + 0.22 * np.sin(np.pi * row) * (1.0 - 0.35 * v_shape)
    ground = colours[0] if len(colours) == 1 else np.where(
        (np.floor(y * 3.0 / 4.0) % 2 == 0)[..., None], colours[0], colours[1])
    return ground * shade[..., None]


def _woven(x, y, colours, rng, material):
    """A twill: diagonal ribs from threads passing over two and under two."""
    fine = material.pattern_scale * 2.0
    warp = np.floor(x * fine)
    weft = np.floor(y * fine)
    over = ((warp + weft) % 4) < 2
    thread = np.where(over, np.sin(np.pi * ((x * fine) % 1.0)), np.sin(np.pi * ((y * fine) % 1.0)))
    shade = 0.82 + 0.18 * thread
    second = colours[1 % len(colours)] if len(colours) > 1 else colours[0] * 0.85
    cloth = np.where(over[..., None], colours[0], second * 0.5 + colours[0] * 0.5)
    return cloth * shade[..., None]


def _gradient(x, y, colours, rng, material):
    height, width = x.shape
    second = colours[1 % len(colours)] if len(colours) > 1 else colours[0] * 0.4
    if material.extra.get("radial", False):
        v, u = np.mgrid[0:height, 0:width]
        t = np.sqrt(((u / width) - 0.5) ** 2 * TEXTURE_ASPECT**2 + ((v / height) - 0.5) ** 2) * 1.6
    else:
        t = (y - y.min()) / max(float(np.ptp(y)), 1e-6)
    t = np.clip(t, 0, 1)[..., None]
    return colours[0] * (1 - t) + second * t


def _print(x, y, colours, rng, material):
    """A logo or lettering printed on a plain ground, as on brand and sport masks."""
    height, width = x.shape
    result = np.broadcast_to(colours[0], x.shape + (3,)).copy()
    ink = tuple(float(c) for c in colours[1 % len(colours)]) if len(colours) > 1 else tuple(
        float(c) for c in (1.0 - colours[0]))
    text = material.text or "MASK"
    font = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX,
            cv2.FONT_HERSHEY_COMPLEX][material.seed % 4]
    thickness = max(1, height // 40)
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, thickness)
    scale = min(width * rng.uniform(0.3, 0.55) / max(tw, 1), height * 0.25 / max(th, 1))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    cx = width * rng.uniform(0.3, 0.7) - tw / 2
    cy = height * rng.uniform(0.45, 0.7) + th / 2
    if material.extra.get("logo", True):
        radius = int(th * 0.9)
        cv2.circle(result, (int(cx - radius * 1.4), int(cy - th / 2)), radius, ink, max(1, thickness), cv2.LINE_AA)
    cv2.putText(result, text, (int(cx), int(cy)), font, scale, ink, thickness, cv2.LINE_AA)
    return result


def _melange(x, y, colours, rng, material):
    """Heather yarn: two shades spun together, streaky along the thread."""
    height, width = x.shape
    streaks = _value_noise((height, width), max(4, width // 4), rng, stretch=(1, 6))
    second = colours[1 % len(colours)] if len(colours) > 1 else np.clip(colours[0] * 1.25 + 0.05, 0, 1)
    t = np.clip((streaks - 0.35) * 2.0, 0, 1)[..., None]
    return colours[0] * (1 - t) + second * t


_PATTERN_FUNCTIONS = {
    "plain": _plain, "stripes": _stripes, "dots": _dots, "checks": _checks, "plaid": _plaid,
    "floral": _floral, "camouflage": _camouflage, "knit": _knit, "woven": _woven, "gradient": _gradient,
    "print": _print, "melange": _melange,
}


def _value_noise(shape: tuple[int, int], cells: int, rng: np.random.Generator,
                 stretch: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Smooth noise in [0, 1]: random values on a coarse grid, bicubically upsampled."""
    height, width = shape
    coarse = rng.random((max(2, cells // stretch[0] * height // max(width, 1) + 2),
                         max(2, cells // stretch[1] + 2))).astype(np.float32)
    return clamp(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


# --- construction details: pleats, seams, bound edges, nose wire, valve -------------------------------------

def _construction(material: Material, shape: tuple[int, int], albedo: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pleats, bound edges, nose wire and seams (fixed per cut: cached), then a gaiter's wrinkles and a valve."""
    # edge widths in steps of 1/400 of the mask height: a fraction of a texel, and the cache then hits
    gain, relief = _cut_maps(shape, material.pleats, round(material.edge_band * 400) / 400, material.nose_wire,
                             material.centre_seam)
    albedo = np.multiply(albedo, gain[..., None], dtype=np.float32)
    relief = relief.copy()
    if material.wrinkles > 0 or material.valve is not None:
        u, v = _uv_grid(shape)
    if material.wrinkles > 0:
        phases = rng.uniform(0, 2 * np.pi, 3)
        waves = sum(np.sin(2 * np.pi * (v * f + 0.15 * np.sin(2 * np.pi * u + p)))
                    for f, p in zip((3.0, 5.0, 8.0), phases))
        relief += material.wrinkles * 0.4 * waves
    if material.valve is not None:
        vu, vv, radius = material.valve
        distance = np.sqrt(((u - vu) * TEXTURE_ASPECT) ** 2 + (v - vv) ** 2)
        disc = np.clip((radius - distance) / 0.01 + 0.5, 0, 1)
        relief += disc * 1.2 + np.clip(1.0 - np.abs(distance - radius * 0.55) / 0.008, 0, 1) * 0.3
        slots = (np.abs(np.sin((u - vu) * 90.0)) < 0.35) & (distance < radius * 0.45)
        colour = np.array(material.valve_colour, np.float32)
        albedo = albedo * (1 - disc[..., None]) + colour * disc[..., None]
        albedo[slots] *= 0.55
    return albedo.astype(np.float32, copy=False), relief


@functools.lru_cache(maxsize=256)
def _cut_maps(shape: tuple[int, int], pleats: int, edge_band: float, nose_wire: bool,
              centre_seam: bool) -> tuple[np.ndarray, np.ndarray]:
    """The albedo gain (H, W) and relief (H, W) of a mask's construction; the same for every mask of a cut,
    so made once and shared (read-only)."""
    u, v = _uv_grid(shape)
    gain = np.ones(shape, np.float32)
    relief = np.zeros(shape, np.float32)
    if pleats > 0:
        top, bottom = 0.2, 0.82
        inside = (v > top) & (v < bottom)
        phase = np.clip((v - top) / (bottom - top), 0, 1) * pleats
        # each pleat: fabric rises gently then drops sharply into the fold below it
        saw = phase % 1.0
        relief += np.where(inside, 0.5 * saw - 0.5 * np.clip((saw - 0.85) / 0.15, 0, 1) * saw, 0.0)
        gain[inside & (saw > 0.9)] *= 0.82  # the crease
        # the fold overhangs the fabric just below it: a soft band of shade under every pleat, whatever the light
        below = np.where(inside & (phase >= 1.0), np.clip(1.0 - saw / 0.22, 0.0, 1.0), 0.0)
        gain *= 1.0 - PLEAT_SHADE * below
    if edge_band > 0:
        edge = np.minimum(np.minimum(v, 1.0 - v), np.minimum(u, 1.0 - u) * TEXTURE_ASPECT)
        relief += np.where(edge < edge_band, 0.25, 0.0)
        gain[np.abs(edge - edge_band) < 0.006] *= 0.85  # the stitching
    if nose_wire:
        relief += np.where((np.abs(v - 0.035) < 0.018) & (np.abs(u - 0.5) < 0.17), 0.6, 0.0)
    if centre_seam:
        seam = np.abs(u - 0.5) * TEXTURE_ASPECT
        relief -= np.clip(1.0 - seam / 0.012, 0, 1) * 0.5
        gain[seam < 0.004] *= 0.8
    gain.flags.writeable = relief.flags.writeable = False
    return gain, relief


# --- image textures -----------------------------------------------------------------------------------------

def builtin_texture_dir() -> Path:
    """Installed, the textures are the package `maskgen.textures`; in a source checkout used without
    installing (PYTHONPATH=repo, as on a machine with no package index) they are `textures/` beside `maskgen/`."""
    try:
        return Path(str(resources.files("maskgen.textures")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[1] / "textures"


@functools.lru_cache(maxsize=16)
def list_texture_files(directories: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Texture photos: the built-in `textures/` folder first, then each folder the caller names."""
    found: list[str] = []
    for directory in (str(builtin_texture_dir()), *directories):
        path = Path(directory)
        if not path.is_dir():
            raise FileNotFoundError(f"texture folder not found: {directory}")
        found.extend(str(p) for p in sorted(path.iterdir()) if p.is_file() and is_image_path(p))
    return tuple(found)


@functools.lru_cache(maxsize=64)
def _load_texture(path: str) -> np.ndarray:
    image = read_image(path)
    return to_float_rgb(image, describe_layout(image))


def _image_texture(material: Material, shape: tuple[int, int], texture_dirs: tuple[str, ...]) -> np.ndarray:
    if material.texture_file is None:
        raise ImageError("an image material needs texture_file")
    source = _load_texture(material.texture_file)
    height, width = shape
    # Tile the photo at the requested scale so the weave is not stretched over the whole mask.
    tile_h = max(8, int(height / max(material.pattern_scale / 4.0, 0.5)))
    tile_w = max(8, int(tile_h * source.shape[1] / source.shape[0]))
    tile = cv2.resize(source, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
    reps = (height // tile_h + 2, width // tile_w + 2, 1)
    tiled = np.tile(tile, reps)
    oy, ox = material.seed % tile_h, (material.seed // 7) % tile_w
    crop = tiled[oy:oy + height, ox:ox + width]
    tint = np.array(material.colours[0], np.float32)
    strength = float(material.extra.get("tint", 0.0))
    return crop * (1 - strength) + crop * tint * strength * 1.3
