/**
 * `spatialclaw export` and the workbench's `exportRun` / `triageSamples` on a real run written by RunWriter (a cell
 * failing with NameError, a `fallback` model call, a timeout, a rejected cell, a host error) and annotated with
 * appendAnnotation (test/helpers/triage-run.ts). Every format is read back with pandas from the project's Python.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_COLUMNS } from '../../shared/export.ts';
import { METHODS } from '../../shared/workbench.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { hostInTempHome, type TempHomeHost } from '../helpers/host-home.ts';
import { writeTriageRun } from '../helpers/triage-run.ts';

const PYTHON = join(ROOT, '.venv', 'bin', 'python');

/** Read an export with pandas (read_csv / read_parquet / read_json(lines=True)); lists come back as lists. */
function readWithPandas(file: string, format: 'csv' | 'parquet' | 'jsonl'): { columns: string[]; rows: Record<string, unknown>[] } {
  const script = `
import json, sys
import pandas as pd
path, fmt = sys.argv[1], sys.argv[2]
df = {"csv": pd.read_csv, "parquet": pd.read_parquet, "jsonl": lambda p: pd.read_json(p, lines=True, dtype=False)}[fmt](path)
def plain(v):
    if hasattr(v, "tolist"):
        return plain(v.tolist())
    if isinstance(v, list):
        return [plain(x) for x in v]
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    return v
rows = [{c: plain(r[c]) for c in df.columns} for _, r in df.iterrows()]
print(json.dumps({"columns": list(df.columns), "rows": rows}))
`;
  const r = spawnSync(PYTHON, ['-c', script, file, format], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pandas could not read ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { columns: string[]; rows: Record<string, unknown>[] };
}

let wb: TempHomeHost;
let runDir: string;

beforeAll(async () => {
  wb = await hostInTempHome('sc-export-');
  runDir = join(wb.home, 'runs', 'run-export');
  mkdirSync(join(wb.home, 'runs'), { recursive: true });
  await writeTriageRun(runDir);
});

afterAll(async () => {
  await wb?.close();
});

const byId = (rows: Record<string, unknown>[]) => Object.fromEntries(rows.map((r) => [r['id'] as string, r]));

describe('spatialclaw export', () => {
  it('writes parquet with list columns that pandas reads back', async () => {
    const out = join(wb.home, 'e.parquet');
    const r = await spatialclaw(['export', runDir, '--format', 'parquet', '--out', out], { SPATIALCLAW_HOME: wb.home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`wrote 5 samples to ${out}`);
    const { columns, rows } = readWithPandas(out, 'parquet');
    expect(columns).toEqual(EXPORT_COLUMNS);
    const s = byId(rows);
    expect(s['q0']).toMatchObject({ score: 1, correct: true, tool_failures: 0, error_class: null, tags: [], step_tags: [], answer: '4', ground_truth: '4', reasoning_tokens: 7, source_id: '17' });
    expect(s['q1']).toMatchObject({
      score: 0, correct: false, tool_failures: 1, error_class: 'NameError', fallback_used: false, choices: ['A. yes', 'B. no'],
      tags: ['reasoning.wrong_plan'], step_tags: ['2:geometry.wrong_frame_axis_units'], notes: ['alice (step 1): depth_map was never defined'],
    });
    expect(s['q2']).toMatchObject({ score: 0.8, tool_failures: 1, error_class: 'TimeoutError', fallback_used: true, answer_source: 'direct_answer', tags: ['infrastructure.timeout'], notes: ['bob: the cell slept; fallback saved it'], termination: 'max_steps' });
    expect(s['q3']).toMatchObject({ score: null, correct: null, error_class: 'HostError', termination: 'error', error: 'the kernel could not be prepared', answer: null });
    expect(s['q4']).toMatchObject({ score: 0.25, error_class: 'Rejected', steps: 2, prompt_tokens: 200, completion_tokens: 20, duration_s: 20 });
  });

  it('writes csv with lists joined by "; " next to the run by default, given a run id under the runs root', async () => {
    const r = await spatialclaw(['export', 'run-export', '--format', 'csv'], { SPATIALCLAW_HOME: wb.home });
    expect(r.code, r.stderr).toBe(0);
    const out = join(runDir, 'export.csv');
    expect(r.stdout.trim()).toBe(`wrote 5 samples to ${out}`);
    const { columns, rows } = readWithPandas(out, 'csv');
    expect(columns).toEqual(EXPORT_COLUMNS);
    const s = byId(rows);
    expect(s['q1']).toMatchObject({ score: 0, tool_failures: 1, error_class: 'NameError', tags: 'reasoning.wrong_plan', step_tags: '2:geometry.wrong_frame_axis_units', notes: 'alice (step 1): depth_map was never defined', choices: 'A. yes; B. no' });
    expect(s['q2']).toMatchObject({ score: 0.8, fallback_used: true, error_class: 'TimeoutError', tags: 'infrastructure.timeout' });
    expect(s['q0']).toMatchObject({ tags: null, error_class: null });
  });

  it('writes jsonl with lists as lists and answers as recorded', async () => {
    const out = join(wb.home, 'e.jsonl');
    const r = await spatialclaw(['export', runDir, '--format', 'jsonl', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const { columns, rows } = readWithPandas(out, 'jsonl');
    expect(columns).toEqual(EXPORT_COLUMNS);
    const s = byId(rows);
    expect(s['q0']).toMatchObject({ answer: 4, ground_truth: 4, score: 1 });
    expect(s['q1']).toMatchObject({ step_tags: ['2:geometry.wrong_frame_axis_units'], tags: ['reasoning.wrong_plan'], error_class: 'NameError', tool_failures: 1 });
    expect(s['q2']).toMatchObject({ notes: ['bob: the cell slept; fallback saved it'], fallback_used: true });
  });

  it('says what RUN and --format may be', async () => {
    const notRun = await spatialclaw(['export', join(wb.home, 'nowhere'), '--format', 'csv'], { SPATIALCLAW_HOME: wb.home });
    expect(notRun.code).toBe(1);
    expect(notRun.stderr).toMatch(/no run .*nowhere: it is not a folder, nor a run under .*\n {2}fix: give a run folder, or the id of a run under the runs root/);
    const badFormat = await spatialclaw(['export', runDir, '--format', 'xlsx']);
    expect(badFormat.code).not.toBe(0);
    expect(badFormat.stderr).toMatch(/--format must be csv, parquet, jsonl, got "xlsx"/);
    const noFolder = await spatialclaw(['export', runDir, '--format', 'csv', '--out', join(wb.home, 'no', 'such', 'e.csv')]);
    expect(noFolder.code).toBe(1);
    expect(noFolder.stderr).toMatch(/cannot write .*e\.csv: .*does not exist/);
  });
});

describe('the workbench methods', () => {
  it('exportRun returns the same file as bytes', async () => {
    expect(METHODS.exportRun.result).toBe('binary');
    const bytes = await wb.host.handlers.exportRun({ run_id: 'run-export', format: 'parquet' });
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(bytes.subarray(0, 4)).toString()).toBe('PAR1');
    const file = join(wb.home, 'from-host.parquet');
    writeFileSync(file, bytes);
    const s = byId(readWithPandas(file, 'parquet').rows);
    expect(s['q1']).toMatchObject({ error_class: 'NameError', step_tags: ['2:geometry.wrong_frame_axis_units'] });
    await expect(wb.host.handlers.exportRun({ run_id: 'no-such-run', format: 'csv' })).rejects.toThrow(/no run no-such-run/);
  });

  it('triageSamples filters, counts facets and pages the same index', async () => {
    const page = METHODS.triageSamples.result.parse(
      await wb.host.handlers.triageSamples(METHODS.triageSamples.args.parse({ run_id: 'run-export', filter: { tool_failures: true }, sort: 'score' })),
    );
    expect(page.run_total).toBe(5);
    expect(page.rows.map((r) => [r.result.id, r.derived.error_class])).toEqual([['q1', 'NameError'], ['q4', 'Rejected'], ['q2', 'TimeoutError']]);
    expect(page.facets.tool_failures).toEqual([{ value: 'true', count: 3 }, { value: 'false', count: 2 }]);
    expect(page.facets.error_class.find((c) => c.value === 'HostError')!.count).toBe(0);
    expect(page.ranges.duration_s).toEqual([0.5, 61]);
    expect(existsSync(join(runDir, 'samples', 'q1', 'events.jsonl'))).toBe(true);
  });
});
