/**
 * Sharded runs on SLURM (issue 16, docs/cluster.md; the folder layout is in shared/cluster.ts): the run record of a
 * submission (slurm.json), the generated sbatch scripts, which shards are unfinished, the finalize step and the
 * per-shard snapshot `--wait` prints.
 *
 * SLURM does the distributing: one job array (task k runs shard k) and one finalize job that depends on the whole
 * array (`--dependency=afterany:<array>`). Nothing here schedules samples.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type ClusterJob, type ShardState, ShardStateSchema, type SlurmRecord, SlurmRecordSchema, type SlurmSubmission } from '../../../shared/cluster.ts';
import { RUN_FORMAT, type RunInfo, RunInfoSchema } from '../../../shared/run.ts';
import { shardOf } from '../../../shared/shards.ts';
import { writeJsonAtomic } from '../fs/atomic.ts';
import { parseJsonLine, readRunInfo, splitLines } from '../runs/reader.ts';
import { PROGRESS_JSON, RUN_JSON, SAMPLES_DIR, SHARD_STATE, sampleJournals, shardDir, SLURM_DIR, SLURM_JSON } from '../runs/layout.ts';
import { SampleResultSchema } from '../../../shared/run.ts';
import { RunProgressSchema } from '../../../shared/run.ts';
import { jobRows, LIVE_STATES } from './slurm.ts';

/** Read slurm.json. @throws naming the file when it is missing (not a sharded run) or invalid. */
export function readSlurmRecord(dir: string): SlurmRecord {
  const p = join(dir, SLURM_JSON);
  if (!existsSync(p)) throw new Error(`${dir} is not a sharded run (no ${SLURM_JSON}); resume it without --slurm`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new Error(`${p} is not valid JSON (${(e as Error).message}); it records the run's SLURM submissions: restore it or start a new run`, { cause: e });
  }
  const r = SlurmRecordSchema.safeParse(raw);
  if (!r.success) throw new Error(`${p} is invalid: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`);
  return r.data;
}

/** Replace slurm.json atomically. */
export function writeSlurmRecord(dir: string, rec: SlurmRecord): void {
  writeJsonAtomic(join(dir, SLURM_JSON), SlurmRecordSchema.parse(rec));
}

/**
 * Create the folder of a new sharded run: run.json (status `running`, `config.sharding`) and slurm.json without
 * submissions. The shards write their own journals; run.json is then written only by the finalize job.
 * @throws when the folder already holds a run.
 */
export function createShardedRun(dir: string, o: { config: Record<string, unknown>; versions: Record<string, string>; total_samples: number; shards: number; shardTotals: number[] }): RunInfo {
  if (existsSync(join(dir, RUN_JSON))) throw new Error(`${join(dir, RUN_JSON)} exists: the folder already holds a run (resume it with --resume ${dir} --slurm)`);
  mkdirSync(join(dir, SAMPLES_DIR), { recursive: true });
  mkdirSync(join(dir, SLURM_DIR, 'logs'), { recursive: true });
  const now = new Date().toISOString();
  const info = RunInfoSchema.parse({
    format: RUN_FORMAT, id: dir.split(/[\\/]/).pop(), created_at: now, updated_at: now, status: 'running',
    config: { ...o.config, sharding: { shards: o.shards, rule: 'sha256-be64-mod' } }, versions: o.versions, total_samples: o.total_samples,
  });
  writeSlurmRecord(dir, { format: 'spatialclaw-slurm/1', shards: o.shards, rule: 'sha256-be64-mod', shard_totals: o.shardTotals, submissions: [] });
  writeJsonAtomic(join(dir, RUN_JSON), info);
  return info;
}

/** Set run.json's status (and updated_at), atomically. Only the submitter and the finalize job call this. */
export function setRunStatus(dir: string, status: RunInfo['status']): RunInfo {
  const info = { ...readRunInfo(dir), status, updated_at: new Date().toISOString() };
  writeJsonAtomic(join(dir, RUN_JSON), info);
  return info;
}

/** Ids of finished samples over every journal of the run (torn last lines are skipped). */
export function doneSampleIds(dir: string): Set<string> {
  const done = new Set<string>();
  for (const p of sampleJournals(dir)) {
    for (const { text, line } of splitLines(readFileSync(p)).lines) done.add(parseJsonLine(SampleResultSchema, text, p, line).id);
  }
  return done;
}

