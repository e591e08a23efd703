/**
 * Folding run events into a step timeline: PURE functions (no DOM, no React), shared by the live view
 * of a running sample and the view of a recorded one, and unit-tested in Node
 * (test/unit/renderer-timeline.test.ts).
 *
 * Input: `RunEvent`s (shared/run.ts) in any order, possibly repeated (a live stream can deliver an
 * event that the recorded journal also holds). Output: a {@link Timeline}: the plan, one
 * {@link TimelineStep} per step number (model reply, cell, images, artifacts, observation), the final
 * answer and the termination. Console cells a human ran (origin 'human') fold into `console`.
 */
import type { CellResult } from '../../shared/kernel.ts';
import type { Usage } from '../../shared/model.ts';
import type { ModelRequest, RunEvent, SampleSpec } from '../../shared/run.ts';

type EventOf<T extends RunEvent['type']> = Extract<RunEvent, { type: T }>;

/** An image of a step: a file of the sample (`path`, loaded with `sampleImage`) or inline base64 PNG. */
export interface StepImage {
  /** Stable key within the step. */
  key: string;
  /** `images/step003_1.png` (relative to the sample folder), or null for an inline image. */
  path: string | null;
  /** Base64 PNG, when the image was not written to a file (e.g. a console cell's result). */
  png: string | null;
  label: string | null;
  width: number;
  height: number;
}

/** A perception result a tool call recorded; `id` is the artifact id the 3D inspector loads. */
export interface StepArtifact {
  id: string;
  tool: string;
  kind: string;
  summary: string;
  url: string | null;
}

/** One model call (main, planner, fallback or vlm) and what it sent, as its model_call event records it. */
export interface ModelCall {
  /** The event's key ({@link eventKey}). */
  key: string;
  role: string;
  step: number;
  t: string;
  endpoint: string;
  latencyMs: number;
  attempts: number;
  usage: Usage;
  /** What was sent (message ids, params, counts); null in runs recorded before requests were kept. */
  request: ModelRequest | null;
  /** The model's reply exactly as received ('' for a call that failed before a reply). */
  raw: string;
  /** The model's own reasoning text (reasoning_content / think blocks), if any. */
  thinking: string | null;
  /** Why the reply could not be parsed, or null. */
  parseError: string | null;
}

export interface TimelineStep {
  /** Step number (1-based for agent steps; console cells are numbered in their own list). */
  step: number;
  origin: 'agent' | 'human';
  /** The main model call of the step (null for console cells or before it arrives). */
  purpose: string | null;
  reasoning: string | null;
  nextGoal: string | null;
  /** The model's raw reply when it could not be parsed (no cell then). */
  raw: string | null;
  parseError: string | null;
  /** The model's own reasoning text (reasoning_content / think blocks), if any. */
  thinking: string | null;
  /** Code: the cell's code once it ran, else the parsed code. */
  code: string | null;
  cell: CellResult | null;
  images: StepImage[];
  artifacts: StepArtifact[];
  observation: string | null;
  /** VLM-bridge calls made from the cell (role 'vlm'). */
  vlmCalls: { prompt: string | null; text: string; error: string | null }[];
  /** The step's model calls (main, then vlm), in the order they were made; the vlm ones pair with `vlmCalls`. */
  calls: ModelCall[];
  /** Prompt + completion tokens of the step's model calls. */
  tokens: number;
  /** Latency of the step's main model call(s), ms. */
  modelMs: number;
  /** Model latency + cell duration, ms. */
  durationMs: number;
}

export interface Timeline {
  sample: SampleSpec | null;
  executor: string | null;
  plan: { text: string | null; error: string | null } | null;
  /** The planner's and the answer fallback's model calls (they belong to the sample, not to a step): the latest of each. */
  plannerCall: ModelCall | null;
  fallbackCall: ModelCall | null;
  /**
   * Every model call that belongs to the sample rather than to a step (roles other than `main` and `vlm`:
   * the planner, the answer fallback), in the order they were made. Each is a timeline entry of its own.
   */
  sampleCalls: ModelCall[];
  /** Agent steps, sorted by step number. */
  steps: TimelineStep[];
  /** Console cells (origin 'human'), in the order they ran. */
  console: TimelineStep[];
  answer: { answer: string | number; source: string } | null;
  termination: { reason: string; detail: string | null; step: number } | null;
  usage: { prompt_tokens: number; completion_tokens: number };
  modelCalls: number;
  startedAt: string | null;
  lastEventAt: string | null;
  /** Keys of the events folded so far (duplicates are ignored). */
  seen: ReadonlySet<string>;
}

