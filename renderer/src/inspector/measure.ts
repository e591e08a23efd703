/**
 * Picks, measurements and exports (Python snippets, binary PLY). Pure, tested in Node.
 */
import type { Reconstruction } from './recon.ts';

export type Vec3 = [number, number, number];

/** One picked point of a reconstruction. */
export interface Pick {
  /** Global pixel id ((frame_pos * H + v) * W + u). */
  id: number;
  /** World coordinates, metres (the artifact's world frame). */
  world: Vec3;
  /** Position of the frame in the artifact. */
  framePos: number;
  /** Absolute frame index in the source video. */
  frame: number;
  /** Pixel column and row (origin at the top-left pixel centre). */
  u: number;
  v: number;
  /** Depth along the camera z axis, metres, or null. */
  depth: number | null;
  /** Confidence in [0, 1], or null. */
  confidence: number | null;
}

/** The pixel id of frame position f, pixel (u, v). */
export function pixelId(r: Reconstruction, f: number, u: number, v: number): number {
  return (f * r.h + v) * r.w + u;
}

/**
 * The pick at a global pixel id, or null when the pixel has no finite 3D point.
 */
export function pickAt(r: Reconstruction, id: number): Pick | null {
  const hw = r.h * r.w;
  if (!Number.isInteger(id) || id < 0 || id >= r.n * hw) return null;
  const o = id * 3;
  const world: Vec3 = [r.points[o]!, r.points[o + 1]!, r.points[o + 2]!];
  if (!world.every(Number.isFinite)) return null;
  const framePos = Math.floor(id / hw);
  const pix = id - framePos * hw;
  const v = Math.floor(pix / r.w);
  const u = pix - v * r.w;
  return {
    id,
    world,
    framePos,
    frame: r.frameIndices[framePos]!,
    u,
    v,
    depth: r.depth ? r.depth[id]! : null,
    confidence: r.confidence ? r.confidence[id]! : null,
  };
}

/** A pick, or why a pixel cannot be picked (a sentence for people that says what to do). */
export type PickResult = { pick: Pick; reason: null } | { pick: null; reason: string };

/**
 * Pick the pixel `id`, or say why not: the pixel has no 3D point (not valid, a non-finite point, or a depth
 * that is 0 or not finite: "no depth at (u, v) in frame F: pick another pixel"), or its confidence is below
 * the threshold the view hides points under. Frame numbers are absolute frame indices.
 * @param confThreshold the inspector's confidence threshold (0: any confidence).
 */
export function pickPixel(r: Reconstruction, id: number, confThreshold = 0): PickResult {
  const hw = r.h * r.w;
  if (!Number.isInteger(id) || id < 0 || id >= r.n * hw) return { pick: null, reason: 'that pixel is outside the reconstruction: pick inside the frame' };
  const framePos = Math.floor(id / hw);
  const v = Math.floor((id - framePos * hw) / r.w);
  const u = id - framePos * hw - v * r.w;
  const where = `(${u}, ${v}) in frame ${r.frameIndices[framePos]}`;
  const depth = r.depth ? r.depth[id]! : null;
  const p = pickAt(r, id);
  if (!p || (r.valid && !r.valid[id]) || (depth !== null && !(Number.isFinite(depth) && depth > 0))) {
    return { pick: null, reason: `no depth at ${where}: pick another pixel` };
  }
  if (r.confidence && confThreshold > 0 && !(r.confidence[id]! >= confThreshold)) {
    return {
      pick: null,
      reason: `the depth at ${where} has confidence ${r.confidence[id]!.toFixed(2)}, below the threshold ${confThreshold.toFixed(2)}: pick another pixel or lower the threshold`,
    };
  }
  return { pick: p, reason: null };
}

