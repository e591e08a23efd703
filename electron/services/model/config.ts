/**
 * Model endpoint configs: validating one (parsed object or JSON file), building one from
 * `--model/--base-url` flags, and the redacted form that may be written to a run record. The named
 * configs in `<data dir>/models/` are kept by `ModelRegistry` (./registry.ts). Format and examples:
 * docs/models.md. API keys never live in a config, only the NAME of the environment variable that holds
 * one (`api_key_env`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { ModelConfigSchema, type ModelConfig } from '../../../shared/model.ts';
import { secretFrom, secretLookingVariables } from '../config/env.ts';

/** A config that could not be read or is invalid; the message names the file (or flag) and the field. */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
  /** The file (or "--model/--base-url flags") the problem is in. */
  readonly source: string;
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.source = source;
  }
}

/** Fields a config may hold at the top level (keys starting with "_" are allowed as comments). */
const KNOWN_FIELDS = new Set(Object.keys(ModelConfigSchema.shape));
/** Top-level fields that look like someone tried to store a key in the file. */
const KEY_FIELDS = /^(api[_-]?key|key|secret|token|password|authorization)$/i;
const URL_HINT = 'must be an absolute http(s) URL such as "http://127.0.0.1:8000/v1"';

function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, fieldName: (path: string) => string): string {
  const path = fieldPath(issue.path);
  let msg = issue.message;
  if (path.endsWith('api_key_env') && issue.code === 'invalid_format') {
    msg = 'must be the NAME of an environment variable (letters, digits, _), e.g. "OPENAI_API_KEY", never the key itself';
  } else if (path.endsWith('base_url') && issue.code === 'invalid_format') {
    msg = URL_HINT;
  }
  return path ? `${fieldName(path)}: ${msg}` : msg;
}

/** Every http(s) check zod's url() does not do. */
function urlProblems(cfg: ModelConfig): string[] {
  const urls: [string, string][] = [];
  if (cfg.base_url) urls.push(['base_url', cfg.base_url]);
  cfg.endpoints?.forEach((e, i) => urls.push([`endpoints[${i}].base_url`, e.base_url]));
  const out: string[] = [];
  for (const [field, u] of urls) {
    const proto = new URL(u).protocol;
    if (proto !== 'http:' && proto !== 'https:') out.push(`${field}: ${URL_HINT} (got ${JSON.stringify(u)})`);
  }
  return out;
}

/**
 * Validate an already-parsed config object. `source` names where it came from in error messages;
 * `fieldName` maps a field path to how the user wrote it (e.g. "base_url" → "--base-url").
 */
export function parseModelConfig(raw: unknown, source: string, fieldName: (path: string) => string = (p) => p): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ModelConfigError(source, 'a model config must be a JSON object such as {"name": "...", "base_url": "..."}');
  }
  const keyField = Object.keys(raw).find((k) => KEY_FIELDS.test(k));
  if (keyField) {
    throw new ModelConfigError(source,
      `field "${keyField}": API keys are never stored in a model config; export the key in an environment variable and put its NAME in "api_key_env"`);
  }
  const unknown = Object.keys(raw).filter((k) => !KNOWN_FIELDS.has(k) && !k.startsWith('_'));
  if (unknown.length) {
    throw new ModelConfigError(source,
      `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; known fields: ${[...KNOWN_FIELDS].join(', ')} (keys starting with "_" are ignored)`);
  }
  const parsed = ModelConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ModelConfigError(source, parsed.error.issues.map((i) => describeIssue(i, fieldName)).join('; '));
  }
  const problems = urlProblems(parsed.data);
  if (problems.length) throw new ModelConfigError(source, problems.map((p) => fieldName(p.split(':')[0]!) + p.slice(p.indexOf(':'))).join('; '));
  return parsed.data;
}

