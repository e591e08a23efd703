/**
 * The artifact contract end to end, through the real stack: a SAM 3 mask with text labels, made by a real
 * perception server (the sam3 backend on a randomly initialised tiny checkpoint of the real transformers
 * classes, test/python/sam3_tiny.py), requested by the real kernel tool in a real agent kernel on the bundled
 * video (frames sampled, so absolute frame indices differ from positions), kept in the run by the workbench
 * host, and loaded by the 3D inspector's loader (renderer/src/inspector/load.ts) through the workbench
 * contract. The labels, the scores and the absolute frame indices must arrive unchanged at every hop.
 * Only the model is scripted.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkbenchApi } from '../../shared/api.ts';
import { StoredManifestSchema } from '../../shared/contracts/artifact.ts';
import { ModelConfigSchema } from '../../shared/model.ts';
import type { RunEvent } from '../../shared/run.ts';
import { type HostEvent, METHODS, type MethodName } from '../../shared/workbench.ts';
import { PerceptionServer } from '../../electron/services/perception/server.ts';
import { WorkbenchHost } from '../../electron/services/workbench/host.ts';
import { parseNpy } from '../../renderer/src/inspector/npy.ts';
import { loadArtifact } from '../../renderer/src/inspector/load.ts';
import { ROOT } from '../helpers/cli.ts';
import { step } from '../helpers/rgbd-script.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const PY = join(ROOT, '.venv', 'bin', 'python');
const VIDEO = join(ROOT, 'test', 'fixtures', 'video_bedroom', 'bedroom.mp4');
const TOKEN_ENV = 'SC_ROUNDTRIP_PERCEPTION_TOKEN';
const WHY = 'a text prompt gives labelled masks.';
const SCRIPT = [
  '1. Segment the bed in one frame. 2. Answer.',
  step('segment the bed', 'seg = tools.SAM3.segment_image_by_text(InputImages[2], "bed", threshold=0.0, backend="sam3")\nprint(InputImages[2].frame_index, seg.num_objects)', WHY),
  step('answer', 'ReturnAnswer(1)', WHY),
];

/** The WorkbenchApi the renderer gets, over the host's handlers (args validated as the transports do). */
function apiOver(host: WorkbenchHost): WorkbenchApi {
  return {
    transport: 'http',
    call: (async (method: MethodName, args: unknown) => {
      const parsed = METHODS[method].args.parse(args);
      return (host.handlers[method] as (a: unknown) => Promise<unknown>)(parsed);
    }) as WorkbenchApi['call'],
    subscribe: (l) => host.onEvent(l),
    pickPaths: async () => null,
  };
}

