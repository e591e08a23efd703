import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CellResult } from '../../shared/kernel.ts';
import { RUN_FORMAT, type RunEvent, type SampleResult, type SampleSpec } from '../../shared/run.ts';
import { newRunId } from '../../electron/services/runs/layout.ts';
import { listRuns, readRun, readRunInfo, readSampleEvents, splitLines } from '../../electron/services/runs/reader.ts';
import { assertNoSecrets, findSecrets, scanRunForSecrets } from '../../electron/services/runs/secrets.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';

const T = '2025-11-21T10:00:00.000Z';
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const tmp = () => mkdtempSync(join(tmpdir(), 'run-store-'));
const newDir = () => join(tmp(), 'run');

const spec = (id: string, over: Partial<SampleSpec> = {}): SampleSpec => ({ id, question: `How far is ${id}?`, inputs: [{ kind: 'video', path: '/v.mp4' }], answer: 2, ...over });
const start = (id: string): RunEvent => ({ type: 'sample_start', t: T, step: 0, sample: spec(id), executor: 'code' });
const term = (reason: SampleResult['termination'] = 'answered'): RunEvent => ({ type: 'termination', t: T, step: 1, reason, detail: null });
const result = (id: string, over: Partial<SampleResult> = {}): SampleResult => ({
  id, question: `How far is ${id}?`, answer: 2.3, answer_source: 'return_answer', ground_truth: 2, score: 0.8, question_type: 'object_abs_distance',
  termination: 'answered', steps: 1, parse_failures: 0, usage: { prompt_tokens: 10, completion_tokens: 2 }, model_calls: 1, duration_s: 1,
  error: null, started_at: T, finished_at: T, ...over,
});
const cell = (images: CellResult['images']): CellResult => ({
  index: 1, origin: 'agent', code: 'show(x)', status: 'ok', startedAt: T, durationMs: 5, stdout: '', stderr: '', result: null, error: null,
  violations: [], images, answer: null, artifacts: [], variables: [], notes: [],
});
const create = (dir: string, over: { config?: Record<string, unknown>; id?: string } = {}) =>
  RunWriter.create(dir, { config: over.config ?? { model: { name: 'm', api_key_env: 'KEY' } }, versions: { workbench: '0.1.0' }, total_samples: 3, ...(over.id ? { id: over.id } : {}) });

/** Write a whole sample: sample_start, one plan, termination; then finish. */
async function writeSample(w: RunWriter, id: string): Promise<void> {
  const s = w.startSample(spec(id));
  s.event(start(id));
  s.event({ type: 'plan', t: T, step: 0, text: 'plan', error: null });
  s.event(term());
  await s.finish(result(id));
}

describe('RunWriter.create', () => {
  it('writes run.json atomically with status running, and an empty samples.jsonl', async () => {
    const dir = newDir();
    const w = await create(dir);
    const info = readRunInfo(dir);
    expect(info).toMatchObject({ format: RUN_FORMAT, id: 'run', status: 'running', config: { model: { name: 'm', api_key_env: 'KEY' } }, total_samples: 3 });
    expect(info.created_at).toBe(info.updated_at);
    expect(readdirSync(dir).sort()).toEqual(['run.json', 'run.lock', 'samples', 'samples.jsonl']);
    expect(readFileSync(join(dir, 'samples.jsonl'), 'utf8')).toBe('');
    expect(w.doneIds.size).toBe(0);
    await w.finish('finished');
    expect(readdirSync(dir).sort()).toEqual(['run.json', 'samples', 'samples.jsonl']);
    const done = readRunInfo(dir);
    expect(done.status).toBe('finished');
    expect(done.updated_at >= done.created_at).toBe(true);
  });

  it('takes an explicit id and refuses a folder that holds a run', async () => {
    const dir = newDir();
    const w = await create(dir, { id: '20251121-100000-abcd' });
    expect(w.info.id).toBe('20251121-100000-abcd');
    await w.finish('finished');
    await expect(create(dir)).rejects.toThrow(/run\.json exists: the folder already holds a run/);
  });

  it('makes sortable run ids', () => {
    expect(newRunId(new Date('2025-11-21T10:35:12.345Z'))).toMatch(/^20251121-103512-[0-9a-f]{4}$/);
  });
});

