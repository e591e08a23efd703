/**
 * The SpatialClaw work-dir reader's edge cases (electron/services/runs/import.ts): instruction splitting, tracebacks,
 * rejected and timed-out cells, show() images whose [SHOW] marker the trace's stdout limit cut, session folders
 * without a prediction, duplicate and invalid prediction lines, sample ids that collide. The replica work dir and
 * the CLI are tested in test/integration/import-cli.test.ts.
 */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cellError, importWorkDir, ImportError, splitInstruction } from '../../electron/services/runs/import.ts';
import { readRun, readRunInfo, readSampleEvents } from '../../electron/services/runs/reader.ts';
import type { RunEvent } from '../../shared/run.ts';

const FRAME = join(import.meta.dirname, '..', 'fixtures', 'rgbd_room', 'color', '1.png');
const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, s)).toISOString().replace('Z', '+00:00');
const lines = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const cells = (ev: RunEvent[]) => ev.filter((e): e is Extract<RunEvent, { type: 'cell' }> => e.type === 'cell');

describe('splitInstruction', () => {
  it('takes the trailing A., B., ... lines as options and keeps the rest as the question', () => {
    expect(splitInstruction('Which is closer?\n\nAnswer with a letter.\nA. chair\nB. table\nC. door')).toEqual({
      question: 'Which is closer?\n\nAnswer with a letter.',
      choices: ['A. chair', 'B. table', 'C. door'],
    });
    expect(splitInstruction('How far?\n\nAnswer with a number.')).toEqual({ question: 'How far?\n\nAnswer with a number.' });
    // one letter line, or letters out of order, are part of the question
    expect(splitInstruction('Q\nA. only')).toEqual({ question: 'Q\nA. only' });
    expect(splitInstruction('Q\nB. x\nA. y')).toEqual({ question: 'Q\nB. x\nA. y' });
  });
});

describe('cellError', () => {
  it('reads the exception and the failing line of an IPython traceback', () => {
    const tb = 'Traceback\nCell In[3], line 2\n      1 a = 1\n----> 2 b = a[0]\n\nTypeError: \'int\' object is not subscriptable';
    expect(cellError(tb, 'a = 1\nb = a[0]')).toMatchObject({ ename: 'TypeError', evalue: "'int' object is not subscriptable", lineno: 2, line: 'b = a[0]' });
  });
  it('keeps a message without a traceback whole', () => {
    expect(cellError('Cell execution timed out after 600.0s (limit 600s).', 'x')).toMatchObject({ ename: 'Error', evalue: 'Cell execution timed out after 600.0s (limit 600s).', lineno: null, line: null });
  });
});

