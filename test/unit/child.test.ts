/**
 * ManagedChild (electron/services/child.ts) with small `node -e` children: the ready line, errors with the
 * child's stderr, stopping (SIGTERM, then SIGKILL), process groups, the process-exit hook, the environment
 * without secrets, and request/response over stdio.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManagedChild, ManagedChildError, PARENT_PID_ENV, PendingReplies, waitHealthy } from '../../electron/services/child.ts';
import { ROOT } from '../helpers/cli.ts';
import { alive } from '../helpers/process.ts';

/** A node child running `script`. */
const node = (script: string, over: Partial<Parameters<typeof ManagedChild.start>[0]> = {}): ManagedChild =>
  ManagedChild.start({ name: 'the test child', command: process.execPath, args: ['-e', script], ...over });

const FOREVER = 'setInterval(() => {}, 1000);';

class TestServerError extends Error {
  override name = 'TestServerError';
}

const started: ManagedChild[] = [];
const track = (c: ManagedChild): ManagedChild => {
  started.push(c);
  return c;
};

afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(started.splice(0).map((c) => c.stop({ graceMs: 100 })));
});

describe('ManagedChild: getting ready', () => {
  it('resolves with the ready line, by RegExp or by parser', async () => {
    const c = track(node(`console.error('warming up'); setTimeout(() => console.log('READY http://127.0.0.1:1234'), 50); ${FOREVER}`));
    const m = await c.waitForLine(/^READY (\S+)$/, 5000);
    expect(m[1]).toBe('http://127.0.0.1:1234');
    expect(c.running).toBe(true);
    expect(c.tail()).toBe('warming up');
    const d = track(node(`console.log('noise'); console.log('PORT 99'); ${FOREVER}`));
    await expect(d.waitForLine((line) => /^PORT (\d+)$/.exec(line)?.[1], 5000)).resolves.toBe('99');
  });

  it('times out with the stderr tail in the error, in the caller\'s error class, and kills the child', async () => {
    const c = track(node(`console.error('loading model A'); console.error('loading model B'); ${FOREVER}`, {
      error: (m) => new TestServerError(m),
    }));
    const err = await c.waitForLine(/^READY$/, 1500).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TestServerError);
    expect((err as Error).message).toMatch(/^the test child did not get ready within 1\.5 s\.\nloading model A\nloading model B$/);
    expect((await c.exited).signal).toBe('SIGKILL');
  });

  it('reports a child that exits first: code, stderr tail and the fix', async () => {
    const c = track(node(`console.error('boom: no backend "x"'); process.exit(3)`, { fix: 'check the --backends names' }));
    await expect(c.waitForLine(/^READY$/, 5000)).rejects.toThrow(
      /^the test child exited with code 3 before it was ready\.\nboom: no backend "x"\nfix: check the --backends names$/,
    );
    await expect(c.waitForLine(/^READY$/, 5000)).rejects.toThrow(ManagedChildError);
  });

  it('reports a command that cannot start', async () => {
    const c = track(ManagedChild.start({ name: 'the test child', command: '/no/such/program', fix: 'install it' }));
    await expect(c.waitForLine(/^READY$/, 5000)).rejects.toThrow(/could not start the test child \(\/no\/such\/program\): .*ENOENT[\s\S]*fix: install it/);
    expect(c.running).toBe(false);
    expect((await c.exited).error?.message).toMatch(/ENOENT/);
  });

  it('waits for a health probe, and stops early when the child exits', async () => {
    let tries = 0;
    await waitHealthy(async () => (++tries < 3 ? `not yet (${tries})` : null), { timeoutMs: 5000, intervalMs: 10, timeoutError: (l) => new Error(l) });
    expect(tries).toBe(3);
    await expect(waitHealthy(async () => 'HTTP 503', { timeoutMs: 100, intervalMs: 10, timeoutError: (l) => new Error(`gave up: ${l}`) }))
      .rejects.toThrow('gave up: HTTP 503');
    const c = track(node(`console.error('cannot bind'); process.exit(1)`));
    await expect(waitHealthy(async () => 'refused', { timeoutMs: 5000, child: c, timeoutError: () => new Error('timeout') }))
      .rejects.toThrow(/exited with code 1 before it was ready\.\ncannot bind/);
  });
});

