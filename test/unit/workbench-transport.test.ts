/**
 * The workbench contract's HTTP transport: the real node:http + ws server (electron/services/workbench/http.ts)
 * and the real client (shared/http-client.ts) over loopback, with a handler table built here.
 */
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { WorkbenchError } from '../../shared/api.ts';
import { createHttpApi, type HttpWorkbenchApi, tokenFromHash } from '../../shared/http-client.ts';
import { type HostEvent, isBinaryMethod, METHOD_NAMES, METHODS, SettingsSchema, type WorkbenchHandlers } from '../../shared/workbench.ts';
import { startWorkbenchServer, type WorkbenchServer, type WorkbenchServerOptions } from '../../electron/services/workbench/http.ts';

// The Electron preload, run against a stand-in for `electron` (no Electron binary here): invoke goes
// through `ipcReply` (what electron/main registers for every `wb:<method>`) and a structured clone,
// as real IPC does; executeInMainWorld runs the install function directly.
const ipc = vi.hoisted(() => ({
  handlers: null as unknown,
  log: [] as string[],
  channels: new Map<string, Set<(event: unknown, payload: unknown) => void>>(),
  invoked: [] as string[],
}));
vi.mock('electron', async () => {
  const { ipcReply } = await import('../../electron/services/workbench/transport.ts');
  return {
    contextBridge: { executeInMainWorld: ({ func, args }: { func: (...a: unknown[]) => unknown; args: unknown[] }) => func(...args) },
    ipcRenderer: {
      invoke: async (channel: string, args: unknown) => {
        ipc.invoked.push(channel);
        if (channel === 'wb:pickPaths') return ['/data/room.mp4'];
        const reply = await ipcReply(ipc.handlers as WorkbenchHandlers, channel.replace(/^wb:/, ''), structuredClone(args), (l) => ipc.log.push(l));
        return structuredClone(reply);
      },
      on: (channel: string, h: (event: unknown, payload: unknown) => void) => {
        if (!ipc.channels.has(channel)) ipc.channels.set(channel, new Set());
        ipc.channels.get(channel)!.add(h);
      },
      removeListener: (channel: string, h: (event: unknown, payload: unknown) => void) => ipc.channels.get(channel)?.delete(h),
    },
  };
});

// A real JPEG header + some bytes, incl. every byte value (binary must survive unchanged).
const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, ...Array.from({ length: 256 }, (_, i) => i), 0xff, 0xd9]);

function handlerTable(overrides: Partial<WorkbenchHandlers>): WorkbenchHandlers {
  const base = Object.fromEntries(
    METHOD_NAMES.map((m) => [m, async () => { throw new WorkbenchError(`${m} is not part of this test`, 'n/a', m, 501); }]),
  );
  return { ...base, ...overrides } as WorkbenchHandlers;
}

