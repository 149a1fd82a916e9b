"""maskgen: realistic, varied synthetic face masks for face photos.

    import maskgen
    faces = maskgen.detect_faces(image)
    out = maskgen.render(image, faces, style="varied", seed=7)
    out.image, out.occlusion, out.params
"""

from .appearance import PATTERNS, Material
from .geometry import WEAR_MODES, MaskShape
from .images import ImageError, read_image, write_image
from .kinds import BASELINE, KINDS, STYLES, MaskParams, Placement, sample_params
from .landmarks import Face, FaceMeshDetector, detect_faces
from .render import RenderResult, apply_masks, draw_params, render
from .samples import load_sample, sample_names, sample_paths
from .transforms import FaceMask  # imported here so A.from_dict finds it after a plain `import maskgen`

__version__ = "0.1.0"

__all__ = [
    "BASELINE", "FaceMask", "KINDS", "PATTERNS", "STYLES", "WEAR_MODES", "Face", "FaceMeshDetector", "ImageError",
    "MaskParams", "MaskShape", "Material", "Placement", "RenderResult", "apply_masks", "detect_faces",
    "draw_params", "load_sample", "read_image", "render", "sample_names", "sample_params", "sample_paths",
    "write_image", "__version__",
]


