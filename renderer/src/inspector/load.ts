/**
 * Loading an artifact through the workbench contract only: `artifactManifest`, `artifactArray` (raw .npy
 * bytes), `sampleEvents` (to find the sample's inputs and, for masks, the reconstruction of the same
 * frames) and `frameImage` (JPEG frames for masks without a reconstruction).
 */
import type { WorkbenchApi } from '../../../shared/api.ts';
import type { InputSpec } from '../../../shared/kernel.ts';
import type { RunEvent } from '../../../shared/run.ts';
import type { ArtifactManifest, ArtifactRef, PerceptionEntry } from '../../../shared/workbench.ts';
import { loadMasks, loadReconstruction, type Masks, type Reconstruction } from './recon.ts';

export interface LoadedArtifact {
  manifest: ArtifactManifest;
  kind: string;
  recon: Reconstruction | null;
  /** The reconstruction's own ref (for masks: the one found in the sample). */
  reconRef: ArtifactRef | null;
  masks: Masks | null;
  /** The sample's first input (frame images for masks without a reconstruction), when known. */
  input: InputSpec | null;
  /** Something the user should know (e.g. masks shown in 2D only, and why). */
  notes: string[];
}

function frameIndicesOf(m: ArtifactManifest): number[] | undefined {
  return m.frame_indices.length ? m.frame_indices : undefined;
}

/** The K object labels of a masks artifact: the record's `labels` (older runs: `info.labels`). */
function labelsOf(m: ArtifactManifest): string[] {
  if (m.labels?.length) return m.labels;
  const legacy = m.info['labels'];
  return Array.isArray(legacy) ? legacy.map(String) : [];
}

function mb(bytes: number | undefined): string {
  return bytes === undefined ? '' : ` (${(bytes / 1e6).toFixed(1)} MB)`;
}

/** Reconstruction artifacts of a sample, newest first, with their frame indices when the events carry them. */
export function reconstructionsIn(events: RunEvent[]): { id: string; frame_indices?: number[] }[] {
  const found = new Map<string, { id: string; frame_indices?: number[] }>();
  for (const e of events) {
    if (e.type === 'cell') {
      for (const a of e.result.artifacts) if (a.kind === 'reconstruction') found.set(a.id, { id: a.id, frame_indices: a.frame_indices });
    } else if (e.type === 'artifact' && e.kind === 'reconstruction' && !found.has(e.id)) found.set(e.id, { id: e.id });
  }
  return [...found.values()].reverse();
}

/** Backends that reconstruct from colour alone (spatial_common/reconstruct_options.py, RGB_ONLY_BACKENDS). */
const RGB_ONLY_BACKENDS = ['da3', 'mono'];

/**
 * The note for masks without a reconstruction: what would reconstruct these frames, given whether the sample's
 * input carries depth and which backends the reachable perception servers have available. It words the options
 * of spatial_common/reconstruct_options.py (the server's and tools.Reconstruct's errors), so it never advises a
 * backend that fails on these frames (rgbd without depth, classical at all).
 * @param frames the masks' frame indices.
 * @param input the sample's first input, or null when unknown.
 * @param servers the perception servers (`listPerception`), or null when they could not be listed.
 */
export function reconstructAdvice(frames: number[], input: InputSpec | null, servers: PerceptionEntry[] | null): string {
  const head = `2D only: no reconstruction of frames ${frames.join(', ')} in this sample.`;
  const available = new Set((servers ?? []).filter((s) => s.healthy).flatMap((s) => s.backends));
  if (input?.kind === 'rgbd' || input?.kind === 'rgbd_sample') {
    const how = available.has('rgbd') ? "backend 'rgbd' lifts the sample's depth" : "a perception server with the rgbd backend is needed: it lifts the sample's depth";
    return `${head} Run tools.Reconstruct on these frames to lift the masks into 3D (${how}).`;
  }
  const noDepth = input ? 'These frames have no depth' : 'If these frames have no depth';
  const rgb = RGB_ONLY_BACKENDS.filter((b) => available.has(b));
  if (rgb.length) {
    return `${head} ${noDepth}: run tools.Reconstruct(frames, backend='${rgb[0]}') on them to lift the masks into 3D (${rgb.join(' or ')} estimates depth from colour).`;
  }
  return (
    `${head} ${noDepth}, and no perception server here has a backend that estimates depth (rgbd needs measured depth; ` +
    'classical and sam3 only segment). To reconstruct them: (a) da3 on a machine with an NVIDIA GPU: `spatialclaw perception start ' +
    '--backends da3 --da3-checkpoint DIR` there, then `spatialclaw perception add NAME URL`; (b) da3 on this CPU (slow): install the ' +
    'depth_anything_3 package and start a server with --backends da3 --da3-checkpoint DIR; (c) mono (runs on CPU): a server with ' +
    '--backends mono --mono-checkpoint DIR (a local Depth Pro or Depth-Anything-V2-Metric checkpoint). See docs/perception.md, ' +
    '"Plain videos without a GPU".'
  );
}

