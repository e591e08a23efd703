/**
 * `spatialclaw run`'s end summary (issue 15, papercut "the batch summary is a raw JSON dump, and it reports
 * `errors: 0` when samples failed with tool errors"): readable lines, and a sample whose cell raised is counted as
 * a sample with failed cells, apart from host errors. Real CLI, Jupyter server and kernels; scripted model.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const IMG = join(ROOT, 'test', 'fixtures', 'tum_rgbd_frame', 'TUM_color.png');
const step = (purpose: string, code: string): string => `Purpose: ${purpose}\nReasoning: scripted.\nNext Goal: answer\nCode:\n\`\`\`python\n${code}\n\`\`\``;

let model: ScriptedModelServer | undefined;
afterAll(async () => {
  await model?.close();
});

describe('spatialclaw run: the end summary', () => {
  it('prints readable lines and counts the sample whose cell raised', async () => {
    model = await startScriptedModelServer({
      script: {
        bad: ['1. Count.', step('count', 'n = undefined_name + 1'), step('answer', 'ReturnAnswer(3)')],
        good: ['1. Count.', step('count', 'n = 3\nprint(n)'), step('answer', 'ReturnAnswer(n)')],
      },
      whenExhausted: 'error',
    });
    const dir = mkdtempSync(join(tmpdir(), 'run-summary-'));
    const dataset = join(dir, 'd.jsonl');
    writeFileSync(dataset, ['bad', 'good'].map((id) => JSON.stringify({ id, inputs: [{ kind: 'images', path: IMG }], question: 'How many?', answer: 3 })).join('\n'));
    const r = await spatialclaw(['run', '--dataset', dataset, '--model', 'scripted', '--base-url', model.url, '--concurrency', '1', '--out', join(dir, 'out')], {}, 240_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^samples: {8}2 of 2 done$/m);
    expect(out).toMatch(/^score: {10}1\.000 mean over 2 scored samples$/m);
    expect(out).toMatch(/^terminations: {3}answered 2$/m);
    expect(out).toMatch(/^errors: {9}1 sample had failed cells \(NameError ×1\), 1 failed cell in all; 0 host errors$/m);
    expect(out).toMatch(/^parse failures: 0$/m);
    expect(out).toMatch(/^fallbacks used: 0$/m);
    expect(out).toMatch(/^tokens: {9}[\d,]+ prompt \+ [\d,]+ completion in 6 model calls$/m);
    expect(out).toMatch(/^wall time: {6}\d+(\.\d)? s|^wall time: {6}\d+ min/m);
    // No JSON dump of the summary any more.
    expect(out).not.toMatch(/"by_termination"|"errors": 0/);
  }, 300_000);
});
