/**
 * Perception servers as the host sees them: a local `python -m spatial_perception` process started
 * from the project's Python environment, or a remote one (e.g. a GPU box) reached by URL and token.
 * Both are a {@link PerceptionServer}; {@link PerceptionRouter} spreads work over several.
 * HTTP API: docs/perception-api.md.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULTS } from '../../../shared/defaults.ts';
import { type ChildExit, ManagedChild } from '../child.ts';
import { ENV } from '../config/env.ts';
import { resolvePython } from '../python.ts';
import { registerSecret } from '../runs/secrets.ts';

// `/health` is a contract shared with the server (shared/contracts/perception-api.ts).
import { type Health, HealthSchema } from '../../../shared/contracts/perception-api.ts';

export { BackendInfoSchema, type BackendInfo, HealthSchema, type Health } from '../../../shared/contracts/perception-api.ts';

export class PerceptionServerError extends Error {
  override name = 'PerceptionServerError';
}

export interface LocalPerceptionOptions {
  /** Backends to load, e.g. ['rgbd', 'classical']. Default: DEFAULTS.localPerceptionBackends. */
  backends?: string[];
  python?: string;
  /**
   * Address to bind; default 127.0.0.1. Anything else makes the server reachable from other machines (a cluster
   * job binds its node's address so that shards on other nodes reach it): the token is then its only guard.
   */
  host?: string;
  port?: number;
  /** Extra CLI flags for `python -m spatial_perception` (e.g. --oracle-root DIR). */
  extraArgs?: string[];
  /**
   * Extra environment, added to the allow-listed variables of this process (config/env.ts `minimalChildEnv`,
   * {@link PERCEPTION_SERVER_ENV}); the server's own token is passed by this class.
   */
  env?: NodeJS.ProcessEnv;
  /** A token to use (default: random). */
  token?: string;
  /** Milliseconds to wait for the READY line; default 120 000. */
  startTimeoutMs?: number;
  /** Start in its own session and keep running after this process exits (`perception start --detach`). */
  detached?: boolean;
  /**
   * Start the server again when it dies (not when {@link PerceptionServer.stop} ends it), on the same address, port
   * and token, so kernels prepared with its URL keep working: `true` for the default backoff, or the delays before
   * each try of a streak, ms. A streak is the restarts that follow one another within {@link RESTART_STREAK_MS}; after
   * {@link MAX_RESTARTS} in a streak the server stays down. Default false (not for `detached` servers).
   */
  restart?: boolean | { delaysMs: number[] };
}

/** Delays before each restart of a streak, ms (the last repeats): 0.5 s, 1 s, 2 s, 5 s, 10 s, then 30 s. */
export const RESTART_DELAYS_MS: readonly number[] = [500, 1000, 2000, 5000, 10_000, 30_000];
/** A crash within this long of the last (re)start continues the streak (longer backoff); a later one starts anew. */
export const RESTART_STREAK_MS = 60_000;
/** Restarts in one streak before giving up. */
export const MAX_RESTARTS = 8;

/** A local server's unexpected exit, as {@link PerceptionServer.crashes} lists it. */
export interface PerceptionCrash {
  /** ISO time of the exit. */
  at: string;
  /** How it ended, e.g. `on signal SIGKILL`, `with code 1`. */
  how: string;
}

/**
 * Variables of this process a local perception server gets besides config/env.ts `BASE_CHILD_ENV`: its own settings
 * (`SPATIAL_PERCEPTION_*`: checkpoints, the oracle root, extra backends; never a token of this process, whose name
 * looks secret) and those of the model libraries and the GPU (`HF_*`, `TRANSFORMERS_*`, `TORCH_*`, `PYTORCH_*`,
 * `CUDA_*`; `HF_TOKEN` stays out). Its own token is set by {@link PerceptionServer.startLocal}.
 */
export const PERCEPTION_SERVER_ENV: readonly string[] = ['SPATIAL_PERCEPTION_*', 'HF_*', 'TRANSFORMERS_*', 'TORCH_*', 'PYTORCH_*', 'CUDA_*', 'NVIDIA_*'];

