/**
 * The layout of a run folder (`spatialclaw-run/1`, docs/run-format.md) and the one scheme for naming
 * runs. Every writer and reader of runs takes its file names from here.
 *
 *   run.json                         RunInfo, replaced atomically (temp file + fsync + rename)
 *   run.lock                         {pid, host, since} while a RunWriter has the run open
 *   samples.jsonl                    one SampleResult per finished sample; a sample is done iff its line is here
 *   samples/<id>/events.jsonl        the sample's RunEvents, append-only
 *   samples/<id>/messages.jsonl      the messages its model calls sent, each once, append-only
 *   samples/<id>/images/             PNGs referenced by its events; req-<hash>.png|.jpg: images its model calls sent
 *   attempts/<id>/<n>/               unfinished attempts moved aside on resume (never read back)
 *   progress.json                    RunProgress of a batch in flight (`run` / `eval`), replaced atomically; its last snapshot stays
 *   annotations.jsonl                tags and notes (shared/annotations.ts), an append-only journal
 *   samples/<id>/imported/           `spatialclaw import` runs only: the sample's own records in the imported folder, verbatim
 *
 * A sharded run (`--slurm`, shared/cluster.ts) adds slurm.json, slurm/ (generated scripts and logs) and one folder per
 * shard, `shards/<kkk>/` with its own journal (samples.jsonl), lock (shard.lock), state.json and progress.json. The
 * run's finished samples are the union of every journal ({@link sampleJournals}).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { shardDirName } from '../../../shared/cluster.ts';
import { dataDir } from '../paths.ts';

export const RUN_JSON = 'run.json';
export const SAMPLES_JSONL = 'samples.jsonl';
export const RUN_LOCK = 'run.lock';
export const SAMPLES_DIR = 'samples';
export const ATTEMPTS_DIR = 'attempts';
export const EVENTS_JSONL = 'events.jsonl';
export const MESSAGES_JSONL = 'messages.jsonl';
export const IMAGES_DIR = 'images';
export const PROGRESS_JSON = 'progress.json';
export const ANNOTATIONS_JSONL = 'annotations.jsonl';
/** `samples/<id>/imported/`: an imported sample's source records, copied verbatim (runs/import.ts, docs/import.md). */
export const IMPORTED_DIR = 'imported';
/** Sharded runs: `slurm.json` (SlurmRecord), `slurm/` (scripts, logs), `shards/<kkk>/` (one folder per shard). */
export const SLURM_JSON = 'slurm.json';
export const SLURM_DIR = 'slurm';
export const SHARDS_DIR = 'shards';
export const SHARD_LOCK = 'shard.lock';
export const SHARD_STATE = 'state.json';

/** `shards/<kkk>` of shard `k` in the run folder `dir`. */
export function shardDir(dir: string, shard: number): string {
  return join(dir, SHARDS_DIR, shardDirName(shard));
}

/** The shard indices that have a folder under `shards/`, ascending. */
export function shardIndices(dir: string): number[] {
  const root = join(dir, SHARDS_DIR);
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((f) => /^\d{3,}$/.test(f)).map(Number).sort((a, b) => a - b);
}

/**
 * Every journal of finished samples of the run in `dir` that exists, in reading order: the top-level samples.jsonl,
 * then each shard's `shards/<kkk>/samples.jsonl` by shard index. A sample is done iff its line is in one of them;
 * the shard rule puts each sample in exactly one shard's journal.
 */
export function sampleJournals(dir: string): string[] {
  const out: string[] = [];
  const top = join(dir, SAMPLES_JSONL);
  if (existsSync(top)) out.push(top);
  for (const k of shardIndices(dir)) {
    const p = join(shardDir(dir, k), SAMPLES_JSONL);
    if (existsSync(p)) out.push(p);
  }
  return out;
}

/** The default parent folder of runs: `<data dir>/runs` (the data dir is created if missing). */
export function runsRoot(): string {
  return join(dataDir(), 'runs');
}

/** What a run-id prefix may hold: a letter or digit first, then letters, digits, `_` and `-` (at most 32). */
const PREFIX_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

/**
 * A sortable, unique-enough run id, also used as the run's folder name: `YYYYMMDD-HHMMSS-xxxx` (UTC, 4
 * random hex digits), or `<prefix>-YYYYMMDD-HHMMSS-xxxx` with a prefix (e.g. `demo` for `spatialclaw demo`).
 * Ids with the same prefix sort by creation time.
 * @param prefix what the id starts with: a letter or digit, then up to 31 letters, digits, `_` or `-`.
 * @param now the creation time (default: now).
 * @throws Error naming the prefix when it holds other characters (it becomes part of a folder name).
 */
export function newRunId(now?: Date): string;
export function newRunId(prefix: string, now?: Date): string;
export function newRunId(prefixOrNow?: string | Date, maybeNow?: Date): string {
  const prefix = typeof prefixOrNow === 'string' ? prefixOrNow : undefined;
  const now = (prefixOrNow instanceof Date ? prefixOrNow : maybeNow) ?? new Date();
  if (prefix !== undefined && !PREFIX_RE.test(prefix)) {
    throw new Error(`run id prefix ${JSON.stringify(prefix)} is invalid: use a letter or digit, then up to 31 letters, digits, _ or -`);
  }
  const iso = now.toISOString(); // 2025-11-21T10:35:12.345Z
  const stamp = `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}-${randomBytes(2).toString('hex')}`;
  return prefix === undefined ? stamp : `${prefix}-${stamp}`;
}
