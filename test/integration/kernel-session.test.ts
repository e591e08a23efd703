import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CellResultSchema } from '../../shared/kernel.ts';
import { VlmBridge } from '../../electron/services/kernel/bridge.ts';
import { buildObservation } from '../../electron/services/kernel/observation.ts';
import { KernelRuntime } from '../../electron/services/kernel/runtime.ts';
import { KernelPrepareError, type KernelSession } from '../../electron/services/kernel/session.ts';
import { ROOT } from '../helpers/cli.ts';
import { alive, kernelHostPid } from '../helpers/process.ts';

const FX = join(ROOT, 'test', 'fixtures');


describe('KernelSession on a real Jupyter server', () => {
  let rt: KernelRuntime;
  let s: KernelSession;

  beforeAll(async () => {
    rt = await KernelRuntime.start({ kernelLimits: { memoryBytes: 8 * 1024 ** 3 } });
    s = await rt.openSession();
    const bound = await s.prepare({ inputs: [{ kind: 'rgbd_sample', path: join(FX, 'rgbd_room') }], scratchDir: rt.newScratchDir() });
    expect(bound).toContain('InputImages');
  });
  afterAll(async () => {
    await s?.close();
    await rt?.close();
  });

  it('binds the inputs with absolute frame indices and intrinsics', async () => {
    const r = await s.execute('print(len(InputImages), InputImages.frame_indices, Metadata.has_depth)\nMetadata.intrinsics["fx"]', { origin: 'agent' });
    expect(r.status).toBe('ok');
    expect(r.stdout).toBe('5 [0, 1, 2, 3, 4] True\n');
    expect(r.result).toBe('518.0');
    expect(CellResultSchema.parse(r)).toBeTruthy();
  });

  it('keeps state across cells and reports only new or changed variables', async () => {
    const a = await s.execute('import numpy as np\nd = InputImages[2].depth\nvalid = d[d > 0]\nn = 1', { origin: 'agent' });
    expect(a.status).toBe('ok');
    expect(a.variables.map((v) => v.name).sort()).toEqual(['d', 'n', 'valid']);
    expect(a.variables.find((v) => v.name === 'd')).toMatchObject({ type: 'ndarray', shape: [480, 640], dtype: 'float32' });
    const b = await s.execute('n = n + 1\nprint(round(float(np.median(valid)), 2))', { origin: 'agent' });
    expect(b.variables.map((v) => v.name)).toEqual(['n']);
    expect(Number(b.stdout)).toBeGreaterThan(1);
  });

  it('carries show() images and plt.show() figures as PNGs with labels', async () => {
    const r = await s.execute('show(InputImages[0], label="first frame")\nplt.plot([0, 1], [1, 0])\nplt.show()', { origin: 'agent' });
    expect(r.status).toBe('ok');
    expect(r.images.map((i) => [i.label, i.source])).toEqual([['first frame', 'show'], [null, 'plt']]);
    expect(r.images[0]).toMatchObject({ width: 640, height: 480 });
    expect(Buffer.from(r.images[0]!.png!, 'base64').subarray(1, 4).toString()).toBe('PNG');
    expect(r.stdout).toBe('');
    expect(buildObservation(r).text).toContain('Images attached (2): 1. first frame 640x480');
  });

  it('receives ReturnAnswer and rejects invalid answers clearly', async () => {
    const ok = await s.execute('ReturnAnswer(2.5)', { origin: 'agent' });
    expect(ok.answer).toEqual({ answer: 2.5, type: 'float' });
    const bad = await s.execute('ReturnAnswer(None)', { origin: 'agent' });
    expect(bad.status).toBe('error');
    expect(bad.answer).toBeNull();
    expect(bad.error?.evalue).toMatch(/str|int|float/);
  });

  it('reports the failing line of an error', async () => {
    const r = await s.execute('x = 1\ny = [1, 2]\nz = y[5]', { origin: 'agent' });
    expect(r.status).toBe('error');
    expect(r.error).toMatchObject({ ename: 'IndexError', lineno: 3, line: 'z = y[5]' });
    expect(buildObservation(r).text).toContain('Error: IndexError: list index out of range\n  at line 3: z = y[5]');
  });

  it('rejects unsafe agent cells before they reach the kernel, but runs human cells', async () => {
    const r = await s.execute('import os\nos.listdir("/")', { origin: 'agent' });
    expect(r.status).toBe('rejected');
    expect(r.violations[0]).toMatchObject({ line: 1 });
    const h = await s.execute('import os\nos.getcwd()', { origin: 'human' });
    expect(h.status).toBe('ok');
    // A sandboxed kernel works in its own /scratch (docs/security.md); an unsandboxed one in a sessions/ folder.
    if (s.sandboxed) expect(h.result).toBe("'/scratch'");
    else expect(h.result).toContain(join('spatialclaw', 'sessions').split('/').pop());
  });

  it('applies the kernel OS limits', async () => {
    const r = await s.execute('import resource\nresource.getrlimit(resource.RLIMIT_AS)[0]', { origin: 'human' });
    expect(r.result).toBe(String(8 * 1024 ** 3));
  });

  it('interrupts a cell past its timeout; the next cell works and state is intact', async () => {
    const r = await s.execute('import time\nprint("working", flush=True)\ntime.sleep(120)', { origin: 'agent', timeoutS: 1.5 });
    expect(r.status).toBe('timeout');
    expect(r.stdout).toContain('working');
    expect(r.notes.join(' ')).toMatch(/interrupted after the 1.5 s timeout/);
    const next = await s.execute('n', { origin: 'agent' });
    expect(next.status).toBe('ok');
    expect(next.result).toBe('2');
  });

  it('restores state by replay after the kernel dies', async () => {
    const pid = kernelHostPid(s.id);
    await s.execute('marker = n * 21', { origin: 'agent' });
    const died = await s.execute('import os\nos._exit(1)', { origin: 'human' });
    expect(died.status).toBe('kernel_died');
    expect(died.notes.join(' ')).toMatch(/kernel restarted; (state restored by replaying \d+ cells|replayed \d+ of \d+ cells)/);
    expect(alive(pid)).toBe(false);
    const after = await s.execute('marker, len(InputImages)', { origin: 'agent' });
    expect(after.status).toBe('ok');
    expect(after.result).toBe('(42, 5)');
    // Nothing recorded is lost.
    expect(s.history.map((h) => h.status)).toContain('kernel_died');
    expect(s.history.length).toBeGreaterThan(10);
  });
});

