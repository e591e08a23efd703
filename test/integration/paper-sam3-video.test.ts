/**
 * The paper profile's `tools.SAM3.segment_video_by_text` (docs/paper-parity.md row 14) through the real stack: a real
 * agent kernel prepared with the paper profile (every frame of the bundled 200-frame, 30 fps, 960x540 video bound at
 * 768x432) calls a real perception server running the sam3 backend on a randomly initialised tiny checkpoint of the
 * real transformers classes (test/python/sam3_tiny.py). The window of native source frames, the prompt frame
 * relative to it, one mask per prompt and the resize to the bound frames must hold at every hop; the tiny model's
 * masks themselves are meaningless.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROFILES } from '../../shared/profiles.ts';
import { PerceptionServer } from '../../electron/services/perception/server.ts';
import { KernelRuntime } from '../../electron/services/kernel/runtime.ts';
import type { KernelSession } from '../../electron/services/kernel/session.ts';
import { ROOT } from '../helpers/cli.ts';

const PY = join(ROOT, '.venv', 'bin', 'python');
const VIDEO = join(ROOT, 'test', 'fixtures', 'video_bedroom', 'bedroom.mp4');

describe('paper profile: segment_video_by_text on the source video, through a real kernel and a real sam3 server', () => {
  let home: string;
  let server: PerceptionServer;
  let rt: KernelRuntime;
  let s: KernelSession;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'sc-paper-sam3-'));
    const checkpoint = join(home, 'sam3-tiny');
    execFileSync(PY, [join(ROOT, 'test', 'python', 'sam3_tiny.py'), checkpoint], { stdio: 'pipe', timeout: 180_000 });
    server = await PerceptionServer.startLocal({ backends: ['sam3'], extraArgs: ['--sam3-checkpoint', checkpoint] });
    rt = await KernelRuntime.start({ kernelLimits: { memoryBytes: 8 * 1024 ** 3 } });
    s = await rt.openSession();
    await s.prepare({
      inputs: [{ kind: 'video', path: VIDEO, all_frames: true }],
      maxLongEdge: 768,
      resize: 'paper_grid',
      profile: PROFILES.paper.kernel,
      scratchDir: rt.newScratchDir(),
      perception: { url: server.url, token: server.token, backends: { segment: 'sam3' } },
    });
  }, 300_000);

  afterAll(async () => {
    await s?.close();
    await rt?.close();
    await server?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  }, 60_000);

  it('segments every native frame of the window, prompt frame relative to it, one mask per prompt at the bound size', async () => {
    const r = await s.execute(
      [
        's = tools.SAM3.segment_video_by_text(["bed", "pillow"], start_frame=20, end_frame=80, prompt_frame_idx=10)',
        'print(tools.SAM3.__name__, len(InputImages), InputImages[0].size)',
        'print(s.frame_indices[0], s.frame_indices[-1], len(s.frame_indices), tuple(s.masks.shape), s.labels)',
        'print(s.info["source_window"]["prompt_frame"], s.info["source_window"]["native_size"])',
      ].join('\n'),
      { origin: 'agent', timeoutS: 300 },
    );
    expect(r.status, r.error?.evalue).toBe('ok');
    expect(r.stdout.trim().split('\n')).toEqual([
      'spatial_runtime.tools.sam3.paper 200 (768, 432)',
      "20 79 60 (60, 2, 432, 768) ['bed', 'pillow']",
      '30 [960, 540]',
    ]);

    // One request per prompt, each over the 60 native frames of the window (absolute indices 20..79).
    expect(r.artifacts).toHaveLength(2);
    const window = Array.from({ length: 60 }, (_, i) => 20 + i);
    for (const [k, artifact] of r.artifacts.entries()) {
      expect(artifact).toMatchObject({ tool: 'SAM3', kind: 'masks', frame_indices: window });
      const masks = artifact.shapes?.['masks'];
      expect([masks?.[0], masks?.[2], masks?.[3]]).toEqual([60, 540, 960]);
      expect(artifact.labels?.every((l) => l === ['bed', 'pillow'][k])).toBe(true);
      const headers = { Authorization: `Bearer ${server.token}` };
      const remote = (await (await fetch(`${server.url}/v1/artifacts/${artifact.id}`, { headers })).json()) as {
        frame_indices: number[];
        info: { prompt_frame_position: number };
      };
      expect(remote.frame_indices).toEqual(window);
      expect(remote.info.prompt_frame_position).toBe(10); // absolute frame 30 = the window's 11th
    }
  }, 300_000);

  it('refuses a window over 1000 frames before decoding anything', async () => {
    const r = await s.execute('tools.SAM3.segment_video_by_text(["bed"], start_frame=0, end_frame=1300)', { origin: 'agent' });
    expect(r.status).toBe('error');
    expect(r.error?.evalue).toMatch(/1000/);
    expect(r.artifacts).toHaveLength(0);
  });
});
