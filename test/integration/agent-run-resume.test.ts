import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SampleResultSchema } from '../../shared/run.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const IDS = ['s1', 's2', 's3', 's4', 's5', 's6'];
// One step that takes a moment (so kills land mid-sample too) and answers from the sample's poses.
const CELL = 'Purpose: measure\nReasoning: poses are given.\nNext Goal: answer\nCode:\n```python\nimport time\ntime.sleep(0.8)\n' +
  'd = float(np.linalg.norm(Metadata.poses[-1][:3, 3] - Metadata.poses[0][:3, 3]))\nReturnAnswer(round(d, 2))\n```';

/** Start `spatialclaw run` and SIGKILL it once `killWhen` sees the output it waits for (or after ms). */
function runUntilKilled(args: string[], killWhen: { doneLines?: number; afterMs?: number }): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'electron', 'cli', 'spatialclaw.mjs'), ...args], { cwd: ROOT, detached: true });
    let out = '';
    const kill = (): void => {
      try {
        process.kill(-child.pid!, 'SIGKILL'); // the CLI and its Jupyter server, kernels, perception server
      } catch {
        /* gone */
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const done = (out.match(/^\[[#.]{20}\] /gm) ?? []).length;
      if (killWhen.doneLines !== undefined && done >= killWhen.doneLines) kill();
    });
    if (killWhen.afterMs !== undefined) setTimeout(kill, killWhen.afterMs);
    child.on('exit', () => resolve(out));
  });
}

const results = (dir: string) =>
  readFileSync(join(dir, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => SampleResultSchema.parse(JSON.parse(l)));

describe('spatialclaw run: SIGKILL mid-batch, then --resume', () => {
  let model: ScriptedModelServer;
  let dataset: string;
  beforeAll(async () => {
    model = await startScriptedModelServer({ script: Object.fromEntries(IDS.map((id) => [id, [CELL]])) });
    const dir = mkdtempSync(join(tmpdir(), 'ds-'));
    dataset = join(dir, 'questions.jsonl');
    writeFileSync(dataset, IDS.map((id) => JSON.stringify({
      id, question: 'How far did the camera move?', answer: 2.1, question_type: 'camera_displacement',
      inputs: [{ kind: 'rgbd_sample', path: join(ROOT, 'test', 'fixtures', 'rgbd_room') }],
    })).join('\n') + '\n');
  });
  afterAll(() => model?.close());

  it('loses and duplicates nothing across kills at several points', async () => {
    const out = mkdtempSync(join(tmpdir(), 'run-'));
    const args = ['run', '--dataset', dataset, '--model', 'scripted', '--base-url', model.url, '--concurrency', '2', '--out', out];
    // Kill 1: early, most likely before any sample finished (mid-sample or during start-up).
    await runUntilKilled(args, { afterMs: 4000 });
    // Kill 2: right after the first finished sample of the resumed run.
    await runUntilKilled([...args, '--resume'], { doneLines: 1 });
    const mid = results(out).map((r) => r.id);
    expect(new Set(mid).size).toBe(mid.length); // no duplicates so far
    // Kill 3: after three more.
    await runUntilKilled([...args, '--resume'], { doneLines: 3 });
    // Finish.
    const last = await spatialclaw([...args, '--resume'], {}, 240_000);
    expect(last.code, last.stderr).toBe(0);
    const final = results(out);
    expect(final.map((r) => r.id).sort()).toEqual([...IDS].sort()); // each exactly once
    for (const r of final) expect(r).toMatchObject({ answer: 2.1, termination: 'answered', score: 1 });
    expect(last.stdout).toMatch(/already done/);
    // The killed CLIs' Jupyter servers and kernels did not outlive them: they watch their host's pid.
    const { execSync } = await import('node:child_process');
    const left = (): number => Number(execSync('pgrep -fc "spatial_runtime.(server_launch|kernel_launch)" || true').toString().trim() || '0');
    await expect.poll(left, { timeout: 20_000, interval: 500 }).toBe(0);
  });
});
