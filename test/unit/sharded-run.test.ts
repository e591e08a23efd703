/**
 * The sharded run folder (shared/cluster.ts, docs/cluster.md): shard writers that share one run folder, each with its
 * own journal and lock; readers that see the union; the shard lock's stale rules; the generated sbatch scripts and the
 * shard tasks' command line. The real-cluster flows are in test/integration/slurm-sharded.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunEvent, SampleResult, SampleSpec } from '../../shared/run.ts';
import { shardOf } from '../../shared/shards.ts';
import { shardArgs } from '../../electron/cli/slurm-run.ts';
import { arraySpec, arrayScript, createShardedRun, doneSampleIds, finalizeScript, readShardState, type ScriptSpec, shardCounts } from '../../electron/services/cluster/sharded.ts';
import { sampleJournals } from '../../electron/services/runs/layout.ts';
import { releaseShardLock, shardLockHolder } from '../../electron/services/runs/lock.ts';
import { isRunLive, listRuns, readRun } from '../../electron/services/runs/reader.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import { SampleCache } from '../../electron/services/workbench/runs.ts';

const T = '2026-12-05T10:00:00.000Z';
const spec = (id: string): SampleSpec => ({ id, question: `How far is ${id}?`, inputs: [{ kind: 'video', path: '/v.mp4' }], answer: 2 });
const start = (id: string): RunEvent => ({ type: 'sample_start', t: T, step: 0, sample: spec(id), executor: 'code' });
const result = (id: string): SampleResult => ({
  id, question: `How far is ${id}?`, answer: 2, answer_source: 'return_answer', ground_truth: 2, score: 1, question_type: 'object_abs_distance',
  termination: 'answered', steps: 1, parse_failures: 0, usage: { prompt_tokens: 1, completion_tokens: 1 }, model_calls: 1, duration_s: 1,
  error: null, started_at: T, finished_at: T,
});
async function writeSample(w: RunWriter, id: string): Promise<void> {
  const s = w.startSample(spec(id));
  s.event(start(id));
  await s.finish(result(id));
}

const SHARDS = 3;
const IDS = Array.from({ length: 24 }, (_, i) => `s${i}`);
const byShard = (k: number) => IDS.filter((id) => shardOf(id, SHARDS) === k);

function newRun(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'sharded-')), 'run');
  createShardedRun(dir, { config: { kind: 'run' }, versions: { spatialclaw: 'test' }, total_samples: IDS.length, shards: SHARDS, shardTotals: shardCounts(IDS, SHARDS, new Set()).map((c) => c.total) });
  return dir;
}

describe('shard writers in one run folder', () => {
  it('three shards write at once; readers see the union, each sample once, in the shard the hash gives', async () => {
    const dir = newRun();
    for (let k = 0; k < SHARDS; k++) expect(byShard(k).length, `shard ${k} owns samples`).toBeGreaterThan(0);
    const writers = await Promise.all([0, 1, 2].map((k) => RunWriter.openShard(dir, { shard: k, shards: SHARDS, total: byShard(k).length })));
    // Interleaved: the shards' samples finish in turn, as on three nodes.
    const queues = [0, 1, 2].map((k) => byShard(k));
    while (queues.some((q) => q.length)) for (let k = 0; k < SHARDS; k++) if (queues[k]!.length) await writeSample(writers[k]!, queues[k]!.shift()!);
    for (const w of writers) await w.finish('finished');

    expect(existsSync(join(dir, 'samples.jsonl'))).toBe(false); // no shared journal: nodes never append to one file
    expect(sampleJournals(dir).map((p) => p.slice(dir.length + 1))).toEqual(['shards/000/samples.jsonl', 'shards/001/samples.jsonl', 'shards/002/samples.jsonl']);
    const { info, samples } = readRun(dir);
    expect(info.status).toBe('running'); // run.json belongs to the submitter and the finalize job
    expect(samples.map((s) => s.id).sort()).toEqual([...IDS].sort());
    for (let k = 0; k < SHARDS; k++) {
      const lines = readFileSync(join(dir, 'shards', `00${k}`, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id);
      expect(lines.sort()).toEqual(byShard(k).sort());
      const st = readShardState(dir, k)!;
      expect(st).toMatchObject({ shard: k, shards: SHARDS, status: 'finished', total: byShard(k).length, done: byShard(k).length });
      expect(existsSync(join(dir, 'shards', `00${k}`, 'shard.lock'))).toBe(false);
    }
    expect(doneSampleIds(dir).size).toBe(IDS.length);
    // The workbench's cache and the run list count the union.
    const cache = new SampleCache();
    const rows = cache.rows(dir);
    expect(rows.map((r) => r.result.id).sort()).toEqual([...IDS].sort());
    expect(rows.map((r) => r.index)).toEqual(IDS.map((_, i) => i));
    expect(listRuns(join(dir, '..')).find((r) => r.dir === dir)?.done).toBe(IDS.length);
  });

  it('a shard refuses a sample of another shard, and a second writer of the same shard', async () => {
    const dir = newRun();
    const w = await RunWriter.openShard(dir, { shard: 0, shards: SHARDS, total: byShard(0).length });
    expect(() => w.startSample(spec(byShard(1)[0]!))).toThrow(/belongs to shard 1, not to shard 0 of 3/);
    await expect(RunWriter.openShard(dir, { shard: 0, shards: SHARDS, total: 1 })).rejects.toThrow(/already open in this process/);
    expect(isRunLive(dir)).toBe(true);
    await w.finish('interrupted');
    expect(isRunLive(dir)).toBe(false);
    expect(readShardState(dir, 0)!.status).toBe('interrupted');
  });

  it('the cache of a live sharded run follows every journal as it grows', async () => {
    const dir = newRun();
    const cache = new SampleCache();
    const w0 = await RunWriter.openShard(dir, { shard: 0, shards: SHARDS, total: 2 });
    const w2 = await RunWriter.openShard(dir, { shard: 2, shards: SHARDS, total: 2 });
    await writeSample(w2, byShard(2)[0]!);
    expect(cache.rows(dir).map((r) => r.result.id)).toEqual([byShard(2)[0]]);
    await writeSample(w0, byShard(0)[0]!);
    await writeSample(w2, byShard(2)[1]!);
    // Rows already shown keep their place (and index); the new lines follow in the order this reader saw them.
    const first = cache.rows(dir);
    expect(first.map((r) => r.result.id)).toEqual([byShard(2)[0], byShard(0)[0], byShard(2)[1]]);
    expect(first.map((r) => r.index)).toEqual([0, 1, 2]);
    // A fresh reader reads the journals in shard order.
    expect(new SampleCache().rows(dir).map((r) => r.result.id)).toEqual([byShard(0)[0], byShard(2)[0], byShard(2)[1]]);
    const parsed = cache.parsedLines;
    cache.rows(dir);
    expect(cache.parsedLines).toBe(parsed); // unchanged journals are not parsed again
    await w0.finish('interrupted');
    await w2.finish('interrupted');
  });

  it('reopening a shard repairs its own leftovers only: its torn line and unfinished folders, never another shard\'s', async () => {
    const dir = newRun();
    const mine = byShard(1);
    const other = byShard(2)[0]!;
    const w1 = await RunWriter.openShard(dir, { shard: 1, shards: SHARDS, total: mine.length });
    await writeSample(w1, mine[0]!);
    const open = w1.startSample(spec(mine[1]!));
    open.event(start(mine[1]!)); // in flight when the task is killed
    // Shard 2 is in the middle of a sample on another node.
    const w2 = await RunWriter.openShard(dir, { shard: 2, shards: SHARDS, total: 1 });
    const busy = w2.startSample(spec(other));
    busy.event(start(other));
    appendFileSync(join(dir, 'shards', '001', 'samples.jsonl'), '{"id": "torn'); // a result line cut by the kill
    // The task is killed: its lock stays behind, naming a pid on this host that is gone. (Here the writer's process
    // lives on, so its in-process open marker is dropped by hand; a real kill takes the whole process.)
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.on('exit', r));
    releaseShardLock(dir, 1);
    writeFileSync(join(dir, 'shards', '001', 'shard.lock'), `${JSON.stringify({ pid: dead.pid, host: hostname(), since: T, shard: 1, shards: SHARDS })}\n`);

    const again = await RunWriter.openShard(dir, { shard: 1, shards: SHARDS, total: mine.length });
    expect(again.recovery.staleLock).toBe(true);
    expect(again.recovery.tornBytes).toBe('{"id": "torn'.length);
    expect(again.recovery.movedAside).toEqual([mine[1]]);
    expect(existsSync(join(dir, 'samples', other, 'events.jsonl'))).toBe(true); // shard 2's sample in flight is untouched
    expect(readdirSync(join(dir, 'attempts'))).toEqual([mine[1]]);
    expect([...again.doneIds]).toEqual([mine[0]]);
    await writeSample(again, mine[1]!);
    await again.finish('finished');
    await busy.finish(result(other));
    await w2.finish('finished');
    expect(readRun(dir).samples.map((s) => s.id).sort()).toEqual([mine[0], mine[1], other].sort());
  });

  it('a lock held by a SLURM task on another host is live unless SLURM says the job ended; the same task restarted takes it over', () => {
    const dir = newRun();
    mkdirSync(join(dir, 'shards', '000'), { recursive: true });
    const lock = { pid: 4242, host: 'node-17', since: T, shard: 0, shards: SHARDS, slurm: { job_id: '9001', array_job_id: '9000', array_task_id: 0, restart_count: 0 } };
    writeFileSync(join(dir, 'shards', '000', 'shard.lock'), JSON.stringify(lock));
    expect(shardLockHolder(dir, 0, { askSlurm: false, self: null })?.host).toBe('node-17');
    // The requeued incarnation of the same task (restart count 1): the earlier one is gone.
    expect(shardLockHolder(dir, 0, { askSlurm: false, self: { job_id: '9001', array_job_id: '9000', array_task_id: 0, restart_count: 1 } })).toBeNull();
    // Another host, no SLURM ids: cannot be checked, respected.
    writeFileSync(join(dir, 'shards', '000', 'shard.lock'), JSON.stringify({ ...lock, slurm: undefined }));
    expect(shardLockHolder(dir, 0, { self: null })?.pid).toBe(4242);
  });

  it.skipIf(spawnSync('sbatch', ['--version']).status !== 0)('a SLURM task\'s lock is stale when SLURM says its job ended, even when its pid is alive here; live while the job runs', async () => {
    const dir = newRun();
    mkdirSync(join(dir, 'shards', '000'), { recursive: true });
    const sleeper = spawn('sleep', ['30']);
    try {
      // A pid that is alive on this host, but the lock names a job SLURM does not know (long gone).
      writeFileSync(join(dir, 'shards', '000', 'shard.lock'), JSON.stringify({ pid: sleeper.pid, host: hostname(), since: T, shard: 0, shards: SHARDS, slurm: { job_id: '987654321', array_job_id: '987654321', array_task_id: 0, restart_count: 0 } }));
      expect(shardLockHolder(dir, 0, { self: null })).toBeNull();
      const w = await RunWriter.openShard(dir, { shard: 0, shards: SHARDS, total: 1 });
      expect(w.recovery.staleLock).toBe(true);
      await w.finish('interrupted');
      // A job that is pending or running holds it.
      const job = spawnSync('sbatch', ['--parsable', '--output=/dev/null', '--wrap', 'sleep 30'], { encoding: 'utf8' }).stdout.trim().split(';')[0]!;
      try {
        writeFileSync(join(dir, 'shards', '000', 'shard.lock'), JSON.stringify({ pid: 1, host: 'node-9', since: T, shard: 0, shards: SHARDS, slurm: { job_id: job } }));
        await expect(RunWriter.openShard(dir, { shard: 0, shards: SHARDS, total: 1 })).rejects.toThrow(new RegExp(`shard 0 is open in SLURM task ${job} on node-9 .*scancel ${job}`));
      } finally {
        spawnSync('scancel', [job]);
      }
    } finally {
      sleeper.kill();
    }
  });

  it('RunWriter.resume refuses a sharded run and says how to resume it', async () => {
    const dir = newRun();
    await expect(RunWriter.resume(dir)).rejects.toThrow(/is a sharded run \(slurm.json\): resume it with `spatialclaw eval\|run --resume .* --slurm`/);
  });
});

describe('the scripts and command lines of a submission', () => {
  const s: ScriptSpec = {
    runDir: '/shared/runs/r1', runId: 'r1', n: 2, shards: 8, indices: [0, 1, 2, 5, 7], node: '/opt/node/bin/node', cli: '/opt/sc/electron/cli/spatialclaw.mjs',
    args: ['eval', '--benchmark', 'vsibench', '--model', 'qwen 3'], cwd: '/home/u', partition: 'gpu', time: '04:00:00', gpusPerTask: 1, signalBeforeS: 300, sbatchArgs: ['--qos=high'],
  };

  it('the job array: requeueable, the warning signal, one task per shard index, the shard command', () => {
    expect(arraySpec([0, 1, 2, 5, 7])).toBe('0-2,5,7');
    const text = arrayScript(s);
    for (const line of ['#SBATCH --array=0-2,5,7', '#SBATCH --requeue', '#SBATCH --signal=B:USR1@300', '#SBATCH --time=04:00:00', '#SBATCH --gpus-per-task=1', '#SBATCH --partition=gpu', '#SBATCH --qos=high', '#SBATCH --chdir=/home/u', '#SBATCH --output=/shared/runs/r1/slurm/logs/%A_%a.out']) {
      expect(text).toContain(line);
    }
    expect(text).toContain(`exec /opt/node/bin/node /opt/sc/electron/cli/spatialclaw.mjs eval --benchmark vsibench --model 'qwen 3' --out /shared/runs/r1 --shard "\${SLURM_ARRAY_TASK_ID}/8"`);
    expect(finalizeScript(s)).toContain('exec /opt/node/bin/node /opt/sc/electron/cli/spatialclaw.mjs cluster finalize /shared/runs/r1');
  });

  it('shard tasks get the command without the submission\'s own flags', () => {
    expect(shardArgs(['eval', '--benchmark', 'all', '--slurm', '--shards', '8', '--partition=gpu', '--time', '04:00:00', '--gpus-per-task', '1', '--sbatch-arg=--qos=high',
      '--sbatch-arg', '--mem=64G', '--wait', '--out', '/r', '--resume', '/r', '--signal-before', '120', '--model', 'm', '--concurrency', 'auto']))
      .toEqual(['eval', '--benchmark', 'all', '--signal-before', '120', '--model', 'm', '--concurrency', 'auto']);
    expect(shardArgs(['run', '--dataset', 'd.jsonl', '--resume', '--slurm'])).toEqual(['run', '--dataset', 'd.jsonl']);
  });

  it('docs/cluster.md shows the scripts exactly as the generator writes them', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'cluster.md'), 'utf8');
    const example: ScriptSpec = {
      runDir: '/shared/alice/spatialclaw/runs/paper-qwen', runId: 'paper-qwen', n: 1, shards: 64, indices: Array.from({ length: 64 }, (_, k) => k),
      node: '/shared/alice/node-v20/bin/node', cli: '/shared/alice/spatialclaw/electron/cli/spatialclaw.mjs',
      args: ['eval', '--benchmark', 'all', '--data-root', '/shared/datasets/spatial', '--model', 'cluster', '--perception', 'cluster', '--concurrency', '8'],
      cwd: '/home/alice', partition: 'cpu', time: '04:00:00', gpusPerTask: null, signalBeforeS: 300, sbatchArgs: ['--cpus-per-task=8', '--mem=32G'],
    };
    expect(doc).toContain(`\`\`\`bash\n${arrayScript(example)}\`\`\``);
    expect(doc).toContain(`\`\`\`bash\n${finalizeScript(example)}\`\`\``);
  });
});
