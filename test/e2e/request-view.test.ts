/**
 * The request view end to end, in Debian's chromium, against the REAL `spatialclaw serve`: a past sample
 * written by the real run store (its model calls recorded with SampleWriter.recordRequest, images from the
 * bundled RGB-D frames) is opened from the Runs view, and each model call's "Request" shows the messages,
 * the images at the size sent, the parameters and the token usage.
 *
 * Runs after `npx electron-vite build` (out/renderer). Screenshots: test/.artifacts/request-view*.png.
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import type { CellResult } from '../../shared/kernel.ts';
import type { ModelRequest, RunEvent } from '../../shared/run.ts';
import { launchChromium } from '../helpers/browser.ts';
import { ROOT } from '../helpers/cli.ts';
import { QUESTION, ROOM } from '../helpers/rgbd-script.ts';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');
const T = (s: number) => `2025-11-21T10:00:${String(s).padStart(2, '0')}.000Z`;
const frame = (i: number) => readFileSync(join(ROOM, 'color', `${i}.png`));
const image = (i: number) => ({ type: 'image_url' as const, image_url: { url: `data:image/png;base64,${frame(i).toString('base64')}` } });
const SYSTEM = `You answer spatial questions by writing Python cells.\n\n${Array.from({ length: 60 }, (_, i) => `- tool ${i}: tools.Geometry.f${i}(x) returns a metric quantity of x.`).join('\n')}`;
const PARAMS = { max_tokens: 4096, temperature: 0.2, model: 'scripted-vlm', stream: false };
const usage = { prompt_tokens: 2345, completion_tokens: 67 };
const CODE = 'recon = tools.Reconstruct.Reconstruct(InputImages)\nshow(InputImages[0], label="first frame")';

// Run in the page (this file is type-checked without the DOM library).
const naturalWidth = (el: unknown): number => (el as { naturalWidth: number }).naturalWidth;
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

/** A past run written by the real store: planner, two steps (the first with a VLM call), the answer fallback. */
async function writeRun(runs: string): Promise<void> {
  const w = await RunWriter.create(join(runs, 'requests-run'), { config: { kind: 'ask', model: { name: 'scripted-vlm' } }, versions: {}, total_samples: 1 });
  const sample = { id: 'q1', question: QUESTION, inputs: [{ kind: 'rgbd_sample' as const, path: ROOM }] };
  const s = w.startSample(sample);
  const call = (step: number, t: number, role: string, messages: ChatCompletionMessageParam[], raw: string, parsed: Record<string, string> | null): ModelRequest => {
    const request = s.recordRequest(messages, PARAMS);
    s.event({ type: 'model_call', t: T(t), step, role, endpoint: 'http://127.0.0.1:8000/v1', latency_ms: 840, attempts: 1, usage, raw, reasoning: null, parsed, parse_error: null, request });
    return request;
  };
  s.event({ type: 'sample_start', t: T(0), step: 0, sample, executor: 'code' });
  call(0, 1, 'planner', [{ role: 'user', content: `Plan how to answer: ${QUESTION}` }], '1. Reconstruct. 2. Measure.', null);
  s.event({ type: 'plan', t: T(1), step: 0, text: '1. Reconstruct. 2. Measure.', error: null });
  const first: ChatCompletionMessageParam[] = [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: [image(1), image(3), image(5), { type: 'text', text: `Question: ${QUESTION}\nKey frames: frame 0, frame 2, frame 4.` }] },
  ];
  call(1, 2, 'main', first, `Code:\n${CODE}`, { purpose: 'reconstruct the frames', reasoning: 'poses give metric positions', next_goal: 'measure', code: CODE });
  const cell: CellResult = {
    index: 1, origin: 'agent', code: CODE, status: 'ok', startedAt: T(3), durationMs: 1200, stdout: 'camera moved 2.097 m\n', stderr: '', result: null,
    error: null, violations: [], images: [], answer: null, artifacts: [], variables: [], notes: [],
  };
  s.event({ type: 'cell', t: T(3), step: 1, result: cell });
  call(1, 4, 'vlm', [{ role: 'user', content: [image(2), { type: 'text', text: 'What room is this?' }] }], 'A living room.', { kind: 'ask', prompt: 'What room is this?' });
  s.event({ type: 'observation', t: T(4), step: 1, text: 'Out: camera moved 2.097 m', images: ['first frame'] });
  const second: ChatCompletionMessageParam[] = [
    ...first,
    { role: 'assistant', content: `Code:\n${CODE}` },
    { role: 'user', content: [{ type: 'text', text: 'Out: camera moved 2.097 m' }, image(1)] },
  ];
  call(2, 5, 'main', second, 'Code:\nprint(d)', { purpose: 'check the distance', reasoning: 'r', next_goal: 'answer', code: 'print(d)' });
  s.event({ type: 'cell', t: T(5), step: 2, result: { ...cell, index: 2, code: 'print(d)', startedAt: T(5), durationMs: 30, stdout: '2.097\n' } });
  call(2, 6, 'fallback', [{ role: 'user', content: [image(1), image(3), image(5), { type: 'text', text: `Answer directly: ${QUESTION}` }] }], '\\boxed{2.1}', null);
  const events: RunEvent[] = [
    { type: 'answer', t: T(6), step: 2, answer: '2.1', source: 'direct_answer' },
    { type: 'termination', t: T(7), step: 2, reason: 'max_steps', detail: 'no ReturnAnswer within 2 steps' },
  ];
  for (const e of events) s.event(e);
  await s.finish({
    id: 'q1', question: QUESTION, answer: '2.1', answer_source: 'direct_answer', ground_truth: null, score: null, question_type: null, termination: 'max_steps',
    steps: 2, parse_failures: 0, usage: { prompt_tokens: 5 * 2345, completion_tokens: 5 * 67 }, model_calls: 5, duration_s: 9, error: null, started_at: T(0), finished_at: T(7),
  });
  await w.finish('finished');
}

