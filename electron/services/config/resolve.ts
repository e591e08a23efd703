/**
 * The one resolved configuration of a host (the CLI commands, `spatialclaw serve`, the Electron app).
 * Each field is taken from the first layer that sets it:
 *
 *   1. flags (command-line options, or options a host passes in code),
 *   2. environment variables (read through ./env.ts),
 *   3. `<data dir>/settings.json` (the Settings view writes it),
 *   4. the defaults in shared/defaults.ts.
 *
 * Not every field has every layer; {@link CONFIG_FIELDS} says which ones each field has, and
 * `ResolvedConfig.sources` records where each value came from. {@link resolveConfig} is pure (the
 * layers are passed in); `SettingsService` (./settings.ts) reads the real ones.
 */
import type { SandboxPreference } from '../kernel/sandbox.ts';
import { totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULTS, defaultMemoryGib } from '../../../shared/defaults.ts';
import { PROFILE_NAMES, type ProfileName } from '../../../shared/profiles.ts';
import { ENV, type EnvName } from './env.ts';
import type { SettingsFile } from './settings.ts';

/** How the model acts: one Python cell per step, one cell in all, or one JSON tool call per step. */
export type Executor = 'code' | 'single_pass' | 'tool_call';

/** The values a host may set directly (command-line flags, or options given in code). */
export interface ConfigFlags {
  /** Folder that holds the run folders (`serve --runs`). */
  runsRoot?: string | undefined;
  /** Model: a config name in `<data dir>/models/`, a config file, or (with `baseUrl`) a model id. */
  model?: string | undefined;
  /** OpenAI-compatible endpoint for an ad-hoc model config (`--base-url`). */
  baseUrl?: string | undefined;
  /** Variable holding the API key of an ad-hoc model config (`--api-key-env`); never the key itself. */
  apiKeyEnv?: string | undefined;
  /** Perception target: "local", a server name, or a URL (`--perception`). */
  perception?: string | undefined;
  /** The agent profile (`--profile`): `default` or `paper` (shared/profiles.ts). */
  profile?: ProfileName | undefined;
  executor?: Executor | undefined;
  /** Agent steps per sample. */
  maxSteps?: number | undefined;
  /** Ask the planner first (`--no-plan` sets false). */
  plan?: boolean | undefined;
  /** Samples run in parallel (`run --concurrency`), or `auto` (the model's capacity, at most 2 × CPUs). */
  concurrency?: number | 'auto' | undefined;
  /** Warm kernels kept ready. */
  poolSize?: number | undefined;
  /** Kernel address-space limit, GiB. */
  memoryGib?: number | undefined;
  /** Resident memory (MiB) a pooled kernel may keep after its reset before it is replaced (0 = no bound). */
  kernelIdleMaxMb?: number | undefined;
  /** Per-cell timeout, seconds. */
  cellTimeoutS?: number | undefined;
  /** Wall-clock budget per sample, seconds (`--sample-timeout`; settings.json `sample_timeout_s`; default none). */
  sampleTimeoutS?: number | undefined;
  /** Backends of a perception server started on this host. */
  localPerceptionBackends?: string[] | undefined;
  /** Close an idle console replay kernel after this long, milliseconds. */
  replayIdleMs?: number | undefined;
  /** The kernels' OS sandbox: `auto`, `on` or `off` (docs/security.md). */
  sandbox?: SandboxPreference | undefined;
}

/** Where a resolved value came from. */
export type ConfigSource = 'flag' | 'env' | 'settings' | 'default';

/** The fields resolved by layer (all but the folders). */
export type ConfigField = Exclude<keyof ConfigFlags, 'runsRoot'>;

/** The configuration every service reads: one value per field, plus the folders. */
export interface ResolvedConfig {
  /** The data directory (`SPATIALCLAW_HOME`, else the platform's app-data folder). */
  dataDir: string;
  /** Folder of run folders (absolute): the `runsRoot` flag, else `<data dir>/runs`. */
  runsRoot: string;
  /** The settings file the `settings` layer was read from. */
  settingsFile: string;
  model: string | null;
  baseUrl: string | null;
  apiKeyEnv: string | null;
  perception: string | null;
  profile: ProfileName;
  executor: Executor;
  maxSteps: number;
  plan: boolean;
  concurrency: number | 'auto';
  poolSize: number;
  memoryGib: number;
  kernelIdleMaxMb: number;
  cellTimeoutS: number;
  /** Wall-clock budget per sample, seconds, or null for none. */
  sampleTimeoutS: number | null;
  localPerceptionBackends: string[];
  replayIdleMs: number;
  sandbox: SandboxPreference;
  /** The layer each field's value came from. */
  sources: Record<ConfigField, ConfigSource>;
}

interface FieldSpec {
  /** The variable (by its ./env.ts name) that sets this field, if any. */
  env?: EnvName;
  /** The settings.json key that sets this field, if any. */
  settings?: keyof SettingsFile;
  default: unknown;
}

/**
 * Which layers each field has (every field has the flag and default layers). Only string fields have an
 * environment variable; only the five fields of settings.json (shared/workbench.ts `SettingsSchema`) and its
 * `profile` (./settings.ts `SettingsFileSchema`) have the settings layer.
 */