/** Euclidean distance, metres. */
export function distance(a: Vec3, b: Vec3): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** The angle at `b` between the rays b→a and b→c, degrees (NaN when a point coincides with b). */
export function angleDeg(a: Vec3, b: Vec3, c: Vec3): number {
  const u: Vec3 = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const w: Vec3 = [c[0] - b[0], c[1] - b[1], c[2] - b[2]];
  const nu = Math.hypot(...u), nw = Math.hypot(...w);
  if (nu === 0 || nw === 0) return NaN;
  const cos = (u[0] * w[0] + u[1] * w[1] + u[2] * w[2]) / (nu * nw);
  return (Math.acos(Math.min(1, Math.max(-1, cos))) * 180) / Math.PI;
}

/** A float written for Python: up to 9 significant digits (float32 round-trips), no exponent noise for 0. */
export function pyFloat(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'np.nan' : x > 0 ? 'np.inf' : '-np.inf';
  if (x === 0) return '0.0';
  const s = String(Number(x.toPrecision(9)));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * The picks as a Python snippet: `picks = np.array([[x, y, z], ...])` with one comment line per pick
 * (frame, pixel, depth, confidence), plus the distance (2 picks) or the angle at the middle pick (3 picks).
 */
export function picksToPython(picks: Pick[], artifactId: string, varName = 'picks'): string {
  const lines = [`# ${picks.length} point(s) picked in artifact ${artifactId}: world frame, metres`];
  picks.forEach((p, i) => {
    const extra = [p.depth !== null ? `depth ${p.depth.toFixed(4)} m` : null, p.confidence !== null ? `confidence ${p.confidence.toFixed(3)}` : null].filter(Boolean);
    lines.push(`# [${i}] frame ${p.frame}, pixel (u=${p.u}, v=${p.v})${extra.length ? ', ' + extra.join(', ') : ''}`);
  });
  lines.push(`${varName} = np.array([`);
  for (const p of picks) lines.push(`    [${p.world.map(pyFloat).join(', ')}],`);
  lines.push('])');
  if (picks.length === 2) lines.push(`# distance: ${distance(picks[0]!.world, picks[1]!.world).toFixed(6)} m = np.linalg.norm(${varName}[1] - ${varName}[0])`);
  if (picks.length === 3) lines.push(`# angle at [1]: ${angleDeg(picks[0]!.world, picks[1]!.world, picks[2]!.world).toFixed(3)} degrees`);
  return lines.join('\n') + '\n';
}

/**
 * A binary little-endian PLY of coloured points: `float x, y, z` and `uchar red, green, blue` per vertex.
 * @param positions (count*3) float32, metres.
 * @param colors (count*3) uint8 RGB.
 * @param comment a header comment (e.g. the artifact id and frame).
 */
export function buildPly(positions: Float32Array, colors: Uint8Array, comment?: string): Uint8Array {
  const n = positions.length / 3;
  if (!Number.isInteger(n) || colors.length !== n * 3) throw new Error(`PLY export: ${positions.length} coordinates and ${colors.length} colour bytes do not describe the same points`);
  const header = [
    'ply',
    'format binary_little_endian 1.0',
    ...(comment ? [`comment ${comment.replace(/[\r\n]+/g, ' ')}`] : []),
    `element vertex ${n}`,
    'property float x',
    'property float y',
    'property float z',
    'property uchar red',
    'property uchar green',
    'property uchar blue',
    'end_header',
    '',
  ].join('\n');
  const head = new TextEncoder().encode(header);
  const out = new Uint8Array(head.length + n * 15);
  out.set(head, 0);
  const dv = new DataView(out.buffer, head.length);
  for (let i = 0; i < n; i++) {
    const o = i * 15;
    dv.setFloat32(o, positions[i * 3]!, true);
    dv.setFloat32(o + 4, positions[i * 3 + 1]!, true);
    dv.setFloat32(o + 8, positions[i * 3 + 2]!, true);
    dv.setUint8(o + 12, colors[i * 3]!);
    dv.setUint8(o + 13, colors[i * 3 + 1]!);
    dv.setUint8(o + 14, colors[i * 3 + 2]!);
  }
  return out;
}