export class PerceptionServer {
  /** Unexpected exits of a local server started with `restart`, oldest first. */
  readonly crashes: PerceptionCrash[] = [];
  /** Restarts that got the server back. */
  restarts = 0;
  /** Why a restarting server stays down (restarts given up), or null. */
  down: string | null = null;
  private stopping = false;
  /** The restart under way, or null. */
  private restarting: Promise<void> | null = null;
  /** Restarts so far in the current streak, -1 before the first crash of one. */
  private streak = -1;
  private startedAt = Date.now();
  /** Ends the wait before a restart at once (stop()). */
  private cancelWait: (() => void) | null = null;

  private constructor(
    /** Base URL without trailing slash. */
    readonly url: string,
    /** Bearer token (kept in memory; never written to disk by this class). */
    readonly token: string,
    private child: ManagedChild | null,
    /** A name for status output and routing (`local`, or a registered name). */
    readonly name: string,
    /** How to start the process again (a local server started with `restart`), or null. */
    private readonly respawn: { start: () => Promise<ManagedChild>; delaysMs: readonly number[] } | null = null,
  ) {
    // Run writers of this process redact the token wherever it would be written (../runs/secrets.ts).
    registerSecret(ENV.perceptionToken, token);
    if (child && respawn) this.supervise(child);
  }

  /** Restart the process when it dies unexpectedly, with backoff (see {@link LocalPerceptionOptions.restart}). */
  private supervise(child: ManagedChild): void {
    void child.exited.then((exit) => {
      if (this.stopping || child !== this.child) return;
      const how = exit.signal ? `on signal ${exit.signal}` : `with code ${exit.code}`;
      this.crashes.push({ at: new Date().toISOString(), how });
      this.streak = Date.now() - this.startedAt < RESTART_STREAK_MS ? this.streak + 1 : 0;
      console.error(`[perception ${this.name}] the server at ${this.url} exited ${how}; restarting it`);
      this.restarting = this.restartLoop().finally(() => {
        this.restarting = null;
      });
    });
  }