describe('SampleWriter', () => {
  it('validates events and requires sample_start first, once', async () => {
    const w = await create(newDir());
    const s = w.startSample(spec('a'));
    expect(() => s.event({ type: 'plan', t: T, step: 0, text: null, error: null })).toThrow(/first event must be sample_start, got plan/);
    expect(() => s.event({ ...start('b') })).toThrow(/sample_start is for sample b/);
    expect(() => s.event({ type: 'termination', t: T, step: -1, reason: 'answered', detail: null } as RunEvent)).toThrow(/invalid termination event[\s\S]*step/);
    expect(() => s.event({ type: 'nonsense', t: T, step: 0 } as unknown as RunEvent)).toThrow(/invalid nonsense event/);
    s.event(start('a'));
    expect(() => s.event(start('a'))).toThrow(/sample_start may only be the first event/);
    expect(s.eventCount).toBe(1);
    s.abort();
    await w.finish('interrupted');
  });

  it('moves cell images to files, adds image events, and leaves the caller object alone', async () => {
    const dir = newDir();
    const w = await create(dir);
    const s = w.startSample(spec('a'));
    s.event(start('a'));
    const images: CellResult['images'] = [
      { index: 4, label: 'frame 0', width: 1, height: 1, source: 'show', png: PNG },
      { index: 5, label: null, width: 1, height: 1, source: 'plt', png: PNG },
      { index: 6, label: 'kept', width: 2, height: 2, source: 'show', path: 'elsewhere.png' },
    ];
    const ev: RunEvent = { type: 'cell', t: T, step: 3, result: cell(images) };
    s.event(ev);
    s.event({ type: 'cell', t: T, step: 3, result: cell([{ index: 7, label: 'again', width: 1, height: 1, source: 'show', png: PNG }]) });
    expect(images[0]!.png).toBe(PNG);
    expect(s.writeImage('keyframe_00.png', Buffer.from(PNG, 'base64'))).toBe('images/keyframe_00.png');
    expect(() => s.writeImage('keyframe_00.png', Buffer.from(PNG, 'base64'))).toThrow(/image keyframe_00\.png exists/);
    expect(() => s.writeImage('../escape.png', Buffer.from('x'))).toThrow(/invalid image name/);
    await s.finish(result('a'));
    await w.finish('finished');

    const events = readSampleEvents(dir, 'a');
    expect(events.map((e) => e.type)).toEqual(['sample_start', 'cell', 'image', 'image', 'cell', 'image', 'termination']);
    const c = events[1]!;
    if (c.type !== 'cell') throw new Error('not a cell');
    expect(c.result.images.map((i) => [i.png, i.path])).toEqual([
      [undefined, 'images/step003_1.png'],
      [undefined, 'images/step003_2.png'],
      [undefined, 'elsewhere.png'],
    ]);
    expect(events[2]).toEqual({ t: T, step: 3, type: 'image', path: 'images/step003_1.png', label: 'frame 0', width: 1, height: 1 });
    expect(events[5]).toMatchObject({ type: 'image', path: 'images/step003_1-2.png', label: 'again' });
    // The termination event was added by finish (the result's termination and error).
    expect(events[6]).toEqual({ t: T, step: 3, type: 'termination', reason: 'answered', detail: null });
    const imgDir = join(dir, 'samples', 'a', 'images');
    expect(readdirSync(imgDir).sort()).toEqual(['keyframe_00.png', 'step003_1-2.png', 'step003_1.png', 'step003_2.png']);
    expect(readFileSync(join(imgDir, 'step003_2.png'))).toEqual(Buffer.from(PNG, 'base64'));
    expect(readFileSync(join(dir, 'samples', 'a', 'events.jsonl'), 'utf8')).not.toContain(PNG);
  });

  it('checks the result and closes the sample on finish', async () => {
    const w = await create(newDir());
    const s = w.startSample(spec('a'));
    await expect(s.finish(result('a'))).rejects.toThrow(/no events written/);
    s.event(start('a'));
    s.event(term('max_steps'));
    await expect(s.finish(result('b'))).rejects.toThrow(/result is for sample b/);
    await expect(s.finish(result('a', { score: 2 }))).rejects.toThrow(/invalid result[\s\S]*score/);
    await expect(s.finish(result('a'))).rejects.toThrow(/result termination answered differs from the termination event \(max_steps\)/);
    await s.finish(result('a', { termination: 'max_steps' }));
    expect(s.status).toBe('finished');
    expect(() => s.event(term())).toThrow(/sample a is finished; no more writes/);
    expect(w.doneIds.has('a')).toBe(true);
    await w.finish('finished');
  });

  it('refuses done, active, case-colliding and dot ids', async () => {
    const w = await create(newDir());
    await writeSample(w, 'a');
    expect(() => w.startSample(spec('a'))).toThrow(/sample a is already done \(recorded in .*samples\.jsonl\)/);
    expect(() => w.startSample(spec('A'))).toThrow(/sample ids a and A differ only in case/);
    w.startSample(spec('b'));
    expect(() => w.startSample(spec('b'))).toThrow(/sample b is already being written/);
    expect(() => w.startSample(spec('..'))).toThrow(/invalid sample id/);
    expect(() => w.startSample(spec('x/y'))).toThrow(/invalid sample[\s\S]*letters, digits/);
    await expect(w.finish('finished')).rejects.toThrow(/samples still open: b/);
    await w.finish('interrupted');
    expect(() => w.startSample(spec('c'))).toThrow(/is finished; resume it to write more/);
  });

  it('serialises result lines of concurrent samples', async () => {
    const dir = newDir();
    const w = await create(dir);
    const ids = Array.from({ length: 20 }, (_, i) => `s${i}`);
    const writers = ids.map((id) => w.startSample(spec(id)));
    for (const s of writers) s.event(start(s.id));
    for (const s of writers) s.event({ type: 'plan', t: T, step: 0, text: 'x'.repeat(10_000), error: null });
    await Promise.all(writers.map((s) => s.finish(result(s.id, { error: 'y'.repeat(50_000) }))));
    await w.finish('finished');
    const lines = readFileSync(join(dir, 'samples.jsonl'), 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as SampleResult).id).sort()).toEqual([...ids].sort());
    expect(readRun(dir).samples).toHaveLength(20);
  });
});

