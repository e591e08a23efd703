/**
 * The 3D inspector (docs/inspector.md): opens a reconstruction or masks artifact of a run's sample, draws
 * the point cloud with camera frustums, lifts masks onto it, and picks/measures points. Data comes only
 * through the workbench contract (see load.ts).
 *
 * Test hooks: `data-testid` on the panel (`inspector`, with `data-state` loading | ready | error), the
 * stats line (`inspector-stats`, `data-drawn`, `data-eligible`), picks (`pick-<i>` with `data-frame`,
 * `data-u`, `data-v`, `data-x`, `data-y`, `data-z`), `measure-distance` (`data-metres`), `measure-angle`
 * (`data-degrees`), `pick-message` (why a pixel could not be picked), `inspector-legend`; and
 * `window.__scInspector` (timings, `measureFrames` for the benchmark, `camera()` for the view buttons).
 */
import { useCallback, useEffect, useMemo, useRef, useState, type JSX } from 'react';
import type { WorkbenchApi } from '../../../shared/api.ts';
import type { ArtifactRef } from '../../../shared/workbench.ts';
import { colorize, COLOR_MODES, DEFAULT_BUDGET, frameRGBA, instanceColor, liftMasks, selectPoints, type ColorMode } from './cloud.ts';
import { FrameView, type FrameImage } from './FrameView.tsx';
import { loadArtifact, type LoadedArtifact } from './load.ts';
import { maskOverlay } from './masks2d.ts';
import { Legend } from './Legend.tsx';
import { angleDeg, buildPly, distance, pickAt, pickPixel, picksToPython, pixelId, type Pick } from './measure.ts';
import type { Cloud } from './Scene.tsx';
import { Viewer3D, type ViewerHandle } from './Viewer3D.tsx';
import './inspector.css';

/** Props of the inspector (see index.ts). */
export interface InspectorProps {
  api: WorkbenchApi;
  artifact: ArtifactRef;
  kind: string;
  label?: string;
  onClose: () => void;
  onInsertCode?: (code: string) => void;
}

/** Timings and hooks for tests and the benchmark (`window.__scInspector`). */
export interface InspectorProbe {
  openedAt: number;
  loadedAt: number | null;
  firstDrawnAt: number | null;
  drawn: number;
  /** Render `n` frames synchronously (each waits for the GPU via a 1-pixel read); ms per frame. `empty`: an empty scene, same camera. */
  measureFrames: ((n: number, empty?: boolean) => number[]) | null;
  /** The 3D view's camera now: position (world metres), unit view direction, up, vertical fov (degrees). */
  camera: (() => { position: [number, number, number]; direction: [number, number, number]; up: [number, number, number]; fov: number }) | null;
}

declare global {
  interface Window {
    __scInspector?: InspectorProbe;
  }
}

function download(bytes: Uint8Array | string, name: string, type: string): void {
  const url = typeof bytes === 'string' ? bytes : URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  if (typeof bytes !== 'string') setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '–');

export function Inspector(props: InspectorProps): JSX.Element {
  const { artifact } = props;
  return <InspectorPanel key={`${artifact.run_id}/${artifact.sample_id}/${artifact.artifact_id}`} {...props} />;
}

