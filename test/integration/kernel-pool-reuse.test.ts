/**
 * Kernels reused between samples (KernelPool, docs/kernel-protocol.md "Release (pool)"): a clean sample's
 * kernel is reset in place and reused without leaking variables, functions, files or module state; a
 * sample that changed the interpreter (a monkeypatch, an environment variable, a new module) gets its
 * kernel replaced; a kernel that keeps more resident memory after its reset than the bound
 * (`kernel_idle_max_mb`) is replaced too; and work starts as soon as one kernel is ready.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../shared/defaults.ts';
import { KernelPool } from '../../electron/services/kernel/pool.ts';
import { KernelRuntime } from '../../electron/services/kernel/runtime.ts';
import { KernelSession } from '../../electron/services/kernel/session.ts';

async function ok(s: KernelSession, code: string, origin: 'agent' | 'human' = 'agent'): Promise<string | null> {
  const r = await s.execute(code, { origin, timeoutS: 60 });
  expect(r.status, `${code}\n${r.error?.evalue ?? ''}${r.violations.map((v) => v.message).join('; ')}`).toBe('ok');
  return r.stdout.trim();
}

describe('KernelPool reuse', () => {
  let rt: KernelRuntime;
  beforeAll(async () => {
    rt = await KernelRuntime.start({ poolSize: 1 });
    await rt.pool!.fill();
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('reuses a clean kernel and leaks no variable, function, file or module state into the next sample', async () => {
    const pool = rt.pool!;
    const before = pool.stats();
    const a = await rt.openSession();
    const dirA = rt.newScratchDir();
    try {
      await a.prepare({ inputs: [], scratchDir: dirA });
      await ok(a, 'secret = 41\ndef helper(x):\n    return x + 1\nimport json\nimport statistics\nsecret = helper(secret)');
      await ok(a, "with open('leak.txt', 'w') as f:\n    f.write('from sample A')", 'human');
      // A sandboxed kernel works in its own /scratch (emptied for the next sample), an unsandboxed one in the dir given.
      expect(await ok(a, "import os\nprint((os.path.exists('leak.txt'), os.getcwd()))", 'human')).toBe(`(True, '${a.sandboxed ? '/scratch' : dirA}')`);
    } finally {
      await rt.closeSession(a);
    }
    const idA = a.id;
    expect(pool.stats().restartedTainted).toBe(before.restartedTainted);

    const b = await rt.openSession();
    try {
      expect(b.id).toBe(idA); // the same kernel, reset in place
      expect(pool.stats().reused).toBe(before.reused + 1);
      const dirB = rt.newScratchDir();
      await b.prepare({ inputs: [], scratchDir: dirB });
      expect(await ok(b, "print(('secret' in dir(), 'helper' in dir(), 'json' in dir(), 'statistics' in dir()))")).toBe('(False, False, False, False)');
      expect(await ok(b, "import os\nprint((os.getcwd(), os.path.exists('leak.txt'), sorted(os.listdir('.'))))", 'human')).toBe(`('${b.sandboxed ? '/scratch' : dirB}', False, [])`);
      // The pre-loaded modules are intact.
      expect(await ok(b, 'print((float(np.linalg.norm(np.array([3.0, 4.0]))), math.pi, callable(show), plt.get_backend().lower()))')).toBe(
        "(5.0, 3.141592653589793, True, 'agg')",
      );
    } finally {
      await rt.closeSession(b);
    }
  });

  it.each([
    // Rebound module attributes (math.pi = 3, np.linalg.norm = len) are put back by the reset instead
    // (reset_guard.restore_attributes): test/integration/faults-kernel.test.ts.
    ["import os\nos.environ['SPATIALCLAW_LEAK'] = '1'", 'human', 'environment variables changed: SPATIALCLAW_LEAK'],
    ['import wave', 'agent', 'modules imported since warm-up: wave'],
  ] as const)('replaces a kernel whose sample ran %j', async (code, origin, reason) => {
    const pool = rt.pool!;
    const before = pool.stats();
    const a = await rt.openSession();
    try {
      await a.prepare({ inputs: [], scratchDir: rt.newScratchDir() });
      await ok(a, code, origin);
    } finally {
      await rt.closeSession(a);
    }
    const idA = a.id;
    expect(pool.stats().restartedTainted).toBe(before.restartedTainted + 1);
    expect(pool.lastTaint.join('; ')).toContain(reason);

    const b = await rt.openSession(); // waits for the replacement kernel
    try {
      expect(b.id).not.toBe(idA);
      await b.prepare({ inputs: [], scratchDir: rt.newScratchDir() });
      expect(await ok(b, 'print((float(np.linalg.norm(np.array([3.0, 4.0]))), math.pi))')).toBe('(5.0, 3.141592653589793)');
      expect(await ok(b, "import os, sys\nprint((os.environ.get('SPATIALCLAW_LEAK'), 'wave' in sys.modules))", 'human')).toBe('(None, False)');
    } finally {
      await rt.closeSession(b);
    }
    expect(pool.stats().restartedTainted).toBe(before.restartedTainted + 1); // the fresh kernel was clean
  });
});

describe('KernelPool idle memory bound', () => {
  // One Jupyter server; each test builds its own pool on it, with the bound under test.
  let rt: KernelRuntime;
  const pools: KernelPool[] = [];
  beforeAll(async () => {
    rt = await KernelRuntime.start({ poolSize: 0 });
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await rt?.close();
  });

  async function newPool(idleMaxMib?: number): Promise<KernelPool> {
    const pool = new KernelPool({ manager: rt.manager, kernelName: rt.server.kernelName, size: 1, ...(idleMaxMib !== undefined ? { idleMaxMib } : {}) });
    pools.push(pool);
    await pool.fill();
    return pool;
  }

  /** One sample on a pooled kernel: acquire, prepare, run `code` (a console cell), release. @returns the kernel id. */
  async function sample(pool: KernelPool, code: string): Promise<string> {
    const kernel = await pool.acquire();
    const s = await KernelSession.open({ manager: rt.manager, kernelName: rt.server.kernelName, safety: rt.safety, kernel });
    try {
      await s.prepare({ inputs: [], scratchDir: rt.newScratchDir() });
      await ok(s, code, 'human');
    } finally {
      await s.close(false);
      await pool.release(kernel);
    }
    return kernel.id;
  }

  it('with no bound (0) reuses the kernel and reports its resident memory after the reset', async () => {
    const pool = await newPool(0);
    // Measured once the warm kernel (nobody waiting for it) has finished its deferred init, in the background.
    for (let i = 0; i < 400 && pool.stats().idleRssMib.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const fresh = pool.stats().idleRssMib;
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!).toBeGreaterThan(50); // Python + NumPy + SciPy + matplotlib + PyAV: ~200 MiB
    const idA = await sample(pool, 'x = np.ones(8_000_000)');
    const after = pool.stats();
    expect(after).toMatchObject({ warm: 1, restartedMemory: 0, restartedTainted: 0 });
    expect(after.idleRssMib).toHaveLength(1);
    expect(after.idleRssMib[0]!).toBeGreaterThan(50);
    expect(await sample(pool, 'pass')).toBe(idA);
    expect(pool.stats()).toMatchObject({ reused: 1, restartedMemory: 0 });
  });

  it('replaces a released kernel whose resident memory after the reset exceeds the bound', async () => {
    const pool = await newPool(1); // every kernel exceeds 1 MiB
    const idA = await sample(pool, 'x = 1');
    expect(pool.stats()).toMatchObject({ restartedMemory: 1, restartedTainted: 0, reused: 0 });
    expect(pool.lastTaint).toHaveLength(1);
    expect(pool.lastTaint[0]).toMatch(/^resident memory \d+ MiB after reset exceeds kernel_idle_max_mb 1$/);
    const idB = await sample(pool, 'x = 2'); // waits for the replacement kernel
    expect(idB).not.toBe(idA);
    expect(pool.stats()).toMatchObject({ restartedMemory: 2, reused: 0 });
  });

  it(`under the default bound (${DEFAULTS.kernelIdleMaxMb} MiB) reuses a clean kernel but replaces one that kept 768 MiB past the reset`, async () => {
    const pool = await newPool();
    const idA = await sample(pool, 'y = [np.ones(1000) for _ in range(20_000)]\nz = np.random.rand(50_000_000)');
    expect(pool.stats()).toMatchObject({ restartedMemory: 0, restartedTainted: 0 });
    expect(pool.stats().idleRssMib[0]!).toBeLessThan(DEFAULTS.kernelIdleMaxMb);
    // `sys` is kernel machinery the taint guard does not watch, so the array survives the reset untainted;
    // only its memory gives it away.
    const idB = await sample(pool, 'import sys\nsys.spatialclaw_leak = np.ones(96 * 2**20)');
    expect(idB).toBe(idA);
    expect(pool.stats()).toMatchObject({ reused: 1, restartedMemory: 1, restartedTainted: 0 });
    const mib = Number(/^resident memory (\d+) MiB after reset/.exec(pool.lastTaint[0] ?? '')?.[1]);
    expect(mib).toBeGreaterThan(768);
    expect(await sample(pool, 'pass')).not.toBe(idA); // the replacement
  });
});

