"""Reading, normalising and writing photos.

The renderer works on one layout (float32 RGB in [0, 1]); these helpers turn whatever arrives (greyscale,
RGBA, 16-bit, odd paths) into that layout and back, so no other stage has to care about input formats.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Formats read from disk: OpenCV's, plus GIF through Pillow (first frame). OpenCV writes all of them but GIF.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".gif"})
WRITE_SUFFIXES = IMAGE_SUFFIXES - {".gif"}
# Formats that hold 16 bits per channel; anything else is written with 8.
DEEP_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".pgm", ".ppm"})
_UMASK = os.umask(0)
os.umask(_UMASK)


class ImageError(ValueError):
    """A photo that cannot be used: unreadable, truncated, empty or of an unsupported layout."""


@dataclass(frozen=True)
class ImageLayout:
    """How the caller's array was laid out, so the result can be returned the same way."""

    dtype: np.dtype
    channels: int  # 0 for a plain (H, W) array
    greyscale: bool  # the photo carries no colour (one channel, or R == G == B)


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def writable_suffix(suffix: str) -> str:
    """The suffix an output keeps: its own when OpenCV can write that format, else ".png" (GIF)."""
    return suffix if suffix.lower() in WRITE_SUFFIXES else ".png"


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as RGB(A) or greyscale, keeping its bit depth. Raises ImageError with the reason.

    GIFs (which OpenCV cannot read) are read with Pillow: the first frame, grey when its palette is grey."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # np.fromfile copes with non-ASCII paths, cv2.imread does not
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if data.size == 0:
        raise ImageError(f"empty file: {path}")
    if bytes(data[:6]) in (b"GIF87a", b"GIF89a"):
        return _read_gif(path, data)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(f"not a readable image (corrupt or unsupported format): {path}")
    if _looks_truncated(path, data):
        raise ImageError(f"truncated image file: {path}")
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def _read_gif(path: Path, data: np.ndarray) -> np.ndarray:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data.tobytes())) as gif:
            gif.seek(0)
            has_alpha = "transparency" in gif.info or gif.mode in ("RGBA", "LA", "PA")
            image = np.asarray(gif.convert("RGBA" if has_alpha else "RGB"))
    except (OSError, UnidentifiedImageError, ValueError, EOFError) as exc:
        reason = "truncated image file" if "truncated" in str(exc) else "not a readable image (corrupt GIF)"
        raise ImageError(f"{reason}: {path}") from exc
    rgb = image[..., :3]
    if not has_alpha and np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])  # a grey palette: one channel, as a grey JPEG would read
    return np.ascontiguousarray(image)


def _looks_truncated(path: Path, data: np.ndarray) -> bool:
    """OpenCV decodes a cut-off JPEG or PNG with grey fill and no error; check the end markers instead."""
    suffix = path.suffix.lower()
    if suffix in {".jpg", ".jpeg"} or bytes(data[:2]) == b"\xff\xd8":
        tail = bytes(data[-64:]).rstrip(b"\x00\r\n ")
        return not tail.endswith(b"\xff\xd9")
    if suffix == ".png" or bytes(data[:8]) == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in bytes(data[-32:])
    return False


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> None:
    """Write atomically: encode to memory, write a temporary file beside the target, then rename it.

    uint16 stays 16-bit in PNG, TIFF, PGM and PPM and is scaled to 8 bits for JPEG, WebP and BMP; float images
    (in [0, 1]) are scaled to 8 bits; bool maps become 0/255."""
    path = Path(path)
    suffix = path.suffix.lower() or ".png"
    image = _encodable_depth(np.asarray(image), suffix)
    bgr = image
    if image.ndim == 3 and image.shape[2] == 3:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in {".jpg", ".jpeg"} else []
    ok, encoded = cv2.imencode(suffix, bgr, params)
    if not ok:
        raise ImageError(f"cannot encode image as {suffix}: {path}")
    write_bytes_atomic(path, encoded.tobytes())


