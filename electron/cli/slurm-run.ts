/**
 * `spatialclaw eval|run … --slurm`: submit a sharded run to SLURM (one job array, one finalize job), print the job
 * ids, and with `--wait` show the shards' progress until the finalize job ends; `--resume RUN --slurm` resubmits only
 * the unfinished shards; `spatialclaw cluster finalize RUN` is what the finalize job runs. docs/cluster.md.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SettingsService } from '../services/config/settings.ts';
import { ModelClient } from '../services/model/client.ts';
import { ModelRegistry } from '../services/model/registry.ts';
import { runVersions } from '../services/agent/runner.ts';
import { scheduleSamples } from '../services/agent/schedule.ts';
import { scancel, sbatch } from '../services/cluster/slurm.ts';
import { jobState, LIVE_STATES } from '../services/cluster/slurm.ts';
import {
  createShardedRun, doneSampleIds, formatSnapshot, readShardState, readSlurmRecord, type ScriptSpec, setRunStatus, shardCounts, snapshot, submissionRecord,
  writeScripts, writeSlurmRecord,
} from '../services/cluster/sharded.ts';
import { newRunId, SLURM_DIR } from '../services/runs/layout.ts';
import { readRunInfo } from '../services/runs/reader.ts';
import { batchSummary, formatBatchSummary } from '../services/runs/batch-summary.ts';
import { appRoot } from '../services/paths.ts';
import { MAX_SHARDS, shardOf } from '../../shared/shards.ts';
import { requireModel } from './ask.ts';
import { DEFAULT_SHARDS, resolveConcurrency, resumeDir, type RunOptions, type RunPlan, runFlags, runRecord } from './run.ts';
import { DEFAULT_SIGNAL_BEFORE_S } from './shard-stop.ts';

/**
 * The flags of the submitting command that the shard tasks do not get (with whether each takes a value).
 * `--signal-before` stays: a task's grace period is half of it.
 */
const SUBMIT_ONLY: Record<string, 'value' | 'flag' | 'optional'> = {
  '--slurm': 'flag', '--wait': 'flag', '--shards': 'value', '--partition': 'value', '--time': 'value', '--gpus-per-task': 'value',
  '--sbatch-arg': 'value', '--out': 'value', '--resume': 'optional', '--shard': 'value',
};

/**
 * The shard tasks' command line: this command's arguments (`eval --benchmark … --model …`) without the submission's
 * own flags; each task adds `--out RUN --shard k/N`.
 * @param argv process.argv.slice(2)
 */
export function shardArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.split('=')[0]! : '';
    const kind = SUBMIT_ONLY[name];
    if (!kind) {
      out.push(a);
      continue;
    }
    if (a.includes('=')) continue;
    if (kind === 'value') i++;
    else if (kind === 'optional' && i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) i++;
  }
  return out;
}