function InspectorPanel(props: InspectorProps): JSX.Element {
  const { api, artifact, kind, onClose } = props;
  const [loaded, setLoaded] = useState<LoadedArtifact | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [progress, setProgress] = useState('starting');
  const key = `${artifact.run_id}/${artifact.sample_id}/${artifact.artifact_id}`;

  useEffect(() => {
    let live = true;
    const probe: InspectorProbe = { openedAt: performance.now(), loadedAt: null, firstDrawnAt: null, drawn: 0, measureFrames: null, camera: null };
    window.__scInspector = probe;
    loadArtifact(api, artifact, kind, (l) => live && setProgress(l)).then(
      (l) => {
        if (!live) return;
        probe.loadedAt = performance.now();
        setLoaded(l);
      },
      (e: unknown) => {
        if (!live) return;
        const err = e as Error & { fix?: string | null };
        setError(`${err.message}${err.fix ? ` — ${err.fix}` : ''}`);
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- one load per mount (the panel is keyed by the artifact)
  }, []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);

  const state = error ? 'error' : loaded ? 'ready' : 'loading';
  return (
    <div className="sc-insp" data-testid="inspector" data-state={state} role="dialog" aria-label="3D inspector">
      <header className="sc-insp-head">
        <strong>{props.label ?? `${kind} ${artifact.artifact_id.slice(0, 8)}`}</strong>
        <span className="sc-insp-dim">
          {loaded?.manifest.backend ? `${loaded.manifest.backend} · ` : ''}
          {kind} · {artifact.artifact_id}
        </span>
        <button className="sc-insp-close" onClick={onClose} aria-label="Close 3D inspector">
          Close
        </button>
      </header>
      {error && (
        <div className="sc-insp-error" role="alert" data-testid="inspector-error">
          Could not open this artifact: {error}
        </div>
      )}
      {!error && !loaded && (
        <div className="sc-insp-loading" data-testid="inspector-status">
          Loading… {progress}
        </div>
      )}
      {loaded && <ArtifactView key={key} loaded={loaded} {...props} />}
    </div>
  );
}

function ArtifactView({ loaded, api, artifact, onInsertCode }: InspectorProps & { loaded: LoadedArtifact }): JSX.Element {
  const { recon, masks } = loaded;
  const frames = recon ? recon.frameIndices : (masks?.frameIndices ?? []);
  const [visible, setVisible] = useState<boolean[]>(() => (recon ? new Array<boolean>(recon.n).fill(true) : []));
  const [confThreshold, setConfThreshold] = useState(0);
  const [budget, setBudget] = useState(DEFAULT_BUDGET);
  const [colorMode, setColorMode] = useState<ColorMode>('rgb');
  const [pointSize, setPointSize] = useState(2);
  const [show, setShow] = useState({ frustums: true, images: true, grid: true, axes: true });
  const [frame, setFrame] = useState<number>(masks?.frameIndices[0] ?? frames[0] ?? 0);
  const [enabled, setEnabled] = useState<boolean[]>(() => new Array<boolean>(masks?.k ?? 0).fill(true));
  const [opacity, setOpacity] = useState(0.5);
  const [lift, setLift] = useState(true);
  const [picks, setPicks] = useState<Pick[]>([]);
  const [hoverId, setHoverId] = useState<number | null>(null);
  const [hoverPixel, setHoverPixel] = useState<{ u: number; v: number } | null>(null);
  const [cloud, setCloud] = useState<Cloud | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  /** Why the last pixel clicked could not be picked (no depth, confidence below the threshold), or null. */
  const [pickMessage, setPickMessage] = useState<string | null>(null);
  /** The camera (frame position) chosen for "Look through camera", and the one the view looks through now. */
  const [lookFrame, setLookFrame] = useState(0);
  const [lookingThrough, setLookingThrough] = useState<number | null>(null);
  const handle = useRef<ViewerHandle | null>(null);

  const framePos = recon ? recon.frameIndices.indexOf(frame) : -1;
  const maskT = masks ? masks.frameIndices.indexOf(frame) : -1;
  const gridW = recon?.w ?? masks?.w ?? 1;
  const gridH = recon?.h ?? masks?.h ?? 1;

  // 2D frame image: from the reconstruction's colors when it has this frame, else a JPEG from the input.
  const [bitmap, setBitmap] = useState<{ frame: number; image: FrameImage } | null>(null);
  const rgba = useMemo<FrameImage>(() => {
    if (!recon || framePos < 0) return null;
    const img = frameRGBA(recon, framePos);
    return img ? { kind: 'rgba', data: img.data, width: img.width, height: img.height } : null;
  }, [recon, framePos]);
  useEffect(() => {
    if (rgba || !loaded.input) return;
    let live = true;
    api
      .call('frameImage', { input: loaded.input, frame_index: frame, max_edge: Math.min(4096, Math.max(gridW, gridH)) })
      .then((bytes) => createImageBitmap(new Blob([bytes as BlobPart], { type: 'image/jpeg' })))
      .then(
        (bm) => live && setBitmap({ frame, image: { kind: 'bitmap', bitmap: bm } }),
        (e: Error) => live && setMessage(`frame ${frame} image: ${e.message}`),
      );
    return () => {
      live = false;
    };
  }, [api, loaded.input, frame, rgba, gridW, gridH]);
  const image = rgba ?? (bitmap?.frame === frame ? bitmap.image : null);
  const overlay = useMemo(() => (masks && maskT >= 0 ? maskOverlay(masks, maskT, enabled, opacity) : null), [masks, maskT, enabled, opacity]);

  const addPick = useCallback(
    (id: number) => {
      if (!recon) return;
      const { pick: p, reason } = pickPixel(recon, id, confThreshold);
      setPickMessage(reason);
      if (!p) return;
      setPicks((old) => (old.length >= 3 ? [p] : [...old, p]));
    },
    [recon, confThreshold],
  );
  const onHover = useCallback(
    (id: number | null) => {
      setHoverId(id);
      if (id !== null && recon) {
        const p = pickAt(recon, id);
        if (p && p.frame !== frame) setFrame(p.frame);
      }
    },
    [recon, frame],
  );
  const hoverFrom2D = hoverPixel && recon && framePos >= 0 ? pickAt(recon, pixelId(recon, framePos, hoverPixel.u, hoverPixel.v)) : null;
  const hoverFrom3D = hoverId !== null && recon ? pickAt(recon, hoverId) : null;
  const cursor = hoverFrom3D && hoverFrom3D.frame === frame ? { u: hoverFrom3D.u, v: hoverFrom3D.v } : null;

  const onReady = useCallback((h: ViewerHandle) => {
    handle.current = h;
    const probe = window.__scInspector;
    if (!probe) return;
    probe.camera = () => h.describe();
    probe.measureFrames = (n: number, empty = false) => {
      const { gl, scene, camera } = h;
      const blank = new (scene.constructor as new () => typeof scene)();
      const px = new Uint8Array(4);
      const ctx = gl.getContext();
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        gl.render(empty ? blank : scene, camera);
        ctx.readPixels(0, 0, 1, 1, ctx.RGBA, ctx.UNSIGNED_BYTE, px);
        out.push(performance.now() - t0);
      }
      return out;
    };
  }, []);
  const onCloudDrawn = useCallback((count: number) => {
    const probe = window.__scInspector;
    if (probe && probe.firstDrawnAt === null && handle.current) {
      // Wait for the GPU to finish the frame before stamping it.
      const ctx = handle.current.gl.getContext();
      ctx.readPixels(0, 0, 1, 1, ctx.RGBA, ctx.UNSIGNED_BYTE, new Uint8Array(4));
      probe.firstDrawnAt = performance.now();
    }
    if (probe) probe.drawn = count;
  }, []);

  const liftedMasks = lift && masks && recon ? masks : null;
  const snippet = picks.length ? picksToPython(picks, loaded.reconRef?.artifact_id ?? artifact.artifact_id) : '';
  const copyPython = async () => {
    onInsertCode?.(snippet);
    try {
      await navigator.clipboard.writeText(snippet);
      setMessage(onInsertCode ? 'copied to the clipboard and inserted into the console' : 'copied to the clipboard');
    } catch {
      setMessage(onInsertCode ? 'inserted into the console (the clipboard is not available here)' : 'the clipboard is not available here; select the snippet below');
    }
  };
  const exportPly = () => {
    if (!recon) return;
    const sel = selectPoints(recon, { visible, confThreshold, budget: Infinity });
    const lifted = liftedMasks ? liftMasks(recon, liftedMasks, sel.ids, enabled) : null;
    const pos = new Float32Array(sel.ids.length * 3);
    for (let i = 0; i < sel.ids.length; i++) pos.set(recon.points.subarray(sel.ids[i]! * 3, sel.ids[i]! * 3 + 3), i * 3);
    const ply = buildPly(pos, colorize(recon, sel.ids, colorMode, lifted), `spatialclaw artifact ${loaded.reconRef?.artifact_id}; world frame, metres`);
    download(ply, `artifact-${(loaded.reconRef?.artifact_id ?? '').slice(0, 8)}.ply`, 'application/octet-stream');
    setMessage(`exported ${sel.ids.length.toLocaleString()} points as PLY`);
  };
  const resetView = () => {
    handle.current?.resetView();
    setLookingThrough(null);
    setMessage('view reset to the whole reconstruction');
  };
  const lookThrough = () => {
    const h = handle.current;
    if (!h || !recon) return;
    setLookingThrough(lookFrame);
    h.lookThrough(lookFrame);
    setMessage(`looking through the camera of frame ${recon.frameIndices[lookFrame]} (vertical field of view ${h.describe().fov.toFixed(1)}°); Reset view goes back`);
  };
  const screenshot = () => {
    const h = handle.current;
    if (!h) return;
    h.gl.render(h.scene, h.camera);
    download(h.gl.domElement.toDataURL('image/png'), `inspector-${artifact.artifact_id.slice(0, 8)}.png`, 'image/png');
  };

  const stats = cloud?.selection;
  return (
    <div className="sc-insp-body">
      <aside className="sc-insp-side" aria-label="inspector controls">
        {loaded.notes.map((n) => (
          <p key={n} className="sc-insp-note" data-testid="inspector-note">
            {n}
          </p>
        ))}
        {recon && (
          <>
            <section>
              <h4>Points</h4>
              <p data-testid="inspector-stats" data-drawn={stats?.ids.length ?? 0} data-eligible={stats?.eligible ?? 0}>
                {stats ? `${stats.ids.length.toLocaleString()} of ${stats.eligible.toLocaleString()} points drawn` : 'building…'}
              </p>
              <label>
                Colour{' '}
                <select aria-label="colour mode" value={colorMode} onChange={(e) => setColorMode(e.target.value as ColorMode)}>
                  {COLOR_MODES.map((m) => (
                    <option key={m} value={m}>
                      {m}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Confidence ≥ {confThreshold.toFixed(2)}
                <input type="range" aria-label="confidence threshold" min={0} max={1} step={0.01} value={confThreshold} disabled={!recon.confidence} onChange={(e) => setConfThreshold(Number(e.target.value))} />
              </label>
              <label>
                Point budget
                <select aria-label="point budget" value={budget} onChange={(e) => setBudget(Number(e.target.value))}>
                  {[250_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000].map((b) => (
                    <option key={b} value={b}>
                      {b.toLocaleString()}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                Point size {pointSize}px
                <input type="range" aria-label="point size" min={1} max={8} step={1} value={pointSize} onChange={(e) => setPointSize(Number(e.target.value))} />
              </label>
              {(['frustums', 'images', 'grid', 'axes'] as const).map((k) => (
                <label key={k} className="sc-insp-check">
                  <input type="checkbox" checked={show[k]} onChange={(e) => setShow({ ...show, [k]: e.target.checked })} /> {k === 'images' ? 'frame images' : k}
                </label>
              ))}
            </section>
            <section aria-label="view">
              <h4>View</h4>
              <div className="sc-insp-row">
                <button onClick={resetView}>Reset view</button>
              </div>
              <div className="sc-insp-row">
                <select aria-label="camera to look through" value={lookFrame} onChange={(e) => setLookFrame(Number(e.target.value))}>
                  {recon.frameIndices.map((fi, f) => (
                    <option key={fi} value={f}>
                      camera {fi}
                    </option>
                  ))}
                </select>
                <button onClick={lookThrough}>Look through camera {recon.frameIndices[lookFrame]}</button>
              </div>
            </section>
            <section>
              <h4>Frames</h4>
              {recon.frameIndices.map((fi, f) => (
                <label key={fi} className="sc-insp-check">
                  <input
                    type="checkbox"
                    aria-label={`show frame ${fi}`}
                    checked={visible[f] !== false}
                    onChange={(e) => setVisible(visible.map((v, i) => (i === f ? e.target.checked : v)))}
                  />{' '}
                  frame {fi} {stats ? <span className="sc-insp-dim">({(stats.perFrame[f] ?? 0).toLocaleString()})</span> : null}
                </label>
              ))}
            </section>
          </>
        )}
        {masks && (
          <section>
            <h4>Masks</h4>
            <label>
              Opacity {opacity.toFixed(2)}
              <input type="range" aria-label="mask opacity" min={0} max={1} step={0.05} value={opacity} onChange={(e) => setOpacity(Number(e.target.value))} />
            </label>
            {recon && (
              <label className="sc-insp-check">
                <input type="checkbox" aria-label="lift masks onto the point cloud" checked={lift} onChange={(e) => setLift(e.target.checked)} /> lift onto the point cloud
              </label>
            )}
            {masks.labels.map((l, k) => (
              <label key={k} className="sc-insp-check" data-testid={`mask-object-${k}`} data-lifted={cloud?.lifted?.counts[k] ?? 0}>
                <input type="checkbox" aria-label={`show object ${l}`} checked={enabled[k] !== false} onChange={(e) => setEnabled(enabled.map((v, i) => (i === k ? e.target.checked : v)))} />
                <span className="sc-insp-swatch" style={{ background: `rgb(${instanceColor(k).join(',')})` }} /> {l}
                {cloud?.lifted ? <span className="sc-insp-dim"> ({cloud.lifted.counts[k]!.toLocaleString()} pts)</span> : null}
                {overlay ? <span className="sc-insp-dim"> {overlay.areas[k]!.toLocaleString()} px</span> : null}
              </label>
            ))}
          </section>
        )}
        <section>
          <h4>Pick & measure</h4>
          <p className="sc-insp-dim">Click points in 3D or pixels in the frame (up to 3).</p>
          {pickMessage && (
            <p className="sc-insp-pick-message" role="status" data-testid="pick-message">
              {pickMessage}
            </p>
          )}
          <ol data-testid="pick-readout" className="sc-insp-picks">
            {picks.map((p, i) => (
              <li key={i} data-testid={`pick-${i}`} data-frame={p.frame} data-u={p.u} data-v={p.v} data-x={p.world[0]} data-y={p.world[1]} data-z={p.world[2]}>
                ({fmt(p.world[0])}, {fmt(p.world[1])}, {fmt(p.world[2])}) m · frame {p.frame} · px ({p.u}, {p.v})
                {p.depth !== null ? ` · depth ${fmt(p.depth)} m` : ''}
                {p.confidence !== null ? ` · conf ${fmt(p.confidence, 2)}` : ''}
              </li>
            ))}
          </ol>
          {picks.length === 2 && (
            <p data-testid="measure-distance" data-metres={distance(picks[0]!.world, picks[1]!.world)}>
              distance {fmt(distance(picks[0]!.world, picks[1]!.world), 4)} m
            </p>
          )}
          {picks.length === 3 && (
            <p data-testid="measure-angle" data-degrees={angleDeg(picks[0]!.world, picks[1]!.world, picks[2]!.world)}>
              angle at 2: {fmt(angleDeg(picks[0]!.world, picks[1]!.world, picks[2]!.world), 2)}°
            </p>
          )}
          <div className="sc-insp-row">
            <button disabled={!picks.length} onClick={() => void copyPython()}>
              Copy as Python
            </button>
            <button
              disabled={!picks.length}
              onClick={() => {
                setPicks([]);
                setPickMessage(null);
              }}
            >
              Clear picks
            </button>
          </div>
          {snippet && <pre className="sc-insp-snippet" data-testid="pick-python">{snippet}</pre>}
        </section>
        {recon && (
          <section className="sc-insp-row">
            <button onClick={exportPly}>Export PLY</button>
            <button onClick={screenshot}>Screenshot PNG</button>
          </section>
        )}
        {message && (
          <p className="sc-insp-dim" role="status">
            {message}
          </p>
        )}
      </aside>
      {recon && (
        <main className="sc-insp-3d">
          <Viewer3D
            key={loaded.reconRef?.artifact_id}
            recon={recon}
            visible={visible}
            confThreshold={confThreshold}
            budget={budget}
            colorMode={colorMode}
            masks={liftedMasks}
            enabledObjects={enabled}
            pointSize={pointSize}
            showFrustums={show.frustums}
            showImages={show.images}
            showGrid={show.grid}
            showAxes={show.axes}
            selectedFrame={framePos}
            lookingThrough={lookingThrough}
            picks={picks.map((p) => p.world)}
            hover={hoverFrom2D?.world ?? null}
            onPick={addPick}
            onHover={onHover}
            onCloud={setCloud}
            onReady={onReady}
            onCloudDrawn={onCloudDrawn}
          />
          <Legend recon={recon} mode={colorMode} range={cloud?.colorMode === colorMode ? cloud.range : null} masks={liftedMasks} enabledObjects={enabled} showFrustums={show.frustums} />
          <p className="sc-insp-hint">drag: orbit · right-drag: pan · wheel: zoom · click: pick</p>
        </main>
      )}
      <section className={recon ? 'sc-insp-2d' : 'sc-insp-2d sc-insp-2d-only'} aria-label="frame view">
        <div className="sc-insp-row">
          <label>
            Frame {frame}
            {frames.length > 1 && (
              <input
                type="range"
                aria-label="frame"
                min={0}
                max={frames.length - 1}
                step={1}
                value={Math.max(0, frames.indexOf(frame))}
                onChange={(e) => setFrame(frames[Number(e.target.value)]!)}
              />
            )}
          </label>
        </div>
        <FrameView
          width={gridW}
          height={gridH}
          image={image}
          overlay={overlay}
          labels={masks?.labels ?? []}
          cursor={cursor}
          picks={picks.flatMap((p, i) => (p.frame === frame ? [{ u: p.u, v: p.v, n: i + 1 }] : []))}
          onHoverPixel={setHoverPixel}
          onClickPixel={(px) => {
            if (!recon) return;
            if (framePos < 0) setPickMessage(`frame ${frame} is not in the reconstruction: pick a pixel of a frame it covers`);
            else addPick(pixelId(recon, framePos, px.u, px.v));
          }}
        />
        <p data-testid="hover-readout" className="sc-insp-dim">
          {hoverFrom2D
            ? `pixel (${hoverFrom2D.u}, ${hoverFrom2D.v}) → (${fmt(hoverFrom2D.world[0])}, ${fmt(hoverFrom2D.world[1])}, ${fmt(hoverFrom2D.world[2])}) m`
            : hoverFrom3D
              ? `point (${fmt(hoverFrom3D.world[0])}, ${fmt(hoverFrom3D.world[1])}, ${fmt(hoverFrom3D.world[2])}) m ← frame ${hoverFrom3D.frame} px (${hoverFrom3D.u}, ${hoverFrom3D.v})`
              : hoverPixel && recon && framePos < 0
                ? 'this frame is not in the reconstruction'
                : hoverPixel
                  ? `pixel (${hoverPixel.u}, ${hoverPixel.v}) has no 3D point`
                  : 'hover the frame or the cloud to link 2D and 3D'}
        </p>
      </section>
    </div>
  );
}
