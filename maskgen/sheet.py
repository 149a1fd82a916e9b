"""Contact sheets: many rendered faces on one PNG, each with a caption, for people to look at."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .images import describe_layout, to_float_rgb

CAPTION_PX = 16


def tile(image: np.ndarray, size: int, caption: str = "") -> np.ndarray:
    """An image letterboxed into a size x size uint8 RGB square, with a caption strip below."""
    rgb = to_float_rgb(image, describe_layout(image))
    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    resized = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    canvas = np.full((size + CAPTION_PX, size, 3), 0.12, np.float32)
    top, left = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    out = np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)
    if caption:
        font_scale = 0.36 * size / 160
        cv2.putText(out, caption[: max(4, size // 7)], (3, size + CAPTION_PX - 4), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (235, 235, 235), 1, cv2.LINE_AA)
    return out


def contact_sheet(images: Sequence[np.ndarray], captions: Sequence[str] | None = None, columns: int = 8,
                  size: int = 160, gap: int = 4) -> np.ndarray:
    """Tiles in rows of `columns`, uint8 RGB."""
    if not images:
        raise ValueError("a contact sheet needs at least one image")
    captions = list(captions) if captions is not None else [""] * len(images)
    tiles = [tile(im, size, cap) for im, cap in zip(images, captions)]
    columns = max(1, min(columns, len(tiles)))
    rows = (len(tiles) + columns - 1) // columns
    th, tw = tiles[0].shape[:2]
    sheet = np.full((rows * (th + gap) + gap, columns * (tw + gap) + gap, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        sheet[y:y + th, x:x + tw] = t
    return sheet
