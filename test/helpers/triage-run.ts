/**
 * A real run for the triage index and export tests, written by RunWriter and annotated with appendAnnotation:
 *
 * - q0 vsibench/object_counting: two ok cells, ReturnAnswer, score 1.
 * - q1 vsibench/relative_direction: a cell failing with NameError, then an ok one; score 0; tagged (sample and step 2),
 *   a note on step 1; a tag set then removed.
 * - q2 (no benchmark) numeric: a timeout cell, max_steps, a `fallback` model call answered (direct_answer), score 0.8;
 *   a sample note, a second note deleted.
 * - q3 (no benchmark): a host-side error before any cell (termination error), no ground truth.
 * - q4 vsibench/object_counting: a cell the safety check rejected, then an ok one answering; score 0.25.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendAnnotation, newAnnotationId } from '../../electron/services/runs/annotations.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import type { AnnotationEntry } from '../../shared/annotations.ts';
import { type CellResult, CellResultSchema } from '../../shared/kernel.ts';
import { RUN_FORMAT, type RunEvent, type SampleResult, type SampleSpec } from '../../shared/run.ts';

const T = '2026-12-05T10:00:00.000Z';

export function cellResult(over: Partial<CellResult> = {}): CellResult {
  return CellResultSchema.parse({
    index: 1, origin: 'agent', code: 'x = 1', status: 'ok', startedAt: T, durationMs: 250, stdout: '', stderr: '', result: null,
    error: null, violations: [], images: [], answer: null, artifacts: [], variables: [], notes: [], ...over,
  });
}

export const NAME_ERROR = {
  ename: 'NameError', evalue: "name 'depth_map' is not defined",
  traceback: ["NameError: name 'depth_map' is not defined"], lineno: 1, line: 'd = depth_map.mean()',
};

const modelCall = (step: number, role: string): RunEvent => ({
  type: 'model_call', t: T, step, role, endpoint: 'http://m', latency_ms: 5, attempts: 1,
  usage: { prompt_tokens: 100, completion_tokens: 10 }, raw: 'x', reasoning: null, parsed: null, parse_error: null,
});
const cellEvent = (step: number, over: Partial<CellResult>): RunEvent => ({ type: 'cell', t: T, step, result: cellResult({ index: step, ...over }) });

interface Fixture {
  spec: SampleSpec;
  events: RunEvent[];
  result: Omit<SampleResult, 'id' | 'question' | 'started_at' | 'finished_at'>;
}

const base = {
  parse_failures: 0, model_calls: 2, error: null, usage: { prompt_tokens: 200, completion_tokens: 20 },
} as const;

export const TRIAGE_SAMPLES: Fixture[] = [
  {
    spec: { id: 'q0', question: 'How many chairs are in the room?', inputs: [{ kind: 'images', path: '/x.png' }], answer: 4, benchmark: 'vsibench', question_type: 'object_counting', source_id: '17' },
    events: [modelCall(1, 'step'), cellEvent(1, { code: 'masks = tools.SAM3("chair")' }), modelCall(2, 'step'), cellEvent(2, { code: 'ReturnAnswer(len(masks))' })],
    result: { ...base, answer: 4, answer_source: 'return_answer', ground_truth: 4, score: 1, scoring: 'official', question_type: 'object_counting', benchmark: 'vsibench', source_id: '17', termination: 'answered', steps: 2, duration_s: 12.5, usage: { prompt_tokens: 200, completion_tokens: 20, reasoning_tokens: 7 } },
  },
  {
    spec: { id: 'q1', question: 'Is the lamp left of the bed?', choices: ['A. yes', 'B. no'], inputs: [{ kind: 'images', path: '/x.png' }], answer: 'A', benchmark: 'vsibench', question_type: 'relative_direction' },
    events: [
      modelCall(1, 'step'), cellEvent(1, { code: 'd = depth_map.mean()', status: 'error', error: NAME_ERROR }),
      modelCall(2, 'step'), cellEvent(2, { code: 'ReturnAnswer("B")' }),
    ],
    result: { ...base, answer: 'B', answer_source: 'return_answer', ground_truth: 'A', score: 0, scoring: 'official', question_type: 'relative_direction', benchmark: 'vsibench', termination: 'answered', steps: 2, duration_s: 30 },
  },
  {
    spec: { id: 'q2', question: 'How far is the door from the window, in metres?', inputs: [{ kind: 'images', path: '/x.png' }], answer: 2 },
    events: [
      modelCall(1, 'step'), cellEvent(1, { code: 'import time\ntime.sleep(999)', status: 'timeout' }),
      modelCall(2, 'fallback'), { type: 'answer', t: T, step: 1, answer: 2.5, source: 'direct_answer' },
    ],
    result: { ...base, answer: 2.5, answer_source: 'direct_answer', ground_truth: 2, score: 0.8, question_type: null, termination: 'max_steps', steps: 1, duration_s: 61 },
  },
  {
    spec: { id: 'q3', question: 'What colour is the sofa?', inputs: [{ kind: 'images', path: '/x.png' }] },
    events: [{ type: 'termination', t: T, step: 0, reason: 'error', detail: 'the kernel could not be prepared' }],
    result: { ...base, answer: null, answer_source: 'none', ground_truth: null, score: null, question_type: null, termination: 'error', steps: 0, model_calls: 0, duration_s: 0.5, error: 'the kernel could not be prepared', usage: { prompt_tokens: 0, completion_tokens: 0 } },
  },
  {
    spec: { id: 'q4', question: 'How many tables?', inputs: [{ kind: 'images', path: '/x.png' }], answer: 2, benchmark: 'vsibench', question_type: 'object_counting' },
    events: [
      modelCall(1, 'step'), cellEvent(1, { code: 'import os\nos.system("ls")', status: 'rejected', violations: [{ rule: 'import', message: 'os is not allowed', line: 1, col: 0 }] }),
      modelCall(2, 'step'), cellEvent(2, { code: 'ReturnAnswer(3)' }),
    ],
    result: { ...base, answer: 3, answer_source: 'return_answer', ground_truth: 2, score: 0.25, scoring: 'official', question_type: 'object_counting', benchmark: 'vsibench', termination: 'answered', steps: 2, duration_s: 20 },
  },
];

function entry(e: Omit<AnnotationEntry, 'id' | 't'> & Record<string, unknown>): AnnotationEntry {
  return { id: newAnnotationId(), t: T, ...e } as AnnotationEntry;
}

/** Write the fixture run to `dir` (created) and annotate it. */
export async function writeTriageRun(dir: string): Promise<void> {
  const w = await RunWriter.create(dir, { config: { kind: 'eval' }, versions: {}, total_samples: TRIAGE_SAMPLES.length });
  for (const f of TRIAGE_SAMPLES) {
    const sw = w.startSample(f.spec);
    sw.event({ type: 'sample_start', t: T, step: 0, sample: f.spec, executor: 'code' });
    for (const e of f.events) sw.event(e);
    await sw.finish({ id: f.spec.id, question: f.spec.question, ...(f.spec.choices ? { choices: f.spec.choices } : {}), started_at: T, finished_at: '2026-12-05T10:01:00.000Z', ...f.result });
  }
  await w.finish('finished');
  appendAnnotation(dir, entry({ op: 'tag', author: 'alice', sample_id: 'q1', step: null, tag: 'reasoning.wrong_plan' }));
  appendAnnotation(dir, entry({ op: 'tag', author: 'alice', sample_id: 'q1', step: 2, tag: 'geometry.wrong_frame_axis_units' }));
  appendAnnotation(dir, entry({ op: 'tag', author: 'alice', sample_id: 'q1', step: null, tag: 'format.parse' }));
  appendAnnotation(dir, entry({ op: 'untag', author: 'bob', sample_id: 'q1', step: null, tag: 'format.parse' }));
  appendAnnotation(dir, entry({ op: 'note', author: 'alice', sample_id: 'q1', step: 1, text: 'depth_map was never defined' }));
  appendAnnotation(dir, entry({ op: 'note', author: 'bob', sample_id: 'q2', step: null, text: 'the cell slept; fallback saved it' }));
  const gone = appendAnnotation(dir, entry({ op: 'note', author: 'bob', sample_id: 'q2', step: null, text: 'to be deleted' }));
  appendAnnotation(dir, entry({ op: 'delete_note', author: 'bob', sample_id: 'q2', step: null, target: gone.id }));
  appendAnnotation(dir, entry({ op: 'tag', author: 'carol', sample_id: 'q2', step: null, tag: 'infrastructure.timeout' }));
}

