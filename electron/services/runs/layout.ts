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
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
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
