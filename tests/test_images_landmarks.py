"""Reading photos and finding faces: every input layout, and every way a file can be bad."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import maskgen
from maskgen.images import ImageError, describe_layout, read_image, write_image
from maskgen.landmarks import Face


def test_read_keeps_layout_and_decodes_rgb(tmp_path, samples):
    rgb = samples["Heather_Mills_0004_color112"]
    write_image(tmp_path / "a.png", rgb)
    assert np.array_equal(read_image(tmp_path / "a.png"), rgb)
    grey = samples["Linda_Sanchez_0001"]
    write_image(tmp_path / "g.png", grey)
    assert read_image(tmp_path / "g.png").ndim == 2
    deep = (rgb.astype(np.uint16) * 257)
    write_image(tmp_path / "d.png", deep)
    assert read_image(tmp_path / "d.png").dtype == np.uint16


def test_odd_paths(tmp_path, samples):
    path = tmp_path / "dossier spécial" / "visage #1 ü.jpg"
    write_image(path, samples["Heather_Mills_0004_color112"])
    assert read_image(path).shape == (112, 112, 3)


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"this is not a picture", "not a readable image"),
])
def test_bad_files_raise_image_error(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        read_image(path)


def test_truncated_jpeg_and_png_are_detected(tmp_path, samples):
    for suffix in (".jpg", ".png"):
        whole = tmp_path / f"whole{suffix}"
        write_image(whole, samples["Heather_Mills_0004_color112"])
        cut = tmp_path / f"cut{suffix}"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        with pytest.raises(ImageError, match="truncated|not a readable"):
            read_image(cut)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="cannot read"):
        read_image(tmp_path / "nope.jpg")


def test_atomic_write_leaves_no_temporary_files(tmp_path, samples):
    write_image(tmp_path / "x.jpg", samples["Heather_Mills_0004_color112"])
    assert [p.name for p in tmp_path.iterdir()] == ["x.jpg"]


def test_layout_detection():
    assert describe_layout(np.zeros((4, 4), np.uint8)).greyscale
    grey3 = np.repeat(np.arange(16, dtype=np.uint8).reshape(4, 4, 1), 3, axis=2)
    assert describe_layout(grey3).greyscale
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[..., 0] = 200
    assert not describe_layout(colour).greyscale
    with pytest.raises(ImageError):
        describe_layout(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ImageError):
        describe_layout(np.zeros((4, 4), np.int32))


def test_every_sample_has_one_face(sample_faces):
    for name, faces in sample_faces.items():
        assert len(faces) == 1, name
        assert faces[0].landmarks.shape == (478, 3)


@pytest.mark.parametrize("convert", [
    lambda im: im,
    lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY),
    lambda im: np.dstack([im, np.full(im.shape[:2], 255, np.uint8)]),
    lambda im: im.astype(np.uint16) * 257,
    lambda im: im.astype(np.float32) / 255,
])
def test_detection_accepts_every_layout(samples, convert):
    image = convert(samples["Heather_Mills_0004_color112"])
    faces = maskgen.detect_faces(image)
    assert len(faces) == 1 and faces[0].image_size == (112, 112)


def test_detection_on_tiny_and_huge_photos(samples, sample_faces):
    rgb = samples["Heather_Mills_0004_color112"]
    reference = sample_faces["Heather_Mills_0004_color112"][0]
    for size in (40, 3000):
        resized = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_CUBIC)
        faces = maskgen.detect_faces(resized)
        assert len(faces) == 1
        expected = reference.scaled_to((size, size)).landmarks[:, :2]
        error = np.median(np.linalg.norm(faces[0].landmarks[:, :2] - expected, axis=1))
        assert error < 0.05 * size


def test_tight_crop_is_found_by_padding(samples):
    grey = samples["Linda_Sanchez_0001"]
    faces = maskgen.detect_faces(grey)
    x0, y0 = faces[0].landmarks[:, :2].min(axis=0).astype(int)
    x1, y1 = faces[0].landmarks[:, :2].max(axis=0).astype(int)
    crop = grey[max(y0, 0):y1, max(x0, 0):x1]
    found = maskgen.detect_faces(crop)
    assert len(found) == 1


def test_no_face_in_noise():
    noise = np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    assert maskgen.detect_faces(noise) == []


def test_face_validation_and_transforms(sample_faces):
    face = sample_faces["Linda_Sanchez_0001"][0]
    with pytest.raises(ValueError):
        Face(np.zeros((10, 3)), (10, 10))
    with pytest.raises(ValueError):
        Face(np.full((478, 3), np.nan), (10, 10))
    half = face.scaled_to((125, 125))
    assert np.allclose(half.landmarks[:, :2], face.landmarks[:, :2] / 2)
    flip = face.transformed(np.array([[-1, 0, 249], [0, 1, 0]], np.float32), (250, 250))
    assert np.allclose(flip.landmarks[:, 0], 249 - face.landmarks[:, 0])


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".bmp"])
def test_16_bit_and_float_images_keep_their_gradient_in_8_bit_formats(tmp_path, suffix):
    """OpenCV casts 16-bit or float to 8 bits without scaling (a white image); they are scaled instead."""
    ramp = np.tile(np.linspace(0, 1, 256, dtype=np.float64), (32, 1))
    expected = np.round(ramp * 255)
    for name, image in (("deep", np.round(ramp * 65535).astype(np.uint16)), ("float", ramp.astype(np.float32)),
                        ("double", ramp)):
        path = tmp_path / f"{name}{suffix}"
        write_image(path, np.dstack([image] * 3))
        back = read_image(path)
        assert back.dtype == np.uint8
        assert np.abs(back[..., 0].astype(float) - expected).max() <= 3, name  # JPEG noise, not a white image
        assert abs(back.mean() - 127.5) < 2, name


def test_16_bit_stays_16_bit_where_the_format_holds_it(tmp_path):
    deep = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    for suffix in (".png", ".tif"):
        write_image(tmp_path / f"d{suffix}", deep)
        assert np.array_equal(read_image(tmp_path / f"d{suffix}"), deep)
    with pytest.raises(ImageError, match="dtype"):
        write_image(tmp_path / "x.png", np.zeros((4, 4), np.int32))


def test_gif_first_frame_is_read_with_pillow(tmp_path, samples):
    from PIL import Image

    rgb = samples["Heather_Mills_0004_color112"]
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(tmp_path / "face.gif", save_all=True, append_images=frames[1:], duration=100)
    image = read_image(tmp_path / "face.gif")
    assert image.shape == (112, 112, 3) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - rgb).mean() < 12  # the first frame (256-colour palette), not the second
    Image.fromarray(samples["Linda_Sanchez_0001"]).save(tmp_path / "grey.gif")
    assert read_image(tmp_path / "grey.gif").ndim == 2  # a grey palette reads as one channel
    whole = (tmp_path / "face.gif").read_bytes()
    (tmp_path / "cut.gif").write_bytes(whole[: len(whole) // 3])
    with pytest.raises(ImageError, match="truncated|not a readable"):
        read_image(tmp_path / "cut.gif")
    assert maskgen.images.is_image_path("x.GIF") and maskgen.images.writable_suffix(".gif") == ".png"


def _detect_in_child(image):
    try:
        return len(maskgen.detect_faces(image))
    except RuntimeError as exc:
        return str(exc)


def test_detection_in_a_forked_child_of_a_process_that_detected_says_what_to_do(samples):
    """A DataLoader worker forked after the parent ran MediaPipe: the parent's graph has no threads there (it
    waited forever) and a new graph aborts, so detection refuses with a way out instead."""
    import multiprocessing

    image = samples["Tommy_Robredo_0001"]
    assert len(maskgen.detect_faces(image)) == 1  # the parent's shared graph exists and has run
    with multiprocessing.get_context("fork").Pool(1) as pool:
        answer = pool.apply_async(_detect_in_child, (image,)).get(timeout=120)
    assert "forked" in answer and "landmark cache" in answer and "spawn" in answer
    assert len(maskgen.detect_faces(image)) == 1  # the parent still detects
