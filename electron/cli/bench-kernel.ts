/**
 * `spatialclaw kernel bench` (`npm run bench:kernel`): p50/p90 of the kernel runtime's hot paths.
 * - `1+1` round trip on a server with TCP_NODELAY on kernel websockets vs one without (ratio);
 * - the host's per-step overhead for a trivial cell (safety check + execute + variable summary + observation);
 * - a warm pool acquire; a cold kernel start (start + runtime import);
 * - the OS sandbox's cost (docs/security.md): round trip, per-step overhead and cold start of an unsandboxed kernel
 *   (`--sandbox off`) against the sandboxed ones above, where bubblewrap works here.
 * Baselines run in the same process, so compare the ratios; the machine is noisy.
 */
import type { Kernel } from '@jupyterlab/services';
import { resolvePython, runPython } from '../services/python.ts';
import { buildObservation } from '../services/kernel/observation.ts';
import { KernelPool } from '../services/kernel/pool.ts';
import { KernelRuntime } from '../services/kernel/runtime.ts';
import { detectSandbox } from '../services/kernel/sandbox.ts';
import { KernelSession, startInitialisedKernel } from '../services/kernel/session.ts';

export interface Stat {
  name: string;
  n: number;
  p50: number;
  p90: number;
  target?: number;
}

/** Nearest-rank percentile of `xs` (milliseconds). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

function stat(name: string, xs: number[], target?: number): Stat {
  return { name, n: xs.length, p50: percentile(xs, 50), p90: percentile(xs, 90), ...(target ? { target } : {}) };
}

async function roundTrips(kernel: Kernel.IKernelConnection, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n + 10; i++) {
    const t = performance.now();
    await kernel.requestExecute({ code: '1+1', store_history: false }).done;
    if (i >= 10) out.push(performance.now() - t); // first 10 are warm-up
  }
  return out;
}

/** The host's per-step overhead for `x = i` (safety check, execute, variable summary, observation); shuts `kernel` down. */
async function stepOverhead(rt: KernelRuntime, kernel: Kernel.IKernelConnection, n: number): Promise<number[]> {
  const session = await KernelSession.open({ manager: rt.manager, kernel, safety: rt.safety });
  await session.prepare({ inputs: [], scratchDir: rt.newScratchDir() });
  const step: number[] = [];
  for (let i = 0; i < n + 10; i++) {
    const t = performance.now();
    const r = await session.execute(`x = ${i}`, { origin: 'agent' });
    buildObservation(r);
    if (r.status !== 'ok') throw new Error(`trivial cell failed: ${JSON.stringify(r.error ?? r.violations)}`);
    if (i >= 10) step.push(performance.now() - t);
  }
  await session.close(true);
  return step;
}

/** The kernel's own floor: `1+1` over ZMQ with jupyter_client, no websocket, no Node. */
const ZMQ_FLOOR = String.raw`
import json, sys, time
from jupyter_client.manager import start_new_kernel
n = int(sys.argv[1])
km, kc = start_new_kernel(kernel_name="python3")
try:
    ts = []
    for i in range(n + 10):
        t = time.perf_counter()
        kc.execute_interactive("1+1", store_history=False, timeout=30, output_hook=lambda m: None)
        ts.append((time.perf_counter() - t) * 1000)
    print(json.dumps(ts[10:]))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
`;

