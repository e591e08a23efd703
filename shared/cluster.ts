/**
 * Sharded runs and cluster-hosted servers on SLURM (issue 16, docs/cluster.md). Schemas of the files a sharded run
 * folder holds besides the ordinary run record (docs/run-format.md), of the server registry on the shared
 * filesystem, and of the workbench's cluster view.
 *
 * A sharded run folder (`spatialclaw eval|run --slurm`) is an ordinary run folder plus:
 *
 *   slurm.json                      SlurmRecord: the shard count and every submission (job ids, scripts)
 *   slurm/array-<n>.sbatch          the n-th submission's job-array script (n = 1, 2, … ; resubmissions add one)
 *   slurm/finalize-<n>.sbatch       the n-th submission's finalize script (afterany on the array)
 *   slurm/logs/                     SLURM's stdout/stderr of every task (%A_%a.out) and finalize job (%j.out)
 *   shards/<kkk>/samples.jsonl      shard k's journal (k zero-padded to 3 digits): one SampleResult per finished sample
 *   shards/<kkk>/shard.lock         ShardLock while a task has the shard open
 *   shards/<kkk>/state.json         ShardState: the shard's last word (running, finished, requeued, …) and why
 *   shards/<kkk>/progress.json      RunProgress of the shard (shared/run.ts)
 *
 * Each shard writes only its own files and the folders of its own samples (`samples/<id>/`, `attempts/<id>/`), so
 * nodes never write one file at once: no O_APPEND atomicity or locking across hosts is needed (NFS). run.json is
 * written by the submitter and the finalize job only. Readers take the union of every journal: the top-level
 * samples.jsonl (a run's unsharded part, if any) and each shard's, in shard order.
 */
import { z } from 'zod';

/** A shard's folder name under `shards/`: the index zero-padded to 3 digits (`000`, `001`, …, `1234`). */
export function shardDirName(shard: number): string {
  return String(shard).padStart(3, '0');
}

/** The SLURM ids of the task that holds a shard (from the task's environment). */
export const SlurmTaskIdsSchema = z.object({
  /** SLURM_JOB_ID: the task's own job id. */
  job_id: z.string(),
  /** SLURM_ARRAY_JOB_ID: the array's job id (the id `sbatch` printed). */
  array_job_id: z.string().optional(),
  /** SLURM_ARRAY_TASK_ID: the task index = the shard index. */
  array_task_id: z.number().int().nonnegative().optional(),
  /** SLURM_RESTART_COUNT: how often the task was requeued before this start (0 at first). */
  restart_count: z.number().int().nonnegative().optional(),
  /** SLURM_CLUSTER_NAME, when set. */
  cluster: z.string().optional(),
});
export type SlurmTaskIds = z.infer<typeof SlurmTaskIdsSchema>;

/**
 * `shards/<kkk>/shard.lock`: who has the shard open. On the same host a dead pid makes it stale; with `slurm` ids a
 * lock is stale once `squeue`/`scontrol`/`sacct` report that job ended (a lock from another host without SLURM ids
 * cannot be checked and is respected).
 */
export const ShardLockSchema = z.object({
  pid: z.number().int().positive(),
  host: z.string(),
  since: z.string(),
  shard: z.number().int().nonnegative(),
  shards: z.number().int().positive(),
  slurm: SlurmTaskIdsSchema.optional(),
});
export type ShardLock = z.infer<typeof ShardLockSchema>;

/** Why and how a shard's last session ended. */
export const ShardStatusSchema = z.enum([
  /** A task has it open and is running samples. */
  'running',
  /** Every sample of the shard is done. */
  'finished',
  /** SLURM's warning signal came (time limit or preemption): in-flight samples were finished or abandoned, and the task asked SLURM to requeue it. */
  'requeued',
  /** Stopped by a signal without a requeue (Ctrl-C, scancel): resume it. */
  'interrupted',
  /** A host-side error stopped it (see `reason`). */
  'failed',
]);
export type ShardStatus = z.infer<typeof ShardStatusSchema>;

/** `shards/<kkk>/state.json`, replaced atomically by the shard's task at every change. */
export const ShardStateSchema = z.object({
  shard: z.number().int().nonnegative(),
  shards: z.number().int().positive(),
  status: ShardStatusSchema,
  /** Why it ended this way (the signal, the error), or null. */
  reason: z.string().nullable(),
  /** Samples assigned to the shard, and how many are done (lines in its journal, union with earlier ones). */
  total: z.number().int().nonnegative(),
  done: z.number().int().nonnegative(),
  /** Samples that were in flight when a signal came and were abandoned (to be redone). */
  abandoned: z.array(z.string()).default([]),
  /** The task that wrote this state. */
  slurm: SlurmTaskIdsSchema.optional(),
  host: z.string(),
  started_at: z.string(),
  updated_at: z.string(),
});
export type ShardState = z.infer<typeof ShardStateSchema>;

