/**
 * KernelSession: one persistent agent kernel per sample. It prepares the namespace, runs one cell at
 * a time and turns what happened into a {@link CellResult}. It survives timeouts and kernel deaths:
 * after a restart it restores state by replaying the session's earlier successful cells.
 * The kernel-side half is `spatial_runtime.session` (docs/kernel-protocol.md).
 */
import { randomBytes } from 'node:crypto';
import type { Kernel, KernelManager, KernelMessage } from '@jupyterlab/services';
import { z } from 'zod';
import {
  type Answer,
  AnswerSchema,
  type Artifact,
  ArtifactSchema,
  type CellImage,
  type CellResult,
  type InputSpec,
} from '../../../shared/kernel.ts';
import { DEFAULTS } from '../../../shared/defaults.ts';
import { imageSize } from '../../../shared/image.ts';
import { ImageMetaSchema, MIME, PrepareConfigSchema, type VariableSummary, VariablesPayloadSchema } from '../../../shared/contracts/kernel.ts';
import type { KernelProfile } from '../../../shared/profiles.ts';
import { stripAnsi } from '../jupyter/execute.ts';
import type { SafetyChecker } from './safety.ts';
import { type KernelSandbox, sandboxOfServer } from './sandbox.ts';
import { VlmBridge } from './bridge.ts';
import { toCellError } from './observation.ts';

const MIME_IMAGE = MIME.image;
const MIME_ANSWER = MIME.answer;
const MIME_ARTIFACT = MIME.artifact;

const RUNTIME = "__import__('spatial_runtime.session', fromlist=['_'])";
/** Run once in every fresh kernel (and again after each restart). */
export const INIT_CODE = `${RUNTIME}.init()`;
/**
 * {@link INIT_CODE} without the heavy imports (pyplot, SciPy submodules) and the reset guard's fingerprint: the kernel
 * can `prepare` ~0.7 s sooner; {@link INIT_REST_CODE} completes it (docs/kernel-protocol.md, "Start-up").
 */
export const INIT_DEFERRED_CODE = `${RUNTIME}.init(deferred=True)`;
/** Completes a deferred init (a no-op after a full one). */
export const INIT_REST_CODE = `${RUNTIME}.init_rest()`;
/** Clears the user namespace for reuse by another sample (no restart). */
export const RESET_CODE = `${RUNTIME}.reset()`;
/** {@link RESET_CODE} printing its verdict (`{"tainted": bool, "reasons": [str], "rss_mib": float | null}`) as JSON; see {@link resetKernel}. */
export const RESET_VERDICT_CODE = `print(__import__('json').dumps(${RUNTIME}.reset()))`;
/** Prints the kernel's resident memory now, MiB (JSON number, or null where it cannot be read); see {@link residentMib}. */
export const RESIDENT_MIB_CODE = "print(__import__('json').dumps(__import__('spatial_runtime.reset_guard', fromlist=['_']).resident_mib()))";
const AFTER_CELL = `${RUNTIME}.after_cell()`;
/** The paper profile's answer to a timeout: clear the user namespace, bind the inputs and tools again. */
const RESET_NAMESPACE = `${RUNTIME}.reset_namespace()`;


/** What `prepare()` binds into the kernel. */
export interface PrepareConfig {
  inputs: InputSpec[];
  /** Resize frames so the long edge is at most this many pixels (intrinsics are scaled to match). */
  maxLongEdge?: number | null;
  /**
   * How frames reach `maxLongEdge`: keep the aspect ratio (`long_edge`, default) or centre-crop to the nearest of
   * six aspect grids, then resize, small frames enlarged (`paper_grid`, profile `paper`; needs `maxLongEdge`).
   */
  resize?: 'long_edge' | 'paper_grid';
  /** The kernel half of the agent profile (absent: the default profile). Its `timeout_reset` also sets how {@link KernelSession.execute} recovers from a timeout. */
  profile?: KernelProfile;
  /** The kernel's working directory (a per-session scratch dir). */
  scratchDir: string;
  /**
   * Where the kernel reaches the host's VLM bridge; null disables `vlm`. `listenUnix` (a {@link VlmBridge}'s): for a
   * sandboxed kernel the bridge also serves on a Unix socket in the kernel's `/host` folder and forwards the
   * kernel's perception calls, so the kernel gets `http+unix://` URLs and the bridge token only.
   */
  bridge?: { url: string; token: string; listenUnix?: (path: string, perception: { url: string; token: string } | null) => Promise<void> } | null;
  /** The perception server `tools.Reconstruct` / `tools.SAM3` call, and their default backends. */
  perception?: { url: string; token: string; backends?: { reconstruct?: string; segment?: string } } | null;
}

