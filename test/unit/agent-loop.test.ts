/**
 * The loop's control flow per profile (docs/paper-parity.md rows 2, 3, 4, 10, 11, 12), on a stand-in kernel
 * session (cells are answered from a table, no Python) and a stand-in model (replies in order, or errors):
 * what counts as a failure and when the sample stops, whether a failed model call ends it, ReturnAnswer in a
 * failing cell, which key frames are asked for, the rollback calls, no pruning under paper, and the fallbacks.
 * The integration tests (test/integration/agent-paper.test.ts) run the same rules through the real kernel.
 */
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import type { AgentOptions, ModelLike } from '../../electron/services/agent/loop.ts';
import { runSample } from '../../electron/services/agent/loop.ts';
import type { KernelSession } from '../../electron/services/kernel/session.ts';
import { ModelError } from '../../electron/services/model/client.ts';
import type { CellImage, CellResult } from '../../shared/kernel.ts';
import type { ChatResult, Role } from '../../shared/model.ts';
import { PROFILES } from '../../shared/profiles.ts';
import type { RunEvent, SampleSpec } from '../../shared/run.ts';
import { cell, NAME_ERROR, shown, variable } from '../helpers/paper-policy.ts';

const SAMPLE: SampleSpec = { id: 'q1', question: 'Which?', choices: ['A. x', 'B. y'], inputs: [{ kind: 'video', path: '/v.mp4' }] };

/** A reply in the default format. */
const plain = (code: string): string => `Purpose: p\nReasoning: r\nNext Goal: g\nCode:\n\`\`\`python\n${code}\n\`\`\``;
/** A reply in the paper's four bold sections. */
const bold = (code: string): string => `**Purpose**: p\n**Reasoning**: r\n**Next Goal**: g\n**Code**:\n\`\`\`python\n${code}\n\`\`\``;

/** Cells by their code: `fail` raises at line 2 (NameError), `timeout` times out, `answer X` / `answer X then fail`, `show N` shows N images. */
function outcome(code: string, index: number): CellResult {
  const answer = /answer (\w)/.exec(code);
  const show = /show (\d+)/.exec(code);
  const images: CellImage[] = show ? Array.from({ length: Number(show[1]) }, (_, i) => ({ ...shown(100 * index + i, `s${index}.${i}`), png: `IMG${index}_${i}` })) : [];
  const failing = code.includes('fail');
  return cell({
    index, code, images,
    status: code.includes('timeout') ? 'timeout' : failing ? 'error' : 'ok',
    ...(failing ? { error: NAME_ERROR } : {}),
    ...(answer ? { answer: { answer: answer[1]!, type: 'str' as const } } : {}),
    ...(!failing && code.includes('var') ? { variables: [variable('v', 'int')] } : {}),
  });
}

interface FakeSession {
  session: KernelSession;
  keyFrameCalls: unknown[][];
  calls: string[];
}

function fakeSession(): FakeSession {
  const keyFrameCalls: unknown[][] = [];
  const calls: string[] = [];
  let n = 0;
  const s = {
    execute: async (code: string) => outcome(code, ++n),
    keyFrames: async (count: number, edge: number, options?: unknown) => {
      keyFrameCalls.push([count, edge, options]);
      return Array.from({ length: count }, (_, i) => ({ ...shown(i, `frame ${i}`), png: `KF${i}` }));
    },
    newVariables: async () => {
      calls.push('newVariables');
      return [variable('a', 'int')];
    },
    rollbackNewVariables: async () => {
      calls.push('rollbackNewVariables');
      return ['tmp'];
    },
  };
  return { session: s as unknown as KernelSession, keyFrameCalls, calls };
}

type Scripted = string | Error;