export const emptyTimeline = (): Timeline => ({
  sample: null,
  executor: null,
  plan: null,
  plannerCall: null,
  fallbackCall: null,
  sampleCalls: [],
  steps: [],
  console: [],
  answer: null,
  termination: null,
  usage: { prompt_tokens: 0, completion_tokens: 0 },
  modelCalls: 0,
  startedAt: null,
  lastEventAt: null,
  seen: new Set(),
});

/**
 * Identity of an event for de-duplication: its type, step and time plus what tells two events of the
 * same type and instant apart. Identical re-deliveries share a key; distinct events do not.
 */
export function eventKey(e: RunEvent, origin: 'agent' | 'human' = 'agent'): string {
  const base = `${origin}|${e.type}|${e.step}|${e.t}`;
  switch (e.type) {
    case 'model_call':
      return `${base}|${e.role}|${e.raw.length}|${e.raw.slice(0, 64)}`;
    case 'cell':
      return `${base}|${e.result.index}|${e.result.origin}|${e.result.startedAt}`;
    case 'image':
      return `${base}|${e.path}`;
    case 'artifact':
      return `${base}|${e.id}`;
    case 'answer':
      return `${base}|${String(e.answer)}|${e.source}`;
    default:
      return base;
  }
}

const emptyStep = (step: number, origin: 'agent' | 'human'): TimelineStep => ({
  step,
  origin,
  purpose: null,
  reasoning: null,
  nextGoal: null,
  raw: null,
  parseError: null,
  thinking: null,
  code: null,
  cell: null,
  images: [],
  artifacts: [],
  observation: null,
  vlmCalls: [],
  calls: [],
  tokens: 0,
  modelMs: 0,
  durationMs: 0,
});

const modelCall = (e: EventOf<'model_call'>): ModelCall => ({
  key: eventKey(e),
  role: e.role,
  step: e.step,
  t: e.t,
  endpoint: e.endpoint,
  latencyMs: e.latency_ms,
  attempts: e.attempts,
  usage: e.usage,
  request: e.request ?? null,
  raw: e.raw,
  thinking: e.reasoning,
  parseError: e.parse_error,
});

/** Roles of model calls made inside a step: the step's own call and the VLM-bridge calls of its cell. */
const STEP_ROLES = new Set(['main', 'vlm']);

/** Whether a model call of this role comes before the steps (the planner) or after them (the fallback and any other). */
export const isLeadingCall = (role: string): boolean => role === 'planner';

/** Insert a call into a list kept in the order the calls were made (time, then key: the same for any arrival order). */
function insertCall(list: ModelCall[], c: ModelCall): ModelCall[] {
  const out = list.slice();
  let i = out.length;
  while (i > 0 && (out[i - 1]!.t > c.t || (out[i - 1]!.t === c.t && out[i - 1]!.key > c.key))) i--;
  out.splice(i, 0, c);
  return out;
}

/** Images a cell result carries (files or inline), as step images. */
export function cellImages(cell: CellResult): StepImage[] {
  return cell.images
    .filter((im) => im.path || im.png)
    .map((im) => ({
      key: im.path ?? `inline-${im.index}`,
      path: im.path ?? null,
      png: im.path ? null : im.png ?? null,
      label: im.label,
      width: im.width,
      height: im.height,
    }));
}

/**
 * Merge images by key. Files win over inline copies: a live cell may carry its images inline (base64)
 * while the record holds the same images as files, so once a step has file images its inline ones go.
 */
function mergeImages(into: StepImage[], add: StepImage[]): StepImage[] {
  if (add.length === 0) return into;
  const keys = new Set(into.map((i) => i.key));
  const out = into.slice();
  for (const im of add) {
    if (keys.has(im.key)) continue;
    keys.add(im.key);
    out.push(im);
  }
  const files = out.filter((i) => i.path !== null);
  return files.length ? files : out;
}

function mergeArtifacts(into: StepArtifact[], add: StepArtifact[]): StepArtifact[] {
  const ids = new Set(into.map((a) => a.id));
  const fresh = add.filter((a) => !ids.has(a.id));
  return fresh.length ? [...into, ...fresh] : into;
}

