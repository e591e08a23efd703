/**
 * Pinhole back-projection in TypeScript (the 3D inspector): depth + intrinsics K + camera-to-world
 * extrinsics → world points. The Python twin is `spatial_common.geometry.backproject`; both use the same
 * formula and are tested on the same numbers (test/unit/geometry.test.ts against test/python/test_geometry.py's
 * reference values).
 *
 * A pixel (u, v) = (column, row), origin at the centre of the top-left pixel, with depth z (metres along the
 * camera z axis, OpenCV camera axes x right, y down, z forward) is the camera point
 *
 *   y = (v - cy) / fy · z,   x = (u - cx - s · (v - cy) / fy) / fx · z
 *
 * with K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]] (s = K[0][1], the skew), then R · p + t in the world.
 */

/**
 * Lift one pixel of frame f with depth z into the world, writing (x, y, z) at `out[o..o+2]`.
 * @param K (N, 3, 3) float64 intrinsics, row-major; frame f's matrix starts at f * 9.
 * @param E (N, 4, 4) float64 camera-to-world extrinsics, row-major; frame f's starts at f * 16.
 * @param u column, v row (pixel centres at integers; -0.5 is the left/top edge of the image).
 * @param z depth along the camera z axis, metres (0 gives the camera centre).
 */
export function liftPixelInto(out: Float32Array | number[], o: number, K: Float64Array, E: Float64Array, f: number, u: number, v: number, z: number): void {
  const k = f * 9;
  const e = f * 16;
  const y = ((v - K[k + 5]!) / K[k + 4]!) * z;
  const x = ((u - K[k + 2]! - K[k + 1]! * ((v - K[k + 5]!) / K[k + 4]!)) / K[k]!) * z;
  out[o] = E[e]! * x + E[e + 1]! * y + E[e + 2]! * z + E[e + 3]!;
  out[o + 1] = E[e + 4]! * x + E[e + 5]! * y + E[e + 6]! * z + E[e + 7]!;
  out[o + 2] = E[e + 8]! * x + E[e + 9]! * y + E[e + 10]! * z + E[e + 11]!;
}

/**
 * Lift N depth maps to world points.
 * @param depth (N, H, W) float32 metres, row-major; <= 0 or non-finite marks a pixel without a point.
 * @param K (N, 3, 3) float64 intrinsics in pixels, row-major.
 * @param E (N, 4, 4) float64 camera-to-world extrinsics, row-major, metres.
 * @returns (N, H, W, 3) float32 world points, metres; NaN where there is no point.
 * @throws Error when the array lengths do not match N, H and W.
 */
export function backprojectDepth(depth: Float32Array, n: number, h: number, w: number, K: Float64Array, E: Float64Array): Float32Array {
  if (depth.length !== n * h * w) throw new Error(`depth has ${depth.length} values, expected N*H*W = ${n * h * w}`);
  if (K.length !== n * 9) throw new Error(`intrinsics have ${K.length} values, expected N*9 = ${n * 9}`);
  if (E.length !== n * 16) throw new Error(`extrinsics have ${E.length} values, expected N*16 = ${n * 16}`);
  const out = new Float32Array(n * h * w * 3);
  for (let f = 0; f < n; f++) {
    for (let v = 0; v < h; v++) {
      for (let u = 0; u < w; u++) {
        const i = (f * h + v) * w + u;
        const z = depth[i]!;
        if (z > 0 && Number.isFinite(z)) liftPixelInto(out, i * 3, K, E, f, u, v, z);
        else out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = NaN;
      }
    }
  }
  return out;
}
