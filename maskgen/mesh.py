"""Named vertices of the MediaPipe Face Mesh topology (478 points with the refined irises).

Every other module names landmarks through these constants, so the mesh topology is written down once.
"Right"/"left" are the subject's: on a frontal photo the subject's right side is on the image's left.
"""

from __future__ import annotations

import numpy as np

NUM_LANDMARKS = 478
NUM_MESH_VERTICES = 468  # without the ten iris points

# Face outline, clockwise from the top of the forehead (image coordinates, frontal face).
FACE_OVAL = np.array(
    [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
     152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109],
)

FOREHEAD_TOP = 10
CHIN_BOTTOM = 152
CHEEK_RIGHT = 234  # face outline at eye level, subject's right (image left on a frontal photo)
CHEEK_LEFT = 454
JAW_RIGHT = 172  # jaw angle
JAW_LEFT = 397

NOSE_BRIDGE_TOP = 168  # between the eyes
NOSE_BRIDGE = 6
NOSE_TIP = 1
NOSE_BOTTOM = 2
NOSE_WING_RIGHT = 129  # outer edges of the nostrils' wings (alae), subject's right and left
NOSE_WING_LEFT = 358
UPPER_LIP_TOP = 0
LOWER_LIP_BOTTOM = 17
MOUTH_CORNER_RIGHT = 61
MOUTH_CORNER_LEFT = 291
MOUTH_UPPER_INNER = 13
MOUTH_LOWER_INNER = 14

EYE_RIGHT_OUTER = 33
EYE_RIGHT_INNER = 133
EYE_RIGHT_UPPER = 159
EYE_RIGHT_LOWER = 145
EYE_LEFT_OUTER = 263
EYE_LEFT_INNER = 362
EYE_LEFT_UPPER = 386
EYE_LEFT_LOWER = 374

EYE_RIGHT = (EYE_RIGHT_OUTER, EYE_RIGHT_INNER, EYE_RIGHT_UPPER, EYE_RIGHT_LOWER)
EYE_LEFT = (EYE_LEFT_OUTER, EYE_LEFT_INNER, EYE_LEFT_UPPER, EYE_LEFT_LOWER)

# Points any correctly worn mask hides, and points it must leave free (used by tests and metadata).
MOUTH_POINTS = (MOUTH_CORNER_RIGHT, MOUTH_CORNER_LEFT, MOUTH_UPPER_INNER, MOUTH_LOWER_INNER)
EYE_CENTRE_POINTS = (EYE_RIGHT_OUTER, EYE_LEFT_OUTER, EYE_RIGHT_UPPER, EYE_LEFT_UPPER)
