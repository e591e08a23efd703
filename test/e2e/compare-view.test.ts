/**
 * The Compare view end to end, in Debian's chromium, against the REAL `spatialclaw serve`: two runs of the BLINK
 * replica (test/python/replicas/blink.py) made by the real `spatialclaw eval` (real loaders, real kernels on the
 * replica's images, the benchmark's official scorer), the scripted model answering differently in each so that
 * samples flip both ways. The view's numbers must equal `spatialclaw compare A B --json`'s for the same run folders.
 *
 * Runs after `npx electron-vite build` (out/renderer). Screenshots: test/.artifacts/ui-compare*.png.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import type { SampleSpec } from '../../shared/run.ts';
import { openWorkbenchPage } from '../helpers/workbench-page.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const WRONG = 'ZZZ';

/** A cell that looks at the bound images and answers `answer` (as test/integration/bench-eval.test.ts). */
const cell = (answer: string): string =>
  'Purpose: answer\nReasoning: the inputs are bound\nNext Goal: answer\nCode:\n```python\n' +
  'try:\n    frames = InputImages\nexcept NameError:\n    frames = InputImages_1\nprint(len(frames), frames[0].size)\n' +
  `ReturnAnswer(${JSON.stringify(answer)})\n\`\`\``;

interface PairedStats {
  n_common: number;
  a_only_correct: number;
  b_only_correct: number;
  n_discordant: number;
  mcnemar_p: number;
  mean_a: number | null;
  mean_b: number | null;
  delta: number | null;
  delta_ci95: [number, number] | null;
}
interface CliComparison extends PairedStats {
  a_only_samples: number;
  b_only_samples: number;
  per_task: Record<string, PairedStats>;
  flips: { right_to_wrong: string[]; wrong_to_right: string[] };
}

// The view's number formats, written out here (not imported) so a formatting slip in the view fails the test.
const pct = (x: number | null): string => (x === null ? '—' : (100 * x).toFixed(1));
const pts = (d: number | null): string => (d === null ? '—' : `${d >= 0 ? '+' : ''}${(100 * d).toFixed(1)}`);
const ci = (c: [number, number] | null): string => (c ? `[${pts(c[0])}, ${pts(c[1])}]` : '—');
const pval = (p: number): string => String(Number(p.toPrecision(3)));
/** The stat cells of a summary / per-category row, in the view's column order. */
const statCells = (s: PairedStats): string[] => [
  String(s.n_common), pct(s.mean_a), pct(s.mean_b), pts(s.delta), ci(s.delta_ci95), String(s.a_only_correct), String(s.b_only_correct), String(s.n_discordant), pval(s.mcnemar_p),
];

async function cellTexts(row: Locator): Promise<string[]> {
  return (await row.getByRole('cell').allTextContents()).map((t) => t.trim());
}

/** Body rows of the per-sample table (the header row has no cell). */
const sampleRows = (page: Page): Locator => page.getByRole('table', { name: 'Per-sample answers' }).getByRole('row').filter({ has: page.getByRole('cell') });

