/**
 * The workbench UI end to end, in Debian's chromium, against the REAL `spatialclaw serve` (started
 * through the CLI): real Jupyter kernels, a real local perception server (rgbd + classical), the
 * real run store. Only the VLM is scripted (test/helpers/scripted-model.ts).
 *
 * Runs after `npx electron-vite build` (out/renderer). Screenshots: test/.artifacts/ui-*.png.
 */
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { ROOT } from '../helpers/cli.ts';
import { ANSWER, QUESTION, ROOM, reconstructStep, step } from '../helpers/rgbd-script.ts';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import type { CellResult } from '../../shared/kernel.ts';
import type { SampleResult } from '../../shared/run.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');

const RECONSTRUCT = reconstructStep(['show(InputImages[0], label="first frame")']);
const OOPS = step('check a name', 'a = 1\nb = undefined_name + a');

const BIG_STEPS = 30;
const BIG_IMAGES = 250;
const BIG_SAMPLES = 5000;

const resultOf = (id: string, i: number, steps: number): SampleResult => ({
  id, question: `synthetic question ${i}`, answer: String(i % 4), answer_source: 'return_answer', ground_truth: '1', score: i % 4 === 1 ? 1 : 0,
  question_type: 'synthetic', termination: 'answered', steps, parse_failures: 0, usage: { prompt_tokens: 10, completion_tokens: 5 },
  model_calls: steps, duration_s: 1 + (i % 7), error: null, started_at: '2025-11-21T10:00:00.000Z', finished_at: '2025-11-21T10:00:05.000Z',
});

/**
 * Two large runs written with the real run store: one sample with 30 steps and 250 show() images
 * (PNG files written by the store), and a run of 5,000 finished samples (samples.jsonl lines).
 */
async function writeLargeRuns(runs: string): Promise<void> {
  const png = join(mkdtempSync(join(tmpdir(), 'sc-ui-png-')), 'small.png');
  execFileSync(join(ROOT, '.venv', 'bin', 'python'), ['-c', `from PIL import Image; Image.open(${JSON.stringify(join(ROOM, 'color', '1.png'))}).resize((160, 120)).save(${JSON.stringify(png)})`]);
  const b64 = readFileSync(png).toString('base64');
  const t = (k: number) => new Date(Date.UTC(2025, 10, 21, 10, 0, 0, k)).toISOString();

  const w = await RunWriter.create(join(runs, 'big-timeline'), { config: { kind: 'run', model: { name: 'synthetic' } }, versions: {}, total_samples: 1 });
  const spec = { id: 'big', question: 'A long synthetic trajectory', inputs: [{ kind: 'rgbd_sample' as const, path: ROOM }] };
  const s = w.startSample(spec);
  s.event({ type: 'sample_start', t: t(0), step: 0, sample: spec, executor: 'code' });
  let left = BIG_IMAGES;
  for (let k = 1; k <= BIG_STEPS; k++) {
    const n = Math.ceil(left / (BIG_STEPS - k + 1));
    left -= n;
    s.event({ type: 'model_call', t: t(k * 10), step: k, role: 'main', endpoint: 'e', latency_ms: 5, attempts: 1, usage: { prompt_tokens: 10, completion_tokens: 5 }, raw: `step ${k}`, reasoning: null, parsed: { purpose: `synthetic step ${k}`, code: `x${k} = ${k}` }, parse_error: null });
    const result: CellResult = {
      index: k, origin: 'agent', code: `x${k} = ${k}\nfor i in range(${n}):\n    show(frame, label=f"s${k} image {i}")`, status: 'ok', startedAt: t(k * 10 + 1), durationMs: 3,
      stdout: `step ${k}\n`.repeat(20), stderr: '', result: null, error: null, violations: [], answer: null, artifacts: [], notes: [],
      variables: [{ name: `x${k}`, type: 'int', line: `x${k}: int = ${k}` }],
      images: Array.from({ length: n }, (_, i) => ({ index: i + 1, label: `s${k} image ${i}`, width: 160, height: 120, source: 'show' as const, png: b64 })),
    };
    s.event({ type: 'cell', t: t(k * 10 + 2), step: k, result });
  }
  s.event({ type: 'answer', t: t(999), step: BIG_STEPS, answer: '1', source: 'return_answer' });
  s.event({ type: 'termination', t: t(999), step: BIG_STEPS, reason: 'answered', detail: null });
  await s.finish(resultOf('big', 1, BIG_STEPS));
  await w.finish('finished');

  const many = join(runs, 'many-samples');
  const m = await RunWriter.create(many, { config: { kind: 'run', model: { name: 'synthetic' } }, versions: {}, total_samples: BIG_SAMPLES });
  await m.finish('finished');
  appendFileSync(join(many, 'samples.jsonl'), Array.from({ length: BIG_SAMPLES }, (_, i) => `${JSON.stringify(resultOf(`s${String(i).padStart(5, '0')}`, i, 3))}\n`).join(''));
  // Its results.json, written by the real producer (python-eval/spatial_eval/results.py) for 40 BLINK answers, 10 right.
  execFileSync(join(ROOT, '.venv', 'bin', 'python'), ['-c', [
    'import json, sys',
    'from spatial_eval.types import Sample, Scored',
    'from spatial_eval.results import build_results',
    'items = [Scored(Sample("blink", str(i), "q", [{"kind": "images", "path": "/a.png"}], "(A)", question_type="Counting"), "(A)" if i < 10 else "(B)", 1.0 if i < 10 else 0.0) for i in range(40)]',
    'json.dump(build_results(items, "official", n_resamples=100), open(sys.argv[1], "w"))',
  ].join('\n'), join(many, 'results.json')]);
}

