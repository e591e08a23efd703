"""``tools.Geometry``: distances, angles, boxes and planes of 3-D points, and projection into images.

Units are metres and degrees (or radians where asked). Points are ``(N, 3)`` arrays (a single point is a
``(3,)`` array); an ``(H, W, 3)`` point map is accepted wherever a set of points is, and rows with a NaN or
infinite coordinate (invalid pixels) are ignored there. Poses are (4, 4) camera-to-world matrices and
camera frames use OpenCV axes (x right, y down, z forward), as in docs/conventions.md.

Libraries: NumPy linear algebra (SVD for principal axes and least-squares planes), SciPy
(:func:`scipy.spatial.distance.cdist`, :class:`scipy.spatial.cKDTree`), OpenCV (:func:`cv2.minAreaRect`
for upright boxes) and the pinhole model of :mod:`spatial_runtime.geometry`. The plane fit uses RANSAC
(Fischler & Bolles, CACM 1981) followed by a least-squares refit on the inliers.

The functions live in :mod:`.measure` (distances, angles, centroids, closest points), :mod:`.shapes` (boxes,
planes) and :mod:`.cameras` (poses, projection, points from masks and depth).
"""

from spatial_runtime.tools.geometry.cameras import (
    Projection,
    camera_center,
    camera_to_world,
    invert_pose,
    points_from_depth,
    points_from_mask,
    project_to_image,
    viewing_direction,
    world_to_camera,
)

# Left out of __all__: only the paper profile's tool reference lists it (spatial_runtime.apidoc).
from spatial_runtime.tools.geometry.cameras import normalized_to_pixel as normalized_to_pixel
from spatial_runtime.tools.geometry.measure import (
    ClosestPair,
    angle_at,
    angle_between,
    centroid,
    closest_points,
    distance,
    pairwise_distances,
)
from spatial_runtime.tools.geometry.shapes import (
    AABB,
    OrientedBox,
    Plane,
    aabb,
    fit_plane,
    oriented_bbox,
    point_to_plane_distance,
)

__all__ = [
    "AABB",
    "ClosestPair",
    "OrientedBox",
    "Plane",
    "Projection",
    "aabb",
    "angle_at",
    "angle_between",
    "camera_center",
    "camera_to_world",
    "centroid",
    "closest_points",
    "distance",
    "fit_plane",
    "invert_pose",
    "oriented_bbox",
    "pairwise_distances",
    "point_to_plane_distance",
    "points_from_depth",
    "points_from_mask",
    "project_to_image",
    "viewing_direction",
    "world_to_camera",
]