/** One `sbatch` of a sharded run: the array (only the shards still unfinished, on a resubmission) and its finalize job. */
export const SlurmSubmissionSchema = z.object({
  /** 1 for the first submission, then 2, 3, … (`--resume RUN --slurm`). */
  n: z.number().int().positive(),
  submitted_at: z.string(),
  array_job_id: z.string(),
  finalize_job_id: z.string(),
  /** The shard indices submitted (SLURM `--array` indices). */
  shards: z.array(z.number().int().nonnegative()),
  /** Paths relative to the run folder. */
  array_script: z.string(),
  finalize_script: z.string(),
  /** The sbatch options used (partition, time, gpus per task, extra arguments). */
  options: z.object({
    partition: z.string().nullable(),
    time: z.string().nullable(),
    gpus_per_task: z.number().int().nonnegative().nullable(),
    signal_s: z.number().int().positive(),
    sbatch_args: z.array(z.string()),
  }),
});
export type SlurmSubmission = z.infer<typeof SlurmSubmissionSchema>;

/** `slurm.json` of a sharded run. */
export const SlurmRecordSchema = z.object({
  format: z.literal('spatialclaw-slurm/1'),
  shards: z.number().int().positive(),
  /** The shard rule (shared/shards.ts). */
  rule: z.literal('sha256-be64-mod'),
  /** Samples per shard (index = shard), counted when the run was made; absent in records written before the field. */
  shard_totals: z.array(z.number().int().nonnegative()).optional(),
  submissions: z.array(SlurmSubmissionSchema),
});
export type SlurmRecord = z.infer<typeof SlurmRecordSchema>;

// ---------------------------------------------------------------------------------------------------
// Server registry on the shared filesystem

/**
 * One server a cluster job started, registered in `<cluster dir>/servers/<id>.json` once its health check answers
 * and removed when the job exits. Never holds a token: the token is in a file readable only by the user
 * (`token_file`, mode 0600) or an environment variable (`token_env`).
 */
export const ClusterServerSchema = z.object({
  /** `perception-<job id>` or `model-<job id>`; also the file name. */
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/),
  kind: z.enum(['perception', 'model']),
  /** Base URL clients use (http://<node address>:<port>). */
  url: z.string().url(),
  /** The file holding the bearer token (mode 0600), or null when it comes from `token_env` only. */
  token_file: z.string().nullable(),
  token_env: z.string().nullable(),
  job_id: z.string(),
  host: z.string(),
  /** Perception backends, or the model id a model server serves. */
  backends: z.array(z.string()).default([]),
  model: z.string().nullable().default(null),
  registered_at: z.string(),
});
export type ClusterServer = z.infer<typeof ClusterServerSchema>;

// ---------------------------------------------------------------------------------------------------
// The workbench's cluster view

/** One SLURM job or array task, from squeue (live), scontrol (ended less than MinJobAge ago) or sacct. */
export const ClusterJobSchema = z.object({
  /** `123` or `123_4` for an array task. */
  id: z.string(),
  array_job_id: z.string().nullable(),
  array_task_id: z.number().int().nullable(),
  name: z.string(),
  /** SLURM's JobState: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, REQUEUED, … */
  state: z.string(),
  reason: z.string().nullable(),
  node: z.string().nullable(),
  elapsed_s: z.number().nullable(),
  time_limit_s: z.number().nullable(),
  restarts: z.number().int().nullable(),
  /** Where the row came from. */
  source: z.enum(['squeue', 'scontrol', 'sacct']),
});
export type ClusterJob = z.infer<typeof ClusterJobSchema>;

/** One shard of a sharded run, as the cluster view shows it. */
export const ClusterShardSchema = z.object({
  shard: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  done: z.number().int().nonnegative(),
  status: z.union([ShardStatusSchema, z.literal('pending')]),
  reason: z.string().nullable(),
  job: ClusterJobSchema.nullable(),
  /** Whether `total` is the shard's real sample count (false: an even share of the run's, until the shard starts). */
  total_known: z.boolean().default(true),
  /** Samples in flight per phase, from the shard's progress.json. */
  in_flight: z.number().int().nonnegative(),
  updated_at: z.string().nullable(),
});
export type ClusterShard = z.infer<typeof ClusterShardSchema>;

export const ClusterRunSchema = z.object({
  run_id: z.string(),
  dir: z.string(),
  shards: z.number().int().positive(),
  total: z.number().int().nonnegative(),
  done: z.number().int().nonnegative(),
  status: z.string(),
  submissions: z.array(SlurmSubmissionSchema),
  finalize: ClusterJobSchema.nullable(),
  per_shard: z.array(ClusterShardSchema),
});
export type ClusterRun = z.infer<typeof ClusterRunSchema>;

export const ClusterServerStatusSchema = ClusterServerSchema.extend({
  healthy: z.boolean(),
  /** Requests in flight or queued, when the server reports it. */
  load: z.number().nullable(),
  error: z.string().nullable(),
  job: ClusterJobSchema.nullable(),
});
export type ClusterServerStatus = z.infer<typeof ClusterServerStatusSchema>;

/** What the workbench's Cluster view shows. */
export const ClusterStatusSchema = z.object({
  /** Whether SLURM's commands answered; `error` says why not (and how to fix it). */
  slurm: z.object({ available: z.boolean(), cluster: z.string().nullable(), error: z.string().nullable() }),
  jobs: z.array(ClusterJobSchema),
  runs: z.array(ClusterRunSchema),
  servers: z.array(ClusterServerStatusSchema),
  registry_dir: z.string(),
  checked_at: z.string(),
  /** What could not be read (an invalid slurm.json, state.json or registry entry, a run.json missing), each with the file. */
  problems: z.array(z.string()).default([]),
});
export type ClusterStatus = z.infer<typeof ClusterStatusSchema>;
