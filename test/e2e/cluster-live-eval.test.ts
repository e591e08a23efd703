/**
 * A REAL sharded eval while it runs, in the workbench's Cluster view (Debian's chromium, the real `spatialclaw serve`,
 * the real one-node SLURM cluster): `spatialclaw eval --slurm --shards 3` on the VSI-Bench and BLINK replicas with the
 * scripted model (3 s per reply, so the shards are caught mid-run). The view must show the run's card with its shards'
 * SLURM tasks, their states as squeue reports them, and the samples done so far. (The run's end, finalize and
 * results, is checked by test/integration/slurm-sharded.test.ts; here `spatialclaw cluster cancel` ends it.)
 *
 * Screenshot: test/.artifacts/ui-cluster-live-eval.png (mid-run).
 * Runs after `npx electron-vite build`. Skips as test/integration/slurm-cluster.test.ts does when SLURM is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SampleSpec } from '../../shared/run.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { skipSlurm } from '../helpers/cluster-scene.ts';
import { answerCell } from '../helpers/eval-runs.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';
import { openWorkbenchPage, type WorkbenchPage } from '../helpers/workbench-page.ts';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const RUN_ID = 'sharded-eval';

/** Complete lines of every shard journal of the run. */
function doneCount(dir: string): number {
  const root = join(dir, 'shards');
  if (!existsSync(root)) return 0;
  let n = 0;
  for (const k of readdirSync(root)) {
    const p = join(root, k, 'samples.jsonl');
    if (existsSync(p)) n += readFileSync(p, 'utf8').split('\n').filter(Boolean).length;
  }
  return n;
}

describe.skipIf(skipSlurm)('a real sharded eval in the Cluster view', () => {
  let tmp = '';
  let model: ScriptedModelServer;
  let serve: Serve;
  let wp: WorkbenchPage;
  let browser: BrowserContext;
  let page: Page;
  let samples: SampleSpec[] = [];
  const jobs: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    tmp = mkdtempSync(join(tmpdir(), 'sc-live-eval-'));
    const data = join(tmp, 'data');
    mkdirSync(data);
    execFileSync(PYTHON, ['-m', 'replicas', data, 'vsibench', 'blink'], { cwd: join(ROOT, 'test', 'python'), stdio: 'pipe' });
    const out = execFileSync(PYTHON, ['-m', 'spatial_eval', 'load', '--benchmark', 'vsibench,blink', '--data-root', data, '--limit', '4'], { encoding: 'utf8' });
    samples = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; spec?: SampleSpec }).filter((m) => m.type === 'sample').map((m) => m.spec!);
    model = await startScriptedModelServer({ script: Object.fromEntries(samples.map((s) => [s.id, [{ content: answerCell(String(s.answer ?? 'A')), delayMs: 3000 }]])) });
    const env = { SPATIALCLAW_HOME: join(tmp, 'home') };
    const r = await spatialclaw(['eval', '--benchmark', 'vsibench,blink', '--data-root', data, '--limit', '4', '--model', 'scripted', '--base-url', model.url, '--no-plan', '--concurrency', '1',
      '--out', join(tmp, 'runs', RUN_ID), '--slurm', '--shards', '3'], env, 120_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rec = JSON.parse(readFileSync(join(tmp, 'runs', RUN_ID, 'slurm.json'), 'utf8')) as { submissions: { array_job_id: string; finalize_job_id: string }[] };
    jobs.push(rec.submissions[0]!.array_job_id, rec.submissions[0]!.finalize_job_id);
    serve = await startServe(['--runs', join(tmp, 'runs')], env);
    wp = await openWorkbenchPage(serve, { width: 1500, height: 900 });
    ({ browser, page } = wp);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await stopServe(serve);
    await model?.close();
    if (jobs.length) spawnSync('scancel', jobs, { encoding: 'utf8' });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('shows the shards of the running eval', async () => {
    const dir = join(tmp, 'runs', RUN_ID);
    const [arrayId] = jobs as [string, string];
    await page.getByRole('button', { name: 'Cluster', exact: true }).click();
    const card = page.getByRole('region', { name: `Sharded run ${RUN_ID}` });
    await card.waitFor({ timeout: 30_000 });
    const rows = card.getByRole('table', { name: `Shards of ${RUN_ID}` }).getByRole('row').filter({ has: page.getByRole('cell') });
    expect(await rows.count()).toBe(3);
    for (let k = 0; k < 3; k++) expect((await rows.nth(k).getByRole('cell').allTextContents())[1]!.trim()).toBe(`${arrayId}_${k}`);

    // Mid-run: a shard's task RUNNING with samples done, and the card's count following the journals.
    await expect.poll(async () => {
      const texts = await Promise.all([0, 1, 2].map(async (k) => (await rows.nth(k).getByRole('cell').allTextContents()).map((t) => t.trim())));
      return texts.some((c) => /RUNNING/.test(c[2]!)) && doneCount(dir) >= 1 && doneCount(dir) < samples.length;
    }, { timeout: 120_000, interval: 1000, message: 'a shard running with samples done' }).toBe(true);
    await expect.poll(async () => (await card.textContent()) ?? '', { timeout: 10_000 }).toMatch(new RegExp(`${doneCount(dir)}/${samples.length} samples done|[1-9]\\d*/${samples.length} samples done`));
    await page.screenshot({ path: join(ARTIFACTS, 'ui-cluster-live-eval.png'), fullPage: true });

    // `spatialclaw cluster cancel RUN` ends it; the view then shows the shards stopped.
    const c = await spatialclaw(['cluster', 'cancel', dir], { SPATIALCLAW_HOME: join(tmp, 'home') }, 60_000);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(new RegExp(`cancelled .*${arrayId}_`));
    await expect.poll(async () => (await card.getByLabel('Finalize job').textContent()) ?? '', { timeout: 60_000, interval: 1000 }).not.toMatch(/PENDING|RUNNING/);

    expect(wp.pageErrors).toEqual([]);
  }, 400_000);
});