/** Submit (or resubmit) a sharded run; returns the exit code. */
export async function submitShardedRun(o: RunOptions | Omit<RunOptions, 'dataset'>, plan: RunPlan): Promise<number> {
  const t0 = Date.now();
  if (o.shard) throw new Error('--shard and --slurm exclude each other: --slurm submits every shard, --shard K/N runs one here');
  const flags = runFlags(o);
  const early = new SettingsService(flags).config();
  const model = new ModelClient(requireModel({ models: new ModelRegistry() }, early));
  const concurrency = resolveConcurrency(early.concurrency, model.capacity());
  let samples = await plan.samples();
  // After the samples: the plan's description names what they were read from (eval: the benchmarks).
  const { runConfig } = runRecord(plan, early, model, concurrency, o, early.concurrency === 'auto');
  if (o.limit) samples = samples.slice(0, o.limit);
  samples = scheduleSamples(samples, o.order ?? 'media');
  const ids = samples.map((s) => s.id);

  const resuming = Boolean(o.resume);
  const target = resumeDir(o);
  if (resuming && !target) throw new Error('--resume needs the run folder: --resume RUN --slurm');
  const dir = resolve(target ?? join(early.runsRoot, newRunId()));
  let shards: number;
  let n: number;
  let indices: number[];
  if (resuming) {
    if (!existsSync(join(dir, 'run.json'))) throw new Error(`${dir} is not a run folder (no run.json); start a new run without --resume`);
    const rec = readSlurmRecord(dir);
    const info = readRunInfo(dir);
    shards = rec.shards;
    if (o.shards !== undefined && o.shards !== shards) throw new Error(`${dir} was submitted with ${shards} shards; the shard of a sample depends on the count, so resume with --shards ${shards} (or leave --shards out)`);
    if (info.total_samples !== ids.length) {
      throw new Error(`${dir} holds a run of ${info.total_samples} samples, but this command selects ${ids.length}: pass the same --benchmark/--dataset and selection (--limit, --subsample, --seed) as when it was submitted`);
    }
    // A task or finalize job of an earlier submission still alive would race the new one.
    for (const sub of rec.submissions) {
      for (const k of sub.shards) {
        const st = safeState(`${sub.array_job_id}_${k}`);
        if (st && LIVE_STATES.has(st)) throw new Error(`shard ${k} is still ${st} as SLURM task ${sub.array_job_id}_${k}; wait for it or cancel it (scancel ${sub.array_job_id}_${k}), then resume`);
      }
      const fin = safeState(sub.finalize_job_id);
      if (fin && LIVE_STATES.has(fin)) scancel([sub.finalize_job_id]); // superseded by this submission's finalize job
    }
    const counts = shardCounts(ids, shards, doneSampleIds(dir));
    indices = counts.flatMap((c, k) => (c.done < c.total ? [k] : []));
    const left = counts.reduce((a, c) => a + c.total - c.done, 0);
    if (indices.length === 0) {
      console.log(`every one of the ${ids.length} samples of ${dir} is done; finalizing here`);
      return finalizeShardedRun(dir);
    }
    console.log(`resuming ${dir}: ${ids.length - left} of ${ids.length} samples done; resubmitting shards ${indices.join(', ')} (${left} samples left)`);
    n = rec.submissions.length + 1;
    setRunStatus(dir, 'running');
  } else {
    shards = o.shards ?? DEFAULT_SHARDS;
    if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) throw new Error(`--shards must be a whole number from 1 to ${MAX_SHARDS}, got ${shards}`);
    if (o.out && existsSync(join(dir, 'run.json'))) throw new Error(`${dir} already holds a run: resume it with --resume ${dir} --slurm, or pick another --out`);
    createShardedRun(dir, { config: { ...runConfig, slurm: true }, versions: runVersions(), total_samples: ids.length, shards, shardTotals: shardCounts(ids, shards, new Set()).map((c) => c.total) });
    n = 1;
    indices = Array.from({ length: shards }, (_, k) => k);
  }
  const counts = shardCounts(ids, shards, new Set());
  const empty = indices.filter((k) => counts[k]!.total === 0);
  if (empty.length) console.log(`shards ${empty.join(', ')} own no sample (${ids.length} samples over ${shards} shards): their tasks end at once`);

  const spec: ScriptSpec = {
    runDir: dir, runId: dir.split(/[\\/]/).pop()!, n, shards, indices,
    node: process.execPath, cli: join(appRoot(), 'electron', 'cli', 'spatialclaw.mjs'), args: shardArgs(process.argv.slice(2)), cwd: process.cwd(),
    partition: o.partition ?? null, time: o.time ?? null, gpusPerTask: o.gpusPerTask ?? null, signalBeforeS: o.signalBefore ?? DEFAULT_SIGNAL_BEFORE_S,
    sbatchArgs: o.sbatchArg ?? [],
  };
  const paths = writeScripts(spec);
  const arrayId = sbatch(paths.array);
  let finalizeId: string;
  try {
    finalizeId = sbatch(paths.finalize, [`--dependency=afterany:${arrayId}`]);
  } catch (e) {
    scancel([arrayId]);
    throw new Error(`the finalize job could not be submitted, so the array ${arrayId} was cancelled: ${(e as Error).message}`, { cause: e });
  }
  const rec = readSlurmRecord(dir);
  writeSlurmRecord(dir, { ...rec, submissions: [...rec.submissions, submissionRecord(spec, paths, { array: arrayId, finalize: finalizeId })] });
  console.log(`submitted ${ids.length} samples in ${indices.length} of ${shards} shards:`);
  console.log(`  job array ${arrayId} (tasks ${indices.map((k) => `${arrayId}_${k}: ${counts[k]!.total} samples`).join(', ')})`);
  console.log(`  finalize job ${finalizeId} (after every task ends: scores and summarises the run)`);
  console.log(`  run folder ${dir}`);
  console.log(`  scripts ${paths.array}, ${paths.finalize}; logs in ${join(dir, SLURM_DIR, 'logs')}`);
  if (!o.wait) {
    console.log(`watch it with: squeue -j ${arrayId},${finalizeId}, the workbench's Cluster view, or --resume ${dir} --slurm --wait after a failure`);
    return 0;
  }
  return watchShardedRun(dir, ids, t0);
}

