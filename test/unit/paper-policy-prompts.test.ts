/**
 * The `paper` policy's prompts (docs/paper-parity.md rows 2, 5, 12, 18.1, 18.3): the planner's blind call,
 * the system prompt, the opening messages with the plan hand-over, and the chain-of-thought fallback.
 */
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import { paperPolicy } from '../../electron/services/agent/paper/index.ts';
import { FALLBACK_SYSTEM_PROMPT, salvageAnswer } from '../../electron/services/agent/paper/fallback.ts';
import { benchmarkHint, instructionText, keyFramePositions, roundHalfEven } from '../../electron/services/agent/paper/session.ts';
import { context, keyFrame, KEY_FRAME_INDICES, VSI_SAMPLE } from '../helpers/paper-policy.ts';

const parts = (m: ChatCompletionMessageParam | undefined): ChatCompletionContentPart[] =>
  Array.isArray(m?.content) ? (m.content as ChatCompletionContentPart[]) : [];
const text = (m: ChatCompletionMessageParam | undefined): string =>
  typeof m?.content === 'string' ? m.content : parts(m).map((p) => (p.type === 'text' ? p.text : '')).join('\n');
const imageCount = (ms: ChatCompletionMessageParam[]): number => ms.flatMap(parts).filter((p) => p.type === 'image_url').length;

/** Asserts that the needles occur in this order (each searched after the previous one). */
function expectInOrder(haystack: string, needles: string[]): void {
  let at = 0;
  for (const n of needles) {
    const i = haystack.indexOf(n, at);
    expect(i, `"${n}" after position ${at}`).toBeGreaterThanOrEqual(0);
    at = i + n.length;
  }
}

describe('key frames (row 2)', () => {
  it('uses Python rounding, half to even', () => {
    expect(keyFramePositions(10, 5)).toEqual([0, 2, 4, 7, 9]);
    expect(keyFramePositions(200, 32)).toEqual(KEY_FRAME_INDICES);
    expect(keyFramePositions(3, 32)).toEqual([0, 1, 2]);
    expect([0.5, 1.5, 2.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 2, 3]);
  });
});

