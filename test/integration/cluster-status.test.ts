/**
 * The Cluster view's data (electron/services/cluster/status.ts) against the real one-node SLURM cluster
 * (build/slurm-local.sh): a synthetic 3-shard run folder whose slurm.json names a real 3-task job array (sleeping
 * tasks) and its finalize job, and registered servers (one answering /health with its token, one with a wrong token,
 * one whose URL answers nothing). SLURM's commands are run through logging wrappers on PATH, so the test also checks
 * how often each is called: one squeue per poll, scontrol only for ids squeue no longer lists, once.
 *
 * The SLURM tests skip only when `sbatch` is not on PATH and SPATIALCLAW_REQUIRE_SLURM is unset (as
 * slurm-cluster.test.ts); the "SLURM unavailable" test needs no cluster.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../shared/cluster.ts';
import { clusterStatus, countJournalLines, resetClusterStatusCaches } from '../../electron/services/cluster/status.ts';
import {
  deadUrl, registerFakeServer, type ShardedRun, type ShardPlan, skipSlurm, startHealthServer, startVllmLikeServer, submitSleepJob, submitSleepJobs, writeShardedRun,
} from '../helpers/cluster-scene.ts';

if (skipSlurm) {
  console.warn('[cluster-status] SLURM tests skipped: sbatch is not on PATH and SPATIALCLAW_REQUIRE_SLURM is unset '
    + '(start a one-node cluster with: sudo bash build/slurm-local.sh)');
}

const base = mkdtempSync(join(tmpdir(), 'sc-cluster-status-'));
const submitted: string[] = [];
const servers: Server[] = [];
const savedPath = process.env.PATH;

afterAll(async () => {
  process.env.PATH = savedPath;
  if (submitted.length) spawnSync('scancel', submitted, { encoding: 'utf8' });
  for (const s of servers) await new Promise((r) => s.close(r));
  rmSync(base, { recursive: true, force: true });
});

/** squeue's own view of one job or task id: `STATE REASON`, or null when it no longer lists it. */
function squeueState(id: string): { state: string; reason: string | null } | null {
  const r = spawnSync('squeue', ['-h', '-r', '-j', id.split('_')[0]!, '-o', '%i|%T|%r'], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.split('|')[0] === id);
  if (!line) return null;
  const [, state, reason] = line.split('|');
  return { state: state!, reason: reason && reason !== 'None' ? reason : null };
}

/** Wrappers of SLURM's commands that log each call (`cmd args…`) to `log`, then run the real one. */
function loggingPath(dir: string, log: string): string {
  mkdirSync(dir, { recursive: true });
  for (const cmd of ['squeue', 'scontrol', 'sacct', 'sinfo']) {
    const real = spawnSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
    if (!real) continue;
    const p = join(dir, cmd);
    writeFileSync(p, `#!/bin/bash\necho "${cmd} $*" >> ${JSON.stringify(log)}\nexec ${JSON.stringify(real)} "$@"\n`);
    chmodSync(p, 0o755);
  }
  return `${dir}:${savedPath}`;
}

const calls = (log: string): string[] => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);

