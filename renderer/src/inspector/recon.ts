/**
 * Reconstruction and masks artifacts as typed arrays, read from their `.npy` arrays (docs/perception-api.md).
 * Pure: no DOM, no three.js, so it is tested in Node.
 *
 * Coordinate frames: `points` and `extrinsics` are in the artifact's world frame, metres (for the server's
 * backends: gravity-aligned, +Y up, floor at Y ≈ 0). `extrinsics[i]` is camera-to-world with OpenCV camera
 * axes (x right, y down, z forward). Pixels are (u = column, v = row), origin at the top-left pixel centre.
 */
import { backprojectDepth } from '../../../shared/geometry.ts';
import { expectShape, NpyError, parseNpy, type NpyArray } from './npy.ts';

/** A reconstruction (kind `reconstruction`): N frames of H x W pixels. */
export interface Reconstruction {
  n: number;
  h: number;
  w: number;
  /** (N,) absolute frame indices in the source video. */
  frameIndices: number[];
  /** (N, H, W, 3) float32 world points, metres; NaN where invalid. */
  points: Float32Array;
  /** (N, H, W, 3) uint8 RGB, or null. */
  colors: Uint8Array | null;
  /** (N, H, W) float32 in [0, 1], or null. */
  confidence: Float32Array | null;
  /** (N, H, W) 0/1 (pixels with a 3D point), or null (then: finite points). */
  valid: Uint8Array | null;
  /** (N, H, W) float32 depth along camera z, metres, or null. */
  depth: Float32Array | null;
  /** (N, 3, 3) float64 pinhole intrinsics K in pixels (fx, fy, cx, cy). */
  intrinsics: Float64Array;
  /** (N, 4, 4) float64 camera-to-world, OpenCV camera axes, metres. */
  extrinsics: Float64Array;
}

/** A masks artifact (kind `masks`): T frames, K objects, H x W pixels. */
export interface Masks {
  t: number;
  k: number;
  h: number;
  w: number;
  /** (T, K, H, W) 0/1. */
  data: Uint8Array;
  /** (T,) absolute frame indices. */
  frameIndices: number[];
  /** (T, K) float32 scores, or null. */
  scores: Float32Array | null;
  /** K object labels (from the manifest's info.labels, else `object 0`, …). */
  labels: string[];
}

/** Fetches one array of the artifact as raw `.npy` bytes (e.g. `api.call('artifactArray', {...ref, name})`). */
export type ArrayFetcher = (name: string) => Promise<Uint8Array>;

function asFloat32(a: NpyArray, what: string): Float32Array {
  if (a.data instanceof Float32Array) return a.data;
  if (a.data instanceof Float64Array) return Float32Array.from(a.data);
  throw new NpyError(`${what} must be float32 or float64, got ${a.dtype}`);
}

function asFloat64(a: NpyArray): Float64Array {
  return a.data instanceof Float64Array ? a.data : Float64Array.from(a.data as ArrayLike<number>);
}

function asU8(a: NpyArray, what: string): Uint8Array {
  if (a.data instanceof Uint8Array) return a.data;
  throw new NpyError(`${what} must be uint8 or bool, got ${a.dtype}`);
}

/**
 * Read a reconstruction from its arrays. Needs `intrinsics`, `extrinsics` and either `points` or `depth`;
 * `colors`, `confidence`, `valid`, `depth` and `frame_indices` are optional.
 * @param names the array names the manifest lists.
 * @param manifestFrames the manifest's `frame_indices` (used when there is no `frame_indices` array).
 * @throws NpyError naming the array with a wrong shape/dtype, or Error when a required array is missing.
 */
