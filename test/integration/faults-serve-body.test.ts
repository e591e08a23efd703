/**
 * `spatialclaw serve` (the real process, through the bin launcher) refusing request bodies over its cap: an
 * over-cap POST gets a clean 413 JSON answer, and the server logs one clear line for it. A body so large that the
 * server stops reading it (more than 64 MiB past the 4 MiB cap) used to log a TypeError ("Cannot read properties
 * of null (reading 'destroy')") instead.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';

const MiB = 1024 * 1024;

/**
 * POST `bytes` bytes of JSON (`{}` and spaces) to a workbench method, streamed in 1 MiB writes; the status and
 * body, or the client error.
 */
function post(serve: Serve, bytes: number, chunked: boolean): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = {
      Host: `127.0.0.1:${serve.port}`,
      Authorization: `Bearer ${serve.token}`,
      'Content-Type': 'application/json',
      ...(chunked ? { 'Transfer-Encoding': 'chunked' } : { 'Content-Length': bytes }),
    };
    const req = request({ host: '127.0.0.1', port: serve.port, method: 'POST', path: '/api/call/getSettings', headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('error', (e) => resolve({ error: e.message }));
    const chunk = Buffer.alloc(MiB, 0x20);
    chunk.write('{}');
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes) {
        const n = Math.min(chunk.length, bytes - sent);
        const part = sent === 0 ? chunk.subarray(0, n) : Buffer.alloc(n, 0x20);
        sent += n;
        if (!req.write(part)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** Wait until `cond` holds (the server's stderr arrives a little after the response), at most `ms`. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

describe('spatialclaw serve: the request body cap', () => {
  let tmp: string;
  let serve: Serve;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'sc-serve-cap-'));
    serve = await startServe(['--runs', tmp], { SPATIALCLAW_HOME: join(tmp, 'home') });
  });
  afterAll(async () => {
    await stopServe(serve);
    rmSync(tmp, { recursive: true, force: true });
  });

  const refusals = (): string[] => serve.stderr().split('\n').filter((l) => /refused POST \/api\/call\/"getSettings" with 413/.test(l));

  for (const [what, bytes, chunked, cut] of [
    ['just over the cap', 5 * MiB, false, false],
    ['chunked, just over the cap', 5 * MiB, true, false],
    ['too large to drain', 70 * MiB, false, true],
    ['chunked, too large to drain', 70 * MiB, true, true],
  ] as const) {
    it(`answers 413 and logs one line, no TypeError: ${what}`, async () => {
      const before = refusals().length;
      const r = await post(serve, bytes, chunked);
      expect(r).toMatchObject({ status: 413 });
      if ('body' in r) expect(JSON.parse(r.body)).toMatchObject({ error: 'the request body is larger than 4194304 bytes' });
      await until(() => refusals().length > before);
      const lines = refusals().slice(before);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('the request body is larger than 4194304 bytes');
      if (cut) expect(lines[0]).toContain('answered at once, the connection closed');
      expect(serve.stderr()).not.toMatch(/TypeError|request failed/);
      // The server still answers.
      expect(await post(serve, 2, false)).toMatchObject({ status: 200 });
    });
  }
});
