/**
 * Managed child processes: the Python servers (Jupyter, perception) and the stdio helpers (input preview,
 * safety checker) the host starts. One place for
 *
 * - the environment a child gets: an allow-list (config/env.ts `minimalChildEnv`): the basic variables of this process
 *   (PATH, HOME, locale, temp folder, PYTHON*), those the caller names in `keepEnv`, and what the caller passes in
 *   `env` (the one token a server needs goes there). No model API key and no other token reaches a child;
 * - an own process group (`group`), so signals reach the child and everything it started;
 * - the parent-death watch: servers get `SPATIALCLAW_PARENT_PID` and stop by themselves when the host dies,
 *   even by SIGKILL (python-common/spatial_common/parent_watch.py);
 * - waiting for a ready line on stdout ({@link ManagedChild.waitForLine}) or a health probe
 *   ({@link waitHealthy}), with errors that carry the child's last output lines;
 * - one process-exit hook that kills every live child when the host exits;
 * - stopping with SIGTERM, then SIGKILL after a grace period;
 * - line-oriented or raw stdout for request/response helpers, and {@link PendingReplies} to match their
 *   answers to requests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { minimalChildEnv } from './config/env.ts';

/** The variable through which a server learns the host's pid, to stop when the host is gone. */
export const PARENT_PID_ENV = 'SPATIALCLAW_PARENT_PID';

/** Output lines included in the errors of {@link ManagedChild.waitForLine} and {@link ManagedChild.notReadyError}. */
const ERROR_TAIL_LINES = 40;

/** How long to wait, after a child exited, for the rest of its output before reporting it (ms). */
const DRAIN_MS = 500;

export class ManagedChildError extends Error {
  override name = 'ManagedChildError';
}

export interface ManagedChildOptions {
  /** What the child is, for messages: `jupyter server`, `the perception server`, `the preview helper`. */
  name: string;
  /** The executable (e.g. the Python interpreter of resolvePython()). */
  command: string;
  args?: string[];
  /** Working folder; default this process's. */
  cwd?: string;
  /**
   * Variables set for the child on top of the allow-listed ones of this process (config/env.ts `minimalChildEnv`); the
   * secret the child needs (its own token) goes here. Undefined values are left out.
   */
  env?: Record<string, string | undefined>;
  /**
   * Variables of this process the child gets besides config/env.ts `BASE_CHILD_ENV`: exact names, or prefixes
   * written `PREFIX*`. A name that looks secret (`*_KEY`, `*_TOKEN`, ...) passes only when listed exactly.
   */
  keepEnv?: string[];
  /** Run in an own process group (`detached`): signals go to the child and everything it started. Default false. */
  group?: boolean;
  /** Pipe stdin, for request/response helpers (see {@link ManagedChild.write}). Default false: stdin is ignored. */
  stdin?: boolean;
  /**
   * `SPATIALCLAW_PARENT_PID` for the child: true, this process's pid (the child stops when this process is
   * gone); false, empty (the child outlives this process); default, whatever this process has.
   */
  parentWatch?: boolean;
  /** Keep stdout lines in the log tail as well as stderr lines (servers that log to stdout). Default false. */
  logStdout?: boolean;
  /** Output lines kept for {@link ManagedChild.tail}; default 200. */
  tailLines?: number;
  /** On SIGINT or SIGTERM to this process, kill every live child and exit with 128 + the signal number. Default false. */
  exitOnSignal?: boolean;
  /** The fix named at the end of "exited before it was ready" errors, e.g. 'run `spatialclaw doctor`'. */
  fix?: string;
  /** Makes the errors of the waits (default: ManagedChildError), so callers keep their own error class. */
  error?: (message: string) => Error;
}

/** How a child ended. */
export interface ChildExit {
  /** Exit code, or null when a signal ended it or it never started. */
  code: number | null;
  /** The signal that ended it, or null. */
  signal: NodeJS.Signals | null;
  /** Why it could not be started (ENOENT, EACCES), or null when it started. */
  error: Error | null;
}