export const CONFIG_FIELDS: Record<ConfigField, FieldSpec> = {
  model: { env: 'model', default: null },
  baseUrl: { env: 'baseUrl', default: null },
  apiKeyEnv: { default: null },
  perception: { default: null },
  profile: { env: 'profile', settings: 'profile', default: DEFAULTS.profile },
  executor: { default: DEFAULTS.executor },
  maxSteps: { settings: 'max_steps', default: DEFAULTS.maxSteps },
  plan: { default: DEFAULTS.plan },
  concurrency: { default: DEFAULTS.concurrency },
  poolSize: { settings: 'pool_size', default: DEFAULTS.poolSize },
  memoryGib: { settings: 'memory_gib', default: DEFAULTS.memoryGib },
  kernelIdleMaxMb: { settings: 'kernel_idle_max_mb', default: DEFAULTS.kernelIdleMaxMb },
  cellTimeoutS: { settings: 'cell_timeout_s', default: DEFAULTS.cellTimeoutS },
  sampleTimeoutS: { settings: 'sample_timeout_s', default: null },
  localPerceptionBackends: { default: DEFAULTS.localPerceptionBackends },
  replayIdleMs: { default: DEFAULTS.replayIdleMs },
  sandbox: { env: 'sandbox', default: 'auto' },
};

/** The layers below the flags, as read by the caller. */
export interface ConfigLayers {
  /** An environment variable by its ./env.ts name (`env` from ./env.ts), undefined when unset or empty. */
  env: (name: EnvName) => string | undefined;
  /** Only the keys present in settings.json (validated); `{}` when the file does not exist. */
  settings: Partial<SettingsFile>;
  dataDir: string;
  settingsFile: string;
  /** The machine's memory, bytes, for the default kernel memory limit (default `os.totalmem()`). */
  totalMemoryBytes?: number;
}

/**
 * Resolve every field: the flag, else the environment variable, else the settings.json value, else the
 * default (shared/defaults.ts). Undefined flags fall through; no field is read twice. The default of
 * `memoryGib` is derived from the machine's memory and the resolved pool size (shared/defaults.ts
 * `defaultMemoryGib`).
 */
export function resolveConfig(flags: ConfigFlags, layers: ConfigLayers): ResolvedConfig {
  const values: Record<string, unknown> = {};
  const sources = {} as Record<ConfigField, ConfigSource>;
  for (const [field, spec] of Object.entries(CONFIG_FIELDS) as [ConfigField, FieldSpec][]) {
    const fromEnv = spec.env ? layers.env(spec.env) : undefined;
    const fromSettings = spec.settings ? layers.settings[spec.settings] : undefined;
    const [value, source]: [unknown, ConfigSource] =
      flags[field] !== undefined ? [flags[field], 'flag']
      : fromEnv !== undefined ? [fromEnv, 'env']
      : fromSettings !== undefined ? [fromSettings, 'settings']
      : [spec.default, 'default'];
    values[field] = Array.isArray(value) ? [...(value as unknown[])] : value;
    sources[field] = source;
  }
  if (sources.memoryGib === 'default') values['memoryGib'] = defaultMemoryGib(layers.totalMemoryBytes ?? totalmem(), values['poolSize'] as number);
  // The one string field with a closed set of values from the environment (flags and settings.json are checked where they are read).
  if (!(PROFILE_NAMES as readonly unknown[]).includes(values['profile'])) {
    throw new Error(`unknown agent profile ${JSON.stringify(values['profile'])} (from ${sources.profile === 'env' ? `$${ENV.profile}` : `the ${sources.profile}`}): use ${PROFILE_NAMES.join(' or ')}`);
  }
  if (!['auto', 'on', 'off'].includes(values['sandbox'] as string)) {
    throw new Error(`unknown sandbox mode ${JSON.stringify(values['sandbox'])} (from ${sources.sandbox === 'env' ? `$${ENV.sandbox}` : `the ${sources.sandbox}`}): use auto, on or off`);
  }
  return {
    ...(values as Omit<ResolvedConfig, ConfigFolder | 'sources'>),
    ...configFolders(flags, layers),
    sources,
  };
}

/** The folder fields of the resolved config; they need no settings.json (a corrupt one does not hide them). */
export type ConfigFolder = 'dataDir' | 'runsRoot' | 'settingsFile';

/** The folders: the data directory and settings file as given, the runs root from the flag or `<data dir>/runs` (absolute). */
export function configFolders(flags: Pick<ConfigFlags, 'runsRoot'>, layers: Pick<ConfigLayers, 'dataDir' | 'settingsFile'>): Pick<ResolvedConfig, ConfigFolder> {
  return { dataDir: layers.dataDir, runsRoot: resolve(flags.runsRoot ?? join(layers.dataDir, 'runs')), settingsFile: layers.settingsFile };
}

/** The kernel limits the resolved config asks for, in the form KernelRuntime takes (bytes). */
export function kernelLimitsOf(config: Pick<ResolvedConfig, 'memoryGib'>): { memoryBytes: number } {
  return { memoryBytes: Math.round(config.memoryGib * 1024 ** 3) };
}
