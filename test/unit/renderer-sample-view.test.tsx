/**
 * Opening a sample (issue 15, "opening a sample" and papercuts): the timeline keeps every model call of the
 * sample (planner, answer fallback) as an entry of its own with its reply and request; the header's fields
 * come from the recorded result or, while it runs, from the events; the plan renders as markdown (no raw
 * HTML, no script links); the image viewer's keys, names and markup. React components are rendered with
 * react-dom/server (no DOM in the unit project); their behaviour in a browser is in
 * test/e2e/papercuts-sample.test.ts.
 */
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { ImageViewerDialog, imageName, navigate, saveName, type ViewerImage } from '../../renderer/src/components/ImageViewer.tsx';
import { Markdown } from '../../renderer/src/components/Markdown.tsx';
import { SampleHeader } from '../../renderer/src/components/SampleHeader.tsx';
import { answerSourceWords, outcomeOf, sampleSummary } from '../../renderer/src/sample-summary.ts';
import { foldEvent, foldEvents, timelineItems } from '../../renderer/src/timeline.ts';
import { RunEventSchema, type RunEvent, type SampleResult } from '../../shared/run.ts';

const T = (s: number) => `2025-11-21T10:00:${String(s).padStart(2, '0')}.000Z`;
const usage = { prompt_tokens: 100, completion_tokens: 20 };
const ev = (e: Record<string, unknown>): RunEvent => RunEventSchema.parse(e);
const SAMPLE = { id: 'q1', question: 'Which object is closer to the camera?', choices: ['A. the chair', 'B. the table'], inputs: [{ kind: 'rgbd_sample', path: '/data/room' }], answer: 'B' };
const req = (c: string) => ({ messages: [c.repeat(16)], params: { max_tokens: 64 }, images: 0, text_chars: 10 });
const call = (t: number, step: number, role: string, raw: string, extra: Record<string, unknown> = {}) =>
  ev({ type: 'model_call', t: T(t), step, role, endpoint: 'http://e/v1', latency_ms: 250, attempts: 1, usage, raw, reasoning: null, parsed: null, parse_error: null, ...extra });

/** Planner, a step whose cell fails, the loop out of steps, the answer fallback, its answer. */
function journal(): RunEvent[] {
  return [
    ev({ type: 'sample_start', t: T(0), step: 0, sample: SAMPLE, executor: 'code' }),
    call(1, 0, 'planner', '- **Reconstruct** the room\n- Compare depths', { request: req('a') }),
    ev({ type: 'plan', t: T(1), step: 0, text: '- **Reconstruct** the room\n- Compare depths', error: null }),
    call(2, 1, 'main', 'r1', { parsed: { purpose: 'measure', code: '1/0' }, request: req('b') }),
    call(3, 1, 'fallback', 'The table is nearer.\n\n\\boxed{B}', { reasoning: 'the table covers more pixels', request: req('c') }),
    ev({ type: 'answer', t: T(3), step: 1, answer: 'B', source: 'direct_answer' }),
    ev({ type: 'termination', t: T(4), step: 1, reason: 'max_steps', detail: 'no ReturnAnswer within 1 steps' }),
  ];
}

const RESULT: SampleResult = {
  id: 'q1', question: SAMPLE.question, choices: SAMPLE.choices, answer: 'B', answer_source: 'direct_answer', ground_truth: 'B', score: 1, question_type: 'relative_distance',
  termination: 'max_steps', steps: 1, parse_failures: 0, usage: { prompt_tokens: 300, completion_tokens: 60 }, model_calls: 3, duration_s: 4.2, error: null,
  started_at: T(0), finished_at: T(4),
};

