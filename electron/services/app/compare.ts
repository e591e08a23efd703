/**
 * Comparing runs of the same benchmark (the workbench's `compareRuns`, shared/compare.ts): the run folders under the
 * runs root go to `python -m spatial_eval compare-many` (python-eval/spatial_eval/compare.py `compare_many`), the one
 * implementation of the paired statistics that `spatialclaw compare` also uses; its JSON answer is checked against
 * {@link RunComparisonSchema}. Nothing is cached: a comparison of 5,000 samples with 9,999 resamples takes a few
 * seconds of Python per pair.
 */
import { WorkbenchError } from '../../../shared/api.ts';
import { type RunComparison, RunComparisonSchema } from '../../../shared/compare.ts';
import { PythonNotFoundError, resolvePython, runPython, type RunResult } from '../python.ts';
import type { RunsService } from './runs.ts';

/** How long one comparison may take before Python is stopped. */
const COMPARE_TIMEOUT_MS = 10 * 60_000;

export class CompareService {
  constructor(private readonly runs: RunsService) {}

  /**
   * Compare `runIds` (2..6, the first the baseline) with `resamples` bootstrap resamples.
   * @throws WorkbenchError for an unknown run, runs of different benchmarks, runs without a scored sample in common,
   *   a run without finished samples (each with its fix), a missing Python environment, or a comparison that ran
   *   past 10 minutes.
   * @throws Error (a host fault) when Python fails otherwise or answers something that is not a RunComparison.
   */
  async compare(runIds: string[], resamples: number): Promise<RunComparison> {
    const dirs = runIds.map((id) => this.runs.runDir(id));
    let python: string;
    try {
      python = resolvePython();
    } catch (e) {
      if (e instanceof PythonNotFoundError) throw new WorkbenchError(e.message, 'run `npm run setup` (it creates .venv), or set SPATIALCLAW_PYTHON');
      throw e;
    }
    const started = Date.now();
    const r = await runPython(python, ['-m', 'spatial_eval', 'compare-many', ...dirs, '--resamples', String(resamples)], COMPARE_TIMEOUT_MS);
    if (r.code !== 0) throw compareFailure(r, runIds, Date.now() - started >= COMPARE_TIMEOUT_MS);
    let json: unknown;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      throw new Error(`spatial_eval compare-many printed no JSON: ${r.stdout.slice(0, 200)}`);
    }
    return RunComparisonSchema.parse(json);
  }
}

/**
 * A failed `compare-many`: its `error:` and `fix:` lines (a refusal, or a file it could not read) as a WorkbenchError,
 * a run stopped at the time limit (`timedOut`) as one too; anything else is a host fault with the end of stderr.
 */
export function compareFailure(r: RunResult, runIds: string[], timedOut: boolean): Error {
  const lines = r.stderr.split('\n');
  const error = lines.find((l) => l.startsWith('error: '))?.slice('error: '.length);
  const fix = lines.find((l) => l.startsWith('fix: '))?.slice('fix: '.length);
  if (error) return new WorkbenchError(error, fix ?? `check the run folders of ${runIds.join(', ')} (samples.jsonl), or pick other runs`);
  if (timedOut) {
    return new WorkbenchError(
      `comparing ${runIds.join(', ')} did not finish within ${COMPARE_TIMEOUT_MS / 60_000} minutes`,
      'compare fewer runs at once, or ask for fewer bootstrap resamples (resamples)',
    );
  }
  return new Error(`spatial_eval compare-many failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
}