/**
 * Load an artifact for the inspector.
 * @param progress called with a line saying what is being loaded.
 * @throws WorkbenchError from the host, NpyError for a bad array, Error for a missing required array.
 */
export async function loadArtifact(api: WorkbenchApi, ref: ArtifactRef, kindHint: string, progress: (line: string) => void): Promise<LoadedArtifact> {
  progress('reading the manifest');
  const manifest = await api.call('artifactManifest', ref);
  const names = Object.keys(manifest.arrays);
  const kind = manifest.kind || kindHint;
  const fetcher = (r: ArtifactRef) => (name: string) => {
    progress(`loading ${name}.npy${mb(manifest.arrays[name]?.bytes)}`);
    return api.call('artifactArray', { ...r, name });
  };
  const notes: string[] = [];
  let events: RunEvent[] | null = null;
  const getEvents = async () => {
    if (events) return events;
    try {
      const se = await api.call('sampleEvents', { run_id: ref.run_id, sample_id: ref.sample_id });
      events = [...se.events, ...se.console];
    } catch (e) {
      notes.push(`could not read the sample's events (${(e as Error).message})`);
      events = [];
    }
    return events;
  };
  const inputOf = (ev: RunEvent[]): InputSpec | null => {
    const start = ev.find((e) => e.type === 'sample_start');
    return start?.type === 'sample_start' ? (start.sample.inputs[0] ?? null) : null;
  };

  if (kind === 'masks' || (names.includes('masks') && !names.includes('points'))) {
    const masks = await loadMasks(names, fetcher(ref), frameIndicesOf(manifest), labelsOf(manifest));
    const ev = await getEvents();
    const input = inputOf(ev);
    // The reconstruction of the same sample covering the most mask frames (all, ideally), newest first.
    let best: { id: string; covered: number; frames: number[] } | null = null;
    for (const c of reconstructionsIn(ev)) {
      let frames = c.frame_indices;
      if (!frames) {
        try {
          frames = frameIndicesOf(await api.call('artifactManifest', { ...ref, artifact_id: c.id })) ?? [];
        } catch {
          continue;
        }
      }
      const covered = masks.frameIndices.filter((f) => frames.includes(f)).length;
      if (covered > 0 && (!best || covered > best.covered)) best = { id: c.id, covered, frames };
      if (covered === masks.t) break;
    }
    if (!best) {
      // when the servers cannot be listed, the advice names every option
      const servers = await api.call('listPerception', {}).catch(() => null);
      notes.push(reconstructAdvice(masks.frameIndices, input, servers));
      return { manifest, kind, recon: null, reconRef: null, masks, input, notes };
    }
    const reconRef = { ...ref, artifact_id: best.id };
    const rm = await api.call('artifactManifest', reconRef);
    const recon = await loadReconstruction(Object.keys(rm.arrays), fetcher(reconRef), frameIndicesOf(rm));
    if (best.covered < masks.t) {
      const missing = masks.frameIndices.filter((f) => !recon.frameIndices.includes(f));
      notes.push(`frames ${missing.join(', ')} of the masks are not in reconstruction ${best.id}; they are shown in 2D only`);
    }
    return { manifest, kind, recon, reconRef, masks, input, notes };
  }

  if (kind === 'reconstruction' || names.includes('points') || names.includes('depth')) {
    const recon = await loadReconstruction(names, fetcher(ref), frameIndicesOf(manifest));
    const input = recon.colors ? null : inputOf(await getEvents());
    if (!recon.colors) notes.push('this reconstruction has no colors array: RGB mode shows grey points');
    return { manifest, kind, recon, reconRef: ref, masks: null, input, notes };
  }
  throw new Error(`the inspector shows reconstructions and masks; this ${kind} artifact has arrays ${names.join(', ')}`);
}