/** What {@link ManagedChild.stop} does. */
export interface StopOptions {
  /** Milliseconds between the polite request and SIGKILL; default 3000. */
  graceMs?: number;
  /** The polite request: a signal (default SIGTERM), or null to only close stdin and wait. */
  term?: NodeJS.Signals | null;
}

/** Children started and not yet exited (nor detached): killed when this process exits. */
const live = new Set<ManagedChild>();
let exitHooked = false;
let signalsHooked = false;

/** SIGKILL every live managed child (group-wide for groups). Synchronous: safe in an exit handler. */
export function killAllChildren(): void {
  for (const c of [...live]) c.killNow();
}

function hookExit(exitOnSignal: boolean): void {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', killAllChildren);
  }
  if (exitOnSignal && !signalsHooked) {
    signalsHooked = true;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        // Another handler takes the signal (a run records itself `interrupted` first): it ends the process, and the
        // 'exit' hook above kills the children then.
        if (process.listenerCount(sig) > 1) return;
        killAllChildren();
        process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
      });
    }
  }
}

/** Feeds chunks of a byte stream, calls `onLine` for every complete line (UTF-8, without `\n` or `\r\n`). */
function lineSplitter(onLine: (line: string) => void): (chunk: Buffer) => void {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  return (chunk) => {
    const parts = (partial + decoder.write(chunk)).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) onLine(p.endsWith('\r') ? p.slice(0, -1) : p);
  };
}

/**
 * One child process, started at once by {@link ManagedChild.start}. It is killed when this process exits
 * unless {@link ManagedChild.detach}ed.
 */
export class ManagedChild {
  readonly name: string;
  /** Whether the child leads its own process group. */
  readonly group: boolean;
  /** Resolves once the child has exited (or failed to start) and its output was read (at most 0.5 s more). */
  readonly exited: Promise<ChildExit>;
  private readonly proc: ChildProcess;
  private readonly opts: ManagedChildOptions;
  private readonly log: string[] = [];
  private readonly lineListeners = new Set<(line: string) => void>();
  private readonly dataListeners = new Set<(chunk: Buffer) => void>();
  private spawnError: Error | null = null;

  /**
   * Spawn the child. Never throws for a command that cannot run: {@link exited} then resolves with the
   * `error`, and the waits reject with it.
   */
  static start(opts: ManagedChildOptions): ManagedChild {
    return new ManagedChild(opts);
  }

  private constructor(opts: ManagedChildOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.group = opts.group ?? false;
    const parent = opts.parentWatch === undefined ? {} : { [PARENT_PID_ENV]: opts.parentWatch ? String(process.pid) : '' };
    this.proc = spawn(opts.command, opts.args ?? [], {
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      detached: this.group,
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: minimalChildEnv({ ...opts.env, ...parent }, opts.keepEnv ?? []),
    });
    const keep = (line: string): void => {
      if (line.trim() === '') return;
      this.log.push(line);
      if (this.log.length > (opts.tailLines ?? 200)) this.log.shift();
    };
    const stdoutLines = lineSplitter((line) => {
      if (opts.logStdout) keep(line);
      for (const f of [...this.lineListeners]) f(line);
    });
    this.proc.stdout!.on('data', (d: Buffer) => {
      for (const f of [...this.dataListeners]) f(d);
      if (opts.logStdout || this.lineListeners.size > 0) stdoutLines(d);
    });
    this.proc.stderr!.on('data', lineSplitter(keep));
    this.proc.stdin?.on('error', () => undefined); // EPIPE once the child is gone: its exit is reported instead
    this.exited = this.watchExit();
    live.add(this);
    hookExit(opts.exitOnSignal ?? false);
  }