/** Apply one event to a step (returns a new step object). */
function applyToStep(s: TimelineStep, e: RunEvent): TimelineStep {
  switch (e.type) {
    case 'model_call': {
      const tokens = s.tokens + e.usage.prompt_tokens + e.usage.completion_tokens;
      const modelMs = s.modelMs + e.latency_ms;
      const calls = [...s.calls, modelCall(e)];
      if (e.role === 'vlm') {
        return {
          ...s,
          tokens,
          calls,
          vlmCalls: [...s.vlmCalls, { prompt: e.parsed?.['prompt'] ?? null, text: e.raw, error: e.parse_error }],
        };
      }
      const p = e.parsed;
      return {
        ...s,
        tokens,
        calls,
        modelMs,
        durationMs: modelMs + (s.cell?.durationMs ?? 0),
        purpose: p?.['purpose'] ?? s.purpose,
        reasoning: p?.['reasoning'] ?? s.reasoning,
        nextGoal: p?.['next_goal'] ?? s.nextGoal,
        // The cell's code wins over the parsed code once the cell has run.
        code: s.cell ? s.code : p?.['code'] ?? s.code,
        raw: p ? s.raw : e.raw,
        parseError: e.parse_error ?? (p ? null : s.parseError),
        thinking: e.reasoning ?? s.thinking,
      };
    }
    case 'cell':
      return {
        ...s,
        origin: e.result.origin,
        cell: e.result,
        code: e.result.code,
        durationMs: s.modelMs + e.result.durationMs,
        images: mergeImages(s.images, cellImages(e.result)),
        artifacts: mergeArtifacts(s.artifacts, e.result.artifacts.map((a) => ({ id: a.id, tool: a.tool, kind: a.kind, summary: a.summary, url: a.url }))),
      };
    case 'image':
      return { ...s, images: mergeImages(s.images, [{ key: e.path, path: e.path, png: null, label: e.label, width: e.width, height: e.height }]) };
    case 'artifact':
      return { ...s, artifacts: mergeArtifacts(s.artifacts, [{ id: e.id, tool: e.tool, kind: e.kind, summary: e.summary, url: e.url }]) };
    case 'observation':
      return { ...s, observation: e.text };
    default:
      return s;
  }
}

/** Insert or replace the step numbered `n` in a list sorted by step number. */
function upsertStep(list: TimelineStep[], n: number, origin: 'agent' | 'human', f: (s: TimelineStep) => TimelineStep): TimelineStep[] {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.step < n) lo = mid + 1;
    else hi = mid;
  }
  const out = list.slice();
  if (lo < list.length && list[lo]!.step === n) out[lo] = f(list[lo]!);
  else out.splice(lo, 0, f(emptyStep(n, origin)));
  return out;
}

/**
 * Console cells: one entry per cell (hosts may number console events with the sample's last step, so
 * step numbers need not be unique); images and artifacts attach to the latest cell with their step.
 */
function upsertConsole(list: TimelineStep[], e: RunEvent): TimelineStep[] {
  const out = list.slice();
  if (e.type === 'cell') {
    const i = out.findIndex((s) => s.cell?.index === e.result.index && s.cell.startedAt === e.result.startedAt);
    if (i >= 0) out[i] = applyToStep(out[i]!, e);
    else out.push(applyToStep(emptyStep(e.step, 'human'), e));
    return out;
  }
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]!.step === e.step) {
      out[i] = applyToStep(out[i]!, e);
      return out;
    }
  }
  out.push(applyToStep(emptyStep(e.step, 'human'), e));
  return out;
}

const STEP_EVENTS = new Set<RunEvent['type']>(['model_call', 'cell', 'image', 'artifact', 'observation']);

/**
 * Fold one event into a timeline. Returns the same object when the event was already folded
 * (so React can skip a render), else a new timeline. `origin: 'human'` folds console events.
 */
export function foldEvent(tl: Timeline, e: RunEvent, origin: 'agent' | 'human' = 'agent'): Timeline {
  const key = eventKey(e, origin);
  if (tl.seen.has(key)) return tl;
  const seen = new Set(tl.seen);
  seen.add(key);
  const next: Timeline = { ...tl, seen, lastEventAt: tl.lastEventAt && tl.lastEventAt > e.t ? tl.lastEventAt : e.t };
  const human = origin === 'human' || (e.type === 'cell' && e.result.origin === 'human');

  if (STEP_EVENTS.has(e.type)) {
    if (e.type === 'model_call') {
      next.usage = { prompt_tokens: tl.usage.prompt_tokens + e.usage.prompt_tokens, completion_tokens: tl.usage.completion_tokens + e.usage.completion_tokens };
      next.modelCalls = tl.modelCalls + 1;
      // Planner and fallback calls belong to the sample, not to a step.
      if (!STEP_ROLES.has(e.role)) {
        const call = modelCall(e);
        next.sampleCalls = insertCall(tl.sampleCalls, call);
        if (e.role === 'planner' && (!tl.plannerCall || tl.plannerCall.t <= e.t)) next.plannerCall = call;
        if (e.role === 'fallback' && (!tl.fallbackCall || tl.fallbackCall.t <= e.t)) next.fallbackCall = call;
        return next;
      }
    }
    if (human) next.console = upsertConsole(tl.console, e);
    else next.steps = upsertStep(tl.steps, e.step, 'agent', (s) => applyToStep(s, e));
    return next;
  }
  switch (e.type) {
    case 'sample_start':
      next.sample = e.sample;
      next.executor = e.executor;
      next.startedAt = e.t;
      break;
    case 'plan':
      next.plan = { text: e.text, error: e.error };
      break;
    case 'answer':
      // A later answer (fallback) replaces an earlier one; out-of-order delivery keeps the latest step.
      if (!tl.answer || !tl.termination || e.step >= tl.termination.step) next.answer = { answer: e.answer, source: e.source };
      break;
    case 'termination':
      next.termination = { reason: e.reason, detail: e.detail, step: e.step };
      break;
  }
  return next;
}

