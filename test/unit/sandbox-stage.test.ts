/**
 * The host's half of a sandboxed kernel (electron/services/kernel/sandbox.ts `KernelSandbox.stageSample`): every input
 * path of an InputSpec is linked into the kernel's read-only `/inputs` and rewritten to the path the kernel sees; the last
 * sample's inputs, scratch and tmp are emptied; a missing input is named. The sandbox itself: test/integration/sandbox-escape.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InputSpecSchema } from '../../shared/contracts/kernel.ts';
import { INPUT_PATH_FIELDS, KernelSandbox } from '../../electron/services/kernel/sandbox.ts';
import { ROOT } from '../helpers/cli.ts';

const FX = join(ROOT, 'test', 'fixtures');

function sandboxWithKernel(id: string): { sandbox: KernelSandbox; kdir: string } {
  const root = mkdtempSync(join(tmpdir(), 'scw-stage-'));
  const kdir = join(root, id);
  for (const d of ['scratch', 'tmp', 'inputs', 'host', 'frames', 'rt']) mkdirSync(join(kdir, d), { recursive: true });
  return { sandbox: new KernelSandbox(root), kdir };
}

describe('KernelSandbox.stageSample', () => {
  it('knows every path field of InputSpec (a new one must be added to INPUT_PATH_FIELDS)', () => {
    const stringish = new Set<string>();
    for (const variant of InputSpecSchema.options) {
      for (const [name, field] of Object.entries(variant.shape as Record<string, z.ZodType>)) {
        if (name !== 'kind' && JSON.stringify(z.toJSONSchema(field)).includes('"string"')) stringish.add(name);
      }
    }
    expect([...stringish].sort()).toEqual([...INPUT_PATH_FIELDS].sort());
  });

  it('links each input into /inputs, rewrites its paths, and clears the last sample', () => {
    const { sandbox, kdir } = sandboxWithKernel('k-1');
    writeFileSync(join(kdir, 'scratch', 'left-over.npy'), 'x');
    writeFileSync(join(kdir, 'tmp', 'left-over'), 'x');
    // A mount point the sandbox made in its /tmp (sandbox_launch TMP_KEEP) must stay: removing it would detach the mount.
    mkdirSync(join(kdir, 'tmp', 'scw-mount', 'point'), { recursive: true });
    writeFileSync(join(kdir, 'tmp-keep.json'), JSON.stringify(['scw-mount']));
    const video = join(FX, 'video_bedroom', 'bedroom.mp4');
    const colour = join(FX, 'rgbd_room', 'color');
    const files = readdirSync(colour).slice(0, 2).map((f) => join(colour, f));
    const { inputs, paths } = sandbox.stageSample('k-1', [
      { kind: 'video', path: video, num_frames: 4 },
      { kind: 'images', path: files[0]!, files },
      { kind: 'rgbd_sample', path: join(FX, 'rgbd_room') },
    ]);
    expect(readdirSync(join(kdir, 'scratch'))).toEqual([]);
    expect(readdirSync(join(kdir, 'tmp'))).toEqual(['scw-mount']);
    const v = inputs[0] as { path: string; num_frames: number };
    expect(v.num_frames).toBe(4);
    expect(v.path).toMatch(/^\/inputs\/[0-9a-f]{12}\/bedroom\.mp4$/);
    const host = join(kdir, v.path.slice(1));
    // A hard link of the same file (same inode), not a copy.
    expect(statSync(host).ino).toBe(statSync(video).ino);
    const im = inputs[1] as { path: string; files: string[] };
    expect(im.files).toHaveLength(2);
    expect(im.files[0]).toBe(im.path); // one file, staged once
    for (const f of im.files) expect(f.startsWith('/inputs/')).toBe(true);
    const sample = inputs[2] as { path: string };
    expect(readFileSync(join(kdir, sample.path.slice(1), 'sample.json'), 'utf8')).toBe(readFileSync(join(FX, 'rgbd_room', 'sample.json'), 'utf8'));
    expect(paths.get(v.path)).toBe(video);
    // The next sample: the last one's inputs are gone.
    const next = sandbox.stageSample('k-1', [{ kind: 'images', path: files[1]! }]);
    expect(readdirSync(join(kdir, 'inputs'))).toHaveLength(1);
    expect(next.paths.get((next.inputs[0] as { path: string }).path)).toBe(files[1]);
  });

  it('names a missing input and what to check', () => {
    const { sandbox } = sandboxWithKernel('k-2');
    expect(() => sandbox.stageSample('k-2', [{ kind: 'video', path: '/no/such/video.mp4' }])).toThrow('input /no/such/video.mp4 does not exist; check the path');
    expect(() => sandbox.kernelDir('../etc')).toThrow(/not a kernel id/);
  });
});
