/**
 * The model endpoint configs of this host: one JSON file per config in `<data dir>/models/<name>.json`
 * (docs/models.md), and the read-only built-in configs shipped in `<root>/models/` (the SpatialClaw paper's six
 * backbones, served by vLLM at a default base URL that `--base-url` overrides). {@link ModelRegistry} is the only
 * code that reads or writes those folders: the workbench's Settings > Model endpoints, its Ask, and the CLI's
 * `--model` all go through it. A config in the data dir replaces a built-in one of the same name.
 *
 * Configs name the environment variable that holds an API key (`api_key_env`), never the key; files are
 * still written readable by the user only (0600).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { WorkbenchError } from '../../../shared/api.ts';
import type { ModelConfig } from '../../../shared/model.ts';
import type { ModelEntry, ModelTest } from '../../../shared/workbench.ts';
import { writeJsonAtomic } from '../fs/atomic.ts';
import { appRoot, dataDir } from '../paths.ts';
import { clusterModelEndpoints } from '../cluster/servers.ts';
import { ModelClient } from './client.ts';
import { loadModelConfig, ModelConfigError, modelConfigFromFlags, parseModelConfig } from './config.ts';

/** What a config name (a file stem) may look like. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const CLUSTER = 'cluster';
/** Whether a `--model` value names the cluster's registered model servers: `cluster` or `cluster:NAME`. */
export function isClusterTarget(arg: string): boolean {
  return arg === CLUSTER || arg.startsWith(`${CLUSTER}:`);
}

/** A config file name for a model id ("Qwen/Qwen2.5-VL-7B" → "Qwen_Qwen2.5-VL-7B"), at most 120 characters. */
export function modelFileStem(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return s.slice(0, 120) || 'model';
}

/** How many served model ids a "not among them" message lists. */
const SERVED_SHOWN = 12;

/**
 * The error of an endpoint that does not serve `model`: what it serves (sorted; the first {@link SERVED_SHOWN}),
 * and the likely intended id when one differs only in case or contains / is contained in it.
 */
export function notServed(model: string, served: readonly string[]): string {
  if (served.length === 0) return `the endpoint lists no models; model '${model}' is not served there — start the server with that model, or fix the base URL`;
  const sorted = [...served].sort();
  const shown = sorted.slice(0, SERVED_SHOWN).join(', ') + (sorted.length > SERVED_SHOWN ? `, … (${sorted.length - SERVED_SHOWN} more)` : '');
  const m = model.toLowerCase();
  const near = sorted.find((s) => s.toLowerCase() === m) ?? sorted.find((s) => s.length >= 3 && (s.toLowerCase().includes(m) || m.includes(s.toLowerCase())));
  return `endpoint serves [${shown}]; model '${model}' is not among them — fix the model name${near ? ` (did you mean '${near}'?)` : ''}`;
}

/** The model options of a command line: `--model CONFIG|NAME [--base-url URL] [--api-key-env VAR]`. */
export interface ModelArgs {
  model?: string | null | undefined;
  baseUrl?: string | null | undefined;
  apiKeyEnv?: string | null | undefined;
}

/** The built-in configs' folder, `<root>/models`; null when the app root cannot be located. */
export function builtinModelsDir(): string | null {
  try {
    return join(appRoot(), 'models');
  } catch {
    return null;
  }
}

