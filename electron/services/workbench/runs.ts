/**
 * Run browsing for the workbench: run list filters, a per-run cache of parsed samples.jsonl (paging,
 * search and sort stay fast on runs with thousands of samples), and the console journal
 * (`samples/<id>/console.jsonl`: the human cells run on a sample, docs/run-format.md).
 */
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type RunEvent, RunEventSchema, type SampleResult, SampleResultSchema } from '../../../shared/run.ts';
import type { RunQuery, RunRow, SamplePage } from '../../../shared/workbench.ts';
import { SAMPLES_DIR, sampleJournals } from '../runs/layout.ts';
import { type RunListEntry, splitLines } from '../runs/reader.ts';

export const CONSOLE_JSONL = 'console.jsonl';

/** The model name a run used (config.model.name), or null. */
export function runModelName(config: Record<string, unknown> | undefined): string | null {
  const m = config?.['model'];
  if (m && typeof m === 'object' && typeof (m as { name?: unknown }).name === 'string') return (m as { name: string }).name;
  return null;
}

/** A row of the run list from a store listing entry. */
export function toRunRow(e: RunListEntry): RunRow {
  const id = e.dir.split(/[\\/]/).pop()!;
  return {
    id,
    kind: typeof e.info?.config['kind'] === 'string' ? (e.info.config['kind'] as string) : null,
    status: e.info?.status ?? 'unreadable',
    model: runModelName(e.info?.config),
    created_at: e.info?.created_at ?? null,
    total_samples: e.info?.total_samples ?? 0,
    done: e.done,
    live: e.live,
    error: e.error,
  };
}

export class QueryError extends Error {
  override name = 'QueryError';
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/** `from`/`to` as comparable ISO strings; a date-only `to` (YYYY-MM-DD) covers that whole day. */
function dateBound(value: string, which: 'from' | 'to'): string {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new QueryError(`${which} ${JSON.stringify(value)} is not a date`, 'give an ISO date such as 2025-11-21 or 2025-11-21T10:00:00Z');
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return which === 'from' ? `${value}T00:00:00.000Z` : `${value}T23:59:59.999Z`;
  return d.toISOString();
}

/** A run list row with what the search looks at besides the row itself. */
export interface RunSearchRow {
  row: RunRow;
  /** config.dataset (`spatialclaw run`), or null. */
  dataset: string | null;
  /** config.benchmarks (`spatialclaw eval`), if any. */
  benchmarks?: readonly string[];
  /** The run folder, for question search. */
  dir?: string;
}

/**
 * Filter run rows (already newest first): `search` is a case-insensitive substring of the id, model
 * name, dataset, kind or a benchmark name, or else (with `questions`, for rows that have a `dir`) of one of
 * the run's sample questions, whose first match is returned as `matched_question`; `status` and `model`
 * (case-insensitive) must match; `from`/`to` bound created_at, inclusive. The cheap filters run first, so
 * questions are only searched for runs that pass them and whose metadata did not match. Rows whose run.json is
 * unreadable only pass a filter-free query or a matching search.
 * @param questions the first question of the run in `dir` containing `needle` (lower-cased), or null
 *   (workbench/run-search.ts RunQuestionIndex.find).
 * @throws QueryError for a date that does not parse.
 */
export function filterRuns(rows: RunSearchRow[], q: RunQuery, questions?: (dir: string, needle: string) => string | null): RunRow[] {
  const search = q.search?.trim().toLowerCase() || null;
  const from = q.from ? dateBound(q.from, 'from') : null;
  const to = q.to ? dateBound(q.to, 'to') : null;
  const model = q.model?.trim().toLowerCase() || null;
  const out: RunRow[] = [];
  for (const { row, dataset, benchmarks, dir } of rows) {
    if (q.status && row.status !== q.status) continue;
    if (model && (row.model ?? '').toLowerCase() !== model) continue;
    if (from || to) {
      if (!row.created_at) continue;
      const t = new Date(row.created_at).toISOString();
      if (from && t < from) continue;
      if (to && t > to) continue;
    }
    if (!search || [row.id, row.model ?? '', dataset ?? '', row.kind ?? '', ...(benchmarks ?? [])].some((s) => s.toLowerCase().includes(search))) {
      out.push(row);
      continue;
    }
    const hit = questions && dir ? questions(dir, search) : null;
    if (hit !== null) out.push({ ...row, matched_question: hit });
  }
  return out;
}

export interface SampleRow {
  /** Position in samples.jsonl (the order samples finished). */
  index: number;
  result: SampleResult;
  /** Lower-cased id, question, answer and question type, for search. */
  haystack: string;
}

/** One journal's parsed lines, keyed on its size and mtime. */
interface JournalEntry {
  size: number;
  mtimeMs: number;
  /** Bytes covered by `results` (complete lines only). */
  complete: number;
  results: SampleResult[];
}

interface CacheEntry {
  /** Per journal path (samples.jsonl, and each shard's of a sharded run). */
  journals: Map<string, JournalEntry>;
  /** `journals`' paths in reading order when `rows` was built. */
  order: string[];
  rows: SampleRow[];
}

function toRow(result: SampleResult, index: number): SampleRow {
  return { index, result, haystack: `${result.id}\n${result.question}\n${result.answer ?? ''}\n${result.question_type ?? ''}`.toLowerCase() };
}

/**
 * Parsed samples.jsonl per run, keyed on the file's size and mtime. A file that only grew (the
 * append-only journal of a live run) is parsed from where the cache stopped. A sharded run (shared/cluster.ts) has
 * one journal per shard: each is cached the same way, and the rows are their union: in reading order (layout.ts
 * sampleJournals: the top-level journal, then the shards') when first read, then, while the journals grow, the new
 * lines are appended in the order this reader sees them, so existing rows keep their `index` (the position in the union).
 */
export class SampleCache {
  private readonly entries = new Map<string, CacheEntry>();
  /** Lines parsed so far (for tests and benchmarks). */
  parsedLines = 0;

