/**
 * The 3D inspector end to end, in Debian's chromium (software WebGL), against the REAL `spatialclaw serve`.
 * The run is made by the real stack: `spatialclaw ask` with the scripted model, a real kernel and a local
 * perception server (rgbd + classical) on test/fixtures/rgbd_room, which copies the Reconstruct and the
 * segmentation artifacts into the run folder. The UI opens the reconstruction from the step timeline,
 * picks two points on the GPU, and the distance it reports is checked against numpy on points.npy at the
 * reported (frame, u, v).
 *
 * Runs after `npx electron-vite build` (out/renderer). Screenshots: test/.artifacts/inspector-*.png.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { ROOM, step } from '../helpers/rgbd-script.ts';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');
const PY = join(ROOT, '.venv', 'bin', 'python');

const WHY = 'the inspector needs a point cloud and masks.';
const SCRIPT = [
  '1. Reconstruct. 2. Segment the middle frame. 3. Answer.',
  step('reconstruct the frames', 'recon = tools.Reconstruct.Reconstruct(InputImages)\nprint(recon.frame_indices)', WHY),
  step('segment a box', 'seg = tools.SAM3.segment_image_by_box(InputImages[2], [200, 150, 420, 380], backend="classical")\nprint(seg.num_objects)', WHY),
  step('answer', 'ReturnAnswer(1.0)', WHY),
];

type Probe = { __scInspector?: { firstDrawnAt: number | null } };

/** Poll a numeric attribute until `ok` holds (60 s). */
async function waitAttr(loc: Locator, attr: string, ok: (v: number) => boolean): Promise<number> {
  const end = Date.now() + 60_000;
  for (;;) {
    const v = Number(await loc.getAttribute(attr));
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${attr} stayed at ${v}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('3D inspector against spatialclaw serve (real run with a Reconstruct artifact)', () => {
  let model: ScriptedModelServer;
  let serve: Serve;
  let browser: BrowserContext;
  let page: Page;
  let sampleDir: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    model = await startScriptedModelServer({ script: { q1: SCRIPT }, whenExhausted: 'error' });
    const runs = mkdtempSync(join(tmpdir(), 'sc-insp-runs-'));
    const home = mkdtempSync(join(tmpdir(), 'sc-insp-home-'));
    const out = join(runs, 'inspector-run');
    const r = await spatialclaw(['ask', '--input', ROOM, '--question', 'Inspect the room.', '--model', 'scripted-vlm', '--base-url', model.url, '--perception', 'local', '--out', out], { SPATIALCLAW_HOME: home }, 240_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    sampleDir = join(out, 'samples', 'q1');
    expect(existsSync(join(sampleDir, 'artifacts')), `no artifacts copied into ${sampleDir}`).toBe(true);
    serve = await startServe(['--runs', runs], { SPATIALCLAW_HOME: home });
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setViewportSize({ width: 1500, height: 950 });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await stopServe(serve);
    await model?.close();
  }, 60_000);

  const openSample = async () => {
    await page.goto(`${serve.url}/#token=${serve.token}`);
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('table', { name: 'Runs' }).getByRole('row').nth(1).getByRole('button').click();
    await page.getByRole('table', { name: 'Samples' }).getByRole('button', { name: 'q1' }).click();
    return page.getByRole('feed', { name: 'Step timeline' });
  };

  it('opens the reconstruction, draws every valid point, picks two points and measures what numpy measures', async () => {
    const timeline = await openSample();
    await timeline.getByRole('article', { name: 'Step 1: reconstruct the frames' }).getByRole('button', { name: 'Open in 3D' }).click();
    const insp = page.getByTestId('inspector');
    await page.locator('[data-testid="inspector"][data-state="ready"]').waitFor({ timeout: 120_000 });
    const stats = insp.getByTestId('inspector-stats');
    // The cloud was drawn (the inspector stamps its first frame for tests and the benchmark).
    await page.waitForFunction(() => ((globalThis as unknown as Probe).__scInspector?.firstDrawnAt ?? null) !== null, null, { timeout: 60_000 });
    const drawn = Number(await stats.getAttribute('data-drawn'));
    const eligible = Number(await stats.getAttribute('data-eligible'));
    // Every valid pixel of the 5 frames (numpy's count), under the default 2M budget.
    const artifactId = readdirSync(join(sampleDir, 'artifacts')).find((d) => existsSync(join(sampleDir, 'artifacts', d, 'points.npy')))!;
    const adir = join(sampleDir, 'artifacts', artifactId);
    const valid = Number(execFileSync(PY, ['-c', `import numpy as np; print(int(np.isfinite(np.load(${JSON.stringify(join(adir, 'points.npy'))})).all(-1).sum()))`], { encoding: 'utf8' }).trim());
    expect(eligible).toBe(valid);
    expect(drawn).toBe(valid);
    await page.screenshot({ path: join(ARTIFACTS, 'inspector-reconstruction.png') });

    // Click around the centre of the 3D view until two points are picked (GPU picking).
    const box = (await insp.getByTestId('inspector-canvas').boundingBox())!;
    const offsets = [[0, 0], [0.15, 0.1], [-0.2, 0.05], [0.1, -0.15], [-0.1, -0.1], [0.25, 0.2], [-0.25, 0.2], [0.05, 0.25]] as const;
    for (const [dx, dy] of offsets) {
      if ((await insp.locator('[data-testid^="pick-"][data-frame]').count()) >= 2) break;
      await page.mouse.click(box.x + box.width * (0.5 + dx), box.y + box.height * (0.5 + dy));
      await page.waitForTimeout(300);
    }
    const picks = insp.locator('[data-testid^="pick-"][data-frame]');
    await expect(picks.count()).resolves.toBe(2);
    const read = async (i: number) => {
      const el = insp.getByTestId(`pick-${i}`);
      const a = (n: string) => el.getAttribute(`data-${n}`).then(Number);
      return { frame: await a('frame'), u: await a('u'), v: await a('v'), xyz: [await a('x'), await a('y'), await a('z')] };
    };
    const p0 = await read(0);
    const p1 = await read(1);
    const reported = Number(await insp.getByTestId('measure-distance').getAttribute('data-metres'));
    expect(reported).toBeGreaterThan(0);
    const numpy = JSON.parse(
      execFileSync(PY, ['-c', `
import json, numpy as np
d = ${JSON.stringify(adir)}
P = np.load(d + '/points.npy'); F = np.load(d + '/frame_indices.npy').tolist()
a = P[F.index(${p0.frame}), ${p0.v}, ${p0.u}].astype(np.float64); b = P[F.index(${p1.frame}), ${p1.v}, ${p1.u}].astype(np.float64)
print(json.dumps(dict(a=a.tolist(), b=b.tolist(), d=float(np.linalg.norm(a - b)))))
`], { encoding: 'utf8' }).trim(),
    ) as { a: number[]; b: number[]; d: number };
    expect(Math.abs(reported - numpy.d)).toBeLessThanOrEqual(0.001);
    for (let k = 0; k < 3; k++) expect(Math.abs(p0.xyz[k]! - numpy.a[k]!)).toBeLessThan(1e-6);
    // The Python snippet carries the same points.
    await expect(insp.getByTestId('pick-python').textContent()).resolves.toContain(`frame ${p0.frame}, pixel (u=${p0.u}, v=${p0.v})`);
    await page.screenshot({ path: join(ARTIFACTS, 'inspector-picks.png') });

    // 2D → 3D: hovering a frame pixel reports its 3D point.
    const frame = insp.getByTestId('inspector-frame');
    const fb = (await frame.boundingBox())!;
    await page.mouse.move(fb.x + fb.width * 0.5, fb.y + fb.height * 0.5);
    await expect(insp.getByTestId('hover-readout').textContent()).resolves.toMatch(/pixel \(3\d\d, 2\d\d\) → \(-?\d+\.\d{3}, -?\d+\.\d{3}, -?\d+\.\d{3}\) m/);

    // Frame toggle and threshold change the drawn count.
    await insp.getByLabel('show frame 0').uncheck();
    await waitAttr(stats, 'data-drawn', (v) => v < drawn);
    await insp.getByLabel('colour mode').selectOption('height');
    await page.screenshot({ path: join(ARTIFACTS, 'inspector-height.png') });
    await page.getByRole('button', { name: 'Close 3D inspector' }).first().click();
    await page.getByRole('dialog', { name: '3D inspector' }).waitFor({ state: 'detached' });
  }, 240_000);

  it('opens the masks artifact and lifts the mask onto the reconstruction of the same frame', async () => {
    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    await timeline.getByRole('article', { name: 'Step 2: segment a box' }).getByRole('button', { name: 'Open in 3D' }).click();
    const insp = page.getByTestId('inspector');
    await page.locator('[data-testid="inspector"][data-state="ready"]').waitFor({ timeout: 120_000 });
    const obj = insp.getByTestId('mask-object-0');
    await waitAttr(obj, 'data-lifted', (v) => v > 0);
    const lifted = Number(await obj.getAttribute('data-lifted'));
    // numpy: valid points of frame 2 inside the mask.
    const maskDir = readdirSync(join(sampleDir, 'artifacts')).find((d) => existsSync(join(sampleDir, 'artifacts', d, 'masks.npy')))!;
    const reconDir = readdirSync(join(sampleDir, 'artifacts')).find((d) => existsSync(join(sampleDir, 'artifacts', d, 'points.npy')))!;
    const expected = Number(
      execFileSync(PY, ['-c', `
import numpy as np
a = ${JSON.stringify(join(sampleDir, 'artifacts'))}
M = np.load(a + '/${maskDir}/masks.npy'); P = np.load(a + '/${reconDir}/points.npy'); F = np.load(a + '/${reconDir}/frame_indices.npy').tolist()
MF = np.load(a + '/${maskDir}/frame_indices.npy').tolist()
print(int((M[0, 0] & np.isfinite(P[F.index(MF[0])]).all(-1)).sum()))
`], { encoding: 'utf8' }).trim(),
    );
    expect(expected).toBeGreaterThan(0);
    expect(lifted).toBe(expected);
    // The mask was made on InputImages[2]: it is keyed by that frame's absolute index, not position 0.
    const maskFrames = execFileSync(PY, ['-c', `import numpy as np; print(np.load(${JSON.stringify(join(sampleDir, 'artifacts', maskDir, 'frame_indices.npy'))}).tolist())`], { encoding: 'utf8' }).trim();
    expect(maskFrames).toBe('[2]');
    // The object is named by the label the server gave it (kept in the run's manifest), not a placeholder.
    const kept = JSON.parse(readFileSync(join(sampleDir, 'artifacts', maskDir, 'manifest.json'), 'utf8')) as { record: { labels?: string[] } };
    expect(kept.record.labels).toEqual(['object 1']);
    await expect(obj.getByRole('checkbox', { name: 'show object object 1' }).count()).resolves.toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'inspector-masks.png') });
    expect(pageErrors).toEqual([]);
  }, 180_000);
});
