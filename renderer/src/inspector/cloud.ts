/**
 * Building the drawn point cloud from a reconstruction: which pixels become points (frame toggles,
 * validity, confidence threshold, point budget), their colours (RGB, depth, confidence, height, masks),
 * camera frustums and bounds. Pure typed-array code, tested in Node (test/unit/inspector-loaders.test.ts).
 *
 * A point is addressed by its global pixel id `id = (frame_pos * H + v) * W + u` (frame_pos: position in
 * the artifact, not the absolute frame index).
 */
import { liftPixelInto } from '../../../shared/geometry.ts';
import type { Masks, Reconstruction } from './recon.ts';

export type ColorMode = 'rgb' | 'depth' | 'confidence' | 'height';
export const COLOR_MODES: ColorMode[] = ['rgb', 'depth', 'confidence', 'height'];

/** Which points to draw. */
export interface SelectOptions {
  /** Per frame position: drawn or not (missing = drawn). */
  visible?: boolean[];
  /** Points with confidence below this are hidden (no confidence array: ignored). */
  confThreshold?: number;
  /** Maximum points drawn; more eligible points are decimated to exactly this many. */
  budget?: number;
}

/** The selected points. */
export interface Selection {
  /** Global pixel ids of the drawn points, ascending. */
  ids: Uint32Array;
  /** Points that passed the frame/validity/confidence tests, before the budget. */
  eligible: number;
  /** Drawn points per frame position. */
  perFrame: number[];
}

export const DEFAULT_BUDGET = 2_000_000;

/** Whether the pixel `id` has a finite point that passes validity and the confidence threshold. */
function passes(r: Reconstruction, id: number, thr: number): boolean {
  if (r.valid && !r.valid[id]) return false;
  if (r.confidence && thr > 0 && !(r.confidence[id]! >= thr)) return false;
  const p = r.points;
  const o = id * 3;
  return Number.isFinite(p[o]!) && Number.isFinite(p[o + 1]!) && Number.isFinite(p[o + 2]!);
}

/**
 * Select the drawn points. When more than `budget` points are eligible, exactly `budget` are kept,
 * spread evenly over the eligible ones in pixel order (a Bresenham-style stride, deterministic).
 */
export function selectPoints(r: Reconstruction, opts: SelectOptions = {}): Selection {
  const thr = opts.confThreshold ?? 0;
  const budget = Math.max(0, Math.floor(opts.budget ?? DEFAULT_BUDGET));
  const hw = r.h * r.w;
  const vis = (f: number) => opts.visible?.[f] !== false;
  // Pass 1: count eligible points.
  let eligible = 0;
  for (let f = 0; f < r.n; f++) {
    if (!vis(f)) continue;
    const end = (f + 1) * hw;
    for (let id = f * hw; id < end; id++) if (passes(r, id, thr)) eligible++;
  }
  const keep = Math.min(eligible, budget);
  const ids = new Uint32Array(keep);
  const perFrame = new Array<number>(r.n).fill(0);
  // Pass 2: keep eligible point k when floor((k+1) B / M) > floor(k B / M): exactly B of M.
  let acc = 0;
  let j = 0;
  for (let f = 0; f < r.n && j < keep; f++) {
    if (!vis(f)) continue;
    const end = (f + 1) * hw;
    for (let id = f * hw; id < end; id++) {
      if (!passes(r, id, thr)) continue;
      acc += keep;
      if (acc >= eligible) {
        acc -= eligible;
        ids[j++] = id;
        perFrame[f]!++;
      }
    }
  }
  return { ids, eligible, perFrame };
}

/** (count*3) float32 positions of the selected points. */
export function gatherPositions(r: Reconstruction, ids: Uint32Array): Float32Array {
  const out = new Float32Array(ids.length * 3);
  const p = r.points;
  for (let i = 0; i < ids.length; i++) {
    const o = ids[i]! * 3;
    out[i * 3] = p[o]!;
    out[i * 3 + 1] = p[o + 1]!;
    out[i * 3 + 2] = p[o + 2]!;
  }
  return out;
}

/** A colour ramp (dark blue → cyan → green → yellow → red), t in [0, 1] → RGB 0..255. */
const RAMP: [number, number, number][] = [
  [48, 18, 120],
  [40, 120, 220],
  [30, 200, 170],
  [140, 230, 60],
  [250, 190, 40],
  [220, 50, 30],
];
export function ramp(t: number, out: Uint8Array, o: number): void {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const a = RAMP[i]!, b = RAMP[i + 1]!;
  out[o] = Math.round(a[0] + (b[0] - a[0]) * f);
  out[o + 1] = Math.round(a[1] + (b[1] - a[1]) * f);
  out[o + 2] = Math.round(a[2] + (b[2] - a[2]) * f);
}

