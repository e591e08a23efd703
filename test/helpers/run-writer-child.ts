/**
 * A run writer to SIGKILL (test/integration/run-store-crash.test.ts) and a small real run for the Python
 * format test (test/python/test_run_format.py).
 *
 *   node --import tsx test/helpers/run-writer-child.ts <run dir> [--samples N] [--concurrency C]
 *        [--delay-ms D] [--seed S] [--freeze-at MARK] [--tear]
 *
 * Creates the run (or resumes it when run.json exists), writes every sample not yet done with
 * concurrency C, and finishes the run. Progress goes to stdout (synchronously) as `MARK <mark>` lines:
 *
 *   MARK event <id> <j>            after the j-th event (0-based) of a sample was appended
 *   MARK finish <id> <stage>       at each stage of SampleWriter.finish (events_synced, result_written, result_synced)
 *   MARK done                      after the run is finished
 *
 * With --freeze-at MARK the process prints `FROZEN <mark>` when it reaches that mark and blocks its only
 * thread, so a parent can kill it at exactly that point. --tear first appends half a result line to
 * samples.jsonl without a newline (what a crash inside the write would leave).
 */
import { appendFileSync, existsSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CellResult } from '../../shared/kernel.ts';
import type { RunEvent, SampleResult, SampleSpec } from '../../shared/run.ts';
import { RunWriter, type SampleWriter, type WriterOptions } from '../../electron/services/runs/writer.ts';
import { seededRandom } from '../../electron/services/app/results.ts';

/** A real 1x1 PNG. */
export const PNG_1x1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

export const sampleId = (i: number): string => `s${String(i).padStart(3, '0')}`;

/** Sample i of the synthetic run: alternating numeric and multiple-choice questions. */
export function sampleSpec(i: number): SampleSpec {
  const mc = i % 2 === 1;
  return {
    id: sampleId(i),
    question: mc ? `Is object ${i} left or right of the door?` : `How far is object ${i} from the door (in meters)?`,
    ...(mc ? { choices: ['A. left', 'B. right'], answer: 'A' } : { answer: 1 + i / 10 }),
    inputs: [{ kind: 'video', path: `/data/videos/scene${i % 5}.mp4` }],
    question_type: mc ? 'object_rel_direction_easy' : 'object_abs_distance',
  };
}

/** Images in sample i's cell event: 1 or 2. */
export const imagesIn = (i: number): number => 1 + (i % 2);

/** The events sample i writes (7; its cell event carries imagesIn(i) base64 PNGs). */
export function sampleEvents(i: number, t = '2025-11-21T10:00:00.000Z'): RunEvent[] {
  const spec = sampleSpec(i);
  const cell: CellResult = {
    index: 1, origin: 'agent', code: 'print(len(InputImages))\nshow(InputImages[0])', status: 'ok', startedAt: t, durationMs: 12.5,
    stdout: '16\n', stderr: '', result: null, error: null, violations: [],
    images: Array.from({ length: imagesIn(i) }, (_, k) => ({ index: k, label: `frame ${k * 10}`, width: 1, height: 1, source: 'show' as const, png: PNG_1x1 })),
    answer: null, artifacts: [], variables: [{ name: 'x', type: 'int', line: 'x: int = 3' }], notes: [],
  };
  const answer = spec.choices ? 'A' : 1.1 + i / 10;
  return [
    { type: 'sample_start', t, step: 0, sample: spec, executor: 'code' },
    { type: 'plan', t, step: 0, text: 'look at the frames, then measure', error: null },
    {
      type: 'model_call', t, step: 1, role: 'main', endpoint: 'http://127.0.0.1:8000/v1', latency_ms: 812, attempts: 1,
      usage: { prompt_tokens: 1000 + i, completion_tokens: 50 }, raw: '<code>print(1)</code>', reasoning: null,
      parsed: { purpose: 'count', reasoning: 'r', next_goal: 'g', code: 'print(1)' }, parse_error: null,
    },
    { type: 'cell', t, step: 1, result: cell },
    { type: 'observation', t, step: 1, text: '[ok 0.01 s]\n16', images: cell.images.map((im) => im.label ?? '') },
    { type: 'answer', t, step: 1, answer, source: 'return_answer' },
    { type: 'termination', t, step: 1, reason: 'answered', detail: null },
  ];
}