/** Config names (file names without `.json`) in a folder, sorted; [] when it does not exist. */
function namesIn(dir: string | null): string[] {
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

/** The valid configs `names` of `dir`; with `warn`, each invalid file is reported on the console. */
function loadEntries(dir: string, names: string[], warn: boolean, builtin: boolean): ModelEntry[] {
  const out: ModelEntry[] = [];
  for (const name of names) {
    const file = join(dir, `${name}.json`);
    try {
      out.push({ name, config: loadModelConfig(file), file, ...(builtin ? { builtin } : {}) });
    } catch (e) {
      if (warn) console.warn(`models: skipping ${builtin ? 'built-in ' : ''}model config ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return out;
}

export class ModelRegistry {
  /**
   * @param dir the configs folder (default `<data dir>/models`; created on the first save).
   * @param builtinDir the built-in configs (default `<root>/models`; null: none).
   */
  constructor(
    readonly dir: string = join(dataDir(), 'models'),
    readonly builtinDir: string | null = builtinModelsDir(),
  ) {}

  /** The names of the configs in {@link dir}, sorted; [] when the folder does not exist. */
  names(): string[] {
    return namesIn(this.dir);
  }

  /** The names of the built-in configs a config in {@link dir} does not replace, sorted. */
  builtinNames(): string[] {
    const own = new Set(this.names());
    return namesIn(this.builtinDir).filter((n) => !own.has(n));
  }

  /** Every valid config, by name: those of {@link dir}, then the built-in ones. Invalid files are skipped with a warning naming the file and the problem. */
  list(): ModelEntry[] {
    return [...this.load(true), ...this.loadBuiltins(true)];
  }

  /** A config by its name (file stem) or, failing that, by the model id it serves; undefined when none matches. */
  lookup(name: string): ModelEntry | undefined {
    const all = this.list();
    return all.find((m) => m.name === name) ?? all.find((m) => m.config.name === name);
  }

  /** Like {@link lookup}. @throws WorkbenchError naming the known configs. */
  find(name: string): ModelEntry {
    const hit = this.lookup(name);
    if (hit) return hit;
    const known = this.names();
    throw new WorkbenchError(`no model config called ${JSON.stringify(name)}`, known.length ? `pick one of ${known.join(', ')}` : 'add one with saveModel (Settings > Model endpoints)');
  }

  /**
   * Validate and write a config as `<dir>/<modelFileStem(config.name)>.json` (atomic, mode 0600). A name that is
   * taken (a config of the same file name, or a built-in one) is refused unless `opts.replace`: two model ids can
   * map to one file name ("org/model", "org_model"), and the same model id added for a second server would
   * otherwise silently overwrite the first.
   * @throws ModelConfigError naming the field; WorkbenchError (status 409) for a taken name without `replace`.
   */
  save(config: ModelConfig, opts: { replace?: boolean } = {}): ModelEntry {
    const checked = parseModelConfig(config, `model config ${JSON.stringify(config.name)}`);
    const name = modelFileStem(checked.name);
    const file = this.fileOf(name);
    if (!opts.replace) this.refuseTaken(name, checked);
    mkdirSync(this.dir, { recursive: true });
    writeJsonAtomic(file, checked, { mode: 0o600 });
    return { name, config: checked, file };
  }

  /** @throws WorkbenchError (409) when `name` is the name of a saved or a built-in config. */
  private refuseTaken(name: string, config: ModelConfig): void {
    const own = existsSync(this.fileOf(name));
    const builtin = !own && namesIn(this.builtinDir).includes(name);
    if (!own && !builtin) return;
    let where = '';
    try {
      const old = loadModelConfig(own ? this.fileOf(name) : join(this.builtinDir!, `${name}.json`));
      const urls = old.endpoints ? old.endpoints.map((e) => e.base_url) : old.base_url ? [old.base_url] : [];
      // Two model ids, one file name: say why they collide.
      const clash = old.name === config.name ? '' : `; model ids ${JSON.stringify(old.name)} and ${JSON.stringify(config.name)} are both saved as ${name}.json`;
      where = ` (model ${JSON.stringify(old.name)} at ${urls.join(', ')}${clash})`;
    } catch {
      /* an unreadable file is still taken */
    }
    throw new WorkbenchError(
      builtin
        ? `a built-in model endpoint is called ${JSON.stringify(name)}${where}; it is read-only and was not replaced`
        : `a model endpoint called ${JSON.stringify(name)} already exists${where}; it was not replaced`,
      builtin
        ? 'to use your own config under this name, save again with replace: true (Settings asks "Replace the existing endpoint?"); removing yours brings the built-in one back'
        : 'to replace it, save again with replace: true (Settings asks "Replace the existing endpoint?") or use Edit on its row; to serve the same model from two servers, list both under "endpoints" in one config (docs/models.md)',
      'saveModel',
      409,
    );
  }

  /** Delete a config (by name or model id). @throws WorkbenchError when there is none, or it is built in. */
  remove(name: string): void {
    const entry = this.find(name);
    if (entry.builtin) throw new WorkbenchError(`${JSON.stringify(entry.name)} is a built-in model config (read-only)`, 'save a config of the same name to replace it; that one can be removed');
    rmSync(entry.file);
  }

  /**
   * Check each endpoint of a config: reachable, latency, and that it serves the configured model id (its
   * `GET /models`, OpenAI `models.list`); else what to do. An endpoint without a /models route (HTTP 404) is
   * reachable but unchecked: ok, with `served: null`.
   * @throws WorkbenchError, ModelError (a key variable unset)
   */
  async test(name: string): Promise<ModelTest> {
    const config = this.find(name).config;
    const client = new ModelClient(config);
    const answers = await client.servedModels();
    const endpoints = answers.map((r) => {
      const latency_ms = r.status === null ? null : Math.round(r.latencyMs);
      if (r.models) {
        const error = r.models.includes(config.name) ? null : notServed(config.name, r.models);
        return { base_url: r.base_url, ok: error === null, latency_ms, error, served: r.models };
      }
      if (r.status === 404) return { base_url: r.base_url, ok: true, latency_ms, error: null, served: null };
      const fix = r.status === 401 || r.status === 403 ? '' : '; check that the server runs and the URL ends in /v1';
      return { base_url: r.base_url, ok: false, latency_ms, error: `${r.error ?? `HTTP ${r.status}`}${fix}`, served: null };
    });
    return { ok: endpoints.length > 0 && endpoints.every((e) => e.ok), endpoints };
  }

  /**
   * The config a command line names. `arg` is a path to a JSON file (anything with a path separator or
   * ending in `.json`, or an existing file), a config name in {@link dir}, or the model id a config serves.
   * @throws ModelConfigError naming the file or name, and the known configs.
   */
  resolve(arg: string): ModelConfig {
    if (isClusterTarget(arg)) return this.cluster(arg);
    const looksLikePath = arg.endsWith('.json') || arg.includes('/') || arg.includes('\\') || isAbsolute(arg);
    const exists = existsSync(arg);
    if (exists && statSync(arg).isFile()) return loadModelConfig(arg);
    const named = !looksLikePath && NAME_RE.test(arg) ? this.fileOf(arg) : null;
    if (named && existsSync(named)) return loadModelConfig(named);
    const builtin = !looksLikePath && NAME_RE.test(arg) ? this.builtin(arg) : undefined;
    if (builtin) return builtin.config;
    const byId = [...this.load(false), ...this.loadBuiltins(false)].find((m) => m.config.name === arg);
    if (byId) return byId.config;
    if (looksLikePath) {
      if (arg.endsWith('.json') || exists) return loadModelConfig(arg); // throws naming the file
      throw new ModelConfigError(resolve(arg),
        'no such model config file (a model id such as "org/model" is used directly only together with a base URL: --base-url)');
    }
    if (!named) throw new ModelConfigError(arg, 'not a model config name (letters, digits, ".", "_", "-") nor a path to a .json file');
    const known = this.names();
    const builtins = this.builtinNames();
    throw new ModelConfigError(named,
      `no model config called "${arg}" (${known.length ? `known: ${known.join(', ')}` : `no configs in ${this.dir} yet`})` +
        `${builtins.length ? `; built-in: ${builtins.join(', ')}` : ''}; give a path to a JSON file or create ${named}`);
  }

  /**
   * The model a command line asks for: an ad-hoc config when a base URL is given, else {@link resolve};
   * null when no model is named.
   * @throws ModelConfigError naming the flag, file or name.
   */
  fromArgs(a: ModelArgs): ModelConfig | null {
    if (!a.model) return null;
    // The cluster's endpoints are the registered servers: a base URL does not apply.
    if (isClusterTarget(a.model)) return this.cluster(a.model);
    const builtin = a.baseUrl && NAME_RE.test(a.model) && !a.model.endsWith('.json') ? this.builtin(a.model) : undefined;
    if (builtin && a.baseUrl) {
      // A built-in config at another endpoint: its roles and limits, the given base URL (and key variable).
      const { endpoints: _endpoints, ...config } = builtin.config;
      return parseModelConfig({ ...config, base_url: a.baseUrl, ...(a.apiKeyEnv ? { api_key_env: a.apiKeyEnv } : {}) }, `built-in model config ${builtin.name} with --base-url`);
    }
    if (a.baseUrl) return modelConfigFromFlags({ model: a.model, baseUrl: a.baseUrl, ...(a.apiKeyEnv ? { apiKeyEnv: a.apiKeyEnv } : {}) });
    return this.resolve(a.model);
  }

  /**
   * `cluster` or `cluster:NAME`: a config whose endpoints are the healthy model servers registered on the SLURM
   * cluster (least loaded first; cluster/servers.ts `clusterModelEndpoints`), each with its token file as
   * `api_key_file` (read by the client at each call; the key never enters the config). NAME is the model id the
   * servers serve, or the name of a config that serves it. The roles, limits and sampling come from the config (saved
   * or built in) that serves the same model id, else the defaults.
   * @throws WorkbenchError when no registered server serves the model or none answers.
   */
  private cluster(arg: string): ModelConfig {
    const asked = arg === CLUSTER ? undefined : arg.slice(CLUSTER.length + 1);
    const byName = asked ? this.lookup(asked) : undefined;
    let found: ReturnType<typeof clusterModelEndpoints>;
    try {
      found = clusterModelEndpoints(asked);
    } catch (e) {
      // NAME may be a config's name rather than the served model id.
      if (!byName || byName.config.name === asked) throw e;
      found = clusterModelEndpoints(byName.config.name);
    }
    const base = this.lookup(found.model)?.config ?? (byName?.config.name === found.model ? byName.config : undefined);
    const { base_url: _url, endpoints: _endpoints, api_key_env: _key, ...settings } = base ?? { name: found.model };
    return parseModelConfig({
      ...settings,
      name: found.model,
      endpoints: found.endpoints.map((e) => ({ base_url: e.base_url, api_key_file: e.api_key_file })),
    }, `--model ${arg}`);
  }

  /** A built-in config by name, unless a config in {@link dir} replaces it. */
  private builtin(name: string): ModelEntry | undefined {
    return this.builtinNames().includes(name) ? this.loadBuiltins(false).find((m) => m.name === name) : undefined;
  }

  /** The valid built-in configs not replaced by one in {@link dir}; with `warn`, each invalid file is reported. */
  private loadBuiltins(warn: boolean): ModelEntry[] {
    return this.builtinDir ? loadEntries(this.builtinDir, this.builtinNames(), warn, true) : [];
  }

  /** The valid configs of {@link dir}; with `warn`, each invalid file is reported on the console. */
  private load(warn: boolean): ModelEntry[] {
    return loadEntries(this.dir, this.names(), warn, false);
  }

  private fileOf(name: string): string {
    return join(this.dir, `${name}.json`);
  }
}
