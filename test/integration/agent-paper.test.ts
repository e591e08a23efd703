/**
 * `--profile paper` end to end (docs/paper-parity.md), read from what the scripted model server received and
 * from the run record: real Jupyter kernels, the bundled real 200-frame video and RGB-D room; only the model is
 * scripted.
 *
 * - `spatialclaw ask --profile paper` on the video: the planner request, the plan and transition messages, the
 *   key frames, the history re-rendered from the parse, the format-error turn, the condensed failed step and its
 *   survivors, no execute_result, no pruning, ReturnAnswer in a cell that raises afterwards, run.json.
 * - `spatialclaw run --profile paper --model qwen3.5-397b-a17b` (a built-in config, row 17): cell errors never count
 *   while 30 format failures in a row stop a sample, then the fallback call (system prompt, key frames, no history)
 *   and its first \boxed{}; a video sample binds every frame; every request's parameters; run.json.
 * - The workbench's ask: the three executors complete a sample under both profiles; run.json records each.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { imageSize } from '../../shared/image.ts';
import { ModelConfigSchema } from '../../shared/model.ts';
import { AgentRunConfigSchema, PROFILES, type ProfileName } from '../../shared/profiles.ts';
import { type RunEvent, RunEventSchema, RunInfoSchema, SampleResultSchema } from '../../shared/run.ts';
import { AskRequestSchema, type HostEvent } from '../../shared/workbench.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { hostInTempHome, type TempHomeHost } from '../helpers/host-home.ts';
import { ROOM, step } from '../helpers/rgbd-script.ts';
import { type RecordedRequest, type Reply, type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const VIDEO = join(ROOT, 'test', 'fixtures', 'video_bedroom', 'bedroom.mp4');

type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };
type Message = { role: string; content: string | Part[] };

const messagesOf = (r: RecordedRequest): Message[] => (r.body as { messages: Message[] }).messages;
const partsOf = (m: Message): Part[] => (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content);
const textOf = (m: Message): string => partsOf(m).flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('\n');
const pngsOf = (m: Message): Buffer[] => partsOf(m).flatMap((p) => (p.type === 'image_url' ? [Buffer.from(p.image_url.url.split(',')[1]!, 'base64')] : []));
const imagesOf = (r: RecordedRequest): Buffer[] => messagesOf(r).flatMap(pngsOf);

/** A reply in the paper's four bold sections. */
const bold = (purpose: string, code: string): string => `**Purpose**: ${purpose}\n**Reasoning**: r\n**Next Goal**: g\n**Code**:\n\`\`\`python\n${code}\n\`\`\``;
const toolCall = (tool: string, args: unknown[]): string => `\`\`\`json\n${JSON.stringify({ tool, args })}\n\`\`\``;

