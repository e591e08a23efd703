/**
 * The inspector's scene graph (@react-three/test-renderer): one merged Points object with the expected
 * vertex count after the budget, one frustum per visible frame, grid and axes; toggles change the counts.
 */
import ReactThreeTestRenderer from '@react-three/test-renderer';
import * as THREE from 'three';
import { describe, expect, it } from 'vitest';
import { CLOUD_NAME, ReconstructionScene, type Cloud } from '../../renderer/src/inspector/Scene.tsx';
import type { Reconstruction } from '../../renderer/src/inspector/recon.ts';

/** N frames of H x W: a tilted plane in front of each camera; confidence ramps with u; some pixels invalid. */
function synthetic(n: number, h: number, w: number): Reconstruction {
  const points = new Float32Array(n * h * w * 3);
  const confidence = new Float32Array(n * h * w);
  const valid = new Uint8Array(n * h * w);
  const colors = new Uint8Array(n * h * w * 3);
  const intrinsics = new Float64Array(n * 9);
  const extrinsics = new Float64Array(n * 16);
  for (let f = 0; f < n; f++) {
    intrinsics.set([50, 0, w / 2, 0, 50, h / 2, 0, 0, 1], f * 9);
    // Camera f at x = f, 1.5 m high, looking toward -Z (OpenCV axes: x right, y down, z forward).
    extrinsics.set([1, 0, 0, f, 0, -1, 0, 1.5, 0, 0, -1, 0, 0, 0, 0, 1], f * 16);
    for (let v = 0; v < h; v++) {
      for (let u = 0; u < w; u++) {
        const i = (f * h + v) * w + u;
        const ok = (u + v + f) % 7 !== 0;
        valid[i] = ok ? 1 : 0;
        confidence[i] = u / (w - 1);
        points.set(ok ? [f + (u - w / 2) * 0.05, 1.5 - (v - h / 2) * 0.05, -2 - 0.01 * u] : [NaN, NaN, NaN], i * 3);
        colors.set([u * 10, v * 10, f * 60], i * 3);
      }
    }
  }
  return { n, h, w, frameIndices: Array.from({ length: n }, (_, f) => 10 + f * 5), points, colors, confidence, valid, depth: null, intrinsics, extrinsics };
}

// React's act() environment flag, as @testing-library sets it.
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const recon = synthetic(3, 12, 16);
const validCount = (frames: number[], thr = 0) => {
  let c = 0;
  for (const f of frames)
    for (let i = f * 192; i < (f + 1) * 192; i++) if (recon.valid![i] && recon.confidence![i]! >= thr) c++;
  return c;
};

type Props = Partial<Parameters<typeof ReconstructionScene>[0]>;
const scene = (p: Props, onCloud?: (c: Cloud) => void) => (
  <ReconstructionScene recon={recon} visible={[true, true, true]} confThreshold={0} budget={2_000_000} colorMode="rgb" sceneSize={4} onCloud={onCloud} {...p} />
);

function summary(root: THREE.Object3D) {
  const points: THREE.Points[] = [];
  const frustums: THREE.Object3D[] = [];
  root.traverse((o) => {
    if (o instanceof THREE.Points) points.push(o);
    if (o.name.startsWith('frustum-')) frustums.push(o);
  });
  return {
    points: points.map((p) => ({ name: p.name, count: p.geometry.getAttribute('position').count, colors: p.geometry.getAttribute('color').count })),
    frustums: frustums.map((f) => f.name).sort(),
    images: frustums.filter((f) => f.children.some((c) => c instanceof THREE.Mesh)).length,
    grid: root.getObjectByName('floor-grid') instanceof THREE.GridHelper,
    axes: root.getObjectByName('world-axes') instanceof THREE.AxesHelper,
    picks: ['pick-0', 'pick-1', 'pick-2'].filter((n) => root.getObjectByName(n)).length,
    pickLines: !!root.getObjectByName('pick-lines'),
  };
}

describe('inspector scene graph', () => {
  it('draws one merged cloud of every valid point, a frustum with image per frame, grid and axes', async () => {
    let cloud: Cloud | null = null;
    const r = await ReactThreeTestRenderer.create(scene({}, (c) => (cloud = c)));
    const s = summary(r.scene.instance);
    const all = validCount([0, 1, 2]);
    expect(all).toBeGreaterThan(400);
    expect(s.points).toEqual([{ name: CLOUD_NAME, count: all, colors: all }]);
    expect(s.frustums).toEqual(['frustum-10', 'frustum-15', 'frustum-20']);
    expect(s.images).toBe(3);
    expect(s).toMatchObject({ grid: true, axes: true, picks: 0, pickLines: false });
    expect(cloud!.selection.ids.length).toBe(all);
    // The floor grid lies in the Y = 0 plane (three's GridHelper is in XZ).
    const grid = r.scene.instance.getObjectByName('floor-grid')!;
    const pos = (grid as THREE.GridHelper).geometry.getAttribute('position');
    for (let i = 0; i < pos.count; i++) expect(pos.getY(i)).toBe(0);
    await r.unmount();
  });

  it('applies the point budget exactly', async () => {
    const r = await ReactThreeTestRenderer.create(scene({ budget: 100 }));
    expect(summary(r.scene.instance).points[0]!.count).toBe(100);
    await r.update(scene({ budget: 37 }));
    expect(summary(r.scene.instance).points[0]!.count).toBe(37);
    await r.unmount();
  });

  it('toggling a frame removes its points and its frustum; the threshold removes low-confidence points', async () => {
    const r = await ReactThreeTestRenderer.create(scene({}));
    await r.update(scene({ visible: [true, false, true] }));
    let s = summary(r.scene.instance);
    expect(s.points[0]!.count).toBe(validCount([0, 2]));
    expect(s.frustums).toEqual(['frustum-10', 'frustum-20']);
    await r.update(scene({ visible: [true, false, true], confThreshold: 0.5 }));
    s = summary(r.scene.instance);
    expect(s.points[0]!.count).toBe(validCount([0, 2], 0.5));
    expect(s.points[0]!.count).toBeLessThan(validCount([0, 2]));
    await r.update(scene({ visible: [false, false, false] }));
    s = summary(r.scene.instance);
    expect(s.points[0]!.count).toBe(0);
    expect(s.frustums).toEqual([]);
    await r.unmount();
  });

  it('hides grid, axes, frustums and images on request and draws pick markers', async () => {
    const r = await ReactThreeTestRenderer.create(
      scene({ showGrid: false, showAxes: false, showImages: false, picks: [[0, 0, 0], [1, 1, 1], [2, 0, 0]], hover: [0, 1, 0] }),
    );
    let s = summary(r.scene.instance);
    expect(s).toMatchObject({ grid: false, axes: false, images: 0, picks: 3, pickLines: true });
    expect(s.frustums.length).toBe(3);
    expect(r.scene.instance.getObjectByName('hover')).toBeDefined();
    await r.update(scene({ showFrustums: false }));
    s = summary(r.scene.instance);
    expect(s.frustums).toEqual([]);
    expect(s.picks).toBe(0);
    await r.unmount();
  });
});
