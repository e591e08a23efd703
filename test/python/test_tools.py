"""spatial_runtime.tools: Geometry, Mask, Time, Graph and Draw, on hand-computed cases and on the real
RGB-D fixture (test/fixtures/rgbd_room)."""

import importlib
import inspect
import math
import sys

import numpy as np
import pytest
import spatial_runtime.tools
from PIL import Image
from scipy.spatial.transform import Rotation
from spatial_runtime import backproject_depth, load_rgbd_sample
from spatial_runtime.tools import Draw, Geometry, Graph, Mask, Time

# A camera at the world origin looking along world +x, with world +z up: camera x (right) = world -y,
# camera y (down) = world -z, camera z (forward) = world +x. Columns of R are the camera axes in the world.
LOOK_X = np.eye(4)
LOOK_X[:3, :3] = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], dtype=float)


# ------------------------------------------------------------------------------------------------------
# Namespace
# ------------------------------------------------------------------------------------------------------


def test_namespaces_are_attributes_and_importable(monkeypatch):
    for name in ("Geometry", "Mask", "Time", "Graph", "Draw", "Reconstruct", "SAM3"):
        assert inspect.ismodule(getattr(spatial_runtime.tools, name))
    assert spatial_runtime.tools.Geometry.distance([0, 0, 0], [1, 2, 2]) == 3.0
    assert callable(spatial_runtime.tools.Reconstruct.Reconstruct)
    assert callable(spatial_runtime.tools.SAM3.segment_image_by_box)
    # The host aliases the package as `tools` in the kernel.
    monkeypatch.setitem(sys.modules, "tools", spatial_runtime.tools)
    tools = importlib.import_module("tools")
    assert tools.Time is Time and tools.Time.frame_to_time(30, 30) == 1.0


