/**
 * A finished sample opens with its recorded result: `sampleEvents` carries the sample's samples.jsonl line
 * (ground truth, score, termination, steps, duration, usage) read by the real RunsService from a run the real
 * RunWriter wrote, and the samples store keeps it as the sample's result (the header shows it).
 */
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunsService } from '../../electron/services/app/runs.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import type { WorkbenchApi } from '../../shared/api.ts';
import type { SampleResult, SampleSpec } from '../../shared/run.ts';
import { METHODS } from '../../shared/workbench.ts';
import { createSamplesStore, sampleKey } from '../../renderer/src/stores.ts';

const T = (s: number) => `2025-11-21T10:00:0${s}.000Z`;
const spec = (id: string): SampleSpec => ({ id, question: `How far? (${id})`, inputs: [{ kind: 'video', path: '/v.mp4' }], answer: 2.1 });
const result = (id: string, over: Partial<SampleResult> = {}): SampleResult => ({
  id, question: `How far? (${id})`, answer: '2.0', answer_source: 'direct_answer', ground_truth: 2.1, score: 0.9, question_type: null, termination: 'max_steps',
  steps: 2, parse_failures: 0, usage: { prompt_tokens: 500, completion_tokens: 40 }, model_calls: 4, duration_s: 7.5, error: null, started_at: T(0), finished_at: T(7), ...over,
});

async function writeRun(root: string): Promise<void> {
  const w = await RunWriter.create(join(root, 'r1'), { config: {}, versions: {}, total_samples: 3 });
  for (const id of ['done', 'open']) {
    const s = w.startSample(spec(id));
    s.event({ type: 'sample_start', t: T(0), step: 0, sample: spec(id), executor: 'code' });
    if (id === 'done') await s.finish(result(id));
  }
}

describe('a finished sample opens with its recorded result', () => {
  it('sampleEvents carries the samples.jsonl line of a finished sample, null for one without a line', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sample-result-'));
    await writeRun(root);
    const runs = new RunsService(root, () => false);
    const done = METHODS.sampleEvents.result.parse(runs.events('r1', 'done'));
    expect(done.result).toEqual(result('done'));
    expect(done.events[0]?.type).toBe('sample_start');
    expect(runs.events('r1', 'open').result).toBeNull();
    // A resumed run that retried the sample: its last line wins.
    appendFileSync(join(root, 'r1', 'samples.jsonl'), `${JSON.stringify(result('done', { score: 1, answer: '2.1' }))}\n`);
    expect(runs.events('r1', 'done').result).toMatchObject({ score: 1, answer: '2.1' });
    // A live sample has no result yet (it arrives with sample_done).
    expect(new RunsService(root, () => true).events('r1', 'done').result).toBeNull();
    // samples.jsonl broken: the events still open; listSamples is where the broken line is reported.
    appendFileSync(join(root, 'r1', 'samples.jsonl'), '{"id": "broken"\n');
    const broken = runs.events('r1', 'done');
    expect(broken.result).toBeNull();
    expect(broken.events[0]?.type).toBe('sample_start');
    expect(() => runs.samples({ run_id: 'r1', offset: 0, limit: 10, sort: 'index' })).toThrow(/samples\.jsonl/);
  });

  it('the samples store keeps the loaded result, and a live result (sample_done) is not replaced', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sample-result-'));
    await writeRun(root);
    const runs = new RunsService(root, () => false);
    const api = {
      transport: 'http',
      call: (async (method: string, args: { run_id: string; sample_id: string }) => {
        if (method !== 'sampleEvents') throw new Error(`unexpected ${method}`);
        return METHODS.sampleEvents.result.parse(runs.events(args.run_id, args.sample_id));
      }) as WorkbenchApi['call'],
      subscribe: () => () => undefined,
      pickPaths: async () => null,
    } satisfies WorkbenchApi;
    const store = createSamplesStore(api);
    await store.getState().load('r1', 'done');
    expect(store.getState().samples[sampleKey('r1', 'done')]).toMatchObject({ loading: false, live: false, result: { ground_truth: 2.1, score: 0.9, termination: 'max_steps' } });
    await store.getState().load('r1', 'open');
    expect(store.getState().samples[sampleKey('r1', 'open')]!.result).toBeNull();
    store.getState().applyHostEvent({ type: 'sample_done', run_id: 'r1', sample_id: 'open', result: result('open', { score: 0 }), error: null });
    await store.getState().load('r1', 'open');
    expect(store.getState().samples[sampleKey('r1', 'open')]!.result?.score).toBe(0);
  });
});
