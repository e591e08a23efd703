/**
 * The code-as-action loop for one sample: plan, then act (the model writes a cell), check, execute,
 * observe, until ReturnAnswer, the step budget, or too many consecutive failures; then the answer
 * fallbacks. Everything is written to the sample's event journal; the model's history is condensed
 * (failed steps keep only the code up to the failing line and the exception).
 */
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { DEFAULTS } from '../../../shared/defaults.ts';
import type { CellImage, CellResult } from '../../../shared/kernel.ts';
import type { ChatResult, Role, Usage } from '../../../shared/model.ts';
import { ArtifactEventFieldsSchema, type RunEvent, type SampleResult, type SampleSpec, type Termination } from '../../../shared/run.ts';
import { buildObservation } from '../kernel/observation.ts';
import type { BridgeCall } from '../kernel/bridge.ts';
import type { KernelSession } from '../kernel/session.ts';
import { scoreAnswer } from '../runs/scoring.ts';
import { condenseFailedCode, type ParsedStep, parseFinalAnswer, parseStep, StepParseError } from './parse.ts';
import {
  directAnswerPrompt,
  type Executor,
  firstUserText,
  formatReminder,
  LAST_STEP_WARNING,
  plannerPrompt,
  systemPrompt,
} from './prompt.ts';
import { keyFrameSlots } from '../../../shared/profiles.ts';
import { toolCallToCode } from './toolcall.ts';

/** What the loop needs from a model: the ModelClient, or a trajectory player for the demo. */
export interface ModelLike {
  chat(req: { role: Role; messages: ChatCompletionMessageParam[]; sampleKey?: string; signal?: AbortSignal }): Promise<ChatResult>;
}

/** Where events go: the run store's SampleWriter (and, through `onEvent`, the live display). */
export interface EventSink {
  event(e: RunEvent): void;
}

export interface AgentOptions {
  executor: Executor;
  /** Step budget (default 30; single_pass: 1). */
  maxSteps: number;
  /** Stop after this many failed steps in a row (parse failures, errors, rejections; default 5). */
  maxConsecutiveFailures: number;
  /** Key frames in the first message (default 8). */
  keyFrames: number;
  /** Run the planner call first (default true; its failure is not fatal). */
  plan: boolean;
  /** Per-cell timeout in seconds (default 600). */
  cellTimeoutS: number;
  /** show() images attached to observations over the whole sample (default 24). */
  imageBudget: number;
  /** Images in one request (key frames + observation images; model config images.per_request). */
  imagesPerRequest: number;
  /** Request slots kept for observation images: key frames take at most imagesPerRequest - observationSlots. */
  observationSlots: number;
  /** Long edge of key frames sent to the model (model config images.max_long_edge). */
  maxLongEdge: number;
}

/** The loop's defaults, all from shared/defaults.ts. */
export const DEFAULT_AGENT_OPTIONS: AgentOptions = {
  executor: DEFAULTS.executor,
  maxSteps: DEFAULTS.maxSteps,
  maxConsecutiveFailures: DEFAULTS.maxConsecutiveFailures,
  keyFrames: DEFAULTS.keyFrames,
  plan: DEFAULTS.plan,
  cellTimeoutS: DEFAULTS.cellTimeoutS,
  imageBudget: DEFAULTS.imageBudget,
  imagesPerRequest: DEFAULTS.imagesPerRequest,
  observationSlots: DEFAULTS.observationSlots,
  maxLongEdge: DEFAULTS.maxLongEdge,
};

export interface RunSampleArgs {
  sample: SampleSpec;
  /** A kernel session already prepared on the sample's inputs. */
  session: KernelSession;
  /** What prepare() bound (shown to the planner and in the first message). */
  inputSummary: string;
  model: ModelLike;
  /** `python -m spatial_runtime.apidoc` output. */
  apiDoc: string;
  sink: EventSink;
  options?: Partial<AgentOptions>;
  signal?: AbortSignal;
  /** Calls the kernel made through the VLM bridge since the last drain (recorded as model_call events). */
  drainVlmCalls?: () => BridgeCall[];
}

