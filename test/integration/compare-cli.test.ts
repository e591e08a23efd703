/** `spatialclaw compare` on two run folders written by the real RunWriter (the run store's samples.jsonl). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import type { SampleResult } from '../../shared/run.ts';
import { spatialclaw } from '../helpers/cli.ts';

const result = (id: string, score: number, qt: string): SampleResult => ({
  id, question: `question ${id}`, answer: score >= 0.5 ? 'A' : 'B', answer_source: 'return_answer', ground_truth: 'A', score,
  question_type: qt, termination: 'answered', steps: 2, parse_failures: 0, usage: { prompt_tokens: 10, completion_tokens: 5 },
  model_calls: 2, duration_s: 1, error: null, started_at: '2026-12-05T10:00:00.000Z', finished_at: '2026-12-05T10:00:01.000Z',
});

async function writeRun(dir: string, scores: number[]): Promise<void> {
  const w = await RunWriter.create(dir, { config: { kind: 'run' }, versions: {}, total_samples: scores.length });
  for (const [i, s] of scores.entries()) {
    const id = `q${i}`;
    const spec = { id, question: `question ${id}`, inputs: [{ kind: 'images' as const, path: '/x.png' }] };
    const sw = w.startSample(spec);
    sw.event({ type: 'sample_start', t: '2026-12-05T10:00:00.000Z', step: 0, sample: spec, executor: 'code' });
    await sw.finish(result(id, s, i % 2 ? 'relative_direction' : 'object_counting'));
  }
  await w.finish('finished');
}

describe('spatialclaw compare', () => {
  it('prints the paired comparison of two recorded runs as JSON and as a table', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sc-compare-'));
    await writeRun(join(root, 'a'), [1, 0, 0, 0, 1, 1]);
    await writeRun(join(root, 'b'), [1, 1, 1, 0, 0, 1]);
    const r = await spatialclaw(['compare', join(root, 'a'), join(root, 'b'), '--json', '--resamples', '500']);
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout) as Record<string, unknown> & { per_task: Record<string, { n_common: number }>; flips: Record<string, string[]> };
    expect(c).toMatchObject({ n_common: 6, a_only_correct: 1, b_only_correct: 2, mcnemar_p: 1 });
    expect(c['delta']).toBeCloseTo(1 / 6, 10);
    expect(c.per_task['object_counting']!.n_common).toBe(3);
    expect(c.flips).toEqual({ right_to_wrong: ['q4'], wrong_to_right: ['q1', 'q2'] });
    const table = await spatialclaw(['compare', join(root, 'a'), join(root, 'b')]);
    expect(table.stdout).toMatch(/\| \*\*all\*\* \| 6 \| 50\.0 \| 66\.7 \| \+16\.7 \|/);
    const bad = await spatialclaw(['compare', root, join(root, 'b')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/is not a run folder: it has no samples\.jsonl/);
  });
});
