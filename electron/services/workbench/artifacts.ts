/**
 * Perception artifacts kept with a run: a copy of each artifact a tool call recorded, so the 3D
 * inspector can open it after the perception server (and its LRU cache) is gone.
 *
 *   samples/<sample id>/artifacts/<artifact id>/manifest.json   {record, arrays, info}
 *   samples/<sample id>/artifacts/<artifact id>/<name>.npy       raw .npy bytes, one file per array
 *   samples/<sample id>/artifacts/<artifact id>.error             why a copy failed (only then)
 *
 * The layout is the perception server's artifact store's (gpu-server/spatial_perception/artifacts.py): both write a
 * StoredManifest (shared/contracts/artifact.ts). Arrays are streamed to
 * disk (never through JSON) and fsynced; the manifest is written last, atomically and durably
 * (../fs/atomic.ts), so a folder without manifest.json is an unfinished copy.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type ArtifactManifest, ArtifactManifestSchema, type StoredManifest, StoredManifestSchema } from '../../../shared/contracts/artifact.ts';
import { fsyncPath, writeFileAtomic } from '../fs/atomic.ts';

export const ARTIFACTS_DIR = 'artifacts';
const ID_RE = /^[0-9a-f]{32}$/;
const NAME_RE = /^[A-Za-z0-9_]{1,64}$/;

const issues = (e: { issues: { path: PropertyKey[]; message: string }[] }): string =>
  e.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');

/**
 * Copy one artifact from its perception server into `<sampleDir>/artifacts/<id>/`: every array as `.npy`,
 * then the StoredManifest (shared/contracts/artifact.ts) with the server's record, arrays and info (which
 * carries, e.g., a mask's labels and the alignment report), where it came from and when.
 * @param url `<server>/v1/artifacts/<id>` as the kernel published it.
 * @param token the bearer token of the server the session used.
 * @throws Error naming the artifact and the HTTP or contract problem; nothing partial is left as a kept artifact.
 */
export async function keepArtifact(sampleDir: string, id: string, url: string, token: string, timeoutMs = 120_000): Promise<string> {
  if (!ID_RE.test(id)) throw new Error(`artifact id ${JSON.stringify(id)} is not 32 hex digits`);
  const dir = join(sampleDir, ARTIFACTS_DIR, id);
  if (existsSync(join(dir, 'manifest.json'))) return dir;
  const headers = { Authorization: `Bearer ${token}` };
  const signal = AbortSignal.timeout(timeoutMs);
  const r = await fetch(url, { headers, signal });
  if (!r.ok) throw new Error(`artifact ${id}: GET ${url} answered HTTP ${r.status} ${(await r.text().catch(() => '')).slice(0, 200)}`);
  const parsed = ArtifactManifestSchema.safeParse(await r.json());
  if (!parsed.success) {
    throw new Error(`artifact ${id}: GET ${url} answered a manifest that breaks the ArtifactManifest contract (${issues(parsed.error)}); update the perception server to this version of spatial_perception`);
  }
  const { arrays, info, ...record } = parsed.data;
  mkdirSync(dir, { recursive: true });
  for (const name of Object.keys(arrays)) {
    const a = await fetch(`${url}/${name}.npy`, { headers, signal });
    if (!a.ok || !a.body) throw new Error(`artifact ${id}: GET ${url}/${name}.npy answered HTTP ${a.status}`);
    const path = join(dir, `${name}.npy`);
    await pipeline(Readable.fromWeb(a.body as unknown as WebReadableStream<Uint8Array>), createWriteStream(path));
    await fsyncPath(path, 'r+');
  }
  const manifest: StoredManifest = { record, arrays, info, source_url: url, kept_at: new Date().toISOString() };
  writeFileAtomic(join(dir, 'manifest.json'), JSON.stringify(manifest));
  rmSync(join(sampleDir, ARTIFACTS_DIR, `${id}.error`), { force: true });
  return dir;
}

/** Record why an artifact could not be kept (read back by {@link readKeptManifest}'s error). */
export function noteArtifactFailure(sampleDir: string, id: string, reason: string): void {
  if (!ID_RE.test(id)) return;
  mkdirSync(join(sampleDir, ARTIFACTS_DIR), { recursive: true });
  writeFileSync(join(sampleDir, ARTIFACTS_DIR, `${id}.error`), `${reason}\n`);
}

export class ArtifactNotKeptError extends Error {
  override name = 'ArtifactNotKeptError';
}

/**
 * The ArtifactManifest (shared/contracts/artifact.ts) of a kept artifact: the server's record (id, kind,
 * backend, absolute frame_indices, shapes, summary, params, a mask's labels), its arrays ({name: {shape,
 * dtype, bytes}}) and info.
 * @throws ArtifactNotKeptError when it was not kept (copying off, or the copy failed: the reason is given).
 */
export function readKeptManifest(sampleDir: string, id: string): ArtifactManifest {
  if (!ID_RE.test(id)) throw new ArtifactNotKeptError(`artifact id ${JSON.stringify(id)} is not 32 hex digits`);
  const path = join(sampleDir, ARTIFACTS_DIR, id, 'manifest.json');
  if (!existsSync(path)) {
    const err = join(sampleDir, ARTIFACTS_DIR, `${id}.error`);
    const why = existsSync(err) ? `copying it failed: ${readFileSync(err, 'utf8').trim()}` : 'it was not copied into the run (artifact keeping was off, or the run predates it)';
    throw new ArtifactNotKeptError(`artifact ${id} was not kept with this run: ${why}`);
  }
  const parsed = StoredManifestSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new ArtifactNotKeptError(`${path} is not a valid kept manifest (${issues(parsed.error)}); delete the folder ${join(sampleDir, ARTIFACTS_DIR, id)} and run the question again to keep a fresh copy`);
  const { record, arrays, info } = parsed.data;
  // Runs kept before records carried `labels` have a mask's labels only in info.labels.
  const legacy = Array.isArray(info['labels']) ? (info['labels'] as unknown[]).map(String) : undefined;
  const labels = record.labels ?? (record.kind === 'masks' ? legacy : undefined);
  return ArtifactManifestSchema.parse({ ...record, ...(labels ? { labels } : {}), arrays, info });
}

/** Path of one kept array (`name` must be in the manifest). @throws ArtifactNotKeptError */
export function keptArrayPath(sampleDir: string, id: string, name: string): string {
  const m = readKeptManifest(sampleDir, id);
  if (!NAME_RE.test(name) || !(name in m.arrays)) {
    throw new ArtifactNotKeptError(`artifact ${id} has no array ${JSON.stringify(name)} (arrays: ${Object.keys(m.arrays).join(', ')})`);
  }
  return join(sampleDir, ARTIFACTS_DIR, id, `${name}.npy`);
}