describe('RunWriter.resume', () => {
  it('ignores and cuts a torn last line, and redoes unfinished samples from scratch', async () => {
    const dir = newDir();
    const w = await create(dir);
    await writeSample(w, 'a');
    await writeSample(w, 'b');
    const c = w.startSample(spec('c'));
    c.event(start('c'));
    c.event({ type: 'plan', t: T, step: 0, text: 'first try', error: null });
    await w.finish('interrupted');
    const complete = readFileSync(join(dir, 'samples.jsonl'));
    const torn = '{"id":"c","question":"How fa';
    appendFileSync(join(dir, 'samples.jsonl'), torn);

    // Readers skip the torn line without changing the file.
    expect(readRun(dir).samples.map((r) => r.id)).toEqual(['a', 'b']);
    expect(readFileSync(join(dir, 'samples.jsonl')).length).toBe(complete.length + torn.length);

    const r = await RunWriter.resume(dir);
    expect(r.recovery).toEqual({ tornBytes: torn.length, movedAside: ['c'], staleLock: false });
    expect([...r.doneIds].sort()).toEqual(['a', 'b']);
    expect(r.info.status).toBe('running');
    expect(readFileSync(join(dir, 'samples.jsonl'))).toEqual(complete);
    expect(existsSync(join(dir, 'samples', 'c'))).toBe(false);
    expect(readFileSync(join(dir, 'attempts', 'c', '1', 'events.jsonl'), 'utf8')).toContain('first try');
    expect(() => r.startSample(spec('a'))).toThrow(/already done/);

    // A second unfinished attempt goes to attempts/c/2, when the sample is started again.
    const c2 = r.startSample(spec('c'));
    c2.event(start('c'));
    c2.abort();
    expect(existsSync(join(dir, 'samples', 'c'))).toBe(true);
    const c3 = r.startSample(spec('c'));
    expect(readdirSync(join(dir, 'attempts', 'c')).sort()).toEqual(['1', '2']);
    c3.event(start('c'));
    await c3.finish(result('c'));
    await r.finish('finished');

    const run = readRun(dir);
    expect(run.samples.map((s) => s.id)).toEqual(['a', 'b', 'c']);
    expect(readSampleEvents(dir, 'c').map((e) => e.type)).toEqual(['sample_start', 'termination']);
  });

  it('tolerates a torn last event line in readers', async () => {
    const dir = newDir();
    const w = await create(dir);
    const s = w.startSample(spec('a'));
    s.event(start('a'));
    appendFileSync(join(dir, 'samples', 'a', 'events.jsonl'), '{"t":"2025');
    expect(readSampleEvents(dir, 'a').map((e) => e.type)).toEqual(['sample_start']);
    s.abort();
    await w.finish('interrupted');
  });

  it('names the file when run.json is missing, broken or of another format', async () => {
    const dir = tmp();
    await expect(RunWriter.resume(dir)).rejects.toThrow(new RegExp(`${join(dir, 'run.json')} is missing: .* is not a run folder`));
    writeFileSync(join(dir, 'run.json'), '{"format": "spatialclaw-run/1", ');
    await expect(RunWriter.resume(dir)).rejects.toThrow(/run\.json is not valid JSON/);
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ format: 'spatialclaw-run/2' }));
    await expect(RunWriter.resume(dir)).rejects.toThrow(/run\.json has format "spatialclaw-run\/2"; this version reads spatialclaw-run\/1/);
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ format: RUN_FORMAT, id: 'x' }));
    await expect(RunWriter.resume(dir)).rejects.toThrow(/run\.json is invalid[\s\S]*created_at/);
    expect(existsSync(join(dir, 'run.lock'))).toBe(false);
  });

  it('names file and line of an invalid or repeated result', async () => {
    const dir = newDir();
    const w = await create(dir);
    await writeSample(w, 'a');
    await w.finish('interrupted');
    const good = readFileSync(join(dir, 'samples.jsonl'), 'utf8');
    writeFileSync(join(dir, 'samples.jsonl'), `${good}not json\n${good}`);
    await expect(RunWriter.resume(dir)).rejects.toThrow(/samples\.jsonl:2: not valid JSON/);
    writeFileSync(join(dir, 'samples.jsonl'), `${good}{"id":"b"}\n`);
    await expect(RunWriter.resume(dir)).rejects.toThrow(/samples\.jsonl:2[\s\S]*question/);
    writeFileSync(join(dir, 'samples.jsonl'), `${good}${good}`);
    await expect(RunWriter.resume(dir)).rejects.toThrow(/samples\.jsonl:2: sample a is recorded twice/);
    expect(() => readRun(dir)).not.toThrow();
  });

  it('refuses a run open in this process, and takes over a dead process lock', async () => {
    const dir = newDir();
    const w = await create(dir);
    await expect(RunWriter.resume(dir)).rejects.toThrow(/already open in this process/);
    await w.finish('interrupted');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(dir, 'run.lock'), JSON.stringify({ pid: dead, host: hostname(), since: T }));
    expect(listRuns(join(dir, '..'))[0]!.live).toBe(false);
    const r = await RunWriter.resume(dir);
    expect(r.recovery.staleLock).toBe(true);
    expect(listRuns(join(dir, '..'))[0]!.live).toBe(true);
    await r.finish('finished');
    writeFileSync(join(dir, 'run.lock'), JSON.stringify({ pid: 1, host: 'some-other-host', since: T }));
    await expect(RunWriter.resume(dir)).rejects.toThrow(/opened on host some-other-host \(process 1\); if that process is gone, delete/);
  });

  it('aborts open samples on an interrupted finish; resume moves them aside', async () => {
    const dir = newDir();
    const w = await create(dir);
    await writeSample(w, 'a');
    const b = w.startSample(spec('b'));
    b.event(start('b'));
    await w.finish('interrupted');
    expect(b.status).toBe('aborted');
    expect(readRunInfo(dir).status).toBe('interrupted');
    const r = await RunWriter.resume(dir);
    expect(r.recovery.movedAside).toEqual(['b']);
    await r.finish('interrupted');
  });
});

