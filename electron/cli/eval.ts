/**
 * `spatialclaw eval`, `spatialclaw score` and `spatialclaw datasets`: the paper's benchmarks read from their published
 * snapshots, run through the agent, scored as each benchmark's released evaluation does (docs/benchmarks-eval.md).
 * Loaders and scorers are Python (`python-eval/spatial_eval`); this module runs them and the agent.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BenchError, LiveScorer, loadBenchmarks, passThrough, type ScoringName, scoreRun } from '../services/bench/index.ts';
import { env, ENV } from '../services/config/env.ts';
import { batchSummary, formatBatchSummary } from '../services/runs/batch-summary.ts';
import { executeRun, type RunOptions } from './run.ts';

/** The data root: `--data-root`, else $SPATIALCLAW_DATA_ROOT. @throws Error saying how to give one. */
export function dataRootOf(flag: string | undefined): string {
  const root = flag ?? env('dataRoot');
  if (!root) throw new Error(`no data root: pass --data-root DIR (the folder holding vsibench/, blink/, ...) or set ${ENV.dataRoot}`);
  if (!existsSync(root)) throw new Error(`data root ${resolve(root)} does not exist; pass --data-root DIR (the folder holding vsibench/, blink/, ...)`);
  return resolve(root);
}

export interface EvalOptions extends Omit<RunOptions, 'dataset' | 'limit'> {
  benchmark: string;
  dataRoot?: string;
  limit?: number;
  subsample?: number;
  seed?: number;
  scoring?: ScoringName;
}

/** `spatialclaw eval`: returns the exit code. */
export async function evalBenchmarks(o: EvalOptions): Promise<number> {
  if (o.limit && o.subsample) throw new Error('--limit and --subsample exclude each other: --limit N takes the first N, --subsample N a seeded random N');
  const dataRoot = dataRootOf(o.dataRoot);
  const scoring = o.scoring ?? 'official';
  let names: string[] = [];
  const { limit, subsample, seed, ...runOpts } = o;
  return executeRun(runOpts, {
    describe: () => ({
      kind: 'eval', benchmarks: names, data_root: dataRoot, scoring,
      selection: { ...(limit ? { limit } : {}), ...(subsample ? { subsample, seed: seed ?? 42 } : {}) },
    }),
    samples: async () => {
      process.stdout.write(`reading ${o.benchmark} from ${dataRoot} ...\n`);
      const loaded = await loadBenchmarks(o.benchmark, dataRoot, { limit, subsample, seed });
      names = loaded.benchmarks.map((b) => b.name);
      for (const b of loaded.benchmarks) {
        console.log(`  ${b.name.padEnd(18)} ${String(b.selected).padStart(6)} of ${b.total} samples${b.problems ? `, ${b.problems} rows unreadable` : ''}`);
      }
      for (const p of loaded.problems.slice(0, 10)) console.log(`  ${p.benchmark} ${p.where}: ${p.message}`);
      if (loaded.problems.length > 10) console.log(`  ... ${loaded.problems.length - 10} more unreadable rows (spatialclaw datasets check NAME lists them)`);
      if (loaded.samples.length === 0) throw new BenchError(`no samples to run in ${o.benchmark} under ${dataRoot}`);
      return loaded.samples;
    },
    scorer: async () => {
      const s = new LiveScorer(names.join(','), dataRoot, scoring);
      await s.start();
      return { scoring, score: (id, answer) => s.score(id, answer), close: () => s.close() };
    },
    // The batch's own summary (terminations, failed cells, host errors, tokens), then the official scores.
    summary: async (dir, wallS) => `\n${formatBatchSummary(batchSummary(dir, { wallS }))}\n\n${await scoreRun(dir, { scoring, dataRoot })}`,
  });
}

/**
 * `spatialclaw score`: a predictions file (`--predictions`, with --benchmark and --data-root) or a run folder.
 * Returns the exit code.
 */
export async function score(run: string | undefined, o: { benchmark?: string; dataRoot?: string; predictions?: string; scoring?: ScoringName; json?: boolean }): Promise<number> {
  const scoring = o.scoring ?? 'official';
  if (run) {
    if (o.predictions) throw new Error('give either a run folder or --predictions FILE, not both');
    if (!existsSync(join(run, 'run.json'))) throw new Error(`${resolve(run)} is not a run folder (no run.json)`);
    const dataRoot = o.dataRoot ?? env('dataRoot');
    process.stdout.write(await scoreRun(resolve(run), { scoring, ...(dataRoot ? { dataRoot: resolve(dataRoot) } : {}), ...(o.json ? { json: true } : {}) }));
    return 0;
  }
  if (!o.predictions || !o.benchmark) throw new Error('score needs a run folder, or --benchmark NAME --predictions FILE.jsonl (lines {"id": <official id>, "prediction": "<text>"})');
  return passThrough(['score', '--benchmark', o.benchmark, '--data-root', dataRootOf(o.dataRoot), '--predictions', resolve(o.predictions), '--scoring', scoring, ...(o.json ? ['--json'] : [])]);
}

/** `spatialclaw datasets list|check`. */
export function datasets(cmd: 'list' | 'check', o: { name?: string; dataRoot?: string; json?: boolean; noOpen?: boolean }): Promise<number> {
  const root = o.dataRoot ?? env('dataRoot');
  if (cmd === 'list') return passThrough(['list', ...(root ? ['--data-root', resolve(root)] : []), ...(o.json ? ['--json'] : [])]);
  return passThrough(['check', o.name!, '--data-root', dataRootOf(o.dataRoot), ...(o.json ? ['--json'] : []), ...(o.noOpen ? ['--no-open'] : [])]);
}

/**
 * `spatialclaw compare RUN_A RUN_B [--json]`: the two runs' common samples side by side (python-eval
 * spatial_eval/compare.py): flips, McNemar's exact test, the paired bootstrap CI of the score difference, per task.
 * Returns the exit code.
 */
export function compareRuns(runA: string, runB: string, o: { json?: boolean; resamples?: number } = {}): Promise<number> {
  return passThrough(['compare', resolve(runA), resolve(runB), ...(o.json ? ['--json'] : []), ...(o.resamples !== undefined ? ['--resamples', String(o.resamples)] : [])]);
}