describe('KernelPool start-up', () => {
  let rt: KernelRuntime;
  beforeAll(async () => {
    rt = await KernelRuntime.start({ poolSize: 3, poolStartConcurrency: 1 });
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('hands the first kernel out before the last one is warm, and never owns more than `size`', async () => {
    const pool = rt.pool!;
    let maxKernels = 0;
    let maxOwned = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await rt.manager.refreshRunning();
        maxKernels = Math.max(maxKernels, [...rt.manager.running()].length);
        const s = pool.stats();
        maxOwned = Math.max(maxOwned, s.warm + s.starting + s.inUse);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const t0 = Date.now();
    const ready: number[] = [];
    const kernels = await Promise.all([0, 1, 2].map(async (i) => {
      const k = await pool.acquire();
      ready[i] = Date.now() - t0;
      return k;
    }));
    sampling = false;
    await sampler;
    // Each kernel goes to the oldest waiter as soon as it is ready: the third acquire resolves when the
    // last kernel is warm, the first one well before.
    expect(ready[0]!).toBeLessThan(ready[1]!);
    expect(ready[1]!).toBeLessThan(ready[2]!);
    expect(ready[2]! - ready[0]!).toBeGreaterThan(500);
    expect(new Set(kernels.map((k) => k.id)).size).toBe(3);
    expect(maxKernels).toBeLessThanOrEqual(3);
    expect(maxOwned).toBeLessThanOrEqual(3);
    expect(pool.stats()).toMatchObject({ started: 3, inUse: 3, warm: 0, starting: 0, waiting: 0 });

    // A fourth acquire waits for a release (no fourth kernel), and gets the released kernel, reset.
    const fourth = pool.acquire();
    await new Promise((r) => setTimeout(r, 300));
    expect(pool.stats()).toMatchObject({ starting: 0, waiting: 1 });
    await pool.release(kernels[0]!);
    const k4 = await fourth;
    expect(k4.id).toBe(kernels[0]!.id);
    expect(pool.stats()).toMatchObject({ started: 3, reused: 1 });
    await Promise.all([k4, kernels[1]!, kernels[2]!].map((k) => pool.release(k)));
    expect(pool.stats()).toMatchObject({ warm: 3, inUse: 0 });
  });
});
