/**
 * The array sets of perception artifacts: every array a reconstruction or a masks artifact holds, with its
 * dtype, axes, unit and coordinate frame. The source of truth for the perception server's result checks and
 * returnable arrays (`spatial_perception`), the kernel tools (`tools.Reconstruct`, `tools.SAM3`) and the
 * 3D inspector's loaders; Python reads it from the generated `spatial_common.contract.ARRAY_SETS`.
 *
 * Axes are letters for sizes that vary (N frames, T frames, K objects, H rows, W columns) and digits for
 * fixed sizes. Arrays travel as `.npy` (numpy.save, C order, never pickled).
 */

/** numpy dtype names the arrays use (`.npy` descr `<f4`, `<f8`, `<i8`, `|u1`, `|b1`). */
export type Dtype = 'float32' | 'float64' | 'int64' | 'uint8' | 'bool';

export interface ArraySpec {
  dtype: Dtype;
  /** Axis names: letters vary per artifact, digits are fixed sizes. */
  axes: readonly string[];
  /** Unit of the values (m: metres, px: pixels), or null. */
  unit: 'm' | 'px' | null;
  /** Who makes it: the backend, or the server from the backend's other arrays. */
  producedBy: 'backend' | 'server';
  doc: string;
}

const spec = (dtype: Dtype, axes: string[], unit: ArraySpec['unit'], doc: string, producedBy: ArraySpec['producedBy'] = 'backend'): ArraySpec => ({ dtype, axes, unit, producedBy, doc });

/** Kind `reconstruction`: N frames of H x W pixels (docs/perception-api.md, "Reconstruction"). */
export const RECONSTRUCTION_ARRAYS = {
  depth: spec('float32', ['N', 'H', 'W'], 'm', 'metric depth along each camera z axis; 0 or NaN where unknown'),
  confidence: spec('float32', ['N', 'H', 'W'], null, 'per-pixel confidence in [0, 1]'),
  points: spec('float32', ['N', 'H', 'W', '3'], 'm', 'world point map (gravity-aligned world: +Y up, floor at Y = 0); NaN where invalid'),
  extrinsics: spec('float64', ['N', '4', '4'], 'm', 'camera-to-world [[R, t], [0, 0, 0, 1]], OpenCV camera axes (x right, y down, z forward)'),
  intrinsics: spec('float64', ['N', '3', '3'], 'px', 'pinhole K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]] (s: skew, usually 0)'),
  frame_indices: spec('int64', ['N'], null, 'absolute frame index of each frame in its source video'),
  colors: spec('uint8', ['N', 'H', 'W', '3'], null, 'RGB colour of each pixel'),
  valid: spec('bool', ['N', 'H', 'W'], null, 'pixels that have a 3D point (finite points)', 'server'),
} as const satisfies Record<string, ArraySpec>;

/** Kind `masks`: T frames, K objects, H x W pixels (docs/perception-api.md, "Masks"). */
export const MASK_ARRAYS = {
  masks: spec('bool', ['T', 'K', 'H', 'W'], null, 'one binary mask per frame and object; object k is the same instance in every frame'),
  scores: spec('float32', ['T', 'K'], null, 'confidence of each mask in [0, 1]'),
  frame_indices: spec('int64', ['T'], null, 'absolute frame index of each frame in its source video'),
} as const satisfies Record<string, ArraySpec>;

/** Every artifact kind and its arrays. */
export const ARRAY_SETS = { reconstruction: RECONSTRUCTION_ARRAYS, masks: MASK_ARRAYS } as const;

export type ArtifactKind = keyof typeof ARRAY_SETS;
export const ARTIFACT_KINDS = Object.keys(ARRAY_SETS) as ArtifactKind[];
export type ReconstructionArrayName = keyof typeof RECONSTRUCTION_ARRAYS;
export type MaskArrayName = keyof typeof MASK_ARRAYS;