  private async restartLoop(): Promise<void> {
    const r = this.respawn!;
    for (;;) {
      if (this.streak >= MAX_RESTARTS) {
        this.down = `the perception server at ${this.url} died ${this.crashes.length} times and was restarted ${this.restarts} times; ` +
          `it stays down after ${MAX_RESTARTS} restarts in a row: check its log, then start the run again`;
        console.error(`[perception ${this.name}] ${this.down}`);
        return;
      }
      await new Promise<void>((res) => {
        const t = setTimeout(res, r.delaysMs[Math.min(this.streak, r.delaysMs.length - 1)]);
        this.cancelWait = () => {
          clearTimeout(t);
          res();
        };
      });
      this.cancelWait = null;
      if (this.stopping) return;
      try {
        const child = await r.start();
        if (this.stopping) {
          await child.stop({ graceMs: 0 });
          return;
        }
        this.child = child;
        this.startedAt = Date.now();
        this.restarts++;
        console.error(`[perception ${this.name}] restarted at ${this.url}`);
        this.supervise(child);
        return;
      } catch (e) {
        this.streak++;
        console.error(`[perception ${this.name}] restart failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
    }
  }

  /**
   * Resolves when a local server that is restarting is back (at once otherwise).
   * @throws PerceptionServerError when its restarts were given up.
   */
  async ready(): Promise<void> {
    while (this.restarting) await this.restarting;
    if (this.down) throw new PerceptionServerError(this.down);
  }

  get isLocal(): boolean {
    return this.child !== null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves once a local server's process has exited (how it ended); null for a remote server. */
  get exited(): Promise<ChildExit> | null {
    return this.child?.exited ?? null;
  }

  /**
   * Start `python -m spatial_perception` on 127.0.0.1 (or `opts.host`) with a free port (or `opts.port`), in its
   * own process group, and wait for its READY line. The token travels in the environment
   * (SPATIAL_PERCEPTION_TOKEN), not in argv; no other secret of this process reaches the server. A server that is not `detached` is killed when this
   * process exits and stops by itself if this process dies.
   * @throws PerceptionServerError with the server's last output when it cannot start, exits or does not
   *   get ready in time (it is killed then).
   */
  static async startLocal(opts: LocalPerceptionOptions = {}): Promise<PerceptionServer> {
    const python = opts.python ?? resolvePython();
    const token = opts.token ?? randomBytes(24).toString('hex');
    const { child, url } = await PerceptionServer.spawn(opts, python, token, opts.port ?? 0);
    // Detached servers leave the exit hook and this process's event loop.
    if (opts.detached) child.detach();
    const restart = opts.restart && !opts.detached ? opts.restart : null;
    const base = url.replace(/\/+$/, '');
    // A restart binds the same address and port, and keeps the token: kernels prepared with the URL keep working.
    const port = Number(new URL(base).port);
    const respawn = restart
      ? { start: async () => (await PerceptionServer.spawn(opts, python, token, port)).child, delaysMs: restart === true ? RESTART_DELAYS_MS : restart.delaysMs }
      : null;
    return new PerceptionServer(base, token, child, 'local', respawn);
  }

  /** Start the process and wait for its READY line (killed when it does not come). */
  private static async spawn(opts: LocalPerceptionOptions, python: string, token: string, port: number): Promise<{ child: ManagedChild; url: string }> {
    const backends = opts.backends ?? [...DEFAULTS.localPerceptionBackends];
    const args = ['-m', 'spatial_perception', '--host', opts.host ?? '127.0.0.1', '--port', String(port),
      '--backends', backends.join(','), ...(opts.extraArgs ?? [])];
    const child = ManagedChild.start({
      name: 'the perception server',
      command: python,
      args,
      group: true,
      // Servers tied to this process stop when it dies (even by SIGKILL); detached ones outlive it.
      parentWatch: !opts.detached,
      logStdout: true,
      tailLines: 40,
      fix: 'run `spatialclaw doctor`; check the --backends names and their options',
      error: (message) => new PerceptionServerError(message),
      env: { ...opts.env, [ENV.perceptionToken]: token, PYTHONUNBUFFERED: '1' },
      keepEnv: [...PERCEPTION_SERVER_ENV],
    });
    let url: string;
    try {
      url = await child.waitForLine((line) => /^SPATIAL_PERCEPTION_READY (http:\/\/\S+)$/.exec(line.trim())?.[1], opts.startTimeoutMs ?? 120_000);
    } catch (e) {
      await child.stop({ graceMs: 0 });
      throw e;
    }
    return { child, url };
  }

  /**
   * A running (possibly remote) server. Checks `/health` and the token before returning.
   * @throws PerceptionServerError naming the URL when it is unreachable or rejects the token.
   */
  static async connect(url: string, token: string, name = 'remote', timeoutMs = 10_000): Promise<PerceptionServer> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new PerceptionServerError(`not a valid perception server URL: ${JSON.stringify(url)} (expected e.g. http://host:8765)`);
    }
    const server = new PerceptionServer(parsed.origin, token, null, name);
    await server.health(timeoutMs);
    const r = await fetch(`${server.url}/v1/backends`, { headers: server.authHeaders(), signal: AbortSignal.timeout(timeoutMs) });
    if (r.status === 401) throw new PerceptionServerError(`the perception server at ${server.url} rejected the token; check the token`);
    return server;
  }

  /**
   * Refer to a server without contacting it, e.g. for a router built from the registry while some
   * servers are down; the router checks health when it picks one.
   */
  static reference(url: string, token: string, name: string): PerceptionServer {
    return new PerceptionServer(new URL(url).origin, token, null, name);
  }

  authHeaders(): Record<string, string> {
    return { Authorization: `Bearer ${this.token}` };
  }

  /** GET /health (no auth). @throws PerceptionServerError when unreachable or malformed. */
  async health(timeoutMs = 5000): Promise<Health> {
    let r: Response;
    try {
      r = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      throw new PerceptionServerError(`the perception server at ${this.url} is not reachable (${e instanceof Error ? e.message : String(e)}); ` +
        'start one with `spatialclaw perception start` or check the URL');
    }
    if (!r.ok) throw new PerceptionServerError(`the perception server at ${this.url} answered /health with HTTP ${r.status}`);
    const parsed = HealthSchema.safeParse(await r.json());
    if (!parsed.success) throw new PerceptionServerError(`${this.url}/health is not a SpatialClaw perception server (unexpected answer)`);
    return parsed.data;
  }

  /** Kill a local server's whole process group at once (SIGKILL). Safe in an exit handler. No-op for remote servers. */
  killNow(): void {
    this.stopping = true;
    this.cancelWait?.();
    this.child?.killNow();
  }

  /**
   * Stop a local server (SIGTERM to its group, SIGKILL after `graceMs`, then whatever is left in the
   * group). No-op for remote servers.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    this.cancelWait?.();
    await this.child?.stop({ graceMs });
  }
}

export interface RouterOptions {
  /** How long an unreachable server is skipped (default 30 s). */
  cooldownMs?: number;
  /** Attempts per request on connection errors (default 3); 4xx answers are never retried. */
  attempts?: number;
  /** First backoff delay (default 200 ms), doubled per attempt, with ±50% jitter. */
  backoffMs?: number;
}

/**
 * Spreads work over several perception servers: picks the healthy server with the shortest queue
 * (from /health) plus the requests this host has in flight, skips servers that failed recently
 * (cool-down), and retries connection errors with exponential backoff and jitter on the next
 * server. HTTP 4xx answers are returned as they are, never retried.
 */
export class PerceptionRouter {
  private readonly inFlight = new Map<PerceptionServer, number>();
  private readonly downUntil = new Map<PerceptionServer, number>();
  private readonly opts: Required<RouterOptions>;

  constructor(readonly servers: PerceptionServer[], opts: RouterOptions = {}) {
    if (servers.length === 0) throw new PerceptionServerError('no perception server configured: start one with `spatialclaw perception start` or add one');
    this.opts = { cooldownMs: opts.cooldownMs ?? 30_000, attempts: opts.attempts ?? 3, backoffMs: opts.backoffMs ?? 200 };
  }

  private isDown(s: PerceptionServer): boolean {
    return (this.downUntil.get(s) ?? 0) > Date.now();
  }

  /** Mark a server as failing for the cool-down period. */
  markDown(s: PerceptionServer): void {
    this.downUntil.set(s, Date.now() + this.opts.cooldownMs);
  }

  /**
   * The least-loaded healthy server that has `backend` available (if given).
   * @throws PerceptionServerError listing each server's problem when none qualifies.
   */
  async pick(backend?: string): Promise<PerceptionServer> {
    const problems: string[] = [];
    let best: { s: PerceptionServer; load: number } | null = null;
    for (const s of this.servers) {
      if (this.isDown(s)) {
        problems.push(`${s.name} (${s.url}): failed recently, cooling down`);
        continue;
      }
      try {
        const h = await s.health(3000);
        if (backend) {
          const b = h.backends.find((x) => x.name === backend);
          if (!b?.available) {
            problems.push(`${s.name} (${s.url}): backend ${backend} ${b ? `unavailable (${b.reason ?? 'no reason'})` : 'not loaded'}`);
            continue;
          }
        }
        const load = Object.values(h.queue).reduce((a, b) => a + b, 0) + (this.inFlight.get(s) ?? 0);
        if (!best || load < best.load) best = { s, load };
      } catch (e) {
        this.markDown(s);
        problems.push(`${s.name} (${s.url}): ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (!best) throw new PerceptionServerError(`no perception server can take this request:\n  ${problems.join('\n  ')}`);
    return best.s;
  }

  /**
   * Send one request to the best server, failing over and retrying on connection errors.
   * Returns the first HTTP answer (including 4xx/5xx answers, which are not retried).
   */
  async request(path: string, init: RequestInit & { backend?: string } = {}): Promise<{ server: PerceptionServer; response: Response }> {
    const errors: string[] = [];
    for (let attempt = 0; attempt < this.opts.attempts; attempt++) {
      let server: PerceptionServer;
      try {
        server = await this.pick(init.backend);
      } catch (e) {
        errors.push(e instanceof Error ? e.message : String(e));
        await this.backoff(attempt);
        continue;
      }
      this.inFlight.set(server, (this.inFlight.get(server) ?? 0) + 1);
      try {
        const response = await fetch(`${server.url}${path}`, { ...init, headers: { ...server.authHeaders(), ...(init.headers as Record<string, string> | undefined) } });
        return { server, response };
      } catch (e) {
        this.markDown(server);
        errors.push(`${server.name}: ${e instanceof Error ? e.message : String(e)}`);
        await this.backoff(attempt);
      } finally {
        this.inFlight.set(server, (this.inFlight.get(server) ?? 1) - 1);
      }
    }
    throw new PerceptionServerError(`perception request ${path} failed after ${this.opts.attempts} attempts:\n  ${errors.join('\n  ')}`);
  }

  private backoff(attempt: number): Promise<void> {
    const base = this.opts.backoffMs * 2 ** attempt;
    const ms = base * (0.5 + Math.random());
    return new Promise((r) => setTimeout(r, ms));
  }
}