/** Replies in order per role (planner, main, fallback); an Error is thrown. Records every request. */
function fakeModel(replies: Partial<Record<Role, Scripted[]>>): ModelLike & { requests: { role: Role; messages: ChatCompletionMessageParam[] }[] } {
  const next: Partial<Record<Role, number>> = {};
  const requests: { role: Role; messages: ChatCompletionMessageParam[] }[] = [];
  return {
    requests,
    chat: async ({ role, messages }): Promise<ChatResult> => {
      requests.push({ role, messages });
      const list = replies[role] ?? [];
      const i = next[role] ?? 0;
      next[role] = i + 1;
      const r = list[Math.min(i, list.length - 1)];
      if (r === undefined) throw new Error(`no ${role} reply scripted`);
      if (r instanceof Error) throw r;
      return { content: r, reasoning: null, raw: r, usage: { prompt_tokens: 1, completion_tokens: 1 }, endpoint: 'fake', latencyMs: 0, attempts: 1 };
    },
  };
}

async function run(profile: 'default' | 'paper', replies: Partial<Record<Role, Scripted[]>>, options: Partial<AgentOptions> = {}, sample: SampleSpec = SAMPLE) {
  const fake = fakeSession();
  const model = fakeModel(replies);
  const events: RunEvent[] = [];
  const result = await runSample({
    sample, session: fake.session, inputSummary: 'InputImages = InputImages(200 frames)', model, apiDoc: 'API', sink: { event: (e) => events.push(e) },
    options: { profile: PROFILES[profile], plan: false, ...options },
  });
  const main = model.requests.filter((r) => r.role === 'main');
  return { result, events, fake, model, main };
}

const http500 = (): ModelError => new ModelError('HTTP 500: down', { kind: 'http', status: 500, endpoint: 'http://m/v1', attempts: 5 });
const refused = (): ModelError => new ModelError('connection refused', { kind: 'connection', endpoint: 'http://m/v1', attempts: 5 });
const texts = (m: ChatCompletionMessageParam): string =>
  typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => ('text' in p ? p.text : '')).join('\n');

describe('failure stop (row 4)', () => {
  it('default: five failed cells in a row end the sample', async () => {
    const { result } = await run('default', { main: [plain('fail')], fallback: ['\\boxed{A}'] });
    expect(result).toMatchObject({ termination: 'consecutive_failures', steps: 5, answer: 'A', answer_source: 'direct_answer' });
  });

  it('paper: cell errors never count; any parsed reply resets; 30 format failures in a row stop the sample', async () => {
    const cells = await run('paper', { main: [...Array(6).fill(bold('fail')), bold('answer A')] });
    expect(cells.result).toMatchObject({ termination: 'answered', steps: 7, answer: 'A' });
    const formats = await run('paper', { main: [...Array(6).fill(bold('fail')), 'hello'], fallback: ['\\boxed{B}'] }, { maxSteps: 40 });
    expect(formats.result).toMatchObject({ termination: 'consecutive_failures', steps: 36, parse_failures: 30, answer: 'B' });
    const reset = await run('paper', { main: [...Array(29).fill('hello'), bold('x = 1'), ...Array(5).fill('hello'), bold('answer C')] }, { maxSteps: 40 });
    expect(reset.result).toMatchObject({ termination: 'answered', steps: 36, parse_failures: 34 });
  });

  it('paper: the step budget is checked first (30 format failures in 30 steps end as max_steps)', async () => {
    const { result } = await run('paper', { main: ['hello'], fallback: ['\\boxed{B}'] });
    expect(result).toMatchObject({ termination: 'max_steps', steps: 30, parse_failures: 30 });
  });

  it('default: a failed model call ends the sample; paper: it uses a step, counts unless transient, and the sample goes on', async () => {
    const dflt = await run('default', { main: [http500()], fallback: ['\\boxed{A}'] });
    expect(dflt.result).toMatchObject({ termination: 'error', steps: 1 });
    expect(dflt.result.error).toMatch(/^model call failed: HTTP 500/);

    const paper = await run('paper', { main: [http500(), refused(), bold('answer A')] });
    expect(paper.result).toMatchObject({ termination: 'answered', steps: 3, answer: 'A' });
    const third = paper.main[2]!.messages;
    const placeholder = third.findIndex((m) => m.role === 'assistant');
    expect(texts(third[placeholder]!)).toMatch(/^\[LLM Error\] the model call failed: ModelError: HTTP 500/);
    expect(third[placeholder + 1]!.role).toBe('user');
    expect(texts(third[placeholder + 1]!)).toMatch(/^=== Step 0 Execution Feedback ===[\s\S]*model call failed/);
    const failedCall = paper.events.find((e) => e.type === 'model_call' && e.parse_error);
    expect(failedCall).toMatchObject({ role: 'main', step: 1, raw: '', endpoint: 'http://m/v1', attempts: 5 });

    // 30 non-transient failures in a row stop it (within a larger budget); connection failures never do.
    const broken = await run('paper', { main: [http500()], fallback: ['\\boxed{A}'] }, { maxSteps: 35 });
    expect(broken.result).toMatchObject({ termination: 'consecutive_failures', steps: 30 });
    const unreachable = await run('paper', { main: [refused()], fallback: [refused()] }, { maxSteps: 35 });
    expect(unreachable.result).toMatchObject({ termination: 'max_steps', steps: 35 });
  });
});