describe('importWorkDir', () => {
  function workDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sc-wd-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ benchmark: 'mmsi', llm_model: 'm', llm_api_key: 'sk-abcdefghijklmnop', executor_type: 'code' }));
    return dir;
  }
  const init = (s: number) => ({ event_type: 'init', instruction: 'Q?\n\nFormat.\nA. x\nB. y', system_prompt: '`is_video=False`', timestamp: T(s) });

  it('maps rejected and timed-out cells, and places show() images whose marker was cut', async () => {
    const dir = workDir();
    const s = join(dir, 'session-s 1');
    mkdirSync(join(s, 'show_images'), { recursive: true });
    for (let n = 1; n <= 4; n++) copyFileSync(FRAME, join(s, 'show_images', `show_000${n}_img_0.png`));
    const marker = (n: number) => `[SHOW:${JSON.stringify({ show_id: `show_000${n}`, label: `l${n}`, num_images: 1, paths: [`/far/away/show_images/show_000${n}_img_0.png`] })}]`;
    const long = 'x'.repeat(2100);
    const step = (k: number, code: string, exec: Record<string, unknown>) => [
      { event_type: 'llm_call', step_index: k, raw_response: `r${k}`, parsed_response: { code }, timestamp: T(2 * k + 1) },
      { event_type: 'execution', step_index: k, code, stderr: '', error: null, execution_time_sec: 1, ...exec, timestamp: T(2 * k + 2) },
    ];
    writeFileSync(join(s, 'trace.jsonl'), lines([
      init(0),
      // a cell the safety check refused: no stdout, no execution time
      { event_type: 'llm_call', step_index: 0, raw_response: 'r0', parsed_response: { code: 'import os' }, timestamp: T(1) },
      { event_type: 'execution', step_index: 0, code: 'import os', error: 'import of os is not allowed', timestamp: T(2) },
      // show_0001's marker is there; show_0002's was cut with the rest of the 2000 characters
      ...step(1, 'show(a)\nshow(b)', { stdout: `${marker(1)}\n${long}`.slice(0, 2000) }),
      ...step(2, 'while True: pass', { stdout: '', error: 'Cell execution timed out after 600.2s (limit 600s).', execution_time_sec: 600.2 }),
      ...step(3, 'show(c)', { stdout: `${marker(3)}\nok` }),
      // show_0004 comes after show_0003; both of the next cells were cut, so its step cannot be told
      ...step(4, 'show(d)', { stdout: long.slice(0, 2000) }),
      ...step(5, 'print(e)', { stdout: long.slice(0, 2000) }),
      { event_type: 'reflection', step_index: 5, status: 'ok', timestamp: T(13) },
      { event_type: 'termination', reason: 'max_failures', fallback_method: 'regex', summary: 'stopped', final_answer: { text: 'A', raw_value: 'A' }, timestamp: T(14) },
    ]));
    writeFileSync(join(dir, 'predictions.jsonl'), lines([{ sample_id: 's 1', content: 'A', ground_truth: 'B', result: 0, extra_field: 7 }]));
    const runs = mkdtempSync(join(tmpdir(), 'sc-runs-'));
    const r = await importWorkDir(dir, { runsRoot: runs, id: 'x' });
    expect(r.problems).toEqual([]);
    const run = join(runs, 'x');
    const [res] = readRun(run).samples;
    // mmsi-<id>: spatial_eval's sample id rule; the official id stays in source_id
    expect(res).toMatchObject({ id: 'mmsi-s_1', source_id: 's 1', termination: 'consecutive_failures', answer: 'A', answer_source: 'none', steps: 6, score: 0 });
    const ev = readSampleEvents(run, 'mmsi-s_1');
    const c = cells(ev);
    expect(c.map((e) => [e.step, e.result.status])).toEqual([[1, 'rejected'], [2, 'ok'], [3, 'timeout'], [4, 'ok'], [5, 'ok'], [6, 'ok']]);
    expect(c[0]!.result.violations).toEqual([{ rule: 'spatialclaw-safety', message: 'import of os is not allowed', line: 0, col: 0 }]);
    expect(c[2]!.result.error).toMatchObject({ evalue: 'Cell execution timed out after 600.2s (limit 600s).' });
    expect(c[2]!.result.durationMs).toBeCloseTo(600_200, 6);
    // show_0002 fits only the cut cell between show_0001 and show_0003
    expect(c[1]!.result.images.map((i) => [i.label, i.index])).toEqual([['l1', 0], [null, 1]]);
    expect(c[1]!.result.notes.join('\n')).toMatch(/show_0002: its \[SHOW\] marker was cut from the trace; placed here by show-id order/);
    expect(c[1]!.result.notes).toContain("stdout cut to 2000 characters by SpatialClaw's trace");
    expect(c[3]!.result.images.map((i) => [i.label, i.index])).toEqual([['l3', 2]]);
    const loose = ev.filter((e): e is Extract<RunEvent, { type: 'image' }> => e.type === 'image' && !!e.label?.includes('its step is not recorded'));
    expect(loose.map((e) => [e.step, e.path])).toEqual([[6, 'images/show_0004_img_0.png']]);
    expect(ev.filter((e) => e.type === 'answer')).toMatchObject([{ answer: 'A', source: 'salvage', step: 6 }]);
    expect(ev[0]).toMatchObject({ sample: { inputs: [{ kind: 'images' }], choices: ['A. x', 'B. y'] } });
    const source = readRunInfo(run).config['source'] as { prediction_extra_fields: string[]; notes: string[]; config: Record<string, unknown> };
    expect(source.prediction_extra_fields).toEqual(['extra_field']);
    expect(source.notes.join('\n')).toMatch(/1 trace event of type reflection has no run-record counterpart/);
    expect(source.config['llm_api_key']).toBe('[redacted]');
  });

  it('imports session folders without a prediction, reports bad and duplicate lines, and keeps colliding ids apart', async () => {
    const dir = workDir();
    mkdirSync(join(dir, 'session-late'));
    writeFileSync(join(dir, 'session-late', 'trace.jsonl'), lines([init(0), { event_type: 'llm_call', step_index: 0, raw_response: 'r', parsed_response: { code: 'x = 1' }, timestamp: T(1) }]));
    writeFileSync(join(dir, 'predictions.jsonl'), [
      JSON.stringify({ sample_id: 'a b', content: 'A', result: 1 }),
      JSON.stringify({ sample_id: 'a_b', content: 'B', result: 2 }),
      JSON.stringify({ content: 'A' }),
      '[1, 2]',
      JSON.stringify({ sample_id: 'a b', content: 'B', result: 0 }),
    ].join('\n'));
    const runs = mkdtempSync(join(tmpdir(), 'sc-runs-'));
    const r = await importWorkDir(dir, { runsRoot: runs, id: 'y' });
    expect(r.problems.map((x) => `${x.where.replace(dir, 'WD')}: ${x.message}`)).toEqual([
      'WD/predictions.jsonl:2: sample a_b: "result" is 2, expected a score from 0 to 1; imported unscored',
      'WD/predictions.jsonl:3: no "sample_id" (a string): expected one {"sample_id": "...", "content": "<answer text>", "ground_truth"?, "result"?: 0..1, "usage"?} object per line; line skipped',
      'WD/predictions.jsonl:4: a JSON array, expected one {"sample_id": "...", "content": "<answer text>", "ground_truth"?, "result"?: 0..1, "usage"?} object per line; line skipped',
      'WD/predictions.jsonl:5: sample a b also on line 1; the later line is used (as SpatialClaw\'s own evaluation does)',
      'WD: work-dir samples "a b" and "a_b" map to the same run sample id mmsi-a_b; the second is mmsi-a_b-2',
    ]);
    const samples = readRun(join(runs, 'y')).samples;
    expect(samples.map((s) => [s.id, s.source_id, s.answer, s.score, s.termination])).toEqual([
      ['mmsi-a_b', 'a b', 'B', 0, 'answered'],
      ['mmsi-a_b-2', 'a_b', 'B', null, 'answered'],
      ['mmsi-late', 'late', null, null, 'error'],
    ]);
    expect(r).toMatchObject({ samples: 3, without_trace: 2, with_trace: 1, without_prediction: 1 });
    expect(samples[2]!.error).toMatch(/neither answer_submitted nor termination/);
  });

  it('says what to pass instead of a folder that is not a work dir', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sc-empty-'));
    await expect(importWorkDir(empty, { runsRoot: empty })).rejects.toThrow(ImportError);
    await expect(importWorkDir(join(empty, 'nope'), { runsRoot: empty })).rejects.toThrow(/does not exist/);
    await expect(importWorkDir(workDirWithPrediction(), { runsRoot: empty, id: '../x' })).rejects.toThrow(/run id "\.\.\/x" is invalid/);
  });

  function workDirWithPrediction(): string {
    const dir = workDir();
    writeFileSync(join(dir, 'predictions.jsonl'), lines([{ sample_id: '1', content: 'A' }]));
    return dir;
  }
});
