/**
 * The code-as-action loop for one sample: plan, then act (the model writes a cell), check, execute,
 * observe, until ReturnAnswer, the step budget, or too many consecutive failures; then the answer
 * fallbacks. Everything is written to the sample's event journal.
 *
 * The loop owns the control flow; every text the model reads comes from the profile's policy
 * (`policyFor(profile)`, ./policy.ts), and the profile's options (shared/profiles.ts) decide the rest:
 * how many key frames and which, whether requests have an image cap, what counts as a failure, whether
 * an answer from a failing cell ends the sample, and (through the policy) what a failed cell leaves behind.
 */
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { CellImage } from '../../../shared/kernel.ts';
import type { ChatResult, Role, Usage } from '../../../shared/model.ts';
import { keyFrameSlots } from '../../../shared/profiles.ts';
import type { ModelRequest, RunEvent, SampleResult, SampleSpec, Termination } from '../../../shared/run.ts';
import type { BridgeCall } from '../kernel/bridge.ts';
import type { KernelSession } from '../kernel/session.ts';
import { type ModelAttempt, ModelError } from '../model/client.ts';
import { scoreAnswer } from '../runs/scoring.ts';
import { runCellStep } from './cell-step.ts';
import { buildMessages } from './messages.ts';
import { type AgentOptions, DEFAULT_AGENT_OPTIONS, keyFrameSelection } from './options.ts';
import { type ParsedStep, StepParseError } from './parse.ts';
import { type HistoryTurn, type LoopPolicy, type PolicyContext, policyFor } from './policy.ts';

export { type AgentOptions, DEFAULT_AGENT_OPTIONS } from './options.ts';
export { buildMessages } from './messages.ts';

/** What the loop needs from a model: the ModelClient, or a trajectory player for the demo. */
export interface ModelLike {
  chat(req: { role: Role; messages: ChatCompletionMessageParam[]; sampleKey?: string; signal?: AbortSignal; onAttempt?: (a: ModelAttempt) => void }): Promise<ChatResult>;
}

/** Where events go: the run store's SampleWriter (and, through `onEvent`, the live display). */
export interface EventSink {
  event(e: RunEvent): void;
  /** Record what a model call sent (SampleWriter.recordRequest): the `request` of its model_call event, or undefined. */
  recordRequest?(messages: ChatCompletionMessageParam[], params: Record<string, unknown>): ModelRequest | undefined;
}

export interface RunSampleArgs {
  sample: SampleSpec;
  /** A kernel session already prepared on the sample's inputs. */
  session: KernelSession;
  /** What prepare() bound (shown to the planner and in the first message). */
  inputSummary: string;
  model: ModelLike;
  /** `python -m spatial_runtime.apidoc` output (for the profile's kernel). */
  apiDoc: string;
  sink: EventSink;
  options?: Partial<AgentOptions>;
  signal?: AbortSignal;
  /** Calls the kernel made through the VLM bridge since the last drain (recorded as model_call events). */
  drainVlmCalls?: () => BridgeCall[];
}

const now = (): string => new Date().toISOString();
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A model call's result with what it sent, as recorded. */
type Called = ChatResult & { request?: ModelRequest };

/** A failed model call the original would retry forever (connection refused or reset, a timeout): not a failure of the model. */
const transient = (e: unknown): boolean => e instanceof ModelError && (e.kind === 'connection' || e.kind === 'timeout');

/**
 * A model call that failed, after its retries, because the endpoint did not serve it (timeout, connection, 429, 5xx,
 * aborted): asking the same endpoint again in this sample would only repeat the retries. A 4xx such as a context
 * length error is not: a smaller request (the fallback's) may pass.
 */
const endpointDown = (e: unknown): boolean =>
  e instanceof ModelError && (transient(e) || e.kind === 'aborted' || (e.kind === 'http' && e.status !== null && (e.status === 429 || e.status >= 500)));

/** Run the agent on one sample; never throws for model or cell problems (they end up in the record). */
export async function runSample(args: RunSampleArgs): Promise<SampleResult> {
  return new SampleLoop(args).run();
}

class SampleLoop {
  private readonly o: AgentOptions;
  private readonly startedAt = now();
  private readonly t0 = performance.now();
  private readonly usage: Usage = { prompt_tokens: 0, completion_tokens: 0, reasoning_tokens: 0 };
  private modelCalls = 0;
  private step = 0;
  private termination: Termination = 'max_steps';
  private detail: string | null = null;
  private answer: string | number | null = null;
  private answerSource: SampleResult['answer_source'] = 'none';
  private lastSubmitted: string | number | null = null;
  private parseFailures = 0;
  private failures = 0;
  private imagesUsed = 0;
  private error: string | null = null;
  private readonly turns: HistoryTurn[] = [];
  /** Aborted by the caller's signal or by the sample deadline; what the model calls and the loop watch. */
  private readonly signal: AbortSignal | undefined;
  private readonly deadline = new AbortController();
  /** performance.now() at which the sample's wall-clock budget ends (Infinity without one). */
  private readonly deadlineAt: number;
  private timedOut = false;
  /** The last model call failed because its endpoint did not serve it (see endpointDown): the fallback call is skipped. */
  private modelDown = false;

