/**
 * `spatialclaw run` from the first second (issue 14): phase lines before any sample is done, the first sample
 * starting while kernels are still starting, progress.json for the workbench, the media-grouped schedule as the
 * model sees it, and the throughput summary. Real CLI, Jupyter server and kernels; scripted model with latency.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunInfoSchema, RunProgressSchema } from '../../shared/run.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { type Reply, type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const IMG_A = join(ROOT, 'test', 'fixtures', 'tum_rgbd_frame', 'TUM_color.png');
const IMG_B = join(ROOT, 'test', 'fixtures', 'tum_rgbd_frame', 'TUM_depth.png');
const PLAN = '1. Look.\n2. Answer.';
const CELL = 'Purpose: compute\nReasoning: trivial.\nNext Goal: answer\nCode:\n```python\nx = int(np.arange(4).sum())\nprint(x)\n```';
const ANSWER = 'Purpose: answer\nReasoning: done.\nNext Goal: none\nCode:\n```python\nReturnAnswer(6)\n```';
const slow = (content: string): Reply => ({ content, delayMs: 300 });

const servers: ScriptedModelServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** Samples s0..s3 on images A, B, A, B; each scripted as plan, one cell, answer. */
async function setup(): Promise<{ model: ScriptedModelServer; dataset: string; dir: string }> {
  const ids = ['s0', 's1', 's2', 's3'];
  const model = await startScriptedModelServer({ script: Object.fromEntries(ids.map((id) => [id, [slow(PLAN), slow(CELL), slow(ANSWER)]])), whenExhausted: 'error' });
  servers.push(model);
  const dir = mkdtempSync(join(tmpdir(), 'run-progress-'));
  const dataset = join(dir, 'd.jsonl');
  writeFileSync(dataset, ids.map((id, i) => JSON.stringify({ id, inputs: [{ kind: 'images', path: i % 2 ? IMG_B : IMG_A }], question: 'How many?', answer: 6 })).join('\n'));
  return { model, dataset, dir };
}

describe('spatialclaw run progress', () => {
  it('prints phases from the start, starts the first sample before the last kernel is warm, and writes progress.json', async () => {
    const { model, dataset, dir } = await setup();
    const out = join(dir, 'out');
    const r = await spatialclaw(['run', '--dataset', dataset, '--model', 'scripted', '--base-url', model.url, '--concurrency', '3', '--out', out], {}, 240_000);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const firstDone = lines.findIndex((l) => l.startsWith('[#') || l.startsWith('[.'));
    expect(firstDone).toBeGreaterThan(0);
    const before = lines.slice(0, firstDone);
    // Phase lines come first, with the time since the start.
    expect(before.some((l) => /^\[\s*\d+\.\d s\] (starting the Jupyter server|kernels 0\/3 ready)/.test(l))).toBe(true);
    expect(before.some((l) => /^\[\s*\d+\.\d s\] first model call sent$/.test(l))).toBe(true);
    const firstCallS = Number(/^\[\s*(\d+\.\d) s\] first model call sent$/m.exec(r.stdout)![1]);
    const progress = RunProgressSchema.parse(JSON.parse(readFileSync(join(out, 'progress.json'), 'utf8')));
    expect(progress).toMatchObject({ stage: 'done', samples: { total: 4, done: 4 }, kernels: { target: 3 } });
    expect(progress.first_model_call_s).not.toBeNull();
    expect(Math.abs(progress.first_model_call_s! - firstCallS)).toBeLessThan(0.2);
    expect(progress.first_model_call_s!).toBeLessThan(progress.first_sample_done_s!);
    // The pool starts as many kernels at once as there are CPUs: with fewer than the run's 3, the first sample works
    // while a later kernel is still starting.
    if (availableParallelism() < 3) {
      expect(before.some((l) => /kernels [12]\/3 ready.*(preparing inputs|waiting for the model|running a cell)/.test(l)), before.join('\n')).toBe(true);
    }
    // The model got every sample's calls; 4 samples on 3 kernels: at least one kernel served two samples.
    expect(new Set(model.requests.map((q) => q.sampleId))).toEqual(new Set(['s0', 's1', 's2', 's3']));
    expect(r.stdout).toMatch(/throughput:\n {2}first model call \d+\.\d s after the start/);
    // Every sample acquired one kernel: those not freshly started were reused (reset in place), never more than 3 kernels.
    const [, started, reuses] = /kernels: (\d+) started, (\d+) reuses/.exec(r.stdout)!.map(Number);
    expect(started).toBeLessThanOrEqual(3);
    expect(reuses).toBeGreaterThanOrEqual(4 - started!);
    expect(r.stdout).toMatch(/model: 12 calls, 0 retries, 0 failed; at most 16 in flight/);
    const info = RunInfoSchema.parse(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')));
    expect(info.config).toMatchObject({ concurrency: 3, order: 'media' });
  }, 300_000);

  it('runs samples about the same image one after another (--order media), as the model sees them', async () => {
    const { model, dataset, dir } = await setup();
    const r = await spatialclaw(['run', '--dataset', dataset, '--model', 'scripted', '--base-url', model.url, '--concurrency', '1', '--out', join(dir, 'media')], {}, 240_000);
    expect(r.code, r.stderr).toBe(0);
    const firstCalls = (m: ScriptedModelServer): (string | null)[] => [...new Set(m.requests.map((q) => q.sampleId))];
    expect(firstCalls(model)).toEqual(['s0', 's2', 's1', 's3']);
    // The images s2's model calls carry are image A, the one s0 saw; s1's are image B.
    const imageOf = (id: string): string => {
      const images = JSON.stringify(model.requestsFor(id).map((q) => q.body['messages'])).match(/data:image\/[a-z]+;base64,[A-Za-z0-9+/=]+/g);
      expect(images, `sample ${id}'s model calls carry an image`).not.toBeNull();
      return images!.join(',');
    };
    expect(imageOf('s2')).toBe(imageOf('s0'));
    expect(imageOf('s1')).not.toBe(imageOf('s0'));

    const { model: m2, dataset: d2, dir: dir2 } = await setup();
    const r2 = await spatialclaw(['run', '--dataset', d2, '--model', 'scripted', '--base-url', m2.url, '--concurrency', '1', '--order', 'dataset', '--out', join(dir2, 'ds')], {}, 240_000);
    expect(r2.code, r2.stderr).toBe(0);
    expect(firstCalls(m2)).toEqual(['s0', 's1', 's2', 's3']);
  }, 300_000);

  it('rejects a bad --concurrency or --order before starting anything', async () => {
    const bad = await spatialclaw(['run', '--dataset', 'x.jsonl', '--model', 'scripted', '--base-url', 'http://127.0.0.1:9/v1', '--concurrency', 'lots']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--concurrency must be a positive whole number or auto, got "lots"/);
    const order = await spatialclaw(['run', '--dataset', 'x.jsonl', '--model', 'scripted', '--base-url', 'http://127.0.0.1:9/v1', '--order', 'random']);
    expect(order.code).not.toBe(0);
    expect(order.stderr).toMatch(/--order must be media or dataset, got "random"/);
  });
});