describe('planner (row 5)', () => {
  const ctx = context();
  const messages = paperPolicy.plannerMessages(ctx)!;

  it('is a blind call: its own system prompt and one text-only user message', () => {
    expect(messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(imageCount(messages)).toBe(0);
    expect(typeof messages[1]!.content).toBe('string');
  });

  it('carries the tool reference, heuristics, coordinate systems, the six-part task and the checklist request, in order', () => {
    const system = text(messages[0]);
    expect(system).toContain('API-DOC-MARKER');
    expect(system).toContain('segment_video_by_text');
    expectInOrder(system, [
      'Planning assistant', 'without seeing any image', '## Available tools', 'API-DOC-MARKER', '`show()`', '`vlm.locate`',
      '## Coordinate systems', '## Planning strategy', 'NEVER decide the answer', '## Cross-validation', '## Robust computation',
      "## This session's input", 'VIDEO: 200 frames at 30 FPS.', '## Your task', '1. **Task analysis**', '2. **Information needs**',
      '3. **Computation plan**', '4. **Verification checklist**', '5. **Verification**', '6. **Fallbacks**', '## Rules (critical)',
      'No executable Python code', '### CHECKLIST', '"priority": "HIGH"', '"priority": "LOW"', '**Priorities:**',
    ]);
    expect(system).not.toMatch(/\n{3}/);
  });

  it('tells the planner the key-frame count and their absolute indices, not the total, then the question', () => {
    const user = text(messages[1]);
    expect(user).toMatch(/^The input has 32 key frames \(absolute frame indices: \[0, 6, 13, 19, 26, .*, 193, 199\]\)\.\n\nQuestion: Which object/);
    expect(user).not.toContain('200');
    expect(user.endsWith('A. lamp\nB. door')).toBe(true);
  });

  it('without key frames says only the question', () => {
    expect(text(paperPolicy.plannerMessages(context({ keyFrames: [] }))![1])).toBe(`Question: ${instructionText(VSI_SAMPLE)}`);
  });

  it('is skipped with a one-step budget and under single_pass', () => {
    expect(paperPolicy.plannerMessages(context({ maxSteps: 1 }))).toBeNull();
    expect(paperPolicy.plannerMessages(context({ executor: 'single_pass' }))).toBeNull();
  });

  it('describes the SAM3 video methods only for video inputs', () => {
    const images = context({
      sample: { ...VSI_SAMPLE, inputs: [{ kind: 'images', path: '/data/imgs' }] },
      inputSummary: 'InputImages = InputImages(4 frames, indices 0..3, 640x480, images imgs)\nMetadata = Metadata(images /data/imgs); source: 4 images, 640x480 (W x H); bound: 4 frames, 640x480',
      keyFrames: [0, 1, 2, 3].map((f, i) => keyFrame(f, i)),
    });
    const system = text(paperPolicy.plannerMessages(images)![0]);
    expect(system).not.toContain('segment_video_by_text');
    expect(system).toContain('4 static images.');
  });
});

describe('system prompt (row 18.1)', () => {
  it('has the sections in order, with the budget line and the Metadata values', () => {
    const system = paperPolicy.systemPrompt(context());
    expectInOrder(system, [
      '# Spatial reasoning agent', '`InputImages` (a list of frames) and `Metadata`', '## Reply format', '**Purpose**', '**Reasoning**',
      '**Next Goal**', '**Code**', 'Each of the four sections must be present', '`show(*images', 'Budget: 250 images', '`vlm.locate(images, question)',
      'At most 8', 'At most 64', 'Not visible', '## Available tools', '**At most 64 frames**', 'render_bev', 'segment_video_by_text',
      'API-DOC-MARKER', '## Coordinate systems', '## Robust computation', '## Cross-validation', '## ReturnAnswer', '## Code rules',
      '## Workflow', '## Budget: 30 steps.', "## This session's input", 'Your first message holds 32 **key frames**',
      'VIDEO: 200 frames at 30 FPS. Duration: 6.7s.', 'Key frame #1 → InputImages[0], video frame 0', '… 22 more key frames …',
      'Key frame #32 → InputImages[199], video frame 199', '`is_video=True`, `fps=30`, `total_frames=200`, `num_images=200`, `duration_sec=6.7`',
    ]);
    expect(system).toContain('median of the mask');
    expect(system).not.toMatch(/\n{3}/);
  });

  it('nests the generated reference under the tools section', () => {
    expect(paperPolicy.systemPrompt(context())).toContain('#### Pre-loaded names');
  });

  it('single_pass: the one-step workflow and no budget line', () => {
    const system = paperPolicy.systemPrompt(context({ executor: 'single_pass', maxSteps: 1 }));
    expect(system).toContain('ONE STEP ONLY');
    expect(system).not.toContain('## Budget:');
    expect(system).toContain('**Purpose**');
  });

  it('tool_call: the JSON tool-call format instead of the four sections', () => {
    const system = paperPolicy.systemPrompt(context({ executor: 'tool_call' }));
    expect(system).toContain('```json');
    expect(system).not.toContain('**Reasoning**:');
  });

  it('several inputs: the per-input lists, no InputImages', () => {
    const two = context({
      sample: { ...VSI_SAMPLE, inputs: [{ kind: 'video', path: '/a.mp4' }, { kind: 'video', path: '/b.mp4' }] },
      inputSummary: [
        'InputImages_1 = InputImages(16 frames, indices 0..199, 960x540, video a.mp4)',
        'Metadata_1 = Metadata(video /a.mp4); video: 200 frames, 30 fps, 6.67 s, 960x540 (W x H); bound: 16 frames, 960x540',
        'InputImages_2 = InputImages(8 frames, indices 0..199, 960x540, video b.mp4)',
        'Metadata_2 = Metadata(video /b.mp4); video: 200 frames, 30 fps, 6.67 s, 960x540 (W x H); bound: 8 frames, 960x540',
      ].join('\n'),
      keyFrames: [keyFrame(0, 0, 'input 1 frame 0'), keyFrame(199, 1, 'input 1 frame 199'), keyFrame(0, 2, 'input 2 frame 0'), keyFrame(199, 3, 'input 2 frame 199')],
    });
    const system = paperPolicy.systemPrompt(two);
    expect(system).toContain('MULTI-VIDEO INPUT: 2 videos, 24 total frames.');
    expect(system).toContain('no combined `InputImages`');
    expectInOrder(system, ['Key frame #1 → InputImages_1[0], video frame 0', 'Key frame #2 → InputImages_1[15], video frame 199',
      'Key frame #3 → InputImages_2[0]', 'Key frame #4 → InputImages_2[7], video frame 199', '`Metadata_1`', '`Metadata_2`']);
  });
});

describe('opening messages (rows 2, 5, 18.3)', () => {
  it('header with counts and mapping, then every key frame, then the instruction; then plan and transition as separate user messages', () => {
    const ms = paperPolicy.openingMessages(context(), '<think>hidden</think>PLAN-TEXT\n### CHECKLIST\n```json\n[]\n```');
    expect(ms.map((m) => m.role)).toEqual(['user', 'user', 'user']);
    const first = parts(ms[0]);
    expect(first.map((p) => p.type)).toEqual(['text', ...Array<string>(32).fill('image_url'), 'text']);
    const header = (first[0] as { text: string }).text;
    expect(header).toMatch(/^These 32 key frames are a subset of InputImages \(200 frames in all\)/);
    const mapping = header.split('\n').slice(2);
    expect(mapping).toHaveLength(11);
    expect(mapping[5]).toContain('22 more');
    expect(mapping.filter((l) => l.includes('#')).map((l) => Number(/video frame (\d+)/.exec(l)![1])))
      .toEqual([0, 6, 13, 19, 26, 173, 180, 186, 193, 199]);
    expect((first[1] as { image_url: { url: string } }).image_url.url).toBe('data:image/png;base64,PNG0');
    expect((first.at(-1) as { text: string }).text).toBe(instructionText(VSI_SAMPLE));
    expect(text(ms[1])).toMatch(/^The plan to follow:\n\nPLAN-TEXT\n### CHECKLIST/);
    expect(text(ms[1])).not.toContain('<think>');
    expect(text(ms[2])).toContain('**Purpose**, **Reasoning**, **Next Goal** and **Code**');
    expect(text(ms[2])).toContain('step 1');
  });

  it('takes list positions from the key frames\' metadata, else from labels that give them', () => {
    const labelled = paperPolicy.openingMessages(context({ keyFrames: [keyFrame(40, 0, 'InputImages[20] frame 40')], inputSummary: '' }), null);
    expect(text(labelled[0])).toContain('#1 → InputImages[20], video frame 40');
    const meta = { ...keyFrame(40, 0, 'unlabelled'), frame: { input: 'InputImages', position: 21, frame_index: 42 } };
    expect(text(paperPolicy.openingMessages(context({ keyFrames: [meta] }), null)[0])).toContain('#1 → InputImages[21], video frame 42');
  });

  it('no plan: only the first message; no key frames: the instruction as plain text', () => {
    expect(paperPolicy.openingMessages(context(), null)).toHaveLength(1);
    expect(paperPolicy.openingMessages(context({ keyFrames: [] }), null)).toEqual([{ role: 'user', content: instructionText(VSI_SAMPLE) }]);
  });

  it('the instruction: question, blank line, the VSI-Bench hint, one line per option', () => {
    expect(instructionText(VSI_SAMPLE)).toBe(`${VSI_SAMPLE.question}\n\n${benchmarkHint(VSI_SAMPLE)}\nA. lamp\nB. door`);
    expect(benchmarkHint(VSI_SAMPLE)).toContain('frames of one video');
    const unknown = { ...VSI_SAMPLE, question_type: 'other', choices: ['lamp', 'door'] };
    expect(benchmarkHint(unknown)).toBeNull();
    expect(instructionText(unknown)).toBe(`${VSI_SAMPLE.question}\n\nA. lamp\nB. door`);
    expect(instructionText({ ...unknown, choices: undefined })).toBe(VSI_SAMPLE.question);
  });

  it('tool_call: the transition asks for the JSON call', () => {
    const ms = paperPolicy.openingMessages(context({ executor: 'tool_call' }), 'PLAN');
    expect(text(ms[2])).toContain('```json');
  });
});

describe('fallback (row 12)', () => {
  const history = [{ assistant: '**Purpose**: p', user: '=== Step 0 Execution Feedback ===\nSECRET-OBSERVATION', images: [] }];

  it('is a fresh call: its system prompt, every key frame, the instruction and the \\boxed{} request, no history', () => {
    const ms = paperPolicy.fallbackMessages(context(), history);
    expect(ms.map((m) => m.role)).toEqual(['system', 'user']);
    expect(ms[0]!.content).toBe(FALLBACK_SYSTEM_PROMPT);
    expect(FALLBACK_SYSTEM_PROMPT).toContain('\\boxed{C}');
    const user = parts(ms[1]);
    expect(user.map((p) => p.type)).toEqual([...Array<string>(32).fill('image_url'), 'text']);
    const instruction = (user.at(-1) as { text: string }).text;
    expect(instruction.startsWith(`${instructionText(VSI_SAMPLE)}\n\n`)).toBe(true);
    expect(instruction).toContain('\\boxed{}');
    expect(JSON.stringify(ms)).not.toContain('SECRET-OBSERVATION');
    expect(JSON.stringify(ms)).not.toContain('Purpose');
  });

  it('makes no call without key frames', () => {
    expect(paperPolicy.fallbackMessages(context({ keyFrames: [] }), history)).toEqual([]);
  });

  it('reads the first \\boxed{} without nested braces, else the whole reply', () => {
    expect(paperPolicy.fallbackAnswer('Reasoning… \\boxed{C} … \\boxed{D}')).toBe('C');
    expect(paperPolicy.fallbackAnswer('I think B.')).toBe('I think B.');
    expect(paperPolicy.fallbackAnswer('so \\boxed{ 2.5 }')).toBe('2.5');
    expect(paperPolicy.fallbackAnswer('\\boxed{\\text{A}}')).toBe('\\text{A');
    expect(paperPolicy.fallbackAnswer('<think>\\boxed{Z}</think> I think B. ')).toBe('I think B.');
    expect(paperPolicy.fallbackAnswer('  ')).toBeNull();
  });

  it('salvages an answer from the history when the call fails', () => {
    const vars = [{ assistant: 'a', user: '[Variables] New/changed:\n  dist: float\n  final_answer: str, len=1\n\n[Tool Calls] 1', images: [] }];
    expect(salvageAnswer(vars)).toBe('final_answer = str, len=1');
    expect(salvageAnswer([{ assistant: 'so the answer is b', user: 'x', images: [] }])).toBe('B');
    expect(salvageAnswer([{ assistant: 'ReturnAnswer("C")', user: 'x', images: [] }])).toBe('C');
    expect(salvageAnswer(history)).toBeNull();
  });
});
