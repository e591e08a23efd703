/**
 * Fault injection, issue 17 §3 "a port race / Ctrl-C":
 *
 * - the port chosen for the local Jupyter server is taken by another process before the server binds it: the start
 *   is tried again on a fresh port; when every try is taken the error says so (not "run `npm run setup`");
 * - Ctrl-C (SIGINT to the CLI) in the middle of `spatialclaw run`: the run is recorded `interrupted` at once, its lock
 *   is removed, the samples in flight are left for `--resume` (not recorded), and the CLI exits 130;
 * - SLURM's warning (SIGUSR1) while a finished shard task exits: the task still exits 0, not by the signal (which
 *   SLURM would record as FAILED, ExitCode 0:10).
 *
 * Real jupyter_server, kernels and CLI; only the model is scripted.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, JupyterServer, JupyterServerError } from '../../electron/services/jupyter/server.ts';
import { createShardedRun, readShardState } from '../../electron/services/cluster/sharded.ts';
import { RUN_LOCK } from '../../electron/services/runs/layout.ts';
import { RunInfoSchema, SampleResultSchema } from '../../shared/run.ts';
import { ROOT } from '../helpers/cli.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

/** Hold a port on 127.0.0.1, as the process that won the race would. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, server };
}

describe('the local Jupyter server\'s port is taken before it binds it', () => {
  const held: Server[] = [];
  afterAll(() => held.forEach((s) => s.close()));

  it('tries a fresh port', async () => {
    const taken = await holdPort();
    held.push(taken.server);
    const given: number[] = [];
    const server = await JupyterServer.startLocal({
      port: async () => {
        const p = given.length === 0 ? taken.port : await freePort();
        given.push(p);
        return p;
      },
    });
    try {
      expect(given).toHaveLength(2);
      expect(server.baseUrl).toBe(`http://127.0.0.1:${given[1]}`);
      expect((await server.ping()).status).toBe(200);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('says what happened when every try is taken', async () => {
    const a = await holdPort();
    const b = await holdPort();
    held.push(a.server, b.server);
    const ports = [a.port, b.port];
    const err = await JupyterServer.startLocal({ port: async () => ports.shift() ?? 1, portTries: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JupyterServerError);
    const msg = (err as Error).message;
    expect(msg).toContain(`${a.port}, ${b.port}`);
    expect(msg).toMatch(/taken by another process/);
    expect(msg).not.toMatch(/npm run setup/);
  }, 60_000);
});

describe('Ctrl-C during spatialclaw run', () => {
  const IDS = ['c1', 'c2', 'c3', 'c4'];
  // Each sample's one cell takes 2 s: the signal lands while one is in flight.
  const CELL = 'Purpose: wait\nReasoning: r\nNext Goal: answer\nCode:\n```python\nimport time\ntime.sleep(2)\nReturnAnswer("A")\n```';
  let model: ScriptedModelServer;
  let dataset: string;
  beforeAll(async () => {
    model = await startScriptedModelServer({ default: [CELL] });
    const dir = mkdtempSync(join(tmpdir(), 'ds-int-'));
    dataset = join(dir, 'questions.jsonl');
    writeFileSync(dataset, IDS.map((id) => JSON.stringify({
      id, question: 'Which?', choices: ['A. x', 'B. y'], answer: 'A',
      inputs: [{ kind: 'rgbd_sample', path: join(ROOT, 'test', 'fixtures', 'rgbd_room') }],
    })).join('\n') + '\n');
  });
  afterAll(() => model?.close());

  it('records the run interrupted, removes the lock and leaves the samples in flight for --resume', async () => {
    const out = mkdtempSync(join(tmpdir(), 'run-int-'));
    const child = spawn(process.execPath, [join(ROOT, 'electron', 'cli', 'spatialclaw.mjs'),
      'run', '--dataset', dataset, '--model', 'scripted', '--base-url', model.url, '--concurrency', '1', '--no-plan', '--max-steps', '2', '--out', out,
    ], { cwd: ROOT });
    let stdout = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // After the first sample is recorded, while the second runs its cell.
      if (!sent && /^\[[#.]{20}\] 1\/4 /m.test(stdout)) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 500);
      }
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(sent, stdout + stderr).toBe(true);
    expect(code, stdout + stderr).toBe(130);
    const info = RunInfoSchema.parse(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')));
    expect(info.status).toBe('interrupted');
    expect(existsSync(join(out, RUN_LOCK))).toBe(false);
    const done = readFileSync(join(out, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => SampleResultSchema.parse(JSON.parse(l)));
    expect(done.length).toBeGreaterThanOrEqual(1);
    expect(done.length).toBeLessThan(IDS.length);
    // Nothing recorded as stopped: the sample in flight was abandoned, to be redone.
    for (const r of done) expect(r.termination).toBe('answered');
    expect(stdout).toMatch(/interrupted by SIGINT: .* continue with --resume/);
  }, 120_000);
});

describe('SLURM\'s warning while a finished shard task exits', () => {
  const ANSWER = 'Purpose: answer\nReasoning: r\nNext Goal: answer\nCode:\n```python\nReturnAnswer("A")\n```';
  let model: ScriptedModelServer;
  afterAll(() => model?.close());

  it('does not end the task by the signal: it exits 0 and the shard is finished', async () => {
    model = await startScriptedModelServer({ default: [ANSWER] });
    const dir = mkdtempSync(join(tmpdir(), 'shard-exit-'));
    const dataset = join(dir, 'questions.jsonl');
    writeFileSync(dataset, JSON.stringify({
      id: 'w1', question: 'Which?', choices: ['A. x', 'B. y'], answer: 'A', inputs: [{ kind: 'rgbd_sample', path: join(ROOT, 'test', 'fixtures', 'rgbd_room') }],
    }) + '\n');
    const out = join(dir, 'run');
    createShardedRun(out, { config: {}, versions: {}, total_samples: 1, shards: 1, shardTotals: [1] });
    const child = spawn(process.execPath, [join(ROOT, 'electron', 'cli', 'spatialclaw.mjs'),
      'run', '--dataset', dataset, '--model', 'scripted', '--base-url', model.url, '--concurrency', '1', '--no-plan', '--max-steps', '2', '--out', out, '--shard', '0/1',
    ], { cwd: ROOT });
    let stdout = '';
    let storm: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // SLURM sends its warning once, at a time of its choosing (30 s ticks); here it comes again and again from the
      // moment the shard is recorded until the process is gone, so one lands in every phase of the exit.
      if (!storm && /^shard 0 of 1 recorded in /m.test(stdout)) {
        storm = setInterval(() => {
          try {
            child.kill('SIGUSR1');
          } catch {
            /* gone */
          }
        }, 2);
      }
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, s) => r([c, s])));
    clearInterval(storm);
    const tail = (stdout + stderr).slice(-3000);
    expect(storm, tail).toBeDefined();
    expect(stdout).toMatch(/SIGUSR1 after the shard closed: ignored/);
    expect({ code, signal }, tail).toEqual({ code: 0, signal: null });
    expect(readShardState(out, 0)).toMatchObject({ status: 'finished' });
  }, 120_000);
});
