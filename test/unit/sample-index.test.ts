/**
 * The triage index (electron/services/runs/sample-index.ts) on a real run written by RunWriter and annotated with
 * appendAnnotation (test/helpers/triage-run.ts): what each sample's events and annotations derive, the per-run
 * cache, filters, FiftyOne-style facet counts, sort, ranges, paging and export rows; and a run of 5,000 samples.
 */
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { appendAnnotation } from '../../electron/services/runs/annotations.ts';
import { exportRow, filterSamples, filterWithFacets, type IndexedSample, rangesOf, SampleIndex, sortSamples, triagePage } from '../../electron/services/runs/sample-index.ts';
import type { SampleResult } from '../../shared/run.ts';
import { type SampleFilter, TriagePageSchema, TriageQuerySchema } from '../../shared/triage.ts';
import { writeSyntheticRun, writeTriageRun } from '../helpers/triage-run.ts';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
let dir: string;
let samples: IndexedSample[];

beforeAll(async () => {
  dir = join(tmp('sc-triage-'), 'run');
  await writeTriageRun(dir);
  samples = new SampleIndex().samples(dir);
});

const ids = (xs: readonly IndexedSample[]) => xs.map((s) => s.result.id);
const match = (f: SampleFilter) => ids(filterSamples(samples, f));
const facet = (f: SampleFilter, k: keyof ReturnType<typeof filterWithFacets>['facets']) =>
  Object.fromEntries(filterWithFacets(samples, f).facets[k].map((c) => [c.value, c.count]));

describe('deriving a sample from its events and annotations', () => {
  it('counts failed agent cells, names the error class, sees fallbacks, folds tags and notes', () => {
    const d = Object.fromEntries(samples.map((s) => [s.result.id, s.derived]));
    expect(d['q0']).toEqual({ benchmark: 'vsibench', correct: true, tool_failures: 0, error_class: null, fallback_used: false, tags: [], notes: 0 });
    expect(d['q1']).toEqual({ benchmark: 'vsibench', correct: false, tool_failures: 1, error_class: 'NameError', fallback_used: false, tags: ['reasoning.wrong_plan', 'geometry.wrong_frame_axis_units'], notes: 1 });
    expect(d['q2']).toEqual({ benchmark: null, correct: true, tool_failures: 1, error_class: 'TimeoutError', fallback_used: true, tags: ['infrastructure.timeout'], notes: 1 });
    expect(d['q3']).toEqual({ benchmark: null, correct: null, tool_failures: 0, error_class: 'HostError', fallback_used: false, tags: [], notes: 0 });
    expect(d['q4']).toMatchObject({ correct: false, tool_failures: 1, error_class: 'Rejected' });
    // The text haystack holds the agent's code.
    expect(samples[1]!.haystack).toContain('d = depth_map.mean()');
  });

  it('reads each sample once, re-folds annotations when the journal changes, treats a missing events.jsonl as no events, keeps the last line of an id', () => {
    const index = new SampleIndex();
    const first = index.samples(dir);
    expect(index.eventsRead).toBe(5);
    expect(index.samples(dir)).toBe(first);
    appendAnnotation(dir, { id: 'aaaaaaaaaaaaaaaa', t: '2026-12-05T11:00:00.000Z', author: 'dan', op: 'tag', sample_id: 'q0', step: null, tag: 'other.correct_wrong_reason' });
    const tagged = index.samples(dir);
    expect(tagged[0]!.derived.tags).toEqual(['other.correct_wrong_reason']);
    expect(index.eventsRead).toBe(5);
    appendAnnotation(dir, { id: 'bbbbbbbbbbbbbbbb', t: '2026-12-05T11:00:01.000Z', author: 'dan', op: 'untag', sample_id: 'q0', step: null, tag: 'other.correct_wrong_reason' });
    expect(index.samples(dir)[0]!.derived.tags).toEqual([]);
    // A sample in samples.jsonl without a folder (the e2e run of 5,000 lines has none): no events, no error.
    const line: SampleResult = { ...first[0]!.result, id: 'no_folder', finished_at: '2026-12-05T12:00:00.000Z' };
    appendFileSync(join(dir, 'samples.jsonl'), `${JSON.stringify(line)}\n`);
    const grown = index.samples(dir);
    expect(grown).toHaveLength(6);
    expect(index.eventsRead).toBe(6);
    expect(grown[5]!.derived).toMatchObject({ tool_failures: 0, error_class: null, fallback_used: false });
    expect(grown[0]).toBe(index.samples(dir)[0]); // unchanged rows keep their entries
    // A sample recorded twice counts once, as its last line (read again: its finished_at differs).
    const again: SampleResult = { ...first[3]!.result, score: 1, ground_truth: 'grey', finished_at: '2026-12-05T12:30:00.000Z' };
    appendFileSync(join(dir, 'samples.jsonl'), `${JSON.stringify(again)}\n`);
    const deduped = index.samples(dir);
    expect(deduped.map((s) => s.result.id)).toEqual(['q0', 'q1', 'q2', 'q4', 'no_folder', 'q3']);
    expect(deduped[5]!.result.score).toBe(1);
    expect(deduped[5]!.index).toBe(6);
    expect(index.eventsRead).toBe(7);
  });

  it('names the file and line of an events.jsonl line that is not JSON', async () => {
    const d = join(tmp('sc-triage-bad-'), 'run');
    await writeTriageRun(d);
    appendFileSync(join(d, 'samples', 'q1', 'events.jsonl'), '{"type":"cell", oops}\n');
    expect(() => new SampleIndex().samples(d)).toThrow(/samples\/q1\/events\.jsonl:\d+: not valid JSON/);
  });
});

