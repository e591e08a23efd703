/**
 * The research loop's triage flows end to end, in Debian's chromium against the real `spatialclaw serve`, on real
 * runs made by `spatialclaw eval` on the VSI-Bench and BLINK replicas (test/helpers/eval-runs.ts; only the VLM is
 * scripted): filter to failures through the facets, search the code, the grid, j/k and number-key tags, tag a step
 * and write a note in the sample view, export CSV from the UI and read it back with pandas, and browse a run
 * imported from a SpatialClaw work dir.
 *
 * Screenshots: test/.artifacts/ui-triage-*.png, ui-tag-step.png, ui-imported-run.png.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotationEntrySchema, DEFAULT_TAXONOMY } from '../../shared/annotations.ts';
import { SampleResultSchema, type SampleResult } from '../../shared/run.ts';
import { openWorkbenchPage } from '../helpers/workbench-page.ts';
import { ROOT } from '../helpers/cli.ts';
import { type EvalRuns, evalRuns, PYTHON } from '../helpers/eval-runs.ts';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `ui-${name}.png`) });

function results(runDir: string): SampleResult[] {
  return readFileSync(join(runDir, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => SampleResultSchema.parse(JSON.parse(l)));
}

function journal(runDir: string) {
  return readFileSync(join(runDir, 'annotations.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => AnnotationEntrySchema.parse(JSON.parse(l)));
}

describe('triage, annotation and export in the workbench (real eval runs)', () => {
  let runs: EvalRuns;
  let serve: Serve;
  let browser: BrowserContext;
  let page: Page;
  let pageErrors: string[] = [];
  let runA: string;
  let rows: SampleResult[];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    runs = await evalRuns(mkdtempSync(join(tmpdir(), 'sc-triage-runs-')));
    runA = join(runs.runsRoot, runs.a);
    rows = results(runA);
    const home = mkdtempSync(join(tmpdir(), 'sc-triage-home-'));
    serve = await startServe(['--runs', runs.runsRoot], { SPATIALCLAW_HOME: home });
    ({ browser, page, pageErrors } = await openWorkbenchPage(serve, { width: 1500, height: 950 }));
  }, 900_000);

  afterAll(async () => {
    await browser?.close();
    await stopServe(serve);
  }, 60_000);

  const samplesTable = () => page.getByRole('table', { name: 'Samples' });
  const countText = () => page.getByRole('status', { name: 'Sample count' });

  it('filters a real eval run to its failures with the facets, and finds a sample by the code it ran', async () => {
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('table', { name: 'Runs' }).getByRole('button', { name: runs.a }).click();
    await samplesTable().getByRole('button', { name: rows[0]!.id }).waitFor();
    await expect(countText().textContent()).resolves.toBe(`${rows.length} samples`);

    const filters = page.getByRole('complementary', { name: 'Filters' });
    const wrong = rows.filter((r) => r.score !== null && r.score < 0.5);
    expect(wrong.length).toBeGreaterThan(0);
    const outcome = filters.getByRole('group', { name: 'Outcome' });
    await expect(outcome.getByText(/^wrong/).textContent()).resolves.toMatch(new RegExp(`wrong\\s*${wrong.length}$`));
    await outcome.getByRole('checkbox').nth(await outcomeIndex(outcome, 'wrong')).check();
    await countText().filter({ hasText: `${wrong.length} of ${rows.length} samples` }).waitFor();
    for (const r of wrong) await samplesTable().getByRole('button', { name: r.id, exact: true }).waitFor();
    await expect(samplesTable().getByRole('row').count()).resolves.toBe(wrong.length + 1);
    // The benchmark facet counts only the failures now (FiftyOne: other facets follow the active filters).
    const bench = filters.getByRole('group', { name: 'Benchmark' });
    const wrongVsi = wrong.filter((r) => r.benchmark === 'vsibench').length;
    await expect(bench.getByText(/^vsibench/).textContent()).resolves.toMatch(new RegExp(`vsibench\\s*${wrongVsi}$`));
    await shot(page, 'triage-failures');

    // The failed cell: error class NameError, one sample with tool failures.
    const failed = rows[1]!;
    const errors = filters.getByRole('group', { name: 'Error class' });
    await errors.getByText(/^NameError/).waitFor();
    await filters.getByRole('button', { name: /^clear/ }).click();
    await countText().filter({ hasText: new RegExp(`^${rows.length} samples`) }).waitFor();
    await page.getByLabel('Search samples').fill('table_height');
    await countText().filter({ hasText: `1 of ${rows.length} samples` }).waitFor();
    await samplesTable().getByRole('button', { name: failed.id, exact: true }).waitFor();
    await page.getByLabel('Search samples').fill('');
    await countText().filter({ hasText: new RegExp(`^${rows.length} samples`) }).waitFor();
  }, 120_000);

  it('moves with j/k, tags the selected sample with a number key, and shows the grid', async () => {
    // Annotations are recorded under the name typed here (kept in localStorage), else the host's user name.
    await page.getByLabel('Annotation author').fill('e2e-annotator');
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    const third = rows[2]!.id;
    await samplesTable().locator(`[data-sample="${third}"][aria-selected="true"]`).waitFor();
    await page.keyboard.press('k');
    await samplesTable().locator(`[data-sample="${rows[1]!.id}"][aria-selected="true"]`).waitFor();
    await page.keyboard.press('j');
    // 3: the taxonomy's third tag on the selected sample, recorded in the run's journal.
    const tag = DEFAULT_TAXONOMY.tags[2]!;
    await page.keyboard.press('3');
    await samplesTable().locator(`[data-sample="${third}"]`).getByText(tag.label).waitFor();
    const entries = journal(runA);
    expect(entries.at(-1)).toMatchObject({ op: 'tag', sample_id: third, step: null, tag: tag.id, author: 'e2e-annotator' });
    const tags = page.getByRole('complementary', { name: 'Filters' }).getByRole('group', { name: 'Tags' });
    await expect(tags.getByText(new RegExp(`^${tag.label}`)).textContent()).resolves.toMatch(/1$/);

    await page.getByRole('group', { name: 'Layout' }).getByRole('button', { name: 'Grid' }).click();
    const grid = page.getByRole('grid', { name: 'Sample grid' });
    await grid.locator('.card').first().waitFor();
    await expect(grid.locator('.card').count()).resolves.toBe(rows.length);
    await grid.locator(`.card.selected[data-sample="${third}"]`).waitFor();
    await shot(page, 'triage-grid');
    await page.getByRole('group', { name: 'Layout' }).getByRole('button', { name: 'List' }).click();
  }, 60_000);

  it('opens the selected sample, tags one of its steps and writes a note; j opens the next sample', async () => {
    const failed = rows[1]!;
    await samplesTable().getByRole('button', { name: failed.id, exact: true }).click();
    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    await timeline.getByRole('article').first().waitFor();
    const stepBar = page.getByRole('region', { name: 'Annotations of step 1' });
    await stepBar.getByRole('button', { name: /tag/ }).click();
    const wrongFrame = DEFAULT_TAXONOMY.tags.find((t) => t.id === 'geometry.wrong_frame_axis_units')!;
    await stepBar.getByRole('button', { name: wrongFrame.label }).click();
    await stepBar.getByText(wrongFrame.label).first().waitFor();
    await stepBar.getByLabel('Note on step 1').fill('table_height was never defined: the plan skipped the measurement');
    await stepBar.getByRole('button', { name: 'Add note' }).click();
    await stepBar.getByText('table_height was never defined').waitFor();
    const entries = journal(runA);
    expect(entries.slice(-2)).toMatchObject([
      { op: 'tag', sample_id: failed.id, step: 1, tag: wrongFrame.id, author: 'e2e-annotator' },
      { op: 'note', sample_id: failed.id, step: 1, text: 'table_height was never defined: the plan skipped the measurement' },
    ]);
    await shot(page, 'tag-step');

    // j: the next sample in the triage order, without going back to the list.
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('j');
    await page.getByRole('button', { name: `← Back to run ${runs.a}` }).waitFor();
    await page.getByRole('region', { name: `Annotations of sample ${rows[2]!.id}` }).waitFor();
    await page.getByRole('button', { name: `← Back to run ${runs.a}` }).click();
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('exports the samples as CSV from the UI, and pandas reads back the scores, tags, step tags and notes', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('group', { name: 'Export samples' }).getByRole('button', { name: 'CSV' }).click()]);
    expect(download.suggestedFilename()).toBe(`${runs.a}.csv`);
    const file = join(mkdtempSync(join(tmpdir(), 'sc-export-')), 'export.csv');
    await download.saveAs(file);
    const script = [
      'import json, sys',
      'import pandas as pd',
      'df = pd.read_csv(sys.argv[1], keep_default_na=False)',
      'print(json.dumps({"n": len(df), "cols": list(df.columns), "rows": df.set_index("id")[["score", "tags", "step_tags", "notes", "tool_failures", "error_class"]].to_dict("index")}))',
    ].join('\n');
    const out = JSON.parse(execFileSync(PYTHON, ['-c', script, file], { encoding: 'utf8' })) as {
      n: number; cols: string[]; rows: Record<string, { score: number; tags: string; step_tags: string; notes: string; tool_failures: number; error_class: string }>;
    };
    expect(out.n).toBe(rows.length);
    for (const r of rows) expect(out.rows[r.id]!.score).toBeCloseTo(r.score!, 9);
    expect(out.rows[rows[2]!.id]!.tags).toContain(DEFAULT_TAXONOMY.tags[2]!.id);
    expect(out.rows[rows[1]!.id]!.step_tags).toContain('1:geometry.wrong_frame_axis_units');
    expect(out.rows[rows[1]!.id]!.notes).toContain('table_height was never defined');
    expect(out.rows[rows[1]!.id]!).toMatchObject({ tool_failures: 1, error_class: 'NameError' });
    writeFileSync(join(ARTIFACTS, 'export-readback.json'), JSON.stringify(out, null, 2));
  }, 60_000);

  it('imports a SpatialClaw work dir from the Runs view, browses it, opens a sample with its show() images and tags it', async () => {
    const workDir = join(mkdtempSync(join(tmpdir(), 'sc-workdir-')), 'spatial_vsibench_run');
    execFileSync(PYTHON, [join(ROOT, 'test', 'python', 'spatialclaw_workdir.py'), workDir], { stdio: 'pipe' });
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('button', { name: 'Import SpatialClaw work dir…' }).click();
    const panel = page.getByRole('region', { name: 'Import a SpatialClaw work dir' });
    await panel.getByRole('textbox', { name: 'Work dir' }).fill(workDir);
    await panel.getByRole('button', { name: 'Import', exact: true }).click();
    const report = panel.getByRole('status', { name: 'Import report' });
    await report.waitFor({ timeout: 60_000 });
    const text = (await report.textContent()) ?? '';
    const m = /Imported (\d+) samples into run (\S+) \((\d+) with a session trace/.exec(text);
    expect(m, text).not.toBeNull();
    const [, n, runId, withTrace] = m!;
    expect(Number(n)).toBe(5); // the replica: 4 sessions and one prediction without a session
    expect(Number(withTrace)).toBe(4);
    expect(text).toMatch(/[1-9]\d* show\(\) images/);
    await page.getByRole('table', { name: 'Runs' }).getByRole('button', { name: runId! }).waitFor();
    await report.getByRole('button', { name: `Open run ${runId}` }).click();
    await countText().filter({ hasText: /^5 samples/ }).waitFor();
    // The multiple-choice sample that showed three frames: its steps and its show() images, as recorded.
    await samplesTable().getByRole('button', { name: 'vsibench-1236', exact: true }).click();
    const timeline = page.getByRole('feed', { name: 'Step timeline' });
    await timeline.getByRole('article').first().waitFor();
    await expect.poll(() => timeline.getByRole('img').count()).toBeGreaterThan(0);
    await page.getByText('Ground truth').first().waitFor();
    // Annotated like a run of our own: a number key tags it, in the imported run's journal.
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('1');
    await page.getByRole('region', { name: 'Annotations of sample vsibench-1236' }).getByText(DEFAULT_TAXONOMY.tags[0]!.label).waitFor();
    expect(journal(join(runs.runsRoot, runId!)).at(-1)).toMatchObject({ op: 'tag', sample_id: 'vsibench-1236', tag: DEFAULT_TAXONOMY.tags[0]!.id });
    await shot(page, 'imported-run');
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('edits the tag taxonomy in Settings: a bad id is refused with the row, a new first tag gets key 1', async () => {
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    const editor = page.getByRole('region', { name: 'Tag taxonomy' });
    await editor.getByLabel('Tag 1 id').waitFor();
    const n = await editor.getByRole('table', { name: 'Tags' }).locator('tbody tr').count();
    expect(n).toBe(DEFAULT_TAXONOMY.tags.length);
    await editor.getByRole('button', { name: 'Add tag' }).click();
    await editor.getByLabel(`Tag ${n + 1} id`).fill('Counting Error');
    await editor.getByLabel(`Tag ${n + 1} label`).fill('counting error');
    await editor.getByLabel(`Tag ${n + 1} group`).fill('reasoning');
    await editor.getByRole('button', { name: 'Save taxonomy' }).click();
    await editor.getByRole('alert').filter({ hasText: `row ${n + 1}` }).waitFor();
    await editor.getByLabel(`Tag ${n + 1} id`).fill('reasoning.counting_error');
    for (let i = n + 1; i > 1; i--) await editor.getByRole('button', { name: `Move tag ${i} up` }).click();
    await editor.getByRole('button', { name: 'Save taxonomy' }).click();
    await editor.getByRole('status').filter({ hasText: `saved ${n + 1} tags` }).waitFor();
    // The triage view uses it at once: key 1 is the new tag.
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('button', { name: 'Runs', exact: true }).click();
    await page.getByRole('table', { name: 'Runs' }).getByRole('button', { name: runs.b }).click();
    const first = results(join(runs.runsRoot, runs.b))[0]!.id;
    await samplesTable().locator(`[data-sample="${first}"][aria-selected="true"]`).waitFor();
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('1');
    await samplesTable().locator(`[data-sample="${first}"]`).getByText('counting error').waitFor();
    expect(journal(join(runs.runsRoot, runs.b)).at(-1)).toMatchObject({ op: 'tag', sample_id: first, tag: 'reasoning.counting_error' });
    await shot(page, 'triage-custom-tag');
    expect(pageErrors).toEqual([]);
  }, 90_000);
});

/** The position of an outcome value among the facet's checkboxes. */
async function outcomeIndex(group: ReturnType<Page['getByRole']>, value: string): Promise<number> {
  const labels = await group.locator('label').allTextContents();
  const i = labels.findIndex((l) => l.trim().startsWith(value));
  if (i < 0) throw new Error(`no ${value} in the facet: ${labels.join(' | ')}`);
  return i;
}