/** The colour ramp as a CSS gradient from left (t = 0) to right (t = 1), for legends. */
export function rampCss(): string {
  const stops = RAMP.map(([r, g, b], i) => `rgb(${r}, ${g}, ${b}) ${((i / (RAMP.length - 1)) * 100).toFixed(0)}%`);
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

/** Distinct instance colours for masks (object k uses PALETTE[k % length]). */
export const PALETTE: [number, number, number][] = [
  [230, 25, 75],
  [60, 180, 75],
  [255, 225, 25],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
  [210, 245, 60],
  [250, 190, 212],
  [0, 128, 128],
  [220, 190, 255],
  [170, 110, 40],
  [255, 250, 200],
  [128, 0, 0],
  [170, 255, 195],
];
export function instanceColor(k: number): [number, number, number] {
  return PALETTE[((k % PALETTE.length) + PALETTE.length) % PALETTE.length]!;
}

/** Depth of pixel `id`: the depth array, else the distance along the camera's z axis. */
export function pointDepth(r: Reconstruction, id: number): number {
  if (r.depth) return r.depth[id]!;
  const f = Math.floor(id / (r.h * r.w));
  const e = f * 16;
  const E = r.extrinsics;
  const o = id * 3;
  const dx = r.points[o]! - E[e + 3]!, dy = r.points[o + 1]! - E[e + 7]!, dz = r.points[o + 2]! - E[e + 11]!;
  return dx * E[e + 2]! + dy * E[e + 6]! + dz * E[e + 10]!; // z axis of the camera = third column of R
}

/** The [lo, hi] range of values at the 2nd and 98th percentiles, from at most 65,536 samples. */
export function robustRange(count: number, value: (i: number) => number): [number, number] {
  const step = Math.max(1, Math.floor(count / 65536));
  const vals: number[] = [];
  for (let i = 0; i < count; i += step) {
    const v = value(i);
    if (Number.isFinite(v)) vals.push(v);
  }
  if (vals.length === 0) return [0, 1];
  vals.sort((a, b) => a - b);
  const lo = vals[Math.floor(0.02 * (vals.length - 1))]!;
  const hi = vals[Math.ceil(0.98 * (vals.length - 1))]!;
  return hi > lo ? [lo, hi] : [lo, lo + 1e-6];
}

/**
 * The values a colour mode's ramp spans over the drawn points, [lo, hi] (the ramp's ends; values outside are
 * clamped): depth (metres along the camera z axis) and height (world Y, metres) at the 2nd and 98th
 * percentiles, confidence the fixed [0, 1]. Null for `rgb`, which has no ramp.
 */
export function colorRange(r: Reconstruction, ids: Uint32Array, mode: ColorMode): [number, number] | null {
  const n = ids.length;
  if (mode === 'depth') return robustRange(n, (i) => pointDepth(r, ids[i]!));
  if (mode === 'height') return robustRange(n, (i) => r.points[ids[i]! * 3 + 1]!);
  if (mode === 'confidence') return [0, 1];
  return null;
}

/** Per drawn point: the object index of the mask it falls in (-1: none). */
export interface LiftedMasks {
  labels: Int16Array;
  /** Drawn points per object. */
  counts: number[];
  /** Absolute frame indices of mask frames that the reconstruction does not have. */
  missingFrames: number[];
}

/**
 * Lift masks onto the drawn points: a point of frame position f at pixel (u, v) takes the first object
 * whose mask (of the mask frame with the same absolute frame index) covers the pixel. Masks of another
 * resolution are sampled nearest-neighbour at the pixel centre. Objects with `enabled[k] === false` are skipped.
 */
export function liftMasks(r: Reconstruction, m: Masks, ids: Uint32Array, enabled?: boolean[]): LiftedMasks {
  const labels = new Int16Array(ids.length).fill(-1);
  const counts = new Array<number>(m.k).fill(0);
  const tOf = r.frameIndices.map((fi) => m.frameIndices.indexOf(fi));
  const missingFrames = m.frameIndices.filter((fi) => !r.frameIndices.includes(fi));
  const hw = r.h * r.w;
  const mhw = m.h * m.w;
  const same = m.h === r.h && m.w === r.w;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    const f = Math.floor(id / hw);
    const t = tOf[f]!;
    if (t < 0) continue;
    let pix = id - f * hw;
    if (!same) {
      const v = Math.floor(pix / r.w), u = pix - v * r.w;
      const mu = Math.min(m.w - 1, Math.floor(((u + 0.5) * m.w) / r.w));
      const mv = Math.min(m.h - 1, Math.floor(((v + 0.5) * m.h) / r.h));
      pix = mv * m.w + mu;
    }
    const base = t * m.k * mhw + pix;
    for (let k = 0; k < m.k; k++) {
      if (enabled?.[k] === false) continue;
      if (m.data[base + k * mhw]) {
        labels[i] = k;
        counts[k]!++;
        break;
      }
    }
  }
  return { labels, counts, missingFrames };
}

/**
 * (count*3) uint8 colours of the selected points.
 * With `lifted`, masked points take their object's colour (blended with RGB) and the others are dimmed to 30 %.
 * @param range the ramp's [lo, hi] for depth and height ({@link colorRange}; computed when absent).
 */
