import { describe, expect, it } from 'vitest';
import type { CellResult } from '../../shared/kernel.ts';
import { RunEventSchema, type RunEvent } from '../../shared/run.ts';
import { addConsoleResult, cellStatusLine, emptyTimeline, errorLine, eventKey, foldEvent, foldEvents, isArtifactId, timelineItems } from '../../renderer/src/timeline.ts';

// Events as the agent loop writes them (validated with the run format's schema, so a schema change
// that the fold does not follow fails here).
const T = (s: number) => `2025-11-21T10:00:${String(s).padStart(2, '0')}.000Z`;
const usage = { prompt_tokens: 100, completion_tokens: 20 };

function cell(over: Partial<CellResult> = {}): CellResult {
  return {
    index: 1, origin: 'agent', code: 'x = 1\nprint(x)', status: 'ok', startedAt: T(3), durationMs: 120,
    stdout: '1\n', stderr: '', result: null, error: null, violations: [], images: [], answer: null,
    artifacts: [], variables: [{ name: 'x', type: 'int', line: 'x: int = 1' }], notes: [], ...over,
  };
}

const ev = (e: Record<string, unknown>): RunEvent => RunEventSchema.parse(e);

const SAMPLE = { id: 'q1', question: 'How far did the camera move?', inputs: [{ kind: 'rgbd_sample', path: '/data/room' }], answer: 2.1 };
const AID = 'a'.repeat(32);

function journal(): RunEvent[] {
  return [
    ev({ type: 'sample_start', t: T(0), step: 0, sample: SAMPLE, executor: 'code' }),
    ev({ type: 'model_call', t: T(1), step: 0, role: 'planner', endpoint: 'e', latency_ms: 50, attempts: 1, usage, raw: '1. reconstruct', reasoning: null, parsed: null, parse_error: null }),
    ev({ type: 'plan', t: T(1), step: 0, text: '1. reconstruct\n2. measure', error: null }),
    ev({ type: 'model_call', t: T(2), step: 1, role: 'main', endpoint: 'e', latency_ms: 400, attempts: 1, usage, raw: 'r1', reasoning: 'thinking...', parsed: { purpose: 'reconstruct', reasoning: 'need poses', next_goal: 'measure', code: 'recon = 1' }, parse_error: null }),
    ev({ type: 'cell', t: T(3), step: 1, result: cell({ code: 'recon = tools.Reconstruct.Reconstruct(InputImages)', artifacts: [{ id: AID, tool: 'Reconstruct', kind: 'reconstruction', url: null, summary: '5 frames' }], images: [{ index: 1, label: 'depth', width: 640, height: 480, source: 'show', path: 'images/step001_1.png' }] }) }),
    ev({ type: 'image', t: T(3), step: 1, path: 'images/step001_1.png', label: 'depth', width: 640, height: 480 }),
    ev({ type: 'artifact', t: T(3), step: 1, id: AID, tool: 'Reconstruct', kind: 'reconstruction', url: null, summary: '5 frames' }),
    ev({ type: 'observation', t: T(3), step: 1, text: 'Out: ok', images: ['depth'] }),
    ev({ type: 'model_call', t: T(4), step: 2, role: 'main', endpoint: 'e', latency_ms: 300, attempts: 1, usage, raw: 'no code here', reasoning: null, parsed: null, parse_error: 'no ```python code block found' }),
    ev({ type: 'model_call', t: T(5), step: 3, role: 'main', endpoint: 'e', latency_ms: 300, attempts: 1, usage, raw: 'r3', reasoning: null, parsed: { purpose: 'oops', reasoning: 'r', next_goal: 'g', code: 'a = 1\nb = undefined_name + 1' }, parse_error: null }),
    ev({ type: 'cell', t: T(6), step: 3, result: cell({ index: 2, startedAt: T(6), status: 'error', code: 'a = 1\nb = undefined_name + 1', error: { ename: 'NameError', evalue: "name 'undefined_name' is not defined", traceback: ['Traceback', 'NameError'], lineno: 2, line: 'b = undefined_name + 1' } }) }),
    ev({ type: 'model_call', t: T(7), step: 4, role: 'main', endpoint: 'e', latency_ms: 200, attempts: 1, usage, raw: 'r4', reasoning: null, parsed: { purpose: 'answer', reasoning: 'r', next_goal: 'done', code: 'ReturnAnswer(2.1)' }, parse_error: null }),
    ev({ type: 'cell', t: T(8), step: 4, result: cell({ index: 3, startedAt: T(8), code: 'ReturnAnswer(2.1)', answer: { answer: 2.1, type: 'float' } }) }),
    ev({ type: 'answer', t: T(8), step: 4, answer: 2.1, source: 'return_answer' }),
    ev({ type: 'termination', t: T(9), step: 4, reason: 'answered', detail: null }),
  ];
}

