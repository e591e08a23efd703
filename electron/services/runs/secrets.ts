/**
 * Keeping secrets (API keys, server tokens) out of run records: check a value before it is written, and
 * scan a written run folder. Messages and results name where a secret occurs, never the secret.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { secretFrom, secretLookingVariables } from '../config/env.ts';

/** Secrets shorter than this are ignored: placeholders such as "EMPTY" or "none" are no keys and would match ordinary text. */
export const MIN_SECRET_LENGTH = 8;

/** The distinct secrets long enough to look for. */
function usableSecrets(secrets: string[]): string[] {
  return [...new Set(secrets.filter((s) => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH))];
}

/**
 * Where any of `secrets` occurs in `value` (in a string or a key), as JSON-path-like locations
 * (`$.config.model.headers.Authorization`, `$.list[2]`, `$.map["a b"] (key)`). Never returns the secret
 * itself. Cycles are visited once. Secrets shorter than {@link MIN_SECRET_LENGTH} are ignored.
 */
export function findSecrets(value: unknown, secrets: string[]): string[] {
  const keys = usableSecrets(secrets);
  const hits: string[] = [];
  if (keys.length === 0) return hits;
  const has = (s: string) => keys.some((k) => s.includes(k));
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'string') {
      if (has(v)) hits.push(path);
    } else if (v !== null && typeof v === 'object') {
      if (seen.has(v)) return;
      seen.add(v);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
      else {
        for (const [k, x] of Object.entries(v)) {
          const p = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
          if (has(k)) hits.push(`${p} (key)`);
          walk(x, p);
        }
      }
    }
  };
  walk(value, '$');
  return hits;
}

/**
 * Throw if any of `secrets` (e.g. the values of the config's api_key_env variables) occurs in `value`.
 * The message names where (at most ten places), never what. Secrets shorter than {@link MIN_SECRET_LENGTH}
 * are ignored.
 * @throws Error `a secret value occurs at $.path, …`: remove the value, and name the variable that holds
 *   it instead (`api_key_env`, `token_env`).
 */
export function assertNoSecrets(value: unknown, secrets: string[]): void {
  const hits = findSecrets(value, secrets);
  if (hits.length > 0) throw new Error(`a secret value occurs at ${hits.slice(0, 10).join(', ')}${hits.length > 10 ? ` and ${hits.length - 10} more` : ''}`);
}

/**
 * Scan a run folder's text files (run.json, samples.jsonl, every events.jsonl, attempts included; files
 * ending .json, .jsonl or .lock) for `secrets`, raw or JSON-escaped.
 * @returns `file:line` locations (1-based lines) relative to the run folder, files in sorted order.
 * @throws the filesystem error when the folder cannot be read.
 */
export function scanRunForSecrets(dir: string, secrets: string[]): string[] {
  const needles = usableSecrets(secrets).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
  const hits: string[] = [];
  if (needles.length === 0) return hits;
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const ent of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) walk(r);
      else if (/\.(json|jsonl|lock)$/.test(ent.name)) files.push(r);
    }
  };
  walk('');
  for (const f of files.sort()) {
    readFileSync(join(dir, f), 'utf8').split('\n').forEach((text, i) => {
      if (needles.some((n) => text.includes(n))) hits.push(`${f}:${i + 1}`);
    });
  }
  return hits;
}

// ---------------------------------------------------------------------------------------------------
// Redaction of the run record (docs/security.md, "Secrets")

/** A secret to keep out of run files: the name of the variable (or what else) that holds it, and its value. */
export interface NamedSecret {
  /** Shown in the marker `[redacted:<name>]`: a variable name (`OPENAI_API_KEY`, `JUPYTER_TOKEN`) or a label. */
  name: string;
  value: string;
}

/** `name` as it may stand in a marker: characters other than letters, digits and `_ . : / -` become `_`. */
function markerName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.:/-]/g, '_') || '_';
}

/** value → name of the secrets this process holds: server tokens, bridge tokens, model keys read from files. */
const registry = new Map<string, string>();
/** Bumped at every change of {@link registry}, so redactors rebuild their list only then. */
let registryVersion = 0;