/** The model handler of a session's own bridge: there is no model in this session. */
const NO_MODEL = {
  ask: (): never => { throw new Error('this session has no model (vlm is not available here)'); },
  locate: (): never => { throw new Error('this session has no model (vlm is not available here)'); },
};

export class KernelPrepareError extends Error {
  override name = 'KernelPrepareError';
}

/** A variable over 500 decimal MB, reported after each cell when the profile's summaries have no values (paper). */
export interface LargeVariable {
  name: string;
  size_mb: number;
}

/** Which key frames {@link KernelSession.keyFrames} publishes. */
export interface KeyFrameOptions {
  /**
   * `default`: `count` frames shared out across the inputs, labelled `frame N`. `paper`: min(count, n) frames at
   * round(i(n−1)/(k−1)) (half to even) over all inputs together, labelled `InputImages[p] frame N` with
   * `frame: {input, position, frame_index}` on each image.
   */
  selection?: 'default' | 'paper';
  /** `paper` only: `count` frames from each input (multi-video samples) instead of from all inputs together. */
  perInput?: boolean;
}

export interface ExecuteOptions {
  /** Per-cell timeout in seconds (default 600). */
  timeoutS?: number;
  /** `agent` cells go through the safety check; `human` console cells do not. */
  origin?: 'agent' | 'human';
}

export interface SessionOptions {
  manager: KernelManager;
  /** A ready kernel (from a pool, already initialised); otherwise one is started. */
  kernel?: Kernel.IKernelConnection;
  kernelName?: string;
  /** Required to run `agent` cells. */
  safety?: SafetyChecker;
  /**
   * The server's kernel sandbox, which {@link KernelSession.prepare} uses; absent: the one the server registered
   * (sandbox.ts `sandboxOfServer`); null: none.
   */
  sandbox?: KernelSandbox | null;
  /** How long to wait for an interrupted cell to stop before restarting the kernel (default 10 s). */
  interruptGraceMs?: number;
  /** How long to wait for a kernel to come back after it died or was restarted (default 60 s). */
  restartTimeoutMs?: number;
}

type RawOutcome =
  | { kind: 'done'; reply: KernelMessage.IExecuteReplyMsg | null }
  | { kind: 'timeout' }
  | { kind: 'died' };

interface Collected {
  stdout: string;
  stderr: string;
  result: string | null;
  error: { ename: string; evalue: string; traceback: string[] } | null;
  images: CellImage[];
  answer: Answer | null;
  artifacts: Artifact[];
}

/**
 * Wait until `kernel` reports `idle` and is connected (after a start or restart).
 * @returns 'idle', or 'dead' when the server gave up on the kernel (no automatic restart will follow).
 * @throws when neither happens within `timeoutMs`.
 */
async function waitIdle(kernel: Kernel.IKernelConnection, timeoutMs: number): Promise<'idle' | 'dead'> {
  const deadline = Date.now() + timeoutMs;
  let lastReconnect = 0;
  let lastPoke = Date.now();
  while (Date.now() < deadline) {
    if (kernel.status === 'idle' && kernel.connectionStatus === 'connected') return 'idle';
    if (kernel.status === 'dead') return 'dead';
    // A kernel that restarts slowly (a loaded machine) can outlast the client's reconnect attempts,
    // leaving the connection 'disconnected' for good: reconnect explicitly, every few seconds.
    if (kernel.connectionStatus === 'disconnected' && Date.now() - lastReconnect > 3000) {
      lastReconnect = Date.now();
      void kernel.reconnect().catch(() => undefined);
    }
    // Connected but no status yet: the restarted kernel's start-up status went out before we
    // subscribed. A kernel_info request makes it publish busy/idle again.
    if (kernel.connectionStatus === 'connected' && kernel.status === 'unknown' && Date.now() - lastPoke > 2000) {
      lastPoke = Date.now();
      void kernel.requestKernelInfo().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the kernel did not become idle within ${timeoutMs / 1000} s (status ${kernel.status}, connection ${kernel.connectionStatus})`);
}

/**
 * Start a kernel and load the runtime into it. With `deferred` (the default) the heavy imports are left for
 * {@link finishWarmUp}, which {@link KernelSession} runs before its first cell (or the runner while the first model
 * call is in flight).
 * @param timeoutMs for the kernel to become idle and connected, then again for the init code, ms.
 * @throws Error "could not start a kernel (NAME): …" when it does not come up in time or dies while starting (the
 *   kernel is shut down on its server), or "could not load spatial_runtime …" when the runtime does not import.
 */
export async function startInitialisedKernel(manager: KernelManager, kernelName: string, timeoutMs = 60_000, deferred = true): Promise<Kernel.IKernelConnection> {
  const kernel = await manager.startNew({ name: kernelName });
  try {
    // Not `await kernel.info`, which never settles when the websocket's first connection is lost (seen on a starved
    // machine: the server's kernel_info wait ran out and the client's reconnects were spent): waitIdle reconnects and
    // pokes, and gives up with a message at the deadline.
    const state = await waitIdle(kernel, timeoutMs);
    if (state === 'dead') throw new Error('the kernel died while it started (its server gave up on it)');
    await initKernel(kernel, timeoutMs, deferred);
  } catch (e) {
    // A kernel that never came up is not left running on the server.
    await kernel.shutdown().catch(() => undefined);
    kernel.dispose();
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(why.startsWith('could not load spatial_runtime') ? why : `could not start a kernel (${kernelName}): ${why}; run \`spatialclaw doctor\``, { cause: e });
  }
  return kernel;
}