describe('a labelled SAM 3 mask keeps its labels, scores and frame indices from the server to the inspector', () => {
  let home: string;
  let prevHome: string | undefined;
  let server: PerceptionServer;
  let model: ScriptedModelServer;
  let host: WorkbenchHost;
  let runId = '';
  let events: RunEvent[] = [];

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'sc-roundtrip-'));
    prevHome = process.env.SPATIALCLAW_HOME;
    process.env.SPATIALCLAW_HOME = home;
    const checkpoint = join(home, 'sam3-tiny');
    execFileSync(PY, [join(ROOT, 'test', 'python', 'sam3_tiny.py'), checkpoint], { stdio: 'pipe', timeout: 180_000 });
    server = await PerceptionServer.startLocal({ backends: ['sam3'], extraArgs: ['--sam3-checkpoint', checkpoint] });
    const health = await server.health();
    expect(health.backends.find((b) => b.name === 'sam3')?.available, JSON.stringify(health.backends)).toBe(true);

    host = await WorkbenchHost.create({ runsRoot: join(home, 'runs') });
    process.env[TOKEN_ENV] = server.token;
    await host.handlers.addPerception({ name: 'gpu-box', url: server.url, token_env: TOKEN_ENV });
    model = await startScriptedModelServer({ script: { q1: SCRIPT }, whenExhausted: 'error', model: 'scripted-vlm' });
    await host.handlers.saveModel({ config: ModelConfigSchema.parse({ name: 'scripted-vlm', base_url: model.url, max_retries: 0 }) });

    const done = new Promise<Extract<HostEvent, { type: 'sample_done' }>>((resolve) => {
      const off = host.onEvent((e) => {
        if (e.type === 'sample_done') {
          off();
          resolve(e);
        }
      });
    });
    const started = await host.handlers.ask(
      METHODS.ask.args.parse({ question: 'What is on the bed?', inputs: [{ kind: 'video', path: VIDEO, num_frames: 4 }], model: 'scripted-vlm', perception: 'gpu-box' }),
    );
    runId = started.run_id;
    const result = await done;
    expect(result.error, result.error ?? '').toBeNull();
    expect(result.result?.termination).toBe('answered');
    events = (await host.handlers.sampleEvents({ run_id: runId, sample_id: 'q1' })).events;
  }, 420_000);

  afterAll(async () => {
    await host?.close();
    await server?.stop();
    await model?.close();
    delete process.env[TOKEN_ENV];
    if (prevHome === undefined) delete process.env.SPATIALCLAW_HOME;
    else process.env.SPATIALCLAW_HOME = prevHome;
  }, 60_000);

  it('arrives unchanged at every hop: server, kernel tool, kept copy, workbench, inspector loader', async () => {
    // The kernel tool: what it printed and published.
    const cell = events.find((e): e is Extract<RunEvent, { type: 'cell' }> => e.type === 'cell' && e.result.code.includes('segment_image_by_text'));
    expect(cell?.result.status, cell?.result.error?.evalue).toBe('ok');
    const [frameIndex, k] = cell!.result.stdout.trim().split(/\s+/).map(Number) as [number, number];
    expect(frameIndex).toBeGreaterThan(2); // an absolute index of the sampled video, not the position 2
    expect(k).toBeGreaterThan(0);
    const published = cell!.result.artifacts;
    expect(published).toHaveLength(1);
    const artifactId = published[0]!.id;
    expect(published[0]).toMatchObject({ tool: 'SAM3', kind: 'masks', frame_indices: [frameIndex], labels: Array(k).fill('bed') });
    const artifactEvent = events.find((e) => e.type === 'artifact' && e.id === artifactId);
    expect(artifactEvent).toMatchObject({ labels: Array(k).fill('bed'), frame_indices: [frameIndex] });

    // The server's own record and arrays.
    const headers = { Authorization: `Bearer ${server.token}` };
    const remote = (await (await fetch(`${server.url}/v1/artifacts/${artifactId}`, { headers })).json()) as { labels: string[]; frame_indices: number[]; info: { labels: string[] } };
    expect(remote.labels).toEqual(Array(k).fill('bed'));
    expect(remote.info.labels).toEqual(remote.labels);
    expect(remote.frame_indices).toEqual([frameIndex]);
    const serverScores = parseNpy(new Uint8Array(await (await fetch(`${server.url}/v1/artifacts/${artifactId}/scores.npy`, { headers })).arrayBuffer()), 'scores.npy');

    // The copy kept in the run folder.
    const keptFile = join(home, 'runs', runId, 'samples', 'q1', 'artifacts', artifactId, 'manifest.json');
    expect(existsSync(keptFile), `${keptFile} was not written`).toBe(true);
    const kept = StoredManifestSchema.parse(JSON.parse(readFileSync(keptFile, 'utf8')));
    expect(kept.record.labels).toEqual(remote.labels);
    expect(kept.info['labels']).toEqual(remote.labels);
    expect(kept.record.frame_indices).toEqual([frameIndex]);

    // The workbench contract and the inspector's loader.
    const api = apiOver(host);
    const manifest = await api.call('artifactManifest', { run_id: runId, sample_id: 'q1', artifact_id: artifactId });
    expect(manifest.labels).toEqual(remote.labels);
    const loaded = await loadArtifact(api, { run_id: runId, sample_id: 'q1', artifact_id: artifactId }, 'masks', () => undefined);
    expect(loaded.masks?.labels).toEqual(Array(k).fill('bed'));
    expect(loaded.masks?.frameIndices).toEqual([frameIndex]);
    expect(Array.from(loaded.masks!.scores!)).toEqual(Array.from(serverScores.data as Float32Array));
    expect(loaded.masks?.k).toBe(k);
  }, 120_000);

  it('is shown with its labels after the server is gone (the kept copy alone)', async () => {
    await server.stop();
    const api = apiOver(host);
    const artifactId = events.flatMap((e) => (e.type === 'artifact' ? [e.id] : []))[0]!;
    const loaded = await loadArtifact(api, { run_id: runId, sample_id: 'q1', artifact_id: artifactId }, 'masks', () => undefined);
    expect(loaded.masks?.labels.every((l) => l === 'bed')).toBe(true);
    expect(loaded.notes.join(' ')).toMatch(/2D only/);
  }, 60_000);
});
