"""Make the documentation gallery (docs/gallery/*.jpg) from the bundled sample faces. `make docs` runs it.

Every picture in the docs comes from here, never by hand:
- kinds.jpg: every kind (and the mlfw-white baseline) on every sample face (grey and colour, frontal and turned);
- poses.jpg: one face turned in 3D from -50 to +50 degrees of yaw, pitch and roll, for each kind;
- wear.jpg: the placement modes (correct, nose out, on the chin) and top-edge heights;
- patterns.jpg: every texture family on the same face;
- real-vs-varied.jpg: 24 real masked photos beside 24 `varied` renders on real unmasked photos, both from
  ../shared/data/real-masks (chandrikadeb7/Face-Mask-Detection, MIT); skipped when that folder is absent.
"""

from __future__ import annotations

import dataclasses
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
            params = maskgen.draw_params(1, kind, seed=index)[0]  # the draw `render(..., seed=index)` makes
            # straps drawn solid on every mask here (most drawn ones are hidden), to show where they run
            params = dataclasses.replace(params, material=dataclasses.replace(params.material, strap_opacity=1.0))
            images.append(maskgen.apply_masks(canvas, [turned], [params]).image)
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


REAL_MASKS = Path(os.environ.get("MASKGEN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / \
    "real-masks"


def face_crop(image: np.ndarray, face: maskgen.Face) -> np.ndarray:
    (x0, y0), (x1, y1) = face.landmarks[:, :2].min(axis=0), face.landmarks[:, :2].max(axis=0)
    pad = 0.2 * (x1 - x0)
    return image[max(0, int(y0 - pad)):int(y1 + pad), max(0, int(x0 - pad)):int(x1 + pad)]


def real_sheet() -> np.ndarray | None:
    """Real masked faces (left half of each row) beside varied masks on real unmasked faces (right half)."""
    if not REAL_MASKS.is_dir():
        print(f"skipped real-vs-varied.jpg: {REAL_MASKS} not found (set MASKGEN_DATA)")
        return None
    picked = {}
    for side in ("with_mask", "without_mask"):
        files = sorted((REAL_MASKS / side).glob("*.jpg"))
        order = np.random.default_rng(1).permutation(len(files))
        crops = []
        for index in order:
            image = maskgen.images.to_uint8_rgb(maskgen.read_image(files[index]))
            faces = maskgen.detect_faces(image, max_faces=1)
            if faces and faces[0].width >= 60:
                if side == "without_mask":
                    image = maskgen.render(image, faces, style="varied", seed=int(index)).image
                crops.append(face_crop(image, faces[0]))
            if len(crops) == 24:
                break
        picked[side] = crops
    images, captions = [], []
    for row in range(4):
        for side, caption in (("with_mask", "real"), ("without_mask", "maskgen varied")):
            images += picked[side][6 * row: 6 * row + 6]
            captions += [caption] * 6
    return contact_sheet(images, captions, columns=12, size=120)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in (("kinds", kinds_sheet), ("poses", poses_sheet), ("wear", wear_sheet),
                       ("patterns", patterns_sheet), ("real-vs-varied", real_sheet)):
        sheet = make()
        if sheet is not None:
            maskgen.write_image(OUT / f"{name}.jpg", sheet, quality=88)  # JPEG: the repository stays small
            print("wrote", OUT / f"{name}.jpg")


if __name__ == "__main__":
    main()
