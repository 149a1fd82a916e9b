"""maskgen: realistic, varied synthetic face masks for face photos.

    import maskgen
    faces = maskgen.detect_faces(image)
    out = maskgen.render(image, faces, style="varied", seed=7)
    out.image, out.occlusion, out.params
"""

import sys

from .appearance import PATTERNS, Material
from .geometry import WEAR_MODES, MaskShape
from .images import ImageError, read_image, write_image
from .kinds import BASELINE, KINDS, STYLES, MaskParams, Placement, sample_params
from .landmarks import Face, FaceMeshDetector, detect_faces
from .render import RenderResult, apply_masks, draw_params, render
from .samples import load_sample, sample_names, sample_paths

# FaceMask needs Albumentations, which imports torch when it is installed: over a second per process, paid
# by every worker of `maskgen render` that never touches the transform. So it loads on first use, or at once
# when Albumentations is already loaded (then `A.from_dict` finds FaceMask after `import maskgen`, as
# Albumentations users write it: `import albumentations as A, maskgen`).
if "albumentations" in sys.modules:
    from .transforms import FaceMask


def __getattr__(name: str):
    if name == "FaceMask":
        from .transforms import FaceMask

        return FaceMask
    raise AttributeError(f"module 'maskgen' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "BASELINE", "FaceMask", "KINDS", "PATTERNS", "STYLES", "WEAR_MODES", "Face", "FaceMeshDetector", "ImageError",
    "MaskParams", "MaskShape", "Material", "Placement", "RenderResult", "apply_masks", "detect_faces",
    "draw_params", "load_sample", "read_image", "render", "sample_names", "sample_params", "sample_paths",
    "write_image", "__version__",
]