export async function loadReconstruction(names: string[], fetch: ArrayFetcher, manifestFrames?: number[]): Promise<Reconstruction> {
  const has = new Set(names);
  if (!has.has('points') && !has.has('depth')) {
    throw new Error(`this reconstruction has neither 'points' nor 'depth' (arrays: ${names.join(', ')}); run tools.Reconstruct again`);
  }
  for (const req of ['intrinsics', 'extrinsics']) {
    if (!has.has(req)) throw new Error(`this reconstruction has no '${req}' array (arrays: ${names.join(', ')}); run tools.Reconstruct again`);
  }
  const get = async (name: string): Promise<NpyArray | null> => (has.has(name) ? parseNpy(await fetch(name), `${name}.npy`) : null);
  const [pointsA, depthA, colorsA, confA, validA, KA, EA, fiA] = await Promise.all(
    ['points', 'depth', 'colors', 'confidence', 'valid', 'intrinsics', 'extrinsics', 'frame_indices'].map(get),
  );
  let n: number, h: number, w: number;
  if (pointsA) {
    expectShape(pointsA, [-1, -1, -1, 3], 'points.npy');
    [n, h, w] = pointsA.shape as [number, number, number];
  } else {
    expectShape(depthA!, [-1, -1, -1], 'depth.npy');
    [n, h, w] = depthA!.shape as [number, number, number];
  }
  let K = asFloat64(KA!);
  if (KA!.shape.length === 2) {
    expectShape(KA!, [3, 3], 'intrinsics.npy');
    const rep = new Float64Array(n * 9);
    for (let f = 0; f < n; f++) rep.set(K, f * 9);
    K = rep;
  } else expectShape(KA!, [n, 3, 3], 'intrinsics.npy');
  expectShape(EA!, [n, 4, 4], 'extrinsics.npy');
  const E = asFloat64(EA!);
  const depth = depthA ? (expectShape(depthA, [n, h, w], 'depth.npy'), asFloat32(depthA, 'depth.npy')) : null;
  const points = pointsA ? asFloat32(pointsA, 'points.npy') : backprojectDepth(depth!, n, h, w, K, E);
  let colors: Uint8Array | null = null;
  if (colorsA) {
    expectShape(colorsA, [n, h, w, 3], 'colors.npy');
    colors = asU8(colorsA, 'colors.npy');
  }
  let confidence: Float32Array | null = null;
  if (confA) {
    expectShape(confA, [n, h, w], 'confidence.npy');
    confidence = asFloat32(confA, 'confidence.npy');
  }
  let valid: Uint8Array | null = null;
  if (validA) {
    expectShape(validA, [n, h, w], 'valid.npy');
    valid = asU8(validA, 'valid.npy');
  }
  let frameIndices: number[];
  if (fiA) {
    expectShape(fiA, [n], 'frame_indices.npy');
    frameIndices = Array.from(fiA.data as ArrayLike<number>);
  } else if (manifestFrames && manifestFrames.length === n) frameIndices = manifestFrames.slice();
  else frameIndices = Array.from({ length: n }, (_, i) => i);
  return { n, h, w, frameIndices, points, colors, confidence, valid, depth, intrinsics: K, extrinsics: E };
}

/**
 * Read a masks artifact: `masks` (T, K, H, W) bool (or (K, H, W) for one frame), optional `scores` (T, K),
 * `frame_indices` (T,).
 * @param labels object labels (the manifest's `info.labels`), padded with `object <k>`.
 */
export async function loadMasks(names: string[], fetch: ArrayFetcher, manifestFrames?: number[], labels: string[] = []): Promise<Masks> {
  if (!names.includes('masks')) throw new Error(`this artifact has no 'masks' array (arrays: ${names.join(', ')})`);
  const m = parseNpy(await fetch('masks'), 'masks.npy');
  let t: number, k: number, h: number, w: number;
  if (m.shape.length === 4) [t, k, h, w] = m.shape as [number, number, number, number];
  else if (m.shape.length === 3) {
    [k, h, w] = m.shape as [number, number, number];
    t = 1;
  } else throw new NpyError(`masks.npy has shape (${m.shape.join(', ')}), expected (T, K, H, W) or (K, H, W)`);
  const data = asU8(m, 'masks.npy');
  let frameIndices: number[];
  if (names.includes('frame_indices')) {
    const fi = parseNpy(await fetch('frame_indices'), 'frame_indices.npy');
    expectShape(fi, [t], 'frame_indices.npy');
    frameIndices = Array.from(fi.data as ArrayLike<number>);
  } else if (manifestFrames && manifestFrames.length === t) frameIndices = manifestFrames.slice();
  else frameIndices = Array.from({ length: t }, (_, i) => i);
  let scores: Float32Array | null = null;
  if (names.includes('scores')) {
    const s = parseNpy(await fetch('scores'), 'scores.npy');
    if (s.data.length === t * k) scores = asFloat32(s, 'scores.npy');
  }
  const lab = Array.from({ length: k }, (_, i) => labels[i] ?? `object ${i}`);
  return { t, k, h, w, data, frameIndices, scores, labels: lab };
}

/** Position of an absolute frame index in a reconstruction, or -1. */
export function framePosition(frameIndices: number[], frameIndex: number): number {
  return frameIndices.indexOf(frameIndex);
}
