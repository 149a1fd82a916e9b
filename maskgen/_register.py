"""Register `maskgen.FaceMask` with Albumentations when Albumentations is imported after maskgen.

Albumentations finds a transform for `A.from_dict` by its class name in a registry that the class fills when
it is defined. `import maskgen` does not define FaceMask (that would import Albumentations, and torch with it,
in every worker that never uses it), so a pipeline saved with FaceMask would fail to load with a bare
`KeyError: 'maskgen.transforms.FaceMask'` in a script that imports maskgen first. This one-shot import hook
defines FaceMask right after Albumentations has finished loading, whatever the import order.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys
from types import ModuleType

log = logging.getLogger(__name__)


class _AfterAlbumentations(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None):
        if name != "albumentations":
            return None
        _remove_hook()
        spec = importlib.util.find_spec(name)  # the normal finders now that this one is gone
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            try:
                import maskgen.transforms  # noqa: F401  (defining the class registers it)
            except Exception as exc:  # never break the user's own `import albumentations`
                log.warning("could not register maskgen.FaceMask with Albumentations: %s", exc)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_HOOK = _AfterAlbumentations()


def _remove_hook() -> None:
    if _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def register_when_albumentations_loads() -> None:
    if "albumentations" in sys.modules:
        import maskgen.transforms  # noqa: F401
    elif _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)
