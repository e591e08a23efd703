import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../electron/services/jupyter/server.ts';
import { PerceptionRouter, PerceptionServer, PerceptionServerError } from '../../electron/services/perception/server.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { alive } from '../helpers/process.ts';

describe('perception servers from the host (real uvicorn processes)', () => {
  let a: PerceptionServer;
  let b: PerceptionServer;
  beforeAll(async () => {
    [a, b] = await Promise.all([
      PerceptionServer.startLocal({ backends: ['rgbd', 'classical'] }),
      PerceptionServer.startLocal({ backends: ['classical'] }),
    ]);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('starts on 127.0.0.1, reports health and requires the token', async () => {
    expect(a.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const h = await a.health();
    expect(h.backends.map((x) => x.name).sort()).toEqual(['classical', 'rgbd']);
    expect((await fetch(`${a.url}/v1/backends`)).status).toBe(401);
    expect((await fetch(`${a.url}/v1/backends`, { headers: a.authHeaders() })).status).toBe(200);
    await expect(PerceptionServer.connect(a.url, 'wrong')).rejects.toThrow(/rejected the token/);
  });

  it('routes to a server that has the backend, and fails over when one goes away', async () => {
    const router = new PerceptionRouter([b, a], { backoffMs: 10 });
    expect((await router.pick('rgbd')).url).toBe(a.url);
    const ghost = PerceptionServer.reference(`http://127.0.0.1:${await freePort()}`, 't', 'ghost');
    const r2 = new PerceptionRouter([ghost, a], { backoffMs: 10 });
    const { server, response } = await r2.request('/v1/backends');
    expect(server.url).toBe(a.url);
    expect(response.status).toBe(200);
    // 4xx answers come back as they are (no retry, no failover).
    const bad = await r2.request('/v1/artifacts/not-an-id');
    expect(bad.response.status).toBeGreaterThanOrEqual(400);
    expect(bad.response.status).toBeLessThan(500);
    await expect(new PerceptionRouter([ghost], { backoffMs: 5, attempts: 2 }).request('/v1/backends')).rejects.toThrow(PerceptionServerError);
  });
});

describe('spatialclaw perception CLI', () => {
  it('starts a detached server, shows its status, and stops it', async () => {
    const env = { SPATIAL_PERCEPTION_TOKEN: 'cli-test-token-0123456789' };
    const start = await spatialclaw(['perception', 'start', '--detach', '--name', 'clitest', '--backends', 'rgbd'], env);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/perception server clitest ready at http:\/\/127\.0\.0\.1:\d+/);
    expect(start.stdout).not.toContain('cli-test-token');
    const pid = Number(/pid (\d+)/.exec(start.stdout)?.[1]);
    expect(alive(pid)).toBe(true);
    const status = await spatialclaw(['perception', 'status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/OK\s+clitest/);
    const noToken = await spatialclaw(['perception', 'status'], { SPATIAL_PERCEPTION_TOKEN: '' });
    expect(noToken.code).toBe(1);
    expect(noToken.stdout).toContain('set SPATIAL_PERCEPTION_TOKEN');
    const stop = await spatialclaw(['perception', 'stop', 'clitest'], env);
    expect(stop.code).toBe(0);
    await expect.poll(() => alive(pid), { timeout: 10_000 }).toBe(false);
  });

  it('routes a run to a live registered server when another registered one is down', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const home = mkdtempSync(join(tmpdir(), 'sc-home-'));
    const env = { SPATIALCLAW_HOME: home, SPATIAL_PERCEPTION_TOKEN: 'route-test-token-0123456789' };
    const start = await spatialclaw(['perception', 'start', '--detach', '--name', 'live', '--backends', 'rgbd'], env);
    expect(start.code, start.stderr).toBe(0);
    try {
      const add = await spatialclaw(['perception', 'add', 'ghost', `http://127.0.0.1:${await freePort()}`], env);
      expect(add.code).toBe(0);
      const status = await spatialclaw(['perception', 'status'], env);
      expect(status.code).toBe(1); // one server is down
      expect(status.stdout).toMatch(/OK\s+live/);
      expect(status.stdout).toMatch(/FAILED\s+ghost/);
      const cell = join(mkdtempSync(join(tmpdir(), 'cells-')), 'c.py');
      writeFileSync(cell, 'r = tools.Reconstruct.Reconstruct(InputImages[:2])\nprint(r.frame_indices)');
      const run = await spatialclaw(['kernel', 'run', '--input', join(ROOT, 'test', 'fixtures', 'rgbd_room'), '--perception', 'registered', cell], env);
      expect(run.code, run.stderr).toBe(0);
      expect((JSON.parse(run.stdout.trim()) as { stdout: string }).stdout).toBe('[0, 1]\n');
    } finally {
      await spatialclaw(['perception', 'stop', 'live'], env);
    }
  });

  it('runs kernel cells that call tools.Reconstruct through a local server', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'cells-'));
    const cell = join(dir, 'recon.py');
    writeFileSync(cell, [
      'recon = tools.Reconstruct.Reconstruct(InputImages)',
      'print(recon.frame_indices, recon.points[2].shape, recon.extrinsics[4].shape)',
    ].join('\n'));
    const r = await spatialclaw(['kernel', 'run', '--input', join(ROOT, 'test', 'fixtures', 'rgbd_room'), '--perception', 'local', cell]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const line = JSON.parse(r.stdout.trim().split('\n')[0]!) as { stdout: string; artifacts: { tool: string; kind: string }[] };
    expect(line.stdout).toContain('[0, 1, 2, 3, 4] (480, 640, 3) (4, 4)');
    expect(line.artifacts[0]).toMatchObject({ tool: 'Reconstruct', kind: 'reconstruction' });
  });
});
