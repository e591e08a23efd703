/**
 * Exporting a run (`spatialclaw export`, the workbench's `exportRun`; docs/export.md): one row per finished sample,
 * built from the triage index (./sample-index.ts `exportRow`), written by Python (`python -m spatial_eval export`,
 * python-eval/spatial_eval/export.py: pyarrow for Parquet, pandas for CSV) from JSON lines on its stdin.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExportFormat, ExportRow } from '../../../shared/export.ts';
import { minimalChildEnv } from '../config/env.ts';
import { resolvePython } from '../python.ts';
import { exportRow, SampleIndex } from './sample-index.ts';

/** The export could not be written (the message names what and why). */
export class ExportError extends Error {
  override name = 'ExportError';
}

/** File name extension of each format. */
export const EXPORT_EXT: Record<ExportFormat, string> = { csv: 'csv', parquet: 'parquet', jsonl: 'jsonl' };

/** The export rows of the run in `dir`, in samples.jsonl order. @throws as SampleIndex.samples */
export function exportRows(dir: string, index: SampleIndex = new SampleIndex()): ExportRow[] {
  return index.samples(dir).map(exportRow);
}

/**
 * Write `rows` to `out` as `format` (atomically: a reader never sees half a file).
 * @returns the absolute path written and the row count.
 * @throws ExportError with Python's message (a folder that does not exist, a value that does not fit its column),
 *   PythonNotFoundError when there is no Python environment.
 */
export function writeExport(rows: readonly ExportRow[], format: ExportFormat, out: string): Promise<{ path: string; rows: number }> {
  const python = resolvePython();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, ['-m', 'spatial_eval', 'export', '--format', format, '--out', out], { env: minimalChildEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => reject(new ExportError(`could not start Python (${python}) to write the export: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) {
        try {
          const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { path: string; rows: number };
          resolvePromise(r);
        } catch {
          reject(new ExportError(`the export writer printed no result: ${stdout.slice(-300)}`));
        }
        return;
      }
      const lines = stderr.trim().split('\n').filter(Boolean);
      const err = lines.find((l) => l.startsWith('error: '));
      reject(new ExportError(err ? `cannot write ${out}: ${err.slice('error: '.length)}` : `writing ${out} failed (exit ${code}): ${lines.slice(-3).join(' ')}`));
    });
    // A child that exits early closes stdin; its exit code and stderr say why.
    child.stdin.on('error', () => undefined);
    for (const r of rows) child.stdin.write(`${JSON.stringify(r)}\n`);
    child.stdin.end();
  });
}

/** The export of the run in `dir` as bytes (written to a temporary file, read back, removed). @throws as writeExport */
export async function exportBytes(dir: string, format: ExportFormat, index: SampleIndex = new SampleIndex()): Promise<Uint8Array> {
  const rows = exportRows(dir, index);
  const tmp = mkdtempSync(join(tmpdir(), 'spatialclaw-export-'));
  try {
    const { path } = await writeExport(rows, format, join(tmp, `export.${EXPORT_EXT[format]}`));
    return new Uint8Array(readFileSync(path));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
