# SpatialClaw demo cell, run as an agent cell: it goes through the safety check and runs in a kernel
# prepared on the bundled RGB-D sample (InputImages, Metadata and tools are already bound).
# Question: how far did the camera travel, and do the poses agree with the depth?
from scipy.spatial import cKDTree

G = tools.Geometry
K, poses = Metadata.K, Metadata.poses
w, h = InputImages.image_size
print(f"{len(InputImages)} RGB-D frames, {w}x{h}, frame indices {InputImages.frame_indices}")
print(f"intrinsics: fx={K[0, 0]:.1f} fy={K[1, 1]:.1f} cx={K[0, 2]:.1f} cy={K[1, 2]:.1f} px")

depth0 = InputImages[0].depth
valid = depth0[depth0 > 0]
print(f"frame 0 depth: {valid.size / depth0.size:.0%} valid, median {np.median(valid):.2f} m")

centres = np.array([G.camera_center(T) for T in poses])
steps = [G.distance(a, b) for a, b in itertools.pairwise(centres)]
print(f"camera path: {sum(steps):.2f} m; per-frame baselines {np.round(steps, 2).tolist()} m")

clouds = [G.points_from_depth(f.depth, K, cam_to_world=T, stride=4) for f, T in zip(InputImages, poses, strict=True)]
box = G.aabb(np.concatenate(clouds), percentile=2)
print(f"fused point cloud: {sum(map(len, clouds)):,} points; scene extent {np.round(box.size, 2).tolist()} m (x, y, z)")

# Do the poses agree with the depth? Fraction of frame-1 points within 5 cm of frame-0 points.
tree = cKDTree(clouds[0])
with_poses = (tree.query(clouds[1])[0] < 0.05).mean()
no_motion = (tree.query(G.points_from_depth(InputImages[1].depth, K, cam_to_world=poses[0], stride=4))[0] < 0.05).mean()
print(f"frames 0-1 overlap within 5 cm: {with_poses:.0%} with the sample's poses vs {no_motion:.0%} assuming no motion")

show(tools.Draw.side_by_side([InputImages[0], tools.Draw.colorize_depth(depth0)]), label="frame 0 and its depth")
ReturnAnswer(round(float(G.distance(centres[0], centres[-1])), 2))
