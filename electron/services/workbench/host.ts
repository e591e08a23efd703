/**
 * The workbench host: one implementation of every method of the workbench contract
 * (shared/workbench.ts), shared by the Electron main process and `spatialclaw serve`. Transports
 * validate the arguments, call `handlers[method](args)`, and forward `onEvent` events.
 *
 * Nothing heavy starts in `create()`: the kernel runtime (Jupyter server + warm pool), the preview
 * helper and perception servers start on first use, and `close()` stops what this host started.
 *
 * Errors: a {@link WorkbenchError} (message + fix) for anything the user can correct (unknown run or
 * model, missing file, bad date, ...); anything else is a host fault.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { WorkbenchError } from '../../../shared/api.ts';
import type { CellImage, CellResult, InputSpec } from '../../../shared/kernel.ts';
import type { ModelConfig } from '../../../shared/model.ts';
import { type RunEvent, type SampleSpec, SampleSpecSchema } from '../../../shared/run.ts';
import type { DirListing, HostEvent, ModelEntry, PerceptionEntry, WorkbenchHandlers } from '../../../shared/workbench.ts';
import { askRunConfig, modelAgentOptions, runOne, runVersions } from '../agent/runner.ts';
import { runDoctor } from '../doctor.ts';
import { KernelRuntime } from '../kernel/runtime.ts';
import { KernelPrepareError, type KernelSession } from '../kernel/session.ts';
import { ModelClient, ModelError } from '../model/client.ts';
import { listModelConfigs, loadModelConfig, ModelConfigError, modelsDir, parseModelConfig } from '../model/config.ts';
import { connectRegistered, loadRegistry, register, unregister } from '../perception/registry.ts';
import { PerceptionServer, PerceptionServerError } from '../perception/server.ts';
import { isRunLive, listRuns, newRunId, readRunInfo, readSampleEvents, RUN_JSON, RunWriter, runsRoot } from '../runs/store.ts';
import { ArtifactNotKeptError, keptArrayPath, readKeptManifest } from './artifacts.ts';
import { PreviewError, PreviewProcess } from './preview.ts';
import { accuracy, appendConsole, filterRuns, pageSamples, QueryError, readConsole, SampleCache, sampleDir, toRunRow } from './runs.ts';
import { loadSettings, saveSettings, SettingsError } from './settings.ts';

export interface WorkbenchHostOptions {
  /** Where runs are created and listed (default `runsRoot()`: `<data dir>/runs`). */
  runsRoot?: string;
  /** Close a console replay kernel after this long unused (default 10 min). */
  replayIdleMs?: number;
}

interface LiveSample {
  runId: string;
  sampleId: string;
  dir: string;
  abort: AbortController;
  session: KernelSession | null;
  startedAt: number;
  step: number;
  usage: { prompt: number; completion: number };
  done: Promise<void>;
}

interface ReplayState {
  session: KernelSession;
  step: number;
  timer: NodeJS.Timeout | null;
}

interface LocalPerception {
  server: PerceptionServer;
  backends: string[];
}

const key = (runId: string, sampleId: string): string => `${runId}/${sampleId}`;
const errMsg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Map service errors the user can fix to WorkbenchError (message + fix); others pass through. */
export function toWorkbenchError(e: unknown): unknown {
  if (e instanceof WorkbenchError) return e;
  if (e instanceof ModelConfigError) return new WorkbenchError(e.message, 'add or fix the model in Settings > Model endpoints (listModels shows the configured names)');
  if (e instanceof ModelError && e.kind === 'config') return new WorkbenchError(e.message, 'export the named environment variable before starting the workbench, or edit the model config');
  if (e instanceof PerceptionServerError) return new WorkbenchError(e.message, 'check Settings > Perception servers (start a local one, or fix the URL / token variable)');
  if (e instanceof SettingsError || e instanceof QueryError) return new WorkbenchError(e.message, e.fix);
  if (e instanceof PreviewError) return new WorkbenchError(e.message, 'pick another file or folder, or fix the one named');
  if (e instanceof ArtifactNotKeptError) {
    return new WorkbenchError(e.message, 'run the question again with a perception server: artifacts are copied into the run by default (`spatialclaw run` without --no-artifacts)');
  }
  return e;
}

