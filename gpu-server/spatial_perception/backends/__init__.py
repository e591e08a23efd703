"""Backend registry: name -> module path and class name, imported only when selected with --backends."""

from __future__ import annotations

from importlib import import_module

from spatial_perception.backends.base import Backend

REGISTRY: dict[str, tuple[str, str]] = {
    "rgbd": ("spatial_perception.backends.rgbd", "RGBDBackend"),
    "classical": ("spatial_perception.backends.classical", "ClassicalBackend"),
    "oracle": ("spatial_perception.backends.oracle", "OracleBackend"),
    "da3": ("spatial_perception.backends.da3", "DA3Backend"),
    "sam3": ("spatial_perception.backends.sam3", "SAM3Backend"),
    "mono": ("spatial_perception.backends.mono", "MonoBackend"),
}


def load_backend(name: str, **options: object) -> Backend:
    """Instantiate the backend called ``name`` (a key of :data:`REGISTRY`).

    Raises:
        KeyError: with the list of known backends, for an unknown name.
    """
    if name not in REGISTRY:
        raise KeyError(f"unknown backend {name!r}; known backends: {', '.join(sorted(REGISTRY))}")
    module, cls = REGISTRY[name]
    return getattr(import_module(module), cls)(**options)