class Events {
  private readonly listeners = new Set<(e: HostEvent) => void>();
  onEvent = (l: (e: HostEvent) => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
  emit(e: unknown): void {
    for (const l of this.listeners) l(e as HostEvent);
  }
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request with full control over Host/Origin (fetch would normalise them). */
function raw(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const json = (r: RawResponse): { error: string; fix: string | null; method: string } => JSON.parse(r.body.toString('utf8'));

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Arguments each handler received (after validation). */
const seen: unknown[] = [];
const handlers = handlerTable({
  getSettings: async () => SettingsSchema.parse({ pool_size: 3 }),
  listSamples: async (args) => {
    seen.push(args);
    return { total: 0, offset: args.offset, rows: [] };
  },
  frameImage: async (args) => {
    seen.push(args);
    return JPEG;
  },
  getRun: async ({ run_id }) => {
    throw new WorkbenchError(`no run named ${run_id}`, 'pick a run from the Runs list', 'getRun', 404);
  },
  listRuns: async () => {
    throw new Error('ENOENT: secret internal path /home/alice/.ssh/id_rsa');
  },
  // Replies that break the contract are refused by the client.
  listModels: async () => [{ name: 3 }] as never,
  consoleCell: async () => ({}) as never,
});

describe('the contract table', () => {
  it('gives every method an args schema, a result schema or binary, and a doc line', () => {
    expect(METHOD_NAMES.length).toBeGreaterThan(20);
    for (const m of METHOD_NAMES) {
      const spec = METHODS[m];
      expect(spec.args, m).toBeInstanceOf(z.ZodType);
      expect(spec.result === 'binary' || spec.result instanceof z.ZodType, m).toBe(true);
      expect(spec.doc.length, m).toBeGreaterThan(10);
    }
    expect(METHOD_NAMES.filter(isBinaryMethod).sort()).toEqual(['artifactArray', 'exportRun', 'frameImage', 'sampleImage']);
  });

  it('reads the token from a URL fragment only when it looks like one', () => {
    expect(tokenFromHash('#token=' + 'ab'.repeat(32))).toBe('ab'.repeat(32));
    expect(tokenFromHash('#view=runs&token=0123456789abcdef')).toBe('0123456789abcdef');
    expect(tokenFromHash('')).toBeNull();
    expect(tokenFromHash('#token=<script>')).toBeNull();
  });
});

describe('HTTP server + client', () => {
  const events = new Events();
  const logged: string[] = [];
  let staticDir: string;
  let server: WorkbenchServer;
  let api: HttpWorkbenchApi;
  beforeAll(async () => {
    staticDir = mkdtempSync(join(tmpdir(), 'wb-static-'));
    mkdirSync(join(staticDir, 'site', 'assets'), { recursive: true });
    writeFileSync(join(staticDir, 'site', 'index.html'), '<!doctype html><title>SpatialClaw Workbench</title>');
    writeFileSync(join(staticDir, 'site', 'assets', 'app.js'), 'console.log(1)');
    writeFileSync(join(staticDir, 'secret.txt'), 'do not serve');
    symlinkSync(join(staticDir, 'secret.txt'), join(staticDir, 'site', 'assets', 'link.js'));
    server = await startWorkbenchServer({
      handlers,
      onEvent: events.onEvent,
      staticDir: join(staticDir, 'site'),
      maxBodyBytes: 64 * 1024,
      authTimeoutMs: 400,
      log: (l) => logged.push(l),
    });
    api = createHttpApi({ baseUrl: server.url, token: server.token, WebSocket: WebSocket as never });
  });
  afterAll(async () => {
    api?.close();
    await server?.close();
    rmSync(staticDir, { recursive: true, force: true });
  });
  afterEach(() => vi.restoreAllMocks());

  it('binds 127.0.0.1 with a random 64-hex-digit token', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.token).toMatch(/^[0-9a-f]{64}$/);
  });

  it('round-trips JSON results, with the host applying the args defaults', async () => {
    const s = await api.call('getSettings', {});
    expect(s).toEqual({ pool_size: 3, memory_gib: 16, kernel_idle_max_mb: 512, cell_timeout_s: 600, max_steps: 30 });
    const page = await api.call('listSamples', { run_id: 'run-1', offset: 5 });
    expect(page).toEqual({ total: 0, offset: 5, rows: [] });
    expect(seen.at(-1)).toEqual({ run_id: 'run-1', offset: 5, limit: 200, sort: 'index' });
  });

  it('returns binary methods as raw bytes', async () => {
    const bytes = await api.call('frameImage', { input: { kind: 'video', path: '/data/v.mp4' }, frame_index: 12 });
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...bytes]).toEqual([...JPEG]);
    expect(seen.at(-1)).toMatchObject({ frame_index: 12, max_edge: 320 });
    const r = await raw(server.port, 'POST', '/api/call/frameImage', { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' }, JSON.stringify({ input: { kind: 'video', path: '/v.mp4' }, frame_index: 0 }));
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
  });

  it('refuses invalid args with 400 and a message naming each field', async () => {
    const err = (await api.call('listSamples', { run_id: '../etc', limit: 0 } as never).catch((e: unknown) => e)) as WorkbenchError;
    expect(err).toBeInstanceOf(WorkbenchError);
    expect(err.status).toBe(400);
    expect(err.method).toBe('listSamples');
    expect(err.message).toMatch(/^invalid arguments for listSamples: /);
    expect(err.message).toContain('run_id: a run id is a folder name under the runs root');
    expect(err.message).toContain('limit:');
    expect(err.fix).toContain('run_id');
    const missing = (await api.call('stop', { run_id: 'r' } as never).catch((e: unknown) => e)) as WorkbenchError;
    expect(missing.message).toContain('sample_id: missing (expected string)');
    const extra = (await api.call('getSettings', { nope: 1 } as never).catch((e: unknown) => e)) as WorkbenchError;
    expect(extra.message).toContain('Unrecognized key: "nope"');
  });

  it("passes a handler's WorkbenchError through with its message, fix and status", async () => {
    const err = (await api.call('getRun', { run_id: 'missing-run' }).catch((e: unknown) => e)) as WorkbenchError;
    expect(err).toBeInstanceOf(WorkbenchError);
    expect([err.message, err.fix, err.method, err.status]).toEqual(['no run named missing-run', 'pick a run from the Runs list', 'getRun', 404]);
  });

  it('answers internal errors with 500 that hides the details (logged on the host instead)', async () => {
    const err = (await api.call('listRuns', {}).catch((e: unknown) => e)) as WorkbenchError;
    expect(err.status).toBe(500);
    expect(err.message).toMatch(/^listRuns failed on the host with an internal error \(incident [0-9a-f]{8}\)$/);
    expect(err.message + err.fix).not.toMatch(/secret|id_rsa|\.ts:\d+/);
    const incident = /incident ([0-9a-f]{8})/.exec(err.message)![1]!;
    expect(logged.some((l) => l.includes(incident) && l.includes('id_rsa'))).toBe(true);
  });

  it('refuses replies that do not match the result schema', async () => {
    const err = (await api.call('listModels', {}).catch((e: unknown) => e)) as WorkbenchError;
    expect(err.message).toMatch(/^the host's reply to listModels does not match the contract: \[0\]|0\.name/);
  });

  it('lists the methods for an unknown one (404)', async () => {
    const r = await raw(server.port, 'POST', '/api/call/dropTables', { Authorization: `Bearer ${server.token}` });
    expect(r.status).toBe(404);
    expect(json(r).error).toContain('dropTables');
    expect(json(r).fix).toContain('listRuns');
    expect((await raw(server.port, 'GET', '/api/call/getSettings', { Authorization: `Bearer ${server.token}` })).status).toBe(405);
  });

  it('requires the token on every /api route (401), compared exactly', async () => {
    for (const auth of [undefined, 'Bearer ', `Bearer ${server.token.slice(0, -1)}`, `Bearer ${server.token}0`, `Basic ${server.token}`]) {
      const r = await raw(server.port, 'POST', '/api/call/getSettings', auth ? { Authorization: auth } : {});
      expect(r.status, String(auth)).toBe(401);
      expect(r.headers['www-authenticate']).toContain('Bearer');
      expect(json(r).fix).toContain('#token=');
    }
    expect((await raw(server.port, 'POST', '/api/call/nope', {})).status).toBe(401); // no method list without a token
    const bad = createHttpApi({ baseUrl: server.url, token: 'f'.repeat(64) });
    const err = (await bad.call('getSettings', {}).catch((e: unknown) => e)) as WorkbenchError;
    expect([err.status, err.message]).toEqual([401, 'missing or wrong workbench token']);
  });

  it('refuses cross-origin requests (403) and never grants CORS', async () => {
    const auth = { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' };
    for (const origin of ['http://evil.example', 'null', `http://localhost:${server.port + 1}`, `https://127.0.0.1:${server.port}`]) {
      const r = await raw(server.port, 'POST', '/api/call/getSettings', { ...auth, Origin: origin }, '{}');
      expect(r.status, origin).toBe(403);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
    }
    const pre = await raw(server.port, 'OPTIONS', '/api/call/getSettings', { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' });
    expect(pre.status).toBe(403);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const same = await raw(server.port, 'POST', '/api/call/getSettings', { ...auth, Origin: `http://127.0.0.1:${server.port}` }, '{}');
    expect(same.status).toBe(200);
  });

  it('refuses Host headers of other names or ports (DNS rebinding)', async () => {
    const auth = { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' };
    for (const host of ['evil.example:' + server.port, `127.0.0.1:${server.port + 1}`, '127.0.0.1', `user@127.0.0.1:${server.port}`]) {
      const r = await raw(server.port, 'POST', '/api/call/getSettings', { ...auth, Host: host }, '{}');
      expect(r.status, host).toBe(421);
      expect(json(r).fix).toContain(`http://127.0.0.1:${server.port}/`);
      expect((await raw(server.port, 'GET', '/', { Host: host })).status).toBe(421);
    }
    for (const host of [`localhost:${server.port}`, `[::1]:${server.port}`, `LOCALHOST:${server.port}`]) {
      expect((await raw(server.port, 'POST', '/api/call/getSettings', { ...auth, Host: host }, '{}')).status, host).toBe(200);
    }
  });

  it('caps the request body (413) and wants JSON', async () => {
    const err = (await api.call('consoleCell', { run_id: 'r', sample_id: 's', code: 'x'.repeat(100_000) }).catch((e: unknown) => e)) as WorkbenchError;
    expect(err.status).toBe(413);
    expect(err.message).toContain('larger than 65536 bytes');
    // Chunked (no Content-Length) is counted as it arrives.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/api/call/getSettings', headers: { Host: `127.0.0.1:${server.port}`, Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('x'.repeat(8192));
      req.end();
    });
    expect(chunked).toBe(413);
    const notJson = await raw(server.port, 'POST', '/api/call/getSettings', { Authorization: `Bearer ${server.token}`, 'Content-Type': 'text/plain' }, '{}');
    expect(notJson.status).toBe(415);
    const broken = await raw(server.port, 'POST', '/api/call/getSettings', { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' }, '{"a":');
    expect([broken.status, json(broken).error]).toEqual([400, expect.stringMatching(/^the request body is not valid JSON/)]);
  });

  it('serves the renderer without a token, with the CSP, and nothing outside it', async () => {
    const index = await raw(server.port, 'GET', '/');
    expect(index.status).toBe(200);
    expect(index.body.toString()).toContain('SpatialClaw Workbench');
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    const csp = String(index.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${server.port}`);
    expect(csp).toContain("frame-ancestors 'none'");
    const js = await raw(server.port, 'GET', '/assets/app.js');
    expect([js.status, js.headers['content-type']]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect((await raw(server.port, 'HEAD', '/assets/app.js')).body.length).toBe(0);
    for (const p of ['/assets/', '/assets', '/%2e%2e/secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/..%2fsecret.txt', '/assets/link.js', '/missing.html', '/.hidden']) {
      const r = await raw(server.port, 'GET', p);
      expect(r.status, p).toBe(404);
      expect(r.body.toString(), p).not.toContain('do not serve');
    }
    expect((await raw(server.port, 'POST', '/index.html', {}, '')).status).toBe(405);
  });

  it('delivers host events over the authenticated WebSocket and drops invalid ones', async () => {
    const got: HostEvent[] = [];
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const off = api.subscribe((e) => got.push(e));
    await until(() => api.eventsConnected && server.eventClients === 1);
    events.emit({ type: 'progress', task: 'perception', message: 'starting', done: false });
    events.emit({ type: 'progress', task: 'bad' }); // not a HostEvent
    events.emit({ type: 'counters', run_id: 'r', sample_id: 's', prompt_tokens: 10, completion_tokens: 2, elapsed_s: 1.5 });
    await until(() => got.length === 2);
    expect(got.map((e) => e.type)).toEqual(['progress', 'counters']);
    expect(warn.mock.calls.some((c) => String(c[0]).includes('does not match HostEventSchema'))).toBe(true);
    off();
    await until(() => server.eventClients === 0);
  });

  it('closes event sockets that send a wrong token or none in time (4401), and cross-origin upgrades', async () => {
    const closeCode = (ws: WebSocket): Promise<number> => new Promise((r) => ws.on('close', (code) => r(code)));
    const wrong = new WebSocket(`ws://127.0.0.1:${server.port}/api/events`);
    wrong.on('open', () => wrong.send(JSON.stringify({ type: 'auth', token: 'x'.repeat(64) })));
    const silent = new WebSocket(`ws://127.0.0.1:${server.port}/api/events`);
    expect(await closeCode(wrong)).toBe(4401);
    expect(await closeCode(silent)).toBe(4401);
    const refused = (headers: Record<string, string>, path = '/api/events'): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}`, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
        ws.on('error', () => undefined);
      });
    expect(await refused({ Origin: 'http://evil.example' })).toBe(403);
    expect(await refused({ Host: 'rebind.example:' + server.port })).toBe(421);
    expect(await refused({}, '/api/other')).toBe(404);
  });
});

describe('events socket reconnects', () => {
  it('resubscribes after the server restarts on the same port', async () => {
    const events = new Events();
    const opts: WorkbenchServerOptions = { handlers: handlerTable({}), onEvent: events.onEvent, staticDir: null, log: () => undefined };
    let server = await startWorkbenchServer(opts);
    const api = createHttpApi({ baseUrl: server.url, token: server.token, WebSocket: WebSocket as never, reconnect: { initialMs: 50, maxMs: 200 } });
    const got: HostEvent[] = [];
    api.subscribe((e) => got.push(e));
    try {
      await until(() => server.eventClients === 1);
      await server.close();
      await until(() => !api.eventsConnected);
      server = await startWorkbenchServer({ ...opts, port: server.port, token: server.token });
      await until(() => server.eventClients === 1);
      events.emit({ type: 'progress', task: 'replay', message: 'kernel ready', done: true });
      await until(() => got.length === 1);
      expect(got[0]).toEqual({ type: 'progress', task: 'replay', message: 'kernel ready', done: true });
    } finally {
      api.close();
      await server.close();
    }
  });

  it('fails the call with a clear error when the host is gone', async () => {
    const server = await startWorkbenchServer({ handlers: handlerTable({}), staticDir: null, log: () => undefined });
    const api = createHttpApi({ baseUrl: server.url, token: server.token });
    await server.close();
    const err = (await api.call('getSettings', {}).catch((e: unknown) => e)) as WorkbenchError;
    expect(err).toBeInstanceOf(WorkbenchError);
    expect(err.status).toBeNull();
    expect(err.message).toContain(`cannot reach the SpatialClaw host at ${server.url}`);
    expect(err.fix).toContain('spatialclaw serve');
  });
});

describe('Electron IPC transport (the preload, generic over METHODS)', () => {
  type ElectronApi = HttpWorkbenchApi & { onMenu: unknown };
  let api: ElectronApi;
  const fails = (p: Promise<unknown>): Promise<Error & { fix: string | null; method: string | null; status: number | null }> =>
    p.then(
      () => {
        throw new Error('expected a failure');
      },
      (e: unknown) => e as never,
    );

  beforeAll(async () => {
    ipc.handlers = handlers;
    await import('../../electron/preload/index.ts');
    api = (globalThis as unknown as { spatialclaw: ElectronApi }).spatialclaw;
  });

  it('installs a read-only window.spatialclaw', () => {
    expect(api.transport).toBe('electron');
    expect(Object.isFrozen(api)).toBe(true);
    expect(() => {
      (globalThis as Record<string, unknown>).spatialclaw = {};
    }).toThrow();
    expect(typeof api.onMenu).toBe('function');
  });

  it('round-trips JSON and binary results over wb:<method>', async () => {
    expect(await api.call('getSettings', {})).toEqual({ pool_size: 3, memory_gib: 16, kernel_idle_max_mb: 512, cell_timeout_s: 600, max_steps: 30 });
    expect(ipc.invoked.at(-1)).toBe('wb:getSettings');
    await api.call('listSamples', { run_id: 'run-2' });
    expect(seen.at(-1)).toEqual({ run_id: 'run-2', offset: 0, limit: 200, sort: 'index' });
    const bytes = await api.call('frameImage', { input: { kind: 'images', path: '/data/frames' }, frame_index: 3, max_edge: 64 });
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...bytes]).toEqual([...JPEG]);
  });

  it('rejects with an Error that keeps message, fix, method and status', async () => {
    const bad = await fails(api.call('listSamples', { run_id: '../etc' } as never));
    expect(bad).toBeInstanceOf(Error);
    expect(bad.name).toBe('WorkbenchError');
    expect(bad.message).toContain('run_id: a run id is a folder name under the runs root');
    expect([bad.status, bad.method]).toEqual([400, 'listSamples']);
    expect(bad.fix).toContain('run_id');
    const user = await fails(api.call('getRun', { run_id: 'gone' }));
    expect([user.message, user.fix, user.status]).toEqual(['no run named gone', 'pick a run from the Runs list', 404]);
    const internal = await fails(api.call('listRuns', {}));
    expect(internal.status).toBe(500);
    expect(internal.message).not.toContain('id_rsa');
    expect(ipc.log.some((l) => l.includes('id_rsa'))).toBe(true);
    const contract = await fails(api.call('listModels', {}));
    expect(contract.message).toMatch(/^the host's reply to listModels does not match the contract/);
    const unknown = await fails(api.call('dropTables' as never, {} as never));
    expect([unknown.status, unknown.fix?.includes('listRuns')]).toEqual([404, true]);
  });

  it('delivers wb:event HostEvents to subscribers, drops invalid ones, and unsubscribes', () => {
    const got: HostEvent[] = [];
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const off = api.subscribe((e) => got.push(e));
    const send = (payload: unknown): void => ipc.channels.get('wb:event')?.forEach((h) => h({}, payload));
    send({ type: 'progress', task: 'kernel', message: 'warm', done: true });
    send({ type: 'counters', run_id: 'r' });
    expect(got).toEqual([{ type: 'progress', task: 'kernel', message: 'warm', done: true }]);
    expect(warn).toHaveBeenCalledOnce();
    off();
    send({ type: 'progress', task: 'kernel', message: 'again', done: true });
    expect(got).toHaveLength(1);
  });

  it('opens the native dialog for pickPaths', async () => {
    expect(await api.pickPaths({ kind: 'file', filters: [{ name: 'Videos', extensions: ['mp4'] }] })).toEqual(['/data/room.mp4']);
    expect(ipc.invoked.at(-1)).toBe('wb:pickPaths');
  });
});
