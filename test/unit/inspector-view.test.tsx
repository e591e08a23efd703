/**
 * The inspector's view controls, legend and picking feedback (issue 15 papercuts), on synthetic
 * reconstructions: "Look through camera" turns a camera-to-world pose with OpenCV axes into a three.js camera
 * that looks down the expected world axis with the expected up and the intrinsics' vertical field of view, also
 * through the real orbit controls; "Reset view" returns to the initial framing; a pixel without depth (invalid,
 * NaN, depth 0) or below the confidence threshold is refused with a sentence that names the pixel and frame;
 * the legend shows the ramp's range that the colours use; the looked-through camera's frustum is not drawn.
 */
import ReactThreeTestRenderer from '@react-three/test-renderer';
import { renderToStaticMarkup } from 'react-dom/server';
import * as THREE from 'three';
import { OrbitControls } from 'three-stdlib';
import { describe, expect, it } from 'vitest';
import { colorize, colorRange, rampCss, selectPoints } from '../../renderer/src/inspector/cloud.ts';
import { Legend } from '../../renderer/src/inspector/Legend.tsx';
import { pickPixel, pixelId } from '../../renderer/src/inspector/measure.ts';
import type { Masks, Reconstruction } from '../../renderer/src/inspector/recon.ts';
import { ReconstructionScene } from '../../renderer/src/inspector/Scene.tsx';
import { applyView, cameraQuaternion, describeCamera, initialView, lookThroughView, medianDepth, verticalFov } from '../../renderer/src/inspector/view.ts';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** Row-major 4x4 camera-to-world from the camera's OpenCV axes (right, down, forward) in world coordinates and its centre. */
const c2w = (right: number[], down: number[], forward: number[], t: number[]): number[] => [
  right[0]!, down[0]!, forward[0]!, t[0]!,
  right[1]!, down[1]!, forward[1]!, t[1]!,
  right[2]!, down[2]!, forward[2]!, t[2]!,
  0, 0, 0, 1,
];

/**
 * Two frames of 8 x 10 pixels, fy = 20. Frame 0 (index 12): at (1, 1.5, 2), looking toward world -Z, image up =
 * world +Y. Frame 1 (index 30): at the origin, turned to look toward world +X, image up = world +Y. Each pixel's
 * point is 2 m (frame 0) or 3 m (frame 1) in front of its camera; pixel (0, 0) of frame 0 is invalid, (1, 0) has a
 * NaN point, (2, 0) has depth 0; confidence ramps with u.
 */
function recon(): Reconstruction {
  const n = 2, h = 8, w = 10;
  const poses = [c2w([1, 0, 0], [0, -1, 0], [0, 0, -1], [1, 1.5, 2]), c2w([0, 0, 1], [0, -1, 0], [1, 0, 0], [0, 0, 0])];
  const points = new Float32Array(n * h * w * 3);
  const depth = new Float32Array(n * h * w);
  const valid = new Uint8Array(n * h * w).fill(1);
  const confidence = new Float32Array(n * h * w);
  const colors = new Uint8Array(n * h * w * 3).fill(128);
  for (let f = 0; f < n; f++) {
    const E = poses[f]!;
    const d = f === 0 ? 2 : 3;
    for (let v = 0; v < h; v++) {
      for (let u = 0; u < w; u++) {
        const id = (f * h + v) * w + u;
        const x = ((u - w / 2) / 20) * d, y = ((v - h / 2) / 20) * d;
        // world = R [x, y, d] + t
        for (let a = 0; a < 3; a++) points[id * 3 + a] = E[a * 4]! * x + E[a * 4 + 1]! * y + E[a * 4 + 2]! * d + E[a * 4 + 3]!;
        depth[id] = d;
        confidence[id] = u / (w - 1);
      }
    }
  }
  valid[0] = 0;
  points.set([NaN, NaN, NaN], 1 * 3);
  depth[2] = 0;
  const K = [20, 0, 5, 0, 20, 4, 0, 0, 1];
  return { n, h, w, frameIndices: [12, 30], points, colors, confidence, valid, depth, intrinsics: Float64Array.from([...K, ...K]), extrinsics: Float64Array.from(poses.flat()) };
}

const close = (a: number[], b: number[], eps = 1e-6) => a.every((x, i) => Math.abs(x - b[i]!) < eps);

