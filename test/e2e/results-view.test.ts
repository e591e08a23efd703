/**
 * A run's Results tab end to end, in Debian's chromium against the real `spatialclaw serve`, on real runs made by
 * `spatialclaw eval` on the VSI-Bench and BLINK replicas (test/helpers/eval-runs.ts; only the VLM is scripted):
 *
 * - a finished run: the official breakdown of its results.json per benchmark, category and question type, next to
 *   the paper's numbers; every chart drawn by plotly.js (bars with CI error bars and the paper's diamonds, the
 *   radar, the numeric-answer and steps histograms, termination reasons); one chart exported as PNG and SVG
 *   (real downloads);
 * - a live run started from the CLI (another process writing into the served runs root): the live per-sample means
 *   update in place as samples finish, then the official results.json replaces them when the eval ends.
 *
 * Screenshots: test/.artifacts/ui-results.png, ui-results-live.png.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWorkbenchPage } from '../helpers/workbench-page.ts';
import { ROOT } from '../helpers/cli.ts';
import { answerCell, EVAL_BENCHMARKS, EVAL_LIMIT, type EvalRuns, evalRuns } from '../helpers/eval-runs.ts';
import { startScriptedModelServer } from '../helpers/scripted-model.ts';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');
const CHARTS = ['scores', 'radar', 'numeric', 'steps', 'terminations'] as const;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface FileGroup {
  n: number;
  scored: number;
  mean: number | null;
}
interface FileBenchmark {
  title: string;
  n: number;
  scored: number;
  overall: number | null;
  ci95: [number, number] | null;
  by_category: Record<string, FileGroup>;
  by_question_type: Record<string, FileGroup>;
}

/** As the tables write them: percent with one decimal; n, or scored/n when some samples have no score. */
const pct = (x: number | null) => (x === null ? '—' : (100 * x).toFixed(1));
const count = (g: { n: number; scored: number }) => (g.scored === g.n ? String(g.n) : `${g.scored}/${g.n}`);

