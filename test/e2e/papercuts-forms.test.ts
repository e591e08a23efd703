/**
 * Issue 15, papercuts of the forms, in Debian's chromium against the REAL `spatialclaw serve` (started through the
 * CLI) and a real run store; only the VLM is scripted (test/helpers/scripted-model.ts, whose GET /v1/models lists
 * "served-vlm"):
 *
 * - the Ask form keeps what was typed when switching to Runs and Settings and back (renderer/src/ask-draft.ts);
 * - the folder browser lists a typed path on Enter and on Go (again for the same path), shows errors inline with
 *   the host's fix, never submits the Ask form behind it, and draws its icons without emoji glyphs
 *   (screenshot test/.artifacts/ui-path-picker.png);
 * - the Runs search matches a sample's question;
 * - Settings refuses a second endpoint with a taken name (and replaces it when confirmed), and Test says when the
 *   configured model id is not among those the endpoint serves.
 *
 * Runs after `npx electron-vite build` (out/renderer).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import type { SampleResult } from '../../shared/run.ts';
import { openWorkbenchPage } from '../helpers/workbench-page.ts';
import { ROOT } from '../helpers/cli.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');
const QUESTION = 'How far is the lamp from the sofa, in metres?';
const KETTLE = 'Where is the red kettle relative to the sink?';

/** A finished run whose one sample asks about a kettle (the Runs search finds it by that word only). */
async function writeKettleRun(runs: string): Promise<void> {
  const w = await RunWriter.create(join(runs, 'run-k'), { config: { kind: 'run', model: { name: 'synthetic' } }, versions: {}, total_samples: 1 });
  const spec = { id: 'k1', question: KETTLE, inputs: [{ kind: 'images' as const, path: join(ROOT, 'test', 'fixtures', 'tum_rgbd_frame') }] };
  const s = w.startSample(spec);
  const t = '2025-11-21T10:00:00.000Z';
  s.event({ type: 'sample_start', t, step: 0, sample: spec, executor: 'code' });
  s.event({ type: 'termination', t, step: 1, reason: 'answered', detail: null });
  const result: SampleResult = {
    id: 'k1', question: KETTLE, answer: 'left', answer_source: 'return_answer', ground_truth: 'left', score: 1, question_type: null, termination: 'answered',
    steps: 1, parse_failures: 0, usage: { prompt_tokens: 1, completion_tokens: 1 }, model_calls: 1, duration_s: 1, error: null, started_at: t, finished_at: t,
  };
  await s.finish(result);
  await w.finish('finished');
}

