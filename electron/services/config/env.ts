/**
 * The environment variables the host reads, by name, with what each means. Every `process.env` read of the
 * host services and the CLI goes through this module, so the full list is here and nowhere else.
 *
 * Secrets are never read into configuration objects: model configs and perception entries name the
 * variable that holds a key or token (`api_key_env`, `token_env`), and {@link secretFrom} reads it at the
 * moment it is needed.
 */
export const ENV = {
  /** Interpreter to use instead of `<root>/.venv` (needs the three Python packages installed). */
  python: 'SPATIALCLAW_PYTHON',
  /** Data directory (runs, settings, model configs, kernel scratch); default the platform's app-data folder. */
  home: 'SPATIALCLAW_HOME',
  /** Application root (package.json, python-runtime/, test/fixtures/), for packaged builds. */
  root: 'SPATIALCLAW_ROOT',
  /** Default model: a config name or file (`--model`). */
  model: 'SPATIALCLAW_MODEL',
  /** Default OpenAI-compatible endpoint for an ad-hoc model config, or of a built-in one (`--base-url`). */
  baseUrl: 'SPATIALCLAW_BASE_URL',
  /** Default agent profile, `default` or `paper` (`--profile`; shared/profiles.ts). */
  profile: 'SPATIALCLAW_PROFILE',
  /** Folder holding the benchmarks' snapshots (`<dir>/vsibench/`, ...), the default of `--data-root`. */
  dataRoot: 'SPATIALCLAW_DATA_ROOT',
  /**
   * Persistent video frame cache of the kernels (python-runtime/spatial_runtime/inputs/frame_cache.py): a folder,
   * default `<data dir>/cache/frames`; `off` disables it. Its size bound: SPATIALCLAW_FRAME_CACHE_MAX_MB (default 4096).
   */
  frameCache: 'SPATIALCLAW_FRAME_CACHE',
  /** Show the kernel client's debug messages. */
  debug: 'SPATIALCLAW_DEBUG',
  /**
   * Cluster folder on the shared filesystem (docs/cluster.md): the registry of cluster-hosted servers
   * (`servers/`), their token files (`tokens/`, 0600) and generated job scripts (`jobs/`); default `<data dir>/cluster`.
   */
  clusterDir: 'SPATIALCLAW_CLUSTER_DIR',
  /** Token of a running Jupyter server given with `--jupyter-url`. */
  jupyterToken: 'SPATIALCLAW_JUPYTER_TOKEN',
  /** Default variable holding a perception server's token (remote servers, `perception start --detach`). */
  perceptionToken: 'SPATIAL_PERCEPTION_TOKEN',
  /** Chromium used by the browser tests and `doctor`. */
  chromium: 'CHROMIUM_PATH',
  /** The dev server of the renderer (set by electron-vite dev). */
  rendererUrl: 'ELECTRON_RENDERER_URL',
} as const;

export type EnvName = keyof typeof ENV;

/** The value of one of the host's variables, or undefined when unset or empty. */
export function env(name: EnvName): string | undefined {
  const v = process.env[ENV[name]];
  return v === undefined || v === '' ? undefined : v;
}

/** A platform variable the host needs to locate folders (HOME-like: APPDATA, XDG_DATA_HOME, JUPYTER_PATH). */
export function platformEnv(name: 'APPDATA' | 'XDG_DATA_HOME' | 'JUPYTER_PATH'): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * The secret held by the variable a config names (an API key, a server token), read when it is needed and
 * never stored. Undefined when the variable is unset or empty.
 */
export function secretFrom(varName: string | null | undefined): string | undefined {
  if (!varName) return undefined;
  const v = process.env[varName];
  return v === undefined || v === '' ? undefined : v;
}

/** Names of variables that look like they hold secrets (keys, tokens, passwords). */
export const SECRET_NAME_RE = /(KEY|TOKEN|SECRET|PASSW(OR)?D|CREDENTIAL)/i;

/**
 * The environment for a child process: this process's environment without the variables that look like
 * secrets, plus `extra` (which may carry the one secret the child needs, e.g. its own server token).
 * Variables listed in `keep` pass even when their name looks secret.
 */
export function childEnv(extra: Record<string, string | undefined> = {}, keep: string[] = []): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (SECRET_NAME_RE.test(k) && !keep.includes(k)) continue;
    out[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Names of the variables set in this process whose names look like they hold secrets ({@link SECRET_NAME_RE}).
 * Redaction treats their values as secrets even when no config names them; read a value with {@link secretFrom}.
 */
export function secretLookingVariables(): string[] {
  return Object.keys(process.env).filter((k) => SECRET_NAME_RE.test(k) && !!process.env[k]);
}
