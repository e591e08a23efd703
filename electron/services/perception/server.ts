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
   * Extra environment, added to this process's environment without the variables that look secret
   * (config/env.ts `childEnv`); the server's own token is passed by this class.
   */
  env?: NodeJS.ProcessEnv;
  /** A token to use (default: random). */
  token?: string;
  /** Milliseconds to wait for the READY line; default 120 000. */
  startTimeoutMs?: number;
  /** Start in its own session and keep running after this process exits (`perception start --detach`). */
  detached?: boolean;
}

export class PerceptionServer {
  private constructor(
    /** Base URL without trailing slash. */
    readonly url: string,
    /** Bearer token (kept in memory; never written to disk by this class). */
    readonly token: string,
    private readonly child: ManagedChild | null,
    /** A name for status output and routing (`local`, or a registered name). */
    readonly name: string,
  ) {}

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
    const backends = opts.backends ?? [...DEFAULTS.localPerceptionBackends];
    const args = ['-m', 'spatial_perception', '--host', opts.host ?? '127.0.0.1', '--port', String(opts.port ?? 0),
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
    });
    let url: string;
    try {
      url = await child.waitForLine((line) => /^SPATIAL_PERCEPTION_READY (http:\/\/\S+)$/.exec(line.trim())?.[1], opts.startTimeoutMs ?? 120_000);
    } catch (e) {
      await child.stop({ graceMs: 0 });
      throw e;
    }
    // Detached servers leave the exit hook and this process's event loop.
    if (opts.detached) child.detach();
    return new PerceptionServer(url.replace(/\/+$/, ''), token, child, 'local');
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
    this.child?.killNow();
  }

  /**
   * Stop a local server (SIGTERM to its group, SIGKILL after `graceMs`, then whatever is left in the
   * group). No-op for remote servers.
   */
  async stop(graceMs = 5000): Promise<void> {
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
