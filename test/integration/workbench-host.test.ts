/**
 * The workbench host against the real stack: a real Jupyter server and kernels, a real local
 * perception server (rgbd + classical), the real RGB-D room sample. Only the model is scripted
 * (test/helpers/scripted-model.ts), registered as model configs in a temporary SPATIALCLAW_HOME.
 * One host (one kernel runtime, one perception server) is shared by every test in the file.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkbenchError } from '../../shared/api.ts';
import { DEFAULTS, defaultMemoryGib } from '../../shared/defaults.ts';
import { ModelConfigSchema } from '../../shared/model.ts';
import { RunEventSchema, type SampleResult } from '../../shared/run.ts';
import { type AskRequest, AskRequestSchema, type HostEvent, METHODS, RunIdSchema } from '../../shared/workbench.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import { WorkbenchHost } from '../../electron/services/workbench/host.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { hostInTempHome, type TempHomeHost } from '../helpers/host-home.ts';
import { ANSWER, QUESTION, RECONSTRUCT, ROOM, step } from '../helpers/rgbd-script.ts';
import { type Reply, type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

let wb: TempHomeHost;
let home: string;
let host: WorkbenchHost;
let events: HostEvent[] = [];
const models: ScriptedModelServer[] = [];
let firstRun: { run_id: string; sample_id: string; artifactId: string } | null = null;

/** A scripted model for sample q1, saved as a model config named `name`. */
async function scriptedModel(name: string, script: Reply[]): Promise<string> {
  const m = await startScriptedModelServer({ script: { q1: script }, whenExhausted: 'error', model: name });
  models.push(m);
  const entry = await host.handlers.saveModel({ config: ModelConfigSchema.parse({ name, base_url: m.url, max_retries: 0 }) });
  expect(entry.name).toBe(name);
  return name;
}

function askArgs(model: string, extra: Partial<AskRequest> = {}) {
  return AskRequestSchema.parse({ question: QUESTION, answer: '2.1', inputs: [{ kind: 'rgbd_sample', path: ROOM }], model, perception: 'local', ...extra });
}

function waitFor<T extends HostEvent>(pred: (e: HostEvent) => e is T, timeoutMs = 180_000): Promise<T> {
  const hit = events.find(pred);
  if (hit) return Promise.resolve(hit);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error('timed out waiting for a host event')); }, timeoutMs);
    const off = host.onEvent((e) => {
      if (pred(e)) {
        clearTimeout(timer);
        off();
        resolve(e);
      }
    });
  });
}

const doneOf = (runId: string) => (e: HostEvent): e is Extract<HostEvent, { type: 'sample_done' }> => e.type === 'sample_done' && e.run_id === runId;

async function expectWbError(p: Promise<unknown>, message: RegExp): Promise<WorkbenchError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(WorkbenchError);
  const w = e as WorkbenchError;
  expect(w.message).toMatch(message);
  expect(w.fix, `fix for: ${w.message}`).toBeTruthy();
  return w;
}

/** Shape and dtype from a .npy header. */
function npyHeader(b: Uint8Array): { shape: number[]; descr: string; dataOffset: number } {
  const buf = Buffer.from(b);
  expect(buf.toString('latin1', 1, 6)).toBe('NUMPY');
  const major = buf[6]!;
  const len = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + len);
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1]!.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const descr = /'descr': '([^']+)'/.exec(header)![1]!;
  return { shape, descr, dataOffset: start + len };
}

beforeAll(async () => {
  wb = await hostInTempHome('wb-host-');
  ({ host, home, events } = wb);
  const p = await host.handlers.startLocalPerception({ backends: ['rgbd', 'classical'] });
  expect(p).toMatchObject({ name: 'local', origin: 'local', healthy: true });
  expect(p.backends).toEqual(expect.arrayContaining(['rgbd', 'classical']));
}, 240_000);

afterAll(async () => {
  await wb?.close(async () => {
    for (const m of models) await m.close();
  });
}, 120_000);