/** A config file name for a model id ("Qwen/Qwen2.5-VL-7B" → "Qwen_Qwen2.5-VL-7B"). */
export function modelFileStem(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return s.slice(0, 120) || 'model';
}

/** The paths an input names that must exist on this host, with what they are. */
function inputPaths(inp: InputSpec): [string, string][] {
  const out: [string, string][] = [[inp.path, inp.kind === 'video' ? 'video' : inp.kind === 'images' ? 'image file or folder' : inp.kind === 'rgbd' ? 'colour folder' : 'RGB-D sample folder']];
  if (inp.kind === 'rgbd') {
    out.push([inp.depth, 'depth folder'], [inp.camera, 'camera file']);
    if (inp.poses) out.push([inp.poses, 'poses file']);
  }
  return out;
}

/** List a folder for the path picker: folders first, then files, names in natural order; hidden entries skipped. */
export function listDirectory(path: string | null): DirListing {
  const dir = resolve(path ?? homedir());
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new WorkbenchError(`${dir} does not exist`, 'pick an existing folder (listDir with null lists the home folder)');
  }
  if (!st.isDirectory()) throw new WorkbenchError(`${dir} is a file, not a folder`, `list its folder instead: ${dirname(dir)}`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new WorkbenchError(`${dir} cannot be read (${(e as NodeJS.ErrnoException).code ?? errMsg(e)})`, 'pick a folder you have permission to read');
  }
  const entries: DirListing['entries'] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    try {
      const s = statSync(p); // follows links: a link to a folder is a folder
      entries.push({ name, path: p, kind: s.isDirectory() ? 'dir' : 'file', size: s.isDirectory() ? null : s.size });
    } catch {
      // a broken link or a file that vanished: not pickable
    }
  }
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  entries.sort((a, b) => (a.kind === b.kind ? collator.compare(a.name, b.name) : a.kind === 'dir' ? -1 : 1));
  const parent = dirname(dir);
  return { path: dir, parent: parent === dir ? null : parent, entries };
}

export class WorkbenchHost {
  readonly handlers: WorkbenchHandlers;
  readonly root: string;
  private readonly listeners = new Set<(e: HostEvent) => void>();
  private readonly live = new Map<string, LiveSample>();
  private readonly replays = new Map<string, Promise<ReplayState>>();
  private readonly consoleLocks = new Map<string, Promise<unknown>>();
  private readonly locals = new Map<string, LocalPerception>();
  private readonly samples = new SampleCache();
  private readonly replayIdleMs: number;
  private runtimeP: Promise<KernelRuntime> | null = null;
  private preview: PreviewProcess | null = null;
  private closed = false;

