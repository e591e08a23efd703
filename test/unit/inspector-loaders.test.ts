/**
 * The inspector's pure modules against real bytes: .npy files written by the venv's numpy, and a real
 * reconstruction of test/fixtures/rgbd_room computed by the perception server's rgbd backend (with the
 * sample's poses). Expected counts are computed by numpy in the same script, never hard-coded.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { colorize, frustumCorners, liftMasks, ramp, selectPoints } from '../../renderer/src/inspector/cloud.ts';
import { maskAt, maskOverlay } from '../../renderer/src/inspector/masks2d.ts';
import { angleDeg, buildPly, distance, pickAt, picksToPython, pixelId, pyFloat } from '../../renderer/src/inspector/measure.ts';
import { NpyError, parseNpy, writeNpy } from '../../renderer/src/inspector/npy.ts';
import { loadMasks, loadReconstruction, type Masks, type Reconstruction } from '../../renderer/src/inspector/recon.ts';
import { backprojectDepth } from '../../shared/geometry.ts';
import { ROOT } from '../helpers/cli.ts';

const PY = join(ROOT, '.venv', 'bin', 'python');
const dir = mkdtempSync(join(tmpdir(), 'sc-insp-'));
const py = (code: string): string => execFileSync(PY, ['-c', code], { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 26 });
const file = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
const fetcher = (prefix: string) => async (name: string) => file(`${prefix}${name}.npy`);

describe('parseNpy on numpy-written files', () => {
  beforeAll(() => {
    py(`
import numpy as np
np.save('f4.npy', np.arange(6, dtype=np.float32).reshape(2, 3) / 4)
np.save('f8.npy', np.array([[1.5, -2.25], [np.pi, 1e-300]]))
np.save('f2.npy', np.array([0.5, -2.0, 65504.0, np.nan, np.inf], dtype=np.float16))
np.save('u1.npy', np.arange(250, 256, dtype=np.uint8))
np.save('b1.npy', np.array([[True, False], [False, True]]))
np.save('i4.npy', np.array([-7, 2**31 - 1], dtype=np.int32))
np.save('i8.npy', np.array([0, 4, 2**40, -3], dtype=np.int64))
np.save('scalar.npy', np.float32(2.5))
np.save('fortran.npy', np.asfortranarray(np.ones((3, 2), np.float32)))
np.save('big.npy', np.ones(3, dtype='>f4'))
np.save('complex.npy', np.ones(3, dtype=np.complex64))
np.save('str.npy', np.array(['ab', 'cd']))
np.save('huge_i8.npy', np.array([2**60], dtype=np.int64))
a = np.ones((4, 5, 3), np.float32); np.save('trunc_src.npy', a)
open('trunc.npy', 'wb').write(open('trunc_src.npy', 'rb').read()[:-7])
open('notnpy.npy', 'wb').write(b'PK\\x03\\x04 not numpy at all')
with open('v2.npy', 'wb') as f:
    np.lib.format.write_array(f, np.arange(3, dtype=np.float32), version=(2, 0))
`);
  });

  it('reads float32/float64/float16/uint8/bool/int32/int64 with shapes and values', () => {
    const f4 = parseNpy(file('f4.npy'));
    expect(f4).toMatchObject({ dtype: 'float32', shape: [2, 3] });
    expect(Array.from(f4.data)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
    const f8 = parseNpy(file('f8.npy'));
    expect(f8.data).toBeInstanceOf(Float64Array);
    expect(Array.from(f8.data)).toEqual([1.5, -2.25, Math.PI, 1e-300]);
    const f2 = parseNpy(file('f2.npy'));
    expect(f2.dtype).toBe('float16');
    expect(Array.from(f2.data)).toEqual([0.5, -2, 65504, NaN, Infinity]);
    expect(Array.from(parseNpy(file('u1.npy')).data)).toEqual([250, 251, 252, 253, 254, 255]);
    const b1 = parseNpy(file('b1.npy'));
    expect(b1).toMatchObject({ dtype: 'bool', shape: [2, 2] });
    expect(Array.from(b1.data)).toEqual([1, 0, 0, 1]);
    expect(Array.from(parseNpy(file('i4.npy')).data)).toEqual([-7, 2 ** 31 - 1]);
    const i8 = parseNpy(file('i8.npy'));
    expect(i8.dtype).toBe('int64');
    expect(Array.from(i8.data)).toEqual([0, 4, 2 ** 40, -3]);
    expect(parseNpy(file('scalar.npy'))).toMatchObject({ shape: [], data: new Float32Array([2.5]) });
    expect(Array.from(parseNpy(file('v2.npy')).data)).toEqual([0, 1, 2]);
  });

  it('rejects what it cannot read, saying what and how to fix it', () => {
    expect(() => parseNpy(file('fortran.npy'), 'fortran.npy')).toThrow(/fortran\.npy is stored in Fortran order; save it in C order/);
    expect(() => parseNpy(file('big.npy'))).toThrow(/big-endian \(>f4\); save it little-endian/);
    expect(() => parseNpy(file('complex.npy'))).toThrow(/dtype "<c8", which the inspector cannot read/);
    expect(() => parseNpy(file('str.npy'))).toThrow(/dtype "<U2"/);
    expect(() => parseNpy(file('huge_i8.npy'))).toThrow(/beyond 2\^53/);
    expect(() => parseNpy(file('trunc.npy'), 'points.npy')).toThrow(/points\.npy is truncated: shape \(4, 5, 3\) <f4 needs 240 data bytes, the file has 233/);
    expect(() => parseNpy(file('notnpy.npy'), 'x.npy')).toThrow(NpyError);
    expect(() => parseNpy(file('notnpy.npy'), 'x.npy')).toThrow(/x\.npy is not a \.npy file/);
    expect(() => parseNpy(file('f4.npy').subarray(0, 20))).toThrow(/truncated inside its header/);
  });

  it('reads arrays at unaligned offsets (copies) and writes files numpy reads back', () => {
    const bytes = file('f4.npy');
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(Array.from(parseNpy(shifted.subarray(1)).data)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
    writeFileSync(join(dir, 'mine_f4.npy'), writeNpy(new Float32Array([1, 2.5, -3, 4, 5, 6]), [3, 2]));
    writeFileSync(join(dir, 'mine_b1.npy'), writeNpy(new Uint8Array([1, 0, 1]), [3], { bool: true }));
    const out = py(`
import numpy as np
a = np.load('mine_f4.npy'); b = np.load('mine_b1.npy')
print(a.dtype, a.shape, a.tolist(), b.dtype, b.tolist())
`);
    expect(out.trim()).toBe('float32 (3, 2) [[1.0, 2.5], [-3.0, 4.0], [5.0, 6.0]] bool [True, False, True]');
  });
});

describe('a real reconstruction of test/fixtures/rgbd_room', () => {
  let recon: Reconstruction;
  let masks: Masks;
  let expect_: Record<string, number | number[]>;

  beforeAll(async () => {
    // The rgbd backend, as the server runs it, with the sample's poses; plus two box masks (frames 1 and 3).
    const out = py(`
import json, threading, numpy as np
from spatial_runtime import load_rgbd_sample
from spatial_perception.backends.rgbd import RGBDBackend
from spatial_perception.backends.base import ReconstructRequest
s = load_rgbd_sample(${JSON.stringify(join(ROOT, 'test', 'fixtures', 'rgbd_room'))})
K = np.repeat(s.K[None], s.num_frames, 0)
r = RGBDBackend().reconstruct(ReconstructRequest(frames=list(s.color), frame_indices=[int(i) for i in s.frame_indices],
    depth=s.depth, intrinsics=K, poses=s.poses, params={}), threading.Event())
valid = np.isfinite(r.points).all(-1)
arrays = dict(points=r.points, depth=r.depth, confidence=r.confidence, extrinsics=r.extrinsics, intrinsics=r.intrinsics,
              frame_indices=r.frame_indices, colors=r.colors, valid=valid)
for k, v in arrays.items(): np.save('rec_' + k + '.npy', v)
T, H, W = 2, 480, 640
m = np.zeros((T, 2, H, W), bool)
m[:, 0, 100:200, 150:300] = True      # object 0: a box
m[:, 1, 150:400, 250:500] = True      # object 1 overlaps object 0 (first object wins)
m[1, 0] = False                       # object 0 absent in the second mask frame
np.save('m_masks.npy', m); np.save('m_frame_indices.npy', np.array([1, 3], np.int64))
np.save('m_scores.npy', np.ones((T, 2), np.float32))
thr = 0.5
elig = valid & (r.confidence >= thr)
first = np.where(m[:, 0], 0, np.where(m[:, 1], 1, -1))   # (T, H, W) label per pixel
lab1 = first[0][valid[1]]; lab3 = first[1][valid[3]]
print(json.dumps(dict(
  valid=int(valid.sum()), valid_per_frame=valid.reshape(5, -1).sum(1).tolist(), elig=int(elig.sum()),
  elig_no_f2=int(elig.sum() - elig[2].sum()),
  lift0=int((lab1 == 0).sum() + (lab3 == 0).sum()), lift1=int((lab1 == 1).sum() + (lab3 == 1).sum()),
  p=r.points[3, 240, 320].tolist(), q=r.points[1, 100, 500].tolist(),
  dist=float(np.linalg.norm(r.points[3, 240, 320].astype(np.float64) - r.points[1, 100, 500])),
  y_floor=float(np.nanpercentile(r.points[..., 1], 2)),
)))
`);
    expect_ = JSON.parse(out.trim().split('\n').at(-1)!);
    recon = await loadReconstruction(['points', 'depth', 'confidence', 'extrinsics', 'intrinsics', 'frame_indices', 'colors', 'valid'], fetcher('rec_'));
    masks = await loadMasks(['masks', 'frame_indices', 'scores'], fetcher('m_'), undefined, ['chair']);
  }, 120_000);

  it('loads the arrays with the documented shapes', () => {
    expect(recon).toMatchObject({ n: 5, h: 480, w: 640, frameIndices: [0, 1, 2, 3, 4] });
    expect(recon.points.length).toBe(5 * 480 * 640 * 3);
    expect(recon.colors?.length).toBe(5 * 480 * 640 * 3);
    expect(recon.intrinsics.length).toBe(45);
    expect(masks).toMatchObject({ t: 2, k: 2, h: 480, w: 640, frameIndices: [1, 3], labels: ['chair', 'object 1'] });
    // Gravity-aligned world: the floor is near Y = 0 (2nd percentile of heights within 20 cm).
    expect(Math.abs(expect_.y_floor as number)).toBeLessThan(0.2);
  });

  it('selects valid points, applies the confidence threshold and frame toggles', () => {
    const all = selectPoints(recon, { budget: Infinity });
    expect(all.eligible).toBe(expect_.valid);
    expect(all.ids.length).toBe(expect_.valid);
    expect(all.perFrame).toEqual(expect_.valid_per_frame);
    const thr = selectPoints(recon, { confThreshold: 0.5, budget: Infinity });
    expect(thr.eligible).toBe(expect_.elig);
    expect(thr.eligible).toBeLessThan(all.eligible);
    const off = selectPoints(recon, { confThreshold: 0.5, visible: [true, true, false, true, true], budget: Infinity });
    expect(off.eligible).toBe(expect_.elig_no_f2);
    expect(off.perFrame[2]).toBe(0);
  });

  it('decimates to exactly the budget, spread over all frames, ids ascending and unique', () => {
    for (const budget of [1, 1000, 123_457, 1_000_000]) {
      const s = selectPoints(recon, { budget });
      expect(s.ids.length).toBe(budget);
      expect(s.eligible).toBe(expect_.valid);
      for (let i = 1; i < s.ids.length; i++) if (!(s.ids[i]! > s.ids[i - 1]!)) throw new Error(`ids not ascending at ${i}`);
      expect(s.perFrame.reduce((a, b) => a + b, 0)).toBe(budget);
      if (budget >= 1000) {
        // Even spread: each frame gets its share of the budget within one point.
        const per = expect_.valid_per_frame as number[];
        per.forEach((n, f) => expect(Math.abs(s.perFrame[f]! - (n * budget) / (expect_.valid as number))).toBeLessThanOrEqual(1));
      }
    }
    expect(selectPoints(recon, { budget: 0 }).ids.length).toBe(0);
  });

  it('lifts masks onto the points by absolute frame index (counts match numpy)', () => {
    const s = selectPoints(recon, { budget: Infinity });
    const lifted = liftMasks(recon, masks, s.ids);
    expect(lifted.counts).toEqual([expect_.lift0, expect_.lift1]);
    expect(lifted.missingFrames).toEqual([]);
    const only1 = liftMasks(recon, masks, s.ids, [false, true]);
    // With object 0 off, its pixels that object 1 also covers go to object 1.
    expect(only1.counts[0]).toBe(0);
    expect(only1.counts[1]).toBeGreaterThan(expect_.lift1 as number);
    // Colours: masked points take the instance colour, the rest are dimmed.
    const c = colorize(recon, s.ids, 'rgb', lifted);
    const base = colorize(recon, s.ids, 'rgb');
    const i = lifted.labels.findIndex((l) => l === -1 && base[0] !== 0);
    expect(c[i * 3]).toBe(Math.trunc(base[i * 3]! * 0.3));
  });

  it('builds the 2D overlay (areas from the mask) and answers which object is at a pixel', () => {
    const ov = maskOverlay(masks, 0, undefined, 0.5);
    expect(ov.areas).toEqual([100 * 150, 250 * 250]);
    expect(ov.centroids[0]).toEqual([224.5, 149.5]);
    expect(ov.rgba[(150 * 640 + 200) * 4 + 3]).toBe(128);
    expect(maskAt(masks, 0, 200, 150)).toBe(0);
    expect(maskAt(masks, 1, 200, 150)).toBe(-1);
    expect(maskAt(masks, 0, 260, 160)).toBe(0);
    expect(maskAt(masks, 0, 260, 160, [false, true])).toBe(1);
  });

  it('picks a pixel and measures the distance numpy measures', () => {
    const a = pickAt(recon, pixelId(recon, 3, 320, 240))!;
    const b = pickAt(recon, pixelId(recon, 1, 500, 100))!;
    expect(a).toMatchObject({ frame: 3, framePos: 3, u: 320, v: 240 });
    expect(a.world).toEqual(expect_.p);
    expect(b.world).toEqual(expect_.q);
    expect(a.depth).toBeGreaterThan(0);
    expect(distance(a.world, b.world)).toBeCloseTo(expect_.dist as number, 9);
    expect(pickAt(recon, -1)).toBeNull();
  });

  it('colours by depth, confidence and height within the ramp', () => {
    const s = selectPoints(recon, { budget: 5000 });
    for (const mode of ['depth', 'confidence', 'height'] as const) {
      const c = colorize(recon, s.ids, mode);
      expect(c.length).toBe(15000);
      expect(new Set(Array.from(c)).size).toBeGreaterThan(20);
    }
    const lo = new Uint8Array(3), hi = new Uint8Array(3);
    ramp(0, lo, 0);
    ramp(1, hi, 0);
    expect(Array.from(lo)).toEqual([48, 18, 120]);
    expect(Array.from(hi)).toEqual([220, 50, 30]);
  });

  it('lifts depth like the backend did (when a reconstruction has no points array)', async () => {
    const lifted = backprojectDepth(recon.depth!, recon.n, recon.h, recon.w, recon.intrinsics, recon.extrinsics);
    const id = pixelId(recon, 2, 400, 300);
    for (let a = 0; a < 3; a++) expect(lifted[id * 3 + a]).toBeCloseTo(recon.points[id * 3 + a]!, 4);
    const fromDepth = await loadReconstruction(['depth', 'confidence', 'extrinsics', 'intrinsics', 'frame_indices'], fetcher('rec_'));
    expect(selectPoints(fromDepth, { budget: Infinity }).eligible).toBeGreaterThan(0);
  });

  it('puts the frustum apex at the camera centre and the near plane at the given depth', () => {
    const { center, corners } = frustumCorners(recon, 2, 0.3);
    const E = recon.extrinsics;
    expect(center).toEqual([E[32 + 3], E[32 + 7], E[32 + 11]]);
    // Corner rays: the image plane at z = 0.3 m in the camera; distance to the centre ≥ 0.3.
    for (const c of corners) expect(distance(c, center)).toBeGreaterThan(0.3);
    // The top edge (v = -0.5) is above the bottom edge in a gravity-aligned world for an upright camera.
    expect(corners[0]![1]).toBeGreaterThan(corners[3]![1]);
  });

  it('fails with a clear error on a wrong shape or a missing array', async () => {
    writeFileSync(join(dir, 'bad_intrinsics.npy'), writeNpy(new Float64Array(8), [2, 4]));
    const f = async (name: string) => file(name === 'intrinsics' ? 'bad_intrinsics.npy' : `rec_${name}.npy`);
    await expect(loadReconstruction(['points', 'intrinsics', 'extrinsics'], f)).rejects.toThrow(/intrinsics\.npy has shape \(2, 4\), expected \(3, 3\)/);
    await expect(loadReconstruction(['points', 'extrinsics'], f)).rejects.toThrow(/no 'intrinsics' array.*run tools\.Reconstruct again/);
    await expect(loadMasks(['scores'], f)).rejects.toThrow(/no 'masks' array/);
  });
});

describe('measurements and exports', () => {
  it('measures distances and angles', () => {
    expect(distance([0, 0, 0], [3, 4, 12])).toBe(13);
    expect(angleDeg([1, 0, 0], [0, 0, 0], [0, 2, 0])).toBeCloseTo(90, 12);
    expect(angleDeg([1, 1, 0], [0, 0, 0], [1, 0, 0])).toBeCloseTo(45, 12);
    expect(angleDeg([0, 0, 0], [0, 0, 0], [1, 0, 0])).toBeNaN();
  });

  it('writes picks as Python that numpy evaluates to the same values', () => {
    const picks = [
      { id: 1, world: [0.1, -2.5, 3] as [number, number, number], framePos: 0, frame: 12, u: 5, v: 7, depth: 2.5, confidence: 1 },
      { id: 2, world: [Math.fround(1.2345678), 0, -1e-7] as [number, number, number], framePos: 1, frame: 40, u: 630, v: 470, depth: null, confidence: null },
    ];
    const code = picksToPython(picks, 'abc');
    expect(code).toContain('# [0] frame 12, pixel (u=5, v=7), depth 2.5000 m, confidence 1.000');
    expect(code).toContain('# [1] frame 40, pixel (u=630, v=470)\n');
    expect(code).toContain('picks = np.array([');
    expect(pyFloat(0)).toBe('0.0');
    expect(pyFloat(3)).toBe('3.0');
    expect(pyFloat(NaN)).toBe('np.nan');
    const out = py(`import numpy as np\n${code}\nprint(picks.shape, picks.dtype, repr(float(np.linalg.norm(picks[1] - picks[0]))))`);
    expect(out.trim()).toMatch(/^\(2, 3\) float64 /);
    const d = Number(out.trim().split(' ').at(-1));
    expect(d).toBeCloseTo(distance(picks[0]!.world, picks[1]!.world), 7);
  });

  it('writes a binary PLY that numpy parses back', () => {
    const pos = new Float32Array([0, 1, 2, -1.5, 0.25, 3e3]);
    const col = new Uint8Array([255, 0, 10, 1, 2, 3]);
    const ply = buildPly(pos, col, 'artifact x');
    const text = new TextDecoder().decode(ply.subarray(0, 300));
    expect(text).toMatch(/^ply\nformat binary_little_endian 1\.0\ncomment artifact x\nelement vertex 2\n/);
    expect(text).toContain('property uchar blue\nend_header\n');
    writeFileSync(join(dir, 'out.ply'), ply);
    const out = py(`
import numpy as np
b = open('out.ply', 'rb').read(); i = b.index(b'end_header\\n') + 11
v = np.frombuffer(b[i:], dtype=[('x','<f4'),('y','<f4'),('z','<f4'),('r','u1'),('g','u1'),('b','u1')])
print(len(v), v['x'].tolist(), v['z'].tolist(), v['r'].tolist(), v['b'].tolist())
`);
    expect(out.trim()).toBe('2 [0.0, -1.5] [2.0, 3000.0] [255, 1] [10, 3]');
    expect(() => buildPly(pos, new Uint8Array(3))).toThrow(/do not describe the same points/);
  });
});