describe('Compare view against spatialclaw serve and spatialclaw compare', () => {
  let dataRoot: string;
  let runs: string;
  let samples: SampleSpec[];
  let modelA: ScriptedModelServer;
  let modelB: ScriptedModelServer;
  let cli: CliComparison;
  let serve: Serve;
  let browser: BrowserContext;
  let page: Page;
  let pageErrors: string[] = [];
  let calls: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dataRoot = mkdtempSync(join(tmpdir(), 'sc-compare-data-'));
    execFileSync(PYTHON, ['-m', 'replicas', dataRoot, 'blink'], { cwd: join(ROOT, 'test', 'python'), stdio: 'pipe' });
    const out = execFileSync(PYTHON, ['-m', 'spatial_eval', 'load', '--benchmark', 'blink', '--data-root', dataRoot], { encoding: 'utf8', maxBuffer: 1 << 28 });
    samples = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; spec?: SampleSpec }).filter((m) => m.type === 'sample').map((m) => m.spec!);
    expect(samples.length).toBeGreaterThanOrEqual(6);
    // Run A answers samples 0-3 right, run B samples 2-5: 0, 1 flip right -> wrong, 4, 5 wrong -> right, the rest stay.
    const gt = (s: SampleSpec) => String(s.answer);
    const script = (right: (i: number) => boolean) => Object.fromEntries(samples.map((s, i) => [s.id, [cell(right(i) ? gt(s) : WRONG)]]));
    modelA = await startScriptedModelServer({ script: script((i) => i <= 3) });
    modelB = await startScriptedModelServer({ script: script((i) => i >= 2 && i <= 5) });
    runs = mkdtempSync(join(tmpdir(), 'sc-compare-runs-'));
    for (const [name, model] of [['blink-a', modelA], ['blink-b', modelB]] as const) {
      const r = await spatialclaw(['eval', '--benchmark', 'blink', '--data-root', dataRoot, '--model', 'scripted', '--base-url', model.url, '--no-plan', '--concurrency', '2', '--out', join(runs, name)], {}, 600_000);
      expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0);
    }
    // A run of another benchmark, written by the real run store, to be refused.
    const w = await RunWriter.create(join(runs, 'other-bench'), { config: { kind: 'eval', benchmarks: ['vsibench'] }, versions: {}, total_samples: 1 });
    const spec = { id: 'vsibench-0', question: 'How far?', inputs: [{ kind: 'images' as const, path: '/x.png' }], benchmark: 'vsibench', source_id: '0' };
    const sw = w.startSample(spec);
    sw.event({ type: 'sample_start', t: '2026-12-05T10:00:00.000Z', step: 0, sample: spec, executor: 'code' });
    await sw.finish({
      id: 'vsibench-0', question: 'How far?', answer: '2', answer_source: 'return_answer', ground_truth: '2', score: 1, question_type: 'abs_distance', benchmark: 'vsibench',
      source_id: '0', termination: 'answered', steps: 1, parse_failures: 0, usage: { prompt_tokens: 1, completion_tokens: 1 }, model_calls: 1, duration_s: 1, error: null,
      started_at: '2026-12-05T10:00:00.000Z', finished_at: '2026-12-05T10:00:01.000Z',
    });
    await w.finish('finished');

    const c = await spatialclaw(['compare', join(runs, 'blink-a'), join(runs, 'blink-b'), '--json']);
    expect(c.code, c.stderr).toBe(0);
    cli = JSON.parse(c.stdout) as CliComparison;

    const home = mkdtempSync(join(tmpdir(), 'sc-compare-home-'));
    serve = await startServe(['--runs', runs], { SPATIALCLAW_HOME: home });
    ({ browser, page, pageErrors, calls } = await openWorkbenchPage(serve, { width: 1500, height: 950, goto: false }));
  }, 1_500_000);

  afterAll(async () => {
    await browser?.close();
    await stopServe(serve);
    await modelA?.close();
    await modelB?.close();
  }, 60_000);

  it('made runs whose samples flip both ways (what the rest checks against)', () => {
    const ids = samples.map((s) => s.id);
    expect(cli.n_common).toBe(samples.length);
    expect([...cli.flips.right_to_wrong].sort()).toEqual([ids[0], ids[1]].sort());
    expect([...cli.flips.wrong_to_right].sort()).toEqual([ids[4], ids[5]].sort());
    expect(cli).toMatchObject({ a_only_correct: 2, b_only_correct: 2, n_discordant: 4 });
  });

  it('compares two runs picked on the Runs list with the numbers of spatialclaw compare --json', async () => {
    await page.goto(`${serve.url}/#token=${serve.token}`);
    await page.getByTestId('transport').filter({ hasText: 'http' }).waitFor();
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('table', { name: 'Runs' }).getByRole('button', { name: 'blink-b' }).waitFor();
    // The baseline is the run picked first.
    await page.getByRole('checkbox', { name: 'Select blink-a for comparison' }).check();
    await page.getByRole('checkbox', { name: 'Select blink-b for comparison' }).check();
    await page.getByRole('button', { name: 'Compare selected (2)' }).click();

    const summary = page.getByRole('table', { name: 'Comparison summary' });
    const row = summary.getByRole('row').filter({ hasText: 'blink-b' });
    await row.waitFor({ timeout: 120_000 });
    expect(await cellTexts(row)).toEqual(['blink-b', ...statCells(cli), `${cli.a_only_samples} / ${cli.b_only_samples}`]);
    await expect(summary.locator('caption').textContent()).resolves.toMatch(/baseline blink-a.*9999 paired bootstrap resamples/);
    expect(calls.filter((m) => m === 'compareRuns')).toHaveLength(1);

    // Per category: each per_task row of the CLI, with the same n, discordant count, delta, CI and p.
    const perCategory = page.getByRole('table', { name: 'Per category' });
    const tasks = Object.entries(cli.per_task);
    expect(tasks.length).toBeGreaterThan(1);
    for (const [task, s] of tasks) {
      const row = perCategory.getByRole('row').filter({ has: page.getByRole('cell', { name: task, exact: true }) });
      expect(await cellTexts(row)).toEqual([task, ...statCells(s)]);
    }
    await expect.poll(() => sampleRows(page).count()).toBe(samples.length);
    await expect(page.getByTestId('compare-count').textContent()).resolves.toBe(`${samples.length} of ${samples.length} samples`);
  }, 180_000);

  it('filters the flips, each way, and searches', async () => {
    const show = page.getByLabel('Show samples');
    await show.selectOption('flips');
    await expect.poll(() => sampleRows(page).count()).toBe(4);
    await show.selectOption('right_to_wrong');
    await expect.poll(() => sampleRows(page).count()).toBe(2);
    for (const id of cli.flips.right_to_wrong) {
      const r = sampleRows(page).filter({ hasText: id });
      // The flip is said in words next to its colour, and each run's answer is shown with its score.
      await expect(r.textContent()).resolves.toMatch(new RegExp(`· 1\\.00 · right${WRONG} · 0\\.00 · wrong▼ right → wrong$`));
    }
    await show.selectOption('wrong_to_right');
    await expect.poll(() => sampleRows(page).count()).toBe(2);
    await expect(sampleRows(page).allTextContents()).resolves.toEqual(expect.arrayContaining(cli.flips.wrong_to_right.map((id) => expect.stringContaining(id))));
    await expect(sampleRows(page).first().textContent()).resolves.toMatch(/▲ wrong → right$/);
    // Search narrows within the filter.
    await page.getByLabel('Search samples').fill(cli.flips.wrong_to_right[0]!);
    await expect.poll(() => sampleRows(page).count()).toBe(1);
    await page.getByLabel('Search samples').fill('');
    await show.selectOption('right_to_wrong');
    await shot(page, 'compare');
  });

  it('opens a flipped sample of both runs side by side', async () => {
    const id = cli.flips.right_to_wrong[0]!;
    const expected = String(samples.find((s) => s.id === id)!.answer);
    await page.getByRole('button', { name: `Open ${id} side by side` }).click();
    const sxs = page.getByRole('region', { name: 'Side by side' });
    await sxs.waitFor();
    await expect(sxs.getByTestId('sxs-flip').textContent()).resolves.toBe('blink-a → blink-b: ▼ right → wrong');
    const left = sxs.getByRole('region', { name: `blink-a: ${id}` });
    const right = sxs.getByRole('region', { name: `blink-b: ${id}` });
    await expect(left.getByTestId('sxs-answer-0').textContent()).resolves.toBe(`${expected} · 1.00 · right`);
    await expect(right.getByTestId('sxs-answer-1').textContent()).resolves.toBe(`${WRONG} · 0.00 · wrong`);
    // Each column is that run's recorded sample: its step timeline and its final answer.
    for (const [col, answer] of [[left, expected], [right, WRONG]] as const) {
      const timeline = col.getByRole('feed', { name: 'Step timeline' });
      await timeline.getByRole('article', { name: 'Step 1: answer' }).waitFor({ timeout: 30_000 });
      await expect(col.getByTestId('final-answer').textContent({ timeout: 30_000 })).resolves.toBe(answer);
    }
    await shot(page, 'compare-side-by-side');
    // Next goes to the other right -> wrong sample (the filter is kept), Back returns to the filtered table.
    await sxs.getByRole('button', { name: '↓ Next' }).click();
    await sxs.getByRole('region', { name: `blink-b: ${cli.flips.right_to_wrong[1]!}` }).waitFor();
    await sxs.getByRole('button', { name: '← Back to the comparison' }).click();
    await expect(page.getByLabel('Show samples').inputValue()).resolves.toBe('right_to_wrong');
    await expect.poll(() => sampleRows(page).count()).toBe(2);
  }, 120_000);

  it('refuses runs of different benchmarks with the reason and the fix', async () => {
    const picker = page.getByRole('region', { name: 'Pick runs' });
    await picker.getByRole('checkbox', { name: 'Select blink-b for comparison' }).uncheck();
    await picker.getByRole('checkbox', { name: 'Select other-bench for comparison' }).check();
    await picker.getByRole('button', { name: 'Compare 2 runs' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Could not compare the runs' });
    await alert.waitFor({ timeout: 60_000 });
    await expect(alert.textContent()).resolves.toMatch(/runs blink-a and other-bench are of different benchmarks \(blink-a: blink; other-bench: vsibench\).*Fix: compare runs of the same benchmark/);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `ui-${name}.png`) });
}
