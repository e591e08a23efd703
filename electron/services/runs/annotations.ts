/**
 * The annotations journal of a run, `<run>/annotations.jsonl` (shared/annotations.ts, docs/run-format.md): tags and
 * notes on samples and steps, one `AnnotationEntry` per line.
 *
 * Appends are one `write` of one whole line on an `O_APPEND` descriptor, then `fsync`: on a local file system each
 * such write lands whole at the end of the file, so two windows or processes annotating the same run at once never
 * interleave or lose a line, and a crash can only cut the last line, which readers skip. The next append after such a
 * crash starts with a newline, so the cut line stays a line of its own (readers skip it: it starts like an entry and
 * does not end like one) and the entries after it are read as before.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type AnnotationEntry, AnnotationEntrySchema, foldAnnotations, type RunAnnotations } from '../../../shared/annotations.ts';
import { ANNOTATIONS_JSONL } from './layout.ts';
import { splitLines } from './reader.ts';

/** A new entry id: 16 random hex digits. */
export function newAnnotationId(): string {
  return randomBytes(8).toString('hex');
}

/** How every entry line starts (JSON.stringify of a parsed entry: `id` is its first key). */
const ENTRY_START = '{"id":"';

/**
 * Append one entry (validated) to the run's journal and fsync it. The line is written with a single `write` call,
 * preceded by a newline when the journal ends in a line cut by a crash (so the entry starts a line of its own).
 * @returns the entry as written.
 * @throws ZodError for an invalid entry (nothing is written).
 */
export function appendAnnotation(runDir: string, entry: AnnotationEntry): AnnotationEntry {
  const e = AnnotationEntrySchema.parse(entry);
  const fd = openSync(join(runDir, ANNOTATIONS_JSONL), 'a+');
  try {
    // Another writer's line may land between this check and the write: then the newline only adds a blank line.
    const size = fstatSync(fd).size;
    const last = Buffer.alloc(1);
    const torn = size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
    const buf = Buffer.from(`${torn ? '\n' : ''}${JSON.stringify(e)}\n`);
    const n = writeSync(fd, buf, 0, buf.length);
    if (n !== buf.length) throw new Error(`${join(runDir, ANNOTATIONS_JSONL)}: short write (${n} of ${buf.length} bytes); the disk may be full`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return e;
}

/**
 * The journal's entries in order. A write cut by a crash is skipped: the torn last line (no newline), or such a line
 * that a later append closed (it starts like an entry, `{"id":"`, but does not end with `}` and is not JSON).
 * @throws Error naming file and line for any other complete line that is not a valid entry.
 */
export function readAnnotationEntries(runDir: string): AnnotationEntry[] {
  const path = join(runDir, ANNOTATIONS_JSONL);
  if (!existsSync(path)) return [];
  const out: AnnotationEntry[] = [];
  for (const { text, line } of splitLines(readFileSync(path)).lines) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      if (text.startsWith(ENTRY_START) && !text.trimEnd().endsWith('}')) continue; // a write cut by a crash
      throw new Error(`${path}:${line} is not valid JSON; fix or delete that line (the journal is plain JSON lines)`);
    }
    const r = AnnotationEntrySchema.safeParse(raw);
    if (!r.success) throw new Error(`${path}:${line} is not an annotation entry (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`);
    out.push(r.data);
  }
  return out;
}

/** The folded annotations of a run (empty when it has none). @throws as readAnnotationEntries */
export function readAnnotations(runDir: string): RunAnnotations {
  return foldAnnotations(readAnnotationEntries(runDir));
}

/** A key that changes whenever the journal changes (size and mtime), for caches; `none` without a journal. */
export function annotationsVersion(runDir: string): string {
  const path = join(runDir, ANNOTATIONS_JSONL);
  if (!existsSync(path)) return 'none';
  const st = statSync(path);
  return `${st.size}:${st.mtimeMs}`;
}
