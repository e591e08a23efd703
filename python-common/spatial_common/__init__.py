"""spatial_common: code shared by the kernel runtime (``spatial_runtime``) and the perception server
(``spatial_perception``), so that each piece exists once in Python.

* :mod:`spatial_common.contract`: the cross-language contracts (MIME types, artifact records and manifests,
  reconstruction and mask array sets, perception API bodies, run records), generated from the zod schemas in
  ``shared/contracts/`` by ``npm run contracts``, and their validators;
* :mod:`spatial_common.geometry`: pinhole back-projection (depth + K [+ camera-to-world] -> point map);
* :mod:`spatial_common.poses`: TUM pose files (``[timestamp] tx ty tz qx qy qz qw`` per line);
* :mod:`spatial_common.atomic`: atomic JSON writes (temp file, fsync, rename, directory fsync);
* :mod:`spatial_common.parent_watch`: stop a server when the host process that started it is gone.

This package imports nothing from ``spatial_runtime`` or ``spatial_perception`` (a leaf of both).
"""

__version__ = "0.1.0"
