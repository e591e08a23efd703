/**
 * Kernels reused between samples (KernelPool, docs/kernel-protocol.md "Release (pool)"): a clean sample's
 * kernel is reset in place and reused without leaking variables, functions, files or module state; a
 * sample that changed the interpreter (a monkeypatch, an environment variable, a new module) gets its
 * kernel replaced; and work starts as soon as one kernel is ready.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelRuntime } from '../../electron/services/kernel/runtime.ts';
import type { KernelSession } from '../../electron/services/kernel/session.ts';

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
      expect(await ok(a, "import os\nprint((os.path.exists('leak.txt'), os.getcwd()))", 'human')).toBe(`(True, '${dirA}')`);
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
      expect(await ok(b, "import os\nprint((os.getcwd(), os.path.exists('leak.txt'), sorted(os.listdir('.'))))", 'human')).toBe(`('${dirB}', False, [])`);
      // The pre-loaded modules are intact.
      expect(await ok(b, 'print((float(np.linalg.norm(np.array([3.0, 4.0]))), math.pi, callable(show), plt.get_backend().lower()))')).toBe(
        "(5.0, 3.141592653589793, True, 'agg')",
      );
    } finally {
      await rt.closeSession(b);
    }
  });

  it.each([
    ['math.pi = 3', 'agent', 'math.pi was rebound'],
    ['np.linalg.norm = len', 'agent', 'numpy.linalg.norm was rebound'],
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
