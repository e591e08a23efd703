/**
 * What a RUN argument of the CLI names (`tag`, `export`): a run folder (holding run.json), else a run id under the
 * runs root.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WorkbenchError } from '../../shared/api.ts';
import { RunIdSchema } from '../../shared/ids.ts';
import { RUN_JSON } from '../services/runs/layout.ts';

/**
 * The run folder RUN names: a folder holding run.json, else a run id under `runsRoot`.
 * @throws WorkbenchError (message and fix) when it is neither.
 */
export function resolveRunDir(run: string, runsRoot: string): string {
  const asPath = resolve(run);
  if (existsSync(join(asPath, RUN_JSON))) return asPath;
  if (RunIdSchema.safeParse(run).success && existsSync(join(runsRoot, run, RUN_JSON))) return join(runsRoot, run);
  if (existsSync(asPath) && statSync(asPath).isDirectory()) throw new WorkbenchError(`${asPath} is not a run folder: it has no ${RUN_JSON}`, 'give a run folder (the one holding run.json and samples.jsonl), or a run id');
  throw new WorkbenchError(`no run ${run}: it is not a folder, nor a run under ${runsRoot}`, 'give a run folder, or the id of a run under the runs root (the Runs view of the workbench lists them)');
}
