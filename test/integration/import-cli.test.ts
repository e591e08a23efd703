/**
 * `spatialclaw import DIR` on a replica SpatialClaw work dir (test/python/spatialclaw_workdir.py, written from the
 * format in docs/import.md): the run it writes is read back with the run store's readers and the workbench's own
 * services (RunsService, the step timeline, annotations), re-imports never overwrite, a broken line is reported
 * with file:line while the rest imports, `--data-root` recovers the real inputs from the VSI-Bench replica and
 * scores with spatial_eval, and `spatialclaw compare` works between two imports.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AnnotationsService } from '../../electron/services/app/annotations.ts';
import { RunsService } from '../../electron/services/app/runs.ts';
import type { ImportReport } from '../../electron/services/runs/import.ts';
import { readRun, readRunInfo, readSampleEvents } from '../../electron/services/runs/reader.ts';
import { scanRunForSecrets } from '../../electron/services/runs/secrets.ts';
import { emptyTimeline, foldEvent } from '../../renderer/src/timeline.ts';
import type { RunEvent, SampleResult } from '../../shared/run.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';

const PYTHON = join(ROOT, '.venv', 'bin', 'python');
/** The replica's API key (config.json llm_api_key): it must never reach the run. */
const API_KEY = 'sk-replica-secret-0123456789abcdef';
/** No data root unless a test gives one (SPATIALCLAW_DATA_ROOT is the default of --data-root). */
const NO_DATA_ROOT = { SPATIALCLAW_DATA_ROOT: '' };

function replica(dir: string, variant: 'a' | 'b' = 'a'): string {
  execFileSync(PYTHON, [join(ROOT, 'test', 'python', 'spatialclaw_workdir.py'), dir, '--variant', variant], { stdio: 'pipe' });
  return dir;
}

async function importJson(args: string[], env: NodeJS.ProcessEnv = NO_DATA_ROOT): Promise<ImportReport> {
  const r = await spatialclaw(['import', ...args, '--json'], env);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return JSON.parse(r.stdout) as ImportReport;
}

const byId = (samples: SampleResult[]) => new Map(samples.map((s) => [s.id, s]));
const ofType = <T extends RunEvent['type']>(events: RunEvent[], type: T) => events.filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);