/** The process id of each kernel this host initialised (reported by its init; a restart reports the new one). */
const kernelPids = new WeakMap<Kernel.IKernelConnection, number>();

/** The kernel's process id on its server's machine, as its last init reported it; null when unknown. */
export function kernelPid(kernel: Kernel.IKernelConnection): number | null {
  return kernelPids.get(kernel) ?? null;
}

/** Run INIT_CODE (or {@link INIT_DEFERRED_CODE}); throws with the kernel's error if the runtime cannot be imported. */
export async function initKernel(kernel: Kernel.IKernelConnection, timeoutMs = 60_000, deferred = false): Promise<void> {
  const { error, stdout } = await runQuietOutput(kernel, `${deferred ? INIT_DEFERRED_CODE : INIT_CODE}\nprint(__import__('os').getpid())`, timeoutMs);
  if (error) throw new Error(`could not load spatial_runtime in the kernel: ${error}. Run \`spatialclaw doctor\`.`);
  const pid = Number(stdout.trim().split('\n').at(-1));
  if (Number.isInteger(pid) && pid > 0) kernelPids.set(kernel, pid);
}

/** Complete a deferred init ({@link INIT_REST_CODE}); throws with the kernel's error. */
export async function finishWarmUp(kernel: Kernel.IKernelConnection, timeoutMs = 60_000): Promise<void> {
  const r = await runQuiet(kernel, INIT_REST_CODE, timeoutMs);
  if (r) throw new Error(`could not finish loading spatial_runtime in the kernel: ${r}. Run \`spatialclaw doctor\`.`);
}

/**
 * Execute host-side code (init, prepare, reset, replay) without recording it.
 * @returns null on success, else "ename: evalue".
 */
export async function runQuiet(kernel: Kernel.IKernelConnection, code: string, timeoutMs: number): Promise<string | null> {
  return (await runQuietOutput(kernel, code, timeoutMs)).error;
}

const ResetVerdictSchema = z.object({
  tainted: z.boolean(),
  reasons: z.array(z.string()),
  /** Resident memory after the reset (garbage collected, free heap pages handed back), MiB; null where the kernel cannot read it or its runtime predates the field. */
  rss_mib: z.number().nonnegative().nullable().default(null),
});
/**
 * What the kernel's `reset()` reports: a tainted kernel changed the interpreter in ways a reset cannot undo;
 * `rss_mib` is what it keeps resident when idle (the pool's `idleMaxMib` bound).
 */
export type ResetVerdict = z.infer<typeof ResetVerdictSchema>;

/**
 * Reset a kernel in place for the next sample ({@link RESET_VERDICT_CODE}, no restart).
 * @returns the verdict, or `{error}` when the reset failed (the kernel must not be reused then either).
 */
export async function resetKernel(kernel: Kernel.IKernelConnection, timeoutMs: number): Promise<ResetVerdict | { error: string }> {
  const { error, stdout } = await runQuietOutput(kernel, RESET_VERDICT_CODE, timeoutMs);
  if (error) return { error };
  try {
    return ResetVerdictSchema.parse(JSON.parse(stdout.trim().split('\n').at(-1) ?? ''));
  } catch {
    return { error: `reset() printed no verdict: ${stdout.slice(-200)}` };
  }
}

/**
 * The kernel's resident memory now ({@link RESIDENT_MIB_CODE}), MiB.
 * @returns null when it cannot be read (another OS without psutil, an older runtime, an error or a timeout).
 */
