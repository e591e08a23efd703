/**
 * The real SLURM cluster (build/slurm-local.sh, docs/cluster.md): a 3-task job array shards the 5,130 VSI-Bench
 * sample ids with the Python form of the shard rule, a dependent job (afterany) gathers the shards, and every id
 * must land in exactly one shard, the one shared/shards.ts shardOf gives.
 *
 * Skips only when `sbatch` is not on PATH and SPATIALCLAW_REQUIRE_SLURM is unset; .ci/run starts the cluster and
 * sets SPATIALCLAW_REQUIRE_SLURM=1, so in CI a missing cluster fails instead of skipping.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shardOf } from '../../shared/shards.ts';

const haveSbatch = spawnSync('sbatch', ['--version'], { encoding: 'utf8' }).status === 0;
const required = Boolean(process.env.SPATIALCLAW_REQUIRE_SLURM);
const skip = !haveSbatch && !required;
if (skip) {
  console.warn('[slurm-cluster] skipped: sbatch is not on PATH and SPATIALCLAW_REQUIRE_SLURM is unset '
    + '(start a one-node cluster with: sudo bash build/slurm-local.sh)');
}

const SHARDS = 3;
const WAIT_S = 60;

/** Run a SLURM command; a failure names the command, its output and how to start the cluster. */
function slurm(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim()}\n`
      + 'is the cluster up? sudo bash build/slurm-local.sh');
  }
  return r.stdout.trim();
}

/** JobState of every job (array tasks included) that `scontrol show job` lists for an id. */
function jobStates(jobId: string): string[] {
  return [...slurm('scontrol', ['show', 'job', jobId]).matchAll(/JobState=(\S+)/g)].map((m) => m[1]!);
}

const submitted: string[] = [];
let dir = '';
afterAll(() => {
  if (submitted.length) spawnSync('scancel', submitted, { encoding: 'utf8' }); // no-op for finished jobs
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a real SLURM cluster', () => {
  it.skipIf(skip)('runs a 3-task job array that shards sample ids as shardOf does, then a dependent gather job', async () => {
    const t0 = Date.now();
    dir = mkdtempSync(join(tmpdir(), 'sc-slurm-'));
    const rows = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/vsibench_questions/eval_vsibench.json'), 'utf8')) as { problem_id: number }[];
    const ids = rows.map((r) => `vsibench-${r.problem_id}`);
    writeFileSync(join(dir, 'ids.txt'), `${ids.join('\n')}\n`);
    // Each task: its task id, then the ids of its shard by the Python form of the rule (docs/cluster.md "Shards").
    const py = 'import hashlib, os, sys\n'
      + 'k = int(os.environ["SLURM_ARRAY_TASK_ID"]); n = int(os.environ["SLURM_ARRAY_TASK_COUNT"])\n'
      + 'print(k)\n'
      + 'for i in open(sys.argv[1], encoding="utf-8").read().split():\n'
      + '    if int.from_bytes(hashlib.sha256(i.encode("utf-8")).digest()[:8], "big") % n == k: print(i)\n';
    writeFileSync(join(dir, 'shard.py'), py);
    writeFileSync(join(dir, 'shard.sh'), '#!/bin/bash\nset -eu\n'
      + 'python3 shard.py ids.txt > "shard_${SLURM_ARRAY_TASK_ID}.tmp"\n'
      + 'mv "shard_${SLURM_ARRAY_TASK_ID}.tmp" "shard_${SLURM_ARRAY_TASK_ID}.txt"\n');

    const arrayId = slurm('sbatch', ['--parsable', `--array=0-${SHARDS - 1}`, '--job-name=sc-shards', `--chdir=${dir}`,
      '--output=task_%a.log', '--time=00:02:00', join(dir, 'shard.sh')]).split(';')[0]!;
    submitted.push(arrayId);
    const gatherId = slurm('sbatch', ['--parsable', `--dependency=afterany:${arrayId}`, '--job-name=sc-gather',
      `--chdir=${dir}`, '--output=gather.log', '--time=00:02:00',
      `--wrap=cat ${Array.from({ length: SHARDS }, (_, k) => `shard_${k}.txt`).join(' ')} > all.txt`]).split(';')[0]!;
    submitted.push(gatherId);
    expect(arrayId).toMatch(/^\d+$/);
    expect(gatherId).toMatch(/^\d+$/);

    // Wait until neither job is queued or running.
    const deadline = Date.now() + WAIT_S * 1000;
    for (;;) {
      const queued = slurm('squeue', ['-h', '-o', '%i %T', '-j', `${arrayId},${gatherId}`]);
      if (!queued) break;
      if (Date.now() > deadline) {
        throw new Error(`jobs still queued after ${WAIT_S}s:\n${queued}\n${slurm('scontrol', ['show', 'job', arrayId])}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const elapsed = (Date.now() - t0) / 1000;
    console.log(`[slurm-cluster] array ${arrayId} (${SHARDS} tasks) + gather ${gatherId} done in ${elapsed.toFixed(1)} s`);

    const arrayStates = jobStates(arrayId);
    expect(arrayStates, `array tasks: ${arrayStates.join(', ')}`).toEqual(Array(SHARDS).fill('COMPLETED'));
    expect(jobStates(gatherId)).toEqual(['COMPLETED']);

    const shards = Array.from({ length: SHARDS }, (_, k) => readFileSync(join(dir, `shard_${k}.txt`), 'utf8').trim().split('\n'));
    const seen = new Map<string, number>();
    shards.forEach((lines, k) => {
      expect(lines[0], `shard_${k}.txt starts with its task id`).toBe(String(k));
      for (const id of lines.slice(1)) {
        expect(seen.has(id), `${id} is in shard ${seen.get(id)} and shard ${k}`).toBe(false);
        seen.set(id, k);
        expect(shardOf(id, SHARDS), `Python put ${id} in shard ${k}`).toBe(k);
      }
      expect(lines.length - 1).toBeGreaterThan(ids.length / SHARDS * 0.9);
    });
    expect(seen.size).toBe(ids.length);
    expect(ids.every((id) => seen.has(id))).toBe(true);
    // The gather job ran after the whole array and saw every shard.
    expect(readFileSync(join(dir, 'all.txt'), 'utf8').trim().split('\n')).toEqual(shards.flat());
    expect(elapsed).toBeLessThan(WAIT_S);
  });

  it.skipIf(skip)('has the one node up with an idle-or-busy state and the default partition', () => {
    const line = slurm('sinfo', ['-h', '-o', '%P %T %c']).split('\n')[0]!;
    expect(line).toMatch(/^\S+\* (idle|mixed|allocated|completing) \d+$/);
  });
});
