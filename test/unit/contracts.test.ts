/**
 * The cross-language contracts: the generated Python module is current and agrees with the zod source,
 * Python accepts what TypeScript accepts (and rejects what it rejects) on the same values, and the two
 * back-projections (shared/geometry.ts, spatial_common.geometry) give the same points, skew included.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { generate, targets } from '../../build/contracts.ts';
import { ArtifactManifestSchema, ArtifactRecordSchema, CONTRACTS, ImageMetaSchema, MIME, PublishedArtifactSchema, ROUTES } from '../../shared/contracts/index.ts';
import { backprojectDepth } from '../../shared/geometry.ts';
import { ROOT } from '../helpers/cli.ts';

const PY = join(ROOT, '.venv', 'bin', 'python');
const py = (code: string, input = ''): string => execFileSync(PY, ['-c', code], { input, encoding: 'utf8', maxBuffer: 1 << 26 });

/** Python's verdict (null: valid, else the ContractError message) on each value, for contract `name`. */
function pythonVerdicts(name: string, values: unknown[]): (string | null)[] {
  const out = py(
    `
import json, sys
from spatial_common.contract import ContractError, validate
res = []
for v in json.load(sys.stdin):
    try:
        validate(${JSON.stringify(name)}, v)
        res.append(None)
    except ContractError as e:
        res.append(str(e))
print(json.dumps(res))
`,
    JSON.stringify(values),
  );
  return JSON.parse(out) as (string | null)[];
}

const record = {
  id: '0123456789abcdef0123456789abcdef',
  kind: 'masks',
  backend: 'sam3',
  created: '2026-12-04T20:50:25.123Z',
  frame_indices: [40],
  shapes: { masks: [1, 2, 48, 64], scores: [1, 2], frame_indices: [1] },
  summary: '2 masks in 1 image 64x48 (sam3, text "bed")',
  params: { threshold: 0.3 },
  labels: ['bed', 'bed'],
};

describe('generated Python contracts', () => {
  it('are current: python-common/spatial_common/contract/{_generated.py,schemas.json} are what `npm run contracts` writes', () => {
    const texts = generate();
    expect(readFileSync(targets.python, 'utf8')).toBe(texts.python);
    expect(readFileSync(targets.schemas, 'utf8')).toBe(texts.schemas);
  });

  it('carry the same MIME types, routes and contract names as the zod source', () => {
    const out = JSON.parse(py('import json; from spatial_common import contract as c; print(json.dumps([c.MIME_IMAGE, c.MIME_ANSWER, c.MIME_ARTIFACT, sorted(c.SCHEMAS), {k: v["path"] for k, v in c.ROUTES.items()}]))')) as [string, string, string, string[], Record<string, string>];
    expect(out.slice(0, 3)).toEqual([MIME.image, MIME.answer, MIME.artifact]);
    expect(out[3]).toEqual(Object.keys(CONTRACTS).sort());
    expect(out[4]).toEqual(Object.fromEntries(Object.entries(ROUTES).map(([k, r]) => [k, r.path])));
  });

  it('accept and reject the same values in Python as in TypeScript', () => {
    const cases: [string, z.ZodType, unknown[]][] = [
      ['ArtifactRecord', ArtifactRecordSchema, [
        record,
        { ...record, labels: undefined },
        { ...record, frame_indices: [-1] },
        { ...record, id: 'not-an-id' },
        { ...record, kind: 'pointcloud' },
        { ...record, shapes: { 'bad name': [1] } },
        (({ summary: _s, ...rest }) => rest)(record),
      ]],
      ['ArtifactManifest', ArtifactManifestSchema, [
        { ...record, arrays: { masks: { shape: [1, 2, 48, 64], dtype: 'bool', bytes: 6144 } }, info: { labels: ['bed', 'bed'] } },
        { ...record, arrays: { masks: { shape: [1, 2, 48, 64] } }, info: {} },
        { ...record, arrays: {} },
      ]],
      ['PublishedArtifact', PublishedArtifactSchema, [
        { id: record.id, tool: 'SAM3', kind: 'masks', url: null, summary: 's', frame_indices: [40], shapes: { masks: [1, 2, 48, 64] }, labels: ['bed'] },
        { id: record.id, tool: 'SAM3', kind: 'masks', summary: 's' },
        { id: record.id, tool: 'Reconstruct', kind: 'reconstruction', url: null, summary: 's', cache: 'hit' },
        { id: record.id, tool: 'Reconstruct', kind: 'reconstruction', url: null, summary: 's', cache: 'miss' },
        { id: record.id, tool: 'Reconstruct', kind: 'reconstruction', url: null, summary: 's', cache: 'joined' },
        { id: record.id, tool: 'Reconstruct', kind: 'reconstruction', url: null, summary: 's', cache: null },
      ]],
      ['ImageMeta', ImageMetaSchema, [
        { label: null, index: 0, width: 5, height: 4, source: 'show' },
        { label: 'x', index: 1.5, width: 5, height: 4, source: 'show' },
        { label: 'x', index: 1, width: 5, height: 4, source: 'camera' },
      ]],
    ];
    for (const [name, schema, values] of cases) {
      const ts = values.map((v) => schema.safeParse(JSON.parse(JSON.stringify(v))).success);
      const python = pythonVerdicts(name, JSON.parse(JSON.stringify(values)) as unknown[]).map((v) => v === null);
      expect({ name, python }).toEqual({ name, python: ts });
    }
    expect(pythonVerdicts('ArtifactRecord', [{ ...record, frame_indices: [-1] }])[0]).toMatch(/^ArtifactRecord: data\.frame_indices\[0\] must be/);
  });
});