  constructor(private readonly maxRuns = 16) {}

  /** The finished samples of the run in `dir`, in journal order. @throws naming file:line on an invalid line. */
  rows(dir: string): SampleRow[] {
    const paths = sampleJournals(dir);
    if (paths.length === 0) return [];
    const old = this.entries.get(dir);
    const journals = new Map<string, JournalEntry>();
    let changed = !old || old.order.length !== paths.length || old.order.some((p, i) => p !== paths[i]);
    for (const path of paths) {
      const before = old?.journals.get(path);
      const j = this.journal(path, before);
      if (j !== before) changed = true;
      journals.set(path, j);
    }
    if (old && !changed) {
      this.touch(dir, old);
      return old.rows;
    }
    // Journals that only grew (a live run): keep the row objects already made, at their positions (the triage index
    // reuses its entries by identity), and append the new lines in the order this reader sees them. Anything else
    // (a journal replaced or shrunk, a new order): rebuild in journal order.
    const grewOnly = old !== undefined && old.order.every((p) => journals.has(p)) && old.order.every((p) => {
      const before = old.journals.get(p)!.results;
      const now = journals.get(p)!.results;
      return before.length <= now.length && (before.length === 0 || now[before.length - 1] === before[before.length - 1]);
    });
    let rows: SampleRow[];
    if (grewOnly) {
      rows = old.rows.slice();
      for (const path of paths) {
        const now = journals.get(path)!.results;
        for (let i = old.journals.get(path)?.results.length ?? 0; i < now.length; i++) rows.push(toRow(now[i]!, rows.length));
      }
    } else {
      rows = [];
      for (const path of paths) for (const r of journals.get(path)!.results) rows.push(toRow(r, rows.length));
    }
    this.touch(dir, { journals, order: paths, rows });
    return rows;
  }