export async function residentMib(kernel: Kernel.IKernelConnection, timeoutMs: number): Promise<number | null> {
  const { error, stdout } = await runQuietOutput(kernel, RESIDENT_MIB_CODE, timeoutMs);
  if (error) return null;
  try {
    const v: unknown = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** {@link runQuiet}, also returning what the code printed to stdout. */
async function runQuietOutput(kernel: Kernel.IKernelConnection, code: string, timeoutMs: number): Promise<{ error: string | null; stdout: string }> {
  const future = kernel.requestExecute({ code, silent: false, store_history: false, stop_on_error: true, allow_stdin: false });
  let err: string | null = null;
  let stdout = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'error') {
      const c = msg.content as KernelMessage.IErrorMsg['content'];
      err = `${c.ename}: ${c.evalue}`;
    } else if (msg.header.msg_type === 'stream') {
      const c = msg.content as KernelMessage.IStreamMsg['content'];
      if (c.name === 'stdout') stdout += c.text;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    future.done.then(() => 'done', () => 'died'),
    new Promise<string>((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); }),
  ]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    future.dispose();
    return { error: `TimeoutError: no reply within ${timeoutMs} ms`, stdout };
  }
  if (outcome === 'died') return { error: 'KernelDied: the kernel stopped while running host code', stdout };
  return { error: err, stdout };
}

export class KernelSession {
  /** Every cell run in this session, in order, with full outputs. */
  readonly history: CellResult[] = [];
  /** Variables over 500 MB after the last cell (profiles whose summaries have no values, i.e. paper; else empty). */
  largeVariables: LargeVariable[] = [];
  private config: PrepareConfig | null = null;
  /** Cells before this index of {@link history} are not replayed after a restart (their state was cleared). */
  private replayFrom = 0;
  private readonly interruptGraceMs: number;
  private readonly restartTimeoutMs: number;
  private busy = false;
  /** The deferred half of the kernel's init ({@link finishWarmUp}), once started. */
  private warmUp: Promise<void> | null = null;
  private deathSeen = false;
  private disposed = false;

  private constructor(
    readonly kernel: Kernel.IKernelConnection,
    private readonly opts: SessionOptions,
  ) {
    this.interruptGraceMs = opts.interruptGraceMs ?? 10_000;
    this.restartTimeoutMs = opts.restartTimeoutMs ?? 60_000;
    kernel.statusChanged.connect((_k, status) => {
      if (status === 'autorestarting' || status === 'dead' || status === 'restarting') this.deathSeen = true;
    });
  }

  /** Open a session on a ready kernel (from a pool) or on a newly started one. */
  static async open(opts: SessionOptions): Promise<KernelSession> {
    const kernel = opts.kernel ?? (await startInitialisedKernel(opts.manager, opts.kernelName ?? 'python3'));
    // Without an explicit sandbox: the one its server registered (a sandboxed kernel must never get host paths).
    const sandbox = opts.sandbox !== undefined ? opts.sandbox : sandboxOfServer(opts.manager.serverSettings.baseUrl);
    return new KernelSession(kernel, { ...opts, sandbox });
  }

  /** The kernel id (stable across restarts). */
  get id(): string {
    return this.kernel.id;
  }

  /**
   * Bind the inputs (`InputImages`, `Metadata`, or `_1.._N`), chdir to the scratch dir, configure the
   * VLM bridge. @returns the kernel's summary of what was bound.
   * @throws KernelPrepareError with the runtime's message (which names the file and the fix).
   */
  async prepare(config: PrepareConfig): Promise<string> {
    const seen = await this.sandboxView(config);
    // The contract the kernel's prepare() validates too (shared/contracts/kernel.ts, PrepareConfig).
    const payload = JSON.stringify(
      PrepareConfigSchema.parse({
        scratch_dir: seen.scratchDir,
        inputs: seen.inputs,
        max_long_edge: config.maxLongEdge ?? null,
        bridge: seen.bridge ? { url: seen.bridge.url, token: seen.bridge.token } : null,
        perception: seen.perception ?? null,
        ...(config.resize ? { resize: config.resize } : {}),
        ...(config.profile ? { profile: config.profile } : {}),
      }),
    );
    const future = this.kernel.requestExecute({
      code: `print(${RUNTIME}.prepare(${JSON.stringify(payload)}))`,
      store_history: false,
      stop_on_error: true,
      allow_stdin: false,
    });
    let summary = '';
    let error: string | null = null;
    future.onIOPub = (msg) => {
      const t = msg.header.msg_type;
      if (t === 'stream') {
        summary += (msg.content as KernelMessage.IStreamMsg['content']).text;
      } else if (t === 'error') {
        const c = msg.content as KernelMessage.IErrorMsg['content'];
        error = c.ename === 'InputError' ? c.evalue : `${c.ename}: ${c.evalue}`;
      }
    };
    await future.done;
    if (error) throw new KernelPrepareError(this.hostPaths(error));
    this.config = config;
    return this.hostPaths(summary.trimEnd());
  }

  /** Whether this session's kernel runs in the OS sandbox. */
  get sandboxed(): boolean {
    return this.opts.sandbox?.has(this.kernel.id) === true;
  }