describe('ManagedChild: stopping', () => {
  it('escalates to SIGKILL when the child ignores SIGTERM', async () => {
    const c = track(node(`process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('READY'); ${FOREVER}`));
    await c.waitForLine(/^READY$/, 5000);
    const t0 = Date.now();
    await c.stop({ graceMs: 300 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(await c.exited).toEqual({ code: null, signal: 'SIGKILL', error: null });
  });

  it('stops a polite child with SIGTERM alone', async () => {
    const c = track(node(`console.log('READY'); ${FOREVER}`));
    await c.waitForLine(/^READY$/, 5000);
    await c.stop({ graceMs: 5000 });
    expect((await c.exited).signal).toBe('SIGTERM');
  });

  it('takes a process group down with everything the child started', async () => {
    const c = track(node(
      `const g = require('node:child_process').spawn(process.execPath, ['-e', '${FOREVER}'], { stdio: 'ignore' }); console.log('GRANDCHILD ' + g.pid); ${FOREVER}`,
      { group: true },
    ));
    const pid = Number((await c.waitForLine(/^GRANDCHILD (\d+)$/, 5000))[1]);
    expect(alive(pid)).toBe(true);
    await c.stop({ graceMs: 2000 });
    await expect.poll(() => alive(pid), { timeout: 5000 }).toBe(false);
    expect(alive(-c.pid!)).toBe(false);
  });
});

/** Run `script` (ES module, imports relative to the repository root) in a fresh node with tsx. */
function host(script: string): { pids: Promise<number[]>; done: Promise<{ code: number | null }>; kill: (s: NodeJS.Signals) => void } {
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  // The script prints `CHILD <pid> [<pid> …]` once its children run.
  const pids = new Promise<number[]>((resolve, reject) => {
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /CHILD ([\d ]+)\n/.exec(out);
      if (m) resolve(m[1]!.trim().split(' ').map(Number));
    });
    p.once('exit', () => reject(new Error(`the host exited before it started its child: ${err}`)));
  });
  const done = new Promise<{ code: number | null }>((resolve) => p.once('exit', (code) => resolve({ code })));
  return { pids, done, kill: (s) => p.kill(s) };
}

const HOST_PRELUDE = `import { ManagedChild } from './electron/services/child.ts';`;

describe('ManagedChild: the process-exit hook', () => {
  it('kills live children when the host exits', async () => {
    const h = host(`${HOST_PRELUDE}
      const c = ManagedChild.start({ name: 'a', command: process.execPath, args: ['-e', 'console.log("READY"); ${FOREVER}'] });
      const g = ManagedChild.start({ name: 'b', command: process.execPath, args: ['-e', '${FOREVER}'], group: true });
      await c.waitForLine(/READY/, 5000);
      console.log('CHILD ' + c.pid + ' ' + g.pid);
      process.exit(0);`);
    const pids = await h.pids;
    expect(pids).toHaveLength(2);
    expect((await h.done).code).toBe(0);
    await expect.poll(() => pids.filter(alive), { timeout: 5000 }).toEqual([]);
  });

  it('with exitOnSignal, kills them on SIGTERM and exits with 143', async () => {
    const h = host(`${HOST_PRELUDE}
      const c = ManagedChild.start({ name: 'a', command: process.execPath, args: ['-e', 'console.log("READY"); ${FOREVER}'], group: true, exitOnSignal: true });
      await c.waitForLine(/READY/, 5000);
      console.log('CHILD ' + c.pid);`);
    const [pid] = await h.pids;
    expect(alive(pid!)).toBe(true);
    h.kill('SIGTERM');
    expect((await h.done).code).toBe(143);
    await expect.poll(() => alive(pid!), { timeout: 5000 }).toBe(false);
  });

  it('leaves a detached child running', async () => {
    const h = host(`${HOST_PRELUDE}
      const c = ManagedChild.start({ name: 'a', command: process.execPath, args: ['-e', 'console.log("READY"); ${FOREVER}'], group: true, parentWatch: false });
      await c.waitForLine(/READY/, 5000);
      c.detach();
      console.log('CHILD ' + c.pid);`);
    const [pid] = await h.pids;
    expect((await h.done).code).toBe(0); // the detached child does not hold the host open
    expect(alive(pid!)).toBe(true);
    process.kill(-pid!, 'SIGKILL');
    await expect.poll(() => alive(pid!), { timeout: 5000 }).toBe(false);
  });
});

