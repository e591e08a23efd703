/**
 * The Cluster view end to end, in Debian's chromium, against the REAL `spatialclaw serve` and the real one-node SLURM
 * cluster (build/slurm-local.sh). The scene (test/helpers/cluster-scene.ts startShardedScene): a 3-shard run whose
 * tasks are real SLURM array tasks, its finalize job waiting on them, and two registered perception servers (one
 * healthy, one whose URL answers nothing) on a real job.
 *
 * Checked: the SLURM line names the cluster; the run card's progress and finalize job; each shard's row (task id,
 * state as squeue says, done/total, in flight); the jobs table; the servers' health; polling (a line appended to a
 * shard's journal shows within one poll); "Open in Runs" opens the run in the Runs view.
 *
 * Runs after `npx electron-vite build` (out/renderer). Screenshot: test/.artifacts/ui-cluster.png. Skips as
 * test/integration/slurm-cluster.test.ts does when SLURM is missing.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWorkbenchPage, type WorkbenchPage } from '../helpers/workbench-page.ts';
import { ROOT } from '../helpers/cli.ts';
import { type ShardedScene, skipSlurm, startShardedScene } from '../helpers/cluster-scene.ts';
import { type Serve, startServe, stopServe } from '../helpers/serve.ts';

const ARTIFACTS = join(ROOT, 'test', '.artifacts');

if (skipSlurm) {
  console.warn('[cluster-view] skipped: sbatch is not on PATH and SPATIALCLAW_REQUIRE_SLURM is unset (start a one-node cluster with: sudo bash build/slurm-local.sh)');
}

/** squeue's state of one task or job id, or null when it no longer lists it. */
function squeueState(id: string): string | null {
  const r = spawnSync('squeue', ['-h', '-r', '-j', id.split('_')[0]!, '-o', '%i|%T'], { encoding: 'utf8' });
  return r.stdout.split('\n').find((l) => l.split('|')[0] === id)?.split('|')[1] ?? null;
}

async function cellTexts(row: Locator): Promise<string[]> {
  return (await row.getByRole('cell').allTextContents()).map((t) => t.trim());
}

describe.skipIf(skipSlurm)('Cluster view against spatialclaw serve and a real SLURM cluster', () => {
  let scene: ShardedScene;
  let serve: Serve;
  let wp: WorkbenchPage;
  let browser: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    scene = await startShardedScene();
    serve = await startServe(['--runs', scene.runsRoot], { SPATIALCLAW_HOME: scene.home, SPATIALCLAW_CLUSTER_DIR: scene.clusterDir });
    wp = await openWorkbenchPage(serve, { width: 1500, height: 1100 });
    ({ browser, page } = wp);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stopServe(serve);
    await scene?.stop();
  });

  it('shows the sharded run shard by shard, the jobs and the servers, polling every 3 s', async () => {
    const { runId } = scene.run;
    await page.getByRole('button', { name: 'Cluster', exact: true }).click();
    const card = page.getByRole('region', { name: `Sharded run ${runId}` });
    await card.waitFor({ timeout: 20_000 });

    const configName = /ClusterName\s*=\s*(\S+)/.exec(spawnSync('scontrol', ['show', 'config'], { encoding: 'utf8' }).stdout)?.[1] ?? '';
    expect(await page.getByRole('status', { name: 'SLURM status' }).textContent()).toContain(`cluster ${configName}`);
    expect(await card.getByText('4/13 samples done').count()).toBe(1);
    expect(await card.getByLabel('Finalize job').textContent()).toMatch(new RegExp(`finalize job ${scene.finalizeJobId}: PENDING`));

    // One row per shard: task id, its state as squeue says (checked at each poll until they agree), done/total, in flight.
    const rows = card.getByRole('table', { name: `Shards of ${runId}` }).getByRole('row').filter({ has: page.getByRole('cell') });
    expect(await rows.count()).toBe(3);
    const expected = [
      { status: 'running', done: '3/5', inFlight: '2', restarts: '1' },
      { status: 'running', done: '1/4', inFlight: '1', restarts: null },
      { status: 'pending', done: '0/≈4', inFlight: '0', restarts: null },
    ];
    for (const [k, e] of expected.entries()) {
      const task = `${scene.arrayJobId}_${k}`;
      await expect.poll(async () => {
        const c = await cellTexts(rows.nth(k));
        return c[2] === `${e.status} ${squeueState(task)}`;
      }, { timeout: 10_000, message: `shard ${k}'s state follows squeue` }).toBe(true);
      const c = await cellTexts(rows.nth(k));
      expect(c[0]).toBe(String(k));
      expect(c[1]).toBe(task);
      expect(c[4]).toMatch(/ \/ 3:00$/);
      if (e.restarts) expect(c[5]).toBe(e.restarts);
      expect(c[6]).toBe(e.done);
      expect(c[7]).toBe(e.inFlight);
    }

    // The jobs table: every task and the finalize job (waiting on the array).
    const jobs = page.getByRole('table', { name: 'SLURM jobs' });
    for (const id of [0, 1, 2].map((k) => `${scene.arrayJobId}_${k}`).concat(scene.finalizeJobId, scene.serverJobId)) {
      expect(await jobs.locator(`tr[data-job="${id}"]`).count(), `jobs table lists ${id}`).toBe(1);
    }
    expect(await cellTexts(jobs.locator(`tr[data-job="${scene.finalizeJobId}"]`))).toEqual(expect.arrayContaining(['PENDING', 'Dependency']));

    // Servers: health with the token, load from /health; the one that does not answer says why.
    const servers = page.getByRole('table', { name: 'Cluster servers' });
    const ok = await cellTexts(servers.locator(`tr[data-server="${scene.healthy.id}"]`));
    expect(ok.slice(0, 4)).toEqual(['perception', scene.healthy.id, scene.healthy.url, 'node-test']);
    expect(ok[5]).toBe('healthy');
    expect(ok[6]).toBe('2');
    expect(ok[7]).toBe('da3, sam3');
    const dead = await cellTexts(servers.locator(`tr[data-server="${scene.dead.id}"]`));
    expect(dead[5]).toMatch(/^unhealthy/);
    expect(dead[5]).toContain('ECONNREFUSED');

    // Polling: a sample finished by shard 1 shows within a poll or two.
    const journal = join(scene.run.dir, 'shards', '001', 'samples.jsonl');
    const line = readFileSync(journal, 'utf8').split('\n')[0]!.replace(scene.run.ids[1]![0]!, scene.run.ids[1]![1]!);
    const before = wp.count('clusterStatus');
    appendFileSync(journal, `${line}\n`);
    await expect.poll(async () => (await cellTexts(rows.nth(1)))[6], { timeout: 8_000 }).toBe('2/4');
    expect(await card.getByText('5/13 samples done').count()).toBe(1);
    expect(wp.count('clusterStatus')).toBeGreaterThan(before);

    await page.screenshot({ path: join(ARTIFACTS, 'ui-cluster.png'), fullPage: true });

    // The run card opens the run in the Runs view.
    await card.getByRole('button', { name: 'Open in Runs' }).click();
    await page.getByRole('region', { name: `Run ${runId}` }).waitFor({ timeout: 10_000 });
    expect(await page.getByRole('button', { name: 'Runs', exact: true }).getAttribute('aria-pressed')).toBe('true');
    // Leaving the view stops its polling.
    const n = wp.count('clusterStatus');
    await page.waitForTimeout(3_500);
    expect(wp.count('clusterStatus')).toBe(n);
    expect(wp.pageErrors).toEqual([]);
  });
});
