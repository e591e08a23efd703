/**
 * Keeping secrets (API keys, server tokens) out of run records: check a value before it is written, and
 * scan a written run folder. Messages and results name where a secret occurs, never the secret.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

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
