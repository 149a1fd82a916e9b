"""What the photo looks like around a face: its light, noise, blur, colour cast and colour resolution.

A mask only looks real if it is lit, blurred, grained and tinted like the skin beside it. These estimators
are cheap (they read the face region only) and return plain numbers the compositor applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .arrays import clamp

SKIN_REFERENCE = 0.45  # skin reflectance assumed when turning skin brightness into illumination
INTRINSIC_BLUR = 0.53  # px the estimator reports on a perfectly sharp image (Sobel and sampling)
BLUR_GAIN = 1.15  # neighbouring edges make the 1 / sigma law read low; calibrated on blurred test cards
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
MAX_CHROMA_BLUR = 3.0  # px; more is no longer compression but a colour fringe the estimate should not copy
# Average chromaticity (channel means over their mean) of the face region under ordinary light, measured on
# 1,437 colour photos of real-masks/without_mask (people of many skin tones; spread about 0.1 per channel).
SKIN_CHROMA = np.array([1.23, 0.945, 0.81], np.float32)


@dataclass(frozen=True)
class Lighting:
    """First-order light field: brightness = ambient + direction . normal (normals face the camera)."""

    ambient: float
    direction: tuple[float, float, float]

    def irradiance(self, normals: np.ndarray) -> np.ndarray:
        """Illumination on surfaces with these (3, N) normals, relative to a well-lit white surface."""
        dx, dy, dz = (np.float32(c) for c in self.direction)  # explicit: BLAS threads cost more than the sum
        light = self.ambient + dx * normals[0] + dy * normals[1] + dz * normals[2]
        return clamp(light / SKIN_REFERENCE, 0.12, 1.6).astype(np.float32)


@dataclass(frozen=True)
class PhotoStyle:
    """Noise, blur and colour of the photo near the face, to be copied onto the mask."""

    greyscale: bool
    noise_sigma: float  # standard deviation, in [0, 1] intensity units
    blur_sigma: float  # px
    cast: tuple[float, float, float]  # per-channel gain, mean 1
    # px of blur the photo's colour has beyond its lightness's: JPEG, video and most cameras keep colour at half
    # resolution or less, so a mask drawn with sharp colour edges stands out on them
    chroma_blur: float = 0.0


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * LUMA[0] + rgb[..., 1] * LUMA[1] + rgb[..., 2] * LUMA[2]


def fit_lighting(samples: np.ndarray, points: np.ndarray, image_size: tuple[int, int], normals: np.ndarray,
                 valid: np.ndarray) -> Lighting:
    """Least-squares light from skin colour `samples` (K, 3) at face-surface `points` (K, 2, px) whose unit
    `normals` (K, 3, facing the camera) are known. A small ridge term keeps the direction sane when few points
    are usable (tiny or cut-off faces)."""
    height, width = image_size
    inside = valid & (points[:, 0] >= 0) & (points[:, 0] <= width - 1) & (points[:, 1] >= 0) & (
        points[:, 1] <= height - 1)
    if inside.sum() < 8:
        return Lighting(ambient=SKIN_REFERENCE, direction=(0.0, 0.0, 0.0))
    brightness = luminance(samples[inside].astype(np.float32))
    design = np.concatenate([np.ones((int(inside.sum()), 1), np.float32), normals[inside].astype(np.float32)],
                            axis=1)
    ridge = np.diag([0.0, 1.0, 1.0, 1.0]).astype(np.float32) * 0.05 * len(design)
    coef = np.linalg.solve(design.T @ design + ridge, design.T @ brightness)
    # Light cannot come from behind the face, and a fit on a few noisy points must not swing wildly.
    ambient = float(coef[0])
    toward = float(max(coef[3], 0.0))
    facing = max(ambient + toward, 0.05)  # brightness of skin facing the camera
    sideways = coef[1:3].copy()
    magnitude = float(np.linalg.norm(sideways))
    if magnitude > 0.6 * facing:
        sideways *= 0.6 * facing / magnitude
    ambient = facing - toward
    direction = np.array([sideways[0], sideways[1], toward])
    return Lighting(ambient=ambient, direction=tuple(float(c) for c in direction))


def estimate_noise(grey: np.ndarray) -> float:
    """Immerkaer's fast noise estimate: the Laplacian-difference kernel cancels smooth image content."""
    if min(grey.shape) < 3:
        return 0.0
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(grey.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT))
    h, w = grey.shape
    sigma = np.sqrt(np.pi / 2.0) * response[1:-1, 1:-1].sum() / (6.0 * (w - 2) * (h - 2))
    return min(max(float(sigma), 0.0), 0.08)