describe('papercuts: forms in the workbench UI (spatialclaw serve, chromium)', () => {
  let model: ScriptedModelServer;
  let serve: Serve;
  let browser: BrowserContext;
  let page: Page;
  /** A folder tree for the path picker: base/{alpha/{inner/, a.txt}, beta/, notes.txt}. */
  let base: string;
  let pageErrors: string[] = [];
  let calls: string[] = [];
  const count = (method: string) => calls.filter((c) => c === method).length;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    model = await startScriptedModelServer({ models: ['served-vlm'], default: ['unused'] });
    const home = mkdtempSync(join(tmpdir(), 'sc-papercuts-home-'));
    mkdirSync(join(home, 'models'), { recursive: true });
    writeFileSync(join(home, 'models', 'served-vlm.json'), JSON.stringify({ name: 'served-vlm', base_url: model.url, max_retries: 0 }));
    writeFileSync(join(home, 'models', 'wrong-name.json'), JSON.stringify({ name: 'wrong-name', base_url: model.url, max_retries: 0 }));
    const runs = mkdtempSync(join(tmpdir(), 'sc-papercuts-runs-'));
    await writeKettleRun(runs);
    base = mkdtempSync(join(tmpdir(), 'sc-papercuts-tree-'));
    mkdirSync(join(base, 'alpha', 'inner'), { recursive: true });
    mkdirSync(join(base, 'beta'));
    writeFileSync(join(base, 'alpha', 'a.txt'), 'a');
    writeFileSync(join(base, 'notes.txt'), 'notes');
    serve = await startServe(['--runs', runs], { SPATIALCLAW_HOME: home });
    ({ browser, page, pageErrors, calls } = await openWorkbenchPage(serve, { width: 1400, height: 900 }));
    await page.getByTestId('transport').filter({ hasText: 'http' }).waitFor();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stopServe(serve);
    await model?.close();
  }, 60_000);

  it('keeps the Ask form when switching to Runs and Settings and back', async () => {
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    // The lists have loaded once the model endpoints are options.
    await page.getByLabel('Model endpoint').locator('option', { hasText: 'wrong-name' }).waitFor({ state: 'attached' });
    await page.getByLabel('Input kind').selectOption('images');
    await page.getByRole('textbox', { name: 'Input folder' }).fill(base);
    await page.getByRole('textbox', { name: 'Question', exact: true }).fill(QUESTION);
    await page.getByLabel('Choices (optional, one per line)').fill('A. 1 m\nB. 2 m');
    await page.getByLabel('Ground truth (optional)').fill('B');
    await page.getByLabel('Model endpoint').selectOption('wrong-name');
    await page.getByLabel('Agent profile').selectOption('paper');
    await page.getByLabel('Executor').selectOption('single_pass');
    await page.getByLabel('Max steps').fill('7');
    await page.getByLabel('Plan first').uncheck();

    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByLabel('Search runs').waitFor();
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await page.getByRole('table', { name: 'Model endpoint list' }).waitFor();
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    // A select shows its kept value once its options are back (the lists load again on a loaded machine).
    await page.getByLabel('Model endpoint').locator('option', { hasText: 'wrong-name' }).waitFor({ state: 'attached' });

    await expect(page.getByLabel('Input kind').inputValue()).resolves.toBe('images');
    await expect(page.getByRole('textbox', { name: 'Input folder' }).inputValue()).resolves.toBe(base);
    await expect(page.getByRole('textbox', { name: 'Question', exact: true }).inputValue()).resolves.toBe(QUESTION);
    await expect(page.getByLabel('Choices (optional, one per line)').inputValue()).resolves.toBe('A. 1 m\nB. 2 m');
    await expect(page.getByLabel('Ground truth (optional)').inputValue()).resolves.toBe('B');
    await expect(page.getByLabel('Model endpoint').inputValue()).resolves.toBe('wrong-name');
    await expect(page.getByLabel('Agent profile').inputValue()).resolves.toBe('paper');
    await expect(page.getByLabel('Executor').inputValue()).resolves.toBe('single_pass');
    await expect(page.getByLabel('Max steps').inputValue()).resolves.toBe('7');
    await expect(page.getByLabel('Plan first').isChecked()).resolves.toBe(false);
  }, 60_000);

  it('the folder browser lists a typed path on Enter and Go, shows errors inline, and draws its icons', async () => {
    await page.getByRole('button', { name: 'Browse host for Input folder' }).click();
    const dialog = page.getByRole('dialog', { name: 'Browse host folders' });
    const entries = dialog.getByRole('list', { name: 'Folder entries' });
    const shown = dialog.getByRole('status', { name: 'Folder shown' });
    // It opens on the folder typed in the form.
    await entries.getByRole('button', { name: 'beta' }).waitFor();
    await expect.poll(() => shown.textContent()).toBe(`${base}: 3 entries`);
    const pathBox = dialog.getByLabel('Folder path');
    await expect(pathBox.inputValue()).resolves.toBe(base);

    // Enter lists the typed path.
    await pathBox.fill(join(base, 'alpha'));
    await pathBox.press('Enter');
    await entries.getByRole('button', { name: 'inner' }).waitFor();
    await entries.getByRole('button', { name: 'beta' }).waitFor({ state: 'detached' });
    await expect.poll(() => shown.textContent()).toBe(`${join(base, 'alpha')}: 2 entries`);
    // Go lists it again, even when it is the folder shown.
    const before = count('listDir');
    await dialog.getByRole('button', { name: 'Go', exact: true }).click();
    await expect.poll(() => count('listDir')).toBe(before + 1);
    await expect.poll(() => shown.textContent()).toBe(`${join(base, 'alpha')}: 2 entries`);

    // Go with a missing folder: the host's error and fix, inline; the last listing stays.
    await pathBox.fill(join(base, 'missing'));
    await dialog.getByRole('button', { name: 'Go', exact: true }).click();
    const alert = dialog.getByRole('alert');
    await alert.filter({ hasText: `${join(base, 'missing')} does not exist` }).waitFor();
    await expect(alert.textContent()).resolves.toMatch(/Fix: pick an existing folder/);
    await expect.poll(() => shown.textContent()).toMatch(/still shown/);
    // Enter on a file: "is a file, not a folder", and the fix names its folder.
    await pathBox.fill(join(base, 'notes.txt'));
    await pathBox.press('Enter');
    await alert.filter({ hasText: 'is a file, not a folder' }).waitFor();
    await expect(alert.textContent()).resolves.toContain(`list its folder instead: ${base}`);

    // Icons: inline SVG, drawn (non-empty boxes), and no emoji character anywhere in the dialog.
    await pathBox.fill(base);
    await pathBox.press('Enter');
    await entries.getByRole('button', { name: 'alpha' }).waitFor();
    const folderIcon = entries.getByRole('button', { name: 'alpha' }).locator('svg.icon-folder');
    const box = await folderIcon.boundingBox();
    expect(box && box.width >= 10 && box.height >= 10, JSON.stringify(box)).toBe(true);
    await entries.getByRole('button', { name: 'notes.txt' }).locator('svg.icon-file').waitFor();
    await dialog.getByRole('button', { name: 'Close folder browser' }).locator('svg.icon-close').waitFor();
    const text = (await dialog.textContent()) ?? '';
    expect(text.match(/\p{Emoji_Presentation}/gu)).toBeNull();
    await page.screenshot({ path: join(ARTIFACTS, 'ui-path-picker.png') });

    // Nothing in the browser submitted the Ask form behind it (it is filled in: a submit would have asked).
    expect(count('ask')).toBe(0);
    await expect(page.locator('.ask-form').getByRole('alert').count()).resolves.toBe(0);

    // Navigate by clicking, then choose the folder: the form gets it.
    await entries.getByRole('button', { name: 'alpha' }).click();
    await entries.getByRole('button', { name: 'inner' }).click();
    await expect.poll(async () => shown.textContent()).toBe(`${join(base, 'alpha', 'inner')}: 0 entries`);
    await dialog.getByRole('button', { name: 'Choose this folder' }).click();
    await dialog.waitFor({ state: 'detached' });
    await expect(page.getByRole('textbox', { name: 'Input folder' }).inputValue()).resolves.toBe(join(base, 'alpha', 'inner'));
    expect(count('ask')).toBe(0);
  }, 60_000);

  it('the Runs search finds a run by the text of a sample question', async () => {
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    const search = page.getByLabel('Search runs');
    await expect(search.getAttribute('placeholder')).resolves.toMatch(/question/);
    const runs = page.getByRole('table', { name: 'Runs' });
    await search.fill('red kettle');
    await runs.getByRole('button', { name: 'run-k' }).waitFor();
    await expect.poll(() => runs.getByRole('row').filter({ hasText: 'run-k' }).textContent()).toContain(`question: ${KETTLE}`);
    await search.fill('red kettles on fire');
    await page.getByText('No runs match').waitFor();
    await search.fill('');
  }, 60_000);

  it('Settings refuses a taken endpoint name unless replaced, and Test names a model the endpoint does not serve', async () => {
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    const section = page.getByRole('region', { name: 'Model endpoints' });
    const list = page.getByRole('table', { name: 'Model endpoint list' });
    await list.getByText('served-vlm', { exact: true }).waitFor();

    // A second endpoint under a taken name: refused, the existing one is kept.
    await section.getByLabel('Model name').fill('served-vlm');
    await section.getByLabel('Base URL').fill('http://127.0.0.1:1/v1');
    await section.getByRole('button', { name: 'Add endpoint' }).click();
    const confirm = section.getByRole('alertdialog', { name: 'Replace the existing endpoint?' });
    await confirm.waitFor();
    await expect(confirm.textContent()).resolves.toMatch(/a model endpoint called "served-vlm" already exists \(model "served-vlm" at http:\/\/127\.0\.0\.1:\d+\/v1\); it was not replaced/);
    await expect(confirm.textContent()).resolves.toContain('Replace the existing endpoint served-vlm?');
    await confirm.getByRole('button', { name: 'Keep the existing one' }).click();
    await confirm.waitFor({ state: 'detached' });
    const servedRow = list.getByRole('row').filter({ has: page.getByRole('cell', { name: 'served-vlm', exact: true }) });
    await expect(servedRow.textContent()).resolves.toContain(model.url);
    await expect(servedRow.textContent()).resolves.not.toContain('127.0.0.1:1/v1');

    // Confirmed, it replaces: a new name, then the same name again with another URL.
    await section.getByLabel('Model name').fill('extra-vlm');
    await section.getByLabel('Base URL').fill('http://127.0.0.1:2/v1');
    await section.getByRole('button', { name: 'Add endpoint' }).click();
    await list.getByRole('cell', { name: 'extra-vlm', exact: true }).waitFor();
    await section.getByLabel('Model name').fill('extra-vlm');
    await section.getByLabel('Base URL').fill('http://127.0.0.1:3/v1');
    await section.getByRole('button', { name: 'Add endpoint' }).click();
    await confirm.waitFor();
    await confirm.getByRole('button', { name: 'Replace' }).click();
    await confirm.waitFor({ state: 'detached' });
    const extraRow = list.getByRole('row').filter({ has: page.getByRole('cell', { name: 'extra-vlm', exact: true }) });
    await extraRow.getByText('http://127.0.0.1:3/v1').waitFor();
    await expect(list.getByRole('cell', { name: 'extra-vlm', exact: true }).count()).resolves.toBe(1);

    // Test: the wrong model id is named with what the endpoint serves; the right one passes.
    const wrongRow = list.getByRole('row').filter({ has: page.getByRole('cell', { name: 'wrong-name', exact: true }) });
    await page.getByRole('button', { name: 'Test wrong-name' }).click();
    const wrongStatus = wrongRow.getByRole('status');
    await wrongStatus.filter({ hasText: 'not among them' }).waitFor({ timeout: 30_000 });
    await expect(wrongStatus.textContent()).resolves.toMatch(/endpoint serves \[served-vlm\]; model 'wrong-name' is not among them — fix the model name/);
    await page.getByRole('button', { name: 'Test served-vlm' }).click();
    await servedRow.getByRole('status').filter({ hasText: /reachable \(\d+ ms\), serves the model/ }).waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'ui-model-endpoints.png') });
    expect(pageErrors).toEqual([]);
  }, 90_000);
});
