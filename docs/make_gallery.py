"""Make the documentation gallery (docs/gallery/*.jpg) from the bundled sample faces. `make docs` runs it.

Every picture in the docs comes from here, never by hand:
- kinds.jpg: every kind (and the mlfw-white baseline) on every sample face (grey and colour, frontal and turned);
- poses.jpg: one face turned in 3D from -50 to +50 degrees of yaw, pitch and roll, for each kind;
- wear.jpg: the placement modes (correct, nose out, on the chin) and top-edge heights;
- patterns.jpg: every texture family on the same face.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import maskgen  # noqa: E402
from maskgen.appearance import PATTERNS, Material  # noqa: E402
from maskgen.kinds import MaskParams, sample_params  # noqa: E402
from maskgen.sheet import contact_sheet  # noqa: E402

OUT = Path(__file__).resolve().parent / "gallery"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from posed import posed_face  # noqa: E402


def kinds_sheet() -> np.ndarray:
    images, captions = [], []
    for row, name in enumerate(maskgen.sample_names()):
        image = maskgen.load_sample(name)
        faces = maskgen.detect_faces(image)
        for column, style in enumerate((maskgen.BASELINE, *maskgen.KINDS)):
            images.append(maskgen.render(image, faces, style=style, seed=100 * row + column).image)
            captions.append(style)
    return contact_sheet(images, captions, columns=1 + len(maskgen.KINDS), size=150)


def poses_sheet() -> np.ndarray:
    """Turned faces: real landmarks rotated in 3D, the photo warped to follow with a similarity fit."""
    image = maskgen.load_sample("Heather_Mills_0004_color112")
    big = cv2.resize(image, (224, 224), interpolation=cv2.INTER_CUBIC)
    face = maskgen.detect_faces(big)[0]
    poses = [(-50, 0, 0), (-30, 0, 0), (0, 0, 0), (30, 0, 0), (50, 0, 0), (0, -20, 0), (0, 20, 0), (0, 0, 30)]
    images, captions = [], []
    for kind in maskgen.KINDS:
        for index, (yaw, pitch, roll) in enumerate(poses):
            turned = posed_face(face, yaw, pitch, roll, 224, scale=0.62)
            canvas = np.full((224, 224, 3), 200, np.uint8)
            # paint a neutral skin-coloured face silhouette so the mask has something to sit on
            hull = cv2.convexHull(turned.landmarks[:468, :2].astype(np.int32))
            cv2.fillConvexPoly(canvas, hull, (205, 170, 150), cv2.LINE_AA)
            for eye in (maskgen.mesh.EYE_RIGHT, maskgen.mesh.EYE_LEFT):
                centre = turned.landmarks[list(eye), :2].mean(axis=0).astype(int)
                cv2.circle(canvas, tuple(int(c) for c in centre), 6, (60, 40, 30), -1, cv2.LINE_AA)
            images.append(maskgen.render(canvas, [turned], style=kind, seed=index).image)
            captions.append(f"{kind} y{yaw} p{pitch} r{roll}")
    return contact_sheet(images, captions, columns=len(poses), size=150)


def wear_sheet() -> np.ndarray:
    image = maskgen.load_sample("Linda_Sanchez_0001")
    faces = maskgen.detect_faces(image)
    images, captions = [], []
    for wear in maskgen.WEAR_MODES:
        for top in (0.0, 0.5, 1.0):
            placement = maskgen.Placement(wear=wear, top=(top, top))
            images.append(maskgen.render(image, faces, style="surgical", seed=3, placement=placement).image)
            captions.append(f"{wear} top={top}")
    return contact_sheet(images, captions, columns=3, size=170)


def patterns_sheet() -> np.ndarray:
    image = maskgen.load_sample("Heather_Mills_0004_color112")
    image = cv2.resize(image, (224, 224), interpolation=cv2.INTER_CUBIC)
    faces = maskgen.detect_faces(image)
    base = sample_params("cloth", np.random.default_rng(4))
    colours = ((0.85, 0.25, 0.3), (0.15, 0.3, 0.6), (0.95, 0.9, 0.75), (0.2, 0.5, 0.3))
    images, captions = [], []
    textures = maskgen.appearance.list_texture_files()
    for index, pattern in enumerate((*PATTERNS, "image", "image")):
        texture = textures[index % len(textures)] if pattern == "image" else None
        material = Material(pattern=pattern, colours=colours, pattern_scale=6.0, seed=index, text="MASKGEN",
                            texture_file=texture, centre_seam=True, edge_band=0.03)
        params = MaskParams(kind="cloth", shape=base.shape, material=material, seed=index)
        images.append(maskgen.apply_masks(image, faces, [params]).image)
        captions.append(pattern if texture is None else Path(texture).stem)
    return contact_sheet(images, captions, columns=7, size=150)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in (("kinds", kinds_sheet), ("poses", poses_sheet), ("wear", wear_sheet),
                       ("patterns", patterns_sheet)):
        maskgen.write_image(OUT / f"{name}.jpg", make(), quality=88)  # JPEG: the repository stays small
        print("wrote", OUT / f"{name}.jpg")


if __name__ == "__main__":
    main()
