/**
 * Where a cold start goes, step by step, on the critical path from "the CLI starts" to "the first model call can be
 * sent" (issue 14), measured in this process with the real services: the Jupyter server's start (spawn until `/api`
 * answers), the kernel's start (`POST /api/kernels` and the websocket until `kernel_info`), the runtime's init, the
 * sample's `prepare` (one image), its key frames for the first message, and the VLM bridge. The tool reference for the
 * system prompt (`python -m spatial_runtime.apidoc`) runs beside it and is timed on its own. Also `init_rest`, the
 * deferred half of the init, which runs while the first model call is in flight.
 *
 * Two variants, interleaved run by run so machine noise hits both: `before`, the server importing jsonschema's optional
 * `rfc3987_syntax` (SPATIALCLAW_FAST_SERVER_START=0) and the full init; `after`, the fast server start and the
 * deferred init (the defaults).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelManager } from '@jupyterlab/services';
import { JupyterServer } from '../../electron/services/jupyter/server.ts';
import { VlmBridge } from '../../electron/services/kernel/bridge.ts';
import { finishWarmUp, initKernel, KernelSession } from '../../electron/services/kernel/session.ts';
import { SafetyChecker } from '../../electron/services/kernel/safety.ts';
import { resolvePython, runPython } from '../../electron/services/python.ts';

export const COLD_STEPS = ['jupyter server', 'kernel start', 'runtime init', 'prepare (1 image)', 'key frames', 'VLM bridge'] as const;
export type ColdStep = (typeof COLD_STEPS)[number];

export interface ColdRun {
  steps: Record<ColdStep, number>;
  /** Sum of the steps: ready to send the first model call, ms. */
  total: number;
  /** The deferred init's second half (after only), ms; overlaps the model call. */
  initRest: number | null;
}

export interface ColdStart {
  runs: number;
  before: ColdRun[];
  after: ColdRun[];
  /** The tool reference's own time, ms (both variants alike: off the critical path since the CLI starts it first). */
  apidoc: number[];
}

async function once(image: string, variant: 'before' | 'after'): Promise<ColdRun> {
  const steps = {} as Record<ColdStep, number>;
  let t = performance.now();
  const lap = (s: ColdStep): void => {
    const now = performance.now();
    steps[s] = now - t;
    t = now;
  };
  const server = await JupyterServer.startLocal(variant === 'before' ? { env: { SPATIALCLAW_FAST_SERVER_START: '0' } } : {});
  const scratch = mkdtempSync(join(tmpdir(), 'sc-cold-'));
  try {
    lap('jupyter server');
    const manager = new KernelManager({ serverSettings: server.settings });
    const kernel = await manager.startNew({ name: server.kernelName });
    await kernel.info;
    lap('kernel start');
    await initKernel(kernel, 60_000, variant === 'after');
    lap('runtime init');
    const session = await KernelSession.open({ manager, kernelName: server.kernelName, safety: new SafetyChecker(), kernel });
    await session.prepare({ inputs: [{ kind: 'images', path: image }], scratchDir: scratch });
    lap('prepare (1 image)');
    await session.keyFrames(8, 1024);
    lap('key frames');
    const bridge = new VlmBridge({ ask: async () => ({ text: '' }), locate: async () => ({ points: [], text: '' }) });
    await bridge.start();
    lap('VLM bridge');
    await bridge.stop();
    let initRest: number | null = null;
    if (variant === 'after') {
      const r0 = performance.now();
      await finishWarmUp(kernel);
      initRest = performance.now() - r0;
    }
    await kernel.shutdown();
    manager.dispose(); // its polling timer would keep the bench process alive
    return { steps, total: COLD_STEPS.reduce((a, s) => a + steps[s], 0), initRest };
  } finally {
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** `runs` cold starts of each variant, interleaved, after one warm-up of each (file caches). */
export async function benchColdStart(image: string, runs: number, log: (s: string) => void = () => undefined): Promise<ColdStart> {
  // @jupyterlab/services logs each websocket and kernel death on stdout, where the bench prints its tables.
  const quiet = console.log;
  console.log = () => undefined;
  try {
    return await coldStarts(image, runs, log);
  } finally {
    console.log = quiet;
  }
}

async function coldStarts(image: string, runs: number, log: (s: string) => void): Promise<ColdStart> {
  const out: ColdStart = { runs, before: [], after: [], apidoc: [] };
  await once(image, 'before');
  await once(image, 'after');
  for (let i = 0; i < runs; i++) {
    out.before.push(await once(image, 'before'));
    out.after.push(await once(image, 'after'));
    const t = performance.now();
    const r = await runPython(resolvePython(), ['-m', 'spatial_runtime.apidoc'], 120_000);
    if (r.code !== 0) throw new Error(`apidoc failed: ${r.stderr.slice(-300)}`);
    out.apidoc.push(performance.now() - t);
    log(`  cold start ${i + 1}/${runs}: before ${out.before.at(-1)!.total.toFixed(0)} ms, after ${out.after.at(-1)!.total.toFixed(0)} ms`);
  }
  return out;
}