/** Events sample i has on disk once finished: its 7 events plus one `image` event per cell image. */
export const eventsOnDisk = (i: number): number => sampleEvents(i).length + imagesIn(i);

export function sampleResult(i: number): SampleResult {
  const spec = sampleSpec(i);
  const answer = spec.choices ? 'A' : 1.1 + i / 10;
  return {
    id: spec.id, question: spec.question, ...(spec.choices ? { choices: spec.choices } : {}), answer, answer_source: 'return_answer',
    ground_truth: spec.answer ?? null, score: spec.choices ? 1 : 0.9, question_type: spec.question_type ?? null, termination: 'answered',
    steps: 1, parse_failures: 0, usage: { prompt_tokens: 1000 + i, completion_tokens: 50 }, model_calls: 1, duration_s: 1.5 + i,
    error: null, started_at: '2025-11-21T10:00:00.000Z', finished_at: '2025-11-21T10:00:01.500Z',
  };
}

export interface WriteOptions {
  concurrency?: number;
  /** Await a random 0..delayMs ms (from `random`) after each event. */
  delayMs?: number;
  random?: () => number;
  /** Called after each event is appended. */
  onEvent?: (id: string, j: number) => void;
}

/** Write samples `indices` (skipping done ones) with a pool of `concurrency` workers. */
export async function writeSamples(writer: RunWriter, indices: number[], o: WriteOptions = {}): Promise<void> {
  const todo = indices.filter((i) => !writer.doneIds.has(sampleId(i)));
  const random = o.random ?? Math.random;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const i = todo[next++]!;
      const sw: SampleWriter = writer.startSample(sampleSpec(i));
      const events = sampleEvents(i);
      for (let j = 0; j < events.length; j++) {
        sw.event(events[j]!);
        o.onEvent?.(sw.id, j);
        if (o.delayMs) await new Promise((r) => setTimeout(r, random() * o.delayMs!));
      }
      await sw.finish(sampleResult(i));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? 1, todo.length)) }, worker));
}

/** Open the run: resume when run.json exists, else create it. */
export async function openRun(dir: string, total: number, options: WriterOptions = {}): Promise<RunWriter> {
  if (existsSync(join(dir, 'run.json'))) return RunWriter.resume(dir, options);
  return RunWriter.create(dir, { ...options, config: { model: { name: 'test-model', api_key_env: 'TEST_KEY' }, samples: total }, versions: { workbench: '0.1.0' }, total_samples: total });
}

/** mulberry32, the host's seeded PRNG (the live results' bootstrap), so a failing random schedule can be replayed. */
export const seeded = seededRandom;

async function main(argv: string[]): Promise<void> {
  const dir = resolve(argv[0] ?? '');
  if (!argv[0]) throw new Error('usage: run-writer-child.ts <run dir> [--samples N] [--concurrency C] [--delay-ms D] [--seed S] [--freeze-at MARK] [--tear]');
  const opt = (name: string, dflt: string): string => {
    const k = argv.indexOf(name);
    return k >= 0 && argv[k + 1] !== undefined ? argv[k + 1]! : dflt;
  };
  const samples = Number(opt('--samples', '30'));
  const freezeAt = opt('--freeze-at', '');
  const tear = argv.includes('--tear');
  const mark = (m: string): void => {
    writeSync(1, `MARK ${m}\n`);
    if (m !== freezeAt) return;
    if (tear) appendFileSync(join(dir, 'samples.jsonl'), '{"id":"torn","question":"half a li');
    writeSync(1, `FROZEN ${m}\n`);
    // Block the only thread: nothing more is written until the parent's SIGKILL arrives.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
    process.exit(3);
  };
  const writer = await openRun(dir, samples, { hooks: { finishStage: (id, stage) => mark(`finish ${id} ${stage}`) } });
  await writeSamples(writer, Array.from({ length: samples }, (_, i) => i), {
    concurrency: Number(opt('--concurrency', '3')),
    delayMs: Number(opt('--delay-ms', '0')),
    random: seeded(Number(opt('--seed', '1'))),
    onEvent: (id, j) => mark(`event ${id} ${j}`),
  });
  await writer.finish('finished');
  mark('done');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`run-writer-child: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