export function colorize(r: Reconstruction, ids: Uint32Array, mode: ColorMode, lifted?: LiftedMasks | null, range?: [number, number] | null): Uint8Array {
  const out = new Uint8Array(ids.length * 3);
  const n = ids.length;
  if (mode === 'rgb') {
    if (r.colors) {
      const c = r.colors;
      for (let i = 0; i < n; i++) {
        const o = ids[i]! * 3;
        out[i * 3] = c[o]!;
        out[i * 3 + 1] = c[o + 1]!;
        out[i * 3 + 2] = c[o + 2]!;
      }
    } else out.fill(200);
  } else if (mode === 'confidence') {
    for (let i = 0; i < n; i++) ramp(r.confidence ? r.confidence[ids[i]!]! : 1, out, i * 3);
  } else if (mode === 'depth') {
    const [lo, hi] = range ?? colorRange(r, ids, mode)!;
    for (let i = 0; i < n; i++) ramp((pointDepth(r, ids[i]!) - lo) / (hi - lo), out, i * 3);
  } else {
    const [lo, hi] = range ?? colorRange(r, ids, mode)!;
    for (let i = 0; i < n; i++) ramp((r.points[ids[i]! * 3 + 1]! - lo) / (hi - lo), out, i * 3);
  }
  if (lifted) {
    for (let i = 0; i < n; i++) {
      const k = lifted.labels[i]!;
      const o = i * 3;
      if (k < 0) {
        out[o] = out[o]! * 0.3;
        out[o + 1] = out[o + 1]! * 0.3;
        out[o + 2] = out[o + 2]! * 0.3;
      } else {
        const c = instanceColor(k);
        out[o] = 0.7 * c[0] + 0.3 * out[o]!;
        out[o + 1] = 0.7 * c[1] + 0.3 * out[o + 1]!;
        out[o + 2] = 0.7 * c[2] + 0.3 * out[o + 2]!;
      }
    }
  }
  return out;
}

/** Axis-aligned bounds of positions at the 2nd/98th percentiles (robust to stray points), with the centre and size. */
export function robustBounds(pos: Float32Array): { min: [number, number, number]; max: [number, number, number]; center: [number, number, number]; size: number } {
  const n = pos.length / 3;
  const min: [number, number, number] = [0, 0, 0];
  const max: [number, number, number] = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    const [lo, hi] = robustRange(n, (i) => pos[i * 3 + a]!);
    min[a] = lo;
    max[a] = hi;
  }
  const center: [number, number, number] = [(min[0] + max[0]) / 2, (min[1] + max[1]) / 2, (min[2] + max[2]) / 2];
  const size = n === 0 ? 2 : Math.max(0.5, Math.hypot(max[0] - min[0], max[1] - min[1], max[2] - min[2]));
  return { min, max, center, size };
}

/**
 * A camera frustum in world coordinates: the camera centre and the 4 image corners (pixel edges,
 * top-left, top-right, bottom-right, bottom-left) lifted to depth `d` metres along the camera z axis.
 */
export function frustumCorners(r: Reconstruction, f: number, d: number): { center: [number, number, number]; corners: [number, number, number][] } {
  const px = (u: number, v: number): [number, number, number] => {
    const p: [number, number, number] = [0, 0, 0];
    liftPixelInto(p, 0, r.intrinsics, r.extrinsics, f, u, v, d);
    return p;
  };
  const center: [number, number, number] = [0, 0, 0];
  liftPixelInto(center, 0, r.intrinsics, r.extrinsics, f, 0, 0, 0);
  const u0 = -0.5, u1 = r.w - 0.5, v0 = -0.5, v1 = r.h - 0.5;
  return { center, corners: [px(u0, v0), px(u1, v0), px(u1, v1), px(u0, v1)] };
}

/** Line-segment vertices (pairs) of a frustum: 4 rays from the centre and the image rectangle. */
export function frustumSegments(r: Reconstruction, f: number, d: number): Float32Array {
  const { center: c, corners: q } = frustumCorners(r, f, d);
  const segs: [number, number, number][] = [];
  for (let i = 0; i < 4; i++) segs.push(c, q[i]!);
  for (let i = 0; i < 4; i++) segs.push(q[i]!, q[(i + 1) % 4]!);
  return Float32Array.from(segs.flat());
}

/**
 * An RGBA image of frame position f (from `colors`), downsampled by an integer step so that the long edge
 * is at most `maxEdge` pixels. Row 0 is the top of the image.
 */
export function frameRGBA(r: Reconstruction, f: number, maxEdge = 4096): { data: Uint8ClampedArray; width: number; height: number; step: number } | null {
  if (!r.colors) return null;
  const step = Math.max(1, Math.ceil(Math.max(r.w, r.h) / maxEdge));
  const width = Math.ceil(r.w / step), height = Math.ceil(r.h / step);
  const data = new Uint8ClampedArray(width * height * 4);
  const c = r.colors;
  const base = f * r.h * r.w;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (base + y * step * r.w + x * step) * 3;
      const o = (y * width + x) * 4;
      data[o] = c[s]!;
      data[o + 1] = c[s + 1]!;
      data[o + 2] = c[s + 2]!;
      data[o + 3] = 255;
    }
  }
  return { data, width, height, step };
}
