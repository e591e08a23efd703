/**
 * Running samples end to end: a kernel session per sample (from the warm pool), prepared on the
 * sample's inputs with the perception server and a per-sample VLM bridge, the agent loop, and the run
 * record. Used by `spatialclaw ask`, `spatialclaw run` and the workbench.
 */
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { ModelConfig } from '../../../shared/model.ts';
import type { ProfileName } from '../../../shared/profiles.ts';
import type { ModelRequest, RunEvent, SamplePhase, SampleResult, SampleSpec } from '../../../shared/run.ts';
import { VlmBridge } from '../kernel/bridge.ts';
import type { KernelRuntime } from '../kernel/runtime.ts';
import { KernelPrepareError, type KernelSession } from '../kernel/session.ts';
import { secretFrom } from '../config/env.ts';
import { redactConfig } from '../model/config.ts';
import type { PerceptionServer } from '../perception/server.ts';
import { resolvePython, runPython } from '../python.ts';
import { appendInfraError } from '../runs/infra-errors.ts';
import { assertNoSecrets } from '../runs/secrets.ts';
import type { RunWriter } from '../runs/writer.ts';
import { scoreAnswer } from '../runs/scoring.ts';
import { keepArtifact, noteArtifactFailure } from '../workbench/artifacts.ts';
import { type AgentOptions, type ModelLike, runSample } from './loop.ts';
import { agentRecord, DEFAULT_AGENT_OPTIONS, prepareOptions, profileInputs } from './options.ts';
import { modelVlmHandler } from './vlm-handler.ts';

const apiDocCache = new Map<ProfileName, Promise<string>>();

/**
 * The tool reference for the system prompt (`python -m spatial_runtime.apidoc [--profile paper]`), cached per
 * process and profile. The first call starts the one Python process; concurrent callers share its promise (a batch
 * of N workers builds it once, not N times); a failure is not cached.
 */
