/**
 * `defaultPolicy` says exactly what the loop said before profiles existed: every text is pinned here as a
 * literal (the planner message, the system prompt's opening and tool reference, the first message, the format
 * reminder, the condensed failed step, the observation's budget note and last-step warning, the fallback
 * request), and its extra methods keep the old behaviour (no rollback, every image counts, a failed model call
 * ends the sample, no salvage). `policyFor` picks the policy of a profile.
 */
import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../electron/services/agent/default-policy.ts';
import { buildMessages } from '../../electron/services/agent/messages.ts';
import { paperPolicy } from '../../electron/services/agent/paper/index.ts';
import { type PolicyContext, policyFor } from '../../electron/services/agent/policy.ts';
import { PROFILES, ProfileConfigError } from '../../shared/profiles.ts';
import { cell, NAME_ERROR, shown } from '../helpers/paper-policy.ts';

const SAMPLE = { id: 'q1', question: 'Which is closer?', choices: ['A. lamp', 'B. door'], inputs: [{ kind: 'video' as const, path: '/v.mp4' }] };
const SUMMARY = 'InputImages = InputImages(16 frames)';
const ctx = (over: Partial<PolicyContext> = {}): PolicyContext => ({
  sample: SAMPLE, executor: 'code', maxSteps: 30, apiDoc: 'API-DOC\n', inputSummary: SUMMARY,
  keyFrames: [{ ...shown(0, 'frame 0'), png: 'K0' }, { ...shown(1, 'frame 6'), png: 'K1' }], profile: PROFILES.default, ...over,
});
const QUESTION = 'Question: Which is closer?\nChoices:\nA. lamp\nB. door\nAnswer with the option letter.';
const STEP = 'Purpose: p\nReasoning: r\nNext Goal: g\nCode:\n```python\na = 1\nb = undefined_name\nc = 3\n```';
const parsed = { purpose: 'p', reasoning: 'r', next_goal: 'g', code: 'a = 1\nb = undefined_name\nc = 3' };