describe('WorkbenchHost (real kernels, perception server and sample; scripted model)', () => {
  it('asks: live run events and counters, the answer recorded, the Reconstruct artifact kept in the run', async () => {
    const model = await scriptedModel('scripted-a', ['1. Reconstruct. 2. Measure.', RECONSTRUCT, ANSWER]);
    const started = await host.handlers.ask(askArgs(model));
    expect(started.sample_id).toBe('q1');
    expect(existsSync(join(home, 'runs', started.run_id, 'run.json'))).toBe(true);
    const done = await waitFor(doneOf(started.run_id));
    expect(done.error).toBeNull();
    expect(done.result).toMatchObject({ answer: 2.1, termination: 'answered', score: 1, steps: 2 });

    const mine = events.filter((e) => 'run_id' in e && e.run_id === started.run_id);
    const types = mine.filter((e) => e.type === 'run_event').map((e) => (e as Extract<HostEvent, { type: 'run_event' }>).event.type);
    expect(types[0]).toBe('sample_start');
    expect(types).toEqual(expect.arrayContaining(['plan', 'model_call', 'cell', 'artifact', 'observation', 'answer', 'termination']));
    const counters = mine.filter((e): e is Extract<HostEvent, { type: 'counters' }> => e.type === 'counters');
    expect(counters).toHaveLength(3); // planner + 2 main calls
    expect(counters.at(-1)!.prompt_tokens).toBeGreaterThan(counters[0]!.prompt_tokens);
    expect(mine.at(-1)!.type).toBe('sample_done'); // after every run event
    // Live events are what was recorded: no base64 image data.
    expect(JSON.stringify(mine)).not.toContain('"png"');

    // The record: run.json redacted with kind 'ask', getRun's accuracy, the events.
    const run = await host.handlers.getRun({ run_id: started.run_id });
    expect(run).toMatchObject({ done: 1, accuracy: 1, live: false });
    expect(run.info.status).toBe('finished');
    expect(run.info.config).toMatchObject({ kind: 'ask', perception: 'local', model: { name: 'scripted-a' } });
    const ev = await host.handlers.sampleEvents({ run_id: started.run_id, sample_id: 'q1' });
    expect(ev.live).toBe(false);
    expect(ev.console).toEqual([]);
    const artifact = ev.events.find((e) => e.type === 'artifact');
    expect(artifact).toBeDefined();
    if (artifact?.type !== 'artifact') throw new Error('no artifact event');

    // The artifact was copied into the run folder (manifest written last) and reads back from there.
    const kept = join(home, 'runs', started.run_id, 'samples', 'q1', 'artifacts', artifact.id);
    expect(existsSync(join(kept, 'manifest.json'))).toBe(true);
    const manifest = await host.handlers.artifactManifest({ run_id: started.run_id, sample_id: 'q1', artifact_id: artifact.id });
    expect(manifest).toMatchObject({ id: artifact.id, kind: 'reconstruction', backend: 'rgbd', frame_indices: [0, 1, 2, 3, 4] });
    expect(manifest.arrays['points']!.shape).toEqual([5, 480, 640, 3]);
    const points = await host.handlers.artifactArray({ run_id: started.run_id, sample_id: 'q1', artifact_id: artifact.id, name: 'points' });
    expect(points).toBeInstanceOf(Uint8Array);
    const h = npyHeader(points);
    expect(h.shape).toEqual([5, 480, 640, 3]);
    expect(h.descr).toBe('<f4');
    expect(points.byteLength - h.dataOffset).toBe(5 * 480 * 640 * 3 * 4);
    firstRun = { ...started, artifactId: artifact.id };
  });

  it('runs a console cell in a live sample\'s own kernel, recorded as a human step', async () => {
    const model = await scriptedModel('scripted-live', [
      'plan',
      step('define', 'x_live = 41'),
      step('work a while', 'import time\ntime.sleep(4)\nprint("worked")'),
      step('answer', 'ReturnAnswer(x_live + 1)'),
    ]);
    const started = await host.handlers.ask(askArgs(model, { answer: '42' }));
    // When the first cell is recorded, the agent is about to run its 4 s cell: the sample is live.
    await waitFor((e): e is HostEvent => e.type === 'run_event' && e.run_id === started.run_id && e.event.type === 'cell');
    const live = await host.handlers.sampleEvents({ run_id: started.run_id, sample_id: 'q1' });
    expect(live.live).toBe(true);
    const cell = await host.handlers.consoleCell({ run_id: started.run_id, sample_id: 'q1', code: 'x_live * 2' });
    expect(cell).toMatchObject({ origin: 'human', status: 'ok', result: '82' });
    const done = await waitFor(doneOf(started.run_id));
    expect(done.result).toMatchObject({ answer: 42, termination: 'answered' });
    const ev = await host.handlers.sampleEvents({ run_id: started.run_id, sample_id: 'q1' });
    expect(ev.console).toHaveLength(1);
    expect(ev.console[0]).toMatchObject({ type: 'cell', result: { origin: 'human', code: 'x_live * 2', result: '82' } });
    // The agent's journal is untouched by the console.
    expect(ev.events.filter((e) => e.type === 'cell').every((e) => e.type === 'cell' && e.result.origin === 'agent')).toBe(true);
  });

  it('stops a live sample: it ends with termination "stopped"', async () => {
    const model = await scriptedModel('scripted-stop', ['plan', step('wait', 'import time\ntime.sleep(60)'), ANSWER]);
    const started = await host.handlers.ask(askArgs(model));
    await waitFor((e): e is HostEvent => e.type === 'run_event' && e.run_id === started.run_id && e.event.type === 'model_call' && e.event.role === 'main');
    await new Promise((r) => setTimeout(r, 500)); // the 60 s cell is running
    expect(await host.handlers.stop({ run_id: started.run_id, sample_id: 'q1' })).toEqual({ ok: true });
    const done = await waitFor(doneOf(started.run_id), 60_000);
    expect(done.result?.termination).toBe('stopped');
    await expectWbError(host.handlers.stop({ run_id: started.run_id, sample_id: 'q1' }), /is not running/);
  });

  it('runs a console cell on a past sample in a kernel restored by replaying its cells', async () => {
    if (!firstRun) throw new Error('needs the first test');
    const before = events.length;
    const cell = await host.handlers.consoleCell({ run_id: firstRun.run_id, sample_id: 'q1', code: 'print(round(d, 2)); y_console = d * 10' });
    expect(cell, JSON.stringify(cell)).toMatchObject({ origin: 'human', status: 'ok' });
    expect(cell.stdout.trim()).toBe('2.1'); // `d` was defined by the agent's Reconstruct cell
    const progress = events.slice(before).filter((e): e is Extract<HostEvent, { type: 'progress' }> => e.type === 'progress');
    expect(progress.some((p) => /replaying cell 1 of 2/.test(p.message))).toBe(true);
    expect(progress.at(-1)).toMatchObject({ done: true, message: 'restored: 2 of 2 cells replayed' });
    // The same restored kernel serves the next cell (no second replay), with the console's own variable.
    const again = await host.handlers.consoleCell({ run_id: firstRun.run_id, sample_id: 'q1', code: 'round(y_console)' });
    expect(again).toMatchObject({ status: 'ok', result: '21' });
    const progressAfter = events.slice(before).filter((e) => e.type === 'progress');
    expect(progressAfter).toHaveLength(progress.length);
    const lines = readFileSync(join(home, 'runs', firstRun.run_id, 'samples', 'q1', 'console.jsonl'), 'utf8').trim().split('\n').map((l) => RunEventSchema.parse(JSON.parse(l)));
    expect(lines.map((l) => l.type === 'cell' && l.result.origin)).toEqual(['human', 'human']);
  });

  it('lists runs with filters', async () => {
    if (!firstRun) throw new Error('needs the first test');
    const all = await host.handlers.listRuns({});
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(all.map((r) => r.created_at)).toEqual([...all.map((r) => r.created_at)].sort().reverse());
    expect((await host.handlers.listRuns({ search: firstRun.run_id })).map((r) => r.id)).toEqual([firstRun.run_id]);
    expect((await host.handlers.listRuns({ model: 'SCRIPTED-STOP' })).map((r) => r.model)).toEqual(['scripted-stop']);
    expect((await host.handlers.listRuns({ search: 'scripted-live' })).map((r) => r.model)).toEqual(['scripted-live']);
    expect((await host.handlers.listRuns({ status: 'failed' }))).toEqual([]);
    expect((await host.handlers.listRuns({ status: 'finished' })).length).toBe(all.length);
    const today = new Date().toISOString().slice(0, 10);
    expect((await host.handlers.listRuns({ from: today, to: today })).length).toBe(all.length);
    expect(await host.handlers.listRuns({ to: '2000-01-01' })).toEqual([]);
    await expectWbError(host.handlers.listRuns({ from: 'last tuesday' }), /not a date/);
  });

  it('pages, searches and sorts 5,000 samples from samples.jsonl', async () => {
    const dir = join(home, 'runs', 'big-run');
    const w = await RunWriter.create(dir, { config: { kind: 'run', dataset: '/data/vsi.jsonl', model: { name: 'big-model' } }, versions: {}, total_samples: 5000 });
    await w.finish('finished');
    const t = '2025-01-01T00:00:00.000Z';
    const rows: SampleResult[] = Array.from({ length: 5000 }, (_, i) => ({
      id: `s${String(i).padStart(4, '0')}`, question: i % 10 === 0 ? `How many chairs are in room ${i}?` : `Distance ${i}?`,
      answer: i % 7, answer_source: 'return_answer', ground_truth: 3, score: i % 3 === 0 ? null : (i % 100) / 100,
      question_type: i % 2 ? 'object_counting' : 'object_abs_distance', termination: 'answered', steps: 1 + (i % 13),
      parse_failures: 0, usage: { prompt_tokens: 10, completion_tokens: 5 }, model_calls: 2, duration_s: (5000 - i) / 10, error: null, started_at: t, finished_at: t,
    }));
    writeFileSync(join(dir, 'samples.jsonl'), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));

    const page = await host.handlers.listSamples(METHODS.listSamples.args.parse({ run_id: 'big-run', offset: 4990, limit: 200 }));
    expect(page.total).toBe(5000);
    expect(page.rows.map((r) => r.id)).toEqual(Array.from({ length: 10 }, (_, i) => `s${4990 + i}`));
    const chairs = await host.handlers.listSamples(METHODS.listSamples.args.parse({ run_id: 'big-run', search: 'CHAIRS', limit: 5 }));
    expect(chairs.total).toBe(500);
    expect(chairs.rows[1]!.id).toBe('s0010');
    const byScore = await host.handlers.listSamples(METHODS.listSamples.args.parse({ run_id: 'big-run', sort: 'score', offset: 0, limit: 1000 }));
    const scores = byScore.rows.map((r) => r.score!);
    expect(scores).toEqual([...scores].sort((a, b) => a - b));
    const last = await host.handlers.listSamples(METHODS.listSamples.args.parse({ run_id: 'big-run', sort: 'score', offset: 4990, limit: 10 }));
    expect(last.rows.every((r) => r.score === null)).toBe(true); // unscored last
    const byDuration = await host.handlers.listSamples(METHODS.listSamples.args.parse({ run_id: 'big-run', sort: 'duration', limit: 1 }));
    expect(byDuration.rows[0]!.id).toBe('s4999');
    const run = await host.handlers.getRun({ run_id: 'big-run' });
    expect(run.done).toBe(5000);
    const scored = rows.filter((r) => r.score !== null);
    expect(run.accuracy).toBeCloseTo(scored.reduce((s, r) => s + r.score!, 0) / scored.length, 10);
    expect((await host.handlers.listRuns({ search: 'vsi.jsonl' })).map((r) => r.id)).toEqual(['big-run']);
  });

  it('gives clear errors with a fix for bad input', async () => {
    await expectWbError(host.handlers.getRun({ run_id: 'no-such-run' }), /no run no-such-run/);
    await expectWbError(host.handlers.sampleEvents({ run_id: firstRun!.run_id, sample_id: 'q9' }), /has no sample q9/);
    await expectWbError(host.handlers.ask(askArgs('no-such-model')), /unknown model "no-such-model"/);
    const model = await scriptedModel('scripted-unused', ['plan']);
    const w = await expectWbError(host.handlers.ask(askArgs(model, { inputs: [{ kind: 'video', path: '/nowhere/clip.mp4' }] })), /video \/nowhere\/clip\.mp4 does not exist/);
    expect(w.fix).toMatch(/check the path/);
    await expectWbError(host.handlers.ask(askArgs(model, { perception: 'gpu-box' })), /no perception server called gpu-box/);
    await expectWbError(host.handlers.previewInputs({ inputs: [{ kind: 'rgbd_sample', path: join(ROOT, 'test', 'fixtures') }] }), /sample\.json|not found/i);
    // Traversal: the contract's schemas refuse it, and so does the host.
    expect(METHODS.sampleImage.args.safeParse({ run_id: firstRun!.run_id, sample_id: 'q1', path: 'images/../../run.json' }).success).toBe(false);
    expect(METHODS.getRun.args.safeParse({ run_id: '..' }).success).toBe(false);
    expect(METHODS.sampleEvents.args.safeParse({ run_id: 'x', sample_id: '../q1' }).success).toBe(false);
    await expectWbError(host.handlers.sampleImage({ run_id: firstRun!.run_id, sample_id: 'q1', path: 'images/../../../run.json' }), /not inside the sample's images/);
    await expectWbError(host.handlers.sampleImage({ run_id: firstRun!.run_id, sample_id: 'q1', path: 'images/nope.png' }), /no image images\/nope\.png/);
    await expectWbError(host.handlers.artifactManifest({ run_id: firstRun!.run_id, sample_id: 'q1', artifact_id: '0'.repeat(32) }), /was not kept/);
    await expectWbError(host.handlers.listDir({ path: '/definitely/not/here' }), /does not exist/);
    await expectWbError(host.handlers.removeModel({ name: 'nope' }), /no model config called "nope"/);
  });

  it('previews inputs and renders frames', async () => {
    const video = join(ROOT, 'test', 'fixtures', 'video_bedroom', 'bedroom.mp4');
    const p = await host.handlers.previewInputs({ inputs: [{ kind: 'video', path: video, num_frames: 8 }, { kind: 'rgbd_sample', path: ROOM }] });
    expect(p.inputs[0]).toMatchObject({ kind: 'video', total_frames: 200, width: 960, height: 540, fps: 30, has_depth: false });
    expect(p.inputs[0]!.frame_indices).toEqual([0, 28, 57, 85, 114, 142, 171, 199]);
    expect(p.inputs[1]).toMatchObject({ kind: 'rgbd_sample', frame_indices: [0, 1, 2, 3, 4], has_depth: true, has_poses: true });
    const jpeg = await host.handlers.frameImage({ input: { kind: 'video', path: video, num_frames: 8 }, frame_index: 57, max_edge: 160 });
    expect(Buffer.from(jpeg.subarray(0, 3)).toString('hex')).toBe('ffd8ff');
    const listing = await host.handlers.listDir({ path: join(ROOT, 'test', 'fixtures') });
    expect(listing.entries.find((e) => e.name === 'rgbd_room')).toMatchObject({ kind: 'dir', size: null });
    expect(listing.entries.findIndex((e) => e.kind === 'file')).toBeGreaterThan(listing.entries.findLastIndex((e) => e.kind === 'dir'));
  });

  it('manages settings and model configs; keeps artifacts openable after the perception server stops', async () => {
    // memory_gib left out of settings.json: the machine-derived default (docs/kernel.md).
    expect(await host.handlers.getSettings({})).toEqual({ pool_size: 1, memory_gib: defaultMemoryGib(totalmem(), 1), kernel_idle_max_mb: 512, cell_timeout_s: 600, max_steps: 30 });
    const saved = await host.handlers.saveSettings(METHODS.saveSettings.args.parse({ pool_size: 2, max_steps: 12 }));
    expect(saved).toMatchObject({ pool_size: 2, max_steps: 12, memory_gib: 16 });
    expect(await host.handlers.getSettings({})).toEqual(saved);
    writeFileSync(join(home, 'settings.json'), '{"pool_size": "many"');
    const e = await expectWbError(host.handlers.getSettings({}), /settings\.json is not valid JSON/);
    expect(e.fix).toMatch(/delete it/);
    expect(readFileSync(join(home, 'settings.json'), 'utf8')).toBe('{"pool_size": "many"'); // not overwritten
    rmSync(join(home, 'settings.json'));

    const names = (await host.handlers.listModels({})).map((m) => m.name);
    expect(names).toContain('scripted-a');
    const test = await host.handlers.testModel({ name: 'scripted-a' });
    expect(test.ok).toBe(true);
    expect(test.endpoints[0]).toMatchObject({ ok: true, error: null });
    const down = await host.handlers.saveModel({ config: ModelConfigSchema.parse({ name: 'org/down-model', base_url: 'http://127.0.0.1:9/v1' }) });
    expect(down.name).toBe('org_down-model');
    const bad = await host.handlers.testModel({ name: 'org/down-model' });
    expect(bad.ok).toBe(false);
    expect(bad.endpoints[0]!.error).toBeTruthy();
    expect(await host.handlers.removeModel({ name: 'org_down-model' })).toEqual({ ok: true });
    expect(existsSync(down.file)).toBe(false);

    expect((await host.handlers.listPerception({})).map((p) => [p.name, p.origin, p.healthy])).toEqual([['local', 'local', true]]);
    expect(await host.handlers.removePerception({ name: 'local' })).toEqual({ ok: true });
    expect(await host.handlers.listPerception({})).toEqual([]);
    // The run keeps its own copy.
    const m = await host.handlers.artifactManifest({ run_id: firstRun!.run_id, sample_id: 'q1', artifact_id: firstRun!.artifactId });
    expect(m.arrays['points']!.shape).toEqual([5, 480, 640, 3]);
  });

  it('spatialclaw ask records a run id of the same scheme and the same run.json config keys as the workbench', async () => {
    if (!firstRun) throw new Error('needs the first test');
    const m = await startScriptedModelServer({ script: { q1: ['plan', step('answer', 'ReturnAnswer(2.1)')] }, whenExhausted: 'error' });
    models.push(m);
    const r = await spatialclaw(['ask', '--input', ROOM, '--question', QUESTION, '--model', 'scripted-cli', '--base-url', m.url, '--json'], { SPATIALCLAW_HOME: home }, 240_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const runDir = (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { run_dir: string }).run_dir;
    expect(dirname(runDir)).toBe(join(home, 'runs'));
    const cliId = basename(runDir);
    for (const id of [cliId, firstRun.run_id]) {
      expect(id).toMatch(/^\d{8}-\d{6}-[0-9a-f]{4}$/);
      expect(RunIdSchema.safeParse(id).success).toBe(true);
    }
    const cli = (await host.handlers.getRun({ run_id: cliId })).info.config;
    const ui = (await host.handlers.getRun({ run_id: firstRun.run_id })).info.config;
    expect(Object.keys(cli).sort()).toEqual(Object.keys(ui).sort());
    expect(cli).toMatchObject({ kind: 'ask', source: 'cli', perception: null, perception_url: null });
    expect(ui).toMatchObject({ kind: 'ask', source: 'workbench', perception: 'local' });
  });

  it('lists the backends a local perception server would offer', async () => {
    const offered = await host.handlers.localPerceptionBackends({});
    expect(offered.defaults).toEqual([...DEFAULTS.localPerceptionBackends]);
    expect(offered.backends.map((b) => b.name)).toEqual(expect.arrayContaining([...DEFAULTS.localPerceptionBackends]));
    if (offered.source === 'fallback') expect(offered.note).toMatch(/--list-backends/);
    expect(await host.handlers.localPerceptionBackends({})).toEqual(offered); // cached
  });

  it('spatialclaw run --no-artifacts records the artifact events but keeps no copies', async () => {
    const m = await startScriptedModelServer({ default: ['plan', RECONSTRUCT, ANSWER], whenExhausted: 'error' });
    models.push(m);
    const work = mkdtempSync(join(tmpdir(), 'wb-noart-'));
    const dataset = join(work, 'd.jsonl');
    writeFileSync(dataset, `${JSON.stringify({ id: 'r1', inputs: [{ kind: 'rgbd_sample', path: ROOM }], question: QUESTION, answer: 2.1 })}\n`);
    // The scripted server keys scripts by sample id: serve r1 from the default script.
    const out = join(work, 'run');
    const r = await spatialclaw(['run', '--dataset', dataset, '--model', 'scripted', '--base-url', m.url, '--perception', 'local', '--out', out, '--no-artifacts'],
      { SPATIALCLAW_HOME: home }, 240_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const events = readFileSync(join(out, 'samples', 'r1', 'events.jsonl'), 'utf8');
    expect(events).toContain('"type":"artifact"');
    expect(readdirSync(join(out, 'samples', 'r1'))).not.toContain('artifacts');
  });
});