@pytest.mark.parametrize("ns", [Geometry, Mask, Time, Graph, Draw], ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_public_function_is_documented(ns):
    assert ns.__doc__ and ns.__all__
    for name in ns.__all__:
        obj = getattr(ns, name)
        assert obj.__doc__ and len(obj.__doc__.strip()) > 20, f"{ns.__name__}.{name} needs a docstring"


# ------------------------------------------------------------------------------------------------------
# Geometry
# ------------------------------------------------------------------------------------------------------


def test_distance_and_pairwise_distances():
    assert Geometry.distance([0, 0, 0], [1, 2, 2]) == 3.0
    assert isinstance(Geometry.distance([0, 0, 0], [1, 2, 2]), float)
    np.testing.assert_allclose(Geometry.distance(np.zeros((2, 3)), [[3, 4, 0], [0, 0, 5]]), [5.0, 5.0])
    assert math.isnan(Geometry.distance([np.nan, 0, 0], [0, 0, 0]))
    np.testing.assert_allclose(
        Geometry.pairwise_distances([[0, 0, 0], [1, 0, 0]], [[0, 3, 4]]), [[5.0], [math.sqrt(26)]]
    )
    np.testing.assert_allclose(Geometry.pairwise_distances([[0, 0, 0], [3, 4, 0]]), [[0, 5], [5, 0]])
    with pytest.raises(ValueError, match="same dimension"):
        Geometry.distance([0, 0, 0], [1, 1])
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        Geometry.pairwise_distances(np.zeros((2, 3)), np.zeros((2, 2)))


def test_angles():
    assert Geometry.angle_between([1, 0, 0], [0, 1, 0]) == pytest.approx(90.0)
    assert Geometry.angle_between([1, 0, 0], [-2, 0, 0]) == pytest.approx(180.0)
    assert Geometry.angle_between([1, 0], [1, 1]) == pytest.approx(45.0)
    assert Geometry.angle_between([0, 0, 1], [0, 1, 0], degrees=False) == pytest.approx(math.pi / 2)
    # atan2 keeps tiny angles that arccos(dot) rounds to 0.
    assert Geometry.angle_between([1, 0, 0], [1, 1e-8, 0]) == pytest.approx(math.degrees(1e-8), rel=1e-6)
    # 3-4-5 triangle: the angle at A between AB = (4, 0, 0) and AC = (4, 3, 0) is atan(3/4).
    assert Geometry.angle_at([4, 0, 0], [0, 0, 0], [4, 3, 0]) == pytest.approx(math.degrees(math.atan2(3, 4)))
    assert Geometry.angle_at([0, 0, 0], [4, 0, 0], [4, 3, 0]) == pytest.approx(90.0)
    with pytest.raises(ValueError, match="zero length"):
        Geometry.angle_between([0, 0, 0], [1, 0, 0])


def test_centroid_ignores_invalid_points():
    pts = [[0, 0, 0], [2, 0, 0], [np.nan, 1, 1]]
    np.testing.assert_allclose(Geometry.centroid(pts), [1, 0, 0])
    np.testing.assert_allclose(Geometry.centroid(pts, weights=[1, 3, 5]), [1.5, 0, 0])
    pm = np.full((2, 2, 3), np.nan)
    pm[0, 0], pm[1, 1] = [1, 1, 1], [3, 1, 1]
    np.testing.assert_allclose(Geometry.centroid(pm), [2, 1, 1])
    with pytest.raises(ValueError, match="0 finite points"):
        Geometry.centroid(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="weights must have shape"):
        Geometry.centroid(pts, weights=[1, 2])


def test_axis_aligned_box():
    box = Geometry.aabb([[0, 0, 0], [1, 2, 3], [-1, 1, 0.5], [np.nan, 9, 9]])
    np.testing.assert_allclose(box.min, [-1, 0, 0])
    np.testing.assert_allclose(box.max, [1, 2, 3])
    np.testing.assert_allclose(box.size, [2, 2, 3])
    np.testing.assert_allclose(box.center, [0, 1, 1.5])
    line = np.stack([np.arange(101.0), np.zeros(101), np.zeros(101)], axis=1)
    np.testing.assert_allclose(Geometry.aabb(line, percentile=10).size, [80, 0, 0])
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        Geometry.aabb(np.zeros((4, 2)))


def _box_corners(extents, R, t):
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
    return (signs * np.asarray(extents) / 2) @ R.T + t


def test_oriented_box_recovers_a_rotated_cuboid():
    R = Rotation.from_euler("xyz", [20, -10, 30], degrees=True).as_matrix()
    t = np.array([1.0, 2.0, 3.0])
    box = Geometry.oriented_bbox(_box_corners([4, 2, 1], R, t))
    np.testing.assert_allclose(box.extents, [4, 2, 1], atol=1e-9)
    np.testing.assert_allclose(box.center, t, atol=1e-9)
    np.testing.assert_allclose(np.abs(box.axes @ R), np.eye(3), atol=1e-9)  # rows are the cuboid's axes
    assert np.linalg.det(box.axes) == pytest.approx(1.0)
    assert box.volume == pytest.approx(8.0)
    assert box.corners.shape == (8, 3)
    np.testing.assert_allclose(np.sort(Geometry.pairwise_distances(box.corners, [t]).ravel()), [math.sqrt(21) / 2] * 8)


def test_upright_box_uses_the_up_axis():
    R = Rotation.from_euler("z", 30, degrees=True).as_matrix()
    rng = np.random.default_rng(0)
    inside = (rng.uniform(-0.5, 0.5, (200, 3)) * [4, 2, 1]) @ R.T
    pts = np.vstack([_box_corners([4, 2, 1], R, [0, 0, 0]), inside])
    box = Geometry.oriented_bbox(pts, up=[0, 0, 2])
    np.testing.assert_allclose(box.axes[2], [0, 0, 1])
    np.testing.assert_allclose(box.extents, [4, 2, 1], atol=1e-4)  # minAreaRect works in float32
    assert abs(box.axes[0] @ R[:, 0]) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="up must be"):
        Geometry.oriented_bbox(pts, up=[0, 0, 0])


def test_least_squares_plane():
    # The plane z = 0.5 x + 2, i.e. 0.5 x - z + 2 = 0; the normal points towards the origin.
    x, y = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    pts = np.stack([x.ravel(), y.ravel(), 0.5 * x.ravel() + 2], axis=1)
    plane = Geometry.fit_plane(pts)
    np.testing.assert_allclose(plane.normal, np.array([0.5, 0, -1]) / math.sqrt(1.25), atol=1e-12)
    assert plane.d == pytest.approx(2 / math.sqrt(1.25))
    assert plane.rmse == pytest.approx(0, abs=1e-12) and plane.inliers.all()
    with pytest.raises(ValueError, match="collinear"):
        Geometry.fit_plane([[0, 0, 0], [1, 1, 1], [2, 2, 2]], threshold=0.1)