  private watchExit(): Promise<ChildExit> {
    const streamsClosed = Promise.all([this.proc.stdout, this.proc.stderr].map((s) => new Promise<void>((r) => {
      if (!s || s.closed) r();
      else s.once('close', () => r());
    })));
    return new Promise<ChildExit>((resolveExit) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        live.delete(this);
        let timer: NodeJS.Timeout | undefined;
        const capped = new Promise<void>((r) => {
          timer = setTimeout(r, DRAIN_MS);
          timer.unref();
        });
        void Promise.race([streamsClosed, capped]).then(() => {
          clearTimeout(timer);
          resolveExit({ code, signal, error: this.spawnError });
        });
      };
      this.proc.once('exit', done);
      this.proc.on('error', (e) => {
        // Also emitted when a signal cannot be sent; only a failed spawn (no pid) ends the child.
        if (this.proc.pid !== undefined) return;
        this.spawnError = e;
        done(null, null);
      });
    });
  }

  /** The child's pid (for a group, also the group id); undefined when it could not be started. */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Whether the child is still running. */
  get running(): boolean {
    return this.proc.pid !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The last `lines` non-blank lines of its stderr (and stdout with `logStdout`), joined with newlines. */
  tail(lines = 20): string {
    return this.log.slice(-lines).join('\n');
  }

  /** Call `listener` with every stdout line (without the line end). @returns a function that stops it. */
  onLine(listener: (line: string) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /** Call `listener` with every raw stdout chunk (for binary protocols). @returns a function that stops it. */
  onData(listener: (chunk: Buffer) => void): () => void {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  /**
   * Write to the child's stdin. Writes to a child that has exited are dropped (its exit is reported through
   * {@link exited}).
   * @throws ManagedChildError when the child was started without `stdin: true`.
   */
  write(text: string | Buffer): void {
    if (!this.proc.stdin) throw new ManagedChildError(`${this.name} was started without a stdin pipe: start it with stdin: true`);
    if (this.proc.stdin.writable) this.proc.stdin.write(text);
  }

  /**
   * Wait for the first stdout line that `match` accepts: a RegExp (resolves with its match) or a parser
   * (resolves with its first result other than undefined or null).
   * @throws (the `error` option's class) when the child exits or cannot start first ("<name> exited with
   *   code N before it was ready", its last output lines, and the `fix`), or when no such line comes within
   *   `timeoutMs` ("<name> did not get ready within S s", its last output lines); a child that timed out
   *   is killed (group-wide).
   */
  waitForLine(match: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  waitForLine<T>(match: (line: string) => T | undefined | null, timeoutMs: number): Promise<T>;
  waitForLine<T>(match: RegExp | ((line: string) => T | undefined | null), timeoutMs: number): Promise<T | RegExpExecArray> {
    const test = typeof match === 'function' ? match : (line: string) => match.exec(line);
    return new Promise((resolve, reject) => {
      let settled = false;
      // Called only from the listeners below, once `unlisten` and `timer` exist.
      const finish = (f: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        unlisten();
        f();
      };
      const unlisten = this.onLine((line) => {
        const v = test(line);
        if (v !== undefined && v !== null) finish(() => resolve(v));
      });
      const timer = setTimeout(() => finish(() => {
        this.killNow();
        reject(this.fail(`${this.name} did not get ready within ${timeoutMs / 1000} s.\n${this.tail(ERROR_TAIL_LINES)}`));
      }), timeoutMs);
      void this.exited.then(() => finish(() => reject(this.exitError())));
    });
  }

  /**
   * The error for a child that ended (or could not start) before it was ready: its exit code or signal,
   * its last output lines and the `fix`. Waits for its remaining output first.
   */
  async notReadyError(): Promise<Error> {
    await this.exited;
    return this.exitError();
  }

  private exitError(): Error {
    const fix = this.opts.fix ? `\nfix: ${this.opts.fix}` : '';
    if (this.spawnError) return this.fail(`could not start ${this.name} (${this.opts.command}): ${this.spawnError.message}${fix}`);
    const how = this.proc.signalCode ? `on signal ${this.proc.signalCode}` : `with code ${this.proc.exitCode}`;
    return this.fail(`${this.name} exited ${how} before it was ready.\n${this.tail(ERROR_TAIL_LINES)}${fix}`);
  }

  private fail(message: string): Error {
    return this.opts.error ? this.opts.error(message) : new ManagedChildError(message);
  }

  private signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      if (this.group) process.kill(-this.proc.pid!, sig);
      else this.proc.kill(sig);
    } catch {
      /* already gone */
    }
  }

  /** SIGKILL the child (its whole group for a group) at once. Synchronous: safe in an exit handler. */
  killNow(): void {
    this.signal('SIGKILL');
  }

  /**
   * Stop the child: close its stdin, send `term` (default SIGTERM; to the group for a group), SIGKILL
   * after `graceMs`, and resolve once it has exited. For a group, whatever is left in the group is then
   * killed too. Never rejects; a no-op for a child that has exited (but a group is still swept).
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const { graceMs = 3000, term = 'SIGTERM' } = options;
    if (this.running) {
      this.proc.stdin?.end();
      if (term) this.signal(term);
      const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
      timer.unref();
      await this.exited;
      clearTimeout(timer);
    }
    if (this.group && this.proc.pid !== undefined) {
      try {
        process.kill(-this.proc.pid, 'SIGKILL');
      } catch {
        /* the group is empty */
      }
    }
  }

  /**
   * Let the child outlive this process (a detached server): drop it from the exit hook, close its output
   * pipes, and stop it from holding this process's event loop open. Start it with `group: true` and
   * `parentWatch: false`.
   */
  detach(): void {
    live.delete(this);
    this.proc.stdout?.destroy();
    this.proc.stderr?.destroy();
    this.proc.unref();
  }
}