describe('spatialclaw import', () => {
  let tmp: string;
  let workDir: string;
  let runs: string;
  let report: ImportReport;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'sc-import-'));
    workDir = replica(join(tmp, 'work_dir'));
    runs = join(tmp, 'runs');
    report = await importJson([workDir, '--runs', runs, '--id', 'imp-a']);
  }, 120_000);

  it('reports the run it wrote: every sample, the images, no problems', () => {
    expect(report).toMatchObject({
      run_id: 'imp-a', run_dir: join(runs, 'imp-a'), source: workDir, benchmark: 'vsibench', model: 'Qwen/Qwen3.5-397B-A17B',
      samples: 5, with_trace: 4, without_trace: 1, without_prediction: 0, scored: 5, scoring: 'spatialclaw-workdir', images: 3, inputs_recovered: 0,
      problems: [],
    });
    expect(report.mean_score).toBeCloseTo((1 + 0.3 + 1 + 0 + 0) / 5, 10);
    expect(report.notes.join('\n')).toMatch(/condense has no run-record counterpart/);
  });

  it('writes a finished import run whose config keeps the work dir\'s own records, without its API key', () => {
    const dir = join(runs, 'imp-a');
    const info = readRunInfo(dir);
    expect(info.status).toBe('finished');
    expect(info.total_samples).toBe(5);
    const source = info.config['source'] as Record<string, unknown>;
    expect(info.config).toMatchObject({ kind: 'import', model: { name: 'Qwen/Qwen3.5-397B-A17B' }, benchmarks: ['vsibench'], executor: 'code', max_steps: 3 });
    expect(source).toMatchObject({ format: 'spatialclaw-workdir', path: workDir, problem_count: 0 });
    expect((source['config'] as Record<string, unknown>)['llm_api_key']).toBe('[redacted]');
    expect((source['results_summary'] as Record<string, unknown>)['total_samples']).toBe(5);
    expect(scanRunForSecrets(dir, [API_KEY])).toEqual([]);
  });

  it('maps each prediction and its session trace to a sample the run store reads back', () => {
    const dir = join(runs, 'imp-a');
    const samples = byId(readRun(dir).samples);
    expect([...samples.keys()]).toEqual(['vsibench-1236', 'vsibench-680', 'vsibench-0', 'vsibench-1100', 'vsibench-957']);

    // 1236: multiple choice, answered right after showing three frames and asking vlm.locate
    const mc = samples.get('vsibench-1236')!;
    expect(mc).toMatchObject({ answer: 'A', ground_truth: 'A', score: 1, scoring: 'spatialclaw-workdir', benchmark: 'vsibench', source_id: '1236', termination: 'answered', answer_source: 'return_answer', steps: 2, model_calls: 3 });
    expect(mc.question).toMatch(/^If I am standing by the stove and facing the sofa, is the tv to the left or the right of the sofa\?/);
    expect(mc.choices).toEqual(['A. left', 'B. right']);
    expect(mc.usage).toEqual({ prompt_tokens: 123000, completion_tokens: 2700, reasoning_tokens: 1500 });
    const ev = readSampleEvents(dir, 'vsibench-1236');
    expect(ev[0]).toMatchObject({ type: 'sample_start', sample: { id: 'vsibench-1236', source_id: '1236', benchmark: 'vsibench', answer: 'A' } });
    expect(ofType(ev, 'plan')[0]!.text).toMatch(/Decide where the tv is/);
    const calls = ofType(ev, 'model_call');
    expect(calls.map((c) => [c.role, c.step])).toEqual([['main', 1], ['vlm', 1], ['main', 2]]);
    expect(calls[0]!.parsed!['code']).toMatch(/^show\(InputImages\[0\], InputImages\[14\]/);
    expect(calls[0]!.reasoning).toBe('thinking about step 1');
    expect(calls[1]).toMatchObject({ raw: 'The tv is at the left edge of the frame.', parsed: { prompt: 'Where is the tv?', query_type: 'locate' } });
    const cells = ofType(ev, 'cell');
    expect(cells.map((c) => [c.step, c.result.status])).toEqual([[1, 'ok'], [2, 'ok']]);
    // stdout as the model saw it: the [SHOW:...] markers are images now
    expect(cells[0]!.result.stdout).toBe('The tv is at the left edge of the frame.\n');
    expect(cells[0]!.result.images.map((i) => [i.path, i.label, i.index, i.width, i.height])).toEqual([
      ['images/step001_1.png', 'frames 0 and 14', 0, 160, 120],
      ['images/step001_2.png', 'frames 0 and 14', 1, 160, 120],
      ['images/step001_3.png', null, 2, 160, 120],
    ]);
    const images = ofType(ev, 'image');
    expect(images.map((i) => i.path)).toEqual(['images/step001_1.png', 'images/step001_2.png', 'images/step001_3.png']);
    // the bytes are the work dir's show() images, in show order
    const shown = ['show_0001_img_0.png', 'show_0001_img_1.png', 'show_0002_img_0.png'];
    images.forEach((im, k) => expect(readFileSync(join(dir, 'samples', 'vsibench-1236', im.path)).equals(readFileSync(join(workDir, 'session-1236', 'show_images', shown[k]!)))).toBe(true));
    expect(cells[0]!.result.notes).toContain('image 1: show_images/show_0001_img_0.png');
    expect(cells[1]!.result.answer).toEqual({ answer: 'A', type: 'str' });
    expect(ofType(ev, 'observation')[0]).toMatchObject({ step: 1, images: ['frames 0 and 14', 'frames 0 and 14', 'show()'] });
    expect(ofType(ev, 'answer')).toMatchObject([{ answer: 'A', source: 'return_answer', step: 2 }]);
    expect(ev.at(-1)).toMatchObject({ type: 'termination', reason: 'answered', step: 2 });

    // 680: a numeric answer, partly right (MRA 0.3)
    expect(samples.get('vsibench-680')).toMatchObject({ answer: 4, ground_truth: '2.9', score: 0.3, steps: 1, termination: 'answered' });

    // 0: a failing cell, a reply without code, then the right count
    const err = samples.get('vsibench-0')!;
    expect(err).toMatchObject({ answer: 4, score: 1, steps: 3, parse_failures: 1, termination: 'answered' });
    const ev0 = readSampleEvents(dir, 'vsibench-0');
    const failed = ofType(ev0, 'cell')[0]!.result;
    expect(failed).toMatchObject({ status: 'error', stdout: '', error: { ename: 'ZeroDivisionError', evalue: 'float division by zero', lineno: 3, line: 'ratio = counts / heights[0]' } });
    expect(failed.error!.traceback).toContain('----> 3 ratio = counts / heights[0]');
    const format = ofType(ev0, 'model_call').find((c) => c.step === 2)!;
    expect(format).toMatchObject({ parsed: null, parse_error: 'Missing required section: **Code**' });
    expect(ofType(ev0, 'cell').map((c) => c.step)).toEqual([1, 3]);
    expect(ofType(ev0, 'observation').find((o) => o.step === 2)!.text).toMatch(/^Skipped: LLM response was not in the required format/);

    // 1100: the step budget ran out; SpatialClaw's CoT fallback answered
    expect(samples.get('vsibench-1100')).toMatchObject({ answer: 'B', ground_truth: 'C', score: 0, termination: 'max_steps', answer_source: 'direct_answer', steps: 3 });
    const ev1100 = readSampleEvents(dir, 'vsibench-1100');
    expect(ofType(ev1100, 'answer')).toMatchObject([{ answer: 'B', source: 'direct_answer', step: 3 }]);
    expect(ev1100.at(-1)).toMatchObject({ type: 'termination', reason: 'max_steps', detail: expect.stringMatching(/Fallback: cot_vlm/) });

    // 957: predictions.jsonl only: a sample without steps and a placeholder input
    expect(samples.get('vsibench-957')).toMatchObject({ answer: 'D', ground_truth: 'A', score: 0, steps: 0, model_calls: 0, answer_source: 'none', termination: 'answered' });
    const ev957 = readSampleEvents(dir, 'vsibench-957');
    expect(ev957.map((e) => e.type)).toEqual(['sample_start', 'answer', 'termination']);
    expect(ev957[0]).toMatchObject({ sample: { inputs: [{ kind: 'images', path: 'spatialclaw-workdir:inputs-not-recorded/vsibench/957' }] } });
    // traced samples say they were videos (their system prompt's is_video=True)
    expect(ev[0]).toMatchObject({ sample: { inputs: [{ kind: 'video', path: 'spatialclaw-workdir:inputs-not-recorded/vsibench/1236' }] } });

    // each sample's own records, verbatim
    expect(readFileSync(join(dir, 'samples', 'vsibench-0', 'imported', 'trace.jsonl')).equals(readFileSync(join(workDir, 'session-0', 'trace.jsonl')))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'samples', 'vsibench-957', 'imported', 'prediction.json'), 'utf8'))).toEqual({ sample_id: '957', content: 'D', ground_truth: 'A', result: 0 });
  });

  it('is browsed and annotated by the workbench like a recorded run', () => {
    const svc = new RunsService(runs, () => false);
    expect(svc.list({})).toEqual([expect.objectContaining({ id: 'imp-a', kind: 'import', model: 'Qwen/Qwen3.5-397B-A17B', status: 'finished', done: 5, total_samples: 5 })]);
    expect(svc.get('imp-a').accuracy).toBeCloseTo(0.46, 10);
    const page = svc.samples({ run_id: 'imp-a', offset: 0, limit: 10, sort: 'score' });
    expect(page.total).toBe(5);
    expect(svc.samples({ run_id: 'imp-a', offset: 0, limit: 10, sort: 'index', search: 'how many table' }).rows.map((r) => r.id)).toEqual(['vsibench-0']);
    // failure triage reads its events like a recorded run's
    const triage = svc.triage({ run_id: 'imp-a', filter: { outcome: ['wrong'] }, sort: 'index', desc: false, offset: 0, limit: 10 });
    expect(triage.rows.map((r) => r.result.id)).toEqual(['vsibench-680', 'vsibench-1100', 'vsibench-957']);
    const se = svc.events('imp-a', 'vsibench-1236');
    expect(se.result?.score).toBe(1);
    // the step timeline the workbench draws
    const tl = se.events.reduce((t, e) => foldEvent(t, e), emptyTimeline());
    expect(tl.steps.map((s) => [s.step, s.images.length, s.cell?.status])).toEqual([[1, 3, 'ok'], [2, 0, 'ok']]);
    expect(tl.steps[0]!.purpose).toBe('inspect');
    expect(tl.steps[0]!.code).toMatch(/^show\(/);
    expect(tl.answer).toEqual({ answer: 'A', source: 'return_answer' });
    expect(tl.plan?.text).toMatch(/Decide where the tv is/);
    const png = svc.image('imp-a', 'vsibench-1236', tl.steps[0]!.images[0]!.path!);
    expect(Buffer.from(png).subarray(1, 4).toString()).toBe('PNG');
    // a note on step 3 of the sample whose step 2 was a format error
    const ann = new AnnotationsService((id) => svc.runDir(id), join(tmp, 'taxonomy.json'));
    const after = ann.annotate('imp-a', { sample_id: 'vsibench-0', step: 3, op: 'note', text: 'right count after a format error', author: 'test' });
    expect(after.notes).toMatchObject([{ step: 3, text: 'right count after a format error', author: 'test' }]);
    expect(ann.get('imp-a').samples['vsibench-0']!.notes).toHaveLength(1);
  });

  it('refuses to write into an existing run, naming it', async () => {
    const before = readFileSync(join(runs, 'imp-a', 'samples.jsonl'), 'utf8');
    const r = await spatialclaw(['import', workDir, '--runs', runs, '--id', 'imp-a'], NO_DATA_ROOT);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/run imp-a exists already \(.*imp-a\/run\.json\); an import never writes into an existing run/);
    expect(r.stderr).toMatch(/fix: choose another --id, or delete that run folder first/);
    expect(readFileSync(join(runs, 'imp-a', 'samples.jsonl'), 'utf8')).toBe(before);
    const notDir = await spatialclaw(['import', join(workDir, 'session-0'), '--runs', runs], NO_DATA_ROOT);
    expect(notDir.code).toBe(1);
    expect(notDir.stderr).toMatch(/is not a SpatialClaw work dir: it has neither predictions\.jsonl nor session-<sample id>\/ folders/);
  });

  it('reports a broken line with file:line and imports the rest', async () => {
    const broken = replica(join(tmp, 'broken'));
    const path = join(broken, 'predictions.jsonl');
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.splice(2, 0, '{"sample_id": "1334", "content": "A", "ground_tr'); // a line cut mid-write, as line 3
    writeFileSync(path, lines.join('\n'));
    const trace = join(broken, 'session-680', 'trace.jsonl');
    const traceLines = readFileSync(trace, 'utf8').split('\n').filter(Boolean).length;
    appendFileSync(trace, 'not json at all\n');
    const r = await importJson([broken, '--runs', runs, '--id', 'imp-broken']);
    expect(r.samples).toBe(5);
    expect(r.problems).toEqual([
      { where: `${path}:3`, message: expect.stringMatching(/^not valid JSON \(.*\); expected one \{"sample_id": "\.\.\.", "content": .* object per line; line skipped$/) },
      { where: `${trace}:${traceLines + 1}`, message: expect.stringMatching(/^not valid JSON .*; line skipped$/) },
    ]);
    expect((readRunInfo(join(runs, 'imp-broken')).config['source'] as Record<string, unknown>)['problem_count']).toBe(2);
    expect(readRun(join(runs, 'imp-broken')).samples.map((s) => s.id)).toEqual(['vsibench-1236', 'vsibench-680', 'vsibench-0', 'vsibench-1100', 'vsibench-957']);
    const text = await spatialclaw(['import', broken, '--runs', runs, '--id', 'imp-broken-2'], NO_DATA_ROOT);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/problems \(2; the rest was imported\):\n {4}.*predictions\.jsonl:3: not valid JSON/);
  });

  it('recovers the real inputs from --data-root and scores with spatial_eval, agreeing with the work dir', async () => {
    const dataRoot = join(tmp, 'data');
    execFileSync(PYTHON, ['-m', 'replicas', dataRoot, 'vsibench'], { cwd: join(ROOT, 'test', 'python'), stdio: 'pipe' });
    const r = await importJson([workDir, '--runs', runs, '--id', 'imp-data', '--data-root', dataRoot, '--scoring', 'paper']);
    expect(r).toMatchObject({ samples: 5, inputs_recovered: 5, scored: 5, scoring: 'paper', problems: [] });
    expect(r.notes).toContain("the work dir's scores (\"result\") equal spatial_eval's paper scoring on all 5 samples");
    const dir = join(runs, 'imp-data');
    const s = byId(readRun(dir).samples);
    expect(s.get('vsibench-1236')).toMatchObject({ question_type: 'object_rel_direction_easy', scoring: 'paper', score: 1, question: expect.not.stringMatching(/Reply with/) });
    expect(s.get('vsibench-680')).toMatchObject({ question_type: 'object_abs_distance', score: 0.3 });
    const spec = readSampleEvents(dir, 'vsibench-1236')[0]! as Extract<RunEvent, { type: 'sample_start' }>;
    expect(spec.sample.inputs).toHaveLength(1);
    expect(spec.sample.inputs[0]!.kind).toBe('video');
    expect(existsSync(spec.sample.inputs[0]!.path)).toBe(true);
    expect(readRunInfo(dir).config).toMatchObject({ data_root: dataRoot, scoring: 'paper', benchmarks: ['vsibench'] });
    // `spatialclaw score` re-scores it like an eval run
    const scored = await spatialclaw(['score', dir, '--json']);
    expect(scored.code, scored.stderr).toBe(0);
    expect(JSON.parse(scored.stdout)).toMatchObject({ scoring: 'official' });
  }, 180_000);

  it('compares with a second import of a changed work dir', async () => {
    const b = replica(join(tmp, 'work_dir_b'), 'b');
    await importJson([b, '--runs', runs, '--id', 'imp-b']);
    const r = await spatialclaw(['compare', join(runs, 'imp-a'), join(runs, 'imp-b'), '--json', '--resamples', '200']);
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout) as { n_common: number; flips: Record<string, string[]>; delta: number; a_only_correct: number; b_only_correct: number };
    expect(c).toMatchObject({ n_common: 5, a_only_correct: 1, b_only_correct: 1, flips: { right_to_wrong: ['vsibench-1236'], wrong_to_right: ['vsibench-680'] } });
    // 1236: 1 -> 0, 680: 0.3 -> 1
    expect(c.delta).toBeCloseTo((-1 + 0.7) / 5, 10);
  });
});
