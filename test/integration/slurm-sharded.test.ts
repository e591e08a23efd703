/**
 * Sharded benchmark runs on the real one-node SLURM cluster (build/slurm-local.sh, docs/cluster.md): `spatialclaw
 * eval --slurm` submits a job array (one task per shard) and a finalize job; the tasks run the real agent (Jupyter
 * kernels on the VSI-Bench and BLINK replicas) against the scripted model, the only stand-in.
 *
 * - 3 shards end with every sample done exactly once, in the shard the hash gives, and the same results.json as a
 *   local run of the same samples; each sample's question reached the model exactly once.
 * - `scancel --signal=KILL` of one task mid-run: the finalize job marks the run interrupted and names the shard;
 *   `--resume RUN --slurm` resubmits only that shard, which redoes the sample in flight (moved to attempts/) and
 *   ends with the same results.json.
 * - a task whose time limit comes (--time 1 min, --signal-before 50: SLURM's warning SIGUSR1) records `requeued`, asks SLURM to requeue
 *   it, and the requeued task resumes the shard until every sample is done, none twice. SLURM holds a requeued batch
 *   job for about 120 s (BeginTime); the test releases it at once with `scontrol update StartTime=now`.
 * - a perception server submitted as a job (`perception start --slurm`) registers itself; a sharded `run
 *   --perception cluster` on the RGB-D room sample reconstructs on it from every shard; `scancel` deregisters it.
 *
 * Skips only when `sbatch` is missing and SPATIALCLAW_REQUIRE_SLURM is unset (.ci/run sets it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SampleSpec } from '../../shared/run.ts';
import { shardOf } from '../../shared/shards.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { answerCell } from '../helpers/eval-runs.ts';
import { ANSWER, RECONSTRUCT, ROOM } from '../helpers/rgbd-script.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const haveSbatch = spawnSync('sbatch', ['--version'], { encoding: 'utf8' }).status === 0;
const skip = !haveSbatch && !process.env.SPATIALCLAW_REQUIRE_SLURM;
if (skip) console.warn('[slurm-sharded] skipped: sbatch is not on PATH and SPATIALCLAW_REQUIRE_SLURM is unset (sudo bash build/slurm-local.sh)');

const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const BENCH = 'vsibench,blink';
const LIMIT = 4;

let tmp = '';
let dataRoot = '';
let samples: SampleSpec[] = [];
const jobs: string[] = [];

/** Even samples answer the ground truth, odd ones a wrong option: the scores are not all equal. */
function answers(): Record<string, string> {
  return Object.fromEntries(samples.map((s, i) => {
    const gt = s.answer === undefined ? 'A' : String(s.answer);
    return [s.id, i % 2 === 0 ? gt : /^\(?[A-D]\)?$/.test(gt) ? (gt.includes('A') ? gt.replace('A', 'B') : gt.replace(/[B-D]/, 'A')) : String(Number(gt) * 3 + 7)];
  }));
}

async function model(delayMs: number): Promise<ScriptedModelServer> {
  const a = answers();
  return startScriptedModelServer({ script: Object.fromEntries(samples.map((s) => [s.id, [{ content: answerCell(a[s.id]!), delayMs }]])) });
}

const env = (): NodeJS.ProcessEnv => ({ SPATIALCLAW_HOME: join(tmp, 'home') });
const evalArgs = (m: ScriptedModelServer): string[] => ['eval', '--benchmark', BENCH, '--data-root', dataRoot, '--limit', String(LIMIT), '--model', 'scripted', '--base-url', m.url, '--no-plan', '--concurrency', '1'];

/** results.json without what differs between any two runs (creation time, the run's own folder and status). */
function results(dir: string): unknown {
  const r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Record<string, unknown>;
  delete r['created'];
  delete r['run'];
  return r;
}