def estimate_blur(grey: np.ndarray) -> float:
    """Blur (Gaussian sigma, px) from how much gradient energy a further 1 px blur removes; `grey` is one plane
    (H, W) or several (H, W, C) pooled.

    For blurred step edges the gradient energy falls as 1 / sigma, so the ratio r between the energy after and
    before an extra unit blur gives sigma^2 = r^2 / (1 - r^2) (less the ~0.5 px every sampled photo has).
    """
    if min(grey.shape[:2]) < 8:
        return 0.0
    g = grey.astype(np.float32)

    def energy(image: np.ndarray) -> float:
        gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)[2:-2, 2:-2]
        gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)[2:-2, 2:-2]
        return (cv2.norm(gx, cv2.NORM_L2SQR) + cv2.norm(gy, cv2.NORM_L2SQR)) / gx.size

    before = energy(g)
    if before < 1e-4:
        return 0.0
    after = energy(cv2.GaussianBlur(g, (0, 0), 1.0))
    ratio = min(after / before, 0.995) ** 2
    sigma2 = ratio / (1.0 - ratio) - INTRINSIC_BLUR**2
    return min(BLUR_GAIN * math.sqrt(max(sigma2, 0.0)), 4.0)


def chroma_planes(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 2) colour differences Cr, Cb of float RGB in [0, 1] (JPEG's YCbCr, without the offset)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2YCrCb)[..., 1:]


def estimate_chroma_blur(rgb: np.ndarray, luma_blur: float) -> float:
    """How much softer (Gaussian sigma, px) the photo's colour is than its lightness, whose blur is `luma_blur`.

    Half-resolution colour (JPEG's 4:2:0, camera demosaicing) blurs colour edges by about a pixel more than
    lightness edges: on the 1,459 usable real unmasked photos of real-masks (JPEG, 4:2:0) this reads 1.1 px at
    the median and at least 0.3 px on 89 % of them. 0 for photos whose colour is as sharp as their lightness, or
    with too little colour structure to tell."""
    colour_blur = estimate_blur(chroma_planes(rgb))
    return min(math.sqrt(max(colour_blur**2 - luma_blur**2, 0.0)), MAX_CHROMA_BLUR)


def analyse_region(rgb: np.ndarray, greyscale: bool) -> PhotoStyle:
    """Style of the photo in a region around one face (float in [0, 1], RGB or one grey channel)."""
    grey = rgb[..., 0] if rgb.shape[-1] == 1 else luminance(rgb)
    if greyscale:
        cast = (1.0, 1.0, 1.0)
    else:
        # The region is mostly skin, which is warm under any light: the cast is the region's colour relative
        # to an average face's, not to grey (against grey, every mask came out skin-tinted).
        means = rgb.reshape(-1, 3).mean(axis=0) + 1e-3
        gain = np.clip((means / means.mean() / SKIN_CHROMA) ** 0.35, 0.85, 1.15)
        cast = tuple(float(c) for c in gain / gain.mean())
    blur = estimate_blur(grey)
    return PhotoStyle(greyscale=greyscale, noise_sigma=estimate_noise(grey), blur_sigma=blur, cast=cast,
                      chroma_blur=0.0 if greyscale else estimate_chroma_blur(rgb, blur))
