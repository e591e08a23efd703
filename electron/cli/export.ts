/**
 * `spatialclaw export RUN --format csv|parquet|jsonl [--out FILE]`: one row per finished sample of a run, with its
 * scores, tags, notes, steps, tokens, termination and error (docs/export.md). The rows are the triage index's
 * (electron/services/runs/sample-index.ts), the same the workbench's `exportRun` writes.
 */
import { join, resolve } from 'node:path';
import { type ExportFormat, ExportFormatSchema } from '../../shared/export.ts';
import { EXPORT_EXT, exportRows, writeExport } from '../services/runs/export.ts';
import { runsRoot } from '../services/runs/layout.ts';
import { resolveRunDir } from './run-ref.ts';

/** `--format`: csv, parquet or jsonl. */
export function exportFormatOpt(v: string): ExportFormat {
  const r = ExportFormatSchema.safeParse(v);
  if (!r.success) throw new Error(`--format must be ${ExportFormatSchema.options.join(', ')}, got ${JSON.stringify(v)}`);
  return r.data;
}

/** `spatialclaw export`: prints the path written and the row count; returns the exit code. */
export async function exportRun(run: string, o: { format: ExportFormat; out?: string }): Promise<number> {
  const dir = resolveRunDir(run, runsRoot());
  const out = resolve(o.out ?? join(dir, `export.${EXPORT_EXT[o.format]}`));
  const rows = exportRows(dir);
  const r = await writeExport(rows, o.format, out);
  console.log(`wrote ${r.rows} sample${r.rows === 1 ? '' : 's'} to ${r.path}`);
  return 0;
}
