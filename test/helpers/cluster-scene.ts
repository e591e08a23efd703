/**
 * A cluster scene for the Cluster view's tests: a sharded run folder (docs/run-format.md + shared/cluster.ts), real
 * SLURM jobs on the one-node test cluster (build/slurm-local.sh) named in its slurm.json, and cluster servers in a
 * registry folder: one answering GET /health with its bearer token, one whose URL answers nothing.
 *
 * For now the run folder is written here (its tasks only sleep); {@link startShardedScene} is the one place to swap
 * for a real running `spatialclaw eval --slurm` later. The pieces ({@link writeShardedRun}, {@link submitSleepJobs},
 * {@link startHealthServer}) are also used directly by test/integration/cluster-status.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClusterServer, type ShardState, ShardStateSchema, shardDirName, type SlurmRecord, SlurmRecordSchema } from '../../shared/cluster.ts';
import { type RunInfo, RUN_FORMAT, type RunProgress, RunProgressSchema, type SampleResult, SampleResultSchema } from '../../shared/run.ts';
import { shardOf } from '../../shared/shards.ts';
import { registerServer, writeTokenFile } from '../../electron/services/cluster/registry.ts';
import { sbatch } from '../../electron/services/cluster/slurm.ts';

/** Whether the tests that need SLURM run: `sbatch` on PATH, or SPATIALCLAW_REQUIRE_SLURM set (then a missing cluster fails). */
export const haveSbatch = spawnSync('sbatch', ['--version'], { encoding: 'utf8' }).status === 0;
export const slurmRequired = Boolean(process.env.SPATIALCLAW_REQUIRE_SLURM);
export const skipSlurm = !haveSbatch && !slurmRequired;

/** What each shard of the synthetic run looks like. */
export interface ShardPlan {
  /** Samples assigned to the shard. */
  total: number;
  /** Lines already in its journal. */
  done: number;
  /** state.json's status, or null for no state.json (a shard whose task has not started). */
  status: ShardState['status'] | null;
  reason?: string | null;
  /** progress.json's samples in flight per phase (only written with a status). */
  phases?: Partial<RunProgress['samples']['phases']>;
  restartCount?: number;
}

export interface ShardedRun {
  dir: string;
  runId: string;
  /** Sample ids per shard, in journal order (done ones first). */
  ids: string[][];
}

const T0 = '2026-12-05T10:00:00.000Z';

function sampleLine(id: string): string {
  const r: SampleResult = {
    id, question: `How far is object ${id}?`, answer: '2', answer_source: 'return_answer', ground_truth: '2', score: 1, question_type: 'abs_distance',
    benchmark: 'vsibench', source_id: id.split('-')[1]!, termination: 'answered', steps: 2, parse_failures: 0, usage: { prompt_tokens: 10, completion_tokens: 5 },
    model_calls: 2, duration_s: 3, error: null, started_at: T0, finished_at: T0,
  };
  return `${JSON.stringify(SampleResultSchema.parse(r))}\n`;
}

/**
 * Write a sharded run folder `<runsRoot>/<runId>`: run.json (status running), slurm.json with one submission of
 * `arrayJobId` (every shard) and `finalizeJobId`, and per shard its journal (valid SampleResult lines of ids that
 * shardOf puts in that shard), state.json and progress.json as `plan` says.
 */
