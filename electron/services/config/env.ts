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
  /**
   * The agent kernels' OS sandbox (docs/security.md): `auto` (default: bubblewrap where it works, else a warning),
   * `on` (refuse to start kernels without it), `off` (a warning at every start). `--sandbox MODE` / `--no-sandbox` set it.
   */
  sandbox: 'SPATIALCLAW_SANDBOX',
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
 * Variables of this process every child gets when they are set: finding programs, libraries and the user's
 * folders, the locale (`LC_*` too), the temporary folder, the Python interpreter's own settings (`PYTHON*`)
 * and the thread counts of the numeric libraries. Nothing here holds a secret; anything else a child needs is
 * named by its caller ({@link minimalChildEnv}'s `pass`), or given as a value (`extra`).
 */
export const BASE_CHILD_ENV: readonly string[] = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'LC_*', 'TZ', 'TMPDIR', 'TMP', 'TEMP',
  'LD_LIBRARY_PATH', 'NO_PROXY', 'no_proxy', 'SSL_CERT_FILE', 'SSL_CERT_DIR',
  'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR',
  // Windows: the folders and shell every program expects.
  'SYSTEMROOT', 'SystemRoot', 'WINDIR', 'COMSPEC', 'PATHEXT', 'USERPROFILE', 'APPDATA', 'LOCALAPPDATA',
  'PYTHON*', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'NUMEXPR_NUM_THREADS', 'MPLCONFIGDIR', 'MPLBACKEND',
];

/** Whether `name` matches one of `patterns` (exact names, or prefixes written `PREFIX*`). */
function matches(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

/**
 * The environment for a child process, as an allow-list: the variables of this process named by
 * {@link BASE_CHILD_ENV} and by `pass` (exact names, or prefixes written `PREFIX*`), plus `extra`, which carries
 * the one secret the child needs (its own server token) and the settings its caller computed. Undefined values
 * of `extra` are left out. A variable whose name looks secret ({@link SECRET_NAME_RE}: `OPENAI_API_KEY`,
 * `JUPYTER_TOKEN`, `HF_TOKEN`, ...) passes only when `pass` names it exactly: a prefix never lets one through.
 * Everything else of this process, the model API keys first, stays out. Every child the host starts gets this
 * (docs/security.md, "Secrets"), except the SLURM submissions ({@link childEnv}).
 */
export function minimalChildEnv(extra: Record<string, string | undefined> = {}, pass: readonly string[] = []): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (SECRET_NAME_RE.test(k) ? !pass.includes(k) : !matches(k, BASE_CHILD_ENV) && !matches(k, pass)) continue;
    out[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * This process's environment without the variables whose names look secret ({@link SECRET_NAME_RE}), plus `extra`;
 * variables listed in `keep` pass even when their name looks secret. A deny-list, kept for the cluster code only
 * (../cluster/servers.ts: sbatch, and the vLLM of `model serve`): a batch job deliberately runs in the submitter's
 * environment (docs/cluster.md). Every other child gets {@link minimalChildEnv}.
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