describe('filters', () => {
  it('match text in the id, question, choices, answer, ground truth and agent code, case-insensitively', () => {
    expect(match({ text: 'DEPTH_MAP' })).toEqual(['q1']);
    expect(match({ text: 'chairs' })).toEqual(['q0']);
    expect(match({ text: 'b. no' })).toEqual(['q1']);
    expect(match({ text: '2.5' })).toEqual(['q2']);
    expect(match({ text: '   ' })).toHaveLength(5);
  });

  it('take ranges inclusive at both ends, and unscored samples never match a score range', () => {
    expect(match({ score: { min: 0.25, max: 0.8 } })).toEqual(['q2', 'q4']);
    expect(match({ score: { max: 0 } })).toEqual(['q1']);
    expect(match({ steps: { min: 1, max: 1 } })).toEqual(['q2']);
    expect(match({ duration_s: { min: 20 } })).toEqual(['q1', 'q2', 'q4']);
  });

  it('OR the values of one facet and AND the facets; none and untagged match missing values', () => {
    expect(match({ outcome: ['wrong', 'unscored'] })).toEqual(['q1', 'q3', 'q4']);
    expect(match({ question_type: ['none'] })).toEqual(['q2', 'q3']);
    expect(match({ benchmark: ['vsibench'], outcome: ['wrong'] })).toEqual(['q1', 'q4']);
    expect(match({ error_class: ['none'] })).toEqual(['q0']);
    expect(match({ error_class: ['NameError', 'Rejected'] })).toEqual(['q1', 'q4']);
    expect(match({ termination: ['max_steps', 'error'] })).toEqual(['q2', 'q3']);
    expect(match({ tool_failures: true })).toEqual(['q1', 'q2', 'q4']);
    expect(match({ tool_failures: false })).toEqual(['q0', 'q3']);
    expect(match({ fallback_used: true })).toEqual(['q2']);
    expect(match({ tags: ['untagged'] })).toEqual(['q0', 'q3', 'q4']);
    expect(match({ tags: ['geometry.wrong_frame_axis_units', 'infrastructure.timeout'] })).toEqual(['q1', 'q2']);
    expect(match({ outcome: [] })).toHaveLength(5);
  });
});

describe('facet counts', () => {
  it('count each facet over the samples matching every other filter, listing every value of the run', () => {
    // Without filters: the whole run.
    expect(facet({}, 'outcome')).toEqual({ correct: 2, wrong: 2, unscored: 1 });
    expect(facet({}, 'error_class')).toEqual({ none: 1, NameError: 1, TimeoutError: 1, HostError: 1, Rejected: 1 });
    expect(facet({}, 'tags')).toEqual({ untagged: 3, 'reasoning.wrong_plan': 1, 'geometry.wrong_frame_axis_units': 1, 'infrastructure.timeout': 1 });
    // Selecting outcome=wrong leaves the outcome facet as it was, and narrows the others.
    const f: SampleFilter = { outcome: ['wrong'] };
    expect(facet(f, 'outcome')).toEqual({ correct: 2, wrong: 2, unscored: 1 });
    expect(facet(f, 'question_type')).toEqual({ object_counting: 1, relative_direction: 1, none: 0 });
    expect(facet(f, 'tool_failures')).toEqual({ true: 2, false: 0 });
    // Two active filters: each facet sees only the other one.
    const g: SampleFilter = { outcome: ['wrong'], benchmark: ['none'] };
    expect(filterWithFacets(samples, g).matches).toHaveLength(0);
    expect(facet(g, 'outcome')).toEqual({ correct: 1, wrong: 0, unscored: 1 });
    expect(facet(g, 'benchmark')).toEqual({ vsibench: 2, none: 0 });
    // Non-facet filters (text, ranges) narrow every facet.
    expect(facet({ text: 'ReturnAnswer' }, 'outcome')).toEqual({ correct: 1, wrong: 2, unscored: 0 });
  });

  it('order fixed facets as declared and the others by count, then value', () => {
    const { facets } = filterWithFacets(samples, {});
    expect(facets.outcome.map((c) => c.value)).toEqual(['correct', 'wrong', 'unscored']);
    expect(facets.fallback_used.map((c) => c.value)).toEqual(['true', 'false']);
    expect(facets.question_type.map((c) => c.value)).toEqual(['none', 'object_counting', 'relative_direction']);
    expect(facets.termination).toEqual([{ value: 'answered', count: 3 }, { value: 'error', count: 1 }, { value: 'max_steps', count: 1 }]);
  });
});