  private constructor(opts: WorkbenchHostOptions) {
    this.root = resolve(opts.runsRoot ?? runsRoot());
    this.replayIdleMs = opts.replayIdleMs ?? 10 * 60_000;
    const h: WorkbenchHandlers = {
      doctor: () => runDoctor(),
      listDir: async ({ path }) => listDirectory(path),
      previewInputs: async ({ inputs }) => {
        for (const inp of inputs) this.checkInputPaths(inp);
        return this.previewProcess().preview(inputs);
      },
      frameImage: async ({ input, frame_index, max_edge }) => {
        this.checkInputPaths(input);
        return this.previewProcess().frame(input, frame_index, max_edge);
      },
      ask: (req) => this.ask(req),
      stop: async ({ run_id, sample_id }) => {
        const l = this.live.get(key(run_id, sample_id));
        if (!l) throw new WorkbenchError(`sample ${sample_id} of run ${run_id} is not running`, 'only a live sample can be stopped (see getRun: live)');
        l.abort.abort();
        if (l.session) void l.session.kernel.interrupt().catch(() => undefined);
        return { ok: true as const };
      },
      listRuns: async (q) => {
        const rows = listRuns(this.root).map((e) => ({ row: toRunRow(e), dataset: typeof e.info?.config['dataset'] === 'string' ? (e.info.config['dataset'] as string) : null }));
        return filterRuns(rows, q);
      },
      getRun: async ({ run_id }) => {
        const dir = this.runDir(run_id);
        const info = readRunInfo(dir);
        const rows = this.samples.rows(dir);
        return { id: run_id, info, done: rows.length, accuracy: accuracy(rows), live: isRunLive(dir) };
      },
      listSamples: async (q) => pageSamples(this.samples.rows(this.runDir(q.run_id)), q),
      sampleEvents: async ({ run_id, sample_id }) => {
        const dir = this.sampleFolder(run_id, sample_id);
        return { events: readSampleEvents(this.runDir(run_id), sample_id), console: readConsole(this.runDir(run_id), sample_id), live: this.live.has(key(run_id, sample_id)) && existsSync(dir) };
      },
      sampleImage: async ({ run_id, sample_id, path }) => {
        const dir = this.sampleFolder(run_id, sample_id);
        const file = resolve(dir, path);
        if (!file.startsWith(join(dir, 'images') + sep)) throw new WorkbenchError(`${path} is not inside the sample's images/ folder`, 'use a path from an image event, e.g. images/step001_1.png');
        if (!existsSync(file)) throw new WorkbenchError(`no image ${path} in sample ${sample_id} of run ${run_id}`, 'use a path from the sample\'s image events (sampleEvents)');
        return new Uint8Array(readFileSync(file));
      },
      consoleCell: ({ run_id, sample_id, code }) => this.consoleCell(run_id, sample_id, code),
      artifactManifest: async ({ run_id, sample_id, artifact_id }) => readKeptManifest(this.sampleFolder(run_id, sample_id), artifact_id),
      artifactArray: async ({ run_id, sample_id, artifact_id, name }) => new Uint8Array(readFileSync(keptArrayPath(this.sampleFolder(run_id, sample_id), artifact_id, name))),
      listModels: async () => this.listModels(),
      saveModel: async ({ config }) => this.saveModel(config),
      testModel: async ({ name }) => {
        const { config } = this.findModel(name);
        const client = new ModelClient(config);
        const health = await client.checkHealth();
        const endpoints = health.map((r) => ({
          base_url: r.base_url,
          ok: r.ok,
          latency_ms: r.status === null && !r.ok ? null : Math.round(r.latencyMs),
          error: r.ok ? null : `${r.error ?? `HTTP ${r.status}`}; check that the server runs and the URL ends in /v1`,
        }));
        return { ok: endpoints.length > 0 && endpoints.every((e) => e.ok), endpoints };
      },
      removeModel: async ({ name }) => {
        rmSync(this.findModel(name).file);
        return { ok: true as const };
      },
      listPerception: () => this.listPerception(),
      startLocalPerception: ({ backends }) => this.startLocalPerception(backends),
      addPerception: async ({ name, url, token_env }) => {
        if (this.locals.has(name)) throw new WorkbenchError(`${name} is the name of a perception server this workbench started`, 'choose another name');
        register({ name, url, tokenEnv: token_env });
        return this.registeredEntry({ name, url, tokenEnv: token_env });
      },
      removePerception: async ({ name }) => {
        const l = this.locals.get(name);
        if (l) {
          this.locals.delete(name);
          await l.server.stop();
          return { ok: true as const };
        }
        if (!unregister(name)) throw new WorkbenchError(`no perception server called ${name}`, 'pick a name from listPerception');
        return { ok: true as const };
      },
      getSettings: async () => loadSettings(),
      saveSettings: async (s) => saveSettings(s),
    };
    // Every handler maps the errors a user can fix to WorkbenchError.
    const guarded = {} as Record<string, (a: unknown) => Promise<unknown>>;
    for (const [name, fn] of Object.entries(h) as [string, (a: unknown) => Promise<unknown>][]) {
      guarded[name] = async (a: unknown) => {
        if (this.closed) throw new WorkbenchError('the workbench host is shutting down', 'restart the workbench');
        try {
          return await fn(a);
        } catch (e) {
          throw toWorkbenchError(e);
        }
      };
    }
    this.handlers = guarded as unknown as WorkbenchHandlers;
  }

  /** A host over `opts.runsRoot`. Cheap: kernels, helpers and servers start when first needed. */
  static async create(opts: WorkbenchHostOptions = {}): Promise<WorkbenchHost> {
    const host = new WorkbenchHost(opts);
    mkdirSync(host.root, { recursive: true });
    return host;
  }