  /** One journal, parsed from where `old` stopped when it only grew; `old` itself when unchanged. */
  private journal(path: string, old: JournalEntry | undefined): JournalEntry {
    const st = statSync(path);
    if (old && old.size === st.size && old.mtimeMs === st.mtimeMs) return old;
    let results: SampleResult[] = [];
    let start = 0;
    if (old && st.size >= old.size && old.complete > 0) {
      results = old.results.slice();
      start = old.complete;
    }
    const buf = readFrom(path, start);
    const { lines, completeBytes } = splitLines(buf);
    for (const { text, line } of lines) {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        throw new Error(`${path}: a line after byte ${start} (line ${line} of the new part) is not valid JSON`);
      }
      const r = SampleResultSchema.safeParse(raw);
      if (!r.success) throw new Error(`${path}: invalid sample result (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`);
      results.push(r.data);
      this.parsedLines++;
    }
    return { size: st.size, mtimeMs: st.mtimeMs, complete: start + completeBytes, results };
  }

  private touch(dir: string, e: CacheEntry): void {
    this.entries.delete(dir);
    this.entries.set(dir, e);
    while (this.entries.size > this.maxRuns) this.entries.delete(this.entries.keys().next().value!);
  }

  forget(dir: string): void {
    this.entries.delete(dir);
  }
}

/** Bytes of `path` from byte `start` to its end (the part of an append-only file a cache has not read yet). */
export function readFrom(path: string, start: number): Buffer {
  if (start === 0) return readFileSync(path);
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - start));
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, start + off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** Mean score over scored samples, or null when none is scored. */
export function accuracy(rows: readonly SampleRow[]): number | null {
  let n = 0;
  let sum = 0;
  for (const r of rows) {
    if (r.result.score !== null) {
      n++;
      sum += r.result.score;
    }
  }
  return n ? sum / n : null;
}

const SORT_KEYS = {
  index: null,
  score: (r: SampleResult) => r.score,
  steps: (r: SampleResult) => r.steps,
  duration: (r: SampleResult) => r.duration_s,
} as const;

/**
 * One page of samples: filtered by `search` (case-insensitive substring of id, question, answer,
 * question type), sorted by `sort` (index: file order; score, steps, duration: ascending, unscored
 * last, ties in file order), then `offset`/`limit`.
 */
export function pageSamples(rows: readonly SampleRow[], q: { offset: number; limit: number; search?: string | undefined; sort: keyof typeof SORT_KEYS }): SamplePage {
  const needle = q.search?.trim().toLowerCase() || null;
  let hits = needle ? rows.filter((r) => r.haystack.includes(needle)) : rows;
  const key = SORT_KEYS[q.sort];
  if (key) {
    hits = hits.slice().sort((a, b) => {
      const x = key(a.result);
      const y = key(b.result);
      if (x === null || y === null) return x === y ? a.index - b.index : x === null ? 1 : -1;
      return x - y || a.index - b.index;
    });
  }
  return { total: hits.length, offset: q.offset, rows: hits.slice(q.offset, q.offset + q.limit).map((r) => r.result) };
}

/** The sample folder inside a run. */
export function sampleDir(runDir: string, sampleId: string): string {
  return join(runDir, SAMPLES_DIR, sampleId);
}

/** The console cells recorded for a sample (complete lines; a torn last line is skipped). */
export function readConsole(runDir: string, sampleId: string): RunEvent[] {
  const path = join(sampleDir(runDir, sampleId), CONSOLE_JSONL);
  if (!existsSync(path)) return [];
  const { lines } = splitLines(readFileSync(path));
  const out: RunEvent[] = [];
  for (const { text, line } of lines) {
    const r = RunEventSchema.safeParse(JSON.parse(text));
    if (!r.success) throw new Error(`${path}:${line}: invalid console event`);
    out.push(r.data);
  }
  return out;
}

/**
 * Append one console event (a `cell` with origin 'human') to samples/<id>/console.jsonl: one write on
 * an O_APPEND descriptor, then fsync. The agent's events.jsonl is never touched.
 */
export function appendConsole(runDir: string, sampleId: string, e: RunEvent): void {
  const ev = RunEventSchema.parse(e);
  const fd = openSync(join(sampleDir(runDir, sampleId), CONSOLE_JSONL), 'a');
  try {
    const buf = Buffer.from(`${JSON.stringify(ev)}\n`);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
