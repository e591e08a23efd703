"""Classical segmentation backend: GrabCut for single images, DIS optical flow + GrabCut for videos.

No learned weights and no GPU: it runs wherever OpenCV runs, so the workbench can segment objects (and the
tests can exercise the segmentation routes on real data) without SAM3. It supports box and point prompts;
text prompts need an open-vocabulary model and raise :class:`~spatial_perception.errors.Unsupported`.

Methods (OpenCV implementations):
    * GrabCut, Rother, Kolmogorov & Blake, "GrabCut: interactive foreground extraction using iterated graph
      cuts", SIGGRAPH 2004 (``cv2.grabCut``): colour GMMs for foreground/background plus a graph cut.
    * DIS optical flow, Kroeger, Timofte, Dai & Van Gool, "Fast optical flow using dense inverse search",
      ECCV 2016 (``cv2.DISOpticalFlow``, preset MEDIUM).

Modules: :mod:`.grabcut` (one image from a prompt, and the refinement of a flow-warped mask) and
:mod:`.backend` (the backend: params, video propagation).

Params (all optional): ``iterations`` (int 1..20, default 5, GrabCut iterations), ``max_pixels`` (int >= 10000,
default 60000), ``fill_holes`` (float 0..1, default 0.1; 0 disables), ``min_area_ratio`` (float 0..1,
default 0.1, video only), ``timeout_s``/``max_frames`` (handled by the server, ignored here). Other keys raise
:class:`~spatial_perception.errors.BadRequest`.

Limitations (measured on the bundled real data, see test/python/test_classical_backend.py): GrabCut separates
objects by colour only. Objects that share their surroundings' colours (a cream armchair against cream walls, a
wooden table among wooden chairs) give partial or empty masks, or include the look-alike neighbours; a box that
is drawn slightly differently can flip the result. Check ``scores`` and prefer sam3 where available.
"""

from spatial_perception.backends.classical.backend import ClassicalBackend
from spatial_perception.backends.classical.grabcut import segment, segment_box, segment_points

__all__ = ["ClassicalBackend", "segment", "segment_box", "segment_points"]