  constructor(private readonly args: RunSampleArgs) {
    this.o = { ...DEFAULT_AGENT_OPTIONS, ...args.options };
    if (this.o.executor === 'single_pass') this.o.maxSteps = 1;
    const limit = this.o.sampleTimeoutS;
    this.deadlineAt = limit ? this.t0 + limit * 1000 : Infinity;
    this.signal = limit ? (args.signal ? AbortSignal.any([args.signal, this.deadline.signal]) : this.deadline.signal) : args.signal;
  }

  private emit(e: RunEvent): void {
    this.args.sink.event(e);
  }

  private async call(role: Role, messages: ChatCompletionMessageParam[]): Promise<Called> {
    const onAttempt = (a: ModelAttempt): void => {
      if (a.error === null) return; // the answered attempt is the model_call event
      this.emit({
        type: 'model_attempt', t: now(), step: this.step, role, endpoint: a.endpoint, attempt: a.attempt, duration_ms: a.durationMs,
        error: a.error, kind: a.kind ?? 'connection', status: a.status, will_retry: a.willRetry,
      });
    };
    const r = await this.args.model.chat({ role, messages, sampleKey: this.args.sample.id, onAttempt, ...(this.signal ? { signal: this.signal } : {}) });
    this.modelCalls++;
    this.usage.prompt_tokens += r.usage.prompt_tokens;
    this.usage.completion_tokens += r.usage.completion_tokens;
    this.usage.reasoning_tokens = (this.usage.reasoning_tokens ?? 0) + (r.usage.reasoning_tokens ?? 0);
    // What was sent is recorded before its model_call event, so the event's request resolves as soon as it exists.
    const request = this.args.sink.recordRequest?.(messages, r.sent?.params ?? {});
    return request ? { ...r, request } : r;
  }

  private modelEvent(role: Role, r: Called, parsed: Record<string, string> | null, parseError: string | null): void {
    this.emit({
      type: 'model_call', t: now(), step: this.step, role, endpoint: r.endpoint, latency_ms: r.latencyMs, attempts: r.attempts,
      usage: r.usage, raw: r.raw, reasoning: r.reasoning, parsed, parse_error: parseError, ...(r.request ? { request: r.request } : {}),
    });
  }

  private setAnswer(answer: string | number, source: SampleResult['answer_source'], event: string = source): void {
    this.answer = answer;
    this.answerSource = source;
    this.emit({ type: 'answer', t: now(), step: this.step, answer, source: event });
  }

  async run(): Promise<SampleResult> {
    const { sample } = this.args;
    this.emit({ type: 'sample_start', t: now(), step: 0, sample, executor: this.o.executor });
    const timer = Number.isFinite(this.deadlineAt)
      ? setTimeout(() => {
        this.timedOut = true;
        this.deadline.abort();
      }, Math.min(2 ** 31 - 1, this.deadlineAt - performance.now())) // setTimeout's longest delay (about 24.8 days)
      : null;
    try {
      const policy = policyFor(this.o.profile);
      const ctx: PolicyContext = {
        sample, executor: this.o.executor, maxSteps: this.o.maxSteps, apiDoc: this.args.apiDoc, inputSummary: this.args.inputSummary,
        keyFrames: await this.keyFrames(), profile: this.o.profile,
      };
      const plan = await this.plan(policy, ctx);
      const system = policy.systemPrompt(ctx);
      const opening = policy.openingMessages(ctx, plan);
      while (this.step < this.o.maxSteps) {
        if (this.signal?.aborted) {
          this.termination = 'stopped';
          break;
        }
        if (await this.oneStep(policy, ctx, system, opening)) break;
      }
      if (this.timedOut) this.timeUp();
      if (this.termination === 'max_steps') this.detail = `no ReturnAnswer within ${this.o.maxSteps} steps`;
      await this.fallback(policy, ctx);
    } catch (e) {
      this.error = message(e);
      this.termination = 'error';
      this.detail = this.error;
      if (this.timedOut) this.timeUp();
    } finally {
      if (timer) clearTimeout(timer);
    }
    this.emit({ type: 'termination', t: now(), step: this.step, reason: this.termination, detail: this.detail });
    return this.result();
  }