describe('sample-level model calls in the timeline', () => {
  it('keeps the planner and the fallback call with their reply, thinking and request, as entries before and after the steps', () => {
    const tl = foldEvents(journal());
    expect(tl.sampleCalls.map((c) => [c.role, c.raw.slice(0, 14), c.request?.messages[0]?.[0]])).toEqual([
      ['planner', '- **Reconstruc', 'a'],
      ['fallback', 'The table is n', 'c'],
    ]);
    expect(tl.fallbackCall).toMatchObject({ role: 'fallback', thinking: 'the table covers more pixels', parseError: null, raw: 'The table is nearer.\n\n\\boxed{B}' });
    // Neither lands in a step; the step keeps its own call only.
    expect(tl.steps).toHaveLength(1);
    expect(tl.steps[0]!.calls.map((c) => c.role)).toEqual(['main']);
    expect(timelineItems(tl).map((i) => (i.kind === 'call' ? `call:${i.call.role}` : i.kind))).toEqual(['head', 'call:planner', 'step', 'call:fallback', 'end']);
  });

  it('orders sample calls by time whatever the arrival order, and keeps a failed call (no reply) with its error', () => {
    const failed = call(5, 1, 'fallback', '', { parse_error: 'model call failed: HTTP 500' });
    const events = [...journal(), failed];
    let tl = foldEvents([]);
    for (const e of [...events].reverse()) tl = foldEvent(tl, e);
    expect(tl.sampleCalls.map((c) => [c.role, c.t])).toEqual([['planner', T(1)], ['fallback', T(3)], ['fallback', T(5)]]);
    expect(tl.fallbackCall).toMatchObject({ raw: '', parseError: 'model call failed: HTTP 500' });
    expect(timelineItems(tl).filter((i) => i.kind === 'call')).toHaveLength(3);
  });

  it('shows other sample-level roles after the steps rather than dropping them', () => {
    const tl = foldEvents([...journal(), call(6, 1, 'judge', 'looks right')]);
    expect(timelineItems(tl).map((i) => (i.kind === 'call' ? i.call.role : i.kind))).toEqual(['head', 'planner', 'step', 'fallback', 'judge', 'end']);
  });
});

describe('sample header', () => {
  it('takes the ground truth, score, termination, steps, duration and tokens from the recorded result', () => {
    const s = sampleSummary(foldEvents(journal()), RESULT);
    expect(s).toMatchObject({
      question: SAMPLE.question, choices: SAMPLE.choices, groundTruth: 'B', answer: 'B', answerSource: 'direct_answer', score: 1, outcome: 'correct',
      termination: 'max_steps', detail: 'no ReturnAnswer within 1 steps', steps: 1, durationS: 4.2, promptTokens: 300, completionTokens: 60, modelCalls: 3,
      questionType: 'relative_distance',
    });
    expect(sampleSummary(foldEvents(journal()), { ...RESULT, score: 0.4 }).outcome).toBe('wrong');
    expect(outcomeOf(0.5)).toBe('correct');
    expect(outcomeOf(null)).toBeNull();
  });

  it('fills what the events say while the sample has no result yet (live, or a result not recorded)', () => {
    const live = foldEvents(journal().slice(0, 4));
    expect(sampleSummary(live, null)).toMatchObject({ groundTruth: 'B', answer: null, score: null, outcome: null, termination: null, steps: 1, promptTokens: 200, modelCalls: 2, durationS: 2 });
    const ended = sampleSummary(foldEvents(journal()), null);
    expect(ended).toMatchObject({ answer: 'B', answerSource: 'direct_answer', termination: 'max_steps', score: null });
    expect(answerSourceWords(ended.answerSource)).toBe('direct-answer fallback');
    // A salvaged answer: the result says `none`, the answer event says where it came from.
    const salvaged = foldEvents([...journal().slice(0, 4), ev({ type: 'answer', t: T(3), step: 1, answer: 'A', source: 'salvage' })]);
    expect(sampleSummary(salvaged, { ...RESULT, answer: 'A', answer_source: 'none', score: 0 }).answerSource).toBe('salvage');
  });

  it('renders the question, the choices with the ground truth and the answer marked, the score with correct / wrong', () => {
    const html = renderToStaticMarkup(<SampleHeader tl={foldEvents(journal())} result={{ ...RESULT, answer: 'A', score: 0 }} fallbackTitle="q1" />);
    expect(html).toContain(`<h3>${SAMPLE.question}</h3>`);
    expect(html).toMatch(/<li class="is-truth ">B\. the table<span[^>]*> ← ground truth<\/span><\/li>/);
    expect(html).toMatch(/<li class=" is-answer">A\. the chair<span[^>]*> ← answer<\/span><\/li>/);
    expect(html).toMatch(/data-testid="header-score">0\.00 <span class="badge outcome-wrong" data-testid="header-outcome">wrong<\/span>/);
    expect(html).toMatch(/data-testid="header-termination"><span class="badge status-max_steps">max_steps<\/span>/);
    expect(html).toContain('data-testid="header-steps">1<');
    expect(html).toContain('data-testid="header-duration">4.2 s<');
    expect(html).toMatch(/data-testid="header-tokens">360 /);
  });
});

