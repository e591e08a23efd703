"""The ``oracle`` backend: serves the ground truth a dataset supplies, for perception-vs-reasoning ablations.

It answers the same routes as the perception backends (reconstruct, segment image/video, with text, box and point
prompts), but instead of estimating anything it reads annotations: ground-truth depth, camera poses, intrinsics and
instance masks with label names. Swapping a real backend for the oracle isolates the agent's reasoning errors from
its perception errors.

Modules: :mod:`.dataset` (the annotation format: parsing, path safety, reading depth and instance maps) and
:mod:`.backend` (the routes: ground truth for reconstruct, prompt resolution for segmentation).

Annotation root
    The backend is built with ``root`` (the server's ``--oracle-root DIR``), or reads the environment variable
    ``SPATIAL_PERCEPTION_ORACLE_ROOT`` when ``root`` is None. Without a root, :meth:`OracleBackend.available`
    returns False with a reason naming ``--oracle-root``. Every request names a dataset folder *relative* to the
    root in ``params["dataset"]`` (absolute paths and ``..`` are rejected, and so is any path that resolves outside
    the root, e.g. through a symlink). When ``dataset`` is omitted, the root itself is used if it holds an
    ``oracle.json``, else the only dataset folder directly under it, if there is exactly one.

Annotation format ``spatialclaw-oracle/1``
    A dataset is a folder with ``oracle.json``::

        {
          "format": "spatialclaw-oracle/1",
          "name": "optional display name",
          "source": "optional provenance text",
          "intrinsics": {"fx": 518.0, "fy": 519.0, "cx": 325.5, "cy": 253.5},
          "depth_scale": 1000,
          "frames": {
            "0": {"depth": "depth/0.png", "instances": "instances/0.png"},
            "7": {"depth": "depth/7.png", "instances": null}
          },
          "poses": "pose.txt",
          "labels": {"1": "dining table", "2": "armchair"}
        }

    * ``intrinsics``: pinhole parameters in pixels (docs/conventions.md), shared by all frames; no distortion.
    * ``frames``: keyed by the **absolute** frame index (decimal string) of the source video/sequence. ``depth``
      and ``instances`` are paths relative to the dataset folder (no ``..``, not absolute), or null.
    * depth file: a single-channel 16-bit (or 8-bit) PNG/PGM whose value divided by ``depth_scale`` is the depth
      in metres along the camera z axis (0 = invalid); or a ``.npy`` float array already in metres (``depth_scale``
      is not applied; NaN or <= 0 = invalid).
    * instance file: a single-channel 8- or 16-bit PNG (or an integer ``.npy``) of the frame's size, each pixel
      holding an instance id, 0 = no instance. Ids are consistent across frames (they are the track ids).
    * ``poses``: a text file with one line per entry of ``frames``, in ascending frame-index order:
      ``tx ty tz qx qy qz qw`` (TUM order, scalar-last quaternion) or with a leading timestamp
      (``t tx ty tz qx qy qz qw``), giving the **camera-to-world** pose (OpenCV camera axes, metres); blank lines and
      lines starting with ``#`` are skipped. null when the dataset has no poses (then reconstruct needs the request's
      ``poses``, or a single frame, which gets the identity).
    * ``labels``: instance id (decimal string) -> object name. An id without a name is called ``"instance <id>"``.

Reconstruct (``params``: ``dataset``, ``align_gravity`` (bool, default true), ``conf_threshold`` (number, optional),
``max_frames``/``timeout_s`` (server keys, accepted)):
    For each requested absolute frame index the annotated depth is loaded (a frame without a depth annotation is a
    ``bad_request`` listing the annotated indices); the request's frames only provide ``colors`` and must have the
    annotation's size. Depth, confidence (1 where the depth is valid, else 0), intrinsics (the annotation's, per
    frame) and extrinsics (the annotated poses) are returned; points are the depth pixels lifted with the
    intrinsics and moved by the pose (NaN where invalid, and where confidence < ``conf_threshold``). The request's
    ``depth``, ``intrinsics`` and ``poses`` are ignored (noted in ``info.notes``), except ``poses`` when the dataset
    has none. With ``align_gravity`` the result goes through
    :func:`spatial_perception.backends.alignment.align_to_gravity`; ``info.alignment`` records it. Relative poses
    ``inv(E0) @ Ei`` are then unchanged (the alignment is one rigid transform of the world).

Segmentation (``params``: ``dataset``, and for ``segment_image`` ``frame_index`` = the absolute index of the image,
required unless exactly one frame has instances):
    * text prompt: case-insensitive match of the prompt against the label names: the same text, or a word match
      (every word of the prompt is a word of the label, or every word of the label is a word of the prompt; words
      are lower-case alphanumeric runs, "a"/"an"/"the" are dropped, a plural "s" is ignored), so "table" and
      "the tables" match "dining table". Every matching instance is one object (K objects, ascending id); no match is
      a ``bad_request`` listing the labels. ``threshold`` is ignored.
    * box prompt: the instance whose bounding box in that frame has the highest IoU with the box (ties: lower id);
      none overlapping is a ``bad_request`` listing the instances' boxes.
    * points prompt: the instances under the foreground points, minus those under background points.
    * ``segment_video``: the prompt is resolved on the frame ``prompt_frame_index`` (text prompts on the labels), and
      every requested frame must have an instance annotation; the track ids are the instance ids
      (``info.track_ids``).
    * masks are ``instance_map == id`` (bool); scores 1.0 where the mask is non-empty, 0.0 where the object is not
      visible in that frame; labels are the GT names.
"""

from spatial_perception.backends.oracle.backend import OracleBackend, match_labels
from spatial_perception.backends.oracle.dataset import ENV_ROOT, FORMAT, OracleDataset, load_dataset

__all__ = ["ENV_ROOT", "FORMAT", "OracleBackend", "OracleDataset", "load_dataset", "match_labels"]