/** state.json of shard k, or null when it has none yet (never started) or it cannot be read. */
export function readShardState(dir: string, shard: number): ShardState | null {
  try {
    const r = ShardStateSchema.safeParse(JSON.parse(readFileSync(join(shardDir(dir, shard), SHARD_STATE), 'utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** Samples in flight in shard k (its progress.json), 0 when unknown. */
export function shardInFlight(dir: string, shard: number): number {
  try {
    const p = RunProgressSchema.safeParse(JSON.parse(readFileSync(join(shardDir(dir, shard), PROGRESS_JSON), 'utf8')));
    if (!p.success) return 0;
    return Object.values(p.data.samples.phases).reduce((a, b) => a + b, 0);
  } catch {
    return 0;
  }
}

/** Per shard: how many of `ids` it owns and how many of those are done. */
export function shardCounts(ids: readonly string[], shards: number, done: ReadonlySet<string>): { total: number; done: number }[] {
  const out = Array.from({ length: shards }, () => ({ total: 0, done: 0 }));
  for (const id of ids) {
    const c = out[shardOf(id, shards)]!;
    c.total++;
    if (done.has(id)) c.done++;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Scripts

/** What the generated scripts need. */
export interface ScriptSpec {
  runDir: string;
  runId: string;
  /** 1, 2, … */
  n: number;
  shards: number;
  /** SLURM --array indices (all shards, or the unfinished ones). */
  indices: number[];
  /** The node binary and the CLI launcher (electron/cli/spatialclaw.mjs): on a cluster both must be on a shared filesystem. */
  node: string;
  cli: string;
  /** The shard command's arguments after the launcher, without --out/--shard (e.g. `eval --benchmark vsibench …`). */
  args: string[];
  /** The folder relative paths in `args` are relative to (sbatch --chdir). */
  cwd: string;
  partition: string | null;
  time: string | null;
  gpusPerTask: number | null;
  signalBeforeS: number;
  sbatchArgs: string[];
}

/** A shell word, single-quoted when it holds anything but safe characters. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

/** `0-3`, `1,3,5-7`: SLURM's --array syntax for sorted indices. */
export function arraySpec(indices: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length; ) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j]! + 1) j++;
    parts.push(i === j ? String(indices[i]) : `${indices[i]}-${indices[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The sbatch options both scripts share (partition, extra arguments), as `#SBATCH` lines with their comments. */
function commonLines(s: ScriptSpec): string[] {
  const lines: string[] = [];
  if (s.partition) lines.push('# The partition (--partition).', `#SBATCH --partition=${s.partition}`);
  if (s.sbatchArgs.length) lines.push('# Given with --sbatch-arg.', ...s.sbatchArgs.map((a) => `#SBATCH ${a}`));
  return lines;
}

/**
 * The job-array script: task k runs shard k of the run (`spatialclaw … --out RUN --shard k/N`), requeueable, with
 * SLURM's warning signal before the time limit.
 */
export function arrayScript(s: ScriptSpec): string {
  const cmd = [s.node, s.cli, ...s.args, '--out', s.runDir].map(shellQuote).join(' ');
  return [
    '#!/bin/bash',
    `# A sharded SpatialClaw run as a SLURM job array, written by \`spatialclaw … --slurm\` (docs/cluster.md):`,
    `# run ${s.runId}, submission ${s.n}. Task k runs the samples of shard k: those whose sample id hashes to k`,
    `# (the first 8 bytes of its SHA-256, big-endian, modulo ${s.shards}).`,
    '#',
    '# The name squeue shows.',
    `#SBATCH --job-name=sc-${s.runId.slice(-24)}`,
    '# One task per shard (on a resubmission: only the unfinished shards).',
    `#SBATCH --array=${arraySpec(s.indices)}`,
    '# Each task\'s log; a requeued task appends to it.',
    `#SBATCH --output=${join(s.runDir, SLURM_DIR, 'logs', '%A_%a.out')}`,
    '#SBATCH --open-mode=append',
    '# Relative paths in the command below are relative to where it was submitted.',
    `#SBATCH --chdir=${s.cwd}`,
    '# Preemption or a node failure puts the task back in the queue; it resumes its shard.',
    '#SBATCH --requeue',
    `# SIGUSR1 to the task ${s.signalBeforeS} s before its time limit: it stops starting samples, gives those in flight`,
    `# ${Math.max(5, Math.floor(s.signalBeforeS / 2))} s, records why it stopped and asks SLURM to requeue it (scontrol requeue).`,
    `#SBATCH --signal=B:USR1@${s.signalBeforeS}`,
    ...(s.time ? ['# The time limit of each task (--time).', `#SBATCH --time=${s.time}`] : []),
    ...(s.gpusPerTask !== null ? ['# GPUs per task (--gpus-per-task).', `#SBATCH --gpus-per-task=${s.gpusPerTask}`] : []),
    ...commonLines(s),
    '',
    '# Stop at the first unset variable or failed command.',
    'set -eu',
    `echo "[shard] task \${SLURM_ARRAY_TASK_ID} of job \${SLURM_ARRAY_JOB_ID} on $(hostname) at $(date -Is), restart \${SLURM_RESTART_COUNT:-0}"`,
    '# Run the shard in place of this shell (exec), so that SLURM\'s signals reach it. The model\'s API key comes from',
    '# the environment sbatch passed on (it is never written here).',
    `exec ${cmd} --shard "\${SLURM_ARRAY_TASK_ID}/${s.shards}"`,
    '',
  ].join('\n');
}

/** The finalize script: after every task of the array ended (afterany), score and summarise the run. */
export function finalizeScript(s: ScriptSpec): string {
  return [
    '#!/bin/bash',
    `# The finalize job of a sharded SpatialClaw run, written by \`spatialclaw … --slurm\` (docs/cluster.md): run ${s.runId},`,
    '# submission ' + String(s.n) + '. Submitted with --dependency=afterany:<the array\'s job id>, so it runs once every task has',
    '# ended, however it ended. It marks the run finished when every shard is (else interrupted, naming the shards to',
    '# resume), scores it (eval: results.json, as `spatialclaw score RUN`) and prints the summary.',
    '#',
    '# The name squeue shows.',
    `#SBATCH --job-name=sc-final-${s.runId.slice(-18)}`,
    '# Its log.',
    `#SBATCH --output=${join(s.runDir, SLURM_DIR, 'logs', 'finalize-%j.out')}`,
    `#SBATCH --chdir=${s.cwd}`,
    '# Scoring takes seconds to minutes.',
    '#SBATCH --time=00:30:00',
    ...commonLines(s),
    '',
    'set -eu',
    `exec ${[s.node, s.cli, 'cluster', 'finalize', s.runDir].map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

/** Write a submission's two scripts under slurm/; returns their paths. */
export function writeScripts(s: ScriptSpec): { array: string; finalize: string } {
  mkdirSync(join(s.runDir, SLURM_DIR, 'logs'), { recursive: true });
  const array = join(s.runDir, SLURM_DIR, `array-${s.n}.sbatch`);
  const finalize = join(s.runDir, SLURM_DIR, `finalize-${s.n}.sbatch`);
  writeFileSync(array, arrayScript(s), { mode: 0o755 });
  writeFileSync(finalize, finalizeScript(s), { mode: 0o755 });
  return { array, finalize };
}

/** A submission record for slurm.json. */
export function submissionRecord(s: ScriptSpec, paths: { array: string; finalize: string }, ids: { array: string; finalize: string }): SlurmSubmission {
  return {
    n: s.n, submitted_at: new Date().toISOString(), array_job_id: ids.array, finalize_job_id: ids.finalize, shards: s.indices,
    array_script: relative(s.runDir, paths.array), finalize_script: relative(s.runDir, paths.finalize),
    options: { partition: s.partition, time: s.time, gpus_per_task: s.gpusPerTask, signal_s: s.signalBeforeS, sbatch_args: s.sbatchArgs },
  };
}

// ---------------------------------------------------------------------------------------------------
// Watching

/** The SLURM row of shard k's task in the latest submission that included it, or null. */
export function shardJob(rec: SlurmRecord, shard: number, rowsByArray: Map<string, ClusterJob[]>): ClusterJob | null {
  for (let i = rec.submissions.length - 1; i >= 0; i--) {
    const sub = rec.submissions[i]!;
    if (!sub.shards.includes(shard)) continue;
    return rowsByArray.get(sub.array_job_id)?.find((r) => r.array_task_id === shard) ?? null;
  }
  return null;
}

/** One line per shard and one for the finalize job, as `--wait` prints them. */
export interface ShardSnapshot {
  shards: { shard: number; state: string; done: number; total: number; inFlight: number; status: string | null; reason: string | null }[];
  finalize: string | null;
  /** Whether the latest finalize job ended (or SLURM forgot it). */
  ended: boolean;
}

/** Where every shard of the latest submission stands. */
export function snapshot(dir: string, rec: SlurmRecord, counts: { total: number; done: number }[]): ShardSnapshot {
  const last = rec.submissions[rec.submissions.length - 1];
  const rowsByArray = new Map<string, ClusterJob[]>();
  if (last) rowsByArray.set(last.array_job_id, jobRows(last.array_job_id));
  const fin = last ? jobRows(last.finalize_job_id).find((r) => r.array_task_id === null) ?? null : null;
  const shards = counts.map((c, k) => {
    const st = readShardState(dir, k);
    const job = shardJob(rec, k, rowsByArray);
    // progress.json keeps its last snapshot: samples count as in flight only while the task runs.
    const running = job?.state === 'RUNNING' && st?.status === 'running';
    return { shard: k, state: job?.state ?? (st?.status === 'finished' ? 'COMPLETED' : 'NOT-SUBMITTED'), done: c.done, total: c.total, inFlight: running ? shardInFlight(dir, k) : 0, status: st?.status ?? null, reason: st?.reason ?? null };
  });
  return { shards, finalize: fin?.state ?? null, ended: !fin || !LIVE_STATES.has(fin.state) };
}

/** `shard 0 RUNNING 3/5 (2 in flight)` per shard, one line. */
export function formatSnapshot(s: ShardSnapshot): string {
  const parts = s.shards.map((x) => `${x.shard}:${x.state.toLowerCase()} ${x.done}/${x.total}${x.inFlight ? `+${x.inFlight}` : ''}`);
  return `shards ${parts.join('  ')}  | finalize ${s.finalize?.toLowerCase() ?? 'gone'}`;
}