/** Read and validate a model config JSON file. Errors name the file and the field. */
export function loadModelConfig(file: string): ModelConfig {
  const path = resolve(file);
  if (!existsSync(path)) throw new ModelConfigError(path, 'no such model config file');
  if (!statSync(path).isFile()) throw new ModelConfigError(path, 'not a file');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ModelConfigError(path, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  return parseModelConfig(raw, path);
}

const FLAG_NAMES: Record<string, string> = { name: '--model', base_url: '--base-url', api_key_env: '--api-key-env' };

/** A config built on the fly from `--model NAME --base-url URL [--api-key-env VAR]` (defaults for the rest). */
export function modelConfigFromFlags(flags: { model: string; baseUrl: string; apiKeyEnv?: string }): ModelConfig {
  const raw: Record<string, unknown> = { name: flags.model, base_url: flags.baseUrl };
  if (flags.apiKeyEnv !== undefined) raw.api_key_env = flags.apiKeyEnv;
  return parseModelConfig(raw, 'model flags', (p) => FLAG_NAMES[p] ?? p);
}

const REDACTED = '[redacted]';
/** Keys whose string values are treated as secrets wherever they appear (extra_body, role params). */
const SECRET_KEY_RE = /(api[_-]?key|secret|passw(or)?d|authorization|bearer|credential|(^|[_-])token$|^key$)/i;
function secretValues(cfg: ModelConfig): string[] {
  const names = new Set<string>();
  if (cfg.api_key_env) names.add(cfg.api_key_env);
  for (const e of cfg.endpoints ?? []) if (e.api_key_env) names.add(e.api_key_env);
  // Variables whose names look secret count even when no config names them.
  for (const k of secretLookingVariables()) names.add(k);
  const values = new Set<string>();
  for (const n of names) {
    const v = secretFrom(n);
    // Very short values ("1", "true") are flags, not keys; replacing them would mangle the record.
    if (v && v.length >= 8) values.add(v);
  }
  // Keys in key files (cluster servers' tokens) are secrets too, though no variable holds them.
  for (const e of cfg.endpoints ?? []) {
    if (!e.api_key_file) continue;
    try {
      const v = readFileSync(e.api_key_file, 'utf8').split('\n')[0]!.trim();
      if (v.length >= 8) values.add(v);
    } catch {
      /* an unreadable file holds nothing to redact */
    }
  }
  // Longest first, so a key that contains another is removed whole.
  return [...values].sort((a, b) => b.length - a.length);
}

function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    if (!url.username && !url.password && ![...url.searchParams.keys()].some((k) => SECRET_KEY_RE.test(k) || k === 'key')) return u;
    if (url.username) url.username = 'redacted';
    if (url.password) url.password = 'redacted';
    for (const k of [...url.searchParams.keys()]) if (SECRET_KEY_RE.test(k) || k === 'key') url.searchParams.set(k, 'redacted');
    return url.toString();
  } catch {
    return u;
  }
}

function scrub(value: unknown, secrets: string[], key: string | null): unknown {
  if (typeof value === 'string') {
    if (key !== null && SECRET_KEY_RE.test(key)) return REDACTED;
    let s = key !== null && /(^|_)base_url$/.test(key) ? redactUrl(value) : value;
    for (const secret of secrets) if (s.includes(secret)) s = s.split(secret).join(REDACTED);
    return s;
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets, null));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = scrub(v, secrets, k);
    return out;
  }
  return value;
}

/**
 * `value` as it may be written to a run record next to `cfg`'s calls (a request's parameters): values of
 * secret-looking keys, and of the key-holding environment variables, replaced by "[redacted]".
 */
export function redactFor(cfg: ModelConfig, value: unknown): unknown {
  return scrub(value, secretValues(cfg), null);
}

/**
 * Any JSON value as it may be written to a run record (an imported run's own configuration, say): values of
 * secret-looking keys (`llm_api_key`, `token`, `password`, ...), credentials in `*base_url` URLs and any value of a
 * key-holding environment variable found anywhere replaced by "[redacted]".
 */
export function redactSecrets(value: unknown): unknown {
  const values = secretLookingVariables().map((n) => secretFrom(n)).filter((v): v is string => !!v && v.length >= 8);
  return scrub(value, [...new Set(values)].sort((a, b) => b.length - a.length), null);
}

/**
 * The config as it may be written to a run record: `api_key_env` NAMES and `api_key_file` paths are kept; key
 * values never appear. Secret-looking keys in extra_body/roles (api_key, token, password, ...), credentials in
 * URLs and any value of a key-holding environment variable found anywhere are replaced by "[redacted]".
 */
export function redactConfig(cfg: ModelConfig): ModelConfig {
  const secrets = secretValues(cfg);
  const out = scrub(cfg, secrets, null) as ModelConfig;
  // The names of the variables are not secret, and are what a reader needs to reproduce the run.
  if (cfg.api_key_env) out.api_key_env = cfg.api_key_env;
  cfg.endpoints?.forEach((e, i) => {
    if (e.api_key_env && out.endpoints?.[i]) out.endpoints[i]!.api_key_env = e.api_key_env;
    // Nor is the path of a key file (a cluster server's token file): the key stays in the file.
    if (e.api_key_file && out.endpoints?.[i]) out.endpoints[i]!.api_key_file = e.api_key_file;
  });
  return out;
}
