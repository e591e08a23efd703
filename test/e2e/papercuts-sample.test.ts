/**
 * Opening a sample and the 3D inspector's papercuts (issue 15), end to end in Debian's chromium against the
 * REAL `spatialclaw serve`. The run is made by the real stack: `spatialclaw ask` with the scripted model, a
 * real kernel and a local perception server (rgbd + classical) on test/fixtures/rgbd_room, with a ground truth.
 * The scripted model plans in markdown, reconstructs and show()s two frames, writes a failing cell, runs out
 * of steps (--max-steps 2), and the answer fallback answers.
 *
 * Checked: the sample header (ground truth, answer and its source, score, correct, termination, steps); the
 * plan rendered as markdown; the planner and the fallback calls as timeline entries of their own; a show()
 * image opened in the image viewer at its natural size (the PNG's width), arrow keys, Escape; in the inspector,
 * the colour legend, "Look through camera" (the camera's pose and fov from the artifact's arrays, read with
 * numpy) and "Reset view" read back through `window.__scInspector.camera()`, and a click on a pixel without
 * depth that says so.
 *
 * Runs after `npx electron-vite build` (out/renderer). Screenshots: test/.artifacts/ui-sample-header.png,
 * ui-image-viewer.png, ui-inspector-legend.png.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageSize } from '../../shared/image.ts';
import type { RunEvent } from '../../shared/run.ts';
import { openWorkbenchPage } from '../helpers/workbench-page.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { QUESTION, ROOM, step } from '../helpers/rgbd-script.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');
const PY = join(ROOT, '.venv', 'bin', 'python');

const PLAN = 'Plan:\n\n1. **Reconstruct** the room from the frames\n2. Measure how far the camera moved';
const SCRIPT = [
  PLAN,
  step('reconstruct the frames', 'recon = tools.Reconstruct.Reconstruct(InputImages)\nshow(InputImages[0], label="first frame")\nshow(InputImages[4], label="last frame")'),
  step('check a name', 'a = 1\nb = undefined_name + a'),
  'The camera moved about two metres.\n\n\\boxed{2.1}',
];

type Cam = { position: number[]; direction: number[]; up: number[]; fov: number };
type Probe = { __scInspector?: { firstDrawnAt: number | null; camera: (() => Cam) | null } };

// Run in the page (this file is type-checked without the DOM library).
const naturalWidth = (el: unknown): number => (el as { naturalWidth: number }).naturalWidth;
const naturalHeight = (el: unknown): number => (el as { naturalHeight: number }).naturalHeight;
const shownWidth = (el: unknown): number => Math.round((el as { getBoundingClientRect(): { width: number } }).getBoundingClientRect().width);
const scrollToEnd = (el: unknown): void => {
  const e = el as { scrollTop: number; scrollHeight: number };
  e.scrollTop = e.scrollHeight;
};
const scrollToTop = (el: unknown): void => {
  (el as { scrollTop: number }).scrollTop = 0;
};
const focusedLabel = (): string | null =>
  (globalThis as unknown as { document: { activeElement: { getAttribute(name: string): string | null } | null } }).document.activeElement?.getAttribute('aria-label') ?? null;
const readCamera = (): Cam => (globalThis as unknown as Probe).__scInspector!.camera!();

const near = (a: number[], b: number[], eps: number) => a.every((x, i) => Math.abs(x - b[i]!) <= eps);
const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

describe('opening a sample and the inspector papercuts (real run with a fallback, show() images and a reconstruction)', () => {
  let model: ScriptedModelServer;
  let serve: Serve;
  let browser: BrowserContext;
  let page: Page;
  let sampleDir: string;
  let pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    model = await startScriptedModelServer({ script: { q1: SCRIPT }, whenExhausted: 'error' });
    const runs = mkdtempSync(join(tmpdir(), 'sc-papercuts-runs-'));
    const home = mkdtempSync(join(tmpdir(), 'sc-papercuts-home-'));
    const out = join(runs, 'papercuts-run');
    const r = await spatialclaw(
      ['ask', '--input', ROOM, '--question', QUESTION, '--answer', '2.1', '--max-steps', '2', '--model', 'scripted-vlm', '--base-url', model.url, '--perception', 'local', '--out', out],
      { SPATIALCLAW_HOME: home },
      240_000,
    );
    expect(r.code, r.stderr + r.stdout).toBe(0);
    sampleDir = join(out, 'samples', 'q1');
    expect(existsSync(join(sampleDir, 'artifacts')), `no artifacts copied into ${sampleDir}`).toBe(true);
    // The record has what the UI must show: planner, failed cell, fallback, show() images, a score.
    const events = readFileSync(join(sampleDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    const roles = events.flatMap((e) => (e.type === 'model_call' ? [e.role] : []));
    expect(roles).toEqual(['planner', 'main', 'main', 'fallback']);
    expect(events.some((e) => e.type === 'cell' && e.result.status === 'error')).toBe(true);
    const result = JSON.parse(readFileSync(join(out, 'samples.jsonl'), 'utf8').trim().split('\n')[0]!) as { score: number; answer_source: string; termination: string };
    expect(result).toMatchObject({ score: 1, answer_source: 'direct_answer', termination: 'max_steps' });
    serve = await startServe(['--runs', runs], { SPATIALCLAW_HOME: home });
    ({ browser, page, pageErrors } = await openWorkbenchPage(serve, { width: 1500, height: 950, goto: false }));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await stopServe(serve);
    await model?.close();
  }, 60_000);

  /** The PNG written for a show() image with this label: its path and pixel size. */
  const shownImage = (label: string): { path: string; width: number; height: number } => {
    const events = readFileSync(join(sampleDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    const ev = events.find((e): e is Extract<RunEvent, { type: 'image' }> => e.type === 'image' && e.label === label);
    expect(ev, `no image event labelled ${label}`).toBeDefined();
    const size = imageSize(readFileSync(join(sampleDir, ev!.path)));
    expect(size?.type).toBe('png');
    return { path: ev!.path, width: size!.width, height: size!.height };
  };

  it('opens the past sample with its ground truth, score, answer source and termination in the header, and every model call', async () => {
    await page.goto(`${serve.url}/#token=${serve.token}`);
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('table', { name: 'Runs' }).getByRole('button', { name: 'papercuts-run' }).click();
    await page.getByRole('table', { name: 'Samples' }).getByRole('button', { name: 'q1' }).click();

    const header = page.getByRole('region', { name: 'Sample summary' });
    await header.getByTestId('header-outcome').waitFor({ timeout: 30_000 });
    await expect(header.getByRole('heading', { level: 3 }).textContent()).resolves.toBe(QUESTION);
    await expect(header.getByTestId('header-ground-truth').textContent()).resolves.toBe('2.1');
    await expect(header.getByTestId('header-answer').textContent()).resolves.toBe('2.1 (direct-answer fallback)');
    await expect(header.getByTestId('header-score').textContent()).resolves.toMatch(/^1\.00 correct$/);
    await expect(header.getByTestId('header-outcome').textContent()).resolves.toBe('correct');
    await expect(header.getByTestId('header-termination').textContent()).resolves.toMatch(/^max_steps no ReturnAnswer within 2 steps/);
    await expect(header.getByTestId('header-steps').textContent()).resolves.toBe('2');
    await expect(header.getByTestId('header-duration').textContent()).resolves.toMatch(/^\d+(\.\d)? s$|min/);
    await expect(header.getByTestId('header-tokens').textContent()).resolves.toMatch(/^[\d.]+k? \([\d.]+k? prompt \+ \d+ completion, 4 model calls\)$/);

    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    // The plan is rendered markdown: a list with bold, not asterisks.
    const plan = timeline.getByLabel('plan text', { exact: true });
    await plan.locator('li').first().waitFor();
    await expect(plan.locator('li').count()).resolves.toBe(2);
    await expect(plan.locator('strong').textContent()).resolves.toBe('Reconstruct');
    await expect(plan.textContent()).resolves.not.toContain('**');
    // The planner call is an entry of its own, with its request.
    const planner = timeline.getByRole('article', { name: 'Planner call' });
    await planner.waitFor();
    await planner.getByRole('button', { name: 'Request sent: planner call' }).waitFor();
    // The failed cell.
    const step2 = timeline.getByRole('article', { name: 'Step 2: check a name' });
    await step2.getByRole('alert', { name: 'cell error' }).filter({ hasText: 'NameError' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'ui-sample-header.png') });

    // The answer fallback: its own entry after the steps, with its reply and its request.
    const fallback = timeline.getByRole('article', { name: 'Answer fallback call' });
    for (let i = 0; i < 40 && !(await fallback.count()); i++) {
      await timeline.evaluate(scrollToEnd);
      await page.waitForTimeout(50);
    }
    await fallback.waitFor();
    await expect(fallback.getByLabel('Answer fallback call reply', { exact: true }).textContent()).resolves.toContain('The camera moved about two metres.');
    await fallback.getByRole('button', { name: 'Request sent: answer fallback call' }).click();
    const request = page.getByRole('dialog', { name: 'Request sent: answer fallback call' });
    await request.getByRole('list', { name: 'Messages' }).getByRole('listitem').first().waitFor();
    await request.getByRole('button', { name: 'Close request view' }).click();
    await request.waitFor({ state: 'detached' });
    await expect(page.getByTestId('final-answer').textContent()).resolves.toBe('2.1');
    await timeline.getByText(/score 1\.00 \(correct\)/).waitFor();
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('opens a show() image at its natural size in the image viewer; arrows move, Escape closes', async () => {
    const first = shownImage('first frame');
    const last = shownImage('last frame');
    // Step 1's images, in the order the timeline shows them: the two show() calls.
    const events = readFileSync(join(sampleDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    const labels = events.flatMap((e) => (e.type === 'image' && e.step === 1 ? [e.label] : []));
    expect(labels).toEqual(['first frame', 'last frame']);
    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    await timeline.evaluate(scrollToTop);
    const step1 = timeline.getByRole('article', { name: 'Step 1: reconstruct the frames' });
    await step1.getByRole('img', { name: 'first frame' }).waitFor({ timeout: 30_000 });
    await step1.getByRole('button', { name: `Open image first frame (${first.width}×${first.height}) full size` }).click();

    const viewer = page.getByRole('dialog', { name: 'Image: first frame' });
    const big = viewer.getByRole('img', { name: 'first frame at full size' });
    await big.waitFor();
    await expect.poll(() => big.evaluate(naturalWidth)).toBe(first.width);
    await expect(big.evaluate(naturalHeight)).resolves.toBe(first.height);
    await expect(big.evaluate(shownWidth)).resolves.toBe(first.width);
    await expect(viewer.getByTestId('image-viewer-size').textContent()).resolves.toBe(`${first.width}×${first.height} px`);
    await expect(viewer.getByTestId('image-viewer-position').textContent()).resolves.toBe('1 of 2');
    await expect(viewer.getByRole('link', { name: 'Open image alone' }).getAttribute('target')).resolves.toBe('_blank');
    await expect(page.evaluate(focusedLabel)).resolves.toBe('Close image viewer');
    await page.screenshot({ path: join(ARTIFACTS, 'ui-image-viewer.png') });

    // → shows the step's next image, ← goes back.
    await page.keyboard.press('ArrowRight');
    const next = page.getByRole('dialog', { name: 'Image: last frame' });
    await next.getByRole('img', { name: 'last frame at full size' }).waitFor();
    await expect.poll(() => next.getByRole('img').evaluate(naturalWidth)).toBe(last.width);
    await expect(next.getByTestId('image-viewer-position').textContent()).resolves.toBe('2 of 2');
    await page.keyboard.press('ArrowLeft');
    await viewer.waitFor();

    // Escape closes it; focus returns to the thumbnail. The Close button closes it too.
    await page.keyboard.press('Escape');
    await viewer.waitFor({ state: 'detached' });
    await expect(page.evaluate(focusedLabel)).resolves.toBe(`Open image first frame (${first.width}×${first.height}) full size`);
    await page.keyboard.press('Enter');
    await viewer.waitFor();
    await viewer.getByRole('button', { name: 'Close image viewer' }).click();
    await viewer.waitFor({ state: 'detached' });
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('shows the colour legend, looks through a camera and resets the view, and says when a picked pixel has no depth', async () => {
    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    await timeline.evaluate(scrollToTop);
    await timeline.getByRole('article', { name: 'Step 1: reconstruct the frames' }).getByRole('button', { name: 'Open in 3D' }).first().click();
    const insp = page.getByTestId('inspector');
    await page.locator('[data-testid="inspector"][data-state="ready"]').waitFor({ timeout: 120_000 });
    await page.waitForFunction(() => ((globalThis as unknown as Probe).__scInspector?.firstDrawnAt ?? null) !== null, null, { timeout: 60_000 });

    // The legend says what the colours mean; in depth mode, with a colour bar and its range in metres.
    const legend = insp.getByTestId('inspector-legend');
    await expect(legend.getAttribute('data-mode')).resolves.toBe('rgb');
    await expect(legend.textContent()).resolves.toContain('each point has its pixel’s colour in the frame');
    await insp.getByLabel('colour mode').selectOption('depth');
    await page.locator('[data-testid="inspector-legend"][data-mode="depth"][data-min]').waitFor();
    const lo = Number(await legend.getAttribute('data-min'));
    const hi = Number(await legend.getAttribute('data-max'));
    expect(lo).toBeGreaterThan(0);
    expect(hi).toBeGreaterThan(lo);
    await expect(legend.getByTestId('legend-min').textContent()).resolves.toBe(`${lo.toFixed(2)} m`);
    await expect(legend.getByTestId('legend-max').textContent()).resolves.toBe(`${hi.toFixed(2)} m`);
    await legend.getByRole('img', { name: /^colour bar from / }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'ui-inspector-legend.png') });

    // Look through camera 2: the viewer camera takes that frame's pose (OpenCV → three.js axes) and fov.
    const artifactId = readdirSync(join(sampleDir, 'artifacts')).find((d) => existsSync(join(sampleDir, 'artifacts', d, 'points.npy')))!;
    const adir = join(sampleDir, 'artifacts', artifactId);
    const pose = JSON.parse(
      execFileSync(PY, ['-c', `
import json, numpy as np
d = ${JSON.stringify(adir)}
E = np.load(d + '/extrinsics.npy').astype(np.float64); K = np.load(d + '/intrinsics.npy').astype(np.float64); P = np.load(d + '/points.npy')
E = E if E.ndim == 3 else E[None]; K = K if K.ndim == 3 else np.repeat(K[None], len(E), 0)
F = np.load(d + '/frame_indices.npy').tolist()
print(json.dumps(dict(frame=F[2], t=E[2][:3, 3].tolist(), z=E[2][:3, 2].tolist(), y=E[2][:3, 1].tolist(), fov=float(np.degrees(2 * np.arctan(P.shape[1] / (2 * K[2][1, 1])))))))
`], { encoding: 'utf8' }).trim(),
    ) as { frame: number; t: number[]; z: number[]; y: number[]; fov: number };
    const initial = await page.evaluate(readCamera);
    await insp.getByLabel('camera to look through').selectOption('2');
    await insp.getByRole('button', { name: `Look through camera ${pose.frame}` }).click();
    const through = await page.evaluate(readCamera);
    expect(near(through.position, pose.t, 1e-4), `${through.position} vs ${pose.t}`).toBe(true);
    expect(near(through.direction, unit(pose.z), 1e-4), `${through.direction} vs ${pose.z}`).toBe(true);
    expect(near(through.up, unit(pose.y).map((x) => -x), 1e-3), `${through.up} vs -${pose.y}`).toBe(true);
    expect(Math.abs(through.fov - pose.fov)).toBeLessThan(1e-6);
    await insp.getByRole('status').filter({ hasText: `looking through the camera of frame ${pose.frame}` }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'ui-inspector-look-through.png') });

    // Reset view: back to the initial framing.
    await insp.getByRole('button', { name: 'Reset view' }).click();
    const reset = await page.evaluate(readCamera);
    expect(near(reset.position, initial.position, 1e-6)).toBe(true);
    expect(near(reset.direction, initial.direction, 1e-6)).toBe(true);
    expect(reset.fov).toBe(50);
    expect(near(initial.position, through.position, 1e-3)).toBe(false);

    // A click on a frame pixel without depth says so, and picks nothing.
    const frameView = insp.getByRole('region', { name: 'frame view' });
    const frameIndex = Number(/Frame (\d+)/.exec((await frameView.textContent()) ?? '')?.[1]);
    expect(Number.isInteger(frameIndex)).toBe(true);
    const hole = JSON.parse(
      execFileSync(PY, ['-c', `
import json, numpy as np
d = ${JSON.stringify(adir)}
P = np.load(d + '/points.npy'); F = np.load(d + '/frame_indices.npy').tolist()
bad = ~np.isfinite(P[F.index(${frameIndex})]).all(-1)
block = np.lib.stride_tricks.sliding_window_view(bad, (15, 15)).all(axis=(2, 3))
v, u = np.argwhere(block)[0]
print(json.dumps(dict(u=int(u) + 7, v=int(v) + 7, h=int(P.shape[1]), w=int(P.shape[2]))))
`], { encoding: 'utf8' }).trim(),
    ) as { u: number; v: number; h: number; w: number };
    const canvas = insp.getByTestId('inspector-frame');
    const box = (await canvas.boundingBox())!;
    await page.mouse.click(box.x + ((hole.u + 0.5) / hole.w) * box.width, box.y + ((hole.v + 0.5) / hole.h) * box.height);
    const message = insp.getByTestId('pick-message');
    await message.waitFor();
    const said = (await message.textContent()) ?? '';
    const m = /^no depth at \((\d+), (\d+)\) in frame (\d+): pick another pixel$/.exec(said);
    expect(m, said).not.toBeNull();
    expect(Math.abs(Number(m![1]) - hole.u)).toBeLessThanOrEqual(7);
    expect(Math.abs(Number(m![2]) - hole.v)).toBeLessThanOrEqual(7);
    expect(Number(m![3])).toBe(frameIndex);
    await expect(insp.locator('[data-testid^="pick-"][data-frame]').count()).resolves.toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'ui-inspector-no-depth.png') });
    await page.getByRole('button', { name: 'Close 3D inspector' }).first().click();
    await page.getByRole('dialog', { name: '3D inspector' }).waitFor({ state: 'detached' });
    expect(pageErrors).toEqual([]);
  }, 240_000);
});