describe('readers', () => {
  it('lists runs newest first, with progress, liveness and errors', async () => {
    const root = tmp();
    const a = await create(join(root, 'a'));
    await writeSample(a, 'x');
    await a.finish('finished');
    await new Promise((r) => setTimeout(r, 5));
    const b = await create(join(root, 'b'));
    await writeSample(b, 'x');
    await writeSample(b, 'y');
    mkdirSync(join(root, 'not-a-run'));
    mkdirSync(join(root, 'broken'));
    writeFileSync(join(root, 'broken', 'run.json'), '{');
    writeFileSync(join(root, 'file.txt'), 'x');
    const runs = listRuns(root);
    expect(runs.map((r) => [r.info?.id ?? null, r.done, r.live, r.info?.status ?? null])).toEqual([
      ['b', 2, true, 'running'],
      ['a', 1, false, 'finished'],
      [null, 0, false, null],
    ]);
    expect(runs[2]!.error).toMatch(/broken.run\.json is not valid JSON/);
    await b.finish('finished');
    expect(listRuns(join(root, 'missing'))).toEqual([]);
  });

  it('splits complete lines and reports the torn tail', () => {
    expect(splitLines(Buffer.from('{"a":1}\n\n{"b":2}\n{"c"'))).toEqual({ lines: [{ text: '{"a":1}', line: 1 }, { text: '{"b":2}', line: 3 }], completeBytes: 17 });
    expect(splitLines(Buffer.from('{"c"'))).toEqual({ lines: [], completeBytes: 0 });
  });

  it('names the events file and the sample', () => {
    expect(() => readSampleEvents(tmp(), 'nope')).toThrow(/events\.jsonl is missing: no events for sample nope/);
    expect(() => readSampleEvents(tmp(), '../x')).toThrow(/invalid sample id/);
  });
});

