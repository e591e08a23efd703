/**
 * One question, composed and run the same way for `spatialclaw ask`, `spatialclaw demo` and the
 * workbench's Ask: resolve the model and the perception server, check the inputs, create the run folder
 * (`<runs root>/<run id>` in the one run-id scheme of runs/layout.ts, unless the caller names one), then
 * run the sample in the background through `runOne` (agent/runner.ts), pushing every recorded event to
 * the host's event stream.
 */
import { basename, join, resolve } from 'node:path';
import { WorkbenchError } from '../../../shared/api.ts';
import type { InputSpec } from '../../../shared/kernel.ts';
import type { ModelConfig } from '../../../shared/model.ts';
import type { ProfileName } from '../../../shared/profiles.ts';
import { type RunEvent, SAMPLE_PHASE_WORDS, type SampleResult, type SampleSpec, SampleSpecSchema } from '../../../shared/run.ts';
import type { Executor } from '../config/resolve.ts';
import type { SettingsService } from '../config/settings.ts';
import type { ModelLike } from '../agent/loop.ts';
import { agentOptions } from '../agent/options.ts';
import { askRunConfig, runOne, runVersions } from '../agent/runner.ts';
import type { KernelSession } from '../kernel/session.ts';
import { ModelClient } from '../model/client.ts';
import type { ModelRegistry } from '../model/registry.ts';
import { newRunId } from '../runs/layout.ts';
import { RunWriter } from '../runs/writer.ts';
import { errMsg, type HostEvents } from './events.ts';
import { checkInputPaths } from './files.ts';
import type { KernelService } from './kernels.ts';
import type { PerceptionService } from './perception.ts';
import type { RunsService } from './runs.ts';

/** A model that is not an endpoint config (the demo's recorded trajectory), and what run.json records for it. */
export interface ScriptedModel {
  scripted: ModelLike;
  record: Record<string, unknown>;
}

export interface AskSpec {
  question: string;
  choices?: string[] | undefined;
  /** Ground truth, to score the answer. */
  answer?: string | number | undefined;
  inputs: InputSpec[];
  /** The sample id (default "q1"). */
  sampleId?: string;
  /** A model config, the name of one in the model registry (or the model id it serves), or a scripted model. */
  model: ModelConfig | string | ScriptedModel;
  /** Perception target (PerceptionService.resolve): a server name, "local", a URL, or null for none. */
  perception: string | null;
  /** Defaults: the resolved config (flags, environment, settings.json, shared/defaults.ts). */
  profile?: ProfileName | undefined;
  executor?: Executor | undefined;
  maxSteps?: number | undefined;
  plan?: boolean | undefined;
  /** The run folder (`ask --out`); default `<runs root>/<run id>`, the id from `newRunId` (runs/layout.ts). */
  dir?: string | undefined;
  /** What a default run id starts with (`demo` → `demo-YYYYMMDD-HHMMSS-xxxx`); none by default. */
  runIdPrefix?: string | undefined;
  /** What run.json's `config.kind` says (default 'ask'). */
  kind?: 'ask' | 'demo';
  /** Who asks, recorded in run.json's `config.source`. */
  source: 'cli' | 'workbench';
  /** Every event as recorded (image paths, not base64), in order; also pushed to the event stream. */
  onEvent?: (e: RunEvent) => void;
  /**
   * Where the question is before its first step, in words ("starting the Jupyter server", "waiting for a kernel",
   * "preparing inputs", "waiting for the model"); also pushed as `progress` of the task `ask <run id>/<sample id>`.
   * Also each note of the bound inputs (`input note: Metadata: asked for 10000 frames, but the video has only
   * 200: all 200 are bound`; agent/runner.ts `inputNotes`), here only.
   */
  onPhase?: (message: string) => void;
}

/** How a question ended: its recorded result, or why it could not run. */
export interface AskOutcome {
  result: SampleResult | null;
  /** Set when the sample could not run at all (or ended in an error before its first step). */
  error: string | null;
}

