/**
 * Perception servers as one host sees them: the servers it started (stopped when it closes), the
 * registered ones (`<data dir>/perception-servers.json`, perception/registry.ts), and the one rule that
 * turns a perception target into a server for `spatialclaw ask`, `run`, `demo`, `replay` and the
 * workbench alike ({@link PerceptionService.resolve}).
 */
import { z } from 'zod';
import { WorkbenchError } from '../../../shared/api.ts';
import { BackendInfoSchema } from '../../../shared/contracts/perception-api.ts';
import type { LocalBackends, PerceptionBackend, PerceptionEntry } from '../../../shared/workbench.ts';
import { env, ENV, secretFrom } from '../config/env.ts';
import type { SettingsService } from '../config/settings.ts';
import { clusterPerceptionServer } from '../cluster/servers.ts';
import { connectRegistered, loadRegistry, register, type RegisteredServer, unregister } from '../perception/registry.ts';
import { PerceptionServer } from '../perception/server.ts';
import { resolvePython, runPython } from '../python.ts';
import { errMsg, type HostEvents } from './events.ts';

/** How long `--list-backends` may take (it imports the backends' packages), milliseconds. */
const LIST_BACKENDS_TIMEOUT_MS = 120_000;
const LIST_BACKENDS_ARGS = ['-m', 'spatial_perception', '--list-backends', '--json'];

/** What `--list-backends --json` prints: the BackendInfo objects `/health` lists (shared/contracts/perception-api.ts). */
const ListedSchema = z.array(BackendInfoSchema);

type Health = { healthy: boolean; backends: string[]; detail: string | null };

export class PerceptionService {
  /** Servers this host started, by name. */
  private readonly locals = new Map<string, PerceptionServer>();
  private listed: Promise<PerceptionBackend[] | string> | null = null;
  private closed = false;

  constructor(
    private readonly settings: SettingsService,
    private readonly events: HostEvents,
  ) {}

  /** Names a target may use: the servers this host started, then the registered ones. */
  names(): string[] {
    return [...this.locals.keys(), ...loadRegistry().map((e) => e.name)];
  }

  /**
   * The server for a perception target, in this order:
   * - null: no server (the kernel's perception tools then fail with a clear message);
   * - the name of a server this host started;
   * - the name of a registered server (its token is read from its variable);
   * - "local": start a server on this host with the configured backends (kept as `local`, `local-2`, ...,
   *   reused by later questions of this host, stopped when it closes);
   * - "cluster": the least-loaded healthy perception server registered on the SLURM cluster whose job is alive
   *   (`spatialclaw perception start --slurm`; cluster/servers.ts), its token read from its token file;
   * - an http(s) URL: a running server, its token read from SPATIAL_PERCEPTION_TOKEN.
   * @throws WorkbenchError naming the known servers for an unknown name, or the variable to set for a URL;
   *   PerceptionServerError when a server cannot be reached or started.
   */
  async resolve(target: string | null): Promise<PerceptionServer | null> {
    if (target === null) return null;
    const local = this.locals.get(target);
    if (local) return local;
    const entry = loadRegistry().find((e) => e.name === target);
    if (entry) return connectRegistered(entry);
    if (target === 'local') return this.startServer(this.settings.config().localPerceptionBackends).then((s) => s.server);
    if (target === 'cluster') return clusterPerceptionServer();
    if (/^https?:\/\//.test(target)) {
      const token = env('perceptionToken');
      if (!token) {
        throw new WorkbenchError(`perception server ${target}: no token`,
          `export ${ENV.perceptionToken}=<its token>, or register the server with the variable that holds its token (spatialclaw perception add NAME URL --token-env VAR, or Settings > Perception servers)`);
      }
      return PerceptionServer.connect(target, token);
    }
    const known = this.names();
    throw new WorkbenchError(`no perception server called ${target}`,
      `pick ${known.length ? `one of ${known.join(', ')}, ` : ''}"local" (start one on this host), "cluster" (one registered on the SLURM cluster), a server URL, or none`);
  }

  /** Every server with its health: those this host started, then the registered ones. */
  async list(): Promise<PerceptionEntry[]> {
    const locals = [...this.locals.entries()].map(async ([name, s]): Promise<PerceptionEntry> => ({ name, url: s.url, origin: 'local', token_env: null, ...(await health(s)) }));
    const registered = loadRegistry().map((e) => this.registeredEntry(e));
    return Promise.all([...locals, ...registered]);
  }

  /**
   * Start a perception server on this host (progress events under `perception <name>`).
   * @throws PerceptionServerError with the server's output when it does not start; WorkbenchError when
   *   the host closed meanwhile.
   */
  async startLocal(backends: string[]): Promise<PerceptionEntry> {
    const { name, server } = await this.startServer(backends);
    return { name, url: server.url, origin: 'local', token_env: null, ...(await health(server)) };
  }

  /** Register a remote server (its token stays in the named variable). @throws WorkbenchError when a server this host started has the name. */
  async add(name: string, url: string, tokenEnv: string): Promise<PerceptionEntry> {
    if (this.locals.has(name)) throw new WorkbenchError(`${name} is the name of a perception server this workbench started`, 'choose another name');
    register({ name, url, tokenEnv });
    return this.registeredEntry({ name, url, tokenEnv });
  }

  /** Stop a server this host started, or unregister a registered one. @throws WorkbenchError when neither has the name. */
  async remove(name: string): Promise<void> {
    const local = this.locals.get(name);
    if (local) {
      this.locals.delete(name);
      await local.stop();
      return;
    }
    if (!unregister(name)) throw new WorkbenchError(`no perception server called ${name}`, 'pick a name from listPerception');
  }

