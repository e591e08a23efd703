import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RunEventSchema, SampleResultSchema } from '../../shared/run.ts';
import { spatialclaw } from '../helpers/cli.ts';
import { ANSWER, QUESTION, RECONSTRUCT, ROOM, step } from '../helpers/rgbd-script.ts';
import { type Reply, type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? allFiles(p) : [p];
  });
}

function runDirFrom(stdout: string): string {
  const m = /Run recorded in (.+)$/m.exec(stdout) ?? /"run_dir":"([^"]+)"/.exec(stdout);
  if (!m?.[1]) throw new Error(`no run folder in output:\n${stdout}`);
  return m[1].trim();
}

describe('spatialclaw ask (scripted model, real kernel and perception server)', () => {
  let model: ScriptedModelServer | null = null;
  afterEach(async () => {
    await model?.close();
    model = null;
  });

  const askWith = async (script: Reply[], extra: string[] = [], env: NodeJS.ProcessEnv = {}) => {
    model = await startScriptedModelServer({ script: { q1: script }, whenExhausted: 'error' });
    const out = mkdtempSync(join(tmpdir(), 'run-'));
    const r = await spatialclaw(['ask', '--input', ROOM, '--question', QUESTION, '--answer', '2.1',
      '--model', 'scripted-vlm', '--base-url', model.url, '--perception', 'local', '--out', out, ...extra], env, 240_000);
    return { r, out };
  };

  it('answers a metric question on the real RGB-D sample from scripted cells, live, and records the run', async () => {
    const { r, out } = await askWith(['1. Reconstruct. 2. Measure camera displacement.', RECONSTRUCT, ANSWER],
      ['--api-key-env', 'SC_SECRET_KEY'], { SC_SECRET_KEY: 'sk-live-very-secret-4242' });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('[step 1] reconstruct the frames');
    expect(r.stdout).toMatch(/camera moved 2\.(09|10)\d m/); // 2.097 m from the poses
    expect(r.stdout).toContain('Final answer: 2.1 (return_answer; 2 steps');
    expect(r.stdout).toContain('score 1.00');
    expect(runDirFrom(r.stdout)).toBe(out);

    const result = SampleResultSchema.parse(JSON.parse(readFileSync(join(out, 'samples.jsonl'), 'utf8').trim()));
    expect(result).toMatchObject({ id: 'q1', answer: 2.1, termination: 'answered', steps: 2, score: 1, model_calls: 3 });
    const events = readFileSync(join(out, 'samples', 'q1', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => RunEventSchema.parse(JSON.parse(l)));
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['sample_start', 'plan', 'model_call', 'cell', 'artifact', 'observation', 'answer', 'termination']));
    expect(events.at(-1)).toMatchObject({ type: 'termination', reason: 'answered' });
    // The first request carried the key frames and the tool reference generated from the runtime.
    const first = model!.requestsFor('q1')[1]!.body as { messages: { role: string; content: unknown }[] };
    expect(JSON.stringify(first.messages[0]!.content)).toContain('tools.Reconstruct.Reconstruct(');
    expect(JSON.stringify(first.messages[1]!.content)).toContain('data:image/png;base64,');
    // The API key is sent to the model but never written to the run.
    expect(model!.requests[0]!.headers.authorization).toBe('Bearer sk-live-very-secret-4242');
    for (const f of allFiles(out)) expect(readFileSync(f).includes('sk-live-very-secret-4242'), f).toBe(false);
  });

  it('replays the recorded cells without a model and finds them reproduced', async () => {
    const { r, out } = await askWith(['plan', RECONSTRUCT, ANSWER]);
    expect(r.code, r.stderr).toBe(0);
    const rep = await spatialclaw(['replay', out, 'q1', '--perception', 'local'], {}, 240_000);
    expect(rep.code, rep.stderr + rep.stdout).toBe(0);
    expect(rep.stdout).toContain('cell 2: same (ok, answer 2.1)');
    expect(rep.stdout).toContain('all 2 cells reproduce the record');
  });

  it('runs the tool_call executor: one JSON call per step, as single assignments', async () => {
    const call = (o: object) => '```json\n' + JSON.stringify(o) + '\n```';
    const { r } = await askWith([
      'plan',
      call({ tool: 'tools.Geometry.camera_center', args: ['$Metadata.poses[0]'], assign: 'c0' }),
      call({ tool: 'tools.Geometry.camera_center', args: ['$Metadata.poses[4]'], assign: 'c1' }),
      call({ tool: 'tools.Geometry.distance', args: ['$c0', '$c1'], assign: 'd' }),
      call({ tool: 'ReturnAnswer', args: ['$d'] }),
    ], ['--executor', 'tool_call', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = SampleResultSchema.parse(JSON.parse(r.stdout.trim().split('\n').at(-1)!));
    expect(res).toMatchObject({ termination: 'answered', steps: 4, score: 1 });
    expect(Number(res.answer)).toBeCloseTo(2.097, 2);
  });

  it('runs the single_pass executor: one cell that must answer', async () => {
    const { r } = await askWith([step('all at once', 'd = float(np.linalg.norm(Metadata.poses[-1][:3, 3] - Metadata.poses[0][:3, 3]))\nReturnAnswer(round(d, 1))')],
      ['--executor', 'single_pass', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = SampleResultSchema.parse(JSON.parse(r.stdout.trim().split('\n').at(-1)!));
    expect(res).toMatchObject({ answer: 2.1, steps: 1, model_calls: 1, termination: 'answered' });
  });

  it('recovers from an unparseable reply and a failing cell', async () => {
    const { r, out } = await askWith([
      'plan',
      'I think the answer is about two metres.', // no code block
      step('oops', 'x = undefined_name + 1'),
      RECONSTRUCT,
      ANSWER,
    ], ['--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = SampleResultSchema.parse(JSON.parse(r.stdout.trim().split('\n').at(-1)!));
    expect(res).toMatchObject({ answer: 2.1, parse_failures: 1, steps: 4, termination: 'answered' });
    const turns = model!.requestsFor('q1').map((q) => q.body as { messages: { role: string; content: unknown }[] });
    // After the parse failure the model got a format reminder; after the error, the condensed failing code.
    expect(JSON.stringify(turns[2]!.messages.at(-1))).toContain('no ```python code block found');
    expect(JSON.stringify(turns[3]!.messages)).toContain('# -> NameError');
    expect(readFileSync(join(out, 'samples', 'q1', 'events.jsonl'), 'utf8')).toContain('"parse_error":"no ```python code block found');
  });

  it('falls back to a direct answer when the step budget runs out', async () => {
    const { r } = await askWith(['plan', step('look', 'print(len(InputImages))'), step('look again', 'print(Metadata)'), 'The camera moved \\boxed{2.0} metres.'],
      ['--max-steps', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = SampleResultSchema.parse(JSON.parse(r.stdout.trim().split('\n').at(-1)!));
    expect(res).toMatchObject({ answer: '2.0', answer_source: 'direct_answer', termination: 'max_steps', steps: 2 });
    expect(res.score).toBe(1); // MRA: |2.0 - 2.1| / 2.1 = 0.048 <= 1 - t for every t in 0.50..0.95
    const lastMain = model!.requestsFor('q1')[2]!.body as { messages: { content: unknown }[] };
    expect(JSON.stringify(lastMain.messages.at(-1))).toContain('only one step remains');
  });

  it('retries a model timeout and a 500, then answers', async () => {
    const cfgDir = mkdtempSync(join(tmpdir(), 'cfg-'));
    model = await startScriptedModelServer({
      script: { q1: ['plan', { delayMs: 2500, content: 'late' }, { status: 500 }, RECONSTRUCT, ANSWER] },
      whenExhausted: 'error',
    });
    const cfg = join(cfgDir, 'model.json');
    writeFileSync(cfg, JSON.stringify({ name: 'scripted-vlm', base_url: model.url, timeout_s: 1, max_retries: 3 }));
    const out = mkdtempSync(join(tmpdir(), 'run-'));
    const r = await spatialclaw(['ask', '--input', ROOM, '--question', QUESTION, '--model', cfg, '--perception', 'local', '--out', out, '--json'], {}, 240_000);
    expect(r.code, r.stderr).toBe(0);
    const res = SampleResultSchema.parse(JSON.parse(r.stdout.trim().split('\n').at(-1)!));
    expect(res.answer).toBe(2.1);
    const calls = readFileSync(join(out, 'samples', 'q1', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; attempts?: number; role?: string });
    expect(calls.filter((e) => e.type === 'model_call' && e.role === 'main')[0]?.attempts).toBe(3);
  });
});
