"""Faces in any pose, made by rotating real landmarks in 3D (for property tests of geometry)."""

from __future__ import annotations

import numpy as np

from maskgen import Face


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation matrix for angles in degrees: yaw about the vertical axis, pitch about the horizontal one,
    roll in the image plane."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def posed_face(face: Face, yaw: float, pitch: float, roll: float, size: int, scale: float = 0.6) -> Face:
    """The face turned by the given angles and centred in a size x size image, `scale` of its width."""
    points = face.landmarks.astype(np.float64)
    centre = points[:, :3].mean(axis=0)
    turned = (points - centre) @ rotation(yaw, pitch, roll).T
    width = np.ptp(points[:, 0])
    turned *= scale * size / width
    turned[:, 0] += size / 2
    turned[:, 1] += size / 2
    return Face(turned.astype(np.float32), (size, size))


def frontalised(face: Face) -> Face:
    """The same face looking straight at the camera, as in a frontal photo: the plane of its outline (forehead,
    temples, jaw, chin) faces the camera and the line between its cheeks is level."""
    from maskgen import mesh

    points = face.landmarks.astype(np.float64)
    oval = points[list(mesh.FACE_OVAL)]
    normal = np.linalg.svd(oval - oval.mean(axis=0))[2][2]
    normal = normal if normal[2] > 0 else -normal  # z grows away from the camera, so do the face's insides
    across = points[mesh.CHEEK_LEFT] - points[mesh.CHEEK_RIGHT]
    across -= normal * (across @ normal)
    across /= np.linalg.norm(across)
    axes = np.stack([across, np.cross(normal, across), normal])
    centre = points.mean(axis=0)
    turned = (points - centre) @ axes.T + centre
    return Face(turned.astype(np.float32), face.image_size)