  /** Kernel-visible perception base URL → the host's (artifact URLs are recorded with the host's). */
  private perceptionAlias: { inside: string; host: string } | null = null;
  private staged: { config: PrepareConfig; view: PrepareConfig } | null = null;
  /** Input paths as a sandboxed kernel sees them → the host's, for the messages the host passes on. */
  private insidePaths = new Map<string, string>();

  /** `text` with a sandboxed kernel's input paths put back as the host's. */
  hostPaths(text: string): string {
    let out = text;
    for (const [inside, host] of this.insidePaths) out = out.split(inside).join(host);
    return out;
  }
  /** The session's own bridge for a sandboxed kernel's perception calls when the caller gave no model bridge. */
  private ownBridge: VlmBridge | null = null;

  /**
   * The prepare config as the kernel sees it. Unsandboxed: `config` itself. Sandboxed: the inputs linked into the
   * kernel's `/inputs` (the last sample's removed), scratch `/scratch` (emptied), and the bridge (and perception,
   * through it) at `http+unix:///host/bridge-….sock`. A replay after a restart reuses the first view.
   */
  private async sandboxView(config: PrepareConfig): Promise<PrepareConfig> {
    const sandbox = this.opts.sandbox;
    if (!sandbox || !sandbox.has(this.kernel.id)) return config;
    if (this.staged?.config === config) return this.staged.view;
    let inputs: InputSpec[];
    try {
      const staged = sandbox.stageSample(this.kernel.id, config.inputs);
      inputs = staged.inputs;
      this.insidePaths = staged.paths;
    } catch (e) {
      throw new KernelPrepareError(e instanceof Error ? e.message : String(e), { cause: e });
    }
    let bridge: PrepareConfig['bridge'] = null;
    let perception: PrepareConfig['perception'] = null;
    this.perceptionAlias = null;
    await this.ownBridge?.stop();
    this.ownBridge = null;
    if (config.bridge || config.perception) {
      // Without a model bridge (replay, `kernel run`), a bridge of the session's own forwards the perception calls
      // and refuses model calls.
      if (config.bridge && !config.bridge.listenUnix) {
        throw new KernelPrepareError('this kernel runs in the OS sandbox and has no network: give PrepareConfig.bridge a listenUnix (a VlmBridge\'s) so the kernel reaches the model over a Unix socket');
      }
      let listener = config.bridge?.listenUnix ? config.bridge : null;
      if (!listener) {
        const own = new VlmBridge(NO_MODEL);
        this.ownBridge = own;
        listener = { url: '', token: own.token, listenUnix: (p, target) => own.listenUnix(p, target) };
      }
      const sock = sandbox.hostSocket(this.kernel.id, `bridge-${randomBytes(4).toString('hex')}.sock`);
      await listener.listenUnix!(sock.host, config.perception ? { url: config.perception.url, token: config.perception.token } : null);
      const base = `http+unix://${encodeURIComponent(sock.inside)}`;
      if (config.bridge) bridge = { url: base, token: listener.token };
      if (config.perception) {
        perception = { ...config.perception, url: `${base}/perception`, token: listener.token };
        this.perceptionAlias = { inside: `${base}/perception`, host: config.perception.url.replace(/\/+$/, '') };
      }
    }
    const view: PrepareConfig = { ...config, inputs, scratchDir: '/scratch', bridge, perception };
    this.staged = { config, view };
    return view;
  }

  /**
   * Run host code (not a cell: not recorded in the history, not checked by the policy) and return what
   * it printed and displayed, e.g. `key_frames()` for the model's first message.
   * @throws Error with the kernel's exception when the code fails.
   */
  async hostCall(code: string, timeoutMs = 120_000): Promise<{ stdout: string; images: CellImage[] }> {
    const c: Collected = { stdout: '', stderr: '', result: null, error: null, images: [], answer: null, artifacts: [] };
    const future = this.kernel.requestExecute({ code, store_history: false, stop_on_error: true, allow_stdin: false });
    future.onIOPub = (msg) => this.collect(msg, c);
    const outcome = await this.waitFor(future, timeoutMs, () => null);
    if (outcome.kind !== 'done') {
      if (outcome.kind === 'timeout') await this.kernel.interrupt().catch(() => undefined);
      throw new Error(`host code did not finish (${outcome.kind})`);
    }
    if (c.error) throw new Error(`${c.error.ename}: ${c.error.evalue}`);
    return { stdout: c.stdout, images: c.images };
  }

