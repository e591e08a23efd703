/**
 * Fault injection, issue 17 §3 "a hung model endpoint": the real ModelClient over real HTTP against the scripted
 * OpenAI-compatible server (test/helpers/scripted-model.ts), and the agent loop on a stand-in kernel session (the
 * kernel is not what is tested here; test/unit/agent-loop.test.ts uses the same stand-in).
 *
 * - a body that trickles one byte every 200 ms never answers: the per-request deadline (`timeout_s`) still ends it,
 *   and the attempt is reported as it ends;
 * - `max_retries: 2` sends exactly 3 requests, each reported (error, duration, whether another follows), and the
 *   sample that hit it records each as a `model_attempt` event and does not ask the dead endpoint again for the
 *   direct-answer fallback (before: 6 requests, nothing recorded);
 * - a per-sample deadline (`sampleTimeoutS`) ends a sample stuck on a hung endpoint with termination `error` and a
 *   detail that names the deadline, in about that time;
 * - `spatialclaw ask --max-retries 2` against an endpoint that answers only HTTP 500 sends 3 requests in all (not a
 *   planner's 3, then a main call's 3, then a fallback's 3), each failed one recorded in events.jsonl.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runSample } from '../../electron/services/agent/loop.ts';
import type { KernelSession } from '../../electron/services/kernel/session.ts';
import { type ModelAttempt, ModelClient, ModelError } from '../../electron/services/model/client.ts';
import { ModelConfigSchema } from '../../shared/model.ts';
import { RunEventSchema, type RunEvent, type SampleSpec } from '../../shared/run.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { startScriptedModelServer, type ScriptedModelServer, type ScriptedServerOptions } from '../helpers/scripted-model.ts';

let servers: ScriptedModelServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(opts: ScriptedServerOptions): Promise<ScriptedModelServer> {
  const s = await startScriptedModelServer(opts);
  servers.push(s);
  return s;
}

const client = (s: ScriptedModelServer, over: Record<string, unknown>): ModelClient =>
  new ModelClient(ModelConfigSchema.parse({ name: 'scripted-vlm', base_url: s.url, cooldown_s: 0, ...over }), { random: () => 0 });

const SAMPLE: SampleSpec = { id: 'hung-1', question: 'Which?', choices: ['A. x', 'B. y'], inputs: [{ kind: 'video', path: '/v.mp4' }] };

/** A kernel session that never runs a cell here (the model never answers); key frames are two tiny images. */
const session = {
  execute: async () => {
    throw new Error('no cell expected');
  },
  keyFrames: async (count: number) => Array.from({ length: count }, (_, i) => ({ png: 'iVBORw0KGgo=', label: `frame ${i}`, width: 1, height: 1 })),
  newVariables: async () => [],
  rollbackNewVariables: async () => [],
} as unknown as KernelSession;