  /** The sample's wall-clock budget ran out: it ends as an error that says so (the caller's stop is not overridden). */
  private timeUp(): void {
    if (this.args.signal?.aborted) return;
    const what = `the sample ran out of time: its deadline of ${this.o.sampleTimeoutS} s (sample_timeout_s, --sample-timeout) passed during step ${this.step}`;
    this.termination = 'error';
    this.error = what;
    this.detail = what;
  }

  /** The key frames of the first message: the profile's count and selection (with a cap, never the observation images' slots). */
  private async keyFrames(): Promise<CellImage[]> {
    const p = this.o.profile;
    // A benchmark may set its own key-frame count (MMSI-Video 64, CV-Bench 32 per video); the request's image cap still applies.
    const wanted = this.args.sample.key_frames ?? p.key_frames;
    const count = p.images_per_request === null ? wanted : keyFrameSlots(wanted, p.images_per_request, p.observation_slots ?? 0);
    return count > 0 ? this.args.session.keyFrames(count, this.o.maxLongEdge, keyFrameSelection(p, this.args.sample.inputs)) : [];
  }

  /** The planner call, when the run asks for one and the policy has one; its failure is not fatal. */
  private async plan(policy: LoopPolicy, ctx: PolicyContext): Promise<string | null> {
    const messages = this.o.plan ? policy.plannerMessages(ctx) : null;
    if (!messages) return null;
    try {
      const r = await this.call('planner', messages);
      this.modelEvent('planner', r, null, null);
      const plan = r.content.trim() || null;
      this.emit({ type: 'plan', t: now(), step: 0, text: plan, error: null });
      return plan;
    } catch (e) {
      this.emit({ type: 'plan', t: now(), step: 0, text: null, error: message(e) });
      // With a policy where a failed model call ends the sample, an endpoint that failed the planner (after its
      // retries) ends it now: the main call would only repeat those retries (a call sends 1 + max_retries requests).
      if (endpointDown(e) && policy.modelErrorMessage(e) === null) {
        this.modelDown = true;
        throw new Error(`model call failed (planner): ${message(e)}`, { cause: e });
      }
      return null;
    }
  }

  /** One step: a main call, its parse, the cell. @returns true when the sample ends. */
  private async oneStep(policy: LoopPolicy, ctx: PolicyContext, system: string, opening: ChatCompletionMessageParam[]): Promise<boolean> {
    const p = this.o.profile;
    this.step++;
    const messages = buildMessages(system, opening, this.turns, p.images_per_request);
    let r: Called;
    try {
      r = await this.call('main', messages);
      this.modelDown = false;
    } catch (e) {
      this.modelDown = endpointDown(e);
      return this.modelFailed(policy, ctx, e, messages);
    }
    let parsed: ParsedStep;
    try {
      parsed = policy.parseStep(ctx, r.content);
    } catch (e) {
      const problem = e instanceof StepParseError ? e.message : String(e);
      this.parseFailures++;
      this.failures++;
      this.modelEvent('main', r, null, problem);
      const skipped = policy.skippedObservation(ctx, this.step, 'format');
      if (skipped !== null) this.emit({ type: 'observation', t: now(), step: this.step, text: skipped, images: [] });
      this.turns.push({ ...policy.formatError(ctx, r.content, problem), images: [], ...(skipped !== null ? { skipped } : {}) });
      return this.failureStop(problem);
    }
    this.modelEvent('main', r, { ...parsed }, null);
    if (!p.cell_errors_count) this.failures = 0; // any parsed reply resets

    const step = await runCellStep({
      session: this.args.session, policy, ctx, cellTimeoutS: this.cellTimeout(), emit: (e) => this.emit(e), drainVlmCalls: this.args.drainVlmCalls,
      countCall: (u) => {
        this.usage.prompt_tokens += u.prompt_tokens;
        this.usage.completion_tokens += u.completion_tokens;
        this.modelCalls++;
      },
    }, parsed.code, this.step, { used: this.imagesUsed });
    const { cell } = step;
    this.imagesUsed += step.attached.length;
    const failed = cell.status !== 'ok';
    if (cell.answer) {
      if (!failed || p.answer_on_error) {
        this.termination = 'answered';
        this.setAnswer(cell.answer.answer, 'return_answer');
        return true;
      }
      this.lastSubmitted = cell.answer.answer;
    }
    const assistant = failed ? policy.condensedStep(ctx, r.content, parsed, cell) : policy.assistantMessage(ctx, r.content, parsed);
    this.turns.push({ assistant, user: step.text, images: step.attached });
    if (!p.cell_errors_count) return false;
    this.failures = failed ? this.failures + 1 : 0;
    return this.failureStop(`${cell.status}${cell.error ? `: ${cell.error.ename}` : ''}`);
  }