const eventsOf = (dir: string, id: string): RunEvent[] =>
  readFileSync(join(dir, 'samples', id, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => RunEventSchema.parse(JSON.parse(l)));
const runConfigOf = (dir: string): Record<string, unknown> => RunInfoSchema.parse(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'))).config;

/** run.json records the profile's name and every option it resolved to. */
function expectRecordedProfile(config: Record<string, unknown>, profile: ProfileName, over: Record<string, unknown>): void {
  expect(config['profile']).toBe(profile);
  const agent = AgentRunConfigSchema.parse(config['agent']);
  const { images_per_request: _cap, ...options } = PROFILES[profile];
  expect(agent).toMatchObject({ ...options, ...over });
}

describe('--profile paper through the CLI (real kernel, real 200-frame video)', () => {
  let model: ScriptedModelServer | null = null;
  afterEach(async () => {
    await model?.close();
    model = null;
  });

  it('ask: planner, plan hand-over, key frames, re-rendered history, format error, condensation, no pruning, answer from a failing cell', async () => {
    model = await startScriptedModelServer({
      script: {
        q1: [
          '<think>x</think>PLAN-TEXT\n### CHECKLIST\n```json\n[{"priority": "HIGH", "description": "look"}]\n```',
          `Some chat first.\n<think>hmm</think>\n${bold('look', 'print(len(InputImages), InputImages.frame_indices[:3], InputImages.frame_indices[-1], InputImages[0].size)\nshow(InputImages[3])')}`,
          'hello',
          bold('fail', 'a = 1\nb = undefined_name\nc = 3'),
          bold('survivor', 'print(a)\nshow(InputImages[10], InputImages[11])'),
          bold('result', 'x = 41\nx + 1'),
          bold('error', 'raise ValueError("again")'),
          bold('answer', 'ReturnAnswer("B")\nraise ValueError("late")'),
        ],
      },
      whenExhausted: 'error',
    });
    const out = mkdtempSync(join(tmpdir(), 'run-paper-'));
    const r = await spatialclaw(['ask', '--profile', 'paper', '--max-steps', '8', '--input', VIDEO, '--question', 'Is there a bed in the room?',
      '--choices', 'A. yes', 'B. no', '--model', 'scripted-vlm', '--base-url', model.url, '--out', out], {}, 400_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);

    // ReturnAnswer in a cell that raised afterwards ended the sample: no further request.
    const result = SampleResultSchema.parse(JSON.parse(readFileSync(join(out, 'samples.jsonl'), 'utf8').trim()));
    expect(result).toMatchObject({ answer: 'B', answer_source: 'return_answer', termination: 'answered', steps: 7, parse_failures: 1 });
    const requests = model.requestsFor('q1');
    expect(requests).toHaveLength(8); // planner + 7 steps

    // The planner: its own system prompt with the tool reference and the checklist format; no images; the key frames' indices.
    const planner = messagesOf(requests[0]!);
    expect(planner.map((m) => m.role)).toEqual(['system', 'user']);
    expect(imagesOf(requests[0]!)).toHaveLength(0);
    expect(textOf(planner[0]!)).toContain('segment_video_by_text');
    expect(textOf(planner[0]!)).toContain('CHECKLIST');
    expect(textOf(planner[1]!)).toContain('[0, 6, 13, 19, 26,');

    // The first main request: system, key frames + question, the plan (thinking stripped), the transition; no assistant.
    const first = messagesOf(requests[1]!);
    expect(first.map((m) => m.role)).toEqual(['system', 'user', 'user', 'user']);
    const opening = partsOf(first[1]!);
    expect(opening[0]!.type).toBe('text');
    const question = opening.at(-1)!;
    expect(question.type === 'text' ? question.text : '').toContain('Is there a bed in the room?');
    const keyFrames = pngsOf(first[1]!);
    expect(keyFrames).toHaveLength(32);
    for (const png of keyFrames) expect(imageSize(png)).toMatchObject({ width: 768, height: 432 });
    expect(textOf(first[1]!)).toMatch(/32 key frames[\s\S]*200 frames/);
    expect(textOf(first[2]!)).toContain('PLAN-TEXT');
    expect(textOf(first[2]!)).not.toContain('<think>');
    expect(textOf(first[3]!)).toMatch(/Begin with step 1/);

    // Step 1's reply re-rendered from the parse (prose and thinking dropped); every frame bound at 768x432.
    const second = messagesOf(requests[2]!);
    const reply1 = second[4]!;
    expect(reply1.role).toBe('assistant');
    expect(textOf(reply1).startsWith('**Purpose**: look\n')).toBe(true);
    expect(textOf(reply1)).not.toMatch(/Some chat first|<think>|hmm/);
    expect(textOf(second[5]!)).toContain('200 [0, 1, 2] 199 (768, 432)');

    // The format error: a placeholder, a reminder, and the skipped step's observation.
    const third = messagesOf(requests[3]!);
    expect(third.slice(-3).map((m) => m.role)).toEqual(['assistant', 'user', 'user']);
    expect(textOf(third.at(-3)!)).toMatch(/^\[Format Error\] /);
    expect(textOf(third.at(-1)!)).toMatch(/=== Step 1 Execution Feedback ===[\s\S]*Skipped/);

    // The failed step, condensed: Purpose kept, the code cut at the failing line with the error as a comment; `a` survives.
    const fourth = messagesOf(requests[4]!);
    expect(textOf(fourth.at(-2)!)).toBe('**Purpose**: fail\n**Reasoning**: [errored — condensed]\n**Next Goal**: [errored — condensed]\n**Code**:\n' +
      "```python\na = 1\nb = undefined_name  # <-- ERROR\n# NameError: name 'undefined_name' is not defined\n```");
    expect(textOf(fourth.at(-1)!)).toMatch(/line 2[\s\S]*a: int/);
    const fifth = messagesOf(requests[5]!);
    expect(textOf(fifth.at(-1)!)).toMatch(/\[Output\]\n1\n/);
    // No execute_result (row 8).
    const sixth = messagesOf(requests[6]!);
    expect(textOf(sixth.at(-1)!)).not.toMatch(/42|result/);

    // Nothing is pruned: the image shown in step 1 is still in the request of step 7, after all 32 key frames.
    const shown1 = readFileSync(join(out, 'samples', 'q1', 'images', 'step001_1.png'));
    // Row 18.5: the shown frame (768x432) under its label band, labelled with the call's source text.
    expect(imageSize(shown1)).toMatchObject({ width: 768 });
    expect(imageSize(shown1)!.height).toBeGreaterThanOrEqual(464);
    expect(textOf(second[5]!)).toContain('Labels: InputImages[3]');
    expect(textOf(fifth.at(-1)!)).toContain('Labels: InputImages[10]');
    const last = imagesOf(requests[7]!);
    expect(last).toHaveLength(32 + 1 + 2);
    expect(last.slice(0, 32)).toEqual(keyFrames);
    expect(last.some((b) => b.equals(shown1))).toBe(true);
    for (const q of requests) expect(JSON.stringify(q.body)).not.toContain('omitted to stay within');

    // The record: the profile and every option; every frame bound; only planner and main calls.
    expectRecordedProfile(runConfigOf(out), 'paper', { images_per_request: null, max_steps: 8, executor: 'code', plan: true });
    const events = eventsOf(out, 'q1');
    expect(events[0]).toMatchObject({ type: 'sample_start', sample: { inputs: [{ kind: 'video', all_frames: true }] } });
    expect(new Set(events.flatMap((e) => (e.type === 'model_call' ? [e.role] : [])))).toEqual(new Set(['planner', 'main']));
  }, 420_000);

  it('run: cell errors never count, 30 format failures in a row stop the sample, then the fallback call; a video binds every frame', async () => {
    model = await startScriptedModelServer({
      script: {
        fail: ['the plan', ...Array.from({ length: 6 }, () => bold('fail', 'raise ValueError("no luck")')), ...Array.from({ length: 30 }, () => 'hello'),
          'Reasoning… \\boxed{C} … \\boxed{D}'],
        video: ['the plan', bold('answer', 'print(len(InputImages))\nvlm.locate([InputImages[0]], "the bed")\nvlm.ask_with_thinking([InputImages[1]], "Is it a bedroom?")\nReturnAnswer("A")')],
      },
      // The kernel's vlm calls carry no sample id.
      default: ['Not visible', 'Yes.'],
      whenExhausted: 'error',
    });
    const dir = mkdtempSync(join(tmpdir(), 'run-paper-batch-'));
    const dataset = join(dir, 'questions.jsonl');
    writeFileSync(dataset, [
      { id: 'fail', inputs: [{ kind: 'images', path: join(ROOM, 'color') }], question: 'Which?', choices: ['A. a', 'B. b', 'C. c'] },
      { id: 'video', inputs: [{ kind: 'video', path: VIDEO }], question: 'Is there a bed?', choices: ['A. yes', 'B. no'] },
    ].map((row) => JSON.stringify(row)).join('\n'));
    const out = join(dir, 'out');
    // A built-in model config of the paper (row 17), at the scripted server's URL.
    const r = await spatialclaw(['run', '--profile', 'paper', '--max-steps', '40', '--dataset', dataset, '--model', 'qwen3.5-397b-a17b', '--base-url', model.url, '--out', out], {}, 400_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const results = readFileSync(join(out, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => SampleResultSchema.parse(JSON.parse(l)));
    const failed = results.find((x) => x.id === 'fail')!;
    // Six cell errors did not stop it (the default stops after five); the format failures did, after 30.
    expect(failed).toMatchObject({ termination: 'consecutive_failures', steps: 36, parse_failures: 30, answer: 'C', answer_source: 'direct_answer' });

    // The fallback: a fresh conversation with its system prompt and the key frames (the room's 5 images), no history.
    const fallback = messagesOf(model.requestsFor('fail').at(-1)!);
    expect(fallback.map((m) => m.role)).toEqual(['system', 'user']);
    expect(pngsOf(fallback[1]!)).toHaveLength(5);
    expect(textOf(fallback[1]!)).toMatch(/Which\?[\s\S]*\\boxed\{\}/);
    expect(JSON.stringify(fallback)).not.toMatch(/Execution Feedback|Format Error|the plan/);

    // Every call carried the config's parameters and nothing else.
    const params = (q: RecordedRequest): Record<string, unknown> => Object.fromEntries(Object.entries(q.body).filter(([k]) => k !== 'messages'));
    const big = { model: 'qwen3.5-397b-a17b', stream: false, max_tokens: 131072, temperature: 0.6, chat_template_kwargs: { enable_thinking: true } };
    for (const q of model.requests.filter((x) => x.sampleId !== null)) expect(params(q)).toEqual(big);
    const vlm = model.requestsFor(null);
    expect(vlm.map((q) => params(q)['max_tokens'])).toEqual([16384, 32768]); // vlm.locate (role locate), vlm.ask_with_thinking (role vlm)
    expect(vlm.map((q) => params(q)['temperature'])).toEqual([0.6, 0.6]);
    expect(runConfigOf(out)['model']).toMatchObject({ name: 'qwen3.5-397b-a17b', base_url: model.url, roles: { locate: { max_tokens: 16384 } } });

    const video = results.find((x) => x.id === 'video')!;
    expect(video).toMatchObject({ termination: 'answered', answer: 'A' });
    expect(eventsOf(out, 'video').find((e) => e.type === 'cell')).toMatchObject({ result: { stdout: expect.stringMatching(/^200\n/) } });
    expectRecordedProfile(runConfigOf(out), 'paper', { images_per_request: null, max_steps: 40 });
  }, 420_000);
});

describe('the three executors under both profiles (workbench ask, real kernel, RGB-D room)', () => {
  let wb: TempHomeHost;
  const models: ScriptedModelServer[] = [];
  beforeAll(async () => {
    wb = await hostInTempHome('wb-paper-');
  }, 120_000);
  afterAll(async () => {
    await wb?.close(async () => {
      for (const m of models) await m.close();
    });
  }, 120_000);

  const answer: Record<'code' | 'single_pass' | 'tool_call', Record<ProfileName, string>> = {
    code: { default: step('answer', 'ReturnAnswer("A")'), paper: bold('answer', 'ReturnAnswer("A")') },
    single_pass: { default: step('answer', 'print(len(InputImages))\nReturnAnswer("A")'), paper: bold('answer', 'print(len(InputImages))\nReturnAnswer("A")') },
    tool_call: { default: toolCall('ReturnAnswer', ['A']), paper: toolCall('ReturnAnswer', ['A']) },
  };

  for (const executor of ['code', 'single_pass', 'tool_call'] as const) {
    for (const profile of ['default', 'paper'] as const) {
      it(`${executor} / ${profile}`, async () => {
        const name = `scripted-${executor}-${profile}`;
        const script: Reply[] = [...(executor === 'single_pass' ? [] : ['the plan']), answer[executor][profile]];
        const m = await startScriptedModelServer({ script: { q1: script }, whenExhausted: 'error', model: name });
        models.push(m);
        await wb.host.handlers.saveModel({ config: ModelConfigSchema.parse({ name, base_url: m.url, max_retries: 0 }) });
        const started = await wb.host.handlers.ask(AskRequestSchema.parse({
          question: 'Is this a room?', choices: ['A. yes', 'B. no'], inputs: [{ kind: 'rgbd_sample', path: ROOM }], model: name, perception: null, executor, profile,
        }));
        const done = await new Promise<Extract<HostEvent, { type: 'sample_done' }>>((resolve) => {
          const check = (e: HostEvent): void => {
            if (e.type === 'sample_done' && e.run_id === started.run_id) resolve(e);
          };
          wb.events.forEach(check);
          wb.host.onEvent(check);
        });
        expect(done.error).toBeNull();
        expect(done.result).toMatchObject({ answer: 'A', termination: 'answered', steps: 1 });
        expect(m.requestsFor('q1')).toHaveLength(script.length);
        const dir = join(wb.home, 'runs', started.run_id);
        expectRecordedProfile(runConfigOf(dir), profile, { executor, max_steps: executor === 'single_pass' ? 1 : 30 });
        expect(runConfigOf(dir)).toMatchObject({ kind: 'ask', source: 'workbench', executor });
        const system = textOf(messagesOf(m.requestsFor('q1').at(-1)!)[0]!);
        expect(system.startsWith(profile === 'paper' ? '# Spatial reasoning agent' : 'You answer spatial questions')).toBe(true);
      }, 180_000);
    }
  }
});
