import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeProgress, RunProgressSchema, type SampleSpec } from '../../shared/run.ts';
import { resolveConcurrency } from '../../electron/cli/run.ts';
import { RunProgressTracker, writeProgressFile } from '../../electron/services/agent/progress.ts';
import { mediaKey, scheduleSamples } from '../../electron/services/agent/schedule.ts';
import type { PoolStats } from '../../electron/services/kernel/pool.ts';

const pool = (o: Partial<PoolStats>): PoolStats => ({
  warm: 0, starting: 0, inUse: 0, waiting: 0, resetting: 0, started: 0, reused: 0, restartedTainted: 0, restartedMemory: 0, resetFailed: 0, replacedDead: 0, culled: 0, idleRssMib: [], ...o,
});

describe('RunProgressTracker and describeProgress', () => {
  it('goes from the Jupyter server through kernels to samples, counting samples per phase', () => {
    let now = 1_000_000;
    const t = new RunProgressTracker({ total: 10, done: 2, kernelTarget: 4, now: () => now });
    expect(describeProgress(t.snapshot())).toBe('starting the Jupyter server');
    let stats = pool({ starting: 1 });
    t.attachPool(() => stats);
    expect(t.snapshot().stage).toBe('kernels');
    t.sample('a', 'kernel');
    t.sample('b', 'kernel');
    expect(describeProgress(t.snapshot())).toBe('kernels 0/4 ready, 1 starting · 2 waiting for a kernel · 2/10 done');
    now += 1500;
    stats = pool({ inUse: 1, starting: 1, started: 1 });
    t.sample('a', 'preparing');
    expect(t.snapshot().stage).toBe('running');
    t.sample('a', 'model');
    now += 500;
    t.sample('a', 'cell');
    const p = RunProgressSchema.parse(t.snapshot());
    expect(p.first_model_call_s).toBe(1.5);
    expect(p.samples.phases).toEqual({ kernel: 1, preparing: 0, model: 0, cell: 1 });
    expect(describeProgress(p)).toBe('kernels 1/4 ready, 1 starting · 1 waiting for a kernel · 1 running a cell · 2/10 done');
    t.sampleDone('a');
    expect(t.snapshot().first_sample_done_s).toBe(2);
    expect(t.snapshot().samples.done).toBe(3);
    stats = pool({ warm: 1, inUse: 3, started: 4 });
    // All kernels ready: the kernel part is left out.
    expect(describeProgress(t.snapshot())).toBe('1 waiting for a kernel · 3/10 done');
    t.finish('finishing');
    expect(describeProgress(t.snapshot())).toBe('3/10 done · shutting down');
  });

  it('counts its times from the command\'s start when given, as the CLI\'s phase lines do', () => {
    let now = 50_000;
    // The command started 3.8 s before the tracker was made (reading the dataset, opening the run).
    const t = new RunProgressTracker({ total: 1, done: 0, kernelTarget: 1, now: () => now, startedAt: now - 3800 });
    now += 2600;
    t.sample('a', 'model');
    expect(t.snapshot()).toMatchObject({ elapsed_s: 6.4, first_model_call_s: 6.4 });
  });

  it('writes progress.json at once on a change of stage and keeps the last snapshot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'progress-'));
    const t = new RunProgressTracker({ total: 1, done: 0, kernelTarget: 1 });
    const stop = writeProgressFile(t, dir, 60_000);
    t.attachPool(() => pool({ starting: 1 }));
    const read = () => RunProgressSchema.parse(JSON.parse(readFileSync(join(dir, 'progress.json'), 'utf8')));
    expect(read().stage).toBe('kernels');
    t.sample('x', 'kernel'); // same stage, within the interval: not yet written
    expect(read().samples.phases.kernel).toBe(0);
    t.sample('x', 'preparing'); // stage running: written
    expect(read().stage).toBe('running');
    t.sampleDone('x');
    t.finish('done');
    stop();
    expect(read()).toMatchObject({ stage: 'done', samples: { done: 1, total: 1 } });
  });
});

describe('scheduleSamples', () => {
  const s = (id: string, path: string, extra: Record<string, unknown> = {}): SampleSpec =>
    ({ id, question: 'q', inputs: [{ kind: 'video', path, ...extra }] }) as unknown as SampleSpec;

  it('runs samples about the same media one after another, groups in order of first appearance', () => {
    const samples = [s('1', '/v/a.mp4'), s('2', '/v/b.mp4'), s('3', '/v/a.mp4'), s('4', '/v/c.mp4'), s('5', '/v/b.mp4'), s('6', '/v/a.mp4')];
    expect(scheduleSamples(samples).map((x) => x.id)).toEqual(['1', '3', '6', '2', '5', '4']);
    expect(scheduleSamples(samples, 'dataset').map((x) => x.id)).toEqual(['1', '2', '3', '4', '5', '6']);
    // Deterministic: the same samples give the same schedule (resume).
    expect(scheduleSamples(samples)).toEqual(scheduleSamples([...samples]));
  });

  it('tells media apart by every file a sample reads', () => {
    expect(mediaKey(s('1', '/r/color', { depth: '/r/d1' }))).not.toBe(mediaKey(s('2', '/r/color', { depth: '/r/d2' })));
    expect(mediaKey(s('1', '/r/color'))).toBe(mediaKey(s('2', '/r/color')));
  });
});

describe('resolveConcurrency', () => {
  it('keeps a number, and for auto takes the model capacity capped at 2 × CPUs', () => {
    expect(resolveConcurrency(3, 16, 2)).toBe(3);
    expect(resolveConcurrency('auto', 16, 2)).toBe(4);
    expect(resolveConcurrency('auto', 2, 8)).toBe(2);
    expect(resolveConcurrency('auto', 0, 8)).toBe(1);
  });
});
