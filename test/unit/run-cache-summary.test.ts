import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheCounts, perceptionCacheSummary } from '../../electron/services/runs/cache-summary.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import { ArtifactEventFieldsSchema, type RunEvent, RunEventSchema, type SampleResult, type SampleSpec } from '../../shared/run.ts';

const T = '2025-11-21T10:00:00.000Z';
const AID = 'ab'.repeat(16);

const spec = (id: string): SampleSpec => ({ id, question: `How far is ${id}?`, inputs: [{ kind: 'video', path: '/v.mp4' }], answer: 2 });
const result = (id: string): SampleResult => ({
  id, question: `How far is ${id}?`, answer: 2, answer_source: 'return_answer', ground_truth: 2, score: 1, question_type: 'object_abs_distance',
  termination: 'answered', steps: 2, parse_failures: 0, usage: { prompt_tokens: 10, completion_tokens: 2 }, model_calls: 2, duration_s: 1,
  error: null, started_at: T, finished_at: T,
});
/** An artifact event as the agent loop records one (cell-step.ts); `cache` left out when undefined. */
const artifact = (tool: 'Reconstruct' | 'SAM3', cache: 'hit' | 'miss' | undefined, step = 1): RunEvent => ({
  type: 'artifact', t: T, step, id: AID, tool, kind: tool === 'SAM3' ? 'masks' : 'reconstruction',
  url: `http://127.0.0.1:8765/v1/artifacts/${AID}`, summary: 's', frame_indices: [0, 1],
  ...(cache === undefined ? {} : { cache }),
});

/** A run written by the real store: one sample per entry, with these artifact events between start and end. */
async function writeRun(samples: Record<string, RunEvent[]>, unfinished: Record<string, RunEvent[]> = {}): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'cache-summary-')), 'run');
  const w = await RunWriter.create(dir, { config: { kind: 'run' }, versions: { workbench: '0.1.0' }, total_samples: 5 });
  for (const [id, events] of Object.entries({ ...samples, ...unfinished })) {
    const s = w.startSample(spec(id));
    s.event({ type: 'sample_start', t: T, step: 0, sample: spec(id), executor: 'code' });
    for (const e of events) s.event(e);
    if (id in samples) {
      s.event({ type: 'termination', t: T, step: 2, reason: 'answered', detail: null });
      await s.finish(result(id));
    }
  }
  await w.finish('interrupted'); // the unfinished samples are aborted: their events stay, without a result line
  return dir;
}

describe('the artifact event contract', () => {
  it('keeps the cache answer and refuses other values', () => {
    // What cell-step.ts does with each artifact a kernel tool published: the event fields keep `cache`.
    const published = { id: AID, tool: 'SAM3', kind: 'masks', url: null, summary: 's', shapes: { masks: [1, 1, 4, 5] }, labels: ['cup'], cache: 'hit' };
    expect(ArtifactEventFieldsSchema.parse(published)).toEqual({ id: AID, tool: 'SAM3', kind: 'masks', url: null, summary: 's', labels: ['cup'], cache: 'hit' });
    expect(RunEventSchema.parse(artifact('SAM3', 'hit'))).toMatchObject({ type: 'artifact', cache: 'hit' });
    expect(RunEventSchema.parse(artifact('SAM3', undefined))).not.toHaveProperty('cache');
    expect(RunEventSchema.safeParse({ ...artifact('SAM3', 'hit'), cache: 'stale' }).success).toBe(false);
  });
});

describe('perceptionCacheSummary', () => {
  it('counts artifacts, hits, misses and the hit rate over the finished samples, overall and per tool', async () => {
    const dir = await writeRun(
      {
        s1: [artifact('Reconstruct', 'miss'), artifact('SAM3', 'miss', 2), artifact('SAM3', 'miss', 2)],
        s2: [artifact('Reconstruct', 'hit'), artifact('SAM3', 'hit', 2)],
        s3: [artifact('Reconstruct', 'hit'), artifact('Reconstruct', undefined, 2)], // a server that did not say
        s4: [], // no perception at all
      },
      { s5: [artifact('Reconstruct', 'miss')] }, // unfinished: not in samples.jsonl
    );
    expect(perceptionCacheSummary(dir)).toEqual({
      samples: 4,
      samples_with_artifacts: 3,
      artifacts: 7,
      hits: 3,
      misses: 3,
      unknown: 1,
      hit_rate: 0.5,
      by_tool: {
        Reconstruct: { artifacts: 4, hits: 2, misses: 1, unknown: 1, hit_rate: 2 / 3 },
        SAM3: { artifacts: 3, hits: 1, misses: 2, unknown: 0, hit_rate: 1 / 3 },
      },
    });
    // Named samples only (the unfinished one too: its events are on disk).
    expect(perceptionCacheSummary(dir, ['s2', 's5'])).toMatchObject({ samples: 2, artifacts: 3, hits: 2, misses: 1, hit_rate: 2 / 3 });
  });

  it('gives a null hit rate without any cache answer, and empty counts for a run without artifacts', async () => {
    const old = await writeRun({ a: [artifact('SAM3', undefined)] });
    expect(perceptionCacheSummary(old)).toMatchObject({ artifacts: 1, hits: 0, misses: 0, unknown: 1, hit_rate: null });
    const none = await writeRun({ a: [], b: [] });
    expect(perceptionCacheSummary(none)).toEqual({ samples: 2, samples_with_artifacts: 0, artifacts: 0, hits: 0, misses: 0, unknown: 0, hit_rate: null, by_tool: {} });
  });

  it('skips a torn last line and names the file of an invalid one', async () => {
    const dir = await writeRun({ a: [artifact('SAM3', 'hit')] });
    const events = join(dir, 'samples', 'a', 'events.jsonl');
    appendFileSync(events, '{"type": "artifact", "t"');
    expect(perceptionCacheSummary(dir)).toMatchObject({ artifacts: 1, hits: 1 });
    appendFileSync(events, '\n');
    expect(() => perceptionCacheSummary(dir)).toThrow(/events\.jsonl:4: not valid JSON/);
  });
});

describe('cacheCounts', () => {
  it('counts the artifact events among any events', () => {
    const events: RunEvent[] = [
      { type: 'plan', t: T, step: 0, text: 'p', error: null },
      artifact('Reconstruct', 'miss'),
      artifact('Reconstruct', 'hit', 2),
      artifact('SAM3', 'hit', 3),
    ];
    expect(cacheCounts(events)).toEqual({ artifacts: 3, hits: 2, misses: 1, unknown: 0, hit_rate: 2 / 3 });
    expect(cacheCounts([])).toEqual({ artifacts: 0, hits: 0, misses: 0, unknown: 0, hit_rate: null });
  });
});