/** Options of {@link waitHealthy}. */
export interface HealthWaitOptions {
  /** Milliseconds to keep trying. */
  timeoutMs: number;
  /** Pause between tries; default 100 ms. */
  intervalMs?: number;
  /** The local child behind the endpoint, if any: when it exits first, its {@link ManagedChild.notReadyError} is thrown. */
  child?: ManagedChild | null;
  /** The error to throw when the time is up, given the last problem the probe reported. */
  timeoutError: (lastProblem: string) => Error;
}

/**
 * Call `probe` until it reports ready. `probe` resolves null when ready, or a string saying what is not
 * right yet (tried again after `intervalMs`); an error it throws is a problem that waiting cannot fix and
 * is thrown on at once (e.g. a rejected token).
 * @throws what `probe` throws, the child's exit error, or `timeoutError(last problem)`.
 */
export async function waitHealthy(probe: () => Promise<string | null>, o: HealthWaitOptions): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (o.child && !o.child.running) throw await o.child.notReadyError();
    const problem = await probe();
    if (problem === null) return;
    last = problem;
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 100));
  }
  throw o.timeoutError(last);
}

/** A request waiting for its reply. */
interface Waiter<T> {
  child: ManagedChild;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Requests in flight to stdio helpers, answered by id, each with its own deadline. The helper's reader
 * settles them; a helper that exits fails the requests sent to it (and only those).
 */
export class PendingReplies<T> {
  private readonly waiting = new Map<string, Waiter<T>>();

  /**
   * Wait for the reply to request `id`, sent (next) to `child`.
   * @param onTimeout called when no reply came within `timeoutMs`; returns the error to reject with (and
   *   may, e.g., kill a helper whose later answers would be out of step).
   */
  wait(id: string, child: ManagedChild, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(onTimeout());
      }, timeoutMs);
      timer.unref();
      this.waiting.set(id, { child, resolve, reject, timer });
    });
  }

  /** Resolve request `id` with `value`. @returns false when it is not waiting (timed out, failed, unknown). */
  resolve(id: string, value: T): boolean {
    const w = this.take(id);
    w?.resolve(value);
    return w !== undefined;
  }

  /** Reject request `id` with `error`. @returns false when it is not waiting. */
  reject(id: string, error: Error): boolean {
    const w = this.take(id);
    w?.reject(error);
    return w !== undefined;
  }

  /** Reject every request sent to `child`, or every request when `child` is omitted. */
  failAll(error: Error, child?: ManagedChild): void {
    for (const [id, w] of [...this.waiting]) if (child === undefined || w.child === child) this.reject(id, error);
  }

  private take(id: string): Waiter<T> | undefined {
    const w = this.waiting.get(id);
    if (w === undefined) return undefined;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    return w;
  }
}
