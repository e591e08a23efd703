/**
 * `spatialclaw import DIR [--runs ROOT] [--id RUN_ID] [--data-root DIR] [--scoring official|paper] [--json]`: a
 * SpatialClaw work dir as a run of this workbench (electron/services/runs/import.ts, docs/import.md). Prints the new
 * run's id and folder, the sample counts and every problem met.
 */
import { resolve } from 'node:path';
import { env } from '../services/config/env.ts';
import { type ImportReport, importWorkDir } from '../services/runs/import.ts';
import { runsRoot } from '../services/runs/layout.ts';
import type { ScoringName } from '../services/bench/index.ts';

export interface ImportCliOptions {
  runs?: string;
  id?: string;
  dataRoot?: string;
  scoring?: ScoringName;
  json?: boolean;
}

/** The report for people; `customRoot`: the run went under `--runs`, not the default root. */
export function formatImport(r: ImportReport, customRoot = false): string {
  const out: string[] = [];
  out.push(`imported ${r.source}`);
  out.push(`  run ${r.run_id}: ${r.run_dir}`);
  out.push(`  benchmark ${r.benchmark ?? '(not recorded)'}, model ${r.model ?? '(not recorded)'}`);
  out.push(
    `  ${r.samples} samples: ${r.with_trace} with a session trace, ${r.without_trace} from predictions.jsonl alone, ` +
      `${r.without_prediction} from a session folder alone`,
  );
  const mean = r.mean_score === null ? '' : `, mean ${(100 * r.mean_score).toFixed(1)}`;
  out.push(`  ${r.scored} scored (${r.scoring === 'spatialclaw-workdir' ? "the work dir's own scores" : `spatial_eval, ${r.scoring} scoring`}${mean})`);
  out.push(`  inputs: ${r.inputs_recovered ? `${r.inputs_recovered} recovered from the data root` : 'placeholders (pass --data-root to recover them)'}; ${r.images} show() images`);
  if (r.problems.length) {
    out.push(`  problems (${r.problems.length}; the rest was imported):`);
    for (const p of r.problems.slice(0, 50)) out.push(`    ${p.where}: ${p.message}`);
    if (r.problems.length > 50) out.push(`    ... ${r.problems.length - 50} more (all in run.json config.source.problems, up to 200)`);
  } else out.push('  no problems');
  for (const n of r.notes) out.push(`  note: ${n}`);
  out.push(`open it with \`spatialclaw serve${customRoot ? ` --runs ${resolve(r.run_dir, '..')}` : ''}\` (Runs); compare it with \`spatialclaw compare\``);
  return out.join('\n');
}

/** `spatialclaw import`: returns the exit code (0: the run was written; errors throw, with a fix). */
export async function importCommand(dir: string, o: ImportCliOptions): Promise<number> {
  const report = await importWorkDir(dir, {
    runsRoot: o.runs ? resolve(o.runs) : runsRoot(),
    id: o.id,
    dataRoot: o.dataRoot ?? env('dataRoot'),
    scoring: o.scoring,
  });
  console.log(o.json ? JSON.stringify(report, null, 1) : formatImport(report, !!o.runs));
  return 0;
}
