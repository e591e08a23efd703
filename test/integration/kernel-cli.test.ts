import { mkdtempSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CellResultSchema } from '../../shared/kernel.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';

const FX = join(ROOT, 'test', 'fixtures');

function cells(...codes: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'cells-'));
  return codes.map((c, i) => {
    const f = join(dir, `step${i + 1}.py`);
    writeFileSync(f, c);
    return f;
  });
}

const lines = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('spatialclaw kernel run', () => {
  it('runs cells in order on the real video and writes show() images to --out', async () => {
    const out = mkdtempSync(join(tmpdir(), 'out-'));
    const r = await spatialclaw(['kernel', 'run', '--input', join(FX, 'video_bedroom', 'bedroom.mp4'), '--frames', '4', '--out', out,
      ...cells('idx = InputImages.frame_indices\nprint(idx, Metadata.fps)', 'show(InputImages[-1], label="last")\nReturnAnswer(len(idx))')]);
    expect(r.code, r.stderr).toBe(0);
    const [a, b] = lines(r.stdout);
    expect(CellResultSchema.parse(a).stdout).toMatch(/^\[0, \d+, \d+, \d+\] 30\.0\n$/);
    const rb = CellResultSchema.parse(b);
    expect(rb.answer).toEqual({ answer: 4, type: 'int' });
    expect(rb.images[0]?.png).toBeUndefined();
    expect(rb.images[0]?.path).toMatch(/cell002_img01\.png$/);
    expect(readdirSync(out)).toEqual(['cell002_img01.png']);
  });

  it('takes an RGB-D set from --depth/--camera/--poses', async () => {
    const r = await spatialclaw(['kernel', 'run', '--input', join(FX, 'rgbd_room', 'color'), '--depth', join(FX, 'rgbd_room', 'depth'),
      '--camera', join(FX, 'rgbd_room', 'camera.json'), '--poses', join(FX, 'rgbd_room', 'pose.txt'), '--max-long-edge', '320',
      ...cells('print(InputImages.frame_indices, Metadata.intrinsics["fx"], InputImages[0].size, Metadata.has_depth)')]);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)[0]?.['stdout']).toBe('[0, 1, 2, 3, 4] 259.0 (320, 240) True\n');
  });

  it('stops at a rejected cell and exits 1', async () => {
    const r = await spatialclaw(['kernel', 'run', '--input', join(FX, 'rgbd_room'), ...cells('x = 1', 'open("/etc/passwd").read()', 'x = 2')]);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out.map((o) => o['status'])).toEqual(['ok', 'rejected']);
  });

  it('gives one clear error for a corrupt or missing video, without a stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bad-'));
    const bad = join(dir, 'broken.mp4');
    writeFileSync(bad, Buffer.alloc(4096, 7));
    const r = await spatialclaw(['kernel', 'run', '--input', bad, ...cells('x = 1')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('broken.mp4');
    expect(r.stderr).not.toMatch(/Traceback|\n\s+at /);
    const missing = await spatialclaw(['kernel', 'run', '--input', join(dir, 'nope.mp4'), ...cells('x = 1')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/input .*nope\.mp4 does not exist/);
  });

  it('reports a depth/colour count mismatch naming the folders', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mismatch-'));
    const depth = join(dir, 'depth');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(depth);
    copyFileSync(join(FX, 'rgbd_room', 'depth', '1.pgm'), join(depth, '1.pgm'));
    const r = await spatialclaw(['kernel', 'run', '--input', join(FX, 'rgbd_room', 'color'), '--depth', depth,
      '--camera', join(FX, 'rgbd_room', 'camera.json'), ...cells('x = 1')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/5 .*1|1 .*5/);
    expect(r.stderr).toContain(depth);
  });
});
