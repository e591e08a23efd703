/**
 * A real kernel prepared with the `paper` profile (docs/paper-parity.md rows 1, 2, 9, 10, 13, 18.7): every frame
 * of bedroom.mp4 on the paper grid, the paper's key frames, summaries without values, the rollback calls after a
 * failed cell, the namespace cleared after a timeout, and `vlm.locate` through the host's bridge.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILES } from '../../shared/profiles.ts';
import { VlmBridge } from '../../electron/services/kernel/bridge.ts';
import { KernelRuntime } from '../../electron/services/kernel/runtime.ts';
import type { KernelSession } from '../../electron/services/kernel/session.ts';
import { ROOT } from '../helpers/cli.ts';

const VIDEO = join(ROOT, 'test', 'fixtures', 'video_bedroom', 'bedroom.mp4'); // 960x540, 30 fps, 200 frames

describe('a kernel session with the paper profile', () => {
  let rt: KernelRuntime;
  let s: KernelSession;
  let prepareMs = 0;
  const bridge = new VlmBridge({
    ask: () => Promise.reject(new Error('not used')),
    locate: () => Promise.reject(new Error('not used')),
    paper: (call, images) => (call === 'paper_locate' ? Promise.resolve({ text: `Not visible (${images.length})` }) : Promise.reject(new Error('HTTP 400'))),
  });

  beforeAll(async () => {
    await bridge.start();
    rt = await KernelRuntime.start();
    s = await rt.openSession({ interruptGraceMs: 5000 });
    const t0 = performance.now();
    await s.prepare({
      inputs: [{ kind: 'video', path: VIDEO, all_frames: true }],
      scratchDir: rt.newScratchDir(),
      maxLongEdge: 768,
      resize: 'paper_grid',
      profile: PROFILES.paper.kernel,
      bridge: { url: bridge.url, token: bridge.token, listenUnix: (path, target) => bridge.listenUnix(path, target) },
    });
    prepareMs = performance.now() - t0;
  });
  afterAll(async () => {
    await s?.close();
    await rt?.close();
    await bridge.stop();
  });

  it('binds all 200 frames on the grid, quickly and lazily', async () => {
    console.log(`prepare() of 200 frames (960x540 -> 768x432): ${prepareMs.toFixed(0)} ms`);
    expect(prepareMs).toBeLessThan(10_000);
    const r = await s.execute(
      'print(InputImages._source.frames_loaded)\nprint(len(InputImages), InputImages.frame_indices[:3], InputImages.frame_indices[-1], InputImages[0].size)',
      { origin: 'human' },
    );
    expect(r.stdout).toBe('0\n200 [0, 1, 2] 199 (768, 432)\n');
  });

  it('publishes the paper key frames with their places', async () => {
    const frames = await s.keyFrames(32, 1024, { selection: 'paper' });
    expect(frames).toHaveLength(32);
    expect(frames.every((f) => f.width === 768 && f.height === 432)).toBe(true);
    expect(frames.slice(0, 5).map((f) => f.frame?.frame_index)).toEqual([0, 6, 13, 19, 26]);
    expect(frames[31]).toMatchObject({ label: 'InputImages[199] frame 199', frame: { input: 'InputImages', position: 199, frame_index: 199 } });
  });

  it('summarises variables without values', async () => {
    const a = await s.execute('a = 3', { origin: 'agent' });
    expect(a.variables.map((v) => v.line)).toEqual(['a: int']);
    const b = await s.execute('a = 4\nd = {"k%d" % i: i for i in range(7)}', { origin: 'agent' });
    expect(b.variables.map((v) => v.line)).toEqual(["d: dict, len=7, keys=['k0', 'k1', 'k2', 'k3', 'k4']..."]);
    expect(s.largeVariables).toEqual([]);
  });

  it('keeps or rolls back the variables of a failed cell, as asked', async () => {
    const kept = await s.execute('e = 1\nf = undefined_name', { origin: 'agent' });
    expect(kept.status).toBe('error');
    expect(kept.variables).toEqual([]); // the kernel reports no variables after an error
    expect((await s.newVariables()).map((v) => v.line)).toEqual(['e: int']);
    const failed = await s.execute('g = 2\nimport time\ntime.sleep(0)\n1/0', { origin: 'agent' });
    expect(failed.status).toBe('error');
    expect(await s.rollbackNewVariables()).toEqual(['g', 'time']);
    const after = await s.execute('print(e, "g" in globals(), "time" in globals())', { origin: 'human' });
    expect(after.stdout).toBe('1 False False\n');
    expect(after.variables).toEqual([]);
  });

  it('answers vlm.locate through the bridge, and a model error as text', async () => {
    const r = await s.execute('r = vlm.locate([InputImages[i] for i in range(10)], "the bed")\nw = vlm.ask_with_thinking(InputImages[0], "q")\nprint(r)\nprint(w)', { origin: 'agent' });
    expect(r.status).toBe('ok');
    expect(r.stdout).toContain('only the first 8 images were sent');
    expect(r.stdout).toMatch(/^Not visible \(8\)$/m);
    expect(r.stdout).toMatch(/^\[VLM Error\] the model call failed: HTTP 400$/m);
    expect(bridge.calls.map((c) => [c.kind, c.role, c.images])).toEqual([['paper_locate', 'locate', 8], ['ask_with_thinking', 'vlm', 1]]);
    expect(bridge.calls[0]?.prompt).toMatch(/`Not visible`[\s\S]*Request: the bed$/);
  });

  it('clears the namespace after a timeout and binds the inputs and tools again', async () => {
    const r = await s.execute('x = 1\nimport time\ntime.sleep(120)', { origin: 'agent', timeoutS: 1.5 });
    expect(r.status).toBe('timeout');
    expect(r.notes.join(' ')).toMatch(/the namespace was cleared/);
    const next = await s.execute('print("x" in globals(), "e" in globals(), len(InputImages), type(vlm).__name__, callable(tools.SAM3.segment_video_by_text))', { origin: 'human' });
    expect(next.stdout).toBe('False False 200 PaperVLM True\n');
    expect(next.variables).toEqual([]);
  });

  it('restarts a kernel that ignores the interrupt without replaying its cells', async () => {
    const t = await rt.openSession({ interruptGraceMs: 1000 });
    try {
      await t.prepare({ inputs: [], scratchDir: rt.newScratchDir(), profile: PROFILES.paper.kernel });
      await t.execute('kept = 123', { origin: 'agent' });
      const r = await t.execute('import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(120)', { origin: 'human', timeoutS: 1 });
      expect(r.status).toBe('timeout');
      expect(r.notes.join(' ')).toMatch(/was restarted; the namespace starts empty \(profile timeout_reset\).*nothing was replayed$/);
      const after = await t.execute('print("kept" in globals(), type(vlm).__name__)', { origin: 'human' });
      expect(after.stdout).toBe('False PaperVLM\n');
    } finally {
      await t.close();
    }
  });
});