def test_ransac_plane_rejects_outliers():
    rng = np.random.default_rng(1)
    floor = np.column_stack([rng.uniform(-2, 2, (200, 2)), np.ones(200)])  # the plane z = 1
    clutter = np.column_stack([rng.uniform(-2, 2, (50, 2)), rng.uniform(2, 3, 50)])
    plane = Geometry.fit_plane(np.vstack([floor, clutter]), threshold=0.05)
    np.testing.assert_allclose(plane.normal, [0, 0, -1], atol=1e-9)  # towards the origin, below the plane
    assert plane.d == pytest.approx(1.0)
    assert plane.inliers[:200].all() and not plane.inliers[200:].any()
    up = Geometry.fit_plane(np.vstack([floor, clutter]), threshold=0.05, toward=[0, 0, 5])
    np.testing.assert_allclose(up.normal, [0, 0, 1], atol=1e-9)
    assert up.d == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="threshold"):
        Geometry.fit_plane(floor, threshold=0)


def test_point_to_plane_distance_accepts_three_plane_forms():
    plane = ([0, 0, 1], -1.0)  # z = 1
    assert Geometry.point_to_plane_distance([0, 0, 3], plane) == pytest.approx(2.0)
    assert Geometry.point_to_plane_distance([0, 0, 0], plane) == pytest.approx(-1.0)
    assert Geometry.point_to_plane_distance([0, 0, 0], plane, signed=False) == pytest.approx(1.0)
    np.testing.assert_allclose(Geometry.point_to_plane_distance([[0, 0, 3], [5, 5, 1]], [0, 0, 2, -2]), [2.0, 0.0])
    fitted = Geometry.Plane(np.array([0.0, 0.0, 1.0]), -1.0, np.ones(1, bool), 0.0)
    assert Geometry.point_to_plane_distance([1, 1, 1.5], fitted) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="normal"):
        Geometry.point_to_plane_distance([0, 0, 0], ([0, 0, 0], 1.0))


def test_closest_points_between_two_sets():
    a = [[np.nan, np.nan, np.nan], [0, 0, 0], [10, 0, 0]]
    b = [[0, 3, 4], [10, 0, 1]]
    pair = Geometry.closest_points(a, b)
    assert pair.distance == pytest.approx(1.0)
    np.testing.assert_allclose(pair.point_a, [10, 0, 0])
    np.testing.assert_allclose(pair.point_b, [10, 0, 1])
    assert (pair.index_a, pair.index_b) == (2, 1)  # rows of the inputs, NaN rows included


