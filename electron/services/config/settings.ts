/**
 * `<data dir>/settings.json` (pool size, kernel memory, idle-kernel memory bound, cell timeout, default step
 * budget; validated with `SettingsSchema` of shared/workbench.ts; plus the default agent profile, `profile`, which
 * only the resolved config reads: {@link SettingsFileSchema}) and {@link SettingsService}, which owns the file and
 * the resolved configuration built on it (./resolve.ts).
 *
 * An absent file means the defaults. A corrupt file is an error naming the file; it is never overwritten
 * silently (saving replaces it only when the user saves new settings).
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { defaultMemoryGib } from '../../../shared/defaults.ts';
import { ProfileNameSchema } from '../../../shared/profiles.ts';
import { type Settings, SettingsSchema } from '../../../shared/workbench.ts';
import { writeJsonAtomic } from '../fs/atomic.ts';
import { dataDir } from '../paths.ts';
import { env } from './env.ts';
import { type ConfigFlags, type ConfigFolder, configFolders, type ResolvedConfig, resolveConfig } from './resolve.ts';

/** settings.json cannot be used; `fix` says how to repair it. */
export class SettingsError extends Error {
  override name = 'SettingsError';
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/** The settings file in a data directory (default: this host's data directory). */
export function settingsPath(dir: string = dataDir()): string {
  return join(dir, 'settings.json');
}

/** Parse JSON text, naming `file` when it is not JSON. @throws SettingsError */
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SettingsError(`${file} is not valid JSON (${e instanceof Error ? e.message : String(e)})`, 'fix the file or delete it to go back to the defaults');
  }
}

/**
 * settings.json as the resolved config reads it: the Settings view's fields and `profile`, the default agent
 * profile (`default` or `paper`; set by hand, kept when the Settings view saves).
 */
export const SettingsFileSchema = SettingsSchema.extend({
  profile: ProfileNameSchema.optional(),
  /** Wall-clock budget per sample of `ask`/`run`/`eval`, seconds (`--sample-timeout` overrides it); absent: none. */
  sample_timeout_s: z.number().positive().optional(),
});
export type SettingsFile = z.infer<typeof SettingsFileSchema>;

/** Validate a parsed settings object. @throws SettingsError naming `file` and every bad field. */
function checkSettings<S extends typeof SettingsSchema | typeof SettingsFileSchema>(raw: unknown, file: string, schema: S): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    throw new SettingsError(`${file} holds invalid settings: ${issues}`, `fix the named fields or delete ${file} to go back to the defaults`);
  }
  return r.data as z.infer<S>;
}

/**
 * Parse the text of a settings file. Missing fields get their defaults (shared/defaults.ts).
 * @throws SettingsError naming `file` and the field when it is not JSON or not valid settings.
 */
export function parseSettings(text: string, file: string): Settings {
  return checkSettings(parseJson(text, file), file, SettingsSchema);
}

/** The settings; the defaults when the file does not exist. @throws SettingsError */
export function loadSettings(file: string = settingsPath()): Settings {
  if (!existsSync(file)) return SettingsSchema.parse({});
  return parseSettings(readFileSync(file, 'utf8'), file);
}

/**
 * Only the fields settings.json sets (validated), for the settings layer of the resolved config: a field
 * the file leaves out falls through to the default. `{}` when the file does not exist.
 * @throws SettingsError naming the file and field.
 */
export function readSettingsLayer(file: string): Partial<SettingsFile> {
  if (!existsSync(file)) return {};
  const raw = parseJson(readFileSync(file, 'utf8'), file);
  const full = checkSettings(raw, file, SettingsFileSchema);
  const present = new Set(raw && typeof raw === 'object' ? Object.keys(raw) : []);
  return Object.fromEntries(Object.entries(full).filter(([k]) => present.has(k))) as Partial<SettingsFile>;
}

/** The fields of the current file that the Settings view does not edit (`profile`), to keep on save; {} if unreadable. */
function keptFields(file: string): Pick<SettingsFile, 'profile'> {
  try {
    const { profile } = readSettingsLayer(file);
    return profile ? { profile } : {};
  } catch {
    return {};
  }
}

/**
 * Validate and write the settings atomically and durably (fs/atomic.ts).
 * @returns what was saved (defaults filled in). @throws ZodError for invalid values.
 */
export function saveSettings(value: z.input<typeof SettingsSchema>, file: string = settingsPath()): Settings {
  const s = SettingsSchema.parse(value);
  mkdirSync(dirname(file), { recursive: true });
  writeJsonAtomic(file, { ...s, ...keptFields(file) });
  return s;
}

/**
 * Owns settings.json and the resolved configuration of one host (flags > environment > settings.json >
 * defaults). The configuration is resolved once and again only when settings.json changes (its size or
 * modification time, or a save through this service), so a host that runs for days sees saved settings
 * without a restart and a one-shot command reads the file once.
 */
export class SettingsService {
  /** The settings file this service reads and writes. */
  readonly file: string;
  private readonly dir: string;
  private cached: { stamp: string; config: ResolvedConfig } | null = null;

  /**
   * @param flags what the host was given directly (they win over every other layer).
   * @param file the settings file (default `<data dir>/settings.json`).
   */
  constructor(
    private readonly flags: ConfigFlags = {},
    file?: string,
  ) {
    this.dir = dataDir();
    this.file = file ?? settingsPath(this.dir);
  }

  /** The resolved configuration. @throws SettingsError when settings.json is not valid (naming it). */
  config(): ResolvedConfig {
    const stamp = this.stamp();
    if (this.cached?.stamp === stamp) return this.cached.config;
    const config = resolveConfig(this.flags, { env, settings: readSettingsLayer(this.file), dataDir: this.dir, settingsFile: this.file });
    this.cached = { stamp, config };
    return config;
  }

  /** The data directory, runs root and settings file; unlike {@link config}, never reads settings.json. */
  folders(): Pick<ResolvedConfig, ConfigFolder> {
    return configFolders(this.flags, { dataDir: this.dir, settingsFile: this.file });
  }

  /**
   * settings.json as the Settings view shows it (every field; defaults for those it leaves out: for `memory_gib`
   * the machine-derived default the kernels get, shared/defaults.ts `defaultMemoryGib`). @throws SettingsError
   */
  get(): Settings {
    const s = loadSettings(this.file);
    if (readSettingsLayer(this.file).memory_gib !== undefined) return s;
    return { ...s, memory_gib: defaultMemoryGib(totalmem(), this.config().poolSize) };
  }

  /** Validate and save settings.json; the next {@link config} reads it. @returns what was saved. */
  save(value: z.input<typeof SettingsSchema>): Settings {
    const s = saveSettings(value, this.file);
    this.cached = null;
    return s;
  }

  private stamp(): string {
    try {
      const st = statSync(this.file);
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return 'absent';
    }
  }
}