export interface AskHandle {
  /** The run folder's name. */
  runId: string;
  sampleId: string;
  /** The run folder. */
  dir: string;
  /** Resolves when the sample is recorded (never rejects). */
  done: Promise<AskOutcome>;
}

/** A sample running in this host now. */
export interface LiveSample {
  runId: string;
  sampleId: string;
  dir: string;
  abort: AbortController;
  /** Its kernel session once prepared (human console cells run in it). */
  session: KernelSession | null;
  startedAt: number;
  /** The step of the last recorded event. */
  step: number;
  usage: { prompt: number; completion: number };
  done: Promise<AskOutcome>;
}

export interface AskDeps {
  settings: SettingsService;
  models: ModelRegistry;
  perception: PerceptionService;
  kernels: KernelService;
  runs: RunsService;
  events: HostEvents;
}

const key = (runId: string, sampleId: string): string => `${runId}/${sampleId}`;

export class AskService {
  private readonly live = new Map<string, LiveSample>();

  constructor(private readonly deps: AskDeps) {}

  /**
   * Start answering a question. Returns once the run folder exists; the sample runs in the background and
   * ends with a `sample_done` event and `done`.
   * @throws WorkbenchError (unknown model, a missing input, an unknown perception server), ModelError (a key
   *   variable unset), PerceptionServerError (a server that cannot be reached or started), SettingsError.
   */
  async start(spec: AskSpec): Promise<AskHandle> {
    const model = this.model(spec.model);
    checkInputPaths(spec.inputs);
    const sample: SampleSpec = SampleSpecSchema.parse({
      id: spec.sampleId ?? 'q1',
      question: spec.question,
      ...(spec.choices?.length ? { choices: spec.choices } : {}),
      ...(spec.answer !== undefined ? { answer: spec.answer } : {}),
      inputs: spec.inputs,
    });
    const client: ModelLike = 'scripted' in model ? model.scripted : new ModelClient(model);
    const perception = await this.deps.perception.resolve(spec.perception);
    const config = this.deps.settings.config();
    const executor = spec.executor ?? config.executor;
    const maxSteps = spec.maxSteps ?? config.maxSteps;
    const options = agentOptions({
      profile: spec.profile ?? config.profile,
      executor,
      maxSteps,
      plan: spec.plan ?? config.plan,
      cellTimeoutS: config.cellTimeoutS,
      sampleTimeoutS: config.sampleTimeoutS,
      model: 'scripted' in model ? null : model,
    });
    const dir = resolve(spec.dir ?? join(this.deps.runs.root, spec.runIdPrefix ? newRunId(spec.runIdPrefix) : newRunId()));
    const runId = basename(dir);
    const writer = await RunWriter.create(dir, {
      config: askRunConfig({
        kind: spec.kind ?? 'ask',
        model: 'scripted' in model ? { record: model.record } : model,
        executor,
        maxSteps,
        agent: options,
        perception: spec.perception,
        perceptionUrl: perception?.url ?? null,
        source: spec.source,
      }),
      versions: runVersions(),
      total_samples: 1,
    });
    const l: LiveSample = {
      runId, sampleId: sample.id, dir, abort: new AbortController(), session: null, startedAt: Date.now(), step: 0, usage: { prompt: 0, completion: 0 }, done: Promise.resolve({ result: null, error: null }),
    };
    this.live.set(key(runId, sample.id), l);
    // Phases in words until the first step (the plan or a cell) is recorded; the timeline takes over from there.
    const report = this.deps.events.progress(`ask ${runId}/${sample.id}`);
    let stepSeen = false;
    let lastPhase = '';
    const say = (message: string, done = false): void => {
      if (message === lastPhase && !done) return;
      lastPhase = message;
      report(message, done);
      if (!done) spec.onPhase?.(message);
    };
    l.done = (async (): Promise<AskOutcome> => {
      let result: SampleResult | null = null;
      let error: string | null = null;
      try {
        if (!(await this.deps.kernels.ifStarted())) say('starting the Jupyter server');
        const runtime = await this.deps.kernels.runtime();
        result = await runOne(sample, {
          runtime,
          onPhase: (_id, phase) => {
            if (phase === null) say('done', true);
            else if (!stepSeen) say(SAMPLE_PHASE_WORDS[phase]);
          },
          model: client,
          writer,
          perception,
          signal: l.abort.signal,
          options,
          onSession: (_id, s) => (l.session = s),
          // Where the bound inputs differ from what was asked (e.g. fewer video frames than --frames).
          onInputNotes: (_id, notes) => {
            for (const n of notes) spec.onPhase?.(`input note: ${n}`);
          },
          onEvent: (_id, e) => {
            if (!stepSeen && (e.type === 'model_call' || e.type === 'plan' || e.type === 'cell' || e.type === 'termination')) {
              stepSeen = true;
              say('first step', true);
            }
            this.onRunEvent(l, e, spec.onEvent);
          },
        });
        await writer.finish('finished');
        if (result.termination === 'error' && result.steps === 0) error = result.error;
      } catch (e) {
        error = errMsg(e);
        await writer.finish('failed').catch(() => undefined);
      } finally {
        this.live.delete(key(runId, sample.id));
        this.deps.runs.forget(dir);
      }
      this.deps.events.emit({ type: 'sample_done', run_id: runId, sample_id: sample.id, result, error });
      return { result, error };
    })();
    return { runId, sampleId: sample.id, dir, done: l.done };
  }

