/**
 * `spatialclaw serve` as a user runs it (the bin launcher, a real WorkbenchHost, the real HTTP server),
 * reached with the real HTTP client. Build-independent: the UI folder is a stand-in passed with --static
 * (the built renderer is served in the e2e stage).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { WorkbenchError } from '../../shared/api.ts';
import { defaultMemoryGib } from '../../shared/defaults.ts';
import { createHttpApi, type HttpWorkbenchApi } from '../../shared/http-client.ts';
import { ROOT } from '../helpers/cli.ts';

describe('spatialclaw serve', () => {
  let tmp: string;
  let child: ChildProcessWithoutNullStreams;
  let stdout = '';
  let stderr = '';
  let ready: { url: string; port: number; token: string };
  let api: HttpWorkbenchApi;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'wb-serve-'));
    mkdirSync(join(tmp, 'ui'));
    mkdirSync(join(tmp, 'runs'));
    writeFileSync(join(tmp, 'ui', 'index.html'), '<!doctype html><title>SpatialClaw Workbench</title>');
    child = spawn(process.execPath, [join(ROOT, 'electron', 'cli', 'spatialclaw.mjs'), 'serve', '--port', '0', '--runs', join(tmp, 'runs'), '--static', join(tmp, 'ui')], {
      cwd: ROOT,
      env: { ...process.env, SPATIALCLAW_HOME: join(tmp, 'home') },
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no READY line in 60 s; stderr: ${stderr}`)), 60_000);
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /^READY (\{.*\})$/m.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(JSON.parse(m[1]!));
        }
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
    api = createHttpApi({ baseUrl: ready.url, token: ready.token, WebSocket: WebSocket as never });
  });
  afterAll(async () => {
    api?.close();
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('prints the URL with the token in the fragment, and a READY line', () => {
    expect(ready.url).toBe(`http://127.0.0.1:${ready.port}`);
    expect(ready.token).toMatch(/^[0-9a-f]{64}$/);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe(`SpatialClaw Workbench: http://127.0.0.1:${ready.port}/#token=${ready.token}`);
    expect(lines[1]).toBe(`READY ${JSON.stringify(ready)}`);
  });

  it('answers doctor, listRuns and getSettings over HTTP with the token', async () => {
    const report = await api.call('doctor', {});
    expect(report.checks.find((c) => c.id.startsWith('python'))).toBeTruthy();
    expect(await api.call('listRuns', {})).toEqual([]);
    expect(await api.call('getSettings', {})).toEqual({ pool_size: 1, memory_gib: defaultMemoryGib(totalmem(), 1), kernel_idle_max_mb: 512, cell_timeout_s: 600, max_steps: 30 });
    const err = (await api.call('getRun', { run_id: 'no-such-run' }).catch((e: unknown) => e)) as WorkbenchError;
    expect(err).toBeInstanceOf(WorkbenchError);
    expect(err.status).toBeGreaterThanOrEqual(400);
    expect(err.status).toBeLessThan(500);
    expect(err.fix).toBeTruthy();
  });

  it('refuses calls without the token or from another origin; serves the page without one', async () => {
    const call = (headers: Record<string, string>): Promise<Response> =>
      fetch(`${ready.url}/api/call/listRuns`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: '{}' });
    expect((await call({})).status).toBe(401);
    expect((await call({ Authorization: 'Bearer wrong' })).status).toBe(401);
    const cross = await call({ Authorization: `Bearer ${ready.token}`, Origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expect(cross.headers.get('access-control-allow-origin')).toBeNull();
    const page = await fetch(`${ready.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('SpatialClaw Workbench');
    expect(page.headers.get('content-security-policy')).toContain(`connect-src 'self' ws://127.0.0.1:${ready.port}`);
  });

  it('authenticates the events socket', async () => {
    const off = api.subscribe(() => undefined);
    const t0 = Date.now();
    while (!api.eventsConnected && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 25));
    expect(api.eventsConnected).toBe(true);
    off();
    const code = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${ready.port}/api/events`);
      ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: 'nope' })));
      ws.on('close', (c) => resolve(c));
    });
    expect(code).toBe(4401);
  });

  it('never prints the token outside the two lines, and stops cleanly on SIGTERM', async () => {
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    expect(stderr).not.toContain(ready.token);
    expect(stdout.split(ready.token).length - 1).toBe(2);
  });
});