/** Fold a list of agent events and console events into a fresh timeline. */
export function foldEvents(events: readonly RunEvent[], consoleEvents: readonly RunEvent[] = []): Timeline {
  let tl = emptyTimeline();
  for (const e of events) tl = foldEvent(tl, e, 'agent');
  for (const e of consoleEvents) tl = foldEvent(tl, e, 'human');
  return tl;
}

/**
 * Add a console cell's returned result as a human step (when its events have not arrived). Keyed by
 * the cell's index and start time, so the same cell delivered again as events is not doubled.
 */
export function addConsoleResult(tl: Timeline, result: CellResult): Timeline {
  if (tl.console.some((s) => s.cell && s.cell.index === result.index && s.cell.startedAt === result.startedAt)) return tl;
  const cellEvent: EventOf<'cell'> = { type: 'cell', t: result.startedAt, step: 0, result };
  return { ...tl, console: [...tl.console, applyToStep(emptyStep(0, 'human'), cellEvent)] };
}

/** Whether the sample has ended (a termination event arrived). */
export const isFinished = (tl: Timeline): boolean => tl.termination !== null;

/** The 1-based line of a cell's error, when known (for highlighting the failing line). */
export function errorLine(step: TimelineStep): number | null {
  return step.cell?.error?.lineno ?? step.cell?.violations[0]?.line ?? null;
}

/** Artifact ids the inspector accepts (32 lowercase hex digits). */
export const isArtifactId = (id: string): boolean => /^[0-9a-f]{32}$/.test(id);

/** A short line for a cell's status, e.g. "ok · 1.2 s" or "error: NameError". */
export function cellStatusLine(cell: CellResult): string {
  const secs = `${(cell.durationMs / 1000).toFixed(cell.durationMs < 10_000 ? 2 : 1)} s`;
  if (cell.status === 'ok') return `ok · ${secs}`;
  if (cell.status === 'error' && cell.error) return `error: ${cell.error.ename} · ${secs}`;
  if (cell.status === 'rejected') return `rejected: ${cell.violations.map((v) => v.rule).join(', ') || 'safety policy'}`;
  return `${cell.status} · ${secs}`;
}

/** A row of the timeline list. */
export type TimelineItem =
  | { kind: 'head'; key: string }
  | { kind: 'call'; key: string; call: ModelCall }
  | { kind: 'step'; key: string; step: TimelineStep }
  | { kind: 'end'; key: string }
  | { kind: 'console-head'; key: string }
  | { kind: 'console'; key: string; step: TimelineStep };

/**
 * Timeline rows: the plan, the planner call, the steps, the sample's later calls (the answer fallback), the
 * answer, then the console cells. Each sample-level model call is a row of its own.
 */
export function timelineItems(tl: Timeline): TimelineItem[] {
  const items: TimelineItem[] = [{ kind: 'head', key: 'head' }];
  const call = (c: ModelCall): TimelineItem => ({ kind: 'call', key: `call:${c.key}`, call: c });
  for (const c of tl.sampleCalls) if (isLeadingCall(c.role)) items.push(call(c));
  for (const s of tl.steps) items.push({ kind: 'step', key: `s${s.step}`, step: s });
  for (const c of tl.sampleCalls) if (!isLeadingCall(c.role)) items.push(call(c));
  if (tl.answer || tl.termination) items.push({ kind: 'end', key: 'end' });
  if (tl.console.length) items.push({ kind: 'console-head', key: 'console-head' });
  tl.console.forEach((s, i) => items.push({ kind: 'console', key: `c${i}`, step: s }));
  return items;
}