  /** Receive host events; returns the unsubscribe function. */
  onEvent(listener: (e: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: HostEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        console.error(`workbench: an event listener failed: ${errMsg(err)}`);
      }
    }
  }

  /** Stop live samples (recorded as stopped), replay kernels, the kernel runtime, local perception servers and the preview helper. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.live.values()) {
      l.abort.abort();
      if (l.session) void l.session.kernel.interrupt().catch(() => undefined);
    }
    await Promise.allSettled([...this.live.values()].map((l) => l.done));
    const runtime = this.runtimeP ? await this.runtimeP.catch(() => null) : null;
    for (const p of this.replays.values()) {
      const r = await p.catch(() => null);
      if (r) {
        if (r.timer) clearTimeout(r.timer);
        if (runtime) await runtime.closeSession(r.session).catch(() => undefined);
      }
    }
    this.replays.clear();
    await runtime?.close().catch(() => undefined);
    await Promise.allSettled([...this.locals.values()].map((l) => l.server.stop()));
    this.locals.clear();
    this.preview?.close();
  }

  // -------------------------------------------------------------------------------------------------
  // Helpers

  private previewProcess(): PreviewProcess {
    this.preview ??= new PreviewProcess();
    return this.preview;
  }

  private runtime(): Promise<KernelRuntime> {
    if (!this.runtimeP) {
      const s = loadSettings();
      this.runtimeP = KernelRuntime.start({ poolSize: s.pool_size, kernelLimits: { memoryBytes: Math.round(s.memory_gib * 1024 ** 3) } });
      this.runtimeP.catch(() => (this.runtimeP = null));
    }
    return this.runtimeP;
  }

  private checkInputPaths(inp: InputSpec): void {
    for (const [p, what] of inputPaths(inp)) {
      if (!existsSync(p)) throw new WorkbenchError(`${what} ${p} does not exist`, 'check the path, or pick the file or folder again');
    }
  }

  /** The run folder of `runId`. @throws WorkbenchError when there is no such run. */
  private runDir(runId: string): string {
    const dir = join(this.root, runId);
    if (!existsSync(join(dir, RUN_JSON))) throw new WorkbenchError(`no run ${runId} in ${this.root}`, 'pick a run from the Runs list (listRuns)');
    return dir;
  }

  /** The sample folder. @throws WorkbenchError when the run or sample does not exist. */
  private sampleFolder(runId: string, sampleId: string): string {
    const dir = sampleDir(this.runDir(runId), sampleId);
    if (!existsSync(dir)) throw new WorkbenchError(`run ${runId} has no sample ${sampleId}`, 'pick a sample from the run (listSamples)');
    return dir;
  }

  private async perceptionByName(name: string | null): Promise<PerceptionServer | null> {
    if (name === null) return null;
    const l = this.locals.get(name);
    if (l) return l.server;
    const entry = loadRegistry().find((e) => e.name === name);
    if (!entry) {
      const known = [...this.locals.keys(), ...loadRegistry().map((e) => e.name)];
      throw new WorkbenchError(`no perception server called ${name}`, known.length ? `pick one of ${known.join(', ')}, or none` : 'start a local one in Settings > Perception servers, or pick none');
    }
    return connectRegistered(entry);
  }

  // -------------------------------------------------------------------------------------------------
  // Ask

  private async ask(req: Parameters<WorkbenchHandlers['ask']>[0]) {
    // A config name (file stem in the models folder) or the model id it serves; never a path.
    const known = this.listModels();
    const entry = known.find((m) => m.name === req.model) ?? known.find((m) => m.config.name === req.model);
    if (!entry) {
      throw new WorkbenchError(`unknown model "${req.model}": no model config of that name in ${modelsDir()}`,
        known.length ? `choose one of ${known.map((m) => m.name).join(', ')} (Settings > Model endpoints)` : 'add a model endpoint in Settings > Model endpoints');
    }
    const cfg = entry.config;
    for (const inp of req.inputs) this.checkInputPaths(inp);
    const sample: SampleSpec = SampleSpecSchema.parse({
      id: 'q1',
      question: req.question,
      ...(req.choices?.length ? { choices: req.choices } : {}),
      ...(req.answer !== undefined ? { answer: req.answer } : {}),
      inputs: req.inputs,
    });
    const model = new ModelClient(cfg);
    const perception = await this.perceptionByName(req.perception);
    const settings = loadSettings();
    const runId = newRunId();
    const dir = join(this.root, runId);
    const writer = await RunWriter.create(dir, {
      config: askRunConfig(cfg, { executor: req.executor, maxSteps: req.max_steps, perception: req.perception, extra: { perception_url: perception?.url ?? null, source: 'workbench' } }),
      versions: runVersions(),
      total_samples: 1,
    });
    const abort = new AbortController();
    const l: LiveSample = { runId, sampleId: sample.id, dir, abort, session: null, startedAt: Date.now(), step: 0, usage: { prompt: 0, completion: 0 }, done: Promise.resolve() };
    this.live.set(key(runId, sample.id), l);
    l.done = (async () => {
      let result = null;
      let error: string | null = null;
      try {
        const runtime = await this.runtime();
        result = await runOne(sample, {
          runtime,
          model,
          writer,
          perception,
          signal: abort.signal,
          options: { executor: req.executor, maxSteps: req.max_steps, plan: req.plan, cellTimeoutS: settings.cell_timeout_s, ...modelAgentOptions(cfg) },
          onSession: (_id, s) => (l.session = s),
          onEvent: (sid, e) => this.onRunEvent(l, sid, e),
        });
        await writer.finish('finished');
        if (result.termination === 'error' && result.steps === 0) error = result.error;
      } catch (e) {
        error = errMsg(e);
        await writer.finish('failed').catch(() => undefined);
      } finally {
        this.live.delete(key(runId, sample.id));
        this.samples.forget(dir);
      }
      this.emit({ type: 'sample_done', run_id: runId, sample_id: sample.id, result, error });
    })();
    return { run_id: runId, sample_id: sample.id };
  }

  private onRunEvent(l: LiveSample, sampleId: string, e: RunEvent): void {
    l.step = e.step;
    this.emit({ type: 'run_event', run_id: l.runId, sample_id: sampleId, event: e });
    if (e.type === 'model_call') {
      l.usage.prompt += e.usage.prompt_tokens;
      l.usage.completion += e.usage.completion_tokens;
      this.emit({ type: 'counters', run_id: l.runId, sample_id: sampleId, prompt_tokens: l.usage.prompt, completion_tokens: l.usage.completion, elapsed_s: (Date.now() - l.startedAt) / 1000 });
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Console

  private async consoleCell(runId: string, sampleId: string, code: string): Promise<CellResult> {
    const k = key(runId, sampleId);
    const prev = this.consoleLocks.get(k) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(() => this.consoleCellNow(runId, sampleId, code));
    this.consoleLocks.set(k, run);
    try {
      return await run;
    } finally {
      if (this.consoleLocks.get(k) === run) this.consoleLocks.delete(k);
    }
  }

  private async consoleCellNow(runId: string, sampleId: string, code: string): Promise<CellResult> {
    const dir = this.sampleFolder(runId, sampleId);
    const runDir = this.runDir(runId);
    const timeoutS = loadSettings().cell_timeout_s;
    const l = this.live.get(key(runId, sampleId));
    let result: CellResult;
    let step: number;
    if (l) {
      if (!l.session) throw new WorkbenchError(`sample ${sampleId} is still preparing its kernel`, 'wait for the first step and run the cell again');
      try {
        result = await l.session.execute(code, { origin: 'human', timeoutS });
      } catch (e) {
        if (this.live.get(key(runId, sampleId)) === l && !/closed/.test(errMsg(e))) throw e;
        throw new WorkbenchError(`sample ${sampleId} finished before the cell could run`, 'run the cell again: it runs in a kernel restored from the record');
      }
      step = l.step;
    } else {
      const r = await this.replaySession(runId, sampleId);
      this.touchReplay(key(runId, sampleId), r);
      result = await r.session.execute(code, { origin: 'human', timeoutS });
      step = r.step;
    }
    const stored = { ...result, images: this.saveConsoleImages(dir, result.images) };
    appendConsole(runDir, sampleId, { type: 'cell', t: new Date().toISOString(), step, result: stored });
    return stored;
  }

  /** Write a console cell's images to images/console<NNN>_<k>.png; the result then carries their paths. */
  private saveConsoleImages(dir: string, images: CellImage[]): CellImage[] {
    if (!images.some((im) => im.png !== undefined)) return images;
    const imagesDir = join(dir, 'images');
    mkdirSync(imagesDir, { recursive: true });
    let n = 1;
    while (existsSync(join(imagesDir, `console${String(n).padStart(3, '0')}_1.png`))) n++;
    return images.map((im, i) => {
      if (im.png === undefined) return im;
      const { png, ...rest } = im;
      const name = `console${String(n).padStart(3, '0')}_${i + 1}.png`;
      writeFileSync(join(imagesDir, name), Buffer.from(png, 'base64'), { flag: 'wx' });
      return { ...rest, path: `images/${name}` };
    });
  }

  private touchReplay(k: string, r: ReplayState): void {
    if (r.timer) clearTimeout(r.timer);
    r.timer = setTimeout(() => {
      this.replays.delete(k);
      void this.runtime().then((rt) => rt.closeSession(r.session)).catch(() => undefined);
    }, this.replayIdleMs);
    r.timer.unref();
  }

  /** The perception server to replay a past sample's tool calls on: the one it used, if this host can reach it. */
  private replayPerception(runDir: string): PerceptionServer | null {
    const cfg = readRunInfo(runDir).config;
    const url = typeof cfg['perception_url'] === 'string' ? cfg['perception_url'] : typeof cfg['perception'] === 'string' ? cfg['perception'] : null;
    const name = typeof cfg['perception'] === 'string' ? cfg['perception'] : null;
    for (const [n, l] of this.locals) if (l.server.url === url || n === name) return l.server;
    const entry = loadRegistry().find((e) => e.url.replace(/\/+$/, '') === url || e.name === name);
    const token = entry ? process.env[entry.tokenEnv] : undefined;
    if (entry && token) return PerceptionServer.reference(entry.url, token, entry.name);
    // Otherwise any local server of this host (tools then work for new cells).
    return this.locals.values().next().value?.server ?? null;
  }

  /** A kernel restored to the state of a past sample: prepared on its inputs, its successful cells replayed. */
  private replaySession(runId: string, sampleId: string): Promise<ReplayState> {
    const k = key(runId, sampleId);
    const existing = this.replays.get(k);
    if (existing) return existing;
    const p = this.startReplay(runId, sampleId);
    this.replays.set(k, p);
    p.catch(() => this.replays.delete(k));
    return p;
  }

  private async startReplay(runId: string, sampleId: string): Promise<ReplayState> {
    const runDir = this.runDir(runId);
    const events = readSampleEvents(runDir, sampleId);
    const start = events.find((e) => e.type === 'sample_start');
    if (!start || start.type !== 'sample_start') throw new WorkbenchError(`sample ${sampleId} of run ${runId} has no sample_start event`, 'the record is incomplete; run the question again');
    const cells = [...events, ...readConsole(runDir, sampleId)]
      .filter((e): e is Extract<RunEvent, { type: 'cell' }> => e.type === 'cell' && e.result.status === 'ok')
      .map((e, i) => ({ e, i }))
      .sort((a, b) => a.e.t.localeCompare(b.e.t) || a.i - b.i)
      .map(({ e }) => e);
    const task = `replay ${runId}/${sampleId}`;
    this.emit({ type: 'progress', task, message: 'starting a kernel for the console', done: false });
    const runtime = await this.runtime();
    const session = await runtime.openSession();
    try {
      const perception = this.replayPerception(runDir);
      try {
        await session.prepare({
          inputs: start.sample.inputs,
          scratchDir: runtime.newScratchDir(),
          bridge: null,
          perception: perception ? { url: perception.url, token: perception.token } : null,
        });
      } catch (e) {
        if (e instanceof KernelPrepareError) throw new WorkbenchError(`cannot restore sample ${sampleId}: ${e.message}`, "the sample's inputs must still exist at the paths recorded in its sample_start event");
        throw e;
      }
      let ok = 0;
      for (const [i, c] of cells.entries()) {
        this.emit({ type: 'progress', task, message: `replaying cell ${i + 1} of ${cells.length}`, done: false });
        const r = await session.execute(c.result.code, { origin: c.result.origin, timeoutS: loadSettings().cell_timeout_s });
        if (r.status === 'ok') ok++;
      }
      const last = events.at(-1)?.step ?? 0;
      this.emit({ type: 'progress', task, message: `restored: ${ok} of ${cells.length} cells replayed`, done: true });
      return { session, step: last, timer: null };
    } catch (e) {
      this.emit({ type: 'progress', task, message: `replay failed: ${errMsg(e)}`, done: true });
      await runtime.closeSession(session).catch(() => undefined);
      throw e;
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Models

  private listModels(): ModelEntry[] {
    const out: ModelEntry[] = [];
    for (const name of listModelConfigs()) {
      const file = join(modelsDir(), `${name}.json`);
      try {
        out.push({ name, config: loadModelConfig(file), file });
      } catch (e) {
        console.warn(`workbench: skipping model config ${file}: ${errMsg(e)}`);
      }
    }
    return out;
  }

  /** A model config by entry name (file stem) or by model id. @throws WorkbenchError */
  private findModel(name: string): ModelEntry {
    const all = this.listModels();
    const hit = all.find((m) => m.name === name) ?? all.find((m) => m.config.name === name);
    if (!hit) throw new WorkbenchError(`no model config called ${JSON.stringify(name)}`, all.length ? `pick one of ${all.map((m) => m.name).join(', ')}` : 'add one with saveModel');
    return hit;
  }

  private saveModel(config: ModelConfig): ModelEntry {
    const checked = parseModelConfig(config, `model config ${JSON.stringify(config.name)}`);
    const name = modelFileStem(checked.name);
    const dir = modelsDir();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${name}.json`);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
    return { name, config: checked, file };
  }

  // -------------------------------------------------------------------------------------------------
  // Perception

  private async health(server: PerceptionServer): Promise<{ healthy: boolean; backends: string[]; detail: string | null }> {
    try {
      const h = await server.health(3000);
      const available = h.backends.filter((b) => b.available).map((b) => b.name);
      const down = h.backends.filter((b) => !b.available).map((b) => `${b.name}: ${b.reason ?? 'unavailable'}`);
      return { healthy: h.status === 'ok' || available.length > 0, backends: available, detail: down.length ? down.join('; ') : null };
    } catch (e) {
      return { healthy: false, backends: [], detail: errMsg(e) };
    }
  }

  private async registeredEntry(e: { name: string; url: string; tokenEnv: string }): Promise<PerceptionEntry> {
    const h = await this.health(PerceptionServer.reference(e.url, '', e.name));
    const detail = process.env[e.tokenEnv] ? h.detail : [`set ${e.tokenEnv} to its token before starting the workbench`, h.detail].filter(Boolean).join('; ');
    return { name: e.name, url: new URL(e.url).origin, origin: 'registered', token_env: e.tokenEnv, ...h, detail: detail || null };
  }

  private async listPerception(): Promise<PerceptionEntry[]> {
    const locals = [...this.locals.entries()].map(async ([name, l]): Promise<PerceptionEntry> => ({ name, url: l.server.url, origin: 'local', token_env: null, ...(await this.health(l.server)) }));
    const registered = loadRegistry().map((e) => this.registeredEntry(e));
    return Promise.all([...locals, ...registered]);
  }

  private async startLocalPerception(backends: string[]): Promise<PerceptionEntry> {
    const taken = new Set([...this.locals.keys(), ...loadRegistry().map((e) => e.name)]);
    let name = 'local';
    for (let i = 2; taken.has(name); i++) name = `local-${i}`;
    const task = `perception ${name}`;
    this.emit({ type: 'progress', task, message: `starting a perception server (${backends.join(', ')})`, done: false });
    let server: PerceptionServer;
    try {
      server = await PerceptionServer.startLocal({ backends });
    } catch (e) {
      this.emit({ type: 'progress', task, message: `could not start: ${errMsg(e)}`, done: true });
      throw e;
    }
    if (this.closed) {
      await server.stop();
      throw new WorkbenchError('the workbench host is shutting down', 'restart the workbench');
    }
    this.locals.set(name, { server, backends });
    this.emit({ type: 'progress', task, message: `ready at ${server.url}`, done: true });
    return { name, url: server.url, origin: 'local', token_env: null, ...(await this.health(server)) };
  }
}