/**
 * Make a secret this process holds known to every run writer of the process (../runs/writer.ts redacts it from
 * each event, request message and result line written after this call). Values shorter than
 * {@link MIN_SECRET_LENGTH} are ignored. Registering a value again keeps its first name.
 * @param name what holds it, for the marker: a variable name, or a label such as `MODEL_BRIDGE_TOKEN`. Characters
 *   other than letters, digits and `_ . : / -` become `_` (the marker is written inside JSON strings as is).
 * @returns a function that forgets the secret again (e.g. when the server that owns the token stopped).
 */
export function registerSecret(name: string, value: string | null | undefined): () => void {
  name = markerName(name);
  if (!value || value.length < MIN_SECRET_LENGTH || registry.has(value)) return () => undefined;
  registry.set(value, name);
  registryVersion++;
  return () => {
    if (registry.get(value) === name) {
      registry.delete(value);
      registryVersion++;
    }
  };
}

/** The secrets registered with {@link registerSecret} now. */
export function registeredSecrets(): NamedSecret[] {
  return [...registry].map(([value, name]) => ({ name, value }));
}

/** What {@link Redactor.redact} did to one text. */
export interface Redaction {
  /** The text with every occurrence of a secret replaced by `[redacted:<name>]`. */
  text: string;
  /** How many occurrences were replaced. */
  count: number;
}

/**
 * Replaces secrets in serialized JSON lines before they are written. Secrets are the fixed ones given to the
 * constructor (the values of this process's secret-looking variables, by default) and those registered with
 * {@link registerSecret} at the time of each call.
 *
 * Each secret is looked for as it appears in JSON text: raw when JSON writes it unchanged (letters, digits and
 * most punctuation; every real key and token), else in its escaped form (JSON.stringify without quotes). Longer
 * secrets are replaced first, so one that contains another is removed whole.
 *
 * Cost: one `indexOf` over the line per secret (a few: the keys and tokens of one process), so O(secrets × line
 * length), with no allocation when nothing matches; the list of needles is rebuilt only when the registry changes.
 * Measured on the 2-core CI machine with 5 secrets: about 4 µs per event line of 1 to 4 KiB, 45 µs per 64 KiB line
 * (0.15 µs per secret per KiB), well below the line's own JSON.stringify and write (docs/security.md, "Secrets").
 */
export class Redactor {
  private readonly fixed: NamedSecret[];
  /** What {@link redact} looks for, with the registry version it was built for. */
  private needles: { needle: string; marker: string }[] = [];
  private builtFor = -1;

  /** @param fixed secrets besides the registered ones; default {@link envSecrets}(). */
  constructor(fixed: NamedSecret[] = envSecrets()) {
    this.fixed = fixed
      .filter((s) => s.value.length >= MIN_SECRET_LENGTH)
      .map((s) => ({ name: markerName(s.name), value: s.value }));
  }

  /** The secrets looked for now, longest first, each once. */
  secrets(): NamedSecret[] {
    const byValue = new Map<string, string>();
    for (const s of [...this.fixed, ...registeredSecrets()]) if (!byValue.has(s.value)) byValue.set(s.value, s.name);
    return [...byValue].map(([value, name]) => ({ name, value })).sort((a, b) => b.value.length - a.value.length);
  }

  /** `text` (a serialized JSON line) with every secret replaced by `[redacted:<name>]`, and how many were. */
  redact(text: string): Redaction {
    if (this.builtFor !== registryVersion) {
      this.needles = this.secrets().map(({ name, value }) => ({ needle: JSON.stringify(value).slice(1, -1), marker: `[redacted:${name}]` }));
      this.builtFor = registryVersion;
    }
    let count = 0;
    for (const { needle, marker } of this.needles) {
      let at = text.indexOf(needle);
      if (at < 0) continue;
      const parts: string[] = [];
      let from = 0;
      while (at >= 0) {
        parts.push(text.slice(from, at), marker);
        count++;
        from = at + needle.length;
        at = text.indexOf(needle, from);
      }
      parts.push(text.slice(from));
      text = parts.join('');
    }
    return { text, count };
  }
}

/**
 * The values of this process's variables whose names look secret (config/env.ts `SECRET_NAME_RE`: `*_API_KEY`,
 * `*_TOKEN`, `*PASSWORD*`, ...), named by their variable. Read once per call.
 */
export function envSecrets(): NamedSecret[] {
  return secretLookingVariables().flatMap((name) => {
    const value = secretFrom(name);
    return value && value.length >= MIN_SECRET_LENGTH ? [{ name, value }] : [];
  });
}