  /** `count` key frames (PNG, long edge ≤ `maxLongEdge`) for the model's first message; see {@link KeyFrameOptions}. */
  async keyFrames(count: number, maxLongEdge: number, options: KeyFrameOptions = {}): Promise<CellImage[]> {
    const args = [Math.max(1, Math.floor(count)), Math.floor(maxLongEdge)].join(', ');
    const extra = options.selection === 'paper' ? `, selection='paper', per_input=${options.perInput ? 'True' : 'False'}` : '';
    return (await this.hostCall(`${RUNTIME}.key_frames(${args}${extra})`)).images;
  }

  /**
   * After a failed cell (the kernel reports no variables then): delete the variables the cell created, i.e. the
   * names that were not there after the last successful cell, also when {@link newVariables} listed them since
   * (docs/paper-parity.md row 10, full rollback: the failing line is unknown, a timeout, a rejection). Changed
   * variables keep their values and are reported by the next cell.
   * @returns the deleted names.
   */
  async rollbackNewVariables(): Promise<string[]> {
    const { stdout } = await this.hostCall(`print(__import__('json').dumps(${RUNTIME}.rollback_new_variables()))`, 30_000);
    return z.array(z.string()).parse(JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]'));
  }

  /**
   * After a failed cell: the variables it created, as a successful cell reports them (changed ones are not
   * listed). They are kept (the failing line is known: later cells report only later changes) unless
   * {@link rollbackNewVariables} follows. Also updates {@link largeVariables}.
   */
  async newVariables(): Promise<VariableSummary[]> {
    const { stdout } = await this.hostCall(`print(__import__('json').dumps(${RUNTIME}.new_variables()._repr_json_()))`, 30_000);
    const payload = VariablesPayloadSchema.parse(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}'));
    this.largeVariables = payload.large ?? [];
    return payload.variables;
  }

  /**
   * Load the rest of the runtime (pyplot, the SciPy submodules: a deferred init's second half) if the kernel has not
   * yet; {@link execute} waits for it before the first cell. Start it early (the runner does, when the first model
   * call is sent) and it runs while the model thinks. Idempotent.
   * @throws Error with the kernel's error when the runtime cannot be loaded.
   */
  finishWarmUp(): Promise<void> {
    this.warmUp ??= finishWarmUp(this.kernel, this.restartTimeoutMs);
    return this.warmUp;
  }

  /**
   * Run one cell. Never throws for problems in the cell itself: they become the result's status.
   * Agent cells are checked against the safety policy first and are not run if it rejects them.
   */
  async execute(code: string, options: ExecuteOptions = {}): Promise<CellResult> {
    if (this.disposed) throw new Error('this kernel session has been closed');
    if (this.busy) throw new Error('a cell is already running in this session; wait for it to finish');
    this.busy = true;
    try {
      await this.finishWarmUp();
      return await this.executeInner(code, options);
    } finally {
      this.busy = false;
    }
  }

  private async executeInner(code: string, options: ExecuteOptions): Promise<CellResult> {
    const origin = options.origin ?? 'agent';
    const timeoutMs = (options.timeoutS ?? DEFAULTS.cellTimeoutS) * 1000;
    const startedAt = new Date();
    const t0 = performance.now();
    const base: CellResult = {
      index: this.history.length + 1,
      origin,
      code,
      status: 'ok',
      startedAt: startedAt.toISOString(),
      durationMs: 0,
      stdout: '',
      stderr: '',
      result: null,
      error: null,
      violations: [],
      images: [],
      answer: null,
      artifacts: [],
      variables: [],
      notes: [],
    };

    if (origin === 'agent') {
      if (!this.opts.safety) throw new Error('agent cells need a SafetyChecker (SessionOptions.safety)');
      const verdict = await this.opts.safety.check(code);
      if (verdict.violations.length) {
        const r = { ...base, status: 'rejected' as const, violations: verdict.violations, durationMs: performance.now() - t0 };
        this.history.push(r);
        return r;
      }
    }

    // A kernel that died between cells is restored before the new cell runs.
    if (this.deathSeen || this.kernel.status === 'dead') {
      base.notes.push(...(await this.recover('the kernel had stopped since the last cell')));
    }

    const c: Collected = { stdout: '', stderr: '', result: null, error: null, images: [], answer: null, artifacts: [] };
    this.deathSeen = false;
    const future = this.kernel.requestExecute({
      code,
      store_history: true,
      stop_on_error: true,
      // Nothing here answers input requests: input() fails at once instead of waiting for the timeout.
      allow_stdin: false,
      user_expressions: { spatialclaw: AFTER_CELL },
    });
    future.onIOPub = (msg) => this.collect(msg, c);
    let reply: KernelMessage.IExecuteReplyMsg | null = null;
    future.onReply = (msg) => {
      reply = msg;
    };

    let outcome = await this.waitFor(future, timeoutMs, () => reply);
    const notes: string[] = [];
    if (outcome.kind === 'timeout') {
      await this.kernel.interrupt().catch(() => undefined);
      const after = await this.waitFor(future, this.interruptGraceMs, () => reply);
      const reset = this.config?.profile?.timeout_reset === true;
      if (after.kind === 'done' && !reset) {
        notes.push(`interrupted after the ${timeoutMs / 1000} s timeout; the kernel and its state are intact`);
      } else if (after.kind === 'done') {
        notes.push(`interrupted after the ${timeoutMs / 1000} s timeout; ${await this.resetNamespace()}`);
      } else {
        future.dispose();
        notes.push(...(await this.recover(`the kernel did not stop within ${this.interruptGraceMs / 1000} s of the interrupt and was restarted`, true, !reset)));
      }
      if (reset) this.replayFrom = this.history.length + 1; // this cell and the earlier ones are gone
      outcome = { kind: 'timeout' };
    } else if (outcome.kind === 'died') {
      future.dispose();
      notes.push(...(await this.recover('the kernel died while running this cell (crash, os._exit or out of memory)')));
    }

    const r: CellResult = {
      ...base,
      status: outcome.kind === 'done' ? (c.error ? 'error' : 'ok') : outcome.kind === 'timeout' ? 'timeout' : 'kernel_died',
      durationMs: performance.now() - t0,
      stdout: c.stdout,
      stderr: c.stderr,
      result: c.result,
      error: c.error ? toCellError(c.error, code, stripAnsi) : null,
      images: c.images,
      answer: c.answer,
      artifacts: c.artifacts,
      notes: [...base.notes, ...notes],
    };
    if (outcome.kind === 'done' && outcome.reply) {
      r.variables = this.readVariables(outcome.reply, r.notes);
    }
    this.history.push(r);
    return r;
  }

