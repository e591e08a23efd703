/**
 * The pure parts of the workbench host: run filters, sample paging/sorting/search and its cache,
 * settings parsing, the console journal, folder listing and model file names.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WorkbenchError } from '../../shared/api.ts';
import type { CellResult } from '../../shared/kernel.ts';
import type { SampleResult } from '../../shared/run.ts';
import type { RunRow } from '../../shared/workbench.ts';
import { listDirectory } from '../../electron/services/app/files.ts';
import { toWorkbenchError } from '../../electron/services/workbench/host.ts';
import { accuracy, appendConsole, filterRuns, pageSamples, QueryError, readConsole, SampleCache } from '../../electron/services/workbench/runs.ts';
import { loadSettings, parseSettings, saveSettings, SettingsError } from '../../electron/services/config/settings.ts';
import { ModelConfigError } from '../../electron/services/model/config.ts';
import { modelFileStem } from '../../electron/services/model/registry.ts';

const row = (id: string, over: Partial<RunRow> = {}): RunRow => ({
  id, kind: 'run', status: 'finished', model: 'qwen', created_at: '2025-11-21T10:00:00.000Z', total_samples: 1, done: 1, live: false, error: null, ...over,
});

const result = (i: number, over: Partial<SampleResult> = {}): SampleResult => ({
  id: `s${i}`, question: `question ${i}`, answer: i, answer_source: 'return_answer', ground_truth: 1, score: i / 10, question_type: 'count',
  termination: 'answered', steps: i, parse_failures: 0, usage: { prompt_tokens: 1, completion_tokens: 1 }, model_calls: 1, duration_s: 10 - i,
  error: null, started_at: 't', finished_at: 't', ...over,
});

describe('filterRuns', () => {
  const rows = [
    { row: row('20251122-000000-aaaa', { model: 'Qwen2.5-VL', created_at: '2025-11-22T00:00:00.000Z', status: 'running' }), dataset: null },
    { row: row('20251121-235959-bbbb', { model: 'gpt-4o', created_at: '2025-11-21T23:59:59.000Z' }), dataset: '/data/vsibench.jsonl' },
    { row: row('broken', { model: null, created_at: null, status: 'unreadable' }), dataset: null },
  ];
  it('searches id, model and dataset case-insensitively', () => {
    expect(filterRuns(rows, { search: 'QWEN' }).map((r) => r.id)).toEqual(['20251122-000000-aaaa']);
    expect(filterRuns(rows, { search: 'vsibench' }).map((r) => r.id)).toEqual(['20251121-235959-bbbb']);
    expect(filterRuns(rows, { search: 'brok' }).map((r) => r.id)).toEqual(['broken']);
    expect(filterRuns(rows, {}).length).toBe(3);
  });
  it('filters by status and exact model name', () => {
    expect(filterRuns(rows, { status: 'running' }).map((r) => r.id)).toEqual(['20251122-000000-aaaa']);
    expect(filterRuns(rows, { model: 'GPT-4O' }).map((r) => r.id)).toEqual(['20251121-235959-bbbb']);
    expect(filterRuns(rows, { model: 'gpt' })).toEqual([]);
  });
  it('bounds created_at inclusively; a date-only "to" covers its whole day', () => {
    expect(filterRuns(rows, { to: '2025-11-21' }).map((r) => r.id)).toEqual(['20251121-235959-bbbb']);
    expect(filterRuns(rows, { from: '2025-11-22' }).map((r) => r.id)).toEqual(['20251122-000000-aaaa']);
    expect(filterRuns(rows, { from: '2025-11-21T23:59:59Z', to: '2025-11-22T00:00:00Z' }).length).toBe(2);
    expect(() => filterRuns(rows, { from: 'yesterday' })).toThrow(QueryError);
  });
});

describe('pageSamples and SampleCache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wb-unit-'));
  const file = join(dir, 'samples.jsonl');
  writeFileSync(file, [result(3), result(1, { score: null }), result(2)].map((r) => `${JSON.stringify(r)}\n`).join(''));
  const cache = new SampleCache();

  it('pages in file order, searches and sorts ascending with unscored last', () => {
    const rows = cache.rows(dir);
    expect(pageSamples(rows, { offset: 1, limit: 1, sort: 'index' })).toEqual({ total: 3, offset: 1, rows: [result(1, { score: null })] });
    expect(pageSamples(rows, { offset: 0, limit: 10, sort: 'score' }).rows.map((r) => r.id)).toEqual(['s2', 's3', 's1']);
    expect(pageSamples(rows, { offset: 0, limit: 10, sort: 'steps' }).rows.map((r) => r.id)).toEqual(['s1', 's2', 's3']);
    expect(pageSamples(rows, { offset: 0, limit: 10, sort: 'duration' }).rows.map((r) => r.id)).toEqual(['s3', 's2', 's1']);
    expect(pageSamples(rows, { offset: 0, limit: 10, sort: 'index', search: 'QUESTION 2' }).rows.map((r) => r.id)).toEqual(['s2']);
    expect(accuracy(rows)).toBeCloseTo(0.25);
    expect(accuracy([])).toBeNull();
  });

  it('reuses the parse while the file is unchanged and parses only appended lines', () => {
    const c = new SampleCache();
    c.rows(dir);
    expect(c.parsedLines).toBe(3);
    c.rows(dir);
    expect(c.parsedLines).toBe(3);
    appendFileSync(file, `${JSON.stringify(result(4))}\n{"id": "torn`);
    const rows = c.rows(dir);
    expect(rows.map((r) => r.result.id)).toEqual(['s3', 's1', 's2', 's4']); // the torn line is left out
    expect(c.parsedLines).toBe(4);
    appendFileSync(file, `", "x": 1}\n`);
    expect(() => c.rows(dir)).toThrow(/invalid sample result/);
  });
});

describe('settings', () => {
  it('defaults, validation naming the file and field, atomic save', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wb-settings-'));
    const f = join(dir, 'settings.json');
    expect(loadSettings(f)).toEqual({ pool_size: 1, memory_gib: 16, kernel_idle_max_mb: 512, cell_timeout_s: 600, max_steps: 30 });
    expect(parseSettings('{"pool_size": 4}', f)).toMatchObject({ pool_size: 4, max_steps: 30 });
    expect(() => parseSettings('{"pool_size": -1}', f)).toThrow(new RegExp(`${f} holds invalid settings: pool_size`));
    expect(parseSettings('{"kernel_idle_max_mb": 0}', f)).toMatchObject({ kernel_idle_max_mb: 0 }); // 0 = no bound
    expect(() => parseSettings('{"kernel_idle_max_mb": -5}', f)).toThrow(new RegExp(`${f} holds invalid settings: kernel_idle_max_mb`));
    expect(() => parseSettings('nope', f)).toThrow(SettingsError);
    expect(saveSettings({ max_steps: 5 }, f)).toMatchObject({ max_steps: 5, pool_size: 1 });
    expect(JSON.parse(readFileSync(f, 'utf8'))).toMatchObject({ max_steps: 5 });
    const mapped = toWorkbenchError(new SettingsError('bad', 'fix it'));
    expect(mapped).toBeInstanceOf(WorkbenchError);
    expect((mapped as WorkbenchError).fix).toBe('fix it');
    expect((toWorkbenchError(new ModelConfigError('x.json', 'no such file')) as WorkbenchError).fix).toMatch(/Model endpoints/);
    const other = new Error('boom');
    expect(toWorkbenchError(other)).toBe(other);
  });
});

describe('console journal', () => {
  it('appends human cells to console.jsonl and reads them back', () => {
    const run = mkdtempSync(join(tmpdir(), 'wb-console-'));
    mkdirSync(join(run, 'samples', 'q1'), { recursive: true });
    expect(readConsole(run, 'q1')).toEqual([]);
    const cell: CellResult = {
      index: 0, origin: 'human', code: '1 + 1', status: 'ok', startedAt: 't', durationMs: 1, stdout: '', stderr: '', result: '2', error: null,
      violations: [], images: [], answer: null, artifacts: [], variables: [], notes: [],
    };
    appendConsole(run, 'q1', { type: 'cell', t: '2025-01-01T00:00:00Z', step: 2, result: cell });
    appendConsole(run, 'q1', { type: 'cell', t: '2025-01-01T00:00:01Z', step: 2, result: { ...cell, code: '2 + 2', result: '4' } });
    expect(readConsole(run, 'q1').map((e) => e.type === 'cell' && e.result.result)).toEqual(['2', '4']);
    expect(() => appendConsole(run, 'q1', { type: 'cell', t: 't', step: -1, result: cell })).toThrow();
  });
});

describe('listDirectory and modelFileStem', () => {
  it('lists folders first, skips hidden and broken entries, and explains bad paths', () => {
    const d = mkdtempSync(join(tmpdir(), 'wb-dir-'));
    mkdirSync(join(d, 'b-folder'));
    mkdirSync(join(d, 'A-folder'));
    writeFileSync(join(d, 'clip10.mp4'), 'x');
    writeFileSync(join(d, 'clip2.mp4'), 'xy');
    writeFileSync(join(d, '.hidden'), '');
    symlinkSync(join(d, 'missing'), join(d, 'broken-link'));
    const l = listDirectory(d);
    expect(l.entries.map((e) => e.name)).toEqual(['A-folder', 'b-folder', 'clip2.mp4', 'clip10.mp4']);
    expect(l.entries[2]).toMatchObject({ kind: 'file', size: 2, path: join(d, 'clip2.mp4') });
    expect(l.parent).toBe(tmpdir());
    expect(listDirectory('/').parent).toBeNull();
    expect(() => listDirectory(join(d, 'nope'))).toThrow(/does not exist/);
    expect(() => listDirectory(join(d, 'clip2.mp4'))).toThrow(/is a file, not a folder/);
  });
  it('turns model ids into file names', () => {
    expect(modelFileStem('Qwen/Qwen2.5-VL-7B-Instruct')).toBe('Qwen_Qwen2.5-VL-7B-Instruct');
    expect(modelFileStem('gpt-4o')).toBe('gpt-4o');
    expect(modelFileStem('../x')).toBe('x');
  });
});
