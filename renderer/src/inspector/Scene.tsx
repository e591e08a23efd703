/**
 * The inspector's three.js scene (inside an @react-three/fiber Canvas): one merged `Points` object for the
 * drawn cloud, a frustum (with the frame image on its near plane) per visible frame, the floor grid at
 * Y = 0, world axes, and markers for picks and hover. No controls and no DOM here, so the scene graph is
 * tested with @react-three/test-renderer (test/unit/inspector-scene.test.tsx).
 *
 * World frame: the artifact's (gravity-aligned for the server's backends: +Y up, floor at Y ≈ 0), drawn
 * as is; three.js is also Y-up, so no transform is applied.
 */
import { useThree } from '@react-three/fiber';
import { useCallback, useEffect, useMemo, useRef, type JSX } from 'react';
import * as THREE from 'three';
import { colorize, colorRange, frameRGBA, frustumSegments, frustumCorners, gatherPositions, liftMasks, selectPoints, type ColorMode, type LiftedMasks, type Selection } from './cloud.ts';
import type { Vec3 } from './measure.ts';
import type { Masks, Reconstruction } from './recon.ts';

/** Name of the merged cloud object (the GPU picker finds it by this name). */
export const CLOUD_NAME = 'inspector-cloud';

/** The drawn cloud: selection, positions, colours, lifted masks. */
export interface Cloud {
  selection: Selection;
  positions: Float32Array;
  colors: Uint8Array;
  lifted: LiftedMasks | null;
  /** The colour mode and the [lo, hi] its ramp spans over the drawn points (null for rgb), for the legend. */
  colorMode: ColorMode;
  range: [number, number] | null;
}

export interface CloudOptions {
  visible: boolean[];
  confThreshold: number;
  budget: number;
  colorMode: ColorMode;
  /** Masks to lift onto the cloud (same frames as the reconstruction), or null. */
  masks?: Masks | null;
  /** Per object: lifted or not. */
  enabledObjects?: boolean[];
}

/** Select, gather and colour the drawn points (memoised on the inputs that matter). */
export function useCloud(recon: Reconstruction, o: CloudOptions): Cloud {
  const visKey = o.visible.map((v) => (v ? 1 : 0)).join('');
  const selection = useMemo(
    () => selectPoints(recon, { visible: o.visible, confThreshold: o.confThreshold, budget: o.budget }),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- visKey stands for o.visible
    [recon, visKey, o.confThreshold, o.budget],
  );
  const positions = useMemo(() => gatherPositions(recon, selection.ids), [recon, selection]);
  const enabledKey = (o.enabledObjects ?? []).map((v) => (v ? 1 : 0)).join('');
  const lifted = useMemo(
    () => (o.masks ? liftMasks(recon, o.masks, selection.ids, o.enabledObjects) : null),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- enabledKey stands for o.enabledObjects
    [recon, o.masks, selection, enabledKey],
  );
  const range = useMemo(() => colorRange(recon, selection.ids, o.colorMode), [recon, selection, o.colorMode]);
  const colors = useMemo(() => colorize(recon, selection.ids, o.colorMode, lifted, range), [recon, selection, o.colorMode, lifted, range]);
  const colorMode = o.colorMode;
  return useMemo(() => ({ selection, positions, colors, lifted, colorMode, range }), [selection, positions, colors, lifted, colorMode, range]);
}

/** The merged point cloud. Geometry is rebuilt when the arrays change and disposed when replaced. */
export function PointCloud({ positions, colors, pointSize, onDrawn }: { positions: Float32Array; colors: Uint8Array; pointSize: number; onDrawn?: (count: number) => void }): JSX.Element {
  const invalidate = useThree((s) => s.invalidate);
  const geometry = useMemo(() => {
    const g = new THREE.BufferGeometry();
    g.setAttribute('position', new THREE.BufferAttribute(positions, 3));
    g.setAttribute('color', new THREE.BufferAttribute(colors, 3, true));
    g.computeBoundingSphere();
    return g;
  }, [positions, colors]);
  const material = useMemo(() => new THREE.PointsMaterial({ size: pointSize, sizeAttenuation: false, vertexColors: true }), [pointSize]);
  useEffect(() => {
    invalidate();
    return () => geometry.dispose();
  }, [geometry, invalidate]);
  useEffect(() => () => material.dispose(), [material]);
  const reported = useRef<Float32Array | null>(null);
  const onAfterRender = useCallback(() => {
    if (reported.current === positions || !onDrawn) return;
    reported.current = positions;
    onDrawn(positions.length / 3);
  }, [positions, onDrawn]);
  return <points name={CLOUD_NAME} geometry={geometry} material={material} frustumCulled={false} userData={{ count: positions.length / 3 }} onAfterRender={onAfterRender} />;
}

