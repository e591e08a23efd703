/**
 * 2D mask overlays: an RGBA image of one mask frame with instance colours, and each object's pixel area
 * and centroid (for labels). Pure, tested in Node.
 */
import { instanceColor } from './cloud.ts';
import type { Masks } from './recon.ts';

export interface MaskOverlay {
  /** (H, W, 4) RGBA at the mask's resolution; uncovered pixels are transparent. */
  rgba: Uint8ClampedArray;
  width: number;
  height: number;
  /** Per object: covered pixels in this frame. */
  areas: number[];
  /** Per object: the centroid (u, v) in mask pixels, or null when empty. */
  centroids: ([number, number] | null)[];
}

/**
 * The overlay of mask frame `t`. Where objects overlap, the first enabled object wins (as in lifting).
 * @param alpha overlay opacity in [0, 1].
 */
export function maskOverlay(m: Masks, t: number, enabled: boolean[] | undefined, alpha: number): MaskOverlay {
  const hw = m.h * m.w;
  const rgba = new Uint8ClampedArray(hw * 4);
  const areas = new Array<number>(m.k).fill(0);
  const su = new Array<number>(m.k).fill(0);
  const sv = new Array<number>(m.k).fill(0);
  const a = Math.round(Math.min(1, Math.max(0, alpha)) * 255);
  const base = t * m.k * hw;
  for (let k = 0; k < m.k; k++) {
    if (enabled?.[k] === false) continue;
    const [r, g, b] = instanceColor(k);
    const off = base + k * hw;
    for (let p = 0; p < hw; p++) {
      if (!m.data[off + p]) continue;
      const v = Math.floor(p / m.w);
      areas[k]!++;
      su[k]! += p - v * m.w;
      sv[k]! += v;
      const o = p * 4;
      if (rgba[o + 3]) continue;
      rgba[o] = r;
      rgba[o + 1] = g;
      rgba[o + 2] = b;
      rgba[o + 3] = a;
    }
  }
  const centroids = areas.map((n, k) => (n > 0 ? ([su[k]! / n, sv[k]! / n] as [number, number]) : null));
  return { rgba, width: m.w, height: m.h, areas, centroids };
}

/** The first enabled object covering mask pixel (u, v) of frame t, or -1. */
export function maskAt(m: Masks, t: number, u: number, v: number, enabled?: boolean[]): number {
  if (u < 0 || v < 0 || u >= m.w || v >= m.h) return -1;
  const hw = m.h * m.w;
  for (let k = 0; k < m.k; k++) {
    if (enabled?.[k] === false) continue;
    if (m.data[(t * m.k + k) * hw + v * m.w + u]) return k;
  }
  return -1;
}
