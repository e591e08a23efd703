/**
 * `node --import tsx test/bench/triage.ts`: the triage index (electron/services/runs/sample-index.ts) on a run of
 * N samples (default 5,000; BENCH_SAMPLES) with 3 events each (a model call, a cell with 500 bytes of stdout, the
 * termination), in the run format (samples.jsonl + samples/<id>/events.jsonl).
 *
 * Measured, REPS times each (default 5; BENCH_REPS):
 *   - build: a new SampleIndex over a new SampleCache (samples.jsonl parsed, every events.jsonl read); the first
 *     rep reads cold files, the others from the page cache; then over a SampleCache that already holds samples.jsonl;
 *   - baseline: reading every sample's events with the full RunEvent schema (readSampleEvents), what the index would
 *     cost if it parsed whole events;
 *   - query: triagePage on the cached index (filter, facet counts, sort, page), for three queries;
 *   - annotation change: one tag appended to annotations.jsonl, then the index (re-folds, no events read).
 * Prints p50 / p90 in ms as a markdown table for docs/benchmarks.md. BENCH_KEEP=1 keeps the run folder (path printed last).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendAnnotation, newAnnotationId } from '../../electron/services/runs/annotations.ts';
import { readSampleEvents } from '../../electron/services/runs/reader.ts';
import { SampleIndex, triagePage } from '../../electron/services/runs/sample-index.ts';
import { SampleCache } from '../../electron/services/workbench/runs.ts';
import { TriageQuerySchema } from '../../shared/triage.ts';
import { writeSyntheticRun } from '../helpers/triage-run.ts';

const N = Number(process.env.BENCH_SAMPLES ?? 5000);
const REPS = Number(process.env.BENCH_REPS ?? 5);
const T = '2026-12-05T10:00:00.000Z';

const writeRun = (dir: string): void => writeSyntheticRun(dir, N);

function time(f: () => unknown): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

function stats(xs: number[]): { p50: number; p90: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))]!;
  return { p50: at(0.5), p90: at(0.9) };
}

const dir = join(mkdtempSync(join(tmpdir(), 'bench-triage-')), 'run');
writeRun(dir);
const rows: [string, number[]][] = [];
const build: number[] = [];
const events: number[] = [];
const cache = new SampleCache();
let index = new SampleIndex();
for (let i = 0; i < REPS; i++) {
  index = new SampleIndex(new SampleCache());
  build.push(time(() => index.samples(dir)));
}
cache.rows(dir);
for (let i = 0; i < REPS; i++) {
  index = new SampleIndex(cache);
  events.push(time(() => index.samples(dir)));
}
rows.push(['build: samples.jsonl + every events.jsonl (first rep: cold files)', build]);
rows.push(['build with samples.jsonl already parsed (listSamples shares the cache): the events only', events]);
const baseline: number[] = [];
for (let i = 0; i < REPS; i++) baseline.push(time(() => { for (let k = 0; k < N; k++) readSampleEvents(dir, `s${k}`); }));
rows.push(['baseline: every events.jsonl through the full RunEvent schema', baseline]);
const queries = {
  'query: no filter, index order, first 200': TriageQuerySchema.parse({ run_id: 'bench' }),
  'query: outcome + tool_failures + text, sort by score desc': TriageQuerySchema.parse({ run_id: 'bench', filter: { outcome: ['wrong'], tool_failures: true, text: 'print' }, sort: 'score', desc: true }),
  'query: question_type + duration range, sort by duration': TriageQuerySchema.parse({ run_id: 'bench', filter: { question_type: ['type_3'], duration_s: { min: 10, max: 80 } }, sort: 'duration' }),
};
for (const [name, q] of Object.entries(queries)) {
  const xs: number[] = [];
  for (let i = 0; i < REPS * 4; i++) xs.push(time(() => triagePage(index.samples(dir), q)));
  rows.push([name, xs]);
}
const refold: number[] = [];
const before = index.eventsRead;
for (let i = 0; i < REPS; i++) {
  appendAnnotation(dir, { id: newAnnotationId(), t: T, author: 'bench', op: 'tag', sample_id: `s${i}`, step: null, tag: 'reasoning.wrong_plan' });
  refold.push(time(() => index.samples(dir)));
}
if (index.eventsRead !== before) throw new Error('an annotation change read events again');
rows.push(['after an annotation change (re-fold, no events read)', refold]);

console.log(`${new Date().toISOString().slice(0, 10)}, ${process.platform}, ${cpus().length} cores, Node ${process.version}; ${N} samples × 3 events, ${REPS} reps (queries ${REPS * 4})\n`);
console.log('| measure | p50 ms | p90 ms |\n|---|---|---|');
for (const [name, xs] of rows) {
  const s = stats(xs);
  console.log(`| ${name} | ${s.p50.toFixed(1)} | ${s.p90.toFixed(1)} |`);
}
console.log(`\nfirst build (cold files): ${build[0]!.toFixed(0)} ms`);
if (process.env.BENCH_KEEP) console.log(dir); else rmSync(dir, { recursive: true, force: true });
