/**
 * Two real benchmark runs for the research-loop e2e tests (triage, results, compare, export), made by
 * `spatialclaw eval` on the replicas of VSI-Bench and BLINK (test/python/replicas/) with the scripted model: real
 * loaders, real kernels on the replicas' media, official scoring, results.json.
 *
 * - run A (`eval-a`): sample i answers the ground truth when i is even, a wrong answer otherwise; sample 1 first
 *   runs a cell that raises NameError, then answers (a tool failure);
 * - run B (`eval-b`): sample i answers the ground truth unless i % 3 == 0, so against A there are flips both ways.
 *
 * The runs are made once per test session and copied into each caller's runs root: the first caller pays (~1 min)
 * and the rest copy the folders (`SPATIALCLAW_TEST_EVAL_CACHE` overrides the cache folder; it is keyed on the script,
 * so a change of the script makes new runs). Callers in parallel test files wait on a lock folder while one makes them.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SampleSpec } from '../../shared/run.ts';
import { ROOT, spatialclaw } from './cli.ts';
import { startScriptedModelServer } from './scripted-model.ts';

export const PYTHON = join(ROOT, '.venv', 'bin', 'python');
export const EVAL_BENCHMARKS = 'vsibench,blink';
export const EVAL_LIMIT = 4;

/** A reply whose cell looks at the bound inputs and answers `answer`. */
export const answerCell = (answer: string): string =>
  'Purpose: answer\nReasoning: the inputs are bound\nNext Goal: answer\nCode:\n```python\n' +
  'try:\n    frames = InputImages\nexcept NameError:\n    frames = InputImages_1\nprint(len(frames), frames[0].size)\n' +
  `ReturnAnswer(${JSON.stringify(answer)})\n\`\`\``;

/** A reply whose cell raises NameError (a failed cell the agent recovers from). */
export const failingCell = 'Purpose: measure the table\nReasoning: first a helper\nNext Goal: size\nCode:\n```python\nsize = table_height * 2\n```';

const WRONG = (gt: string): string => (/^\(?[A-D]\)?$/.test(gt) ? (gt.includes('A') ? gt.replace('A', 'B') : gt.replace(/[B-D]/, 'A')) : String(Number(gt) * 3 + 7 || 'nothing'));

export interface EvalRuns {
  runsRoot: string;
  dataRoot: string;
  /** Run ids (folder names under runsRoot). */
  a: string;
  b: string;
  samples: SampleSpec[];
  /** What each run's model answered per sample id. */
  answers: { a: Map<string, string>; b: Map<string, string> };
}

function loadSamples(dataRoot: string): SampleSpec[] {
  const out = execFileSync(PYTHON, ['-m', 'spatial_eval', 'load', '--benchmark', EVAL_BENCHMARKS, '--data-root', dataRoot, '--limit', String(EVAL_LIMIT)], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; spec?: SampleSpec }).filter((m) => m.type === 'sample').map((m) => m.spec!);
}

function plan(samples: SampleSpec[]) {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  samples.forEach((s, i) => {
    const gt = s.answer === undefined ? 'A' : String(s.answer);
    a.set(s.id, i % 2 === 0 ? gt : WRONG(gt));
    b.set(s.id, i % 3 === 0 ? WRONG(gt) : gt);
  });
  return { a, b };
}

async function makeRun(dataRoot: string, out: string, script: Record<string, string[]>): Promise<void> {
  const model = await startScriptedModelServer({ script: Object.fromEntries(Object.entries(script).map(([id, replies]) => [id, replies])) });
  try {
    const r = await spatialclaw(['eval', '--benchmark', EVAL_BENCHMARKS, '--data-root', dataRoot, '--limit', String(EVAL_LIMIT), '--model', 'scripted', '--base-url', model.url, '--no-plan', '--concurrency', '2', '--out', out], {}, 600_000);
    if (r.code !== 0) throw new Error(`spatialclaw eval failed (${r.code}):\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  } finally {
    await model.close();
  }
}

/**
 * Copy the two eval runs into `runsRoot` (made on first use, then cached). The data root stays in the cache folder
 * (the runs' inputs point into it).
 */
export async function evalRuns(runsRoot: string): Promise<EvalRuns> {
  const key = createHash('sha256').update(readFileSync(import.meta.filename)).digest('hex').slice(0, 12);
  const cache = process.env['SPATIALCLAW_TEST_EVAL_CACHE'] ?? join(tmpdir(), `spatialclaw-e2e-eval-${key}`);
  const dataRoot = join(cache, 'data');
  const lock = `${cache}.lock`;
  // One maker at a time (mkdir is atomic); a lock older than 15 min is left from a killed session.
  let held = false;
  for (;;) {
    if (existsSync(join(cache, 'done'))) break;
    try {
      mkdirSync(lock);
      held = true;
      break;
    } catch {
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (held) {
    try {
      await makeOnce(cache, dataRoot);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  const samples = loadSamples(dataRoot);
  mkdirSync(runsRoot, { recursive: true });
  for (const id of ['eval-a', 'eval-b']) cpSync(join(cache, 'runs', id), join(runsRoot, id), { recursive: true });
  return { runsRoot, dataRoot, a: 'eval-a', b: 'eval-b', samples, answers: plan(samples) };
}

/** Make the data and both runs in `cache` unless they are done (the caller holds the lock). */
async function makeOnce(cache: string, dataRoot: string): Promise<void> {
  if (!existsSync(join(cache, 'done'))) {
    rmSync(cache, { recursive: true, force: true });
    const tmp = mkdtempSync(`${cache}-tmp-`);
    const data = join(tmp, 'data');
    mkdirSync(data);
    execFileSync(PYTHON, ['-m', 'replicas', data, ...EVAL_BENCHMARKS.split(',')], { cwd: join(ROOT, 'test', 'python'), stdio: 'pipe' });
    // The runs must point at the data where it will stay: build them against the final path.
    renameSync(tmp, cache);
    const samples = loadSamples(dataRoot);
    const { a, b } = plan(samples);
    const scriptA = Object.fromEntries(samples.map((s, i) => [s.id, i === 1 ? [failingCell, answerCell(a.get(s.id)!)] : [answerCell(a.get(s.id)!)]]));
    const scriptB = Object.fromEntries(samples.map((s) => [s.id, [answerCell(b.get(s.id)!)]]));
    await makeRun(dataRoot, join(cache, 'runs', 'eval-a'), scriptA);
    await makeRun(dataRoot, join(cache, 'runs', 'eval-b'), scriptB);
    mkdirSync(join(cache, 'done'));
  }
}
