/**
 * The 3D view: an on-demand Canvas (`frameloop="demand"`: frames are drawn only after a change), orbit
 * controls, the scene, and GPU picking on click (pick) and pointer rest (hover).
 */
import { OrbitControls } from '@react-three/drei';
import { Canvas, useThree } from '@react-three/fiber';
import { useEffect, useMemo, useRef, type JSX } from 'react';
import * as THREE from 'three';
import { robustBounds } from './cloud.ts';
import type { Reconstruction } from './recon.ts';
import { applyView, describeCamera, initialView, lookThroughView, type OrbitLike, type ViewPose } from './view.ts';
import { GpuPicker } from './picking.ts';
import { CLOUD_NAME, ReconstructionScene, type Cloud, type ReconstructionSceneProps } from './Scene.tsx';

/** Handles for screenshots (render now and read the canvas) and for the view buttons. */
export interface ViewerHandle {
  gl: THREE.WebGLRenderer;
  scene: THREE.Scene;
  camera: THREE.Camera;
  /** Back to the initial framing (the whole cloud from behind and above). */
  resetView: () => void;
  /** Look through the camera of frame position f (its pose and vertical field of view). */
  lookThrough: (f: number) => void;
  /** Where the viewer camera is and looks now (position, unit direction, up, vertical fov in degrees). */
  describe: () => ReturnType<typeof describeCamera>;
}

export interface Viewer3DProps extends Omit<ReconstructionSceneProps, 'onCloud' | 'sceneSize'> {
  /** Called with the global pixel id of a clicked point. */
  onPick: (id: number) => void;
  /** Called with the global pixel id under the resting pointer, or null. */
  onHover: (id: number | null) => void;
  onCloud: (cloud: Cloud) => void;
  onReady?: (h: ViewerHandle) => void;
}

function PickHandler({ cloudRef, pointSize, onPick, onHover }: { cloudRef: React.RefObject<Cloud | null>; pointSize: number; onPick: (id: number) => void; onHover: (id: number | null) => void }): null {
  const gl = useThree((s) => s.gl);
  const camera = useThree((s) => s.camera);
  const scene = useThree((s) => s.scene);
  const handlers = useRef({ onPick, onHover, pointSize });
  useEffect(() => {
    handlers.current = { onPick, onHover, pointSize };
  });
  useEffect(() => {
    const picker = new GpuPicker();
    const el = gl.domElement;
    const at = (e: PointerEvent): number | null => {
      const cloud = cloudRef.current;
      const obj = scene.getObjectByName(CLOUD_NAME) as THREE.Points | undefined;
      if (!cloud || !obj) return null;
      const rect = el.getBoundingClientRect();
      const dpr = gl.getPixelRatio();
      const i = picker.pick(gl, camera, obj, e.clientX - rect.left, e.clientY - rect.top, rect.width, rect.height, handlers.current.pointSize / dpr + 4);
      return i >= 0 && i < cloud.selection.ids.length ? cloud.selection.ids[i]! : null;
    };
    let down: { x: number; y: number } | null = null;
    let hoverTimer: ReturnType<typeof setTimeout> | null = null;
    const onDown = (e: PointerEvent) => {
      down = { x: e.clientX, y: e.clientY };
    };
    const onUp = (e: PointerEvent) => {
      if (!down || e.button !== 0) return;
      const moved = Math.hypot(e.clientX - down.x, e.clientY - down.y);
      down = null;
      if (moved > 4) return;
      const id = at(e);
      if (id !== null) handlers.current.onPick(id);
    };
    const onMove = (e: PointerEvent) => {
      if (hoverTimer) clearTimeout(hoverTimer);
      if (e.buttons) return; // dragging: no hover picks
      hoverTimer = setTimeout(() => handlers.current.onHover(at(e)), 120);
    };
    const onLeave = () => {
      if (hoverTimer) clearTimeout(hoverTimer);
      handlers.current.onHover(null);
    };
    el.addEventListener('pointerdown', onDown);
    el.addEventListener('pointerup', onUp);
    el.addEventListener('pointermove', onMove);
    el.addEventListener('pointerleave', onLeave);
    return () => {
      if (hoverTimer) clearTimeout(hoverTimer);
      el.removeEventListener('pointerdown', onDown);
      el.removeEventListener('pointerup', onUp);
      el.removeEventListener('pointermove', onMove);
      el.removeEventListener('pointerleave', onLeave);
      picker.dispose();
    };
  }, [gl, camera, scene, cloudRef]);
  return null;
}

function Ready({ onReady, recon, initial, size }: { onReady?: (h: ViewerHandle) => void; recon: Reconstruction; initial: ViewPose; size: number }): null {
  const gl = useThree((s) => s.gl);
  const scene = useThree((s) => s.scene);
  const camera = useThree((s) => s.camera);
  const get = useThree((s) => s.get);
  const invalidate = useThree((s) => s.invalidate);
  useEffect(() => {
    // The orbit controls register themselves as the default controls after mount: read them when used.
    const show = (v: ViewPose) => {
      if (!(camera instanceof THREE.PerspectiveCamera)) return;
      applyView(camera, (get().controls as unknown as OrbitLike | null) ?? null, v);
      invalidate();
    };
    onReady?.({
      gl,
      scene,
      camera,
      resetView: () => show(initial),
      // A frame without depth in front of its camera orbits around a point a quarter of the scene ahead.
      lookThrough: (f) => show(lookThroughView(recon, f, Math.max(0.5, size * 0.25))),
      describe: () => describeCamera(camera as THREE.PerspectiveCamera),
    });
  }, [gl, scene, camera, get, invalidate, onReady, recon, initial, size]);
  return null;
}

/** The 3D view of a reconstruction (mount with a `key` per artifact: the camera is framed once). */
export function Viewer3D(props: Viewer3DProps): JSX.Element {
  const { recon, onPick, onHover, onCloud, onReady, ...scene } = props;
  const cloudRef = useRef<Cloud | null>(null);
  // Frame the whole reconstruction once: looking at its centre from behind and above (towards -Z).
  const fit = useMemo(() => {
    const n = recon.n * recon.h * recon.w;
    const step = Math.max(1, Math.floor(n / 200_000));
    const sample: number[] = [];
    for (let i = 0; i < n; i += step) {
      const o = i * 3;
      const x = recon.points[o]!, y = recon.points[o + 1]!, z = recon.points[o + 2]!;
      if (Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(z)) sample.push(x, y, z);
    }
    return robustBounds(Float32Array.from(sample));
  }, [recon]);
  const d = fit.size;
  const initial = useMemo(() => initialView(fit.center, fit.size), [fit]);
  const [cx, cy, cz] = initial.target;
  const handleCloud = (c: Cloud) => {
    cloudRef.current = c;
    onCloud(c);
  };
  return (
    <Canvas
      data-testid="inspector-canvas"
      frameloop="demand"
      dpr={[1, 2]}
      gl={{ antialias: false, preserveDrawingBuffer: true }}
      camera={{ position: initial.position, fov: initial.fov, near: Math.max(1e-3, d / 2000), far: d * 50 }}
      onCreated={({ camera }) => camera.lookAt(cx, cy, cz)}
    >
      <color attach="background" args={['#14161b']} />
      <OrbitControls makeDefault target={[cx, cy, cz]} enableDamping={false} />
      <ReconstructionScene {...scene} recon={recon} sceneSize={d} onCloud={handleCloud} />
      <PickHandler cloudRef={cloudRef} pointSize={props.pointSize ?? 2} onPick={onPick} onHover={onHover} />
      <Ready onReady={onReady} recon={recon} initial={initial} size={d} />
    </Canvas>
  );
}
