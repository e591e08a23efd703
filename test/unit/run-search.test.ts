/**
 * The Runs list search (listRuns `search`) matches a run's sample questions as well as its id, model, dataset, kind
 * and benchmark names (issue 15, papercut "search ignores question text"). Runs written by the real RunWriter; the
 * question index parses each samples.jsonl once and only the new part of a growing one.
 */
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SampleResult, SampleSpec } from '../../shared/run.ts';
import { RunsService } from '../../electron/services/app/runs.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import { QUESTION_SEARCH_MIN_CHARS, RunQuestionIndex } from '../../electron/services/workbench/run-search.ts';

const IMAGES = join(import.meta.dirname, '..', 'fixtures', 'tum_rgbd_frame');

const resultOf = (id: string, question: string): SampleResult => ({
  id, question, answer: '1', answer_source: 'return_answer', ground_truth: '1', score: 1, question_type: 'count', termination: 'answered',
  steps: 1, parse_failures: 0, usage: { prompt_tokens: 1, completion_tokens: 1 }, model_calls: 1, duration_s: 1, error: null,
  started_at: '2025-11-21T10:00:00.000Z', finished_at: '2025-11-21T10:00:01.000Z',
});

/** Record one finished sample through the writer (its events, then its samples.jsonl line). */
async function finishSample(w: RunWriter, id: string, question: string): Promise<void> {
  const spec: SampleSpec = { id, question, inputs: [{ kind: 'images', path: IMAGES }] };
  const s = w.startSample(spec);
  s.event({ type: 'sample_start', t: '2025-11-21T10:00:00.000Z', step: 0, sample: spec, executor: 'code' });
  s.event({ type: 'termination', t: '2025-11-21T10:00:01.000Z', step: 1, reason: 'answered', detail: null });
  await s.finish(resultOf(id, question));
}

describe('run list search over sample questions', () => {
  const root = mkdtempSync(join(tmpdir(), 'run-search-'));
  const writers: RunWriter[] = [];
  afterAll(async () => {
    for (const w of writers) await w.finish('finished').catch(() => undefined);
  });

  it('matches question text (first matching question returned), metadata first, and benchmark names', async () => {
    const chairs = await RunWriter.create(join(root, 'run-a'), { config: { kind: 'run', dataset: '/data/rooms.jsonl', model: { name: 'qwen-vl' } }, versions: {}, total_samples: 2 });
    await finishSample(chairs, 'q1', 'How far is the chair from the door?');
    await finishSample(chairs, 'q2', 'How many Chairs are in the room?');
    await chairs.finish('finished');
    const blink = await RunWriter.create(join(root, 'run-b'), { config: { kind: 'eval', benchmarks: ['blink', 'cvbench'], model: { name: 'gemma' } }, versions: {}, total_samples: 1 });
    await finishSample(blink, 'b1', 'Which point is closer to the camera?');
    await blink.finish('finished');
    const runs = new RunsService(root, () => false);

    const hit = runs.list({ search: '  CHAIR ' });
    expect(hit.map((r) => r.id)).toEqual(['run-a']);
    expect(hit[0]!.matched_question).toBe('How far is the chair from the door?');
    expect(runs.list({ search: 'closer to the camera' }).map((r) => [r.id, r.matched_question])).toEqual([['run-b', 'Which point is closer to the camera?']]);
    // Metadata matches carry no matched_question; benchmark names and kind are searched.
    expect(runs.list({ search: 'cvbench' }).map((r) => [r.id, r.matched_question])).toEqual([['run-b', undefined]]);
    expect(runs.list({ search: 'qwen' }).map((r) => r.id)).toEqual(['run-a']);
    expect(runs.list({ search: 'eval' }).map((r) => r.id)).toEqual(['run-b']);
    // Nothing matches: empty; other filters still apply before the question search.
    expect(runs.list({ search: 'elephant' })).toEqual([]);
    expect(runs.list({ search: 'chair', model: 'gemma' })).toEqual([]);
  });

  it('does not search questions for terms under 3 characters', async () => {
    expect(QUESTION_SEARCH_MIN_CHARS).toBe(3);
    const runs = new RunsService(root, () => false);
    // "ow" is in every question ("How", "closer"?) but in no id, model or dataset.
    expect(runs.list({ search: 'ow' })).toEqual([]);
    expect(runs.list({ search: 'how' }).map((r) => r.id).sort()).toEqual(['run-a']);
  });

  it('parses a run once, and only the new lines of a live run that grew', async () => {
    const live = await RunWriter.create(join(root, 'run-c'), { config: { kind: 'ask' }, versions: {}, total_samples: 3 });
    writers.push(live);
    await finishSample(live, 'l1', 'Is the lamp left of the sofa?');
    const index = new RunQuestionIndex();
    const dir = join(root, 'run-c');
    expect(index.find(dir, 'lamp')).toBe('Is the lamp left of the sofa?');
    expect(index.parsedLines).toBe(1);
    expect(index.find(dir, 'sofa')).not.toBeNull();
    expect(index.find(dir, 'television')).toBeNull();
    expect(index.parsedLines).toBe(1); // unchanged file: not parsed again
    await finishSample(live, 'l2', 'What colour is the television?');
    expect(index.find(dir, 'television')).toBe('What colour is the television?');
    expect(index.parsedLines).toBe(2); // only the new line
    // A torn last line (a writer mid-append) is skipped, and read once it is complete.
    appendFileSync(join(dir, 'samples.jsonl'), JSON.stringify(resultOf('l3', 'Where is the kettle?')).slice(0, 30));
    expect(index.find(dir, 'kettle')).toBeNull();
  });

  it('drops the least recently searched runs beyond its size limit, and still answers for them', async () => {
    const index = new RunQuestionIndex(100); // characters × 2 of question text
    const a = join(root, 'run-a');
    const b = join(root, 'run-b');
    expect(index.find(a, 'chair')).not.toBeNull();
    const first = index.parsedLines;
    expect(index.find(b, 'camera')).not.toBeNull(); // over the limit: evicts run-a, the least recently searched
    expect(index.find(a, 'chair')).not.toBeNull(); // parsed again
    expect(index.parsedLines).toBe(first + 1 + 2);
  });
});
