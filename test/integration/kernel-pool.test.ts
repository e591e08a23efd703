import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelHostPid } from '../helpers/process.ts';
import { KernelPool } from '../../electron/services/kernel/pool.ts';
import { KernelRuntime } from '../../electron/services/kernel/runtime.ts';
import { executeCell } from '../../electron/services/jupyter/execute.ts';
import { startInitialisedKernel } from '../../electron/services/kernel/session.ts';

describe('KernelPool', () => {
  let rt: KernelRuntime;
  beforeAll(async () => {
    rt = await KernelRuntime.start();
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('hands out warm kernels with the runtime loaded, resets them in place on release, and reuses them', async () => {
    const pool = new KernelPool({ manager: rt.manager, kernelName: rt.server.kernelName, size: 1, idleTimeoutMs: 0 });
    try {
      await pool.fill();
      expect(pool.stats()).toMatchObject({ warm: 1, inUse: 0, started: 1 });
      const k = await pool.acquire();
      expect(pool.stats().inUse).toBe(1);
      const r = await executeCell(k, 'secret = 7\n"show" in dir() and "np" in dir()', 30_000);
      expect(r.result).toBe('True');
      await pool.fill(); // size 1 is owned (in use): nothing more starts
      expect(pool.stats()).toMatchObject({ warm: 0, starting: 0, started: 1 });
      const next = pool.acquire(); // waits for the release
      await pool.release(k); // reset in place, handed to the waiter
      const again = await next;
      expect(again.id).toBe(k.id);
      expect(pool.stats()).toMatchObject({ started: 1, reused: 1, restartedTainted: 0 });
      const names = await executeCell(again, '"secret" in dir(), "np" in dir()', 30_000);
      expect(names.result).toBe('(False, True)');
      await pool.release(again);
      expect(pool.stats()).toMatchObject({ warm: 1, inUse: 0 });
    } finally {
      await pool.close();
    }
  });

  it('close({ kill }) kills each kernel\'s current process, found by its connection file (also after a restart)', async () => {
    const pool = new KernelPool({ manager: rt.manager, kernelName: rt.server.kernelName, size: 2, idleTimeoutMs: 0 });
    await pool.fill();
    const a = await pool.acquire();
    const b = await pool.acquire();
    const pa = kernelHostPid(a.id);
    const pb = kernelHostPid(b.id);
    expect(readFileSync(`/proc/${pa}/cmdline`, 'utf8')).toContain('spatial_runtime.kernel_launch');
    expect(pb).not.toBe(pa);
    // b's process is replaced behind the pool's back (a server restart): the pid its init reported is stale now.
    await b.restart();
    await expect.poll(() => existsSync(`/proc/${pb}`), { timeout: 20_000 }).toBe(false);
    // The restarted kernel's process (a sandboxed one is up a moment after the restart returns).
    await expect.poll(() => { try { return kernelHostPid(b.id) !== pb; } catch { return false; } }, { timeout: 20_000 }).toBe(true);
    const pb2 = kernelHostPid(b.id);
    await pool.close({ kill: true });
    await expect.poll(() => existsSync(`/proc/${pa}`) || existsSync(`/proc/${pb2}`), { timeout: 5_000, interval: 50 }).toBe(false);
  });

  it('replaces a warm kernel that dies', async () => {
    const pool = new KernelPool({ manager: rt.manager, kernelName: rt.server.kernelName, size: 1, idleTimeoutMs: 0 });
    try {
      await pool.fill();
      // Kill the warm kernel process from outside.
      const victim = await pool.acquire();
      const pid = kernelHostPid(victim.id);
      await pool.release(victim);
      process.kill(pid, 'SIGKILL');
      await expect.poll(() => pool.stats().replacedDead, { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
      await pool.fill();
      const fresh = await pool.acquire();
      expect(kernelHostPid(fresh.id)).not.toBe(pid);
      await pool.release(fresh);
    } finally {
      await pool.close();
    }
  });

  it('culls warm kernels after the idle timeout', async () => {
    const pool = new KernelPool({ manager: rt.manager, kernelName: rt.server.kernelName, size: 1, minSize: 0, idleTimeoutMs: 300 });
    try {
      await pool.fill();
      expect(pool.stats().warm).toBe(1);
      await new Promise((r) => setTimeout(r, 400));
      await pool.cull();
      expect(pool.stats()).toMatchObject({ warm: 0, culled: 1 });
      const k = await pool.acquire(); // cold start still works
      expect((await executeCell(k, '1+1', 30_000)).result).toBe('2');
      await pool.release(k);
    } finally {
      await pool.close();
    }
  });
});

describe('a kernel that never answers', () => {
  let rt: KernelRuntime;
  const saved = process.env.JUPYTER_PATH;
  beforeAll(async () => {
    // A kernelspec whose process never opens its channels: the server starts it, its kernel_info never comes back.
    const path = mkdtempSync(join(tmpdir(), 'silent-kernel-'));
    mkdirSync(join(path, 'kernels', 'silent'), { recursive: true });
    writeFileSync(join(path, 'kernels', 'silent', 'kernel.json'), JSON.stringify({ argv: ['sleep', '600'], display_name: 'silent', language: 'python' }));
    process.env.JUPYTER_PATH = path;
    rt = await KernelRuntime.start();
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.JUPYTER_PATH;
    else process.env.JUPYTER_PATH = saved;
    await rt?.close();
  });

  it('fails its start with a message at the timeout (no endless wait on kernel_info) and is shut down', async () => {
    const t0 = Date.now();
    await expect(startInitialisedKernel(rt.manager, 'silent', 4000)).rejects.toThrow(
      /^could not start a kernel \(silent\): the kernel did not become idle within 4 s \(status \w+, connection \w+\); run `spatialclaw doctor`$/);
    expect(Date.now() - t0).toBeLessThan(20_000);
    await rt.manager.refreshRunning();
    expect([...rt.manager.running()]).toEqual([]);
  }, 60_000);
});