describe('the Results tab (real eval runs, plotly charts)', () => {
  let runs: EvalRuns;
  let serve: Serve;
  let browser: BrowserContext;
  let page: Page;
  let pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    runs = await evalRuns(mkdtempSync(join(tmpdir(), 'sc-results-runs-')));
    const home = mkdtempSync(join(tmpdir(), 'sc-results-home-'));
    serve = await startServe(['--runs', runs.runsRoot], { SPATIALCLAW_HOME: home });
    ({ browser, page, pageErrors } = await openWorkbenchPage(serve, { width: 1500, height: 1000 }));
  }, 900_000);

  afterAll(async () => {
    await browser?.close();
    await stopServe(serve);
  }, 60_000);

  const source = () => page.getByTestId('results-source');
  const chart = (id: (typeof CHARTS)[number]) => page.getByTestId(`results-chart-${id}`);

  /** Open a run of the Runs list (re-querying until another process's new run is listed), then its Results tab. */
  async function openResults(runId: string): Promise<void> {
    // Runs, and Runs again: back to the list from wherever the Runs view was.
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    const list = page.getByRole('table', { name: 'Runs' });
    for (let i = 0; i < 150 && !(await list.getByRole('button', { name: runId, exact: true }).count()); i++) {
      await page.getByLabel('Status filter').selectOption(i % 2 ? '' : 'running');
      await page.waitForTimeout(200);
    }
    await page.getByLabel('Status filter').selectOption('');
    await list.getByRole('button', { name: runId, exact: true }).click();
    await page.getByRole('tab', { name: 'Results' }).click();
    await expect(page.getByRole('tab', { name: 'Results' }).getAttribute('aria-selected')).resolves.toBe('true');
  }

  it("shows a finished eval run's official results per benchmark, category and question type, next to the paper", async () => {
    const file = JSON.parse(readFileSync(join(runs.runsRoot, runs.a, 'results.json'), 'utf8')) as { benchmarks: Record<string, FileBenchmark> };
    await openResults(runs.a);
    await source().filter({ hasText: /^Official: official \(results\.json, official scoring\)/ }).waitFor({ timeout: 30_000 });
    await expect(source().textContent()).resolves.toContain(`${runs.samples.length} / ${runs.samples.length} samples`);

    for (const name of EVAL_BENCHMARKS.split(',')) {
      const b = file.benchmarks[name]!;
      const table = page.getByRole('table', { name: `Results of ${b.title}` });
      const overall = (await table.locator('tr.results-overall').textContent())!;
      expect(overall).toContain(`overall${count(b)}${pct(b.overall)}`);
      if (b.ci95) expect(overall).toContain(`${pct(b.ci95[0])}–${pct(b.ci95[1])}`);
      // The paper reports BLINK (73.4), and VSI-Bench only as VSI-Bench-U: no number for the full VSI-Bench.
      expect(overall.endsWith(name === 'blink' ? '73.4' : '—'), overall).toBe(true);
      for (const [qt, g] of Object.entries(b.by_question_type)) {
        const row = table.getByRole('row').filter({ has: page.getByRole('rowheader', { name: qt, exact: true }) });
        await expect(row.textContent()).resolves.toContain(`${qt}${count(g)}${pct(g.mean)}`);
      }
      for (const cat of Object.keys(b.by_category)) await table.getByRole('rowheader', { name: cat, exact: true }).waitFor();
    }
    // BLINK is in the paper's "General spatial" category: the run's score beside the paper's over the same benchmark.
    const cats = page.getByRole('table', { name: "Results by the paper's categories" });
    await expect(cats.getByRole('row').filter({ hasText: 'General spatial' }).textContent()).resolves.toMatch(/^General spatial1 of 3\d+[\d.]+73\.4$/);
  }, 120_000);

  it('draws every chart with plotly.js and exports one as PNG and as SVG', async () => {
    for (const id of CHARTS) await chart(id).locator('.main-svg').first().waitFor({ timeout: 60_000 });
    for (const id of CHARTS) await expect(chart(id).getAttribute('aria-label')).resolves.toBeTruthy();
    // Bars: one per benchmark, each with an error bar; the paper's diamond only where the paper has a number (BLINK).
    const scores = chart('scores');
    await expect(scores.locator('.barlayer .point').count()).resolves.toBe(2);
    await expect(scores.locator('.errorbar').count()).resolves.toBe(2);
    await expect(scores.locator('.scatterlayer .point').count()).resolves.toBe(1);
    // The paper's benchmarks first, in its table's order; then the others (the full VSI-Bench) by name.
    await expect(scores.textContent()).resolves.toMatch(/BLINK.*VSI-Bench/);
    // The radar: a polar subplot with the run's polygon over the question types (no paper numbers at that level).
    await expect(chart('radar').locator('.polar').count()).resolves.toBe(1);
    await expect(chart('radar').textContent()).resolves.toMatch(/Score by question type/);
    // The VSI-Bench samples of the replica are numeric: their scores are in the histogram.
    await expect(chart('numeric').textContent()).resolves.toMatch(/n = [1-9]/);
    await expect(chart('steps').textContent()).resolves.toMatch(new RegExp(`n = ${runs.samples.length}\\b`));
    await expect(chart('terminations').textContent()).resolves.toMatch(/answered/);
    // Fixed sizes: the plot is exactly the figure's size.
    const box = await scores.locator('.main-svg').first().boundingBox();
    expect(box && [Math.round(box.width), Math.round(box.height)]).toEqual([460, 380]);

    const [png] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Export Scores with 95% CI as PNG' }).click()]);
    expect(png.suggestedFilename()).toBe(`${runs.a}-scores.png`);
    const pngBytes = readFileSync((await png.path())!);
    expect(pngBytes.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    // IHDR: the figure's size at 2x pixel density.
    expect([pngBytes.readUInt32BE(16), pngBytes.readUInt32BE(20)]).toEqual([920, 760]);
    const [svg] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Export Scores with 95% CI as SVG' }).click()]);
    expect(svg.suggestedFilename()).toBe(`${runs.a}-scores.svg`);
    const svgText = readFileSync((await svg.path())!, 'utf8');
    expect(svgText.trimStart().startsWith('<svg')).toBe(true);
    expect(svgText).toContain('BLINK');

    // Tables and charts in one picture.
    await page.setViewportSize({ width: 1500, height: 1900 });
    await page.getByRole('tab', { name: 'Results' }).scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'ui-results.png') });
    await page.setViewportSize({ width: 1500, height: 1000 });
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it('follows a live `spatialclaw eval` from the CLI: per-sample means update in place, then the official results replace them', async () => {
    // A real eval in another process, writing into the served runs root; each model reply takes 3 s.
    const model = await startScriptedModelServer({
      script: Object.fromEntries(runs.samples.map((s) => [s.id, [{ content: answerCell(runs.answers.a.get(s.id)!), delayMs: 3000 }]])),
    });
    const work = mkdtempSync(join(tmpdir(), 'sc-results-live-'));
    const child = spawn(
      process.execPath,
      [join(ROOT, 'electron', 'cli', 'spatialclaw.mjs'), 'eval', '--benchmark', EVAL_BENCHMARKS, '--data-root', runs.dataRoot, '--limit', String(EVAL_LIMIT),
        '--model', 'scripted', '--base-url', model.url, '--no-plan', '--concurrency', '1', '--out', join(runs.runsRoot, 'eval-live')],
      { cwd: ROOT, env: { ...process.env, SPATIALCLAW_HOME: work }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    const total = runs.samples.length;
    const doneShown = async (): Promise<number> => Number(/(\d+) \/ \d+ samples/.exec((await source().textContent()) ?? '')?.[1] ?? -1);
    try {
      await openResults('eval-live');
      await source().filter({ hasText: /^Live, per-sample mean: live, per-sample mean/ }).waitFor({ timeout: 60_000 });
      await expect(source().textContent()).resolves.toMatch(new RegExp(`/ ${total} samples · updating every 2 s`));
      // Wait for a first sample, keep the chart's element, and see the count move without a reload.
      for (let i = 0; i < 300 && (await doneShown()) < 1; i++) await page.waitForTimeout(200);
      const first = await doneShown();
      expect(first, out).toBeGreaterThanOrEqual(1);
      expect(first, 'the eval ended before the tab was seen live: make the scripted replies slower').toBeLessThan(total);
      await chart('steps').locator('.main-svg').first().waitFor({ timeout: 60_000 });
      const plot = await chart('steps').locator('.results-plot').elementHandle();
      for (let i = 0; i < 600 && (await doneShown()) <= first; i++) await page.waitForTimeout(200);
      expect(await doneShown()).toBeGreaterThan(first);
      // The charts follow the same numbers: the steps histogram counts the samples the header counts.
      let synced = false;
      for (let i = 0; i < 50 && !synced; i++) {
        const k = await doneShown();
        synced = ((await chart('steps').textContent()) ?? '').includes(`Steps per sample (n = ${k})`);
        if (!synced) await page.waitForTimeout(200);
      }
      expect(synced).toBe(true);
      await expect(plot!.evaluate((el) => (el as unknown as { isConnected: boolean }).isConnected)).resolves.toBe(true); // updated in place, not remounted
      await page.getByText(/^Scores here are means of the per-sample scores/).waitFor();
      await page.screenshot({ path: join(ARTIFACTS, 'ui-results-live.png') });

      expect(await exited, out).toBe(0);
      // The eval writes results.json after its last sample: the tab switches to it by itself.
      await source().filter({ hasText: /^Official: official \(results\.json, official scoring\)/ }).waitFor({ timeout: 90_000 });
      await expect(source().textContent()).resolves.toContain(`${total} / ${total} samples`);
      await expect(source().textContent()).resolves.not.toMatch(/updating every 2 s/);
      await expect(page.getByRole('table', { name: 'Results of BLINK' }).locator('tr.results-overall').textContent()).resolves.toMatch(/73\.4$/);
      await expect(chart('steps').textContent()).resolves.toMatch(new RegExp(`n = ${total}\\b`));
      await expect(plot!.evaluate((el) => (el as unknown as { isConnected: boolean }).isConnected)).resolves.toBe(true);
      expect(pageErrors).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      await model.close();
    }
  }, 300_000);
});