const now = (): string => new Date().toISOString();
const dataUrl = (png: string): string => `data:image/png;base64,${png}`;

interface Turn {
  assistant: string;
  user: string;
  images: CellImage[];
}

/** Run the agent on one sample; never throws for model or cell problems (they end up in the record). */
export async function runSample(args: RunSampleArgs): Promise<SampleResult> {
  const o: AgentOptions = { ...DEFAULT_AGENT_OPTIONS, ...args.options };
  if (o.executor === 'single_pass') o.maxSteps = 1;
  const { sample, session, model, sink } = args;
  const startedAt = now();
  const t0 = performance.now();
  const usage: Usage = { prompt_tokens: 0, completion_tokens: 0, reasoning_tokens: 0 };
  let modelCalls = 0;
  let step = 0;
  const emit = (e: RunEvent): void => sink.event(e);
  emit({ type: 'sample_start', t: now(), step: 0, sample, executor: o.executor });

  const call = async (role: Role, messages: ChatCompletionMessageParam[]): Promise<ChatResult> => {
    const r = await model.chat({ role, messages, sampleKey: sample.id, ...(args.signal ? { signal: args.signal } : {}) });
    modelCalls++;
    usage.prompt_tokens += r.usage.prompt_tokens;
    usage.completion_tokens += r.usage.completion_tokens;
    usage.reasoning_tokens = (usage.reasoning_tokens ?? 0) + (r.usage.reasoning_tokens ?? 0);
    return r;
  };
  const modelEvent = (role: Role, r: ChatResult, parsed: Record<string, string> | null, parseError: string | null): void =>
    emit({
      type: 'model_call', t: now(), step, role, endpoint: r.endpoint, latency_ms: r.latencyMs, attempts: r.attempts,
      usage: r.usage, raw: r.raw, reasoning: r.reasoning, parsed, parse_error: parseError,
    });

  let termination: Termination = 'max_steps';
  let terminationDetail: string | null = null;
  let answer: string | number | null = null;
  let answerSource: SampleResult['answer_source'] = 'none';
  let lastSubmitted: string | number | null = null;
  let parseFailures = 0;
  let error: string | null = null;

  try {
    // Key frames and plan.
    // Key frames never take the slots of the observation images (shared/profiles.ts, keyFrameSlots).
    const keyFrameCount = keyFrameSlots(o.keyFrames, o.imagesPerRequest, o.observationSlots);
    const keyFrames: CellImage[] = keyFrameCount > 0 ? await session.keyFrames(keyFrameCount, o.maxLongEdge) : [];
    let plan: string | null = null;
    if (o.plan && o.executor !== 'single_pass') {
      try {
        const r = await call('planner', [{ role: 'user', content: plannerPrompt(sample, args.inputSummary) }]);
        modelEvent('planner', r, null, null);
        plan = r.content.trim() || null;
        emit({ type: 'plan', t: now(), step: 0, text: plan, error: null });
      } catch (e) {
        emit({ type: 'plan', t: now(), step: 0, text: null, error: e instanceof Error ? e.message : String(e) });
      }
    }

    const system = systemPrompt(args.apiDoc, o.executor, o.maxSteps);
    const firstText = firstUserText(sample, args.inputSummary, plan, keyFrames.map((k) => k.label ?? 'frame'));
    const turns: Turn[] = [];
    let imagesUsed = 0;
    let consecutiveFailures = 0;

    while (step < o.maxSteps) {
      if (args.signal?.aborted) {
        termination = 'stopped';
        break;
      }
      step++;
      const messages = buildMessages(system, firstText, keyFrames, turns, o.imagesPerRequest);
      let r: ChatResult;
      try {
        r = await call('main', messages);
      } catch (e) {
        // The model layer already retried; a model that cannot answer ends the sample (fallbacks below).
        error = `model call failed: ${e instanceof Error ? e.message : String(e)}`;
        termination = 'error';
        terminationDetail = error;
        break;
      }

      let parsed: ParsedStep;
      try {
        parsed = o.executor === 'tool_call' ? toolStep(r.content) : parseStep(r.content);
      } catch (e) {
        const problem = e instanceof StepParseError ? e.message : String(e);
        parseFailures++;
        consecutiveFailures++;
        modelEvent('main', r, null, problem);
        turns.push({ assistant: r.content, user: formatReminder(o.executor, problem), images: [] });
        if (consecutiveFailures >= o.maxConsecutiveFailures) {
          termination = 'consecutive_failures';
          terminationDetail = `${consecutiveFailures} failed steps in a row (last: ${problem})`;
          break;
        }
        continue;
      }
      modelEvent('main', r, { ...parsed }, null);

      const cell: CellResult = await session.execute(parsed.code, { origin: 'agent', timeoutS: o.cellTimeoutS });
      emit({ type: 'cell', t: now(), step, result: cell });
      for (const v of args.drainVlmCalls?.() ?? []) {
        const u = v.usage ?? { prompt_tokens: 0, completion_tokens: 0 };
        usage.prompt_tokens += u.prompt_tokens;
        usage.completion_tokens += u.completion_tokens;
        modelCalls++;
        emit({
          type: 'model_call', t: now(), step, role: 'vlm', endpoint: 'vlm-bridge', latency_ms: v.durationMs, attempts: 1,
          usage: u, raw: v.text ?? v.error ?? '', reasoning: null,
          parsed: { kind: v.kind, prompt: v.prompt, ...(v.points ? { points: JSON.stringify(v.points) } : {}) },
          parse_error: v.ok ? null : v.error ?? 'failed',
        });
      }
      for (const a of cell.artifacts) emit({ type: 'artifact', t: now(), step, ...ArtifactEventFieldsSchema.parse(a) });

      // Observation (with show() images within the session's budget).
      const obs = buildObservation(cell);
      const room = Math.max(0, o.imageBudget - imagesUsed);
      const attached = cell.images.slice(0, room);
      imagesUsed += attached.length;
      let text = obs.text;
      if (cell.images.length > attached.length) {
        text += `\nNote: ${cell.images.length - attached.length} image(s) not attached: the image budget of ${o.imageBudget} per question is used up.`;
      }
      if (step === o.maxSteps - 1) text += `\n${LAST_STEP_WARNING}`;
      emit({ type: 'observation', t: now(), step, text, images: attached.map((im) => im.label ?? `image ${im.index}`) });

      const failed = cell.status !== 'ok';
      if (cell.answer) {
        if (!failed) {
          answer = cell.answer.answer;
          answerSource = 'return_answer';
          termination = 'answered';
          emit({ type: 'answer', t: now(), step, answer, source: answerSource });
          break;
        }
        lastSubmitted = cell.answer.answer;
      }
      const assistant = failed && cell.error
        ? renderStep(parsed, condenseFailedCode(parsed.code, cell.error.lineno, `${cell.error.ename}: ${cell.error.evalue}`), o.executor)
        : r.content;
      turns.push({ assistant, user: text, images: attached });
      consecutiveFailures = failed ? consecutiveFailures + 1 : 0;
      if (consecutiveFailures >= o.maxConsecutiveFailures) {
        termination = 'consecutive_failures';
        terminationDetail = `${consecutiveFailures} failed steps in a row (last: ${cell.status}${cell.error ? `: ${cell.error.ename}` : ''})`;
        break;
      }
    }
    if (termination === 'max_steps') terminationDetail = `no ReturnAnswer within ${o.maxSteps} steps`;

    // Fallbacks: the last submitted answer, else one direct-answer call with the key frames.
    if (answer === null && lastSubmitted !== null) {
      answer = lastSubmitted;
      answerSource = 'last_submitted';
      emit({ type: 'answer', t: now(), step, answer, source: answerSource });
    } else if (answer === null && termination !== 'stopped') {
      try {
        const findings = turns.slice(-3).map((t) => t.user).join('\n---\n').slice(-4000);
        const r = await call('fallback', [{
          role: 'user',
          content: [
            ...keyFrames.map((k): ChatCompletionContentPart => ({ type: 'image_url', image_url: { url: dataUrl(k.png ?? '') } })),
            { type: 'text', text: directAnswerPrompt(sample, findings) },
          ],
        }]);
        modelEvent('fallback', r, null, null);
        const parsedAnswer = parseFinalAnswer(r.content);
        if (parsedAnswer !== null) {
          answer = parsedAnswer;
          answerSource = 'direct_answer';
          emit({ type: 'answer', t: now(), step, answer, source: answerSource });
        }
      } catch (e) {
        error ??= `direct-answer fallback failed: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    termination = 'error';
    terminationDetail = error;
  }

  emit({ type: 'termination', t: now(), step, reason: termination, detail: terminationDetail });
  return {
    id: sample.id,
    question: sample.question,
    ...(sample.choices ? { choices: sample.choices } : {}),
    answer,
    answer_source: answerSource,
    ground_truth: sample.answer ?? null,
    score: scoreAnswer(answer, sample.answer, sample.choices),
    question_type: sample.question_type ?? null,
    termination,
    steps: step,
    parse_failures: parseFailures,
    usage,
    model_calls: modelCalls,
    duration_s: (performance.now() - t0) / 1000,
    error,
    started_at: startedAt,
    finished_at: now(),
  };
}

function toolStep(content: string): ParsedStep {
  const { code } = toolCallToCode(content);
  return { purpose: '', reasoning: '', next_goal: '', code };
}

/** A failed step as the model will see it in its history. */
function renderStep(p: ParsedStep, code: string, executor: Executor): string {
  if (executor === 'tool_call') return `\`\`\`python\n${code}\n\`\`\``;
  return `Purpose: ${p.purpose}\nReasoning: ${p.reasoning}\nNext Goal: ${p.next_goal}\nCode:\n\`\`\`python\n${code}\n\`\`\``;
}

/**
 * The request: system prompt, first user message with the key frames, then the turns. At most
 * `perRequest` images: the key frames (the caller keeps them within perRequest - observation slots),
 * then observation images newest first: the latest observation's images always come before any older
 * one. Images that do not fit are replaced by a short text placeholder.
 */
export function buildMessages(system: string, firstText: string, keyFrames: CellImage[], turns: Turn[], perRequest: number): ChatCompletionMessageParam[] {
  const kept = keyFrames.slice(0, perRequest);
  let room = perRequest - kept.length;
  const allowed = new Set<CellImage>();
  for (let i = turns.length - 1; i >= 0 && room > 0; i--) {
    for (const im of turns[i]!.images) {
      if (room <= 0) break;
      allowed.add(im);
      room--;
    }
  }
  const messages: ChatCompletionMessageParam[] = [
    { role: 'system', content: system },
    {
      role: 'user',
      content: [
        ...kept.map((k): ChatCompletionContentPart => ({ type: 'image_url', image_url: { url: dataUrl(k.png ?? '') } })),
        { type: 'text', text: firstText },
      ],
    },
  ];
  for (const t of turns) {
    messages.push({ role: 'assistant', content: t.assistant });
    const parts: ChatCompletionContentPart[] = [{ type: 'text', text: t.user }];
    for (const im of t.images) {
      if (allowed.has(im) && im.png) parts.push({ type: 'image_url', image_url: { url: dataUrl(im.png) } });
      else parts.push({ type: 'text', text: `[image "${im.label ?? im.index}" omitted to stay within ${perRequest} images per request]` });
    }
    messages.push({ role: 'user', content: parts });
  }
  return messages;
}