describe('back-projection: shared/geometry.ts and spatial_common.geometry agree', () => {
  it('on 2 frames with skew, distinct intrinsics, rotated poses and invalid pixels', () => {
    const n = 2, h = 5, w = 7;
    const depth = new Float32Array(n * h * w).map((_, i) => (i % 11 === 0 ? 0 : 0.5 + ((i * 37) % 29) / 10));
    depth[3] = NaN;
    const K = Float64Array.from([5, 1.5, 3.2, 0, 4.8, 2.1, 0, 0, 1, 6.2, -0.8, 3.0, 0, 6.1, 2.4, 0, 0, 1]);
    const c = Math.cos(0.3), s = Math.sin(0.3);
    const E = Float64Array.from([c, 0, s, 0.4, 0, 1, 0, -1.2, -s, 0, c, 2.5, 0, 0, 0, 1, 1, 0, 0, 0, 0, c, -s, 0.1, 0, s, c, 0.2, 0, 0, 0, 1]);
    const ts = backprojectDepth(depth, n, h, w, K, E);
    const out = py(
      `
import json, sys
import numpy as np
from spatial_common.geometry import backproject
d = json.load(sys.stdin)
depth = np.array([np.nan if v is None else v for v in d["depth"]], dtype=np.float32).reshape(${n}, ${h}, ${w})
pts = backproject(depth, np.array(d["K"]).reshape(${n}, 3, 3), np.array(d["E"]).reshape(${n}, 4, 4))
print(json.dumps([None if not np.isfinite(v) else float(v) for v in pts.reshape(-1)]))
`,
      JSON.stringify({ depth: Array.from(depth, (v) => (Number.isNaN(v) ? null : v)), K: Array.from(K), E: Array.from(E) }),
    );
    const python = JSON.parse(out) as (number | null)[];
    expect(python).toHaveLength(ts.length);
    let compared = 0;
    python.forEach((v, i) => {
      if (v === null) expect(Number.isNaN(ts[i]!)).toBe(true);
      else {
        expect(ts[i]!).toBeCloseTo(v, 4);
        compared++;
      }
    });
    expect(compared).toBeGreaterThan(n * h * w * 3 * 0.8);
    // Skew matters: without it the first frame's points would differ.
    const noSkew = backprojectDepth(depth, n, h, w, Float64Array.from([...K].map((v, i) => (i === 1 ? 0 : v))), E);
    expect(Math.abs(noSkew[3 * (2 * w + 4)]! - ts[3 * (2 * w + 4)]!)).toBeGreaterThan(1e-3);
  });
});