  /** The cell's timeout, s: the configured one, cut to the time left before the sample's deadline (at least 1 s). */
  private cellTimeout(): number {
    const left = (this.deadlineAt - performance.now()) / 1000;
    return Math.max(1, Math.min(this.o.cellTimeoutS, Math.ceil(left)));
  }

  /**
   * A main call that failed after the client's retries. Default: the sample ends (`error`). With a policy that
   * keeps going (paper), the step is used: a placeholder and a "skipped" observation enter the history, and the
   * failure counts unless it was transient.
   */
  private modelFailed(policy: LoopPolicy, ctx: PolicyContext, e: unknown, messages: ChatCompletionMessageParam[]): boolean {
    const what = `model call failed: ${message(e)}`;
    const placeholder = policy.modelErrorMessage(e);
    if (placeholder === null) {
      this.error = what;
      this.termination = 'error';
      this.detail = what;
      return true;
    }
    if (this.signal?.aborted) {
      this.termination = 'stopped';
      return true;
    }
    const request = this.args.sink.recordRequest?.(messages, {});
    const err = e instanceof ModelError ? e : null;
    this.emit({
      type: 'model_call', t: now(), step: this.step, role: 'main', endpoint: err?.endpoint ?? 'unknown', latency_ms: 0, attempts: err?.attempts ?? 0,
      usage: { prompt_tokens: 0, completion_tokens: 0 }, raw: '', reasoning: null, parsed: null, parse_error: what, ...(request ? { request } : {}),
    });
    const observation = policy.skippedObservation(ctx, this.step, 'model') ?? '';
    this.emit({ type: 'observation', t: now(), step: this.step, text: observation, images: [] });
    this.turns.push({ assistant: placeholder, user: observation, images: [] });
    if (!transient(e)) this.failures++;
    return this.failureStop(what);
  }

  /** Whether the failures in a row end the sample (with the profile's step_budget_first, the budget's reason wins on the last step). */
  private failureStop(last: string): boolean {
    const p = this.o.profile;
    if (this.failures < p.max_consecutive_failures) return false;
    if (p.step_budget_first && this.step >= this.o.maxSteps) return false; // ends as max_steps
    this.termination = 'consecutive_failures';
    this.detail = `${this.failures} failed steps in a row (last: ${last})`;
    return true;
  }

  /** The fallbacks: the last submitted answer, else the policy's answer call, else its salvage from the history. */
  private async fallback(policy: LoopPolicy, ctx: PolicyContext): Promise<void> {
    if (this.answer !== null) return;
    if (this.lastSubmitted !== null) {
      this.setAnswer(this.lastSubmitted, 'last_submitted');
      return;
    }
    if (this.termination === 'stopped' || this.timedOut) return;
    const messages = policy.fallbackMessages(ctx, this.turns);
    // An endpoint that just failed the main call (after its retries: timeout, connection, 429, 5xx) is not asked again.
    if (messages.length && this.modelDown) {
      this.error ??= 'direct-answer fallback skipped: the model endpoint did not answer the last call';
    } else if (messages.length) {
      try {
        const r = await this.call('fallback', messages);
        this.modelEvent('fallback', r, null, null);
        const found = policy.fallbackAnswer(r.content);
        if (found !== null) {
          this.setAnswer(found, 'direct_answer');
          return;
        }
      } catch (e) {
        this.error ??= `direct-answer fallback failed: ${message(e)}`;
      }
    }
    const salvaged = policy.salvageAnswer(ctx, this.turns);
    if (salvaged !== null) {
      // The result has no source for it: `none`, with the answer event's source and the detail saying where it came from.
      this.setAnswer(salvaged, 'none', 'salvage');
      this.detail = `${this.detail ?? this.termination}; answer salvaged from the history`;
    }
  }

  private result(): SampleResult {
    const { sample } = this.args;
    return {
      id: sample.id,
      question: sample.question,
      ...(sample.choices ? { choices: sample.choices } : {}),
      answer: this.answer,
      answer_source: this.answerSource,
      ground_truth: sample.answer ?? null,
      score: scoreAnswer(this.answer, sample.answer, sample.choices),
      question_type: sample.question_type ?? null,
      termination: this.termination,
      steps: this.step,
      parse_failures: this.parseFailures,
      usage: this.usage,
      model_calls: this.modelCalls,
      duration_s: (performance.now() - this.t0) / 1000,
      error: this.error,
      started_at: this.startedAt,
      finished_at: now(),
    };
  }
}
