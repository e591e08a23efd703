/**
 * The end-of-batch summary of `spatialclaw run` / `eval` (issue 15, papercut "the batch summary is a raw JSON dump,
 * and it reports `errors: 0` when samples failed with tool errors"), over a run written by the real RunWriter:
 * samples whose cells failed are counted by error class, apart from host errors.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CellResult } from '../../shared/kernel.ts';
import type { SampleResult, SampleSpec } from '../../shared/run.ts';
import { batchSummary, formatBatchSummary } from '../../electron/services/runs/batch-summary.ts';
import { summarize } from '../../electron/services/runs/scoring.ts';
import { readRun } from '../../electron/services/runs/reader.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';

const IMAGES = join(import.meta.dirname, '..', 'fixtures', 'tum_rgbd_frame');
const T = '2025-11-21T10:00:00.000Z';

function cell(index: number, status: CellResult['status'], ename: string | null = null): CellResult {
  return {
    index, origin: 'agent', code: `x${index} = 1`, status, startedAt: T, durationMs: 5, stdout: '', stderr: '', result: null,
    error: ename ? { ename, evalue: 'boom', traceback: [`${ename}: boom`], lineno: 1, line: `x${index} = 1` } : null,
    violations: [], images: [], answer: null, artifacts: [], variables: [], notes: [],
  };
}

const result = (id: string, over: Partial<SampleResult>): SampleResult => ({
  id, question: 'How many?', answer: '3', answer_source: 'return_answer', ground_truth: '3', score: 1, question_type: 'count', termination: 'answered',
  steps: 3, parse_failures: 0, usage: { prompt_tokens: 1000, completion_tokens: 100 }, model_calls: 3, duration_s: 4, error: null,
  started_at: T, finished_at: T, ...over,
});

/** One sample: its cells (status, error name), an optional fallback model call, then its result. */
async function sample(w: RunWriter, id: string, cells: [CellResult['status'], string | null][], res: Partial<SampleResult>, fallback = false): Promise<void> {
  const spec: SampleSpec = { id, question: 'How many?', inputs: [{ kind: 'images', path: IMAGES }] };
  const s = w.startSample(spec);
  s.event({ type: 'sample_start', t: T, step: 0, sample: spec, executor: 'code' });
  cells.forEach(([status, ename], i) => s.event({ type: 'cell', t: T, step: i + 1, result: cell(i + 1, status, ename) }));
  if (fallback) {
    s.event({ type: 'model_call', t: T, step: cells.length, role: 'fallback', endpoint: 'e', latency_ms: 5, attempts: 1, usage: { prompt_tokens: 1, completion_tokens: 1 }, raw: '\\boxed{2}', reasoning: null, parsed: null, parse_error: null });
  }
  await s.finish(result(id, res));
}

describe('batch summary', () => {
  it('counts samples with failed cells by error class, apart from host errors, and reads as lines', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'batch-summary-')), 'run');
    const w = await RunWriter.create(dir, { config: { kind: 'run' }, versions: {}, total_samples: 6 });
    await sample(w, 's1', [['ok', null], ['error', 'NameError'], ['ok', null]], {});
    await sample(w, 's2', [['timeout', null], ['error', 'NameError']], { score: 0, answer: '5' });
    await sample(w, 's3', [['error', 'NameError'], ['rejected', null]], { termination: 'max_steps', answer_source: 'direct_answer', score: 0.5, parse_failures: 2 }, true);
    await sample(w, 's4', [['ok', null]], { termination: 'error', answer: null, answer_source: 'none', score: 0, error: 'model call failed: HTTP 500: scripted error 500' });
    await sample(w, 's5', [['ok', null]], { ground_truth: null, score: null, usage: { prompt_tokens: 10_000, completion_tokens: 1000, reasoning_tokens: 400 } });
    await w.finish('finished');

    // What the old summary said: `errors` counts host errors only, as if no cell had failed.
    expect(summarize(readRun(dir).samples).errors).toBe(1);

    const s = batchSummary(dir, { wallS: 73.25 });
    expect(s).toMatchObject({
      total: 6, done: 5, scored: 4, failed_cell_samples: 3, failed_cells: 5, by_error_class: { NameError: 2, TimeoutError: 1 },
      host_errors: 1, parse_failures: 2, parse_failure_samples: 1, fallback_samples: 1, terminations: { answered: 3, max_steps: 1, error: 1 },
    });
    expect(formatBatchSummary(s)).toBe([
      'samples:        5 of 6 done (1 not run: --resume --out DIR continues)',
      'score:          0.375 mean over 4 scored samples',
      'terminations:   answered 3, max_steps 1, error 1',
      'errors:         3 samples had failed cells (NameError ×2, TimeoutError ×1), 5 failed cells in all; 1 host error',
      '                host error in s4: model call failed: HTTP 500: scripted error 500',
      'parse failures: 2 (in 1 sample)',
      'fallbacks used: 1 sample answered by a fallback',
      'tokens:         14,000 prompt + 1,400 completion (400 reasoning) in 15 model calls',
      'wall time:      1 min 13 s (a sample: 4.0 s and 3.0 steps on average)',
    ].join('\n'));
  });

  it('says so when no cell failed', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'batch-summary-')), 'run');
    const w = await RunWriter.create(dir, { config: { kind: 'run' }, versions: {}, total_samples: 1 });
    await sample(w, 'a', [['ok', null]], { ground_truth: null, score: null });
    await w.finish('finished');
    const text = formatBatchSummary(batchSummary(dir));
    expect(text).toMatch(/^errors: {9}no sample had a failed cell; 0 host errors$/m);
    expect(text).toMatch(/^score: {10}none \(no sample has a ground truth\)$/m);
    expect(text).toMatch(/^wall time: {6}unknown /m);
  });
});
