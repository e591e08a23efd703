/**
 * The run store under SIGKILL: a child process writes a 30-sample run (3 samples at a time, 7 events
 * each plus image events) and is killed at chosen points (it freezes on a marker and the parent kills
 * it there) and at random times. After each kill the parent resumes the run, finishes it, and checks
 * that no sample was lost or recorded twice and that unfinished samples were redone from scratch.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SampleResultSchema } from '../../shared/run.ts';
import { readRun, readSampleEvents, splitLines } from '../../electron/services/runs/reader.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import { ROOT } from '../helpers/cli.ts';
import { alive } from '../helpers/process.ts';
import { eventsOnDisk, sampleId, sampleEvents, writeSamples } from '../helpers/run-writer-child.ts';

const CHILD = join(ROOT, 'test', 'helpers', 'run-writer-child.ts');
const N = 30;
const ALL = Array.from({ length: N }, (_, i) => i);

interface ChildOutcome {
  marks: string[];
  frozen: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Run the child on `dir`. `freezeAt`: kill it when it reports `FROZEN <mark>`. `killAfterMs`: kill it
 * that long after its first mark (or after spawn, with `fromSpawn`).
 */
function runChild(dir: string, o: { freezeAt?: string; tear?: boolean; killAfterMs?: number; fromSpawn?: boolean; seed?: number; delayMs?: number }): Promise<ChildOutcome> {
  const args = ['--import', 'tsx', CHILD, dir, '--samples', String(N), '--concurrency', '3', '--delay-ms', String(o.delayMs ?? 3), '--seed', String(o.seed ?? 1)];
  if (o.freezeAt) args.push('--freeze-at', o.freezeAt);
  if (o.tear) args.push('--tear');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const marks: string[] = [];
    let frozen = false;
    let buf = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = () => child.kill('SIGKILL');
    const arm = () => {
      if (o.killAfterMs !== undefined && timer === undefined) timer = setTimeout(kill, o.killAfterMs);
    };
    if (o.fromSpawn) arm();
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let k: number;
      while ((k = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, k);
        buf = buf.slice(k + 1);
        if (line.startsWith('MARK ')) {
          marks.push(line.slice(5));
          arm();
        } else if (line === `FROZEN ${o.freezeAt}`) {
          frozen = true;
          kill();
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const guard = setTimeout(kill, 60_000);
    child.on('error', reject);
    // 'close' comes after the child was reaped: its pid no longer exists, so its lock is stale.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(guard);
      resolve({ marks, frozen, code, signal, stderr });
    });
  });
}

/** What a killed run holds on disk. */
function snapshot(dir: string): { done: string[]; torn: number; unfinished: string[]; inodes: Map<string, number> } {
  const buf = readFileSync(join(dir, 'samples.jsonl'));
  const { lines, completeBytes } = splitLines(buf);
  const done = lines.map((l) => SampleResultSchema.parse(JSON.parse(l.text)).id);
  const started = existsSync(join(dir, 'samples')) ? readdirSync(join(dir, 'samples')) : [];
  const unfinished = started.filter((id) => !done.includes(id)).sort();
  // A folder keeps its inode when it is moved aside: it identifies one attempt.
  const inodes = new Map(unfinished.map((id) => [id, statSync(join(dir, 'samples', id)).ino]));
  return { done, torn: buf.length - completeBytes, unfinished, inodes };
}

/** Resume in this process, check what resume repaired, and finish the remaining samples. */
async function resumeAndFinish(dir: string, snap: ReturnType<typeof snapshot>): Promise<void> {
  const w = await RunWriter.resume(dir);
  expect(w.recovery.tornBytes).toBe(snap.torn);
  expect(w.recovery.movedAside).toEqual(snap.unfinished);
  expect([...w.doneIds].sort()).toEqual([...snap.done].sort());
  expect(readFileSync(join(dir, 'samples.jsonl')).at(-1) ?? 0x0a).toBe(0x0a);
  await writeSamples(w, ALL, { concurrency: 4 });
  await w.finish('finished');
}