describe('request view against spatialclaw serve (a past sample recorded by the real store)', () => {
  let serve: Serve;
  let browser: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const runs = mkdtempSync(join(tmpdir(), 'sc-req-runs-'));
    await writeRun(runs);
    serve = await startServe(['--runs', runs], { SPATIALCLAW_HOME: mkdtempSync(join(tmpdir(), 'sc-req-home-')) });
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setViewportSize({ width: 1400, height: 900 });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stopServe(serve);
  }, 60_000);

  it('opens a model call of a past sample and shows every message, the images at the size sent, params and usage', async () => {
    await page.goto(`${serve.url}/#token=${serve.token}`);
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('table', { name: 'Runs' }).getByRole('button', { name: 'requests-run' }).click();
    await page.getByRole('table', { name: 'Samples' }).getByRole('button', { name: 'q1' }).click();
    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    const step1 = timeline.getByRole('article', { name: 'Step 1: reconstruct the frames' });
    await step1.waitFor();

    await step1.getByRole('button', { name: 'Request sent: step 1 model call' }).click();
    const view = page.getByRole('dialog', { name: 'Request sent: step 1 model call' });
    const messages = view.getByRole('list', { name: 'Messages' });
    await messages.getByRole('listitem').nth(1).waitFor();
    await expect(messages.getByRole('listitem').count()).resolves.toBe(2);
    const system = messages.getByRole('listitem', { name: 'Message 1: system' });
    const user = messages.getByRole('listitem', { name: 'Message 2: user' });
    // The long system prompt is cut until expanded, and collapses again.
    await expect(system.getByLabel('message 1 text').textContent()).resolves.toMatch(/^You answer spatial questions[\s\S]*…$/);
    await system.getByRole('button', { name: /show all/ }).click();
    await system.getByText('tool 59: tools.Geometry.f59(x)').waitFor();
    await system.getByRole('button', { name: 'collapse' }).click();
    await expect(user.getByLabel('message 2 text').textContent()).resolves.toContain(`Question: ${QUESTION}`);
    // Three key frames, each shown from its file at the size sent.
    const thumb = user.getByRole('img', { name: 'image 1 sent, 640×480' });
    await thumb.waitFor();
    await expect(user.getByRole('img').count()).resolves.toBe(3);
    await expect(thumb.evaluate(naturalWidth)).resolves.toBe(640);
    await expect(user.getByText(/640×480 · \d+ kB/).count()).resolves.toBe(3);
    // Parameters and usage.
    const params = view.getByRole('table', { name: 'Request parameters' });
    await expect(params.getByRole('row', { name: /max_tokens/ }).textContent()).resolves.toBe('max_tokens4096');
    await expect(params.getByRole('row', { name: /temperature/ }).textContent()).resolves.toBe('temperature0.2');
    await expect(view.getByRole('table', { name: 'Token usage' }).textContent()).resolves.toMatch(/^prompt tokens2,345completion tokens67$/);
    await expect(view.getByTestId('request-summary').textContent()).resolves.toMatch(/^2 messages · 3 images · [\d,]+ characters of text/);
    await view.locator('.request-body').evaluate(scrollToTop);
    await page.waitForTimeout(300);
    await view.screenshot({ path: join(ARTIFACTS, 'request-view.png') });

    // A thumbnail opens the image at full size; Escape closes it, then the view (focus returns to the button).
    await user.getByRole('button', { name: 'Open image 2 (640×480) full size' }).click();
    const full = view.getByRole('dialog', { name: 'Image 640×480 as sent' });
    const big = full.getByRole('img');
    await big.waitFor();
    await expect(big.evaluate(shownWidth)).resolves.toBe(640);
    await page.screenshot({ path: join(ARTIFACTS, 'request-view-image.png') });
    await page.keyboard.press('Escape');
    await full.waitFor({ state: 'detached' });
    await expect(page.evaluate(focusedLabel)).resolves.toBe('Open image 2 (640×480) full size');
    await page.keyboard.press('Escape');
    await view.waitFor({ state: 'detached' });
    await expect(page.evaluate(focusedLabel)).resolves.toBe('Request sent: step 1 model call');
  }, 120_000);

  it('has the request of the planner, the VLM call, a later step with its history, and the fallback', async () => {
    const open = async (name: string, count: number, texts: string[]) => {
      await page.getByRole('button', { name: `Request sent: ${name}` }).click();
      const view = page.getByRole('dialog', { name: `Request sent: ${name}` });
      const items = view.getByRole('list', { name: 'Messages' }).getByRole('listitem');
      await items.nth(count - 1).waitFor();
      await expect(items.count()).resolves.toBe(count);
      for (const t of texts) await view.getByText(t).first().waitFor();
      await view.getByRole('button', { name: 'Close request view' }).click();
      await view.waitFor({ state: 'detached' });
    };
    await page.screenshot({ path: join(ARTIFACTS, 'request-view-timeline.png') });
    await open('planner call', 1, [`Plan how to answer: ${QUESTION}`]);
    await page.getByRole('article', { name: 'Step 1: reconstruct the frames' }).getByText('VLM calls (1)').click();
    await open('step 1 VLM call 1', 1, ['What room is this?']);
    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    await timeline.evaluate(scrollToEnd);
    await open('step 2 model call', 4, ['Out: camera moved 2.097 m']);
    await open('answer fallback call', 1, [`Answer directly: ${QUESTION}`]);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