/**
 * A finished run of `n` synthetic samples, written directly (not through RunWriter, so large runs are quick): sample i
 * scores 0 when i % 3 == 0, its cell fails (ValueError) when i % 5 == 0, a fallback call is made when i % 7 == 0;
 * question_type type_<i % 8>, steps 1 + i % 10, duration i % 100 s. For the 5,000-sample triage test and bench.
 */
export function writeSyntheticRun(dir: string, n: number): void {
  const T = '2026-12-05T10:00:00.000Z';
  mkdirSync(join(dir, 'samples'), { recursive: true });
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ format: RUN_FORMAT, id: 'bench', created_at: T, updated_at: T, status: 'finished', config: {}, versions: {}, total_samples: n }));
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `s${i}`;
    const failed = i % 5 === 0;
    const events: RunEvent[] = [
      { type: 'model_call', t: T, step: 1, role: i % 7 ? 'step' : 'fallback', endpoint: 'http://m', latency_ms: 5, attempts: 1, usage: { prompt_tokens: 900, completion_tokens: 80 }, raw: 'x'.repeat(400), reasoning: null, parsed: null, parse_error: null },
      { type: 'cell', t: T, step: 1, result: cellResult({ code: `x = ${i}\nprint(x * 2)`, stdout: 'y'.repeat(500), status: failed ? 'error' : 'ok', error: failed ? { ename: 'ValueError', evalue: 'bad', traceback: [], lineno: 1, line: 'x' } : null }) },
      { type: 'termination', t: T, step: 1, reason: 'answered', detail: null },
    ];
    mkdirSync(join(dir, 'samples', id));
    writeFileSync(join(dir, 'samples', id, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const r: SampleResult = {
      id, question: `question ${i}`, answer: 'A', answer_source: 'return_answer', ground_truth: i % 3 ? 'A' : 'B', score: i % 3 ? 1 : 0, question_type: `type_${i % 8}`,
      termination: 'answered', steps: 1 + (i % 10), parse_failures: 0, usage: { prompt_tokens: 900, completion_tokens: 80 }, model_calls: 1, duration_s: i % 100, error: null, started_at: T, finished_at: T,
    };
    lines.push(JSON.stringify(r));
  }
  writeFileSync(join(dir, 'samples.jsonl'), lines.join('\n') + '\n');
}