  private async waitFor(
    future: Kernel.IShellFuture<KernelMessage.IExecuteRequestMsg, KernelMessage.IExecuteReplyMsg>,
    timeoutMs: number,
    getReply: () => KernelMessage.IExecuteReplyMsg | null,
  ): Promise<RawOutcome> {
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    const died = new Promise<RawOutcome>((resolve) => {
      poll = setInterval(() => {
        if (this.deathSeen) resolve({ kind: 'died' });
      }, 50);
    });
    try {
      return await Promise.race([
        future.done.then(
          (msg) => ({ kind: 'done' as const, reply: msg ?? getReply() }),
          () => ({ kind: 'died' as const }),
        ),
        new Promise<RawOutcome>((resolve) => {
          timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
        }),
        died,
      ]);
    } finally {
      clearTimeout(timer);
      clearInterval(poll);
    }
  }

  private collect(msg: KernelMessage.IIOPubMessage, c: Collected): void {
    switch (msg.header.msg_type) {
      case 'stream': {
        const s = msg.content as KernelMessage.IStreamMsg['content'];
        if (s.name === 'stdout') c.stdout += s.text;
        else c.stderr += s.text;
        break;
      }
      case 'execute_result': {
        const text = (msg.content as KernelMessage.IExecuteResultMsg['content']).data['text/plain'];
        if (typeof text === 'string') c.result = text;
        break;
      }
      case 'display_data':
      case 'update_display_data': {
        const data = (msg.content as KernelMessage.IDisplayDataMsg['content']).data;
        const png = typeof data['image/png'] === 'string' ? (data['image/png'] as string).replace(/\s+/g, '') : undefined;
        const meta = ImageMetaSchema.safeParse(data[MIME_IMAGE]);
        const answer = AnswerSchema.safeParse(data[MIME_ANSWER]);
        const artifact = ArtifactSchema.safeParse(data[MIME_ARTIFACT]);
        if (meta.success && png) {
          c.images.push({ ...meta.data, png });
        } else if (answer.success) {
          c.answer = answer.data;
        } else if (artifact.success) {
          const alias = this.perceptionAlias;
          c.artifacts.push(alias && artifact.data.url?.startsWith(alias.inside)
            ? { ...artifact.data, url: alias.host + artifact.data.url.slice(alias.inside.length) }
            : artifact.data);
        } else if (png) {
          const { width, height } = pngSize(png);
          c.images.push({ index: c.images.length, label: null, width, height, source: 'display', png });
        } else if (typeof data['text/plain'] === 'string') {
          c.stdout += `${data['text/plain'] as string}\n`;
        }
        break;
      }
      case 'error': {
        const e = msg.content as KernelMessage.IErrorMsg['content'];
        c.error = { ename: e.ename, evalue: e.evalue, traceback: e.traceback };
        break;
      }
      default:
        break;
    }
  }