/**
 * The finished run: every sample exactly once, complete journals, and exactly the unfinished attempts
 * seen after the kills (`attempts`: id -> inodes of its attempt folders) kept under attempts/<id>/.
 */
function verifyComplete(dir: string, attempts: Map<string, Set<number>>): void {
  const raw = readFileSync(join(dir, 'samples.jsonl'), 'utf8');
  expect(raw.endsWith('\n')).toBe(true);
  const ids = raw.trimEnd().split('\n').map((l) => SampleResultSchema.parse(JSON.parse(l)).id);
  expect(ids).toHaveLength(N);
  expect(new Set(ids).size).toBe(N);
  expect([...ids].sort()).toEqual(ALL.map(sampleId));
  const { info, samples } = readRun(dir);
  expect(info.status).toBe('finished');
  expect(samples).toHaveLength(N);
  expect(existsSync(join(dir, 'run.lock'))).toBe(false);
  expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  for (const i of ALL) {
    const id = sampleId(i);
    const events = readSampleEvents(dir, id);
    expect(events, id).toHaveLength(eventsOnDisk(i));
    expect(events[0]?.type, id).toBe('sample_start');
    expect(events.filter((e) => e.type === 'sample_start'), id).toHaveLength(1);
    expect(events.at(-1)?.type, id).toBe('termination');
    expect(events.map((e) => e.type).filter((t) => t !== 'image')).toEqual(sampleEvents(i).map((e) => e.type));
    for (const e of events) if (e.type === 'image') expect(existsSync(join(dir, 'samples', id, e.path)), `${id} ${e.path}`).toBe(true);
    const kept = existsSync(join(dir, 'attempts', id)) ? readdirSync(join(dir, 'attempts', id)).sort() : [];
    const seen = attempts.get(id) ?? new Set<number>();
    expect(kept, id).toEqual(Array.from({ length: seen.size }, (_, k) => String(k + 1)));
    expect(new Set(kept.map((n) => statSync(join(dir, 'attempts', id, n)).ino)), id).toEqual(seen);
    for (const n of kept) {
      // An attempt moved aside is a prefix of the sample's journal, beginning with its sample_start.
      const f = join(dir, 'attempts', id, n, 'events.jsonl');
      const lines = existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
      if (lines.length > 0) expect(JSON.parse(lines[0]!).type).toBe('sample_start');
      expect(lines.length).toBeLessThanOrEqual(eventsOnDisk(i));
    }
  }
}

const newDir = () => join(mkdtempSync(join(tmpdir(), 'run-crash-')), 'run');

