/**
 * Perception artifacts kept with a run: a copy of each artifact a tool call recorded, so the 3D
 * inspector can open it after the perception server (and its LRU cache) is gone.
 *
 *   samples/<sample id>/artifacts/<artifact id>/manifest.json   {record, arrays, info}
 *   samples/<sample id>/artifacts/<artifact id>/<name>.npy       raw .npy bytes, one file per array
 *   samples/<sample id>/artifacts/<artifact id>.error             why a copy failed (only then)
 *
 * The layout matches the perception server's artifact store (gpu-server/spatial_perception/artifacts.py),
 * except that `record` is what `GET /v1/artifacts/{id}` returns minus `arrays`. Arrays are streamed to
 * disk (never through JSON); the manifest is written last (temp file + fsync + rename), so a folder
 * without manifest.json is an unfinished copy.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import { type ArtifactManifest, ArtifactManifestSchema } from '../../../shared/workbench.ts';

export const ARTIFACTS_DIR = 'artifacts';
const ID_RE = /^[0-9a-f]{32}$/;
const NAME_RE = /^[A-Za-z0-9_]{1,64}$/;

const RemoteManifestSchema = z
  .object({
    id: z.string().regex(ID_RE),
    arrays: z.record(z.string().regex(NAME_RE), z.object({ shape: z.array(z.number().int()), dtype: z.string(), bytes: z.number().int().optional() })),
  })
  .passthrough();

/** The on-disk manifest of a kept artifact. */
export const KeptManifestSchema = z.object({
  record: z.object({ id: z.string(), kind: z.string() }).passthrough(),
  arrays: RemoteManifestSchema.shape.arrays,
  info: z.record(z.string(), z.unknown()).optional(),
  source_url: z.string().optional(),
  kept_at: z.string().optional(),
});

async function fsyncFile(path: string): Promise<void> {
  const h = await open(path, 'r+');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Copy one artifact from its perception server into `<sampleDir>/artifacts/<id>/`.
 * @param url `<server>/v1/artifacts/<id>` as the kernel published it.
 * @param token the bearer token of the server the session used.
 * @param published what the kernel tool published with the artifact: its `frame_indices` (absolute)
 *   replace the server record's, which for single-image routes are positions.
 * @throws Error naming the artifact and the HTTP problem; nothing partial is left as a kept artifact.
 */
export async function keepArtifact(
  sampleDir: string,
  id: string,
  url: string,
  token: string,
  published: { frame_indices?: number[] | undefined } = {},
  timeoutMs = 120_000,
): Promise<string> {
  if (!ID_RE.test(id)) throw new Error(`artifact id ${JSON.stringify(id)} is not 32 hex digits`);
  const dir = join(sampleDir, ARTIFACTS_DIR, id);
  if (existsSync(join(dir, 'manifest.json'))) return dir;
  const headers = { Authorization: `Bearer ${token}` };
  const signal = AbortSignal.timeout(timeoutMs);
  const r = await fetch(url, { headers, signal });
  if (!r.ok) throw new Error(`artifact ${id}: GET ${url} answered HTTP ${r.status} ${(await r.text().catch(() => '')).slice(0, 200)}`);
  const remote = RemoteManifestSchema.parse(await r.json());
  mkdirSync(dir, { recursive: true });
  for (const name of Object.keys(remote.arrays)) {
    const a = await fetch(`${url}/${name}.npy`, { headers, signal });
    if (!a.ok || !a.body) throw new Error(`artifact ${id}: GET ${url}/${name}.npy answered HTTP ${a.status}`);
    const path = join(dir, `${name}.npy`);
    await pipeline(Readable.fromWeb(a.body as unknown as WebReadableStream<Uint8Array>), createWriteStream(path));
    await fsyncFile(path);
  }
  const { arrays, ...rest } = remote;
  // The server keys single-image requests by position (it never sees the frame's absolute index); the
  // kernel tool knew it, so the published frame indices win.
  const record = published.frame_indices?.length ? { ...rest, frame_indices: published.frame_indices } : rest;
  const manifest = { record, arrays, info: {}, source_url: url, kept_at: new Date().toISOString() };
  const tmp = join(dir, `manifest.json.tmp-${process.pid}`);
  writeFileSync(tmp, JSON.stringify(manifest));
  await fsyncFile(tmp);
  renameSync(tmp, join(dir, 'manifest.json'));
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
 * The contract's manifest of a kept artifact: id, kind, backend, frame_indices and arrays
 * ({name: {shape, dtype, bytes}}), plus the record's other fields (summary, shapes, params, ...).
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
  const kept = KeptManifestSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  return ArtifactManifestSchema.parse({ ...kept.record, info: kept.info ?? {}, arrays: kept.arrays });
}

/** Path of one kept array (`name` must be in the manifest). @throws ArtifactNotKeptError */
export function keptArrayPath(sampleDir: string, id: string, name: string): string {
  const m = readKeptManifest(sampleDir, id);
  if (!NAME_RE.test(name) || !(name in m.arrays)) {
    throw new ArtifactNotKeptError(`artifact ${id} has no array ${JSON.stringify(name)} (arrays: ${Object.keys(m.arrays).join(', ')})`);
  }
  return join(sampleDir, ARTIFACTS_DIR, id, `${name}.npy`);
}
