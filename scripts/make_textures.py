"""Make the fabric texture images shipped in `textures/` (run once; the output is committed).

Every texture is synthesised here from seeded noise, so the project owns them outright (CC0). Rerunning the
script reproduces the files byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SIZE = 256
OUT = Path(__file__).resolve().parent.parent / "textures"


def noise(rng: np.random.Generator, cells: tuple[int, int]) -> np.ndarray:
    return cv2.resize(rng.random(cells).astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)


def denim(rng):
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    twill = 0.5 + 0.5 * np.sin((x + y) * 2 * np.pi / 4.0)
    fibres = noise(rng, (SIZE, 8)) * 0.5 + noise(rng, (64, 64)) * 0.5
    shade = 0.55 + 0.25 * twill + 0.3 * (fibres - 0.5)
    blue = np.array([0.55, 0.35, 0.18], np.float32)  # BGR
    white = np.array([0.85, 0.85, 0.85], np.float32)
    weft = (twill > 0.85)[..., None]
    return np.where(weft, white * shade[..., None], blue * shade[..., None] * 1.2)


def linen(rng):
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    slub_h = noise(rng, (SIZE, 4))
    slub_v = noise(rng, (4, SIZE))
    weave = 0.5 + 0.25 * np.sin(x * np.pi / 1.5) * np.sin(y * np.pi / 1.5)
    shade = 0.75 + 0.15 * (weave - 0.5) + 0.12 * (slub_h - 0.5) + 0.12 * (slub_v - 0.5)
    return shade[..., None] * np.array([0.72, 0.84, 0.9], np.float32)


def corduroy(rng):
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    wale = np.abs(np.sin(x * np.pi / 6.0)) ** 0.6
    shade = 0.45 + 0.45 * wale + 0.1 * (noise(rng, (64, 64)) - 0.5)
    return shade[..., None] * np.array([0.2, 0.35, 0.55], np.float32)


def herringbone(rng):
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    band = (x // 16) % 2
    diagonal = np.where(band == 0, x + y, x - y)
    rib = 0.5 + 0.5 * np.sin(diagonal * 2 * np.pi / 6.0)
    shade = 0.35 + 0.45 * rib + 0.15 * (noise(rng, (96, 96)) - 0.5)
    return shade[..., None] * np.array([0.55, 0.55, 0.58], np.float32)


def jersey(rng):
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    local = (x % 6.0) / 6.0
    v = np.abs(local - 0.5) * 2
    row = ((y + v * 3) % 5.0) / 5.0
    shade = 0.6 + 0.35 * np.sin(np.pi * row) * (1 - 0.3 * v) + 0.1 * (noise(rng, (32, 32)) - 0.5)
    return shade[..., None] * np.array([0.3, 0.25, 0.6], np.float32)


def batik(rng):
    field = noise(rng, (12, 12)) * 0.7 + noise(rng, (40, 40)) * 0.3
    rings = 0.5 + 0.5 * np.sin(field * 40.0)
    crackle = (noise(rng, (128, 128)) > 0.82).astype(np.float32) * 0.3
    indigo = np.array([0.45, 0.18, 0.1], np.float32)
    cream = np.array([0.75, 0.88, 0.93], np.float32)
    t = np.clip(rings - crackle, 0, 1)[..., None]
    return indigo * t + cream * (1 - t)


def leopard(rng):
    img = np.ones((SIZE, SIZE, 3), np.float32) * np.array([0.45, 0.68, 0.85], np.float32)
    for _ in range(70):
        cx, cy = rng.integers(0, SIZE, 2)
        axes = (int(rng.integers(6, 14)), int(rng.integers(5, 11)))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(img, (int(cx), int(cy)), axes, angle, 0, 360, (0.1, 0.12, 0.15), 3, cv2.LINE_AA)
        cv2.ellipse(img, (int(cx), int(cy)), (axes[0] - 3, axes[1] - 3), angle, 0, 360, (0.2, 0.38, 0.6), -1,
                    cv2.LINE_AA)
    return img * (0.9 + 0.2 * noise(rng, (64, 64)))[..., None]


TEXTURES = {"denim": denim, "linen": linen, "corduroy": corduroy, "herringbone": herringbone,
            "jersey": jersey, "batik": batik, "leopard": leopard}


def main() -> None:
    for index, (name, make) in enumerate(TEXTURES.items()):
        image = np.clip(make(np.random.default_rng(1000 + index)), 0, 1)
        cv2.imwrite(str(OUT / f"{name}.png"), (image * 255 + 0.5).astype(np.uint8))
        print("wrote", OUT / f"{name}.png")


if __name__ == "__main__":
    main()