describe('sort, ranges and pages', () => {
  it('sorts ascending or descending with unscored last and ties in index order', () => {
    expect(ids(sortSamples(samples, 'score', false))).toEqual(['q1', 'q4', 'q2', 'q0', 'q3']);
    expect(ids(sortSamples(samples, 'score', true))).toEqual(['q0', 'q2', 'q4', 'q1', 'q3']);
    expect(ids(sortSamples(samples, 'steps', true))).toEqual(['q0', 'q1', 'q4', 'q2', 'q3']);
    expect(ids(sortSamples(samples, 'tool_failures', true))).toEqual(['q1', 'q2', 'q4', 'q0', 'q3']);
    expect(ids(sortSamples(samples, 'duration', false))).toEqual(['q3', 'q0', 'q4', 'q1', 'q2']);
    expect(ids(sortSamples(samples, 'index', true))).toEqual(['q4', 'q3', 'q2', 'q1', 'q0']);
  });

  it('gives the ranges over the whole run, null without values', () => {
    expect(rangesOf(samples)).toEqual({ score: [0, 1], steps: [0, 2], duration_s: [0.5, 61] });
    expect(rangesOf(samples.filter((s) => s.result.score === null))).toEqual({ score: null, steps: [0, 0], duration_s: [0.5, 0.5] });
    expect(rangesOf([])).toEqual({ score: null, steps: null, duration_s: null });
  });

  it('pages a query with the defaults of TriageQuerySchema and returns a valid TriagePage', () => {
    const q = TriageQuerySchema.parse({ run_id: 'run', filter: { benchmark: ['vsibench'] }, sort: 'score', desc: true, offset: 1, limit: 1 });
    const page = TriagePageSchema.parse(triagePage(samples, q));
    expect(page).toMatchObject({ run_total: 5, total: 3, offset: 1 });
    expect(page.rows.map((r) => r.result.id)).toEqual(['q4']);
    expect(page.rows[0]!.derived.error_class).toBe('Rejected');
    const all = triagePage(samples, TriageQuerySchema.parse({ run_id: 'run' }));
    expect(all.rows.map((r) => r.result.id)).toEqual(['q0', 'q1', 'q2', 'q3', 'q4']);
  });
});

describe('export rows', () => {
  it('split sample tags from step tags and write notes with author and step', () => {
    const q1 = exportRow(samples[1]!);
    expect(q1).toMatchObject({
      id: 'q1', benchmark: 'vsibench', choices: ['A. yes', 'B. no'], answer: 'B', ground_truth: 'A', score: 0, correct: false, scoring: 'official',
      tool_failures: 1, error_class: 'NameError', fallback_used: false,
      tags: ['reasoning.wrong_plan'], step_tags: ['2:geometry.wrong_frame_axis_units'], notes: ['alice (step 1): depth_map was never defined'],
    });
    expect(exportRow(samples[2]!)).toMatchObject({ choices: [], notes: ['bob: the cell slept; fallback saved it'], tags: ['infrastructure.timeout'], reasoning_tokens: null, fallback_used: true });
    expect(exportRow(samples[0]!)).toMatchObject({ prompt_tokens: 200, completion_tokens: 20, reasoning_tokens: 7, source_id: '17', correct: true });
  });
});

describe('a run of 5,000 samples', () => {
  it('reads each sample\'s events once and answers later queries from the cache (timings: test/bench/triage.ts)', () => {
    const d = join(tmp('sc-triage-big-'), 'run');
    writeSyntheticRun(d, 5000);

    const index = new SampleIndex();
    const built = index.samples(d);
    expect(built).toHaveLength(5000);
    expect(index.eventsRead).toBe(5000);
    const q = TriageQuerySchema.parse({ run_id: 'run', filter: { outcome: ['wrong'], tool_failures: true, text: 'print' }, sort: 'score', desc: true });
    expect(index.samples(d)).toBe(built);
    const page = triagePage(index.samples(d), q);
    expect(index.eventsRead).toBe(5000);
    // i % 3 == 0 and i % 5 == 0: every 15th sample.
    expect(page.total).toBe(334);
    expect(page.facets.outcome).toEqual([{ value: 'correct', count: 666 }, { value: 'wrong', count: 334 }, { value: 'unscored', count: 0 }]);
    expect(page.facets.fallback_used.find((c) => c.value === 'true')!.count).toBe(Math.ceil(5000 / 105)); // i % 7 == 0 among every 15th
    expect(page.rows.every((r) => r.result.score === 0 && r.derived.error_class === 'ValueError')).toBe(true);
  }, 60_000); // writing 5,000 sample folders is slow on a loaded 2-core machine
});