describe('ManagedChild: environment', () => {
  it('passes only allow-listed variables and those given, and sets the parent pid for servers', async () => {
    vi.stubEnv('SPATIALCLAW_TEST_API_KEY', 'sk-test-secret-0123456789');
    vi.stubEnv('SPATIALCLAW_TEST_DB_PASSWORD', 'hunter2-hunter2');
    vi.stubEnv('SPATIALCLAW_TEST_KEPT_TOKEN', 'kept-0123456789');
    vi.stubEnv('SPATIALCLAW_TEST_PLAIN', 'plain value');
    vi.stubEnv('SPATIALCLAW_TEST_UNLISTED', 'not for children');
    vi.stubEnv('MODEL_ACCESS', 'sk-named-by-api-key-env-0123');
    const dump = 'console.log("ENV " + JSON.stringify(process.env));';
    const envOf = async (c: ManagedChild) => JSON.parse((await c.waitForLine(/^ENV (.*)$/, 5000))[1]!) as Record<string, string>;
    const server = await envOf(track(node(dump, {
      env: { SPATIAL_PERCEPTION_TOKEN: 'the-one-token-it-needs', EMPTY_EXTRA: undefined },
      // A prefix lets plain variables through, never a secret-looking one (SPATIALCLAW_TEST_API_KEY).
      keepEnv: ['SPATIALCLAW_TEST_KEPT_TOKEN', 'SPATIALCLAW_TEST_P*', 'SPATIALCLAW_TEST_A*'],
      parentWatch: true,
    })));
    expect(server.SPATIALCLAW_TEST_API_KEY).toBeUndefined();
    expect(server.SPATIALCLAW_TEST_DB_PASSWORD).toBeUndefined();
    expect(server.SPATIALCLAW_TEST_KEPT_TOKEN).toBe('kept-0123456789');
    expect(server.SPATIALCLAW_TEST_PLAIN).toBe('plain value');
    expect(server.SPATIALCLAW_TEST_UNLISTED).toBeUndefined();
    expect(server.MODEL_ACCESS).toBeUndefined(); // an API key under a plain-looking name stays out too
    expect(server.PATH).toBe(process.env.PATH);
    expect(server.SPATIAL_PERCEPTION_TOKEN).toBe('the-one-token-it-needs');
    expect('EMPTY_EXTRA' in server).toBe(false);
    expect(server[PARENT_PID_ENV]).toBe(String(process.pid));
    const detached = await envOf(track(node(dump, { parentWatch: false })));
    expect(detached[PARENT_PID_ENV]).toBe('');
    expect(detached.SPATIALCLAW_TEST_KEPT_TOKEN).toBeUndefined();
  });
});

describe('ManagedChild: request/response over stdio', () => {
  const ECHO = `require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => { const r = JSON.parse(l); if (r.die) process.exit(5); if (!r.mute) console.log(JSON.stringify({ id: r.id, echo: r.text })); });`;

  it('matches replies to requests by id and fails what a dying child leaves unanswered', async () => {
    const c = track(node(ECHO, { stdin: true }));
    const replies = new PendingReplies<string>();
    c.onLine((line) => {
      const r = JSON.parse(line) as { id: string; echo: string };
      replies.resolve(r.id, r.echo);
    });
    const ask = (id: string, body: Record<string, unknown>, timeoutMs = 5000): Promise<string> => {
      const p = replies.wait(id, c, timeoutMs, () => new Error(`no answer to ${id}`));
      c.write(`${JSON.stringify({ id, ...body })}\n`);
      return p;
    };
    await expect(Promise.all([ask('1', { text: 'a' }), ask('2', { text: 'b' })])).resolves.toEqual(['a', 'b']);
    await expect(ask('3', { mute: true }, 200)).rejects.toThrow('no answer to 3');
    expect(replies.resolve('3', 'late')).toBe(false);
    const pending = ask('4', { mute: true });
    void c.exited.then(({ code }) => replies.failAll(new Error(`helper exited (code ${code})`), c));
    c.write(`${JSON.stringify({ id: '5', die: true })}\n`);
    await expect(pending).rejects.toThrow('helper exited (code 5)');
    c.write('dropped after exit\n'); // no throw, no EPIPE crash
  });

  it('refuses to write to a child without a stdin pipe', () => {
    const c = track(node(FOREVER));
    expect(() => c.write('x')).toThrow(/started without a stdin pipe: start it with stdin: true/);
  });
});