def _encodable_depth(image: np.ndarray, suffix: str) -> np.ndarray:
    """The array at a bit depth the format holds, scaled (OpenCV would cast 16-bit or float to 8 bits unscaled)."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        if suffix in DEEP_SUFFIXES:
            return image
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)  # 65535 -> 255, rounded
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(image.dtype, np.floating):
        scaled = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return (np.clip(scaled, 0.0, 1.0) * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)
    raise ImageError(f"cannot write an image of dtype {image.dtype}; use uint8, uint16 or float in [0, 1]")


PARTIAL_PREFIX = ".tmp-"  # a file being written: renamed into place when complete


def write_bytes_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs should read like any other file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_partial_writes(root: Path) -> int:
    """Delete what killed writers left under `root` (their temporary files, never renamed into place), so a
    resumed run's tree holds only complete outputs. Returns how many were removed."""
    removed = 0
    for path in root.rglob(f"{PARTIAL_PREFIX}*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def describe_layout(image: np.ndarray) -> ImageLayout:
    """Validate an input array and record its layout."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        channels = 1
    elif image.ndim == 2:
        channels = 0
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        channels = image.shape[2]
    else:
        raise ImageError(f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got shape {image.shape}")
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ImageError(f"unsupported image dtype {image.dtype}; use uint8, uint16 or float in [0, 1]")
    if min(image.shape[:2]) < 1:
        raise ImageError(f"empty image of shape {image.shape}")
    if image.dtype.kind == "f":
        _check_float_range(image)
    greyscale = channels in (0, 1) or _rgb_is_grey(image[..., :3])
    return ImageLayout(dtype=image.dtype, channels=channels, greyscale=greyscale)


FLOAT_TOLERANCE = 0.5  # float photos may overshoot [0, 1] a little after other augmentations; not by this much


def _check_float_range(image: np.ndarray) -> None:
    """A float photo in 0..255, or one already normalised with a mean and std, would come out as a white or
    invisible mask with no error; refuse it instead, saying what to do."""
    finite = np.isfinite(image)
    if not finite.all():
        raise ImageError(f"float images must hold finite values in [0, 1]; this one has {int((~finite).sum())} NaN or "
                         "infinite values")
    low, high = float(image.min()), float(image.max())
    if high > 1.0 + FLOAT_TOLERANCE or low < -FLOAT_TOLERANCE:
        hint = "divide by 255 (or pass the uint8 array)" if high > 2.0 else \
            "apply FaceMask before normalising (A.Normalize, ToTensor) in the pipeline"
        raise ImageError(f"float images must hold values in [0, 1]; this one spans [{low:.3g}, {high:.3g}]: {hint}")


GREY_SPREAD = 0.03  # channels this close (of full scale) count as agreeing
GREY_SHARE = 0.95  # ... at this share of the pixels


def _rgb_is_grey(rgb: np.ndarray) -> bool:
    """A colour-encoded photo whose channels agree (JPEG noise aside) carries no colour: at GREY_SHARE of its
    pixels, the channels lie within GREY_SPREAD of each other."""
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / 4096)))
    sample = rgb[::step, ::step]
    red, green, blue = (sample[..., c] for c in range(3))
    # channel by channel in the photo's own dtype (max - min cannot wrap): a reduction over a 3-long last axis,
    # a float copy or a percentile each cost more than the test
    spread = np.maximum(np.maximum(red, green), blue)
    spread -= np.minimum(np.minimum(red, green), blue)
    scale = 255.0 if rgb.dtype == np.uint8 else (65535.0 if rgb.dtype == np.uint16 else 1.0)
    return np.count_nonzero(spread > GREY_SPREAD * scale) <= (1.0 - GREY_SHARE) * spread.size


def to_float(image: np.ndarray, layout: ImageLayout) -> np.ndarray:
    """Any supported layout to float32 in [0, 1], (H, W, 1) for single-channel layouts and (H, W, 3) otherwise
    (alpha dropped; the caller keeps it). Grey photos stay one channel, so work on them costs a third."""
    if layout.channels == 0:
        image = image[..., None]
    elif layout.channels == 4:
        image = image[..., :3]
    if layout.dtype == np.uint8:
        scaled = image.astype(np.float32)
        scaled *= np.float32(1.0 / 255.0)
    elif layout.dtype == np.uint16:
        scaled = image.astype(np.float32)
        scaled *= np.float32(1.0 / 65535.0)
    else:
        scaled = image.astype(np.float32)  # a copy even when already float32: callers write into it
        np.maximum(scaled, 0.0, out=scaled)
        np.minimum(scaled, 1.0, out=scaled)
    return scaled


def to_float_rgb(image: np.ndarray, layout: ImageLayout) -> np.ndarray:
    """Any supported layout to float32 RGB in [0, 1] (alpha dropped; the caller keeps it)."""
    scaled = to_float(image, layout)
    return np.repeat(scaled, 3, axis=2) if scaled.shape[2] == 1 else scaled


def to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """Any supported layout to uint8 RGB, the form the landmark detector takes."""
    layout = describe_layout(image)
    if layout.dtype == np.uint8 and layout.channels == 3:
        return np.ascontiguousarray(image)
    return from_float_rgb(to_float_rgb(image, layout), ImageLayout(np.dtype(np.uint8), 3, layout.greyscale))


def from_float_rgb(rgb: np.ndarray, layout: ImageLayout, alpha: np.ndarray | None = None) -> np.ndarray:
    """Back to the caller's layout from (H, W, 3) or (H, W, 1) float. `alpha` is the alpha channel (already in
    the output's scale) for RGBA."""
    if layout.channels in (0, 1) and rgb.shape[2] == 3:
        rgb = ((rgb[..., 0] + rgb[..., 1] + rgb[..., 2]) * np.float32(1.0 / 3.0))[..., None]
    elif layout.channels in (3, 4) and rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    if layout.dtype == np.uint8:
        # round half up and saturate in one OpenCV pass (three numpy passes cost five times as much)
        out = cv2.convertScaleAbs(np.maximum(rgb, 0.0), alpha=255.0).reshape(rgb.shape)
    elif layout.dtype == np.uint16:
        scaled = rgb * np.float32(65535.0)
        scaled += np.float32(0.5)
        out = np.clip(scaled, 0, 65535).astype(np.uint16)
    else:
        out = np.clip(rgb, 0.0, 1.0).astype(layout.dtype)
    if layout.channels == 0:
        return out[..., 0]
    if layout.channels == 4:
        assert alpha is not None
        out = np.concatenate([out, alpha[..., None].astype(out.dtype)], axis=2)
    return np.ascontiguousarray(out)


def sample_pixels(image: np.ndarray, layout: ImageLayout, points: np.ndarray) -> np.ndarray:
    """Bilinear samples (K, 3) float RGB in [0, 1] at (K, 2) pixel positions, read straight from the caller's
    array (no full-image conversion). Points outside the image read the nearest edge pixel."""
    src = image[..., :3] if layout.channels == 4 else (image[..., 0] if layout.channels == 1 else image)
    src = np.ascontiguousarray(src)
    xs = points[:, :1].astype(np.float32).copy()
    ys = points[:, 1:2].astype(np.float32).copy()
    samples = cv2.remap(src, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    samples = samples.reshape(len(points), -1)
    if layout.dtype == np.uint8:
        samples /= 255.0
    elif layout.dtype == np.uint16:
        samples /= 65535.0
    return np.repeat(samples, 3, axis=1) if samples.shape[1] == 1 else samples
