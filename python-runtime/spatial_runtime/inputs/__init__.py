"""Input frames for an agent kernel: videos, images and RGB-D sequences, bound as ``InputImages`` / ``Metadata``.

The host describes each input with an InputSpec (docs/kernel-protocol.md)::

    {"kind": "video",  "path": "/abs/video.mp4", "num_frames": 16, "max_fps": null, "all_frames": false}
    {"kind": "images", "path": "/abs/image.jpg or /abs/folder"}
    {"kind": "rgbd",   "path": "/abs/color_dir", "depth": "/abs/depth_dir", "camera": "/abs/camera.json",
                       "poses": "/abs/poses.txt" | null}
    {"kind": "rgbd_sample", "path": "/abs/sample_folder"}

and :func:`load_inputs` turns the specs into the names the model sees: ``InputImages`` (a lazy, list-like
collection of :class:`Frame` objects, which are PIL images that know their absolute frame index, timestamp,
metric depth and pose) and ``Metadata`` (a :class:`Metadata` record), or ``InputImages_1..N`` /
``Metadata_1..N`` for several inputs. ``InputImages.metadata`` is the input's ``Metadata``.

Modules:

* :mod:`.frames`: :class:`Frame`, :class:`InputImages`, :class:`Metadata` (what the model sees);
* :mod:`.source`: the frame source base class (lazy decoding, cache, resize) and the metadata helpers;
* :mod:`.sizing`: the resize rules (long edge, or the paper's crop to six aspect grids) and their intrinsics;
* :mod:`.video`: videos, demuxed and decoded with PyAV (FFmpeg), and :func:`sample_frame_indices`;
* :mod:`.frame_cache`: the persistent, cross-process cache of bound video frames (``SPATIALCLAW_FRAME_CACHE``);
* :mod:`.images`: image files and folders, read with Pillow (EXIF orientation applied);
* :mod:`.rgbd`: RGB-D folders (16-bit depth read with OpenCV, camera JSON, TUM poses) and sample folders
  (:func:`spatial_runtime.rgbd.load_rgbd_sample`);
* :mod:`.camera`: the camera JSON;
* :mod:`.common`: :class:`InputError` and helpers; :mod:`.load`: :func:`load_inputs`.

Conventions (docs/conventions.md): frame indices are absolute indices in the source video or sequence;
timestamps are seconds from the first frame; depth is (H, W) float32 metres along the camera z axis with
0 = invalid; intrinsics are pinhole pixels of the frames as bound (after any resize); poses are (4, 4)
camera-to-world matrices in OpenCV camera axes (x right, y down, z forward), metres.

Laziness: building the collections reads only container headers, image headers and small text files.
Pixels are decoded (and resized) when a frame is first accessed and then cached (decoded frames are kept for the
life of the collection, a frame is stored once, at its bound size; an ``all_frames`` video keeps the
:data:`~spatial_runtime.inputs.video.DENSE_CACHE_FRAMES` most recently used). For a video, :func:`load_inputs`
decodes the first frame once as a probe (to check that the codec can decode the data, and to read the display rotation
and the first timestamp) and discards it; the sampled frames are decoded on access. With the frame cache on
(:mod:`.frame_cache`), a video bound before with the same frames and size is bound from the cache without opening
the video, and its frames are read from PNGs instead of decoded.
"""

from spatial_runtime.inputs.common import IMAGE_SUFFIXES, InputError
from spatial_runtime.inputs.frames import Frame, InputImages, Metadata
from spatial_runtime.inputs.load import KINDS, load_inputs, load_named_inputs
from spatial_runtime.inputs.sizing import Sizing
from spatial_runtime.inputs.video import DEFAULT_NUM_FRAMES, every_frame_indices, sample_frame_indices

__all__ = [
    "DEFAULT_NUM_FRAMES",
    "IMAGE_SUFFIXES",
    "KINDS",
    "Frame",
    "InputError",
    "InputImages",
    "Metadata",
    "Sizing",
    "every_frame_indices",
    "load_inputs",
    "load_named_inputs",
    "sample_frame_indices",
]