/** A camera frustum (lines) with the frame image on a quad at the frustum's far end. */
export function Frustum({ recon, frame, depth, selected, showImage }: { recon: Reconstruction; frame: number; depth: number; selected: boolean; showImage: boolean }): JSX.Element {
  const lines = useMemo(() => {
    const g = new THREE.BufferGeometry();
    g.setAttribute('position', new THREE.BufferAttribute(frustumSegments(recon, frame, depth), 3));
    return g;
  }, [recon, frame, depth]);
  const quad = useMemo(() => {
    const { corners } = frustumCorners(recon, frame, depth);
    const g = new THREE.BufferGeometry();
    g.setAttribute('position', new THREE.BufferAttribute(Float32Array.from(corners.flat()), 3));
    // Corners are TL, TR, BR, BL; texture row 0 is the top of the image (flipY false).
    g.setAttribute('uv', new THREE.BufferAttribute(new Float32Array([0, 0, 1, 0, 1, 1, 0, 1]), 2));
    g.setIndex([0, 3, 2, 0, 2, 1]);
    return g;
  }, [recon, frame, depth]);
  const texture = useMemo(() => {
    if (!showImage) return null;
    const img = frameRGBA(recon, frame, 256);
    if (!img) return null;
    const t = new THREE.DataTexture(new Uint8Array(img.data.buffer), img.width, img.height, THREE.RGBAFormat);
    t.colorSpace = THREE.SRGBColorSpace;
    t.flipY = false;
    t.needsUpdate = true;
    return t;
  }, [recon, frame, showImage]);
  useEffect(() => () => lines.dispose(), [lines]);
  useEffect(() => () => quad.dispose(), [quad]);
  useEffect(() => () => texture?.dispose(), [texture]);
  return (
    <group name={`frustum-${recon.frameIndices[frame]}`} userData={{ frame: recon.frameIndices[frame] }}>
      <lineSegments geometry={lines}>
        <lineBasicMaterial color={selected ? '#ffd400' : '#ff7a3d'} />
      </lineSegments>
      {texture && (
        <mesh geometry={quad}>
          <meshBasicMaterial map={texture} side={THREE.DoubleSide} transparent opacity={0.85} depthWrite={false} toneMapped={false} />
        </mesh>
      )}
    </group>
  );
}

/** A small sphere marker in world coordinates. */
function Marker({ at, size, color, name }: { at: Vec3; size: number; color: string; name: string }): JSX.Element {
  return (
    <mesh name={name} position={at} renderOrder={10}>
      <sphereGeometry args={[size, 12, 8]} />
      <meshBasicMaterial color={color} depthTest={false} transparent />
    </mesh>
  );
}

export interface ReconstructionSceneProps extends CloudOptions {
  recon: Reconstruction;
  pointSize?: number;
  showFrustums?: boolean;
  showImages?: boolean;
  showGrid?: boolean;
  showAxes?: boolean;
  /** Frame position shown in the 2D view (its frustum is highlighted). */
  selectedFrame?: number;
  /** Frame position whose camera the view looks through: its frustum (and image) is not drawn, it would fill the view. */
  lookingThrough?: number | null;
  /** Frustum length and marker size scale with the scene size (metres). */
  sceneSize?: number;
  picks?: Vec3[];
  hover?: Vec3 | null;
  /** Called with the drawn cloud whenever it changes (for picking and readouts). */
  onCloud?: (cloud: Cloud) => void;
  /** Called once per new cloud when it has first been drawn (after the draw call was issued). */
  onCloudDrawn?: (count: number) => void;
}

/** Everything drawn for a reconstruction. */
export function ReconstructionScene(p: ReconstructionSceneProps): JSX.Element {
  const cloud = useCloud(p.recon, p);
  const { onCloud } = p;
  useEffect(() => {
    onCloud?.(cloud);
  }, [cloud, onCloud]);
  const invalidate = useThree((s) => s.invalidate);
  const size = p.sceneSize ?? 4;
  const frustumDepth = Math.min(0.5, size * 0.06);
  const markerSize = size * 0.004;
  useEffect(() => {
    invalidate();
  });
  return (
    <>
      <PointCloud positions={cloud.positions} colors={cloud.colors} pointSize={p.pointSize ?? 2} onDrawn={p.onCloudDrawn} />
      {p.showFrustums !== false &&
        p.visible.map((vis, f) =>
          vis && f !== p.lookingThrough ? <Frustum key={f} recon={p.recon} frame={f} depth={frustumDepth} selected={f === p.selectedFrame} showImage={p.showImages !== false} /> : null,
        )}
      {p.showGrid !== false && <gridHelper name="floor-grid" args={[Math.max(10, Math.ceil(size * 2)), Math.max(10, Math.ceil(size * 2)), '#666666', '#3a3a3a']} />}
      {p.showAxes !== false && <axesHelper name="world-axes" args={[Math.max(0.5, size * 0.15)]} />}
      {(p.picks ?? []).map((w, i) => (
        <Marker key={i} name={`pick-${i}`} at={w} size={markerSize * 1.5} color="#ff2d55" />
      ))}
      {p.picks && p.picks.length >= 2 && <PickLines picks={p.picks} />}
      {p.hover && <Marker name="hover" at={p.hover} size={markerSize} color="#00e5ff" />}
    </>
  );
}

function PickLines({ picks }: { picks: Vec3[] }): JSX.Element {
  const line = useMemo(() => {
    const geo = new THREE.BufferGeometry();
    geo.setAttribute('position', new THREE.BufferAttribute(Float32Array.from(picks.flat()), 3));
    const l = new THREE.Line(geo, new THREE.LineBasicMaterial({ color: '#ff2d55', depthTest: false }));
    l.name = 'pick-lines';
    l.renderOrder = 9;
    return l;
  }, [picks]);
  useEffect(
    () => () => {
      line.geometry.dispose();
      (line.material as THREE.Material).dispose();
    },
    [line],
  );
  return <primitive object={line} />;
}
