/**
 * Perception servers as the host sees them: a local `python -m spatial_perception` process started
 * from the project's Python environment, or a remote one (e.g. a GPU box) reached by URL and token.
 * Both are a {@link PerceptionServer}; {@link PerceptionRouter} spreads work over several.
 * HTTP API: docs/perception-api.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { signalGroup, stopGroup } from '../process-group.ts';
import { resolvePython } from '../python.ts';

export const BackendInfoSchema = z.object({
  name: z.string(),
  capabilities: z.array(z.string()),
  device: z.string(),
  version: z.string(),
  available: z.boolean(),
  reason: z.string().nullable().optional(),
});
export type BackendInfo = z.infer<typeof BackendInfoSchema>;

export const HealthSchema = z.object({
  status: z.string(),
  version: z.string(),
  backends: z.array(BackendInfoSchema),
  device: z.string(),
  queue: z.record(z.string(), z.number()),
  cache: z.object({
    entries: z.number(),
    bytes: z.number(),
    max_bytes: z.number(),
    hits: z.number(),
    misses: z.number(),
    evictions: z.number(),
  }),
  uptime_s: z.number(),
});
export type Health = z.infer<typeof HealthSchema>;

export class PerceptionServerError extends Error {
  override name = 'PerceptionServerError';
}

export interface LocalPerceptionOptions {
  /** Backends to load, e.g. ['rgbd', 'classical']. Default rgbd, classical. */
  backends?: string[];
  python?: string;
  port?: number;
  /** Extra CLI flags for `python -m spatial_perception` (e.g. --oracle-root DIR). */
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** A token to use (default: random). */
  token?: string;
  startTimeoutMs?: number;
  /** Start in its own session and keep running after this process exits (`perception start --detach`). */
  detached?: boolean;
}

const live = new Set<PerceptionServer>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const s of live) s.killNow();
  });
}

export class PerceptionServer {
  private constructor(
    /** Base URL without trailing slash. */
    readonly url: string,
    /** Bearer token (kept in memory; never written to disk by this class). */
    readonly token: string,
    private readonly child: ChildProcess | null,
    /** A name for status output and routing (`local`, or a registered name). */
    readonly name: string,
  ) {}

  get isLocal(): boolean {
    return this.child !== null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Start `python -m spatial_perception` on 127.0.0.1 with a free port and wait for its READY line.
   * The token travels in the environment (SPATIAL_PERCEPTION_TOKEN), not in argv.
   * @throws PerceptionServerError with the server's last output when it exits or does not get ready.
   */
  static async startLocal(opts: LocalPerceptionOptions = {}): Promise<PerceptionServer> {
    const python = opts.python ?? resolvePython();
    const token = opts.token ?? randomBytes(24).toString('hex');
    const backends = opts.backends ?? ['rgbd', 'classical'];
    const args = ['-m', 'spatial_perception', '--host', '127.0.0.1', '--port', String(opts.port ?? 0),
      '--backends', backends.join(','), ...(opts.extraArgs ?? [])];
    const child = spawn(python, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...opts.env,
        SPATIAL_PERCEPTION_TOKEN: token,
        PYTHONUNBUFFERED: '1',
        // Servers tied to this process stop when it dies (even by SIGKILL); detached ones outlive it.
        SPATIALCLAW_PARENT_PID: opts.detached ? '' : String(process.pid),
      },
    });
    const tail: string[] = [];
    const keep = (line: string): void => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
    };
    createInterface({ input: child.stderr! }).on('line', keep);
    const timeoutMs = opts.startTimeoutMs ?? 120_000;
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new PerceptionServerError(`the perception server did not get ready within ${timeoutMs / 1000} s.\n${tail.join('\n')}`));
      }, timeoutMs);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = /^SPATIAL_PERCEPTION_READY (http:\/\/\S+)$/.exec(line.trim());
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        } else keep(line);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new PerceptionServerError(
          `the perception server exited with code ${code} before it was ready.\n${tail.join('\n')}\n` +
          'fix: run `spatialclaw doctor`; check the --backends names and their options',
        ));
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new PerceptionServerError(`could not start ${python}: ${e.message}`));
      });
    });
    const server = new PerceptionServer(url.replace(/\/+$/, ''), token, child, 'local');
    if (opts.detached) {
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.unref();
    } else {
      live.add(server);
      hookExit();
      child.once('exit', () => live.delete(server));
    }
    return server;
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

  killNow(): void {
    signalGroup(this.child, 'SIGKILL');
  }

  /** Stop a local server (SIGTERM to its group, SIGKILL after `graceMs`). No-op for remote servers. */
  async stop(graceMs = 5000): Promise<void> {
    await stopGroup(this.child, graceMs);
    live.delete(this);
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