export async function benchKernel(opts: { iterations: number; coldStarts: number }): Promise<Stat[]> {
  const n = opts.iterations;
  const stats: Stat[] = [];
  const log = (s: string): void => void process.stderr.write(`[bench] ${s}\n`);

  log('round trip without TCP_NODELAY (baseline) ...');
  const slow = await KernelRuntime.start({ nodelay: false });
  let baseline: number[];
  try {
    const k = await startInitialisedKernel(slow.manager, slow.server.kernelName);
    baseline = await roundTrips(k, n);
    await k.shutdown();
  } finally {
    await slow.close();
  }

  log('kernel floor: 1+1 over ZMQ with jupyter_client ...');
  const floor = await runPython(resolvePython(), ['-c', ZMQ_FLOOR, String(n)], 300_000);
  const floorTimes = JSON.parse(floor.stdout.trim().split('\n').pop() ?? '[]') as number[];

  log('round trip with TCP_NODELAY, per-step overhead, pool, cold start ...');
  const rt = await KernelRuntime.start({ nodelay: true });
  try {
    const k = await startInitialisedKernel(rt.manager, rt.server.kernelName);
    const fast = await roundTrips(k, n);
    stats.push(stat('1+1 round trip, no TCP_NODELAY (baseline)', baseline));
    stats.push(stat('1+1 round trip, TCP_NODELAY', fast, 5));
    if (floorTimes.length) stats.push(stat('1+1 kernel floor: ZMQ direct, no websocket (reference)', floorTimes));

    stats.push(stat('per-step host overhead (x = i)', await stepOverhead(rt, k, n), 15));
    const sandboxed = rt.server.sandbox !== null;

    const pool = new KernelPool({ manager: rt.manager, kernelName: rt.server.kernelName, size: 1, idleTimeoutMs: 0 });
    const acquire: number[] = [];
    const rounds = Math.max(5, Math.min(20, Math.floor(n / 10)));
    for (let i = 0; i < rounds; i++) {
      await pool.fill();
      const t = performance.now();
      const kk = await pool.acquire();
      acquire.push(performance.now() - t);
      await pool.release(kk);
    }
    stats.push(stat('warm pool acquire', acquire, 30));
    await pool.close();

    const cold: number[] = [];
    const ready: number[] = [];
    for (let i = 0; i < opts.coldStarts; i++) {
      let t = performance.now();
      const kk = await startInitialisedKernel(rt.manager, rt.server.kernelName, 60_000, false);
      cold.push(performance.now() - t);
      await kk.shutdown();
      t = performance.now();
      const kd = await startInitialisedKernel(rt.manager, rt.server.kernelName, 60_000, true);
      ready.push(performance.now() - t);
      await kd.shutdown();
    }
    stats.push(stat('cold kernel start (+ full runtime import)', cold));
    stats.push(stat('cold kernel start, deferred init (ready to prepare)', ready));
    if (sandboxed) stats.push(...(await unsandboxedBaseline(n, opts.coldStarts, log)));
    else log(`no sandbox here (${JSON.stringify(detectSandbox())}): every kernel above ran unsandboxed; no sandbox comparison`);
  } finally {
    await rt.close();
  }
  return stats;
}

/** The same measures on a server whose kernels are not sandboxed (`--sandbox off`): the sandbox's cost. */
async function unsandboxedBaseline(n: number, coldStarts: number, log: (s: string) => void): Promise<Stat[]> {
  log('the same, unsandboxed (the sandbox\'s cost) ...');
  const rt = await KernelRuntime.start({ nodelay: true, sandbox: 'off', onWarning: () => undefined });
  try {
    const k = await startInitialisedKernel(rt.manager, rt.server.kernelName);
    const trips = await roundTrips(k, n);
    const step = await stepOverhead(rt, k, n);
    const cold: number[] = [];
    for (let i = 0; i < coldStarts; i++) {
      const t = performance.now();
      const kk = await startInitialisedKernel(rt.manager, rt.server.kernelName, 60_000, false);
      cold.push(performance.now() - t);
      await kk.shutdown();
    }
    return [
      stat('1+1 round trip, TCP_NODELAY, unsandboxed (sandbox baseline)', trips),
      stat('per-step host overhead (x = i), unsandboxed (sandbox baseline)', step),
      stat('cold kernel start (+ full runtime import), unsandboxed (sandbox baseline)', cold),
    ];
  } finally {
    await rt.close();
  }
}

/** Markdown table for docs/benchmarks.md. */
export function formatBench(stats: Stat[]): string {
  const base = stats.find((s) => s.name.includes('(baseline)'));
  const unsandboxed = (name: string): Stat | undefined => stats.find((s) => s.name === `${name}, unsandboxed (sandbox baseline)`);
  const rows = stats.map((s) => {
    const plain = unsandboxed(s.name) ?? (s.name === '1+1 round trip, TCP_NODELAY' ? unsandboxed('1+1 round trip, TCP_NODELAY') : undefined);
    const ratio = (base && s !== base && s.name.startsWith('1+1') && !s.name.includes('sandbox baseline') ? ` (${(base.p50 / s.p50).toFixed(1)}x faster than baseline)` : '')
      + (plain ? ` (sandboxed: ${(s.p50 / plain.p50).toFixed(2)}x the unsandboxed p50)` : '');
    const target = s.target ? `≤ ${s.target} ms: ${s.p50 <= s.target ? 'met' : 'MISSED'}` : '';
    return `| ${s.name} | ${s.n} | ${s.p50.toFixed(2)} | ${s.p90.toFixed(2)} | ${target}${ratio} |`;
  });
  return ['| measure | n | p50 ms | p90 ms | target (p50) |', '|---|---|---|---|---|', ...rows].join('\n');
}