  private readVariables(reply: KernelMessage.IExecuteReplyMsg, notes: string[]): CellResult['variables'] {
    const content = reply.content as KernelMessage.IExecuteReplyMsg['content'] & { user_expressions?: Record<string, unknown> };
    const expr = content.user_expressions?.['spatialclaw'] as { status?: string; data?: Record<string, unknown>; ename?: string; evalue?: string } | undefined;
    if (!expr) return [];
    if (expr.status !== 'ok') {
      notes.push(`variable summary unavailable: ${expr.ename ?? 'error'}: ${expr.evalue ?? ''}`);
      return [];
    }
    const parsed = VariablesPayloadSchema.safeParse(expr.data?.['application/json']);
    if (!parsed.success) {
      notes.push('variable summary unavailable: the runtime sent an unexpected shape');
      return [];
    }
    this.largeVariables = parsed.data.large ?? [];
    return parsed.data.variables;
  }

  /** Clear the user namespace and bind the inputs and tools again (profile `timeout_reset`); @returns a note. */
  private async resetNamespace(): Promise<string> {
    const err = await runQuiet(this.kernel, RESET_NAMESPACE, this.restartTimeoutMs);
    this.largeVariables = [];
    return err
      ? `clearing the namespace failed (${err}); variables may remain`
      : 'the namespace was cleared (every variable is lost) and the inputs and tools were bound again (profile timeout_reset)';
  }

  /**
   * Bring the kernel back after a death (`restart` false: the server restarts it) or restart it
   * (`restart` true), then load the runtime, prepare the inputs again and (with `replay`) replay every earlier
   * successful cell since the last namespace reset. @returns notes describing what happened.
   */
  private async recover(why: string, restart = false, replay = true): Promise<string[]> {
    const notes: string[] = [];
    try {
      // Exactly one restart per recovery: a second restart while the first is still reconnecting cancels
      // the client's pending kernel_info request. After a death, jupyter_server restarts the kernel by
      // itself; only when it gives up (status 'dead') do we restart explicitly.
      if (restart) await this.kernel.restart();
      const state = await waitIdle(this.kernel, this.restartTimeoutMs);
      if (state === 'dead') {
        await this.kernel.restart();
        if ((await waitIdle(this.kernel, this.restartTimeoutMs)) === 'dead') throw new Error('the server could not restart it');
      }
      this.deathSeen = false;
      await initKernel(this.kernel, this.restartTimeoutMs); // full: replayed cells may use plt
      this.warmUp = Promise.resolve();
      if (this.config) await this.prepare(this.config);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return [`${why}; the kernel could not be restarted (${msg}): nothing could be restored, open a new session`];
    }
    if (!replay) {
      this.deathSeen = false;
      return [`${why}; the namespace starts empty (profile timeout_reset): the inputs and tools were bound again, nothing was replayed`];
    }
    const cells = this.history.slice(this.replayFrom).filter((h) => h.status === 'ok');
    const failed: string[] = [];
    const missing = new Set<string>();
    for (const cell of cells) {
      const err = await runQuiet(this.kernel, cell.code, this.restartTimeoutMs);
      if (err) {
        failed.push(`cell ${cell.index} (${err})`);
        for (const v of cell.variables) missing.add(v.name);
      }
    }
    // Re-baseline the variable tracker so replayed variables are not reported as new.
    await runQuiet(this.kernel, `${AFTER_CELL} and None`, 10_000);
    this.deathSeen = false;
    if (failed.length === 0) {
      notes.push(`${why}; kernel restarted; state restored by replaying ${cells.length} cell${cells.length === 1 ? '' : 's'}`);
    } else {
      notes.push(`${why}; kernel restarted; replayed ${cells.length - failed.length} of ${cells.length} cells. ` +
        `Could not restore: ${failed.join('; ')}${missing.size ? `; variables possibly missing: ${[...missing].join(', ')}` : ''}`);
    }
    return notes;
  }

  /** Stop using the kernel. With `shutdown`, the kernel is shut down; otherwise the caller (pool) keeps it. */
  async close(shutdown = true): Promise<void> {
    this.disposed = true;
    await this.ownBridge?.stop();
    this.ownBridge = null;
    const id = this.kernel.id;
    if (shutdown) {
      await this.kernel.shutdown().catch(() => undefined);
      // A shut-down sandboxed kernel's folders (its inputs, scratch, sockets) go with it.
      if (this.opts.sandbox?.has(id)) this.opts.sandbox.forget(id);
    }
  }
}

/** Width and height from a base64 PNG's IHDR chunk. */
export function pngSize(b64: string): { width: number; height: number } {
  const size = imageSize(Buffer.from(b64.slice(0, 44), 'base64'));
  return size?.type === 'png' ? { width: size.width, height: size.height } : { width: 0, height: 0 };
}