describe('ReturnAnswer (row 11)', () => {
  it('paper: an answer in a cell that raises afterwards ends the sample; default keeps going and falls back to it', async () => {
    const paper = await run('paper', { main: [bold('answer B then fail'), bold('answer A')] });
    expect(paper.result).toMatchObject({ termination: 'answered', steps: 1, answer: 'B', answer_source: 'return_answer' });
    expect(paper.main).toHaveLength(1);
    const dflt = await run('default', { main: [plain('answer B then fail'), plain('x = 1')] }, { maxSteps: 2 });
    expect(dflt.result).toMatchObject({ termination: 'max_steps', steps: 2, answer: 'B', answer_source: 'last_submitted' });
  });
});

describe('key frames and images (rows 2, 3)', () => {
  it('default: the slots left by the observation images; paper: 32, its selection, per video only for several videos', async () => {
    const dflt = await run('default', { main: [plain('answer A')] });
    expect(dflt.fake.keyFrameCalls).toEqual([[5, 1024, {}]]);
    const paper = await run('paper', { main: [bold('answer A')] });
    expect(paper.fake.keyFrameCalls).toEqual([[32, 1024, { selection: 'paper', perInput: false }]]);
    const two: SampleSpec = { ...SAMPLE, inputs: [{ kind: 'video', path: '/a.mp4' }, { kind: 'video', path: '/b.mp4' }] };
    expect((await run('paper', { main: [bold('answer A')] }, {}, two)).fake.keyFrameCalls[0]![2]).toEqual({ selection: 'paper', perInput: true });
    const mixed: SampleSpec = { ...SAMPLE, inputs: [{ kind: 'video', path: '/a.mp4' }, { kind: 'images', path: '/imgs' }] };
    expect((await run('paper', { main: [bold('answer A')] }, {}, mixed)).fake.keyFrameCalls[0]![2]).toEqual({ selection: 'paper', perInput: false });
  });

  it('paper: nothing is pruned, every request carries every key frame and every image shown so far', async () => {
    const { main } = await run('paper', { main: [...Array(6).fill(bold('show 10')), bold('answer A')] });
    const images = (i: number): string[] => main[i]!.messages.flatMap((m) => (Array.isArray(m.content) ? m.content.flatMap((p) => (p.type === 'image_url' ? [p.image_url.url] : [])) : []));
    expect(images(0)).toHaveLength(32);
    expect(images(6)).toHaveLength(32 + 60);
    expect(images(6)).toContain('data:image/png;base64,IMG1_0');
    expect(JSON.stringify(main[6]!.messages)).not.toContain('omitted');
  });

  it('the image budget counts observation images only; the default still caps a request', async () => {
    const paper = await run('paper', { main: [...Array(27).fill(bold('show 10')), bold('answer A')] });
    const obs = paper.events.filter((e) => e.type === 'observation');
    expect(obs[24]!.type === 'observation' && obs[24]!.images).toHaveLength(10);
    expect(obs[24]!.type === 'observation' && obs[24]!.text).toContain('[show() budget] 0/250 images remaining.');
    expect(obs[25]!.type === 'observation' && obs[25]!.images).toHaveLength(0);
    expect(obs[25]!.type === 'observation' && obs[25]!.text).toContain('EXHAUSTED');
    const dflt = await run('default', { main: [plain('show 4'), plain('show 4'), plain('answer A')] });
    const last = dflt.main.at(-1)!.messages;
    expect(JSON.stringify(last).match(/"type":"image_url"/g)).toHaveLength(8);
    expect(JSON.stringify(last)).toContain('omitted to stay within 8 images per request');
  });
});

