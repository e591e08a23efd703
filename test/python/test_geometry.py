import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from spatial_runtime import backproject_depth, pose_from_tum, project_points, transform_points

K = np.array([[500.0, 0, 320.0], [0, 480.0, 240.0], [0, 0, 1]])


def test_backproject_then_project_returns_pixels():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 6.0, size=(48, 64)).astype(np.float32)
    pm = backproject_depth(depth, K)
    assert pm.shape == (48, 64, 3) and pm.dtype == np.float32
    np.testing.assert_allclose(pm[..., 2], depth)
    uv = project_points(pm, K)
    u, v = np.meshgrid(np.arange(64), np.arange(48))
    np.testing.assert_allclose(uv[..., 0], u, atol=1e-3)
    np.testing.assert_allclose(uv[..., 1], v, atol=1e-3)


def test_principal_point_lies_on_the_optical_axis():
    depth = np.full((480, 640), 2.0, dtype=np.float32)
    pm = backproject_depth(depth, K)
    np.testing.assert_allclose(pm[240, 320], [0.0, 0.0, 2.0], atol=1e-6)
    # x grows to the right, y grows downwards (OpenCV camera axes)
    assert pm[240, 420, 0] > 0 and pm[340, 320, 1] > 0


def test_invalid_depth_becomes_nan():
    depth = np.array([[0.0, -1.0], [np.nan, 1.0]], dtype=np.float32)
    pm = backproject_depth(depth, K)
    assert np.isnan(pm[0, 0]).all() and np.isnan(pm[0, 1]).all() and np.isnan(pm[1, 0]).all()
    assert np.isfinite(pm[1, 1]).all()


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match=r"depth must be a 2-D"):
        backproject_depth(np.zeros((2, 2, 1)), K)
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        backproject_depth(np.zeros((2, 2)), np.eye(4))
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        transform_points(np.zeros((5, 3)), np.eye(3))


def test_pose_from_tum_matches_scipy_and_transforms_points():
    q = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_quat()  # scalar-last
    T = pose_from_tum(1.0, 2.0, 3.0, *q)
    np.testing.assert_allclose(T[:3, :3], Rotation.from_quat(q).as_matrix())
    p = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    out = transform_points(p, T)
    np.testing.assert_allclose(out[0], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(np.linalg.norm(out[1] - out[0]), 1.0)


def test_skewed_intrinsics_backproject_and_project_consistently():
    """With skew s = K[0, 1] != 0 the lifted points re-project to their own pixels through project_points, and
    they are the points spatial_common.geometry.backproject gives (one back-projection for the whole project)."""
    from spatial_common.geometry import backproject

    Ks = np.array([[500.0, 12.5, 320.0], [0, 480.0, 240.0], [0, 0, 1]])
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 6.0, size=(48, 64)).astype(np.float32)
    pm = backproject_depth(depth, Ks)
    np.testing.assert_array_equal(pm, backproject(depth, Ks))
    np.testing.assert_allclose(pm[..., 2], depth)
    uv = project_points(pm, Ks)
    u, v = np.meshgrid(np.arange(64), np.arange(48))
    np.testing.assert_allclose(uv[..., 0], u, atol=1e-3)
    np.testing.assert_allclose(uv[..., 1], v, atol=1e-3)
    # Skew shifts x by -s * (v - cy) / fy * z / fx: ignoring it would misplace the points of every row but cy.
    no_skew = Ks.copy()
    no_skew[0, 1] = 0.0
    shift = pm[40, :, 0] - backproject_depth(depth, no_skew)[40, :, 0]
    np.testing.assert_allclose(shift, -12.5 * (40 - 240) / 480 * depth[40] / 500, rtol=1e-5)
    # A point off the optical axis: u = fx * x / z + s * y / z + cx.
    np.testing.assert_allclose(
        project_points([0.2, -0.1, 2.0], Ks), [500 * 0.1 + 12.5 * -0.05 + 320, 480 * -0.05 + 240]
    )