/** squeue/scontrol state of a job, or null when SLURM does not know it or cannot be asked. */
function safeState(id: string): string | null {
  try {
    return jobState(id);
  } catch {
    return null;
  }
}

/** `--wait`: print the shards' progress at each change (or every 30 s) until the finalize job ends; exit 0 iff finished. */
export async function watchShardedRun(dir: string, ids: readonly string[], t0 = Date.now()): Promise<number> {
  const rec = readSlurmRecord(dir);
  let last = '';
  let lastAt = 0;
  for (;;) {
    const counts = shardCounts(ids, rec.shards, doneSampleIds(dir));
    let snap;
    try {
      snap = snapshot(dir, rec, counts);
    } catch (e) {
      console.log(`[${secs(t0)}] SLURM did not answer (${(e as Error).message}); retrying`);
      await sleep(5000);
      continue;
    }
    const line = formatSnapshot(snap);
    if (line !== last || Date.now() - lastAt > 30_000) {
      console.log(`[${secs(t0)}] ${line}`);
      last = line;
      lastAt = Date.now();
    }
    if (snap.ended) break;
    await sleep(2000);
  }
  const sub = rec.submissions[rec.submissions.length - 1]!;
  const log = join(dir, SLURM_DIR, 'logs', `finalize-${sub.finalize_job_id}.out`);
  if (existsSync(log)) process.stdout.write(`\n--- finalize job ${sub.finalize_job_id} (${log}) ---\n${readFileSync(log, 'utf8')}`);
  const info = readRunInfo(dir);
  console.log(`run ${info.id}: ${info.status}`);
  return info.status === 'finished' ? 0 : 1;
}

const secs = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `spatialclaw cluster finalize RUN` (the finalize job): when every shard is finished, mark the run finished and
 * score it (an eval run: results.json, as `spatialclaw score RUN`); else mark it interrupted and say which shards to
 * resume and how. Prints the batch summary either way. Exit 0 when finished, 3 when shards are unfinished.
 */
export async function finalizeShardedRun(dir: string): Promise<number> {
  dir = resolve(dir);
  const rec = readSlurmRecord(dir);
  const info = readRunInfo(dir);
  const done = doneSampleIds(dir);
  const unfinished: string[] = [];
  const doneIn = Array.from({ length: rec.shards }, () => 0);
  for (const id of done) doneIn[shardOf(id, rec.shards)]!++;
  for (let k = 0; k < rec.shards; k++) {
    const st = readShardState(dir, k);
    // Finished, or every sample it was given is done (a task killed right after its last sample).
    if (st?.status !== 'finished' && !(st && doneIn[k]! >= st.total)) {
      const how = !st ? 'never started' : st.status === 'running' ? 'its task ended without closing the shard (killed by SIGKILL, a node failure or the memory limit)' : `${st.status}${st.reason ? ` (${st.reason})` : ''}`;
      unfinished.push(`shard ${k}: ${how}; ${doneIn[k]} of ${st?.total ?? '?'} samples done`);
    }
  }
  const complete = unfinished.length === 0;
  setRunStatus(dir, complete ? 'finished' : 'interrupted');
  console.log(`run ${info.id}: ${done.size} of ${info.total_samples} samples done over ${rec.shards} shards`);
  try {
    console.log(formatBatchSummary(batchSummary(dir)));
  } catch (e) {
    console.log(`(no batch summary: ${(e as Error).message})`);
  }
  if (!complete) {
    console.log(`unfinished:\n  ${unfinished.join('\n  ')}`);
    console.log(`resume with: spatialclaw ${String(info.config['kind'] ?? 'eval')} … --resume ${dir} --slurm   (the same --benchmark/--dataset and selection; only the unfinished shards are resubmitted)`);
    return 3;
  }
  const cfg = info.config as { kind?: string; scoring?: 'official' | 'paper'; data_root?: string };
  if (cfg.kind === 'eval') {
    const { scoreRun } = await import('../services/bench/index.ts');
    console.log(await scoreRun(dir, { scoring: cfg.scoring ?? 'official', ...(cfg.data_root ? { dataRoot: cfg.data_root } : {}) }));
  }
  const logs = join(dir, SLURM_DIR, 'logs');
  if (existsSync(logs)) console.log(`task logs: ${readdirSync(logs).length} files in ${logs}`);
  return 0;
}