  /**
   * The server to replay a past sample's tool calls on: the one its run.json config names (`perception_url`
   * or `perception`), if this host started it or it is registered with its token set; else any server this
   * host started (new cells can then use the tools); else null.
   */
  forReplay(runConfig: Record<string, unknown>): PerceptionServer | null {
    const str = (k: string): string | null => (typeof runConfig[k] === 'string' ? (runConfig[k] as string) : null);
    const url = str('perception_url') ?? str('perception');
    const name = str('perception');
    for (const [n, s] of this.locals) if (s.url === url || n === name) return s;
    const entry = loadRegistry().find((e) => e.url.replace(/\/+$/, '') === url || e.name === name);
    const token = entry ? secretFrom(entry.tokenEnv) : undefined;
    if (entry && token) return PerceptionServer.reference(entry.url, token, entry.name);
    return this.locals.values().next().value ?? null;
  }

  /**
   * The backends a server started on this host would offer: the registry of this host's Python
   * environment (`python -m spatial_perception --list-backends --json`, run once per host and cached). When
   * that command is unavailable, the configured defaults plus what the running servers report, with a note
   * saying so.
   */
  async localBackends(): Promise<LocalBackends> {
    const defaults = [...this.settings.config().localPerceptionBackends];
    this.listed ??= listRegistryBackends();
    const listed = await this.listed;
    if (typeof listed !== 'string') return { source: 'registry', note: null, backends: listed, defaults };
    const seen = new Map<string, PerceptionBackend>();
    for (const b of await this.runningBackends()) if (!seen.has(b.name) || b.available) seen.set(b.name, b);
    for (const name of defaults) if (!seen.has(name)) seen.set(name, { name, available: null, reason: null, capabilities: [], device: '' });
    const note = `${listed}; listing the default backends and those the running perception servers report`;
    return { source: 'fallback', note, backends: [...seen.values()], defaults };
  }

  /** Stop every server this host started. Later starts are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.locals.values()].map((s) => s.stop()));
    this.locals.clear();
  }

  private async startServer(backends: string[]): Promise<{ name: string; server: PerceptionServer }> {
    const taken = new Set(this.names());
    let name = 'local';
    for (let i = 2; taken.has(name); i++) name = `local-${i}`;
    const progress = this.events.progress(`perception ${name}`);
    progress(`starting a perception server (${backends.join(', ')})`);
    let server: PerceptionServer;
    try {
      // A server that dies is started again on its address and token (perception/server.ts), so a batch goes on.
      server = await PerceptionServer.startLocal({ backends, restart: true });
    } catch (e) {
      progress(`could not start: ${errMsg(e)}`, true);
      throw e;
    }
    if (this.closed) {
      await server.stop();
      throw new WorkbenchError('the workbench host is shutting down', 'restart the workbench');
    }
    this.locals.set(name, server);
    progress(`ready at ${server.url}`, true);
    return { name, server };
  }

  private async registeredEntry(e: Pick<RegisteredServer, 'name' | 'url' | 'tokenEnv'>): Promise<PerceptionEntry> {
    const h = await health(PerceptionServer.reference(e.url, '', e.name));
    const detail = secretFrom(e.tokenEnv) ? h.detail : [`set ${e.tokenEnv} to its token before starting the workbench`, h.detail].filter(Boolean).join('; ');
    return { name: e.name, url: new URL(e.url).origin, origin: 'registered', token_env: e.tokenEnv, ...h, detail: detail || null };
  }

  /** The backends every reachable server (started here or registered) reports in `/health`. */
  private async runningBackends(): Promise<PerceptionBackend[]> {
    const servers = [...this.locals.values(), ...loadRegistry().map((e) => PerceptionServer.reference(e.url, '', e.name))];
    const reports = await Promise.all(servers.map((s) => s.health(3000).then((h) => h.backends, () => [])));
    return reports.flat().map((b) => ({ name: b.name, available: b.available, reason: b.reason ?? null, capabilities: b.capabilities, device: b.device }));
  }
}

/** A server's health in the form the workbench lists: available backends, and why the others are not. */
async function health(server: PerceptionServer): Promise<Health> {
  try {
    const h = await server.health(3000);
    const available = h.backends.filter((b) => b.available).map((b) => b.name);
    const down = h.backends.filter((b) => !b.available).map((b) => `${b.name}: ${b.reason ?? 'unavailable'}`);
    return { healthy: h.status === 'ok' || available.length > 0, backends: available, detail: down.length ? down.join('; ') : null };
  } catch (e) {
    return { healthy: false, backends: [], detail: errMsg(e) };
  }
}

/** Run `--list-backends --json`; the backends, or a sentence saying why they could not be listed. */
async function listRegistryBackends(): Promise<PerceptionBackend[] | string> {
  const command = `python ${LIST_BACKENDS_ARGS.join(' ')}`;
  let python: string;
  try {
    python = resolvePython();
  } catch (e) {
    return `${command} cannot run: ${errMsg(e)}`;
  }
  const r = await runPython(python, LIST_BACKENDS_ARGS, LIST_BACKENDS_TIMEOUT_MS);
  if (r.code !== 0) return `${command} is not available in this installation (exit ${r.code}: ${r.stderr.trim().split('\n').at(-1) ?? ''})`;
  let parsed;
  try {
    parsed = ListedSchema.safeParse(JSON.parse(r.stdout));
  } catch {
    return `${command} printed something other than JSON`;
  }
  if (!parsed.success) return `${command} printed an unexpected list (${parsed.error.issues[0]?.message ?? 'invalid'})`;
  return parsed.data.map((b) => ({ name: b.name, available: b.available, reason: b.reason ?? null, capabilities: b.capabilities, device: b.device }));
}