describe('looking through a camera', () => {
  const r = recon();

  it('turns an OpenCV camera-to-world pose into a three.js camera looking down the camera\'s z axis, image up as up', () => {
    const cam = new THREE.PerspectiveCamera();
    const v0 = lookThroughView(r, 0);
    expect(v0.position).toEqual([1, 1.5, 2]);
    expect(close(v0.up, [0, 1, 0])).toBe(true);
    // The orbit centre is on the optical axis at the frame's median depth (2 m).
    expect(close(v0.target, [1, 1.5, 0])).toBe(true);
    applyView(cam, null, v0);
    let d = describeCamera(cam);
    expect(close(d.direction, [0, 0, -1])).toBe(true);
    expect(close(d.up, [0, 1, 0])).toBe(true);
    expect(d.fov).toBeCloseTo((2 * Math.atan(8 / 40) * 180) / Math.PI, 9);

    // Frame 1 looks toward +X: a three.js camera's -Z must point there, its +X (image right) toward +Z.
    applyView(cam, null, lookThroughView(r, 1));
    d = describeCamera(cam);
    expect(close(d.direction, [1, 0, 0])).toBe(true);
    expect(close(d.up, [0, 1, 0])).toBe(true);
    expect(close(d.position, [0, 0, 0])).toBe(true);
    const right = new THREE.Vector3(1, 0, 0).applyQuaternion(cam.quaternion);
    expect(close([right.x, right.y, right.z], [0, 0, 1])).toBe(true);
    // The camera's orientation is exactly the pose's rotation with y and z flipped.
    expect(cam.quaternion.angleTo(cameraQuaternion(r, 1))).toBeLessThan(1e-6);
  });

  it('projects the frame\'s own pixels where the camera saw them (pose, axes and field of view agree)', () => {
    const cam = new THREE.PerspectiveCamera(50, r.w / r.h, 0.01, 100);
    applyView(cam, null, lookThroughView(r, 1));
    for (const [u, v] of [[1, 1], [8, 2], [5, 4], [3, 7]] as const) {
      const id = pixelId(r, 1, u, v);
      const ndc = new THREE.Vector3(r.points[id * 3]!, r.points[id * 3 + 1]!, r.points[id * 3 + 2]!).project(cam);
      // NDC y is up; with the principal point at the image centre the pixel is ((x+1)/2 W, (1-y)/2 H).
      expect(((ndc.x + 1) / 2) * r.w).toBeCloseTo(u, 6);
      expect(((1 - ndc.y) / 2) * r.h).toBeCloseTo(v, 6);
    }
  });

  it('drives the real orbit controls: the camera keeps the pose after the controls update, and Reset view restores the framing', () => {
    const cam = new THREE.PerspectiveCamera(50, 1.5, 0.01, 100);
    const initial = initialView([0, 1, -1], 4);
    cam.position.set(...initial.position);
    const controls = new OrbitControls(cam);
    controls.target.set(...initial.target);
    controls.update();
    const before = describeCamera(cam);

    applyView(cam, controls, lookThroughView(r, 1));
    controls.update(); // what every rendered frame does
    let d = describeCamera(cam);
    expect(close(d.direction, [1, 0, 0])).toBe(true);
    expect(close(d.position, [0, 0, 0])).toBe(true);
    expect(close([controls.target.x, controls.target.y, controls.target.z], [3, 0, 0])).toBe(true);

    applyView(cam, controls, initial);
    controls.update();
    d = describeCamera(cam);
    expect(close(d.position, before.position)).toBe(true);
    expect(close(d.direction, before.direction)).toBe(true);
    expect(close(d.up, before.up)).toBe(true);
    expect(d.fov).toBe(50);
    controls.dispose();
  });

  it('orbits around a fallback distance when the frame has no depth in front of the camera', () => {
    const empty = { ...recon(), valid: new Uint8Array(2 * 8 * 10) };
    expect(medianDepth(empty, 0)).toBeNull();
    expect(lookThroughView(empty, 0, 0.75).target).toEqual([1, 1.5, 2 - 0.75]);
    expect(verticalFov(empty, 0)).toBeCloseTo(22.6199, 3);
  });
});