describe('run store under SIGKILL at chosen points', () => {
  const points: { name: string; freezeAt: string; tear?: boolean; check: (snap: ReturnType<typeof snapshot>, dir: string) => void }[] = [
    {
      name: 'at the first event of the first sample',
      freezeAt: 'event s000 0',
      check: (s) => {
        expect(s.done).toEqual([]);
        expect(s.unfinished).toContain('s000');
      },
    },
    {
      name: 'between two events',
      freezeAt: 'event s004 2',
      check: (s) => {
        expect(s.done).not.toContain('s004');
        expect(s.unfinished).toContain('s004');
      },
    },
    {
      name: 'right after the termination event, before finish',
      freezeAt: 'event s010 6',
      check: (s, dir) => {
        expect(s.unfinished).toContain('s010');
        const last = readFileSync(join(dir, 'samples', 's010', 'events.jsonl'), 'utf8').trimEnd().split('\n').at(-1)!;
        expect(JSON.parse(last).type).toBe('termination');
      },
    },
    {
      name: 'in finish: events synced, result line not yet written',
      freezeAt: 'finish s015 events_synced',
      check: (s) => {
        expect(s.torn).toBe(0);
        expect(s.unfinished).toContain('s015');
      },
    },
    {
      name: 'in finish: half a result line written (torn)',
      freezeAt: 'finish s015 events_synced',
      tear: true,
      check: (s) => {
        expect(s.torn).toBeGreaterThan(0);
        expect(s.unfinished).toContain('s015');
      },
    },
    {
      name: 'in finish: result line written, not yet fsynced',
      freezeAt: 'finish s020 result_written',
      check: (s) => {
        // The write reached the page cache, which outlives the process: the sample is done.
        expect(s.done).toContain('s020');
        expect(s.unfinished).not.toContain('s020');
      },
    },
  ];

  it.each(points)('killed $name', async ({ freezeAt, tear, check }) => {
    const dir = newDir();
    const out = await runChild(dir, { freezeAt, ...(tear ? { tear } : {}) });
    expect(out.frozen, `${out.stderr}\nmarks: ${out.marks.slice(-5).join(' | ')}`).toBe(true);
    expect(out.signal).toBe('SIGKILL');
    const snap = snapshot(dir);
    check(snap, dir);
    await resumeAndFinish(dir, snap);
    verifyComplete(dir, new Map([...snap.inodes].map(([id, ino]) => [id, new Set([ino])])));
  });

  it('refuses a second writer while the first is alive, and takes over its lock once it is dead', async () => {
    const dir = newDir();
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, '--samples', String(N), '--freeze-at', 'event s001 3'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('FROZEN')) resolve();
      });
    });
    const pid = child.pid!;
    expect(alive(pid)).toBe(true);
    await expect(RunWriter.resume(dir)).rejects.toThrow(new RegExp(`run\\.lock: the run is open in process ${pid}`));
    const closed = new Promise((r) => child.on('close', r));
    child.kill('SIGKILL');
    await closed;
    const snap = snapshot(dir);
    const w = await RunWriter.resume(dir);
    expect(w.recovery.staleLock).toBe(true);
    expect(w.recovery.movedAside).toEqual(snap.unfinished);
    await writeSamples(w, ALL, { concurrency: 3 });
    await w.finish('finished');
    verifyComplete(dir, new Map([...snap.inodes].map(([id, ino]) => [id, new Set([ino])])));
  });
});

describe('run store under SIGKILL at random times', () => {
  it.each([11, 22, 33])('survives three random kills in a row (seed %i)', async (seed) => {
    const dir = newDir();
    const attempts = new Map<string, Set<number>>();
    const log: string[] = [];
    for (let k = 0; k < 3; k++) {
      // The last kill counts from spawn, so it can also land in start-up or in resume itself.
      const fromSpawn = k === 2;
      // The child writes for about 300 ms (6 ms delays), after about 400 ms of start-up.
      const ms = Math.round(fromSpawn ? 300 + Math.random() * 400 : 10 + Math.random() * 150);
      const out = await runChild(dir, { killAfterMs: ms, fromSpawn, seed: seed + k, delayMs: 6 });
      log.push(`kill ${k}: ${ms} ms${fromSpawn ? ' from spawn' : ''}, ${out.marks.length} marks, last ${out.marks.at(-1) ?? '-'}`);
      if (out.signal !== 'SIGKILL') expect(out.code, `${out.stderr}\n${log.join('\n')}`).toBe(0);
      if (k === 0) expect(out.marks.at(-1), 'the first kill lands mid-run').not.toBe('done');
      if (!existsSync(join(dir, 'run.json'))) continue;
      // What the next writer (child or this process) will move aside: every started, unfinished sample.
      // A kill during start-up leaves the same folders, which count once (same inode).
      const sn = snapshot(dir);
      log.push(`  done ${sn.done.length}, unfinished ${sn.unfinished.join(',')}`);
      for (const [id, ino] of sn.inodes) attempts.set(id, (attempts.get(id) ?? new Set<number>()).add(ino));
    }
    const snap = snapshot(dir);
    await resumeAndFinish(dir, snap).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${log.join('\n')}`, { cause: e });
    });
    try {
      verifyComplete(dir, attempts);
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${dir}\n${log.join('\n')}`, { cause: e });
    }
    console.log(`seed ${seed}: ${log.join('; ')}; redone ${[...attempts.values()].reduce((a, b) => a + b.size, 0)} attempts`);
  });
});
