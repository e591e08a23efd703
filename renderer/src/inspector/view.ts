/**
 * Viewpoints of the 3D view: the initial framing ("Reset view") and looking through one frame's camera
 * ("Look through camera"). Pure three.js math (no DOM, no React), tested in Node
 * (test/unit/inspector-view.test.ts).
 *
 * Frames: the world is the artifact's (metres; +Y up for the server's backends). `extrinsics[f]` is
 * camera-to-world with OpenCV camera axes (x right, y down, z forward); a three.js camera has x right, y up and
 * looks down its −z. So the three.js camera's orientation in the world is R_three = R_cv · diag(1, −1, −1):
 * its x axis is the OpenCV x, its y axis is −y_cv (up in the image), its z axis is −z_cv (it looks down z_cv).
 */
import * as THREE from 'three';
import type { Vec3 } from './measure.ts';
import { pointDepth } from './cloud.ts';
import type { Reconstruction } from './recon.ts';

/** A viewpoint: where the camera is, what it orbits around, its up direction and vertical field of view. */
export interface ViewPose {
  /** Camera position, world metres. */
  position: Vec3;
  /** The orbit centre (what the camera looks at), world metres. */
  target: Vec3;
  /** The camera's up direction in the world (unit). */
  up: Vec3;
  /** Vertical field of view, degrees. */
  fov: number;
}

/** The vertical field of view of the initial framing, degrees. */
export const INITIAL_FOV = 50;

/** The initial framing: the cloud's centre seen from behind and above (+Z side, raised), +Y up. */
export function initialView(center: Vec3, size: number): ViewPose {
  const [cx, cy, cz] = center;
  return { position: [cx, cy + size * 0.45, cz + size * 0.9], target: [cx, cy, cz], up: [0, 1, 0], fov: INITIAL_FOV };
}

/** The vertical field of view of frame position f from its intrinsics: 2·atan(H / (2·fy)), degrees. */
export function verticalFov(r: Reconstruction, f: number): number {
  const fy = r.intrinsics[f * 9 + 4]!;
  return (2 * Math.atan(r.h / (2 * fy)) * 180) / Math.PI;
}

/** Column c (0..2) of frame f's rotation (camera-to-world): the camera's OpenCV axis c in world coordinates, unit length. */
function axis(r: Reconstruction, f: number, c: number): THREE.Vector3 {
  const E = r.extrinsics;
  const o = f * 16;
  return new THREE.Vector3(E[o + c]!, E[o + 4 + c]!, E[o + 8 + c]!).normalize();
}

/**
 * The orientation of a three.js camera that looks through frame f's camera (R_three = R_cv · diag(1, −1, −1)),
 * re-orthonormalised (a pose with a little scale or skew still gives a rotation).
 */
export function cameraQuaternion(r: Reconstruction, f: number): THREE.Quaternion {
  const forward = axis(r, f, 2);
  const x = axis(r, f, 0);
  const down = new THREE.Vector3().crossVectors(forward, x).normalize(); // y_cv = z × x
  const right = new THREE.Vector3().crossVectors(down, forward).normalize(); // x_cv = y × z
  const basis = new THREE.Matrix4().makeBasis(right, down.clone().negate(), forward.clone().negate());
  return new THREE.Quaternion().setFromRotationMatrix(basis);
}

/**
 * The median depth (along the camera's z axis, metres) of frame f's finite points, from at most ~4,096
 * pixels; null when the frame has none in front of the camera.
 */
export function medianDepth(r: Reconstruction, f: number): number | null {
  const hw = r.h * r.w;
  const stride = Math.max(1, Math.floor(hw / 4096));
  const depths: number[] = [];
  for (let p = 0; p < hw; p += stride) {
    const id = f * hw + p;
    if (r.valid && !r.valid[id]) continue;
    const d = pointDepth(r, id);
    if (Number.isFinite(d) && d > 0) depths.push(d);
  }
  if (!depths.length) return null;
  depths.sort((a, b) => a - b);
  return depths[Math.floor(depths.length / 2)]!;
}

/**
 * The viewpoint of frame position f's camera: at its centre, looking down its z axis with its up (−y) as up,
 * with the vertical field of view of its intrinsics. The orbit centre is on the optical axis at the frame's
 * median depth (else `fallbackDistance`), so orbiting afterwards turns around what the camera looked at.
 */
export function lookThroughView(r: Reconstruction, f: number, fallbackDistance = 1): ViewPose {
  const E = r.extrinsics;
  const o = f * 16;
  const position: Vec3 = [E[o + 3]!, E[o + 7]!, E[o + 11]!];
  const forward = axis(r, f, 2);
  const up = new THREE.Vector3(0, 1, 0).applyQuaternion(cameraQuaternion(r, f));
  const d = medianDepth(r, f) ?? fallbackDistance;
  return {
    position,
    target: [position[0] + forward.x * d, position[1] + forward.y * d, position[2] + forward.z * d],
    up: [up.x, up.y, up.z],
    fov: verticalFov(r, f),
  };
}

/** What the orbit controls expose to a view change. */
export interface OrbitLike {
  target: THREE.Vector3;
  update: () => unknown;
}

/**
 * Put a camera at a viewpoint: position, up, field of view, and the orbit centre (with the controls, which then
 * aim the camera at it; without, the camera aims itself). The camera ends up looking from `position` at
 * `target` with `up` as its up direction.
 */
export function applyView(camera: THREE.PerspectiveCamera, controls: OrbitLike | null, v: ViewPose): void {
  camera.up.set(...v.up);
  camera.position.set(...v.position);
  camera.fov = v.fov;
  camera.updateProjectionMatrix();
  if (controls) {
    controls.target.set(...v.target);
    controls.update();
  }
  camera.lookAt(...v.target);
  camera.updateMatrixWorld();
}

/** Where a camera is and where it looks (for the test hook): position, unit view direction, up, vertical fov. */
export function describeCamera(camera: THREE.PerspectiveCamera): { position: Vec3; direction: Vec3; up: Vec3; fov: number } {
  camera.updateMatrixWorld();
  const d = camera.getWorldDirection(new THREE.Vector3());
  const u = new THREE.Vector3(0, 1, 0).applyQuaternion(camera.quaternion);
  const p = camera.position;
  return { position: [p.x, p.y, p.z], direction: [d.x, d.y, d.z], up: [u.x, u.y, u.z], fov: camera.fov };
}