describe('defaultPolicy: the texts of the loop before profiles', () => {
  it('planner: one user message, none for single_pass', () => {
    expect(defaultPolicy.plannerMessages(ctx())).toEqual([{
      role: 'user',
      content: `Plan how to answer this spatial question with Python and the perception tools (3D reconstruction, segmentation, geometry).\n\n${QUESTION}\n\n` +
        `Inputs:\n${SUMMARY}\n\nReply with a short numbered plan and a checklist of what must be verified before answering. No code.`,
    }]);
    expect(defaultPolicy.plannerMessages(ctx({ executor: 'single_pass' }))).toBeNull();
  });

  it('system prompt: role and budget first, the generated tool reference last', () => {
    const s = defaultPolicy.systemPrompt(ctx());
    expect(s.startsWith('You answer spatial questions about videos and images by writing Python that runs in a persistent Jupyter kernel. ' +
      "The input frames and perception tools are already loaded. You have at most 30 steps (cells). Each step's output (stdout, errors, new variables, show() images) comes back to you.\n\n## Answer format\n")).toBe(true);
    expect(s.endsWith('## Tool reference (generated from the runtime)\n\nAPI-DOC')).toBe(true);
    expect(defaultPolicy.systemPrompt(ctx({ executor: 'single_pass' }))).toContain('You have exactly one step.');
    expect(defaultPolicy.systemPrompt(ctx({ executor: 'tool_call' }))).toContain('Each step, reply with exactly one JSON object in a ```json block:');
  });

  it('first message: the key frames, then one text with their labels, the inputs, the question and the plan', () => {
    expect(defaultPolicy.openingMessages(ctx(), 'PLAN')).toEqual([{
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: 'data:image/png;base64,K0' } },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,K1' } },
        { type: 'text', text: `Key frames attached: frame 0, frame 6.\n\nInputs bound in the kernel:\n${SUMMARY}\n\n${QUESTION}\n\nPlan:\nPLAN` },
      ],
    }]);
    const none = defaultPolicy.openingMessages(ctx({ keyFrames: [] }), null);
    expect(none).toEqual([{ role: 'user', content: [{ type: 'text', text: `No key frames attached.\n\nInputs bound in the kernel:\n${SUMMARY}\n\n${QUESTION}` }] }]);
  });

  it('parse, history and the format reminder: raw reply kept, reminder names the problem', () => {
    expect(defaultPolicy.parseStep(ctx(), STEP)).toEqual(parsed);
    expect(defaultPolicy.parseStep(ctx({ executor: 'tool_call' }), '```json\n{"tool": "tools.Geometry.distance", "args": ["$p", "$q"], "assign": "d"}\n```').code)
      .toBe('d = tools.Geometry.distance(p, q)\nd');
    expect(defaultPolicy.assistantMessage(ctx(), STEP, parsed)).toBe(STEP);
    expect(defaultPolicy.formatError(ctx(), 'hello', 'no code')).toEqual({
      assistant: 'hello',
      user: 'Your reply could not be used: no code. Reply with Purpose, Reasoning, Next Goal and Code, the code in exactly one ```python block.',
    });
    expect(defaultPolicy.formatError(ctx({ executor: 'tool_call' }), 'x', 'bad').user)
      .toBe('Your reply could not be used: bad. Reply with one ```json block holding {"tool": ..., "args": [...], "kwargs": {...}, "assign": ...}.');
  });

  it('a failed cell: code to the failing line with the exception; without an exception the raw reply', () => {
    const failed = cell({ status: 'error', error: NAME_ERROR, code: parsed.code });
    expect(defaultPolicy.condensedStep(ctx(), STEP, parsed, failed)).toBe(
      "Purpose: p\nReasoning: r\nNext Goal: g\nCode:\n```python\na = 1\nb = undefined_name\n# ... (1 more lines not run)\n# -> NameError: name 'undefined_name' is not defined\n```",
    );
    expect(defaultPolicy.condensedStep(ctx({ executor: 'tool_call' }), STEP, parsed, failed)).toBe(
      "```python\na = 1\nb = undefined_name\n# ... (1 more lines not run)\n# -> NameError: name 'undefined_name' is not defined\n```",
    );
    expect(defaultPolicy.condensedStep(ctx(), STEP, parsed, cell({ status: 'timeout' }))).toBe(STEP);
  });

  it('observation: buildObservation, the budget note, the warning after the second-to-last step only', () => {
    const c = cell({ stdout: 'hi\n', images: [shown(0, 'a')] });
    const base = 'Cell 1 ran in 0.25 s.\nstdout:\nhi\nImages attached (1): 1. a 768x432';
    expect(defaultPolicy.observationText(ctx(), c, 1, 0)).toBe(base);
    expect(defaultPolicy.observationText(ctx(), c, 1, 2)).toBe(`${base}\nNote: 2 image(s) not attached: the image budget of 24 per question is used up.`);
    expect(defaultPolicy.observationText(ctx(), c, 29, 0)).toBe(`${base}\nWarning: only one step remains. Call ReturnAnswer(...) with your best answer in the next cell.`);
    expect(defaultPolicy.observationText(ctx(), c, 30, 0)).toBe(base);
  });

  it('keeps the old behaviour where the paper differs: no skipped observations, no rollback, every image, no salvage', () => {
    const c = cell({ status: 'error', error: NAME_ERROR, images: [shown(0), shown(1, null, 'display')] });
    expect(defaultPolicy.skippedObservation(ctx(), 3, 'format')).toBeNull();
    expect(defaultPolicy.modelErrorMessage(new Error('x'))).toBeNull();
    expect(defaultPolicy.readsSurvivors(c)).toBe(false);
    expect(defaultPolicy.rollbackOf(c)).toBe('none');
    expect(defaultPolicy.shownImages(c)).toEqual(c.images);
    expect(defaultPolicy.salvageAnswer(ctx(), [{ assistant: 'ReturnAnswer("A")', user: 'answer is B', images: [] }])).toBeNull();
  });

  it('fallback: key frames, the question and the last three observations; the last \\boxed{}', () => {
    const history = ['o1', 'o2', 'o3', 'o4'].map((user) => ({ assistant: 'a', user, images: [] }));
    expect(defaultPolicy.fallbackMessages(ctx(), history)).toEqual([{
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: 'data:image/png;base64,K0' } },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,K1' } },
        { type: 'text', text: `${QUESTION}\n\nWhat was found so far:\no2\n---\no3\n---\no4\n\nGive your best final answer. Put it in \\boxed{...} on the last line.` },
      ],
    }]);
    expect(defaultPolicy.fallbackAnswer('\\boxed{A} then \\boxed{B}')).toBe('B');
    expect(defaultPolicy.fallbackAnswer('so the answer is: C.')).toBe('C');
  });

  it('requests with a cap: key frames, then observation images newest first, placeholders for the rest', () => {
    const opening = defaultPolicy.openingMessages(ctx(), null);
    const turns = [0, 1, 2].map((i) => ({ assistant: `a${i}`, user: `o${i}`, images: [{ ...shown(i, `img${i}`), png: `P${i}` }, { ...shown(i + 10, `x${i}`), png: `Q${i}` }] }));
    const m = buildMessages('SYS', opening, turns, 5);
    expect(m[0]).toEqual({ role: 'system', content: 'SYS' });
    expect(m[2]).toEqual({ role: 'assistant', content: 'a0' });
    expect(m[3]).toEqual({ role: 'user', content: [{ type: 'text', text: 'o0' }, { type: 'text', text: '[image "img0" omitted to stay within 5 images per request]' },
      { type: 'text', text: '[image "x0" omitted to stay within 5 images per request]' }] });
    // 5 − 2 key frames = 3: both of the last turn, then the first of the one before.
    expect(m[5]).toEqual({ role: 'user', content: [{ type: 'text', text: 'o1' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,P1' } },
      { type: 'text', text: '[image "x1" omitted to stay within 5 images per request]' }] });
    // No cap (paper): every image, no placeholder; a skipped-step message follows its turn.
    const all = buildMessages('SYS', opening, [...turns, { assistant: '[Format Error] x', user: 'again', images: [], skipped: 'SKIPPED' }], null);
    expect(JSON.stringify(all)).not.toContain('omitted');
    expect(all.at(-1)).toEqual({ role: 'user', content: 'SKIPPED' });
    expect(all.at(-3)).toEqual({ role: 'assistant', content: '[Format Error] x' });
  });
});

describe('policyFor', () => {
  it('picks the policy of each profile and refuses a mix of the two conversations', () => {
    expect(policyFor(PROFILES.default)).toBe(defaultPolicy);
    expect(policyFor(PROFILES.paper)).toBe(paperPolicy);
    expect(() => policyFor({ ...PROFILES.default, parsing: 'paper' })).toThrow(ProfileConfigError);
  });
});