describe('prepare errors and the VLM bridge', () => {
  let rt: KernelRuntime;
  beforeAll(async () => {
    rt = await KernelRuntime.start();
  });
  afterAll(async () => {
    await rt?.close();
  });

  it('restarts a kernel that ignores the interrupt, and replays its cells', async () => {
    const s = await rt.openSession({ interruptGraceMs: 1000 });
    try {
      await s.prepare({ inputs: [], scratchDir: rt.newScratchDir() });
      await s.execute('kept = 123', { origin: 'agent' });
      const r = await s.execute('import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(120)', { origin: 'human', timeoutS: 1 });
      expect(r.status).toBe('timeout');
      expect(r.notes.join(' ')).toMatch(/did not stop within 1 s of the interrupt and was restarted; kernel restarted; state restored by replaying 1 cell$/);
      const after = await s.execute('kept', { origin: 'agent' });
      expect(after.result).toBe('123');
    } finally {
      await s.close();
    }
  });

  it('names a missing input file', async () => {
    const s = await rt.openSession();
    await expect(s.prepare({ inputs: [{ kind: 'video', path: '/no/such/video.mp4' }], scratchDir: rt.newScratchDir() }))
      .rejects.toThrow(KernelPrepareError);
    await expect(s.prepare({ inputs: [{ kind: 'video', path: '/no/such/video.mp4' }], scratchDir: rt.newScratchDir() }))
      .rejects.toThrow(/\/no\/such\/video\.mp4/);
    await s.close();
  });

  it('lets kernel code call the model through the host, which records the call', async () => {
    const bridge = new VlmBridge({
      ask: async (images, q) => ({ text: `saw ${images.length} image(s); asked: ${q}`, usage: { prompt_tokens: 5, completion_tokens: 3 } }),
      locate: async () => ({ points: [[500, 250]], text: '{"points": [[500, 250]]}' }),
    });
    await bridge.start();
    const s = await rt.openSession();
    try {
      await s.prepare({
        inputs: [{ kind: 'video', path: join(FX, 'video_bedroom', 'bedroom.mp4'), num_frames: 4 }],
        scratchDir: rt.newScratchDir(),
        bridge: { url: bridge.url, token: bridge.token, listenUnix: (path, target) => bridge.listenUnix(path, target) },
      });
      const r = await s.execute(
        'print(vlm.ask([InputImages[0]], "what room is this?"))\npts = vlm.locate([InputImages[0]], "the bed")\nprint(vlm.to_pixels(pts, InputImages[0]))',
        { origin: 'agent' },
      );
      expect(r.status).toBe('ok');
      expect(r.stdout).toContain('saw 1 image(s); asked: what room is this?');
      expect(r.stdout).toContain('(479.5, 134.5)');
      expect(bridge.calls.map((c) => c.kind)).toEqual(['ask', 'locate']);
      // The token lives only in kernel memory: not in the environment.
      const env = await s.execute('import os\n[k for k, v in os.environ.items() if v == ' + JSON.stringify(bridge.token) + ']', { origin: 'human' });
      expect(env.result).toBe('[]');
    } finally {
      await s.close();
      await bridge.stop();
    }
  });
});
