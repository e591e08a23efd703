/**
 * The question texts of the runs under a runs root, for the Runs list search (`listRuns` with `search`): a run
 * matches when one of its finished samples' questions contains the search term. Only the `question` field of each
 * `samples.jsonl` line is kept (lower-cased, repeated questions once), so every run of a large runs root fits in
 * memory where the full sample rows (workbench/runs.ts SampleCache, 16 runs) would not.
 *
 * Cost and limits:
 * - a run's samples.jsonl is parsed once, then again only when its size or mtime changed; a file that only grew (a
 *   live run) is parsed from where the index stopped. A 5,000-sample run takes tens of milliseconds once.
 * - terms shorter than {@link QUESTION_SEARCH_MIN_CHARS} characters do not search questions (they would match
 *   nearly every run); they still match id, model, dataset and benchmark names.
 * - the index keeps at most `maxChars` characters of question text (default 64 Mi, about 128 MiB of strings);
 *   beyond that the least recently searched runs are dropped and parsed again when next searched.
 * - lines that are not JSON objects with a string `question` (a torn last line, another writer's garbage) are
 *   skipped: the search never fails the run list (the run's own view reports a bad line).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { SAMPLES_JSONL, sampleJournals } from '../runs/layout.ts';
import { splitLines } from '../runs/reader.ts';
import { readFrom } from './runs.ts';

/** Search terms shorter than this (after trimming) match run metadata only, not questions. */
export const QUESTION_SEARCH_MIN_CHARS = 3;

interface Entry {
  size: number;
  mtimeMs: number;
  /** Bytes of samples.jsonl covered (complete lines only). */
  complete: number;
  /** Distinct questions as written, in first-seen order. */
  questions: string[];
  /** Their lower-cased forms, same order. */
  lower: string[];
  /** Lower-cased questions joined by "\n": one indexOf rejects a run that cannot match. */
  joined: string;
  seen: Set<string>;
  chars: number;
}

export class RunQuestionIndex {
  private readonly entries = new Map<string, Entry>();
  private chars = 0;
  /** samples.jsonl lines parsed so far (for tests: an unchanged run is not parsed again). */
  parsedLines = 0;

  constructor(private readonly maxChars = 64 * 1024 * 1024) {}

  /**
   * The first question (as written) of the run in `dir` whose lower-cased text contains `needle`, or null: no such
   * question, no samples.jsonl, or a needle shorter than {@link QUESTION_SEARCH_MIN_CHARS}.
   * @param needle the search term, already trimmed and lower-cased.
   */
  find(dir: string, needle: string): string | null {
    if (needle.length < QUESTION_SEARCH_MIN_CHARS) return null;
    const e = this.entry(dir);
    if (!e || !e.joined.includes(needle)) return null;
    const i = e.lower.findIndex((q) => q.includes(needle));
    return i < 0 ? null : e.questions[i]!; // -1 only when the needle spans two questions ("\n" in it)
  }

  /** Drop a run (its folder was removed). */
  forget(dir: string): void {
    const e = this.entries.get(dir);
    if (e) this.chars -= e.chars;
    this.entries.delete(dir);
  }

  private entry(dir: string): Entry | null {
    // A sharded run has one journal per shard: their sizes and latest mtime stand for the run's, and any change
    // re-reads all of them (the single-journal case below reads only what was appended).
    const paths = sampleJournals(dir);
    const sharded = paths.length > 1;
    const path = paths[0] ?? join(dir, SAMPLES_JSONL);
    let st: { size: number; mtimeMs: number };
    try {
      st = sharded
        ? paths.map((p) => statSync(p)).reduce((a, b) => ({ size: a.size + b.size, mtimeMs: Math.max(a.mtimeMs, b.mtimeMs) }), { size: 0, mtimeMs: 0 })
        : statSync(path);
    } catch {
      this.forget(dir);
      return null;
    }
    const old = this.entries.get(dir);
    if (old && old.size === st.size && old.mtimeMs === st.mtimeMs) {
      this.touch(dir, old);
      return old;
    }
    // Grown (the append-only journal of a live run): parse only the new part. Shrunk or replaced: start over.
    const grown = !sharded && old !== undefined && st.size >= old.size && old.complete > 0;
    const e: Entry = grown
      ? { ...old, size: st.size, mtimeMs: st.mtimeMs }
      : { size: st.size, mtimeMs: st.mtimeMs, complete: 0, questions: [], lower: [], joined: '', seen: new Set(), chars: 0 };
    if (old) this.forget(dir);
    let buf: Buffer;
    try {
      buf = sharded ? Buffer.concat(paths.map((p) => { const b = readFrom(p, 0); return b.subarray(0, b.lastIndexOf(0x0a) + 1); })) : readFrom(path, e.complete);
    } catch {
      return null;
    }
    const { lines, completeBytes } = splitLines(buf);
    const added: string[] = [];
    for (const { text } of lines) {
      this.parsedLines++;
      let q: unknown;
      try {
        q = (JSON.parse(text) as { question?: unknown } | null)?.question;
      } catch {
        continue;
      }
      if (typeof q !== 'string' || e.seen.has(q)) continue;
      e.seen.add(q);
      e.questions.push(q);
      const low = q.toLowerCase();
      e.lower.push(low);
      added.push(low);
      e.chars += q.length * 2;
    }
    if (added.length) e.joined = e.joined ? `${e.joined}\n${added.join('\n')}` : added.join('\n');
    e.complete += completeBytes;
    this.chars += e.chars;
    this.touch(dir, e);
    while (this.chars > this.maxChars && this.entries.size > 1) {
      const oldest = this.entries.keys().next().value!;
      if (oldest === dir) break;
      this.forget(oldest);
    }
    return e;
  }

  private touch(dir: string, e: Entry): void {
    this.entries.delete(dir);
    this.entries.set(dir, e);
  }
}