describe('rollback (row 10)', () => {
  it('paper: survivors read when the failing line is known, new names deleted when it is not; default never asks', async () => {
    const kept = await run('paper', { main: [bold('fail show 2'), bold('answer A')] });
    expect(kept.fake.calls).toEqual(['newVariables']);
    const cellEvent = kept.events.find((e) => e.type === 'cell');
    expect(cellEvent?.type === 'cell' && cellEvent.result.variables.map((v) => v.name)).toEqual(['a']);
    expect(kept.main[1]!.messages.at(-1)!.content).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'image_url' })]));

    const full = await run('paper', { main: [bold('timeout show 2'), bold('answer A')] });
    expect(full.fake.calls).toEqual(['rollbackNewVariables']);
    const obs = full.events.find((e) => e.type === 'observation');
    expect(obs?.type === 'observation' && obs.images).toEqual([]);
    expect(obs?.type === 'observation' && obs.text).toContain('rolled back');

    const dflt = await run('default', { main: [plain('fail'), plain('timeout'), plain('answer A')] });
    expect(dflt.fake.calls).toEqual([]);
  });
});

describe('history and fallback (rows 6, 12)', () => {
  it('paper: the reply re-rendered from the parse; a format error is three messages', async () => {
    const { main } = await run('paper', { main: [`chat first ${bold('x = 1')}`, 'hello', bold('answer A')] });
    expect(main[1]!.messages.at(-2)).toEqual({ role: 'assistant', content: bold('x = 1') });
    const third = main[2]!.messages;
    expect(third.at(-3)!.role).toBe('assistant');
    expect(texts(third.at(-3)!)).toMatch(/^\[Format Error\] /);
    expect(third.at(-2)!.role).toBe('user');
    expect(third.at(-1)).toMatchObject({ role: 'user' });
    expect(texts(third.at(-1)!)).toMatch(/Skipped: the reply did not follow the required format/);
  });

  it('paper: the fallback call gets the system prompt and the key frames, no history; the first \\boxed{}; else the salvage', async () => {
    const boxed = await run('paper', { main: [bold('x = 1')], fallback: ['Reasoning \\boxed{C} then \\boxed{D}'] }, { maxSteps: 2 });
    expect(boxed.result).toMatchObject({ termination: 'max_steps', answer: 'C', answer_source: 'direct_answer' });
    const fb = boxed.model.requests.find((r) => r.role === 'fallback')!.messages;
    expect(fb.map((m) => m.role)).toEqual(['system', 'user']);
    expect(JSON.stringify(fb).match(/"type":"image_url"/g)).toHaveLength(32);

    const salvaged = await run('paper', { main: [bold('ReturnAnswer("B") is what I will call; x = 1')], fallback: [http500()] }, { maxSteps: 1 });
    expect(salvaged.result).toMatchObject({ answer: 'B', answer_source: 'none', termination: 'max_steps' });
    expect(salvaged.result.error).toMatch(/fallback failed/);
    expect(salvaged.events).toContainEqual(expect.objectContaining({ type: 'answer', answer: 'B', source: 'salvage' }));
    expect(salvaged.events.at(-1)).toMatchObject({ type: 'termination', detail: expect.stringMatching(/salvaged/) });
  });

  it('a fallback reply that is only a code fence records no answer (both profiles)', async () => {
    const dflt = await run('default', { main: [plain('fail')], fallback: ['```'] });
    expect(dflt.result).toMatchObject({ termination: 'consecutive_failures', answer: null, answer_source: 'none' });
    expect(dflt.events.filter((e) => e.type === 'answer')).toEqual([]);
    const paper = await run('paper', { main: [bold('x = 1')], fallback: ['```\n```'] }, { maxSteps: 1 });
    expect(paper.result).toMatchObject({ termination: 'max_steps', answer: null, answer_source: 'none' });
    expect(paper.events.filter((e) => e.type === 'answer')).toEqual([]);
  });
});
