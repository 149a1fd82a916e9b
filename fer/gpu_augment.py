"""The seed paper's training augmentations as batched torch operations, for data already on the GPU.

On a GPU machine the CPU cores are the bottleneck (they decode and draw masks); flipping, rotating,
shifting, colour jitter and noise cost nothing on the GPU. Same recipe and probabilities as
`fer.data.paper_augmentations` (Albumentations, per photo on the CPU): horizontal flip p=0.5; rotation
+-10 deg with translation +-10 % p=0.7 (zeros outside); brightness, contrast and saturation +-0.2 p=0.5;
Gaussian noise with standard deviation 0.01-0.05 p=0.3.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MEAN, STD = 0.5, 0.25  # as fer.data.FaceDataset


def _uniform(low: float, high: float, count: int, generator: torch.Generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(count, generator=generator, device=device)


def _chance(p: float, count: int, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(count, generator=generator, device=device) < p


def _luminance(images: torch.Tensor) -> torch.Tensor:
    return (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).unsqueeze(1)


def paper_augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] -> augmented, same shape. Every draw comes from `generator` (keyed by the
    caller per step), so a run is repeatable."""
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(f"expected a float (B, 3, H, W) batch, got {tuple(images.shape)} {images.dtype}")
    count, device = images.shape[0], images.device
    flip = _chance(0.5, count, generator, device)
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)

    angle = _uniform(-10, 10, count, generator, device) * (math.pi / 180)
    shift = _uniform(-0.1, 0.1, 2 * count, generator, device).view(count, 2) * 2  # in [-1, 1] grid units
    moved = _chance(0.7, count, generator, device)
    angle, shift = angle * moved, shift * moved[:, None]
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    jitter = _chance(0.5, count, generator, device)[:, None, None, None]
    brightness = _uniform(0.8, 1.2, count, generator, device)[:, None, None, None]
    contrast = _uniform(0.8, 1.2, count, generator, device)[:, None, None, None]
    saturation = _uniform(0.8, 1.2, count, generator, device)[:, None, None, None]
    jittered = (images * brightness).clamp(0, 1)
    mean = _luminance(jittered).mean((2, 3), keepdim=True)
    jittered = ((jittered - mean) * contrast + mean).clamp(0, 1)
    grey = _luminance(jittered)
    jittered = ((jittered - grey) * saturation + grey).clamp(0, 1)
    images = torch.where(jitter, jittered, images)

    noisy = _chance(0.3, count, generator, device)[:, None, None, None]
    sigma = _uniform(0.01, 0.05, count, generator, device)[:, None, None, None]
    noise = torch.randn(images.shape, generator=generator, device=device, dtype=images.dtype)
    return torch.where(noisy, (images + sigma * noise).clamp(0, 1), images)


def to_model_input(batch: torch.Tensor, augment: torch.Generator | None = None,
                   channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, 3, H, W) on the device -> normalised float input; augmented when given a generator."""
    images = batch.float().div_(255)
    if augment is not None:
        images = paper_augment(images, augment)
    images = (images - MEAN) / STD
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images