def test_poses_centres_and_world_to_camera():
    T = LOOK_X.copy()
    T[:3, 3] = [1, 2, 3]
    np.testing.assert_allclose(Geometry.invert_pose(T) @ T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(Geometry.camera_center(T), [1, 2, 3])
    np.testing.assert_allclose(Geometry.viewing_direction(T), [1, 0, 0])
    # 5 m ahead, 1 m to the camera's right (world -y), 1 m up (world +z): camera (1, -1, 5).
    np.testing.assert_allclose(Geometry.world_to_camera([6, 1, 4], T), [1, -1, 5], atol=1e-12)
    np.testing.assert_allclose(Geometry.camera_to_world([1, -1, 5], T), [6, 1, 4], atol=1e-12)
    stack = np.stack([T, np.eye(4)])
    np.testing.assert_allclose(Geometry.camera_center(stack), [[1, 2, 3], [0, 0, 0]])
    np.testing.assert_allclose(Geometry.invert_pose(stack)[1], np.eye(4))
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        Geometry.world_to_camera([0, 0, 0], np.eye(3))


def test_project_to_image():
    K = np.array([[100.0, 0, 50], [0, 100, 40], [0, 0, 1]])
    pts = [[0.5, -0.4, 2.0], [0, 0, -1.0], [1.0, 0, 1.0], [0.4940, 0, 1.0], [0.4950, 0, 1.0]]
    pr = Geometry.project_to_image(pts, K, image_size=(100, 80))
    np.testing.assert_allclose(pr.uv[0], [75, 20])
    np.testing.assert_allclose(pr.depth, [2, -1, 1, 1, 1])
    assert np.isnan(pr.uv[1]).all()
    assert pr.visible.tolist() == [True, False, False, True, False]  # u = 99.4 is inside, 99.5 outside
    # The same point seen by the LOOK_X camera: world (2, -0.5, 0.4) is camera (0.5, -0.4, 2).
    pr = Geometry.project_to_image([2, -0.5, 0.4], K, LOOK_X)
    np.testing.assert_allclose(pr.uv, [75, 20])
    assert pr.visible.item()


def test_points_from_mask_and_depth():
    pm = np.arange(12, dtype=float).reshape(2, 2, 3)
    pm[0, 1] = np.nan
    mask = np.array([[True, True], [False, True]])
    np.testing.assert_allclose(Geometry.points_from_mask(pm, mask), [[0, 1, 2], [9, 10, 11]])
    conf = np.array([[0.9, 0.9], [0.9, 0.1]])
    np.testing.assert_allclose(Geometry.points_from_mask(pm, mask, conf, min_conf=0.5), [[0, 1, 2]])
    with pytest.raises(ValueError, match="needs the confidence"):
        Geometry.points_from_mask(pm, mask, min_conf=0.5)
    with pytest.raises(ValueError, match="mask must have shape"):
        Geometry.points_from_mask(pm, np.ones((3, 3), bool))
    depth = np.array([[1.0, 2.0], [0.0, 1.0]], dtype=np.float32)
    K = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_allclose(Geometry.points_from_depth(depth, K), [[0, 0, 1], [2, 0, 2], [1, 1, 1]])
    T = np.eye(4)
    T[:3, 3] = [0, 0, 10]
    np.testing.assert_allclose(Geometry.points_from_depth(depth, K, T, mask=[[0, 1], [0, 0]]), [[2, 0, 12]])
    np.testing.assert_allclose(Geometry.points_from_depth(depth, K, stride=2), [[0, 0, 1]])


# ------------------------------------------------------------------------------------------------------
# Mask
# ------------------------------------------------------------------------------------------------------


def _rect(h=8, w=10, y0=2, y1=5, x0=3, x1=7):
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def test_mask_area_bbox_centroid():
    m = _rect()
    assert Mask.area(m) == 12 and Mask.area(np.zeros((3, 3))) == 0
    assert Mask.bbox(m) == (3, 2, 7, 5)  # half-open: columns 3..6, rows 2..4
    x0, y0, x1, y1 = Mask.bbox(m)
    assert m[y0:y1, x0:x1].all() and m[y0:y1, x0:x1].sum() == Mask.area(m)
    assert Mask.centroid(m) == (4.5, 3.0)
    assert Mask.area(m.astype(np.uint8) * 255) == 12 and Mask.area(m[None]) == 12  # numeric and (1, H, W)
    with pytest.raises(ValueError, match="empty"):
        Mask.bbox(np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="empty"):
        Mask.centroid(np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        Mask.area(np.zeros((2, 2, 2)))


def test_mask_iou_union_intersection():
    a, b = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    a[0:2, 0:2] = True
    b[1:3, 1:3] = True
    assert Mask.iou(a, b) == pytest.approx(1 / 7)
    assert Mask.iou(a, a) == 1.0 and Mask.iou(np.zeros((4, 4)), np.zeros((4, 4))) == 0.0
    assert Mask.area(Mask.union(a, b)) == 7 and Mask.area(Mask.intersection(a, b)) == 1
    assert Mask.intersection(a, b)[1, 1]
    with pytest.raises(ValueError, match="same"):
        Mask.iou(a, np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="at least one"):
        Mask.union()


def test_mask_morphology():
    dot = np.zeros((7, 7), bool)
    dot[3, 3] = True
    assert Mask.area(Mask.dilate(dot, 1)) == 5  # 3x3 ellipse = cross
    assert Mask.area(Mask.dilate(dot, 2)) == 17  # 5x5 ellipse
    square = np.zeros((9, 9), bool)
    square[2:7, 2:7] = True
    eroded = Mask.erode(square, 1)
    assert Mask.area(eroded) == 9 and Mask.bbox(eroded) == (3, 3, 6, 6)
    np.testing.assert_array_equal(Mask.erode(square, 0), square)
    with pytest.raises(ValueError, match="non-negative"):
        Mask.dilate(dot, -1)


def test_mask_components_and_polygons():
    m = np.zeros((6, 8), bool)
    m[0:2, 0:3] = True  # 6 px
    m[4, 6:8] = True  # 2 px
    m[2, 3] = True  # touches the first blob only diagonally
    parts = Mask.components(m)
    assert [Mask.area(p) for p in parts] == [7, 2]
    assert [Mask.area(p) for p in Mask.components(m, connectivity=4)] == [6, 2, 1]
    assert [Mask.area(p) for p in Mask.components(m, connectivity=4, min_area=2)] == [6, 2]
    assert Mask.area(Mask.largest_component(m)) == 7
    assert not Mask.largest_component(np.zeros((3, 3), bool)).any()
    rect = _rect()
    poly = Mask.to_polygon(rect)
    assert {tuple(p) for p in poly} == {(3, 2), (3, 4), (6, 4), (6, 2)}
    np.testing.assert_array_equal(Mask.from_polygon(rect.shape, poly), rect)
    np.testing.assert_array_equal(Mask.from_box(rect.shape, Mask.bbox(rect)), rect)
    np.testing.assert_array_equal(Mask.from_box((8, 10), (-5, 2.4, 7, 99)), _rect(y0=2, y1=8, x0=0, x1=7))
    with pytest.raises(ValueError, match="empty"):
        Mask.to_polygon(np.zeros((3, 3), bool))


def test_masked_depth_stats():
    depth = np.array([[1.0, 2.0, 3.0], [4.0, 0.0, np.nan]])
    mask = np.ones((2, 3), bool)
    st = Mask.masked_depth_stats(depth, mask)
    assert st.count == 4
    assert (st.median, st.mean, st.min, st.max) == (2.5, 2.5, 1.0, 4.0)
    assert st.p10 == pytest.approx(1.3) and st.p90 == pytest.approx(3.7)
    assert st.std == pytest.approx(math.sqrt(1.25))
    empty = Mask.masked_depth_stats(depth, [[0, 0, 0], [0, 1, 1]])
    assert empty.count == 0 and math.isnan(empty.median)
    with pytest.raises(ValueError, match="same"):
        Mask.masked_depth_stats(depth, np.ones((3, 3), bool))


# ------------------------------------------------------------------------------------------------------
# Time
# ------------------------------------------------------------------------------------------------------


def test_frames_and_times():
    assert Time.frame_to_time(90, 30) == 3.0
    np.testing.assert_allclose(Time.frame_to_time([0, 15, 45], 30), [0, 0.5, 1.5])
    assert Time.time_to_frame(3.0, 30) == 90
    assert Time.time_to_frame(3.0333, 30) == 90  # 90.999 -> still frame 90
    assert Time.time_to_frame(0.29, 100) == 29  # 0.29 * 100 = 28.999999999999996 in floats
    assert Time.time_to_frame([0.0, 1.0], 25).tolist() == [0, 25]
    assert Time.duration(30, 90, 30) == 2.0 and Time.duration(90, 30, 30) == -2.0
    with pytest.raises(ValueError, match="fps"):
        Time.frame_to_time(3, 0)
    with pytest.raises(ValueError, match=">= 0"):
        Time.time_to_frame(-1, 30)


def test_nearest_and_between():
    idx = [90, 0, 30, 60]
    assert Time.nearest_frame(idx, 1.4, 30) == 30
    assert Time.nearest_frame(idx, 1.5, 30) == 30  # tie between 30 (1 s) and 60 (2 s): the earlier frame
    assert Time.nearest_frame(idx, 99.0, 30) == 90
    assert Time.frames_between([0, 30, 60, 90, 120], 1.0, 3.0, 30) == [30, 60, 90]
    with pytest.raises(ValueError, match="end"):
        Time.frames_between(idx, 2.0, 1.0, 30)
    with pytest.raises(ValueError, match="non-empty"):
        Time.nearest_frame([], 1.0, 30)


def test_timestamps():
    assert Time.format_timestamp(75.26) == "01:15.3"
    assert Time.format_timestamp(59.96) == "01:00.0"
    assert Time.format_timestamp(3725.5) == "1:02:05.5"
    assert Time.format_timestamp(59.4, decimals=0) == "00:59"
    assert Time.format_timestamp(0) == "00:00.0"
    assert Time.parse_timestamp("01:15.3") == pytest.approx(75.3)
    assert Time.parse_timestamp("1:02:05.5") == pytest.approx(3725.5)
    assert Time.parse_timestamp("42") == 42.0
    for s in (0.0, 12.3, 754.9, 7322.1):
        assert Time.parse_timestamp(Time.format_timestamp(s)) == pytest.approx(s)
    with pytest.raises(ValueError, match="< 60"):
        Time.parse_timestamp("1:75")
    with pytest.raises(ValueError, match="not a timestamp"):
        Time.parse_timestamp("soon")
    with pytest.raises(ValueError, match=">= 0"):
        Time.format_timestamp(-1)


def test_event_order_and_segments():
    events = {"door opens": [40, 41], "cup falls": 12, "lights on": [90, 5]}
    assert Time.order_events(events) == [("lights on", 5), ("cup falls", 12), ("door opens", 40)]
    assert Time.order_events([("b", [7]), ("a", 7)]) == [("b", 7), ("a", 7)]  # ties keep input order
    with pytest.raises(ValueError, match="frames of 'x'"):
        Time.order_events({"x": []})
    assert Time.segments([10, 3, 4, 5, 9]) == [(3, 5), (9, 10)]
    assert Time.segments([0, 30, 60, 150], max_gap=30) == [(0, 60), (150, 150)]
    assert Time.segments([7]) == [(7, 7)]


# ------------------------------------------------------------------------------------------------------
# Graph
# ------------------------------------------------------------------------------------------------------


def test_viewpoint_relations_follow_opencv_axes():
    # From LOOK_X (looking along world +x, z up): world -y is camera right, world +z is up.
    right, left = [5, -1, 0], [5, 1, 0]
    assert Graph.relations(left, right, LOOK_X) == ["left_of"]
    assert Graph.relations(right, left, LOOK_X) == ["right_of"]
    assert Graph.relations([5, 0, 1], [5, 0, 0], LOOK_X) == ["above"]
    assert Graph.relations([3, 0, 0], [5, 0, 0], LOOK_X) == ["in_front_of"]
    assert Graph.relations([8, 2, -1], [5, 0, 0], LOOK_X) == ["left_of", "below", "behind"]
    # Without a pose the points are camera-frame points: y down means smaller y is above.
    assert Graph.above([0, -1, 4], [0, 0, 4]) and Graph.below([0, 1, 4], [0, 0, 4])
    assert Graph.left_of([-1, 0, 4], [0, 0, 4]) and Graph.right_of([1, 0, 4], [0, 0, 4])
    assert Graph.in_front_of([0, 0, 2], [0, 0, 4]) and Graph.behind([0, 0, 6], [0, 0, 4])
    assert Graph.relations([0.05, 0, 4], [0, 0, 4], margin=0.1) == []
    # A camera looking straight down at a Y-up world: camera -y is not "up"; `up` fixes that.
    down = np.eye(4)
    down[:3, :3] = Rotation.from_euler("x", 90, degrees=True).as_matrix()  # camera z -> world -y
    np.testing.assert_allclose(Geometry.viewing_direction(down), [0, -1, 0], atol=1e-12)
    higher = [0, 1, 0]
    assert Graph.relations(higher, [0, 0, 0], down, margin=0.01) == ["in_front_of"]  # closer, not "above"
    assert Graph.relations(higher, [0, 0, 0], down, margin=0.01, up=[0, 1, 0]) == ["above", "in_front_of"]
    with pytest.raises(ValueError, match=r"\(3,\) point"):
        Graph.relations([0, 0], [0, 0, 0])


def test_scene_graph():
    sg = Graph.SceneGraph()
    sg.add_object("A", [0, 0, 0], category="chair")
    sg.add_object("B", [3, 0, 0])
    sg.add_object("C", [3, 4, 0])
    sg.add_object("D", [0, 4, 0])
    assert sg.objects == ["A", "B", "C", "D"] and len(sg) == 4 and "C" in sg
    assert sg.distance("A", "C") == 5.0
    assert sg.nearest("A", k=2) == [("B", 3.0), ("D", 4.0)]
    assert sg.nearest([3, 3, 0]) == [("C", 1.0)]
    assert sg.relations("B", "A", cam_to_world=LOOK_X) == ["behind"]  # farther along the viewing axis
    assert sg.relations("D", "A", LOOK_X) == ["left_of"]  # world +y is camera left
    sg.add_relation("A", "B", "next_to")
    sg.add_relation("A", "B", "facing")
    assert sg.related("A") == [("B", "facing"), ("B", "next_to")] and sg.related("A", "facing") == [("B", "facing")]
    sg.connect("A", "B")
    sg.connect("B", "C")
    sg.connect("A", "D")
    sg.connect("D", "C", length=10.0)
    route = sg.shortest_path("A", "C")
    assert route.nodes == ["A", "B", "C"] and route.length == 7.0
    np.testing.assert_allclose(route.points, [[0, 0, 0], [3, 0, 0], [3, 4, 0]])
    sg.move_object("B", [3, 10, 0])  # now A-B is 10.44 m: the way round through D is shorter
    assert sg.shortest_path("A", "C").nodes == ["A", "D", "C"]
    text = sg.as_text(cam_to_world=LOOK_X)
    assert "A: (0.00, 0.00, 0.00) category=chair" in text and "A next_to B" in text
    assert "A <-> D: 4.00 m" in text and "A is right_of D" in text
    with pytest.raises(ValueError, match="already exists"):
        sg.add_object("A", [1, 1, 1])
    with pytest.raises(ValueError, match="unknown object 'E'; known objects: 'A', 'B', 'C', 'D'"):
        sg.position("E")
    sg.add_object("E", [9, 9, 9])
    with pytest.raises(ValueError, match="no route"):
        sg.shortest_path("A", "E")


def test_plan_route_over_waypoints():
    wp = [[0, 0, 0], [1, 0, 0], [2, 0, 0], [2, 1, 0], [0.5, 5, 0]]
    route = Graph.plan_route(wp, 0, 3, max_step=1.01)
    assert route.nodes == [0, 1, 2, 3] and route.length == pytest.approx(3.0)
    route = Graph.plan_route(wp, 0, 3, max_step=1.01, edges=[(0, 3)])
    assert route.nodes == [0, 3] and route.length == pytest.approx(math.sqrt(5))
    with pytest.raises(ValueError, match="no route from waypoint 0 to 4"):
        Graph.plan_route(wp, 0, 4, max_step=1.01)
    with pytest.raises(ValueError, match="max_step"):
        Graph.plan_route(wp, 0, 3)


# ------------------------------------------------------------------------------------------------------
# Draw
# ------------------------------------------------------------------------------------------------------


def test_overlay_mask_blends_exactly_and_keeps_the_input():
    img = np.zeros((6, 8, 3), np.uint8)
    m = np.zeros((6, 8), bool)
    m[1:5, 2:6] = True
    out = Draw.overlay_mask(img, m, color="red", alpha=0.5, outline=False)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (8, 6)
    arr = np.asarray(out)
    assert tuple(arr[2, 3]) == (128, 0, 0) and tuple(arr[0, 0]) == (0, 0, 0)
    assert not img.any()  # the input is untouched
    solid = np.asarray(Draw.overlay_mask(img, m, color=(0, 255, 0), alpha=1.0))
    assert tuple(solid[2, 3]) == (0, 255, 0)
    with pytest.raises(ValueError, match="mask is"):
        Draw.overlay_mask(img, np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="unknown colour"):
        Draw.overlay_mask(img, m, color="not-a-colour")


def test_points_boxes_text_and_panels():
    frame = Image.new("RGB", (20, 12), (10, 10, 10))
    dots = np.asarray(Draw.draw_points(frame, [[5, 6], [np.nan, 1]], color="blue", radius=1))
    assert tuple(dots[6, 5]) == (0, 0, 255)
    assert frame.getpixel((5, 6)) == (10, 10, 10)  # PIL inputs are not modified either
    boxed = np.asarray(Draw.draw_boxes(frame, [2, 3, 8, 9], color="lime", width=1))
    assert tuple(boxed[5, 2]) == (0, 255, 0) and tuple(boxed[5, 7]) == (0, 255, 0)  # columns x0 and x1 - 1
    assert tuple(boxed[5, 8]) == (10, 10, 10) and tuple(boxed[5, 5]) == (10, 10, 10)
    labelled = Draw.draw_boxes(np.zeros((60, 80, 3), np.uint8), [[10, 30, 50, 55], [0, 0, 5, 5]], labels=["a", "b"])
    assert labelled.size == (80, 60)
    with pytest.raises(ValueError, match="x1 > x0"):
        Draw.draw_boxes(frame, [5, 5, 5, 9])
    text = np.asarray(Draw.draw_text(np.zeros((40, 120, 3), np.uint8), "3.2 m", color="white"))
    assert text.max() == 255
    panel = Draw.side_by_side([np.zeros((40, 60, 3), np.uint8), np.zeros((20, 20), np.uint8)], labels=["a", "b"])
    assert panel.size == (30 + 4 + 20, 20)
    mask_img = Draw.to_image(np.eye(3, dtype=bool))
    assert mask_img.mode == "RGB" and mask_img.getpixel((1, 1)) == (255, 255, 255)


def test_colorize_depth():
    depth = np.array([[1.0, 2.0], [0.0, np.nan]])
    img = Draw.colorize_depth(depth, vmin=1.0, vmax=2.0, cmap="viridis")
    arr = np.asarray(img)
    assert img.size == (2, 2) and tuple(arr[1, 0]) == (0, 0, 0) and tuple(arr[1, 1]) == (0, 0, 0)
    import matplotlib

    expected = tuple(int(round(c * 255)) for c in matplotlib.colormaps["viridis"](0.0)[:3])
    assert tuple(arr[0, 0]) == expected
    with pytest.raises(ValueError, match="colormap"):
        Draw.colorize_depth(depth, cmap="nope")


# ------------------------------------------------------------------------------------------------------
# The real RGB-D fixture
# ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def room(room_dir):
    return load_rgbd_sample(room_dir)


def _region(shape, rows, cols):
    m = np.zeros(shape, bool)
    m[rows, cols] = True
    return m


def test_camera_centres_match_pose_translations(room):
    c = Geometry.camera_center(room.poses)
    assert c.shape == (5, 3)
    for i in range(4):
        expected = np.linalg.norm(room.poses[i + 1][:3, 3] - room.poses[i][:3, 3])
        assert Geometry.distance(c[i], c[i + 1]) == pytest.approx(expected, rel=1e-12)
    # The frames are 1.1 m apart at most between neighbours and 2.1 m from first to last (pose.txt).
    assert Geometry.distance(c[0], c[4]) == pytest.approx(2.0972, abs=1e-3)


def test_floor_and_table_planes_in_the_real_room(room):
    """Frame 0 shows carpet at the bottom left and the dining table top at the bottom right."""
    pm = backproject_depth(room.depth[0], room.K)
    floor = Geometry.fit_plane(pm[420:470, 20:180], threshold=0.02)
    table = Geometry.fit_plane(pm[330:440, 520:620], threshold=0.02)
    for plane in (floor, table):
        assert plane.inliers.mean() > 0.6 and plane.rmse < 0.015
        assert plane.normal[1] < -0.9  # faces the camera and points up (camera y is down)
    assert Geometry.angle_between(floor.normal, table.normal) < 8  # a table top is level
    table_pts = pm[330:440, 520:620][table.inliers]
    height = Geometry.point_to_plane_distance(Geometry.centroid(table_pts), floor)
    assert 0.65 < height < 0.85, f"table top {height:.2f} m above the floor"  # dining tables: ~0.75 m
    assert 1.0 < floor.d < 1.8  # the camera's height above the floor (hand-held Kinect)
    stats = Mask.masked_depth_stats(room.depth[0], _region((480, 640), slice(330, 440), slice(520, 620)))
    assert stats.count > 5000 and 1.0 < stats.median < 1.5


def test_floor_seen_from_two_frames_agrees_in_world(room):
    """The carpet in frame 0 (bottom left) and in frame 2 (bottom centre), lifted to world coordinates with
    the poses, lies on one plane: the tools, the depth and the poses agree."""
    shape = room.depth.shape[1:]
    w0 = Geometry.points_from_depth(
        room.depth[0], room.K, room.poses[0], mask=_region(shape, slice(420, 470), slice(20, 180))
    )
    w2 = Geometry.points_from_depth(
        room.depth[2], room.K, room.poses[2], mask=_region(shape, slice(380, 470), slice(260, 460))
    )
    c0, c2 = Geometry.camera_center(room.poses[[0, 2]])
    p0 = Geometry.fit_plane(w0, threshold=0.02, toward=c0)
    p2 = Geometry.fit_plane(w2, threshold=0.02, toward=c2)
    assert Geometry.angle_between(p0.normal, p2.normal) < 5
    assert abs(p0.d - p2.d) < 0.1
    assert np.median(np.abs(Geometry.point_to_plane_distance(w2, p0))) < 0.05
    # Both cameras are at about the same height above that floor.
    h0, h2 = Geometry.point_to_plane_distance(c0, p0), Geometry.point_to_plane_distance(c2, p0)
    assert abs(h0 - h2) < 0.1 and 1.0 < h0 < 1.8


def test_projection_round_trip_and_cross_frame_depth(room):
    K, (h, w) = room.K, room.depth.shape[1:]
    world = Geometry.points_from_depth(room.depth[0], K, room.poses[0], stride=4)
    # Back into frame 0: the pixels of the valid depth samples, at their depths.
    pr = Geometry.project_to_image(world, K, room.poses[0], image_size=(w, h))
    assert pr.visible.all()
    v, u = np.nonzero(room.depth[0][::4, ::4] > 0)
    np.testing.assert_allclose(pr.uv, np.stack([u * 4, v * 4], axis=1), atol=1e-4)  # float32 point maps
    np.testing.assert_allclose(pr.depth, room.depth[0][::4, ::4][room.depth[0][::4, ::4] > 0], atol=1e-5)

    # Into frame 1: where frame 1 sees the same surface, its depth agrees with the projected depth.
    def agreement(T):
        p = Geometry.project_to_image(world, K, T, image_size=(w, h))
        uv = np.round(p.uv[p.visible]).astype(int)
        d1 = room.depth[1][np.clip(uv[:, 1], 0, h - 1), np.clip(uv[:, 0], 0, w - 1)]
        ok = d1 > 0
        return (np.abs(p.depth[p.visible][ok] - d1[ok]) < 0.05).mean()

    with_pose, no_motion = agreement(room.poses[1]), agreement(room.poses[0])
    # Measured: 32 % with frame 1's pose vs 2 % assuming no motion.
    assert with_pose > 0.2 and with_pose > 5 * no_motion