export function writeShardedRun(runsRoot: string, runId: string, plan: ShardPlan[], jobs: { arrayJobId: string; finalizeJobId: string }): ShardedRun {
  const dir = join(runsRoot, runId);
  const n = plan.length;
  const total = plan.reduce((a, p) => a + p.total, 0);
  mkdirSync(join(dir, 'slurm', 'logs'), { recursive: true });
  // Sample ids that the shard rule puts in each shard, `total` of each.
  const ids: string[][] = plan.map(() => []);
  for (let i = 0; ids.some((l, k) => l.length < plan[k]!.total); i++) {
    const id = `vsibench-${i}`;
    const k = shardOf(id, n);
    if (ids[k]!.length < plan[k]!.total) ids[k]!.push(id);
  }
  const info: RunInfo = {
    format: RUN_FORMAT, id: runId, created_at: T0, updated_at: T0, status: 'running',
    config: { kind: 'eval', benchmarks: ['vsibench'], model: 'scripted', slurm: { shards: n } }, versions: {}, total_samples: total,
  };
  writeFileSync(join(dir, 'run.json'), `${JSON.stringify(info, null, 2)}\n`);
  const record: SlurmRecord = SlurmRecordSchema.parse({
    format: 'spatialclaw-slurm/1', shards: n, rule: 'sha256-be64-mod',
    submissions: [{
      n: 1, submitted_at: T0, array_job_id: jobs.arrayJobId, finalize_job_id: jobs.finalizeJobId, shards: plan.map((_, k) => k),
      array_script: 'slurm/array-1.sbatch', finalize_script: 'slurm/finalize-1.sbatch',
      options: { partition: null, time: '00:03:00', gpus_per_task: null, signal_s: 60, sbatch_args: [] },
    }],
  });
  writeFileSync(join(dir, 'slurm.json'), `${JSON.stringify(record, null, 2)}\n`);
  plan.forEach((p, k) => {
    const sdir = join(dir, 'shards', shardDirName(k));
    mkdirSync(sdir, { recursive: true });
    writeFileSync(join(sdir, 'samples.jsonl'), ids[k]!.slice(0, p.done).map(sampleLine).join(''));
    if (p.status === null) return;
    const state: ShardState = ShardStateSchema.parse({
      shard: k, shards: n, status: p.status, reason: p.reason ?? null, total: p.total, done: p.done, abandoned: [],
      slurm: { job_id: String(Number(jobs.arrayJobId) + k + 1), array_job_id: jobs.arrayJobId, array_task_id: k, restart_count: p.restartCount ?? 0 },
      host: 'node-test', started_at: T0, updated_at: new Date().toISOString(),
    });
    writeFileSync(join(sdir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
    const progress: RunProgress = RunProgressSchema.parse({
      t: new Date().toISOString(), elapsed_s: 5, stage: 'running', kernels: { ready: 1, starting: 0, target: 2, started: 1, reused: 0 },
      samples: { total: p.total, done: p.done, phases: { kernel: 0, preparing: 0, model: 0, cell: 0, ...p.phases } }, first_model_call_s: 1, first_sample_done_s: 2,
    });
    writeFileSync(join(sdir, 'progress.json'), `${JSON.stringify(progress, null, 2)}\n`);
  });
  return { dir, runId, ids };
}

/**
 * Submit, from the run folder's slurm/ scripts: a `shards`-task array of 1-CPU tasks sleeping `sleepS` seconds, and
 * a finalize job depending on it (afterany), as `eval --slurm` would. Returns the two ids.
 */
export function submitSleepJobs(runDir: string, shards: number, sleepS = 90): { arrayJobId: string; finalizeJobId: string } {
  mkdirSync(join(runDir, 'slurm', 'logs'), { recursive: true });
  const arrayScript = join(runDir, 'slurm', 'array-1.sbatch');
  writeFileSync(arrayScript, `#!/bin/bash\n# stands in for one shard of spatialclaw eval --slurm\nsleep ${sleepS}\n`);
  const finalizeScript = join(runDir, 'slurm', 'finalize-1.sbatch');
  writeFileSync(finalizeScript, '#!/bin/bash\ntrue\n');
  const common = ['--cpus-per-task=1', '--time=00:03:00', `--chdir=${runDir}`];
  const arrayJobId = sbatch(arrayScript, [...common, `--array=0-${shards - 1}`, '--job-name=sc-scene-shards', `--output=${join(runDir, 'slurm', 'logs', '%A_%a.out')}`]);
  const finalizeJobId = sbatch(finalizeScript, [...common, `--dependency=afterany:${arrayJobId}`, '--job-name=sc-scene-finalize', `--output=${join(runDir, 'slurm', 'logs', '%j.out')}`]);
  return { arrayJobId, finalizeJobId };
}

/** A plain 1-CPU job sleeping `sleepS` seconds (stands in for a server's job). */
export function submitSleepJob(dir: string, name: string, sleepS = 90): string {
  const script = join(dir, `${name}.sbatch`);
  writeFileSync(script, `#!/bin/bash\nsleep ${sleepS}\n`);
  return sbatch(script, ['--cpus-per-task=1', '--time=00:03:00', `--chdir=${dir}`, `--job-name=${name}`, `--output=${join(dir, `${name}-%j.out`)}`]);
}

/** An HTTP server answering GET /health with `{status, queue}` when the bearer token is `token`, 401 otherwise. */
export async function startHealthServer(token: string, queue: Record<string, number>): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url !== '/health') {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', queue }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A server answering as vLLM does: GET /health 200 with an empty body, GET /metrics Prometheus text (token required). */
export async function startVllmLikeServer(token: string, metrics: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200).end();
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A local URL nothing listens on (a port bound and released). */
export async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

/** Register a server of `kind` for job `jobId` at `url`, its token in a 0600 file. */
export function registerFakeServer(root: string, o: { id: string; kind: ClusterServer['kind']; url: string; jobId: string; token: string; backends?: string[]; model?: string | null }): ClusterServer {
  const entry: ClusterServer = {
    id: o.id, kind: o.kind, url: o.url, token_file: writeTokenFile(o.id, o.token, root), token_env: null, job_id: o.jobId, host: 'node-test',
    backends: o.backends ?? [], model: o.model ?? null, registered_at: T0,
  };
  registerServer(entry, root);
  return entry;
}

export interface ShardedScene {
  /** Pass to `spatialclaw serve --runs`. */
  runsRoot: string;
  /** Pass as SPATIALCLAW_CLUSTER_DIR. */
  clusterDir: string;
  /** A data dir for SPATIALCLAW_HOME. */
  home: string;
  run: ShardedRun;
  plan: ShardPlan[];
  arrayJobId: string;
  finalizeJobId: string;
  /** The job of the perception server entries. */
  serverJobId: string;
  /** Registered servers: one that answers /health (queue 2), one that does not answer. */
  healthy: ClusterServer;
  dead: ClusterServer;
  /** Cancel the jobs, stop the health server, remove the folders. */
  stop(): Promise<void>;
}

/**
 * The scene the Cluster view's e2e test shows: a 3-shard run (shard 0 running with 3/5 done and 2 in flight after
 * one requeue, shard 1 running 1/4, shard 2 not started), its real SLURM array (3 sleeping tasks: on 2 CPUs two run,
 * one waits) and finalize job, and two registered perception servers on a real sleeping job.
 * @throws SlurmError when the cluster is not up (build/slurm-local.sh).
 */
export async function startShardedScene(): Promise<ShardedScene> {
  const base = mkdtempSync(join(tmpdir(), 'sc-cluster-scene-'));
  const runsRoot = join(base, 'runs');
  const clusterDir = join(base, 'cluster');
  const home = join(base, 'home');
  for (const d of [runsRoot, clusterDir, home]) mkdirSync(d, { recursive: true });
  const runId = '20261205-100000-c1a5';
  const plan: ShardPlan[] = [
    { total: 5, done: 3, status: 'running', phases: { model: 1, cell: 1 }, restartCount: 1 },
    { total: 4, done: 1, status: 'running', phases: { preparing: 1 } },
    { total: 4, done: 0, status: null },
  ];
  const submitted: string[] = [];
  let health: Server | null = null;
  const stop = async () => {
    if (submitted.length) spawnSync('scancel', submitted, { encoding: 'utf8' });
    if (health) await new Promise((r) => health!.close(r));
    rmSync(base, { recursive: true, force: true });
  };
  try {
    const jobs = submitSleepJobs(join(runsRoot, runId), plan.length);
    submitted.push(jobs.arrayJobId, jobs.finalizeJobId);
    const run = writeShardedRun(runsRoot, runId, plan, jobs);
    const serverJobId = submitSleepJob(clusterDir, 'sc-scene-perception');
    submitted.push(serverJobId);
    const token = 'scene-token-0123456789abcdef';
    const h = await startHealthServer(token, { 'cuda:0': 2 });
    health = h.server;
    const healthy = registerFakeServer(clusterDir, { id: `perception-${serverJobId}`, kind: 'perception', url: h.url, jobId: serverJobId, token, backends: ['da3', 'sam3'] });
    const dead = registerFakeServer(clusterDir, { id: `perception-${serverJobId}-b`, kind: 'perception', url: await deadUrl(), jobId: serverJobId, token, backends: ['da3'] });
    return { runsRoot, clusterDir, home, run, plan, ...jobs, serverJobId, healthy, dead, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