describe('markdown the model wrote', () => {
  it('renders a plan with a list and bold as <li> and <strong>', () => {
    const html = renderToStaticMarkup(<Markdown text={'Plan:\n\n1. **Reconstruct** the frames\n2. Measure the distance'} label="plan" />);
    expect(html).toContain('<ol>');
    expect(html.match(/<li>/g)).toHaveLength(2);
    expect(html).toContain('<strong>Reconstruct</strong>');
    expect(html).not.toContain('**');
  });

  it('drops raw HTML, never fetches images, and links only http(s), opening outside', () => {
    const html = renderToStaticMarkup(
      <Markdown text={'<script>alert(1)</script><b>raw</b>\n\n[docs](https://example.org/a) [bad](javascript:alert(1)) [local](/etc/passwd) ![a chair](http://tracker.example/x.png)'} label="reply" />,
    );
    expect(html).not.toMatch(/<script|<b>|alert\(1\)<\/script>/);
    expect(html).toContain('<a href="https://example.org/a" target="_blank" rel="noopener noreferrer">docs</a>');
    expect(html).not.toContain('javascript:');
    expect(html).toContain('<span class="md-link">bad</span>');
    expect(html).toContain('<span class="md-link">local</span>');
    expect(html).not.toContain('<img');
    expect(html).toContain('[image: a chair]');
  });
});

describe('image viewer', () => {
  const img = (i: number, label: string | null, path: string | null): ViewerImage => ({ key: `k${i}`, label, path, width: 640, height: 480, load: async () => new Uint8Array() });

  it('moves between a step\'s images with the arrow keys, Home and End, without wrapping', () => {
    expect(navigate('ArrowRight', 0, 3)).toBe(1);
    expect(navigate('ArrowRight', 2, 3)).toBe(2);
    expect(navigate('ArrowLeft', 0, 3)).toBe(0);
    expect(navigate('ArrowUp', 2, 3)).toBe(1);
    expect(navigate('End', 0, 3)).toBe(2);
    expect(navigate('Home', 2, 3)).toBe(0);
    expect(navigate('Enter', 1, 3)).toBeNull();
    expect(navigate('ArrowRight', 0, 0)).toBeNull();
  });

  it('names and saves an image by its label or file', () => {
    expect(imageName(img(0, 'first frame', 'images/step001_1.png'), 0)).toBe('first frame');
    expect(imageName(img(1, null, null), 1)).toBe('image 2');
    expect(saveName(img(0, 'first frame', 'images/step001_1.png'), 0)).toBe('step001_1.png');
    expect(saveName(img(0, 'depth / mask', null), 0)).toBe('depth_mask.png');
  });

  it('is a labelled modal dialog with the image\'s label, pixel size, position and a Close button', () => {
    const images = [img(0, 'first frame', 'images/step001_1.png'), img(1, 'last frame', 'images/step001_2.png')];
    const html = renderToStaticMarkup(<ImageViewerDialog images={images} index={1} onIndex={() => undefined} onClose={() => undefined} openInTab />);
    expect(html).toMatch(/role="dialog" aria-modal="true" aria-label="Image: last frame"/);
    expect(html).toContain('data-testid="image-viewer-size">640×480 px<');
    expect(html).toContain('data-testid="image-viewer-position">2 of 2<');
    expect(html).toMatch(/aria-label="Previous image"/);
    expect(html).toMatch(/aria-label="Next image" disabled=""/);
    expect(html).toMatch(/aria-label="Close image viewer"[^>]*>Close</);
    expect(html).toContain('Loading last frame…');
  });
});