/** Every journal line of a run: [shard folder or '.', sample id]. */
function journalIds(dir: string): { shard: string; id: string }[] {
  const out: { shard: string; id: string }[] = [];
  const read = (p: string, shard: string): void => {
    if (!existsSync(p)) return;
    for (const l of readFileSync(p, 'utf8').split('\n')) if (l.trim()) out.push({ shard, id: (JSON.parse(l) as { id: string }).id });
  };
  read(join(dir, 'samples.jsonl'), '.');
  if (existsSync(join(dir, 'shards'))) for (const k of readdirSync(join(dir, 'shards'))) read(join(dir, 'shards', k, 'samples.jsonl'), k);
  return out;
}

const json = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;

/** What the run recorded for sample `id` (its result lines in every shard journal), for failure messages. */
function recorded(dir: string, id: string): string {
  const shards = existsSync(join(dir, 'shards')) ? readdirSync(join(dir, 'shards')).map((k) => join(dir, 'shards', k, 'samples.jsonl')) : [];
  return [join(dir, 'samples.jsonl'), ...shards].filter((f) => existsSync(f))
    .flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => l.includes(`"id":${JSON.stringify(id)}`)))
    .map((l) => l.slice(0, 1500)).join('\n') || `no result line for ${id}`;
}
const scontrol = (id: string): Record<string, string> => {
  const r = spawnSync('scontrol', ['show', 'job', '-o', id], { encoding: 'utf8' });
  return Object.fromEntries((r.stdout ?? '').split(/\s+/).filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
};
/** Whether SLURM reports the job ended (an unanswered query, e.g. a busy controller, is not an answer). */
const ended = (id: string): boolean => ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE'].includes(scontrol(id)['JobState'] ?? '');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every 0.5 s until it returns a value, or fail after `s` seconds naming `what`. */
async function until<T>(what: string, s: number, check: () => T | null | undefined | false): Promise<T> {
  const end = Date.now() + s * 1000;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${s} s waiting for ${what}`);
    await sleep(500);
  }
}

let local: unknown = null;

beforeAll(async () => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), 'sc-sharded-'));
  dataRoot = join(tmp, 'data');
  mkdirSync(dataRoot);
  execFileSync(PYTHON, ['-m', 'replicas', dataRoot, ...BENCH.split(',')], { cwd: join(ROOT, 'test', 'python'), stdio: 'pipe' });
  const out = execFileSync(PYTHON, ['-m', 'spatial_eval', 'load', '--benchmark', BENCH, '--data-root', dataRoot, '--limit', String(LIMIT)], { encoding: 'utf8', maxBuffer: 1 << 28 });
  samples = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; spec?: SampleSpec }).filter((m) => m.type === 'sample').map((m) => m.spec!);
  // The local run every sharded run must match.
  const m = await model(0);
  try {
    const r = await spatialclaw([...evalArgs(m), '--concurrency', '2', '--out', join(tmp, 'local')], env(), 300_000);
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(0);
    local = results(join(tmp, 'local'));
  } finally {
    await m.close();
  }
}, 400_000);

afterAll(() => {
  if (jobs.length) spawnSync('scancel', jobs, { encoding: 'utf8' });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The submission records of a run. */
const subs = (dir: string) => json<{ shards: number; submissions: { array_job_id: string; finalize_job_id: string; shards: number[] }[] }>(join(dir, 'slurm.json'));

describe.skipIf(skip)('sharded runs on a real SLURM cluster', () => {
  it('3 shards: every sample once, in its shard, and the same results.json as a local run', async () => {
    expect(samples.length).toBe(2 * LIMIT);
    const m = await model(0);
    const dir = join(tmp, 'three');
    try {
      const r = await spatialclaw([...evalArgs(m), '--out', dir, '--slurm', '--shards', '3', '--wait'], env(), 300_000);
      jobs.push(...subs(dir).submissions.flatMap((s) => [s.array_job_id, s.finalize_job_id]));
      expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/submitted 8 samples in 3 of 3 shards/);
      expect(r.stdout).toMatch(/finalize completed/);
      expect(r.stdout).toMatch(/run three: finished/);
      // Every model call of a sample came once, with that sample's question (what the model received).
      for (const s of samples) {
        const reqs = m.requestsFor(s.id);
        expect(reqs, `${s.id}: ${recorded(dir, s.id)}`).toHaveLength(1);
        expect(JSON.stringify(reqs[0]!.body['messages'])).toContain(s.question.slice(0, 40));
      }
    } finally {
      await m.close();
    }
    const lines = journalIds(dir);
    expect(lines.map((l) => l.id).sort()).toEqual(samples.map((s) => s.id).sort());
    for (const l of lines) expect(Number(l.shard), l.id).toBe(shardOf(l.id, 3));
    for (const k of [0, 1, 2]) {
      const st = json<{ status: string; slurm: { array_task_id: number } }>(join(dir, 'shards', String(k).padStart(3, '0'), 'state.json'));
      expect(st.status).toBe('finished');
      expect(st.slurm.array_task_id).toBe(k);
      expect(existsSync(join(dir, 'shards', String(k).padStart(3, '0'), 'shard.lock'))).toBe(false);
    }
    expect(json<{ status: string }>(join(dir, 'run.json')).status).toBe('finished');
    expect(results(dir)).toEqual(local);
    // The readers see the union: `spatialclaw score` re-derives the same table from the shards' journals.
    const sc = await spatialclaw(['score', dir, '--json'], env(), 120_000);
    expect(sc.code, sc.stderr).toBe(0);
    const rescored = JSON.parse(sc.stdout) as Record<string, unknown>;
    delete rescored['created'];
    delete rescored['run'];
    expect(rescored).toEqual(local);
    expect(existsSync(join(dir, 'slurm', 'array-1.sbatch'))).toBe(true);
    expect(readFileSync(join(dir, 'slurm', 'array-1.sbatch'), 'utf8')).toMatch(/#SBATCH --requeue[\s\S]*#SBATCH --signal=B:USR1@300/);
  }, 300_000);

  it('scancel --signal=KILL of one task, then --resume RUN --slurm: only that shard is redone, same results', async () => {
    const m = await model(2500);
    const dir = join(tmp, 'killed');
    try {
      const r = await spatialclaw([...evalArgs(m), '--out', dir, '--slurm', '--shards', '2'], env(), 120_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const first = subs(dir).submissions[0]!;
      jobs.push(first.array_job_id, first.finalize_job_id);
      const shard1 = join(dir, 'shards', '001');
      // `spatialclaw cluster status` sees the run shard by shard, as the Cluster view does. Asked once shard 1's task
      // runs, before the kill is timed: the call takes seconds, in which the sample in flight could finish.
      await until("shard 1's task to start", 120, () => existsSync(join(shard1, 'progress.json')));
      const st = await spatialclaw(['cluster', 'status', '--runs', tmp, '--json'], env(), 60_000);
      const run = (JSON.parse(st.stdout) as { runs: { run_id: string; shards: number; per_shard: { job: { id: string; state: string } | null }[] }[] }).runs.find((x) => x.run_id === 'killed');
      expect(run?.shards).toBe(2);
      expect(run?.per_shard[1]?.job).toMatchObject({ id: `${first.array_job_id}_1`, state: 'RUNNING' });
      // Kill shard 1's task once it recorded a sample and has the next one in flight.
      await until('shard 1 to record a sample and start another', 120, () => {
        if (!existsSync(join(shard1, 'samples.jsonl'))) return false;
        const done = readFileSync(join(shard1, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).length;
        const p = existsSync(join(shard1, 'progress.json')) ? json<{ samples: { phases: Record<string, number> } }>(join(shard1, 'progress.json')) : null;
        const inFlight = p ? Object.values(p.samples.phases).reduce((a, b) => a + b, 0) : 0;
        return done >= 1 && inFlight >= 1;
      });
      spawnSync('scancel', ['--signal=KILL', `${first.array_job_id}_1`], { encoding: 'utf8' });
      await until('the finalize job to end', 120, () => ended(first.finalize_job_id));
      expect(json<{ status: string }>(join(dir, 'run.json')).status).toBe('interrupted');
      const finLog = readFileSync(join(dir, 'slurm', 'logs', `finalize-${first.finalize_job_id}.out`), 'utf8');
      // scancel --signal=KILL: SLURM kills the task (the shard then never closed) or ends it with SIGTERM first (the
      // shard then records interrupted); either way the finalize job names the shard.
      expect(finLog).toMatch(/shard 1: (its task ended without closing the shard|interrupted \(SIGTERM)/);
      expect(finLog).toMatch(/--resume .* --slurm/);

      const again = await spatialclaw([...evalArgs(m), '--resume', dir, '--slurm', '--wait'], env(), 300_000);
      const second = subs(dir).submissions[1]!;
      jobs.push(second.array_job_id, second.finalize_job_id);
      expect(again.code, again.stdout.slice(-3000) + again.stderr).toBe(0);
      expect(again.stdout).toMatch(/resubmitting shards 1 \(/);
      expect(second.shards).toEqual([1]);
      // No sample is lost or recorded twice.
      const lines = journalIds(dir);
      expect(lines.map((l) => l.id).sort()).toEqual(samples.map((s) => s.id).sort());
      // A SIGTERM first gives samples in flight 5 s of grace (electron/cli/shard-stop.ts): the one in flight may be
      // recorded in it, and then nothing is left to redo; otherwise it was moved aside and redone.
      const attempts = join(dir, 'attempts');
      const redone = existsSync(attempts) ? readdirSync(attempts) : [];
      if (redone.length === 0) expect(finLog).toMatch(/shard 1: interrupted \(SIGTERM/);
      for (const id of redone) expect(shardOf(id, 2)).toBe(1);
      // Shard 0's samples reached the model once; the killed sample twice (its first attempt was lost with the task).
      for (const s of samples.filter((x) => shardOf(x.id, 2) === 0)) expect(m.requestsFor(s.id), s.id).toHaveLength(1);
      for (const id of redone) expect(m.requestsFor(id).length).toBeGreaterThanOrEqual(2);
    } finally {
      await m.close();
    }
    expect(json<{ status: string }>(join(dir, 'run.json')).status).toBe('finished');
    expect(results(dir)).toEqual(local);
  }, 400_000);

  it('a task whose time limit comes is requeued and completes its shard', async () => {
    const m = await model(4000);
    const dir = join(tmp, 'timelimit');
    try {
      const r = await spatialclaw([...evalArgs(m), '--out', dir, '--slurm', '--shards', '1', '--time', '00:01:00', '--signal-before', '50'], env(), 120_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const sub = subs(dir).submissions[0]!;
      jobs.push(sub.array_job_id, sub.finalize_job_id);
      const task = `${sub.array_job_id}_0`;
      let requeues = 0;
      let sawRequeuedState = false;
      let heldSince: number | undefined;
      await until('the finalize job to end', 300, () => {
        const t = scontrol(task);
        const st = existsSync(join(dir, 'shards', '000', 'state.json')) ? json<{ status: string; reason: string | null }>(join(dir, 'shards', '000', 'state.json')) : null;
        if (st?.status === 'requeued') {
          sawRequeuedState = true;
          expect(st.reason).toMatch(/SIGUSR1/);
        }
        if (t['Reason'] === 'BeginTime') {
          // SLURM holds a requeued batch job ~120 s; release it sooner, but not within the second of the requeue:
          // slurmd refuses a job whose credential was created in the same second as the old one's revocation ("Job
          // credential revoked", the task then ends FAILED without running).
          heldSince ??= Date.now();
          if (Date.now() - heldSince >= 2500) spawnSync('scontrol', ['update', `JobId=${task}`, 'StartTime=now'], { encoding: 'utf8' });
        } else {
          // Each hold is timed from its own start: the warning may come again in the next run (up to 60 s early, on
          // SLURM's 30 s ticks), and a second requeue must wait its 2.5 s too.
          heldSince = undefined;
        }
        requeues = Math.max(requeues, Number(t['Restarts'] ?? 0));
        return ended(sub.finalize_job_id);
      });
      const log = readFileSync(join(dir, 'slurm', 'logs', `${sub.array_job_id}_0.out`), 'utf8');
      expect(requeues).toBeGreaterThanOrEqual(1);
      expect(sawRequeuedState).toBe(true);
      const end = scontrol(task);
      expect(`${end['JobState']} ${end['ExitCode']}`, `the task's log:\n${log.slice(-4000)}`).toMatch(/^COMPLETED /);
      expect(log).toMatch(/\[shard\] requeued/);
      expect(log).toMatch(/restart 1/);
    } finally {
      await m.close();
    }
    const lines = journalIds(dir);
    expect(lines.map((l) => l.id).sort()).toEqual(samples.map((s) => s.id).sort());
    expect(json<{ status: string }>(join(dir, 'run.json')).status).toBe('finished');
    expect(results(dir)).toEqual(local);
  }, 400_000);

  it('a perception server submitted as a job registers itself, serves every shard, and deregisters when cancelled', async () => {
    const cluster = join(tmp, 'cluster');
    const penv = { ...env(), SPATIALCLAW_CLUSTER_DIR: cluster };
    const p = await spatialclaw(['perception', 'start', '--slurm', '--backends', 'rgbd,classical', '--time', '00:10:00', '--wait-timeout', '120'], penv, 180_000);
    const pJob = /^submitted job (\d+)/m.exec(p.stdout)?.[1];
    if (pJob) jobs.push(pJob);
    expect(p.code, p.stdout + p.stderr).toBe(0);
    const entry = json<{ id: string; url: string; job_id: string }>(join(cluster, 'servers', `perception-${pJob}.json`));
    expect(entry.job_id).toBe(pJob);
    // Four questions about the room sample: each shard's samples reconstruct on the cluster's server.
    const ids = ['room-a', 'room-b', 'room-c', 'room-d'];
    const dataset = join(tmp, 'room.jsonl');
    writeFileSync(dataset, ids.map((id) => JSON.stringify({ id, inputs: [{ kind: 'rgbd_sample', path: ROOM }], question: 'How far did the camera move, in metres?', answer: 2.1 })).join('\n'));
    const m = await startScriptedModelServer({ script: Object.fromEntries(ids.map((id) => [id, [RECONSTRUCT, ANSWER]])) });
    const dir = join(tmp, 'room-run');
    try {
      const r = await spatialclaw(['run', '--dataset', dataset, '--model', 'scripted', '--base-url', m.url, '--no-plan', '--concurrency', '1', '--perception', 'cluster',
        '--out', dir, '--slurm', '--shards', '2', '--wait'], penv, 300_000);
      jobs.push(...subs(dir).submissions.flatMap((x) => [x.array_job_id, x.finalize_job_id]));
      expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
    } finally {
      await m.close();
    }
    const shardsUsed = new Set<number>();
    for (const id of ids) {
      const events = readFileSync(join(dir, 'samples', id, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; url?: string });
      expect(events.some((e) => e.type === 'artifact' && e.url?.startsWith(`${entry.url}/v1/artifacts/`)), `${id} reconstructed on ${entry.url}`).toBe(true);
      shardsUsed.add(shardOf(id, 2));
    }
    expect([...shardsUsed].sort()).toEqual([0, 1]);
    expect(journalIds(dir).map((l) => l.id).sort()).toEqual(ids);
    spawnSync('scancel', [pJob!], { encoding: 'utf8' });
    await until('the perception server to deregister', 60, () => !existsSync(join(cluster, 'servers', `perception-${pJob}.json`)) && !existsSync(join(cluster, 'tokens', `perception-${pJob}.token`)));
  }, 500_000);
});
