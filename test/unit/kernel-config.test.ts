import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KERNEL_NAME, writeKernelSpec } from '../../electron/services/kernel/kernelspec.ts';
import { InputArgumentError, inputSpecsFromArgs } from '../../electron/services/kernel/runtime.ts';
import { pngSize } from '../../electron/services/kernel/session.ts';
import { ROOT } from '../helpers/cli.ts';

describe('writeKernelSpec', () => {
  it('writes a kernelspec that applies the limits through kernel_launch', () => {
    const base = mkdtempSync(join(tmpdir(), 'ks-'));
    const path = writeKernelSpec(base, '/opt/py/bin/python', { memoryBytes: 2 ** 31, cpuSeconds: 60 });
    const spec = JSON.parse(readFileSync(join(path, 'kernels', KERNEL_NAME, 'kernel.json'), 'utf8')) as { argv: string[] };
    expect(spec.argv).toEqual(['/opt/py/bin/python', '-m', 'spatial_runtime.kernel_launch', '--mem-bytes', '2147483648', '--cpu-seconds', '60',
      '--max-procs', '0', '--max-file-bytes', '0', '--HistoryManager.enabled=False', '-f', '{connection_file}']);
    expect(writeKernelSpec(base, '/opt/py/bin/python', { memoryBytes: 2 ** 31, cpuSeconds: 60 })).toBe(path);
    // Sandboxed: sandbox_launch (bwrap) first, then the same kernel_launch options; interrupts by message (bwrap does
    // not pass SIGINT on).
    const sbx = writeKernelSpec(base, '/opt/py/bin/python', { memoryBytes: 2 ** 31, cpuSeconds: 60, maxProcs: 64, maxFileBytes: 1024 },
      { root: '/tmp/scw-x/k', bwrap: '/usr/bin/bwrap', uid: 65534 });
    expect(sbx).not.toBe(path);
    const sspec = JSON.parse(readFileSync(join(sbx, 'kernels', KERNEL_NAME, 'kernel.json'), 'utf8')) as { argv: string[]; interrupt_mode: string };
    expect(sspec.argv).toEqual(['/opt/py/bin/python', '-m', 'spatial_runtime.sandbox_launch', '--root', '/tmp/scw-x/k', '--bwrap', '/usr/bin/bwrap',
      '--uid', '65534', '--', '--mem-bytes', '2147483648', '--cpu-seconds', '60', '--max-procs', '64', '--max-file-bytes', '1024',
      '--HistoryManager.enabled=False', '-f', '{connection_file}']);
    expect(sspec.interrupt_mode).toBe('message');
    expect(() => writeKernelSpec(base, 'py', { memoryBytes: -1, cpuSeconds: 0 })).toThrow(/memoryBytes must be a non-negative integer/);
  });
});

describe('inputSpecsFromArgs', () => {
  const fx = join(ROOT, 'test', 'fixtures');
  it('recognises videos, image folders, RGB-D samples and RGB-D sets', () => {
    expect(inputSpecsFromArgs({ input: [join(fx, 'video_bedroom', 'bedroom.mp4')], frames: 8 })).toEqual([
      { kind: 'video', path: join(fx, 'video_bedroom', 'bedroom.mp4'), num_frames: 8 },
    ]);
    expect(inputSpecsFromArgs({ input: [join(fx, 'rgbd_room')] })[0]?.kind).toBe('rgbd_sample');
    expect(inputSpecsFromArgs({ input: [join(fx, 'rgbd_room', 'color')] })[0]?.kind).toBe('images');
    expect(inputSpecsFromArgs({ input: [join(fx, 'tum_rgbd_frame', 'TUM_color.png')] })[0]?.kind).toBe('images');
    const rgbd = inputSpecsFromArgs({
      input: [join(fx, 'rgbd_room', 'color')], depth: join(fx, 'rgbd_room', 'depth'),
      camera: join(fx, 'rgbd_room', 'sample.json'), poses: join(fx, 'rgbd_room', 'pose.txt'),
    });
    expect(rgbd[0]).toMatchObject({ kind: 'rgbd', poses: join(fx, 'rgbd_room', 'pose.txt') });
  });

  it('names the missing path or argument', () => {
    expect(() => inputSpecsFromArgs({ input: ['/no/such/video.mp4'] })).toThrow(/input \/no\/such\/video\.mp4 does not exist/);
    expect(() => inputSpecsFromArgs({ input: [] })).toThrow(InputArgumentError);
    expect(() => inputSpecsFromArgs({ input: [fx], depth: fx })).toThrow(/needs both --depth DIR and --camera FILE/);
  });
});

describe('pngSize', () => {
  it('reads width and height from the IHDR chunk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'png-'));
    mkdirSync(dir, { recursive: true });
    const png = readFileSync(join(ROOT, 'build', 'icons', 'icon.png'));
    writeFileSync(join(dir, 'x.png'), png);
    expect(pngSize(png.toString('base64'))).toEqual({ width: 512, height: 512 });
    expect(pngSize('AAAA')).toEqual({ width: 0, height: 0 });
  });
});