  /** Stop a live sample: abort its loop and interrupt its running cell (it ends with termination "stopped"). @throws WorkbenchError when it is not running */
  stop(runId: string, sampleId: string): void {
    const l = this.live.get(key(runId, sampleId));
    if (!l) throw new WorkbenchError(`sample ${sampleId} of run ${runId} is not running`, 'only a live sample can be stopped (see getRun: live)');
    abortSample(l);
  }

  /** The live sample, if it is running in this host. */
  liveSample(runId: string, sampleId: string): LiveSample | undefined {
    return this.live.get(key(runId, sampleId));
  }

  /** Whether the sample is running in this host. */
  isLive(runId: string, sampleId: string): boolean {
    return this.live.has(key(runId, sampleId));
  }

  /** Stop every live sample (each is recorded as stopped) and wait until they are recorded. */
  async close(): Promise<void> {
    for (const l of this.live.values()) abortSample(l);
    await Promise.allSettled([...this.live.values()].map((l) => l.done));
  }

  /** The model of a spec. @throws WorkbenchError for a name the registry does not know. */
  private model(m: AskSpec['model']): ModelConfig | ScriptedModel {
    if (typeof m !== 'string') return m;
    const entry = this.deps.models.lookup(m);
    if (entry) return entry.config;
    const known = this.deps.models.names();
    throw new WorkbenchError(`unknown model "${m}": no model config of that name in ${this.deps.models.dir}`,
      known.length ? `choose one of ${known.join(', ')} (Settings > Model endpoints)` : 'add a model endpoint in Settings > Model endpoints (or a config file in that folder, docs/models.md)');
  }

  private onRunEvent(l: LiveSample, e: RunEvent, listener: ((e: RunEvent) => void) | undefined): void {
    l.step = e.step;
    listener?.(e);
    const { events } = this.deps;
    events.emit({ type: 'run_event', run_id: l.runId, sample_id: l.sampleId, event: e });
    if (e.type === 'model_call') {
      l.usage.prompt += e.usage.prompt_tokens;
      l.usage.completion += e.usage.completion_tokens;
      events.emit({ type: 'counters', run_id: l.runId, sample_id: l.sampleId, prompt_tokens: l.usage.prompt, completion_tokens: l.usage.completion, elapsed_s: (Date.now() - l.startedAt) / 1000 });
    }
  }
}

function abortSample(l: LiveSample): void {
  l.abort.abort();
  if (l.session) void l.session.kernel.interrupt().catch(() => undefined);
}
