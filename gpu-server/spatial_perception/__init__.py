"""spatial_perception: the perception tool server of SpatialClaw Workbench.

The FastAPI server, its job queue, result cache and backends (rgbd, classical, oracle, da3, sam3)
are built on top of this package; see docs/architecture.md.
"""

__version__ = "0.1.0"