describe('clusterStatus on the real SLURM cluster', () => {
  const plan: ShardPlan[] = [
    { total: 5, done: 3, status: 'running', phases: { model: 1, cell: 1 }, restartCount: 1 },
    { total: 4, done: 1, status: 'running', phases: { preparing: 1 } },
    { total: 4, done: 0, status: null },
  ];
  const runsRoot = join(base, 'runs');
  const registry = join(base, 'cluster');
  const log = join(base, 'slurm-calls.log');
  let run: ShardedRun;
  let arrayJobId = '';
  let finalizeJobId = '';
  let serverJobId = '';
  let healthyUrl = '';
  let deadServerUrl = '';

  beforeAll(async () => {
    if (skipSlurm) return;
    mkdirSync(runsRoot, { recursive: true });
    const runId = '20261205-100000-aaaa';
    ({ arrayJobId, finalizeJobId } = submitSleepJobs(join(runsRoot, runId), plan.length, 120));
    submitted.push(arrayJobId, finalizeJobId);
    run = writeShardedRun(runsRoot, runId, plan, { arrayJobId, finalizeJobId });
    serverJobId = submitSleepJob(base, 'sc-status-server', 120);
    submitted.push(serverJobId);
    const h = await startHealthServer('right-token', { 'cuda:0': 2, cpu: 1 });
    servers.push(h.server);
    healthyUrl = h.url;
    deadServerUrl = await deadUrl();
    registerFakeServer(registry, { id: 'perception-ok', kind: 'perception', url: healthyUrl, jobId: serverJobId, token: 'right-token', backends: ['da3'] });
    registerFakeServer(registry, { id: 'perception-badtoken', kind: 'perception', url: healthyUrl, jobId: serverJobId, token: 'wrong-token' });
    const metrics = '# HELP vllm:num_requests_running x\nvllm:num_requests_running{model_name="m"} 2.0\nvllm:num_requests_waiting{model_name="m"} 1.0\n';
    const v = await startVllmLikeServer('model-token', metrics);
    servers.push(v.server);
    registerFakeServer(registry, { id: 'model-ok', kind: 'model', url: v.url, jobId: serverJobId, token: 'model-token', model: 'm' });
    registerFakeServer(registry, { id: 'model-dead', kind: 'model', url: deadServerUrl, jobId: serverJobId, token: 't', model: 'Qwen/Qwen3-VL-8B-Instruct' });
    process.env.PATH = loggingPath(join(base, 'bin'), log);
    resetClusterStatusCaches();
  });

  it.skipIf(skipSlurm)('shows every shard with its SLURM task, state, progress, the finalize job, the jobs and the servers with health', async () => {
    const t0 = Date.now();
    const st: ClusterStatus = await clusterStatus({ runsRoot, clusterDir: registry });
    const ms = Date.now() - t0;
    const c = calls(log);
    console.log(`[cluster-status] first poll: ${ms} ms; SLURM calls: ${c.join(' ; ')}`);

    const configName = /ClusterName\s*=\s*(\S+)/.exec(spawnSync('scontrol', ['show', 'config'], { encoding: 'utf8' }).stdout)?.[1];
    expect(st.slurm).toEqual({ available: true, cluster: configName, error: null });
    expect(st.problems).toEqual([]);
    expect(st.registry_dir).toBe(registry);

    // The run: totals from run.json, done = complete journal lines of every shard.
    expect(st.runs).toHaveLength(1);
    const r = st.runs[0]!;
    expect(r).toMatchObject({ run_id: run.runId, dir: run.dir, shards: 3, total: 13, done: 4, status: 'running' });
    expect(r.submissions.map((s) => s.array_job_id)).toEqual([arrayJobId]);
    expect(r.finalize?.id).toBe(finalizeJobId);
    // The finalize job waits on the array (afterany): as squeue says.
    expect(r.finalize?.state).toBe(squeueState(finalizeJobId)?.state);
    expect(r.finalize?.state).toBe('PENDING');

    expect(r.per_shard.map((s) => s.shard)).toEqual([0, 1, 2]);
    r.per_shard.forEach((s, k) => {
      expect(s.job?.id, `shard ${k}'s task`).toBe(`${arrayJobId}_${k}`);
      expect(s.job?.array_job_id).toBe(arrayJobId);
      expect(s.job?.array_task_id).toBe(k);
      expect(['PENDING', 'RUNNING']).toContain(s.job?.state);
      // As squeue says, allowing for a task that started between the poll and this check.
      const now = squeueState(`${arrayJobId}_${k}`)?.state;
      expect(s.job?.state === now || (s.job?.state === 'PENDING' && now === 'RUNNING'), `shard ${k}'s task state ${s.job?.state} as squeue says (${now})`).toBe(true);
      expect(s.job?.time_limit_s).toBe(180);
    });
    const [s0, s1, s2] = r.per_shard as [typeof r.per_shard[0], typeof r.per_shard[0], typeof r.per_shard[0]];
    expect(s0).toMatchObject({ status: 'running', total: 5, done: 3, in_flight: 2, reason: null });
    // squeue reports no restart count: the task's own (SLURM_RESTART_COUNT in state.json) fills it.
    expect(s0.job?.restarts).toBe(1);
    expect(s1).toMatchObject({ status: 'running', total: 4, done: 1, in_flight: 1 });
    expect(s2).toMatchObject({ status: 'pending', total: 4, done: 0, in_flight: 0, reason: null, updated_at: null });

    // The jobs table: the user's jobs from one squeue, each task on its own row.
    const ids = st.jobs.map((j) => j.id);
    for (const id of [`${arrayJobId}_0`, `${arrayJobId}_1`, `${arrayJobId}_2`, finalizeJobId, serverJobId]) {
      expect(ids, `jobs table lists ${id}`).toContain(id);
      const then = st.jobs.find((j) => j.id === id)?.state;
      const now = squeueState(id)?.state;
      expect(then === now || (then === 'PENDING' && now === 'RUNNING'), `${id}: ${then} as squeue says (${now})`).toBe(true);
    }
    expect(st.jobs.find((j) => j.id === finalizeJobId)?.reason).toBe('Dependency');

    // Servers: health with the token from the 0600 file, load from /health's queue; the job row.
    const byId = new Map(st.servers.map((s) => [s.id, s]));
    expect(byId.get('perception-ok')).toMatchObject({ healthy: true, load: 3, error: null, url: healthyUrl, backends: ['da3'] });
    expect(byId.get('perception-ok')?.job?.id).toBe(serverJobId);
    expect(byId.get('perception-badtoken')?.healthy).toBe(false);
    expect(byId.get('perception-badtoken')?.error).toMatch(/HTTP 401.*token/);
    // A vLLM server: /health says nothing but 200; its load is requests running + waiting from /metrics.
    expect(byId.get('model-ok')).toMatchObject({ healthy: true, load: 3, error: null, model: 'm' });
    const dead = byId.get('model-dead')!;
    expect(dead.healthy).toBe(false);
    expect(dead.load).toBeNull();
    expect(dead.error).toContain(`GET ${deadServerUrl}/health failed: ECONNREFUSED`);
    expect(dead.error).toContain(`job ${serverJobId}`);
    expect(dead.model).toBe('Qwen/Qwen3-VL-8B-Instruct');

    // Cheap: one squeue (--me), no scontrol for jobs squeue lists, the cluster name once.
    expect(c.filter((l) => l.startsWith('squeue'))).toHaveLength(1);
    expect(c.filter((l) => l.startsWith('scontrol show job'))).toEqual([]);
    expect(c.filter((l) => l.startsWith('sacct'))).toEqual([]);
    // The call counts above are what keeps it cheap; the time only catches a poll that hangs on a timeout.
    expect(ms).toBeLessThan(10_000);
  });

  it.skipIf(skipSlurm)('a task cancelled under a running shard: its row comes from scontrol once, and the shard reads as interrupted', async () => {
    // A running task (SLURM may forget a task cancelled while still pending at once): shard 0 or 1, whose state.json says running.
    let k = -1;
    for (let i = 0; i < 300 && k < 0; i++) {
      k = [0, 1].find((s) => squeueState(`${arrayJobId}_${s}`)?.state === 'RUNNING') ?? -1;
      if (k < 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(k, 'neither task 0 nor 1 started within 60 s (is the cluster busy?)').toBeGreaterThanOrEqual(0);
    const task = `${arrayJobId}_${k}`;
    spawnSync('scancel', [task], { encoding: 'utf8' });
    for (let i = 0; i < 100 && squeueState(task) !== null; i++) await new Promise((r) => setTimeout(r, 200));
    expect(squeueState(task), `squeue still lists ${task}`).toBeNull();
    writeFileSync(log, '');
    await new Promise((r) => setTimeout(r, 1100)); // past the 1 s reuse of a whole answer

    const st = await clusterStatus({ runsRoot, clusterDir: registry });
    let c = calls(log);
    const s1 = st.runs[0]!.per_shard[k]!;
    expect(s1.job).toMatchObject({ id: task, state: 'CANCELLED', source: 'scontrol' });
    expect(s1.status).toBe('interrupted');
    expect(s1.reason).toContain(`${task} ended (CANCELLED)`);
    expect(s1.reason).toContain(`spatialclaw eval --resume ${run.dir} --slurm`);
    expect(s1.in_flight).toBe(0);
    expect(st.jobs.map((j) => j.id)).not.toContain(task);
    // The other shards keep their live rows.
    expect(st.runs[0]!.per_shard[1 - k]!.job?.state).toBe(squeueState(`${arrayJobId}_${1 - k}`)?.state);
    expect(c.filter((l) => l.startsWith('squeue'))).toHaveLength(1);
    expect(c.filter((l) => l.startsWith('scontrol show job'))).toEqual([`scontrol show job -o ${arrayJobId}`]);

    // The next poll remembers the ended task: no scontrol at all.
    writeFileSync(log, '');
    await new Promise((r) => setTimeout(r, 1100));
    const again = await clusterStatus({ runsRoot, clusterDir: registry });
    c = calls(log);
    expect(again.runs[0]!.per_shard[k]!.job?.state).toBe('CANCELLED');
    expect(c.filter((l) => l.startsWith('squeue'))).toHaveLength(1);
    expect(c.filter((l) => l.startsWith('scontrol'))).toEqual([]);
  });

  it.skipIf(skipSlurm)('a shard whose state.json is from a task of an earlier submission reads as pending on its resubmitted task', async () => {
    const root = join(base, 'runs-resubmitted');
    mkdirSync(root, { recursive: true });
    // Shard 2's live task (submitted above) is the resubmission; its state.json says running, written by task 1_2 (gone).
    const again = writeShardedRun(root, '20261205-120000-cccc', [
      { total: 1, done: 1, status: 'finished' },
      { total: 1, done: 1, status: 'finished' },
      { total: 3, done: 1, status: 'running', phases: { model: 1 } },
    ], { arrayJobId, finalizeJobId });
    const statePath = join(again.dir, 'shards', '002', 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { slurm: { array_job_id: string } };
    state.slurm.array_job_id = '1';
    writeFileSync(statePath, JSON.stringify(state));
    const st = await clusterStatus({ runsRoot: root, clusterDir: registry });
    const s2 = st.runs[0]!.per_shard[2]!;
    expect(s2.job?.id).toBe(`${arrayJobId}_2`);
    expect(['PENDING', 'RUNNING']).toContain(s2.job?.state);
    expect(s2).toMatchObject({ status: 'pending', done: 1, total: 3, in_flight: 0 });
    expect(s2.reason).toBe(`resubmitted as ${arrayJobId}_2; the earlier task 1_2 stopped without recording why`);
    // A task's own state.json (same array) is taken as it is.
    expect(st.runs[0]!.per_shard[0]!.status).toBe('finished');
  });

  it.skipIf(skipSlurm)('counts only complete journal lines, reading what was appended since the last poll', () => {
    const journal = join(run.dir, 'shards', '000', 'samples.jsonl');
    expect(countJournalLines(journal)).toBe(3);
    const line = readFileSync(journal, 'utf8').split('\n')[0]!;
    appendFileSync(journal, line.slice(0, 40)); // a torn line: a writer mid-append
    expect(countJournalLines(journal)).toBe(3);
    appendFileSync(journal, `${line.slice(40)}\n\n`);
    expect(countJournalLines(journal)).toBe(4);
    writeFileSync(journal, `${line}\n`); // replaced by a shorter file
    expect(countJournalLines(journal)).toBe(1);
    expect(countJournalLines(join(run.dir, 'shards', '000', 'nope.jsonl'))).toBe(0);
  });
});

describe('clusterStatus without SLURM', () => {
  it('says why SLURM cannot be asked and how to fix it, and still shows the runs, servers and unreadable files', async () => {
    const runsRoot = join(base, 'runs-noslurm');
    const registry = join(base, 'cluster-noslurm');
    mkdirSync(runsRoot, { recursive: true });
    const run = writeShardedRun(runsRoot, '20261205-110000-bbbb', [
      { total: 2, done: 2, status: 'finished' },
      { total: 3, done: 1, status: 'running', phases: { model: 2 } },
    ], { arrayJobId: '999990', finalizeJobId: '999991' });
    // A run folder with a broken slurm.json, and a registry entry that is not a server.
    mkdirSync(join(runsRoot, 'broken'), { recursive: true });
    writeFileSync(join(runsRoot, 'broken', 'slurm.json'), '{"format": "spatialclaw-slurm/1"}');
    const h = await startHealthServer('tok', {});
    servers.push(h.server);
    registerFakeServer(registry, { id: 'perception-x', kind: 'perception', url: h.url, jobId: '999992', token: 'tok' });
    writeFileSync(join(registry, 'servers', 'junk.json'), '{"id": 1}');

    const empty = join(base, 'empty-bin');
    mkdirSync(empty, { recursive: true });
    process.env.PATH = empty;
    resetClusterStatusCaches();
    let st: ClusterStatus;
    try {
      st = await clusterStatus({ runsRoot, clusterDir: registry });
    } finally {
      process.env.PATH = savedPath;
      resetClusterStatusCaches();
    }
    expect(st.slurm.available).toBe(false);
    expect(st.slurm.cluster).toBeNull();
    expect(st.slurm.error).toMatch(/^sinfo is not on PATH/);
    expect(st.slurm.error).toContain('build/slurm-local.sh');
    expect(st.jobs).toEqual([]);

    expect(st.runs.map((r) => r.run_id)).toEqual([run.runId]);
    const r = st.runs[0]!;
    expect(r).toMatchObject({ total: 5, done: 3, status: 'running', finalize: null });
    // Without SLURM nothing is known of the tasks: the shards say what their files say.
    expect(r.per_shard.map((s) => [s.status, s.done, s.total, s.in_flight, s.job])).toEqual([['finished', 2, 2, 0, null], ['running', 1, 3, 2, null]]);

    expect(st.servers.map((s) => [s.id, s.healthy, s.load, s.job])).toEqual([['perception-x', true, 0, null]]);
    expect(st.problems.some((p) => p.includes(join(runsRoot, 'broken', 'slurm.json')) && p.includes('invalid'))).toBe(true);
    expect(st.problems.some((p) => p.includes(join(registry, 'servers', 'junk.json')))).toBe(true);
  });
});