describe('a hung model endpoint', () => {
  it('a trickling body hits the per-request deadline, and the attempt is reported', async () => {
    const s = await serve({ default: [{ trickleMs: 200 }] });
    const attempts: ModelAttempt[] = [];
    const t0 = performance.now();
    const err = await client(s, { timeout_s: 1, max_retries: 0 })
      .chat({ role: 'main', messages: [{ role: 'user', content: 'hi' }], onAttempt: (a) => attempts.push(a) })
      .catch((e: unknown) => e);
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).kind).toBe('timeout');
    // A 1 s deadline against a reply that never ends (or comes after 20 s): 10 s leaves room for a loaded machine.
    expect(took).toBeLessThan(10_000);
    expect(s.requests).toHaveLength(1);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ attempt: 1, kind: 'timeout', willRetry: false });
    expect(attempts[0]!.durationMs).toBeGreaterThanOrEqual(900);
  }, 10_000);

  it('max_retries 2 means 3 requests, each recorded as it ends; the fallback does not ask the dead endpoint again', async () => {
    const s = await serve({ default: [{ delayMs: 5_000, content: 'late' }] });
    const model = client(s, { timeout_s: 0.3, max_retries: 2 });
    const events: RunEvent[] = [];
    const result = await runSample({
      sample: SAMPLE, session, inputSummary: 'a video', model, apiDoc: '', options: { plan: false },
      sink: { event: (e) => events.push(RunEventSchema.parse(e)) },
    });
    expect(s.requests).toHaveLength(3);
    expect(result.termination).toBe('error');
    expect(result.error).toMatch(/timed out/);
    const tried = events.filter((e): e is Extract<RunEvent, { type: 'model_attempt' }> => e.type === 'model_attempt');
    expect(tried.map((e) => [e.attempt, e.kind, e.will_retry])).toEqual([[1, 'timeout', true], [2, 'timeout', true], [3, 'timeout', false]]);
    for (const e of tried) {
      expect(e.role).toBe('main');
      expect(e.endpoint).toBe(s.url);
      expect(e.duration_ms).toBeGreaterThanOrEqual(250);
    }
    // Written before the termination, as they happened.
    expect(events.findIndex((e) => e.type === 'model_attempt')).toBeLessThan(events.findIndex((e) => e.type === 'termination'));
  }, 15_000);

  it('a per-sample deadline ends a sample stuck on a hung endpoint, recorded as an error that says so', async () => {
    const s = await serve({ default: [{ delayMs: 20_000, content: 'late' }] });
    const model = client(s, { timeout_s: 30, max_retries: 4 });
    const events: RunEvent[] = [];
    const t0 = performance.now();
    const result = await runSample({
      sample: SAMPLE, session, inputSummary: 'a video', model, apiDoc: '', options: { plan: false, sampleTimeoutS: 1 },
      sink: { event: (e) => events.push(RunEventSchema.parse(e)) },
    });
    const took = performance.now() - t0;
    // A 1 s deadline against a reply that never ends (or comes after 20 s): 10 s leaves room for a loaded machine.
    expect(took).toBeLessThan(10_000);
    expect(result.termination).toBe('error');
    expect(result.error).toMatch(/deadline of 1 s/);
    expect(events.at(-1)).toMatchObject({ type: 'termination', reason: 'error' });
    expect(events.some((e) => e.type === 'model_attempt' && e.kind === 'aborted')).toBe(true);
    // No fallback call after the deadline: the one hung request only.
    expect(s.requests).toHaveLength(1);
  }, 10_000);

  it('spatialclaw ask --max-retries 2 sends 1 + 2 requests to a failing endpoint, and records each', async () => {
    const s = await serve({ default: [{ status: 500, error: 'backend crashed' }] });
    const out = mkdtempSync(join(tmpdir(), 'ask-retries-'));
    const r = await spatialclaw(['ask', '--input', join(ROOT, 'test', 'fixtures', 'rgbd_room'), '--question', 'Which?', '--choices', 'A. x', 'B. y',
      '--model', 'scripted', '--base-url', s.url, '--max-retries', '2', '--sample-timeout', '60', '--out', out, '--json'], {}, 60_000);
    expect(r.code, r.stderr).toBe(1);
    expect(s.requests).toHaveLength(3);
    const [id] = readdirSync(join(out, 'samples'));
    const events = readFileSync(join(out, 'samples', id!, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => RunEventSchema.parse(JSON.parse(l)));
    const tried = events.filter((e): e is Extract<RunEvent, { type: 'model_attempt' }> => e.type === 'model_attempt');
    expect(tried.map((e) => [e.role, e.attempt, e.status, e.will_retry])).toEqual([['planner', 1, 500, true], ['planner', 2, 500, true], ['planner', 3, 500, false]]);
    expect(tried[0]!.error).toMatch(/HTTP 500: backend crashed/);
    expect(events.at(-1)).toMatchObject({ type: 'termination', reason: 'error' });
    const info = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { config: { agent: { sample_timeout_s?: number } } };
    expect(info.config.agent.sample_timeout_s).toBe(60);
  }, 70_000);
});