describe('secrets', () => {
  const KEY = 'sk-test-0123456789abcdef';

  it('finds a secret in values and keys, and names where, not what', () => {
    const obj = { model: { name: 'm', headers: { Authorization: `Bearer ${KEY}` } }, list: ['ok', KEY], [KEY]: 1, 'odd key': KEY };
    expect(findSecrets(obj, [KEY])).toEqual(['$.model.headers.Authorization', '$.list[1]', `$[${JSON.stringify(KEY)}] (key)`, '$["odd key"]']);
    expect(() => assertNoSecrets(obj, [KEY])).toThrow(/a secret value occurs at \$\.model\.headers\.Authorization/);
    try {
      assertNoSecrets({ a: KEY }, [KEY]);
    } catch (e) {
      expect((e as Error).message).not.toContain(KEY);
    }
    expect(() => assertNoSecrets({ model: { api_key_env: 'OPENAI_API_KEY' } }, [KEY])).not.toThrow();
  });

  it('ignores short placeholder values such as EMPTY', () => {
    expect(findSecrets({ text: 'EMPTY handed', x: '' }, ['EMPTY', '', 'none'])).toEqual([]);
  });

  it('scans a run folder', async () => {
    const dir = newDir();
    const w = await create(dir, { config: { model: { name: 'm', api_key_env: 'KEY' } } });
    const s = w.startSample(spec('a'));
    s.event(start('a'));
    s.event({ type: 'plan', t: T, step: 0, text: `oops "${KEY}"`, error: null });
    await s.finish(result('a'));
    await w.finish('finished');
    expect(scanRunForSecrets(dir, [KEY])).toEqual(['samples/a/events.jsonl:2']);
    expect(scanRunForSecrets(dir, ['another-secret-value'])).toEqual([]);
  });
});
