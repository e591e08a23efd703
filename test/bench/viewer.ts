/**
 * `npm run bench:viewer`: the 3D inspector in headless chromium (software WebGL, SwiftShader), through the
 * real `spatialclaw serve` and the real UI (Runs → sample → "Open in 3D").
 *
 * Synthetic reconstructions of 1M and 5M points are written by numpy in the run-folder artifact layout
 * (`<run>/samples/<sample>/artifacts/<id>/manifest.json` + `<name>.npy`), recorded in a run by the real run
 * store (RunWriter), and opened REPS times each. Measured in the page (performance.now()):
 *   - open → first frame: from the click on "Open in 3D" to the first frame that drew the cloud
 *     (after a 1-pixel readPixels, i.e. the GPU finished it); includes fetching and parsing the .npy
 *     arrays, building the cloud and compiling the shaders;
 *   - frame time at the default budget (2M points drawn): synchronous renders, each ending with a
 *     1-pixel read; baseline: the same camera rendering an empty scene in the same page.
 * Prints a table and a markdown block for docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import { launchChromium } from '../helpers/browser.ts';
import { ROOT } from '../helpers/cli.ts';
import { startServe, stopServe } from '../helpers/serve.ts';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const FRAMES = 20;
const PY = join(ROOT, '.venv', 'bin', 'python');

interface Case {
  name: string;
  frames: number;
  h: number;
  w: number;
  id: string;
}
const CASES: Case[] = [
  { name: '1M points', frames: 4, h: 500, w: 500, id: '1'.repeat(32) },
  { name: '5M points', frames: 20, h: 500, w: 500, id: '5'.repeat(32) },
];

function writeArtifact(dir: string, c: Case): void {
  // A room-like cloud: each frame sees a wall patch with depth noise; every 13th pixel invalid.
  execFileSync(PY, ['-c', `
import json, os, numpy as np
d = ${JSON.stringify(dir)}; os.makedirs(d, exist_ok=True)
N, H, W = ${c.frames}, ${c.h}, ${c.w}
rng = np.random.default_rng(0)
u, v = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
K = np.array([[400, 0, W / 2], [0, 400, H / 2], [0, 0, 1]], np.float64)
E = np.repeat(np.eye(4)[None], N, 0)
pts = np.empty((N, H, W, 3), np.float32); depth = np.empty((N, H, W), np.float32)
for f in range(N):
    a = 2 * np.pi * f / N
    E[f, :3, :3] = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]) @ np.diag([1, -1, -1])
    E[f, :3, 3] = [0, 1.5, 0]
    z = (3 + 0.3 * np.sin(u / 40) + rng.normal(0, 0.01, (H, W))).astype(np.float32)
    cam = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], -1)
    pts[f] = cam @ E[f, :3, :3].T.astype(np.float32) + E[f, :3, 3].astype(np.float32)
    depth[f] = z
idx = np.arange(N * H * W).reshape(N, H, W)
valid = (idx % 13) != 0
pts[~valid] = np.nan
conf = np.clip(1 - np.abs(u - W / 2) / W, 0, 1).astype(np.float32)[None].repeat(N, 0)
colors = np.stack([(u * 255 / W), (v * 255 / H), np.full_like(u, 128)], -1).astype(np.uint8)[None].repeat(N, 0)
arrays = dict(points=pts, depth=depth, confidence=conf, valid=valid, colors=colors, extrinsics=E,
              intrinsics=np.repeat(K[None], N, 0), frame_indices=np.arange(N, dtype=np.int64) * 10)
meta = {}
for k, a in arrays.items():
    np.save(os.path.join(d, k + '.npy'), a)
    meta[k] = dict(shape=list(a.shape), dtype=str(a.dtype), bytes=os.path.getsize(os.path.join(d, k + '.npy')))
rec = dict(id=os.path.basename(d), kind='reconstruction', backend='synthetic', created='2026-11-21T00:00:00Z',
           frame_indices=arrays['frame_indices'].tolist(), shapes={k: list(a.shape) for k, a in arrays.items()}, summary='synthetic', params={})
json.dump(dict(record=rec, arrays=meta, info={}), open(os.path.join(d, 'manifest.json'), 'w'))
`], { stdio: 'inherit' });
}

async function makeRun(runs: string): Promise<void> {
  const dir = join(runs, 'viewer-bench');
  const w = await RunWriter.create(dir, { config: { bench: 'viewer' }, versions: { workbench: 'bench' }, total_samples: 1 });
  const spec = { id: 's1', question: 'viewer benchmark', inputs: [{ kind: 'images' as const, path: '/nonexistent' }] };
  const s = w.startSample(spec);
  const t = new Date().toISOString();
  s.event({ t, step: 0, type: 'sample_start', sample: spec, executor: 'code' });
  CASES.forEach((c, i) => {
    writeArtifact(join(dir, 'samples', 's1', 'artifacts', c.id), c);
    s.event({
      t,
      step: i + 1,
      type: 'cell',
      result: {
        index: i + 1, origin: 'agent', code: `recon = tools.Reconstruct.Reconstruct(frames)  # ${c.name}`, status: 'ok', startedAt: t, durationMs: 1,
        stdout: '', stderr: '', result: null, error: null, violations: [], images: [], answer: null, variables: [], notes: [],
        artifacts: [{ id: c.id, tool: 'Reconstruct', kind: 'reconstruction', url: null, summary: c.name, frame_indices: Array.from({ length: c.frames }, (_, k) => k * 10) }],
      },
    });
    s.event({ t, step: i + 1, type: 'artifact', id: c.id, tool: 'Reconstruct', kind: 'reconstruction', url: null, summary: c.name });
  });
  await s.finish({
    id: 's1', question: spec.question, answer: null, answer_source: 'none', ground_truth: null, score: null, question_type: null, termination: 'stopped', steps: CASES.length,
    parse_failures: 0, usage: { prompt_tokens: 0, completion_tokens: 0 }, model_calls: 0, duration_s: 0, error: null, started_at: t, finished_at: t,
  });
  await w.finish('finished');
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const f1 = (x: number) => x.toFixed(1);

async function main(): Promise<void> {
  const runs = mkdtempSync(join(tmpdir(), 'sc-viewer-bench-'));
  console.error(`writing synthetic artifacts under ${runs} ...`);
  await makeRun(runs);
  const serve = await startServe(['--runs', runs]);
  const browser = await launchChromium();
  const results: { name: string; open: number[]; frame: number[]; empty: number[]; drawn: number }[] = [];
  try {
    const page = await browser.newPage();
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.goto(`${serve.url}/#token=${serve.token}`);
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('table', { name: 'Runs' }).getByRole('row').nth(1).getByRole('button').click();
    await page.getByRole('table', { name: 'Samples' }).getByRole('button', { name: 's1' }).click();
    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    for (const c of CASES) {
      const r = { name: c.name, open: [] as number[], frame: [] as number[], empty: [] as number[], drawn: 0 };
      for (let rep = 0; rep < REPS; rep++) {
        const button = timeline.getByRole('article').filter({ hasText: c.name }).getByRole('button', { name: 'Open in 3D' });
        await button.waitFor();
        const t0 = await page.evaluate(() => performance.now());
        await button.click();
        await page.waitForFunction(() => ((globalThis as unknown as { __scInspector?: { firstDrawnAt: number | null } }).__scInspector?.firstDrawnAt ?? null) !== null, null, { timeout: 300_000, polling: 50 });
        const probe = await page.evaluate((n) => {
          const p = (globalThis as unknown as { __scInspector: { firstDrawnAt: number; drawn: number; measureFrames: (n: number, e?: boolean) => number[] } }).__scInspector;
          return { first: p.firstDrawnAt, drawn: p.drawn, frame: p.measureFrames(n), empty: p.measureFrames(n, true) };
        }, FRAMES);
        r.open.push(probe.first - t0);
        r.frame.push(...probe.frame.slice(2));
        r.empty.push(...probe.empty.slice(2));
        r.drawn = probe.drawn;
        console.error(`${c.name} rep ${rep + 1}: open→first frame ${f1(probe.first - t0)} ms, frame p50 ${f1(pct(probe.frame, 50))} ms, drawn ${probe.drawn}`);
        await page.getByRole('button', { name: 'Close 3D inspector' }).first().click();
        await page.getByRole('dialog', { name: '3D inspector' }).waitFor({ state: 'detached' });
      }
      results.push(r);
    }
  } finally {
    await browser.close();
    await stopServe(serve);
    rmSync(runs, { recursive: true, force: true });
  }
  const lines = [
    `| artifact | points drawn | open → first frame p50 / p90 (ms) | frame time p50 / p90 (ms) | empty-scene frame p50 / p90 (ms) |`,
    `|---|---|---|---|---|`,
    ...results.map((r) => `| ${r.name} | ${r.drawn.toLocaleString('en-US')} | ${f1(pct(r.open, 50))} / ${f1(pct(r.open, 90))} | ${f1(pct(r.frame, 50))} / ${f1(pct(r.frame, 90))} | ${f1(pct(r.empty, 50))} / ${f1(pct(r.empty, 90))} |`),
  ];
  console.log(`Viewer benchmark: ${REPS} opens per artifact, ${FRAMES} frames each (first 2 dropped); headless chromium, SwiftShader WebGL`);
  console.log(lines.join('\n'));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