export function loadApiDoc(profile: ProfileName = 'default'): Promise<string> {
  const cached = apiDocCache.get(profile);
  if (cached) return cached;
  const pending = runPython(resolvePython(), ['-m', 'spatial_runtime.apidoc', ...(profile === 'default' ? [] : ['--profile', profile])], 120_000).then((r) => {
    if (r.code !== 0) throw new Error(`could not generate the tool reference: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
    return r.stdout;
  });
  apiDocCache.set(profile, pending);
  pending.catch(() => apiDocCache.delete(profile));
  return pending;
}

/**
 * The notes in prepare()'s summary of the bound inputs, each as `<variable>: <note>`: the summary's lines are
 * `Name = repr`, a multi-line repr joined with "; ", and a Metadata repr has a `note: …` line (no ";" inside)
 * where what was bound differs from what the input spec asked for (spatial_runtime.inputs.Metadata.notes,
 * e.g. `Metadata: asked for 10000 frames, but the video has only 200: all 200 are bound`).
 */
export function inputNotes(summary: string): string[] {
  const out: string[] = [];
  for (const line of summary.split('\n')) {
    const m = /^(\w+) = (.*)$/.exec(line.trim());
    if (!m) continue;
    for (const n of m[2]!.matchAll(/(?:^|; )note: ([^;]+)/g)) out.push(`${m[1]}: ${n[1]!.trim()}`);
  }
  return out;
}

export interface SampleContext {
  runtime: KernelRuntime;
  model: ModelLike;
  writer: RunWriter;
  perception: PerceptionServer | null;
  perceptionBackends?: { reconstruct?: string; segment?: string };
  options?: Partial<AgentOptions>;
  /** Live view of every event as recorded in events.jsonl (the CLI prints steps as they happen). */
  onEvent?: (sampleId: string, e: RunEvent) => void;
  /**
   * The sample's kernel session, once prepared (the workbench runs human console cells in it). Its
   * `execute` is serialised: a console cell waits for the agent's cell and the other way round.
   */
  onSession?: (sampleId: string, session: KernelSession) => void;
  /**
   * Copy every artifact a tool call records into `samples/<id>/artifacts/<artifact id>/` (default
   * true), so it stays openable after the perception server is gone. Copies finish before the
   * sample's result is recorded. Only artifacts of `perception` are fetched (its token is sent).
   */
  keepArtifacts?: boolean;
  /**
   * The benchmark's per-sample scorer (`spatialclaw eval`: bench/index.ts LiveScorer). Its score replaces the generic
   * one for samples with a `benchmark`, and `scoring` names it in the result.
   */
  scorer?: { scoring: string; score: (id: string, answer: string | number | null) => Promise<number | null> };
  /**
   * Where the sample is (progress: `spatialclaw run`'s phase lines, the workbench): `kernel` before it asks the pool
   * for a kernel, `preparing` while its inputs are bound, `model` while one of the agent's model calls is in flight,
   * `cell` between model calls; `null` once it is recorded.
   */
  onPhase?: (sampleId: string, phase: SamplePhase | null) => void;
  /**
   * The notes of the kernel's input summary ({@link inputNotes}), once the inputs are bound, when there are any:
   * where what was bound differs from what was asked (`spatialclaw ask` prints them).
   */
  onInputNotes?: (sampleId: string, notes: string[]) => void;
  signal?: AbortSignal;
  /**
   * Classify samples hurt by an infrastructure fault (`spatialclaw run`/`eval`): a sample during which the local
   * perception server died (and was restarted) and one of whose tool calls failed for it, one of whose tool calls
   * failed for a remote server that no longer answers /health afterwards, or one that would start while the remote
   * server does not answer /health, is not recorded in samples.jsonl (so not scored; `--resume` redoes it), but listed
   * in infra-errors.jsonl, and this hears it. Without it (one question) such a sample is recorded as it ended.
   */
  onInfraError?: (sampleId: string, error: string) => void;
}

/** A sample given up for an infrastructure fault (see {@link SampleContext.onInfraError}); thrown by {@link runOne}. */
export class InfraFaultError extends Error {
  override name = 'InfraFaultError';
  constructor(readonly sampleId: string, message: string) {
    super(message);
  }
}

/** Cell errors that mean the perception server could not be reached or answered nothing usable. */
const PERCEPTION_FAULT = /^Perception(Unavailable|Error)$/;

/**
 * The model as the sample's loop calls it: when the first call that can be followed by a cell is sent (not the
 * planner's), the kernel finishes loading the runtime (a deferred init's second half, KernelSession.finishWarmUp)
 * while the model thinks; until then that CPU goes to the kernels other samples are waiting for. `onPhase` hears
 * `model`, then `cell`.
 */
function sampleModel(model: ModelLike, session: KernelSession, phase: ((p: SamplePhase) => void) | undefined): ModelLike {
  return {
    chat: async (req) => {
      if (req.role !== 'planner') session.finishWarmUp().catch(() => undefined); // a failure surfaces at the first cell
      phase?.('model');
      try {
        return await model.chat(req);
      } finally {
        phase?.('cell');
      }
    },
  };
}

/** A result with its sample's benchmark fields and, for a benchmark sample, the benchmark's own score. */
async function withBenchmarkScore(result: SampleResult, sample: SampleSpec, ctx: SampleContext): Promise<SampleResult> {
  if (!sample.benchmark) return result;
  const fields = {
    benchmark: sample.benchmark,
    ...(sample.source_id !== undefined ? { source_id: sample.source_id } : {}),
    ...(sample.category !== undefined ? { category: sample.category } : {}),
  };
  if (!ctx.scorer) return { ...result, ...fields };
  return { ...result, ...fields, score: await ctx.scorer.score(sample.id, result.answer), scoring: ctx.scorer.scoring };
}

/** Values of every API-key variable a model config names: they must never reach a run file. */
export function modelSecretValues(cfg: ModelConfig): string[] {
  const names = [cfg.api_key_env, ...(cfg.endpoints ?? []).map((e) => e.api_key_env)];
  return names.map((n) => secretFrom(n)).filter((v): v is string => !!v);
}

/** Versions recorded in run.json. */
export function runVersions(): Record<string, string> {
  return { spatialclaw: '0.1.0', node: process.version };
}

export interface AskRunConfigOptions {
  /** 'ask' (`spatialclaw ask`, the workbench's Ask) or 'demo' (`spatialclaw demo`). */
  kind: 'ask' | 'demo';
  /** The model config (recorded redacted), or what to record for a scripted model (the demo's trajectory). */
  model: ModelConfig | { record: Record<string, unknown> };
  executor: string;
  maxSteps: number;
  /** Every option the sample runs with (recorded as `profile` and `agent`). */
  agent: AgentOptions;
  /** The perception target as asked ("local", a server name, a URL), or null. */
  perception: string | null;
  /** The URL of the server used, or null. */
  perceptionUrl: string | null;
  /** Who asked. */
  source: 'cli' | 'workbench';
}

/**
 * The run.json `config` of a one-question run, the same keys whoever asks: `kind`, `model` (redacted),
 * `executor`, `max_steps`, `profile` (its name), `agent` (every option: {@link agentRecord}), `perception`,
 * `perception_url`, `source`.
 * @throws Error when the value of a key variable would reach the record.
 */
export function askRunConfig(o: AskRunConfigOptions): Record<string, unknown> {
  const cfg = 'record' in o.model ? null : o.model;
  const config = {
    kind: o.kind,
    model: cfg ? redactConfig(cfg) : (o.model as { record: Record<string, unknown> }).record,
    executor: o.executor,
    max_steps: o.maxSteps,
    profile: o.agent.profile.name,
    agent: agentRecord(o.agent),
    perception: o.perception,
    perception_url: o.perceptionUrl,
    source: o.source,
  };
  assertNoSecrets(config, cfg ? modelSecretValues(cfg) : []);
  return config;
}

/**
 * Make `session.execute` run one cell at a time across callers (agent and console).
 * @returns a function that resolves once every queued cell has finished.
 */
function serialiseExecute(session: KernelSession): () => Promise<void> {
  const run = session.execute.bind(session);
  let tail: Promise<unknown> = Promise.resolve();
  session.execute = (code, options) => {
    const p = tail.then(() => run(code, options));
    tail = p.catch(() => undefined);
    return p;
  };
  return async () => {
    let seen: Promise<unknown> | null = null;
    while (seen !== tail) {
      seen = tail;
      await tail;
    }
  };
}

/**
 * Run one sample and record it. Problems preparing the kernel (a missing video, say) end the sample
 * with termination `error` and a clear message; they do not stop a batch.
 */
export async function runOne(asked: SampleSpec, ctx: SampleContext): Promise<SampleResult> {
  // The profile decides how the inputs are bound (every frame, the size rule) and what the kernel does.
  const profile = ctx.options?.profile ?? DEFAULT_AGENT_OPTIONS.profile;
  const sample: SampleSpec = { ...asked, inputs: profileInputs(asked.inputs, profile) };
  const sw = ctx.writer.startSample(sample);
  // A request the record cannot hold (an image that is neither PNG nor JPEG, say) is left out of its event;
  // recording never changes what the agent does.
  const recordRequest = (messages: ChatCompletionMessageParam[], params: Record<string, unknown>): ModelRequest | undefined => {
    try {
      return sw.recordRequest(messages, params);
    } catch {
      return undefined;
    }
  };
  const copies: Promise<void>[] = [];
  const perception = ctx.perception;
  // A local server that is being restarted is waited for; its crashes during this sample are counted. A remote one
  // (a GPU box, a cluster job), which this host cannot restart, must answer /health: a sample started without it would
  // only fail its tool calls and be scored as the model's failure.
  if (perception && ctx.onInfraError) {
    try {
      await perception.ready();
      if (!perception.isLocal) await perception.health();
    } catch (e) {
      sw.abort();
      const error = `infrastructure error: ${e instanceof Error ? e.message : String(e)}` +
        (perception.isLocal ? '' : '; the sample was not started, recorded or scored: --resume redoes it once the server answers');
      appendInfraError(ctx.writer.ownDir, { id: sample.id, t: new Date().toISOString(), error, termination: 'error' });
      throw new InfraFaultError(sample.id, error);
    }
  }
  const crashesAtStart = perception?.crashes.length ?? 0;
  /** The first cell error of this sample that came from the perception server (set by the event sink). */
  const fault: { text: string | null } = { text: null };
  const keep = ctx.keepArtifacts !== false && perception !== null;
  const sink = {
    recordRequest,
    event: (e: RunEvent) => {
      if (e.type === 'cell' && e.result.error && PERCEPTION_FAULT.test(e.result.error.ename)) fault.text ??= `${e.result.error.ename}: ${e.result.error.evalue}`;
      const written = sw.event(e);
      if (keep && e.type === 'artifact' && e.url && e.url.startsWith(`${perception.url}/v1/artifacts/`)) {
        const { id, url } = e;
        copies.push(keepArtifact(sw.dir, id, url, perception.token).then(
          () => undefined,
          (err: unknown) => noteArtifactFailure(sw.dir, id, err instanceof Error ? err.message : String(err)),
        ));
      }
      // Live views get what was recorded: image paths instead of base64, and the image events.
      if (ctx.onEvent) for (const w of written) ctx.onEvent(sample.id, w);
    },
  };
  const phase = ctx.onPhase ? (p: SamplePhase | null) => ctx.onPhase!(sample.id, p) : undefined;
  const bridge = new VlmBridge(modelVlmHandler(ctx.model));
  await bridge.start();
  let drained = 0;
  phase?.('kernel');
  let session: KernelSession;
  try {
    session = await ctx.runtime.openSession();
  } catch (e) {
    phase?.(null);
    sw.abort();
    await bridge.stop();
    throw e;
  }
  phase?.('preparing');
  const drainCells = serialiseExecute(session);
  let result: SampleResult;
  try {
    let inputSummary: string;
    try {
      inputSummary = await session.prepare({
        inputs: sample.inputs,
        ...prepareOptions(profile),
        scratchDir: ctx.runtime.newScratchDir(),
        bridge: { url: bridge.url, token: bridge.token, listenUnix: (path, target) => bridge.listenUnix(path, target) },
        perception: ctx.perception
          ? { url: ctx.perception.url, token: ctx.perception.token, ...(ctx.perceptionBackends ? { backends: ctx.perceptionBackends } : {}) }
          : null,
      });
    } catch (e) {
      const message = e instanceof KernelPrepareError ? e.message : `could not prepare the kernel: ${e instanceof Error ? e.message : String(e)}`;
      const t = new Date().toISOString();
      sink.event({ type: 'sample_start', t, step: 0, sample, executor: ctx.options?.executor ?? 'code' });
      sink.event({ type: 'termination', t, step: 0, reason: 'error', detail: message });
      result = {
        id: sample.id, question: sample.question, ...(sample.choices ? { choices: sample.choices } : {}),
        answer: null, answer_source: 'none', ground_truth: sample.answer ?? null, score: scoreAnswer(null, sample.answer, sample.choices),
        question_type: sample.question_type ?? null, termination: 'error', steps: 0, parse_failures: 0,
        usage: { prompt_tokens: 0, completion_tokens: 0 }, model_calls: 0, duration_s: 0, error: message, started_at: t, finished_at: t,
      };
      result = await withBenchmarkScore(result, sample, ctx);
      await sw.finish(result);
      return result;
    }
    const notes = inputNotes(inputSummary);
    if (notes.length) ctx.onInputNotes?.(sample.id, notes);
    ctx.onSession?.(sample.id, session);
    result = await runSample({
      sample,
      session,
      inputSummary,
      model: sampleModel(ctx.model, session, phase),
      apiDoc: await loadApiDoc(profile.kernel.name),
      sink,
      ...(ctx.options ? { options: ctx.options } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      drainVlmCalls: () => {
        const fresh = bridge.calls.slice(drained);
        drained = bridge.calls.length;
        for (const c of fresh) {
          // Recorded once, then the base64 images are let go.
          if (c.sent) c.request = recordRequest(c.sent.messages, c.sent.params);
          delete c.sent;
        }
        return fresh;
      },
    });
    // The artifacts belong to the record: copy them before the sample counts as done.
    await Promise.all(copies);
    const crashes = perception?.crashes.slice(crashesAtStart) ?? [];
    let infraError: string | null = null;
    if (ctx.onInfraError && perception && fault.text !== null) {
      if (crashes.length > 0) {
        infraError = `infrastructure error: the local perception server at ${perception.url} died during this sample ` +
          `(exited ${crashes.map((c) => c.how).join(', then ')}; restarted) and a tool call failed for it (${fault.text.slice(0, 300)}); ` +
          'not recorded or scored: --resume redoes it';
      } else if (!perception.isLocal) {
        // A remote server cannot be watched: one that does not answer /health after a tool call failed for it was lost
        // during the sample (one that answers again was a passing fault, and the sample stands as it ended).
        const lost = await perception.health().then(() => null, (e: unknown) => (e instanceof Error ? e.message : String(e)));
        if (lost !== null) {
          infraError = `infrastructure error: a tool call failed (${fault.text.slice(0, 300)}) and the perception server no longer ` +
            `answers: ${lost}; not recorded or scored: --resume redoes it once the server answers`;
        }
      }
    }
    if (infraError !== null) {
      // Not the model's doing: left unfinished (aborted below), listed, redone by --resume.
      const error = infraError;
      appendInfraError(ctx.writer.ownDir, { id: sample.id, t: new Date().toISOString(), error, termination: result.termination });
      throw new InfraFaultError(sample.id, error);
    }
    result = await withBenchmarkScore(result, sample, ctx);
    await sw.finish(result);
    return result;
  } finally {
    // A sample that did not finish (host error, abort) is left for --resume to redo from scratch.
    if (sw.status === 'open') sw.abort();
    phase?.(null);
    await drainCells(); // a console cell still running in this kernel finishes first
    await ctx.runtime.closeSession(session).catch(() => undefined);
    await bridge.stop();
  }
}

/**
 * Run samples with `concurrency` workers (each its own kernel from the pool), skipping those the
 * writer already has (resume). `onDone` is called after each sample is safely recorded.
 */
export async function runBatch(
  samples: SampleSpec[],
  ctx: SampleContext & {
    concurrency: number;
    onDone?: (r: SampleResult, done: number, total: number) => void;
    /** When aborted, no new sample starts; samples in flight go on (unlike `signal`, which stops them). */
    drain?: AbortSignal;
  },
): Promise<SampleResult[]> {
  const todo = samples.filter((s) => !ctx.writer.doneIds.has(s.id));
  const results: SampleResult[] = [];
  let next = 0;
  let done = samples.length - todo.length;
  const worker = async (): Promise<void> => {
    while (next < todo.length && !ctx.signal?.aborted && !ctx.drain?.aborted) {
      const sample = todo[next++]!;
      let r: SampleResult;
      try {
        r = await runOne(sample, ctx);
      } catch (e) {
        if (!(e instanceof InfraFaultError)) throw e;
        ctx.onInfraError?.(e.sampleId, e.message);
        continue;
      }
      results.push(r);
      done++;
      ctx.onDone?.(r, done, samples.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(ctx.concurrency, todo.length)) }, worker));
  return results;
}