describe('timeline fold', () => {
  it('folds a journal into the plan, steps, images, artifacts, errors and the answer', () => {
    const tl = foldEvents(journal());
    expect(tl.sample?.question).toBe(SAMPLE.question);
    expect(tl.executor).toBe('code');
    expect(tl.plan).toEqual({ text: '1. reconstruct\n2. measure', error: null });
    expect(tl.steps.map((s) => s.step)).toEqual([1, 2, 3, 4]);
    const [s1, s2, s3, s4] = tl.steps;
    // Step 1: parsed fields, then the cell's code replaces the parsed code.
    expect(s1).toMatchObject({ purpose: 'reconstruct', reasoning: 'need poses', nextGoal: 'measure', thinking: 'thinking...', code: 'recon = tools.Reconstruct.Reconstruct(InputImages)', observation: 'Out: ok' });
    expect(s1!.cell?.status).toBe('ok');
    // One image although the cell and the image event both name it.
    expect(s1!.images).toEqual([{ key: 'images/step001_1.png', path: 'images/step001_1.png', png: null, label: 'depth', width: 640, height: 480 }]);
    expect(s1!.artifacts).toEqual([{ id: AID, tool: 'Reconstruct', kind: 'reconstruction', summary: '5 frames', url: null }]);
    expect(s1!.durationMs).toBe(400 + 120);
    expect(s1!.tokens).toBe(120);
    // Step 2: an unparseable reply, no cell.
    expect(s2).toMatchObject({ cell: null, code: null, raw: 'no code here', parseError: 'no ```python code block found' });
    // Step 3: the failing line.
    expect(s3!.cell?.status).toBe('error');
    expect(errorLine(s3!)).toBe(2);
    expect(cellStatusLine(s3!.cell!)).toMatch(/^error: NameError/);
    expect(s4!.cell?.answer?.answer).toBe(2.1);
    expect(tl.answer).toEqual({ answer: 2.1, source: 'return_answer' });
    expect(tl.termination).toEqual({ reason: 'answered', detail: null, step: 4 });
    // Planner call counted in usage but not as a step.
    expect(tl.modelCalls).toBe(5);
    expect(tl.usage).toEqual({ prompt_tokens: 500, completion_tokens: 100 });
    expect(tl.console).toEqual([]);
  });

  it('gives the same timeline for shuffled and duplicated live events', () => {
    const events = journal();
    const reference = foldEvents(events);
    // Deterministic shuffle + every event delivered twice.
    const shuffled = events.map((e, i) => ({ e, k: (i * 7919) % 13 })).sort((a, b) => a.k - b.k).map((x) => x.e);
    let tl = emptyTimeline();
    for (const e of [...shuffled, ...events]) tl = foldEvent(tl, e);
    const strip = (t: typeof tl) => ({ ...t, seen: null, lastEventAt: null });
    expect(strip(tl)).toEqual(strip(reference));
    expect(tl.steps.map((s) => s.step)).toEqual([1, 2, 3, 4]);
  });

  it('returns the same object for a repeated event (no re-render) and a new one otherwise', () => {
    const e = journal()[3]!;
    const a = foldEvent(emptyTimeline(), e);
    expect(foldEvent(a, e)).toBe(a);
    expect(foldEvent(a, journal()[4]!)).not.toBe(a);
  });

  it('distinguishes events of the same type and time by their content', () => {
    const a = ev({ type: 'image', t: T(3), step: 1, path: 'images/step001_1.png', label: null, width: 1, height: 1 });
    const b = ev({ type: 'image', t: T(3), step: 1, path: 'images/step001_2.png', label: null, width: 1, height: 1 });
    expect(eventKey(a)).not.toBe(eventKey(b));
    expect(foldEvents([a, b]).steps[0]!.images.map((i) => i.path)).toEqual(['images/step001_1.png', 'images/step001_2.png']);
  });

  it('keeps inline images of a live cell until the recorded files arrive, then shows the files only', () => {
    const live = ev({ type: 'cell', t: T(3), step: 1, result: cell({ images: [{ index: 1, label: 'mask', width: 2, height: 2, source: 'show', png: 'iVBORw0KGgo=' }] }) });
    let tl = foldEvent(emptyTimeline(), live);
    expect(tl.steps[0]!.images).toEqual([{ key: 'inline-1', path: null, png: 'iVBORw0KGgo=', label: 'mask', width: 2, height: 2 }]);
    tl = foldEvent(tl, ev({ type: 'image', t: T(3), step: 1, path: 'images/step001_1.png', label: 'mask', width: 2, height: 2 }));
    expect(tl.steps[0]!.images.map((i) => i.path)).toEqual(['images/step001_1.png']);
  });

  it('records a failed plan and a fallback answer after max_steps', () => {
    const tl = foldEvents([
      ev({ type: 'plan', t: T(1), step: 0, text: null, error: 'planner timed out' }),
      ev({ type: 'model_call', t: T(2), step: 1, role: 'main', endpoint: 'e', latency_ms: 1, attempts: 1, usage, raw: 'r', reasoning: null, parsed: { purpose: 'look', code: 'print(1)' }, parse_error: null }),
      ev({ type: 'model_call', t: T(3), step: 1, role: 'fallback', endpoint: 'e', latency_ms: 1, attempts: 1, usage, raw: '\\boxed{2.0}', reasoning: null, parsed: null, parse_error: null }),
      ev({ type: 'answer', t: T(3), step: 1, answer: '2.0', source: 'direct_answer' }),
      ev({ type: 'termination', t: T(4), step: 1, reason: 'max_steps', detail: 'no ReturnAnswer within 1 steps' }),
    ]);
    expect(tl.plan).toEqual({ text: null, error: 'planner timed out' });
    expect(tl.steps).toHaveLength(1);
    expect(tl.steps[0]!.raw).toBeNull(); // the fallback call did not land in the step
    expect(tl.steps[0]!.code).toBe('print(1)'); // parsed code shown before the cell arrives
    expect(tl.answer).toEqual({ answer: '2.0', source: 'direct_answer' });
    expect(tl.termination?.reason).toBe('max_steps');
  });

  it('folds VLM-bridge calls into their step without replacing the step\'s fields', () => {
    const tl = foldEvents([
      journal()[3]!,
      ev({ type: 'model_call', t: T(3), step: 1, role: 'vlm', endpoint: 'vlm-bridge', latency_ms: 10, attempts: 1, usage, raw: 'a chair', reasoning: null, parsed: { kind: 'ask', prompt: 'what is this?' }, parse_error: null }),
    ]);
    expect(tl.steps[0]!.purpose).toBe('reconstruct');
    expect(tl.steps[0]!.vlmCalls).toEqual([{ prompt: 'what is this?', text: 'a chair', error: null }]);
  });

  it('folds console cells (origin human) into their own list, one entry per cell', () => {
    const human = (i: number, t: number, code: string, extra: Partial<CellResult> = {}) =>
      ev({ type: 'cell', t: T(t), step: 4, result: cell({ index: i, origin: 'human', startedAt: T(t), code, ...extra }) });
    const consoleEvents = [
      human(10, 20, 'print(recon.K)'),
      ev({ type: 'image', t: T(20), step: 4, path: 'images/console_1.png', label: 'K', width: 10, height: 10 }),
      human(11, 21, '1/0', { status: 'error', error: { ename: 'ZeroDivisionError', evalue: 'division by zero', traceback: [], lineno: 1, line: '1/0' } }),
    ];
    const tl = foldEvents(journal(), consoleEvents);
    expect(tl.steps).toHaveLength(4);
    expect(tl.console.map((s) => s.code)).toEqual(['print(recon.K)', '1/0']);
    expect(tl.console.every((s) => s.origin === 'human')).toBe(true);
    expect(tl.console[0]!.images.map((i) => i.path)).toEqual(['images/console_1.png']);
    expect(errorLine(tl.console[1]!)).toBe(1);
    // A human cell delivered on the agent stream still lands in the console list.
    const viaStream = foldEvent(foldEvents(journal()), human(12, 22, 'x'));
    expect(viaStream.console).toHaveLength(1);
    expect(viaStream.steps).toHaveLength(4);
  });

  it('adds a console cell result once, whether it arrives as a result, as an event, or both', () => {
    const result = cell({ index: 7, origin: 'human', startedAt: T(30), code: 'print(2)', stdout: '2\n' });
    let tl = addConsoleResult(foldEvents(journal()), result);
    expect(tl.console).toHaveLength(1);
    expect(addConsoleResult(tl, result)).toBe(tl);
    tl = foldEvent(tl, ev({ type: 'cell', t: T(30), step: 4, result }), 'human');
    expect(tl.console).toHaveLength(1);
    expect(tl.console[0]!.cell?.stdout).toBe('2\n');
    expect(tl.console[0]!.durationMs).toBe(result.durationMs);
  });

  it('lists timeline rows: head, planner call, steps, answer, console', () => {
    const tl = addConsoleResult(foldEvents(journal()), cell({ index: 9, origin: 'human', startedAt: T(40) }));
    expect(timelineItems(tl).map((i) => i.kind)).toEqual(['head', 'call', 'step', 'step', 'step', 'step', 'end', 'console-head', 'console']);
    expect(timelineItems(emptyTimeline()).map((i) => i.kind)).toEqual(['head']);
  });

  it('keeps each model call with what it sent: planner and fallback on the sample, main and vlm calls on their step', () => {
    const req = (id: string) => ({ messages: [id.repeat(16)], params: { max_tokens: 64 }, images: 1, text_chars: 10 });
    const call = (t: number, step: number, role: string, request?: ReturnType<typeof req>) =>
      ev({ type: 'model_call', t: T(t), step, role, endpoint: 'e', latency_ms: 5, attempts: 2, usage, raw: role, reasoning: null, parsed: role === 'vlm' ? { kind: 'ask', prompt: 'q' } : null, parse_error: null, ...(request ? { request } : {}) });
    const tl = foldEvents([call(1, 0, 'planner', req('a')), call(2, 1, 'main', req('b')), call(3, 1, 'vlm', req('c')), call(4, 1, 'vlm'), call(5, 1, 'fallback', req('d'))]);
    expect(tl.plannerCall).toMatchObject({ role: 'planner', step: 0, request: req('a'), usage, latencyMs: 5, attempts: 2, endpoint: 'e' });
    expect(tl.fallbackCall?.request).toEqual(req('d'));
    expect(tl.steps[0]!.calls.map((c) => [c.role, c.request?.messages[0] ?? null])).toEqual([['main', 'b'.repeat(16)], ['vlm', 'c'.repeat(16)], ['vlm', null]]);
    expect(tl.steps[0]!.vlmCalls).toHaveLength(2);
    // Runs recorded before requests were kept: the calls are there, without a request.
    expect(foldEvents(journal()).plannerCall?.request).toBeNull();
  });

  it('accepts only 32-hex artifact ids for the inspector', () => {
    expect(isArtifactId(AID)).toBe(true);
    expect(isArtifactId('../etc/passwd')).toBe(false);
    expect(isArtifactId('A'.repeat(32))).toBe(false);
  });
});