describe('picking a pixel', () => {
  const r = recon();

  it('refuses a pixel without depth, naming the pixel and the absolute frame', () => {
    expect(pickPixel(r, pixelId(r, 0, 0, 0)).reason).toBe('no depth at (0, 0) in frame 12: pick another pixel'); // not valid
    expect(pickPixel(r, pixelId(r, 0, 1, 0)).reason).toBe('no depth at (1, 0) in frame 12: pick another pixel'); // NaN point
    expect(pickPixel(r, pixelId(r, 0, 2, 0)).reason).toBe('no depth at (2, 0) in frame 12: pick another pixel'); // depth 0
    const ok = pickPixel(r, pixelId(r, 1, 4, 3));
    expect(ok.reason).toBeNull();
    expect(ok.pick).toMatchObject({ frame: 30, u: 4, v: 3, depth: 3 });
  });

  it('refuses a pixel below the confidence threshold the view uses, and says how to get it', () => {
    const low = pickPixel(r, pixelId(r, 1, 2, 3), 0.5);
    expect(low.pick).toBeNull();
    expect(low.reason).toBe('the depth at (2, 3) in frame 30 has confidence 0.22, below the threshold 0.50: pick another pixel or lower the threshold');
    expect(pickPixel(r, pixelId(r, 1, 2, 3), 0).pick).not.toBeNull();
    expect(pickPixel(r, 1e9).reason).toMatch(/outside the reconstruction/);
  });
});

describe('colour legend', () => {
  const r = recon();
  const ids = selectPoints(r).ids;

  it('shows the range the depth colours span, in metres, with the ramp the points use', () => {
    const range = colorRange(r, ids, 'depth')!;
    expect(range[0]).toBe(2);
    expect(range[1]).toBe(3);
    // The colours are made with the same range: the nearest point has the ramp's first colour.
    expect(Array.from(colorize(r, ids, 'depth', null, range).subarray(0, 3))).toEqual([48, 18, 120]);
    const html = renderToStaticMarkup(<Legend recon={r} mode="depth" range={range} masks={null} enabledObjects={[]} showFrustums />);
    expect(html).toMatch(/data-testid="inspector-legend" data-mode="depth" data-min="2" data-max="3"/);
    expect(html).toContain('data-testid="legend-min">2.00 m<');
    expect(html).toContain('data-testid="legend-max">3.00 m<');
    expect(html).toContain(rampCss().replace(/"/g, '&quot;').slice(0, 40));
    expect(colorRange(r, ids, 'rgb')).toBeNull();
    expect(colorRange(r, ids, 'confidence')).toEqual([0, 1]);
  });

  it('says what RGB means, and lists the lifted masks in their colours', () => {
    const masks: Masks = { t: 1, k: 2, h: 8, w: 10, data: new Uint8Array(160), frameIndices: [12], scores: null, labels: ['chair', 'table'] };
    const html = renderToStaticMarkup(<Legend recon={r} mode="rgb" range={null} masks={masks} enabledObjects={[true, false]} showFrustums={false} />);
    expect(html).toContain('each point has its pixel’s colour in the frame');
    expect(html).toMatch(/background:rgb\(230,25,75\)"><\/span> chair/);
    expect(html).not.toContain('table');
    expect(html).toContain('other points dimmed to 30 %');
    const grey = renderToStaticMarkup(<Legend recon={{ ...r, colors: null, confidence: null }} mode="confidence" range={[0, 1]} masks={null} enabledObjects={[]} showFrustums />);
    expect(grey).toContain('no confidence');
  });
});

describe('the looked-through camera in the scene', () => {
  it('is not drawn (its frame image would fill the view); the others are', async () => {
    const r = recon();
    const el = (lookingThrough: number | null) => <ReconstructionScene recon={r} visible={[true, true]} confThreshold={0} budget={1000} colorMode="rgb" sceneSize={4} lookingThrough={lookingThrough} />;
    const t = await ReactThreeTestRenderer.create(el(null));
    const frustums = () => {
      const names: string[] = [];
      t.scene.instance.traverse((o) => o.name.startsWith('frustum-') && names.push(o.name));
      return names.sort();
    };
    expect(frustums()).toEqual(['frustum-12', 'frustum-30']);
    await t.update(el(1));
    expect(frustums()).toEqual(['frustum-12']);
    await t.unmount();
  });
});