/** Scroll an element to its end (run in the page). */
function scrollToEnd(el: unknown): void {
  const e = el as { scrollTop: number; scrollHeight: number };
  e.scrollTop = e.scrollHeight;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `ui-${name}.png`) });
}

describe('workbench UI against spatialclaw serve (real kernels and perception)', () => {
  let model: ScriptedModelServer;
  let serve: Serve;
  let runs: string;
  let browser: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  /** Host methods the page called, in order. */
  const calls: string[] = [];
  const count = (method: string) => calls.filter((c) => c === method).length;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // The plan comes after 2 s, so the Ask view shows where the question is before its first step.
    model = await startScriptedModelServer({ script: { q1: [{ content: '1. Reconstruct the frames. 2. Measure the camera displacement.', delayMs: 2000 }, RECONSTRUCT, OOPS, { content: ANSWER, delayMs: 2500 }] }, whenExhausted: 'error', model: 'scripted-vlm' });
    const home = mkdtempSync(join(tmpdir(), 'sc-ui-home-'));
    mkdirSync(join(home, 'models'), { recursive: true });
    writeFileSync(join(home, 'models', 'scripted-vlm.json'), JSON.stringify({ name: 'scripted-vlm', base_url: model.url, timeout_s: 60, max_retries: 1 }));
    runs = mkdtempSync(join(tmpdir(), 'sc-ui-runs-'));
    await writeLargeRuns(runs);
    serve = await startServe(['--runs', runs], { SPATIALCLAW_HOME: home });
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setViewportSize({ width: 1400, height: 900 });
    page.on('request', (r) => {
      const m = /\/api\/call\/(\w+)$/.exec(r.url());
      if (m) calls.push(m[1]!);
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      // Chromium logs every 4xx answer as a console error; the test causes one on purpose (a bad endpoint).
      if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 400/.test(m.text())) pageErrors.push(m.text());
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stopServe(serve);
    await model?.close();
  }, 60_000);

  it('refuses API requests without the token', async () => {
    const none = await fetch(`${serve.url}/api/call/doctor`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(none.status).toBe(401);
    const wrong = await fetch(`${serve.url}/api/call/doctor`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer nope' }, body: '{}' });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${serve.url}/api/call/listRuns`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${serve.token}` }, body: '{}' });
    expect(right.status).toBe(200);
  });

  it('connects with the #token URL, strips it from the address bar, and sets up a perception server in Settings', async () => {
    await page.goto(`${serve.url}/#token=${serve.token}`);
    await page.getByTestId('transport').filter({ hasText: 'http' }).waitFor();
    expect(page.url()).not.toContain(serve.token);
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    // The model config written to <home>/models is listed; testing it reaches the scripted endpoint.
    const models = page.getByRole('table', { name: 'Model endpoint list' });
    await models.getByText('scripted-vlm', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Test scripted-vlm' }).click();
    await models.getByText(/reachable \(\d+ ms\)/).waitFor({ timeout: 30_000 });
    // A bad endpoint gets the host's message, not a blank.
    await page.getByLabel('Model name').fill('broken');
    await page.getByLabel('Base URL').fill('not a url');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByRole('region', { name: 'Model endpoints' }).getByRole('alert').waitFor();
    // Start a local perception server (rgbd + classical are checked by default).
    await page.getByRole('button', { name: 'Start local server' }).click();
    const servers = page.getByRole('table', { name: 'Perception server list' });
    await servers.getByText('healthy', { exact: true }).waitFor({ timeout: 90_000 });
    await expect(servers.textContent()).resolves.toMatch(/rgbd/);
    // Kernel settings and the doctor.
    await expect(page.getByLabel('Kernel pool size').inputValue()).resolves.toMatch(/^\d+$/);
    await page.getByRole('table', { name: 'Installation check results' }).waitFor({ timeout: 60_000 });
    await shot(page, 'settings');
  }, 150_000);

  it('asks a question about the real RGB-D sample and shows the steps and the answer live', async () => {
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await page.getByLabel('Input kind').selectOption('rgbd_sample');
    await page.getByRole('textbox', { name: 'Input folder' }).fill(ROOM);
    await page.getByRole('button', { name: 'Preview frames' }).click();
    await expect(page.getByTestId('preview-info').textContent()).resolves.toMatch(/5 frames, 640×480; binds 5 frames · depth · poses/);
    await page.getByRole('img', { name: 'frame 4' }).waitFor({ timeout: 30_000 });
    await page.getByLabel('Question', { exact: true }).fill(QUESTION);
    await page.getByLabel('Ground truth (optional)').fill('2.1');
    await page.getByLabel('Model endpoint').selectOption('scripted-vlm');
    const perception = page.getByLabel('Perception server');
    const serverName = await perception.locator('option').nth(1).getAttribute('value');
    expect(serverName).toBeTruthy();
    await perception.selectOption(serverName!);
    await page.getByRole('button', { name: 'Run', exact: true }).click();

    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    // Before the plan arrives: the phase, not a bare spinner (the plan call takes 2 s).
    await timeline.getByText('Waiting for the model…').waitFor({ timeout: 60_000 });
    // The plan, then step 1 with its output, while the sample is still running (the answer is delayed).
    await timeline.getByText('Measure the camera displacement').waitFor({ timeout: 120_000 });
    const step1 = timeline.getByRole('article', { name: 'Step 1: reconstruct the frames' });
    await step1.getByLabel('stdout').filter({ hasText: /camera moved 2\.(09|10)\d m/ }).waitFor({ timeout: 120_000 });
    await step1.getByRole('img', { name: 'first frame' }).waitFor({ timeout: 30_000 });
    await expect(step1.getByRole('button', { name: 'Open in 3D' }).count()).resolves.toBeGreaterThan(0);
    const step2 = timeline.getByRole('article', { name: 'Step 2: check a name' });
    await step2.getByRole('alert', { name: 'cell error' }).filter({ hasText: 'NameError' }).waitFor({ timeout: 60_000 });
    await step2.getByLabel('failing line 2').waitFor();
    await expect(page.getByTestId('sample-status').textContent()).resolves.toBe('running');
    await expect(page.getByTestId('counters').textContent()).resolves.toMatch(/[1-9][\d.]*k? prompt \+ [1-9]\d* completion tokens · [\d.]+ s · 2 steps/);
    await page.getByRole('button', { name: 'Stop' }).waitFor();
    await shot(page, 'ask-running');
    // What step 1's model call sent, from the live record: the system prompt, then the key frames and the question.
    await step1.getByRole('button', { name: 'Request sent: step 1 model call' }).click();
    const request = page.getByRole('dialog', { name: 'Request sent: step 1 model call' });
    const first = request.getByRole('listitem', { name: 'Message 2: user' });
    await first.getByLabel('message 2 text').filter({ hasText: QUESTION }).waitFor();
    await first.getByRole('img', { name: /^image 1 sent, \d+×\d+$/ }).waitFor();
    await request.getByRole('listitem', { name: 'Message 1: system' }).waitFor();
    await request.getByRole('button', { name: 'Close request view' }).click();
    await request.waitFor({ state: 'detached' });

    await expect(page.getByTestId('final-answer').textContent({ timeout: 60_000 })).resolves.toBe('2.1');
    await page.getByTestId('sample-status').filter({ hasText: 'answered' }).waitFor({ timeout: 30_000 });
    await timeline.getByText(/score 1\.00/).waitFor({ timeout: 30_000 });
    await shot(page, 'ask-answered');

    // "Open in 3D" mounts the inspector; it closes again.
    await step1.getByRole('button', { name: 'Open in 3D' }).first().click();
    await page.getByRole('dialog', { name: '3D inspector' }).waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Close 3D inspector' }).click();
    await page.getByRole('dialog', { name: '3D inspector' }).waitFor({ state: 'detached' });
  }, 300_000);

  it('opens the past run and its sample, and runs a console cell in a kernel restored by replay', async () => {
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    const runs = page.getByRole('table', { name: 'Runs' });
    await runs.getByRole('row').nth(3).waitFor();
    await expect(runs.getByRole('row').count()).resolves.toBe(4); // header + the asked run + 2 large runs
    // Search goes to the host too.
    await page.getByLabel('Search runs').fill('many');
    await runs.getByRole('row').filter({ hasText: 'big-timeline' }).waitFor({ state: 'detached' });
    await expect(runs.getByRole('row').count()).resolves.toBe(2);
    await page.getByLabel('Search runs').fill('');
    // Filters go to the host: a status that matches nothing empties the list.
    await page.getByLabel('Status filter').selectOption('failed');
    await page.getByText('No runs match').waitFor();
    await page.getByLabel('Status filter').selectOption('finished');
    await runs.getByRole('row').nth(3).waitFor();
    await shot(page, 'runs');

    await runs.getByRole('row').filter({ hasText: 'scripted-vlm' }).getByRole('button').click();
    const table = page.getByRole('table', { name: 'Samples' });
    const row = table.getByRole('row').filter({ hasText: 'q1' });
    await row.waitFor();
    await expect(row.textContent()).resolves.toMatch(/q1.*How far did the camera move.*2\.1.*2\.1.*1\.00.*3/);
    await page.getByText('mean score 1.000').waitFor();
    await shot(page, 'run-samples');

    await row.getByRole('button', { name: 'q1' }).click();
    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    await timeline.getByRole('article', { name: 'Step 1: reconstruct the frames' }).waitFor();
    // The timeline is virtualised: its end (the answer) mounts once scrolled into view.
    await timeline.evaluate(scrollToEnd);
    await expect(page.getByTestId('final-answer').textContent()).resolves.toBe('2.1');
    await timeline.evaluate((el) => ((el as { scrollTop: number }).scrollTop = 0));
    await shot(page, 'sample');

    await page.getByLabel('Console cell').fill('print(f"restored d = {d:.3f}")\nshow(InputImages[4], label="last frame")');
    await page.getByRole('button', { name: 'Run cell' }).click();
    await page.getByRole('status').filter({ hasText: /replay|kernel|restor/ }).first().waitFor({ timeout: 60_000 });
    const cellCard = timeline.getByRole('article', { name: 'Console cell' });
    await cellCard.getByLabel('stdout').filter({ hasText: /restored d = 2\.(09|10)\d/ }).waitFor({ timeout: 180_000 });
    await cellCard.getByRole('img', { name: 'last frame' }).waitFor({ timeout: 30_000 });
    await shot(page, 'console');

    // The console cell was recorded: reloading the page shows it again (the token stays in this tab).
    await page.reload();
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('table', { name: 'Runs' }).getByRole('row').filter({ hasText: 'scripted-vlm' }).getByRole('button').click();
    await page.getByRole('table', { name: 'Samples' }).getByRole('button', { name: 'q1' }).click();
    await page.getByRole('feed', { name: 'Step timeline' }).getByRole('article', { name: 'Console cell' }).getByLabel('stdout').filter({ hasText: 'restored d' }).waitFor({ timeout: 30_000 });
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it('keeps a 5,000-sample run and a 30-step, 250-image sample responsive: rows and images load as they scroll into view', async () => {
    // Runs, and Runs again: back to the list from wherever the Runs view was.
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    const before = count('triageSamples');
    await page.getByRole('table', { name: 'Runs' }).getByRole('button', { name: 'many-samples' }).click();
    const table = page.getByRole('table', { name: 'Samples' });
    await table.getByRole('button', { name: 's00000' }).waitFor();
    await page.getByText(`${BIG_SAMPLES} samples`, { exact: true }).waitFor();
    // The run's results.json: the benchmark's official score next to the paper's, and the average's caveat.
    const results = page.getByRole('table', { name: 'Benchmark results' });
    await results.getByRole('row', { name: /BLINK/ }).waitFor();
    await expect(results.getByRole('row', { name: /BLINK/ }).textContent()).resolves.toMatch(/^BLINK4025\.0\d+\.\d–\d+\.\d73\.4$/);
    await expect(results.locator('caption').textContent()).resolves.toMatch(/official scoring.*mean over 1 of the paper's 20 benchmarks: 25\.0%.*not comparable/);
    // Only the rows in view are in the DOM, and only the first page was fetched.
    const rendered = await table.getByRole('row').count();
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(80);
    expect(count('triageSamples') - before).toBe(1);
    // Jump to the end: the last page is fetched, not the 48 pages in between.
    await page.locator('.samples-scroll').evaluate(scrollToEnd);
    await table.getByRole('button', { name: `s0${BIG_SAMPLES - 1}` }).waitFor();
    const pagesFetched = count('triageSamples') - before;
    expect(pagesFetched).toBeLessThanOrEqual(3);
    await shot(page, 'run-samples-5000');

    await page.getByRole('button', { name: '← All runs' }).click();
    await page.getByRole('table', { name: 'Runs' }).getByRole('button', { name: 'big-timeline' }).click();
    await page.getByRole('table', { name: 'Samples' }).getByRole('button', { name: 'big' }).click();
    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    await timeline.getByRole('article', { name: 'Step 1: synthetic step 1' }).waitFor();
    await timeline.getByRole('img', { name: 's1 image 0' }).waitFor();
    await page.waitForTimeout(500);
    const cards = await timeline.getByRole('article').count();
    const imagesLoaded = count('sampleImage');
    expect(cards).toBeLessThan(10); // of 30
    expect(imagesLoaded).toBeGreaterThan(0);
    expect(imagesLoaded).toBeLessThan(60); // of 250
    // Scroll to the end: the last step mounts and its images load; the first step's are unmounted.
    for (let i = 0; i < 40 && !(await timeline.getByRole('article', { name: `Step ${BIG_STEPS}: synthetic step ${BIG_STEPS}` }).count()); i++) {
      await timeline.evaluate(scrollToEnd);
      await page.waitForTimeout(50);
    }
    await timeline.getByRole('img', { name: `s${BIG_STEPS} image 0` }).waitFor();
    await expect(timeline.getByRole('article', { name: 'Step 1: synthetic step 1' }).count()).resolves.toBe(0);
    await expect(page.getByTestId('final-answer').textContent()).resolves.toBe('1');
    console.log(`[ui] 5000-sample run: ${rendered} rows in the DOM, ${pagesFetched} triageSamples pages fetched to reach the end; 30-step sample: ${cards} step cards mounted, ${imagesLoaded} of ${BIG_IMAGES} images fetched before scrolling`);
  }, 120_000);

  it('shows a live batch run of `spatialclaw run` (another process) with its progress phases, then its samples', async () => {
    // A real batch in the background, writing into the runs root this workbench serves: 4 samples, 2 at a time,
    // each model call taking 1.5 s.
    const slow = (content: string) => ({ content, delayMs: 1500 });
    const ids = ['p1', 'p2', 'p3', 'p4'];
    const batchModel = await startScriptedModelServer({
      script: Object.fromEntries(ids.map((id) => [id, [slow('1. Count.'), slow(step('count', 'n = 3\nprint(n)')), slow(step('answer', 'ReturnAnswer(3)'))]])),
      whenExhausted: 'error',
    });
    const work = mkdtempSync(join(tmpdir(), 'sc-ui-batch-'));
    const dataset = join(work, 'd.jsonl');
    writeFileSync(dataset, ids.map((id) => JSON.stringify({ id, inputs: [{ kind: 'images', path: join(ROOM, 'color') }], question: 'How many?', answer: 3 })).join('\n'));
    const child = spawn(process.execPath, [join(ROOT, 'electron', 'cli', 'spatialclaw.mjs'), 'run', '--dataset', dataset, '--model', 'scripted', '--base-url', batchModel.url,
      '--concurrency', '2', '--out', join(runs, 'live-batch')], { cwd: ROOT, env: { ...process.env, SPATIALCLAW_HOME: work }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      await page.getByRole('button', { name: 'Runs', exact: true }).click();
      await page.getByRole('button', { name: 'Runs', exact: true }).click();
      const list = page.getByRole('table', { name: 'Runs' });
      await page.getByLabel('Search runs').fill('');
      for (let i = 0; i < 100 && !(await list.getByRole('button', { name: 'live-batch' }).count()); i++) {
        // A new query lists the runs again; the batch's run.json appears once its samples are read.
        await page.getByLabel('Status filter').selectOption(i % 2 ? '' : 'running');
        await page.waitForTimeout(200);
      }
      await list.getByRole('button', { name: 'live-batch' }).click();
      const panel = page.getByRole('region', { name: 'Run progress' });
      // The same line the CLI prints, while samples wait for the model; bars for samples done and kernels ready.
      await panel.getByRole('status').filter({ hasText: /waiting for the model/ }).waitFor({ timeout: 60_000 });
      await expect(panel.getByRole('status').textContent()).resolves.toMatch(/\d\/4 done/);
      await panel.getByRole('progressbar', { name: 'Samples done' }).waitFor();
      await panel.getByRole('progressbar', { name: 'Kernels ready' }).waitFor();
      await expect(panel.textContent()).resolves.toMatch(/first model call at \d+\.\d s/);
      await shot(page, 'run-progress');
      // Samples appear in the table as they finish, without reloading the page; the panel goes when the run ends.
      await page.getByRole('table', { name: 'Samples' }).getByRole('button', { name: 'p1' }).waitFor({ timeout: 120_000 });
      expect(await exited, out).toBe(0);
      await panel.waitFor({ state: 'detached', timeout: 30_000 });
      await page.getByText('4 / 4 samples done').waitFor({ timeout: 30_000 });
      expect(out).toMatch(/first model call sent/);
      expect(pageErrors).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      await batchModel.close();
    }
  }, 300_000);
});
