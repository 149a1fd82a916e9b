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
from .landmarks import Face, FaceMeshDetector, ForkedAfterDetection, detect_faces
from .render import RenderResult, apply_masks, draw_params, render
from .samples import load_sample, sample_names, sample_paths
from .seeding import derive_seed, reseed, sample_seed

# FaceMask needs Albumentations, which imports torch when it is installed: over a second per process, paid
# by every worker of `maskgen render` that never touches the transform. So it is not imported here; it is
# registered with Albumentations (for `A.from_dict`) as soon as both packages are loaded, in either order:
# at once when Albumentations came first, else by a one-shot hook that runs when Albumentations is imported.
if "albumentations" in sys.modules:
    from .transforms import FaceMask
else:
    from ._register import register_when_albumentations_loads

    register_when_albumentations_loads()


def __getattr__(name: str):
    if name == "FaceMask":
        from .transforms import FaceMask

        return FaceMask
    raise AttributeError(f"module 'maskgen' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "BASELINE", "FaceMask", "KINDS", "PATTERNS", "STYLES", "WEAR_MODES", "Face", "FaceMeshDetector",
    "ForkedAfterDetection", "ImageError",
    "MaskParams", "MaskShape", "Material", "Placement", "RenderResult", "apply_masks", "detect_faces",
    "derive_seed", "draw_params", "load_sample", "read_image", "render", "reseed", "sample_names", "sample_params", "sample_paths", "sample_seed",
    "write_image", "__version__",
]


