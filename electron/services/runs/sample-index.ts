/**
 * The triage index of a run (issue 15, shared/triage.ts): one entry per finished sample, its `samples.jsonl` result
 * plus what its `events.jsonl` says (failed agent cells, the error class, whether a fallback answered, the code it
 * ran) and its folded annotations; and the pure functions over it: filters, sort, paging, FiftyOne-style facet
 * counts and the numeric ranges. `spatialclaw export` and the workbench's `exportRun` write rows of the same index
 * ({@link exportRow}).
 *
 * Caching: a sample is done iff its line is in samples.jsonl, and its events.jsonl is complete before that line is
 * written (runs/writer.ts) and never changes afterwards, so each sample's events are read once per run and kept
 * (keyed on sample id and finished_at: a sample recorded again after a deleted run folder was recreated reads
 * again). Tags and notes come from the annotations journal, folded again only when annotationsVersion changes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { SampleAnnotations } from '../../../shared/annotations.ts';
import type { ExportRow } from '../../../shared/export.ts';
import type { SampleResult } from '../../../shared/run.ts';
import type { SampleDerived, SampleFilter, TriagePage, TriageQuery, TriageRow } from '../../../shared/triage.ts';
import { SampleCache, type SampleRow } from '../workbench/runs.ts';
import { annotationsVersion, readAnnotations } from './annotations.ts';
import { EVENTS_JSONL, SAMPLES_DIR } from './layout.ts';
import { splitLines } from './reader.ts';

/** score ≥ this counts as correct (the issue's and `spatialclaw compare`'s rule). */
export const CORRECT_AT = 0.5;

/** The facet value of a sample without a question type, benchmark or error class. */
export const NONE = 'none';
/** The `tags` facet value of a sample without tags. */
export const UNTAGGED = 'untagged';

/** What a sample's events say, derived once per finished sample. */
export interface EventFacts {
  /** Agent cells whose status is not `ok`. */
  tool_failures: number;
  /** The error class of the first failed agent cell, or null. */
  cell_error_class: string | null;
  /** A model call with role `fallback` was made. */
  fallback_call: boolean;
  /** The code of every agent cell, in order, joined by blank lines. */
  code: string;
}

/** One finished sample in the index. */
export interface IndexedSample {
  /** Position in samples.jsonl (the order samples finished). */
  index: number;
  result: SampleResult;
  derived: SampleDerived;
  /** Its folded annotations (empty lists when it has none). */
  annotations: SampleAnnotations;
  /** Lower-cased id, question, choices, answer, ground truth and agent code, for the `text` filter. */
  haystack: string;
}

// Only the fields the index reads are checked (a full RunEvent parse of every cell's output would cost more than the
// rest of the index together); the run format itself is checked by the writer and readSampleEvents.
const CellFactsSchema = z.object({
  type: z.literal('cell'),
  result: z.object({
    origin: z.enum(['agent', 'human']),
    code: z.string(),
    status: z.enum(['ok', 'error', 'timeout', 'rejected', 'kernel_died']),
    error: z.object({ ename: z.string() }).nullable(),
  }),
});
const ModelCallFactsSchema = z.object({ type: z.literal('model_call'), role: z.string() });

const EVENT_OF_INTEREST = /"type"\s*:\s*"(?:cell|model_call)"/;

const NO_EVENTS: EventFacts = { tool_failures: 0, cell_error_class: null, fallback_call: false, code: '' };

/** The error class of a failed cell (shared/triage.ts SampleDerived.error_class). */
function cellErrorClass(status: 'error' | 'timeout' | 'rejected' | 'kernel_died', ename: string | undefined): string {
  if (status === 'timeout') return 'TimeoutError';
  if (status === 'rejected') return 'Rejected';
  if (status === 'kernel_died') return 'KernelDied';
  return ename || 'Error';
}

/**
 * What the events of `events.jsonl` text say. A torn last line is skipped.
 * @param path only names the file in errors.
 * @throws Error `<path>:<line>: …` for a complete line that is not JSON, or a cell / model_call event without the
 *   fields read here.
 */
export function eventFacts(buf: Buffer, path: string): EventFacts {
  let tool_failures = 0;
  let cell_error_class: string | null = null;
  let fallback_call = false;
  const code: string[] = [];
  for (const { text, line } of splitLines(buf).lines) {
    // Cheap pre-check: most lines are neither cells nor model calls (observations, images, artifacts). Inside a JSON
    // string a quote is escaped, so this pattern only matches a key; a nested one costs a parse, nothing else.
    if (!EVENT_OF_INTEREST.test(text)) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new Error(`${path}:${line}: not valid JSON (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
    const type = (raw as { type?: unknown } | null)?.type;
    if (type === 'cell') {
      const r = CellFactsSchema.safeParse(raw);
      if (!r.success) throw new Error(`${path}:${line}: invalid cell event (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`);
      const c = r.data.result;
      if (c.origin !== 'agent') continue;
      code.push(c.code);
      if (c.status !== 'ok') {
        tool_failures++;
        cell_error_class ??= cellErrorClass(c.status, c.error?.ename);
      }
    } else if (type === 'model_call') {
      const r = ModelCallFactsSchema.safeParse(raw);
      if (!r.success) throw new Error(`${path}:${line}: invalid model_call event (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`);
      if (r.data.role === 'fallback') fallback_call = true;
    }
  }
  return { tool_failures, cell_error_class, fallback_call, code: code.join('\n\n') };
}

const SAMPLE_FOLDER_RE = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * The event facts of sample `id` in the run `dir`. A sample without an events.jsonl (or whose id cannot be a folder
 * name) has no events. @throws as {@link eventFacts}.
 */
export function readEventFacts(dir: string, id: string): EventFacts {
  if (!SAMPLE_FOLDER_RE.test(id) || id === '.' || id === '..') return NO_EVENTS;
  const path = join(dir, SAMPLES_DIR, id, EVENTS_JSONL);
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return NO_EVENTS;
    throw e;
  }
  return eventFacts(buf, path);
}

const EMPTY_ANNOTATIONS: SampleAnnotations = { tags: [], notes: [] };

/** A sample's derived fields from its result, event facts and annotations (shared/triage.ts SampleDerived). */
export function deriveSample(result: SampleResult, facts: EventFacts, ann: SampleAnnotations = EMPTY_ANNOTATIONS): SampleDerived {
  const hostError = result.termination === 'error' || result.error !== null;
  return {
    benchmark: result.benchmark ?? null,
    correct: result.score === null ? null : result.score >= CORRECT_AT,
    tool_failures: facts.tool_failures,
    error_class: facts.cell_error_class ?? (hostError ? 'HostError' : null),
    // A fallback answered, or the answer came from a fallback route (the last submitted answer, the direct-answer
    // call or its salvage); a sample that has no answer at all did not use one.
    fallback_used: facts.fallback_call || result.answer_source === 'last_submitted' || result.answer_source === 'direct_answer',
    tags: [...new Set(ann.tags.map((t) => t.tag))],
    notes: ann.notes.length,
  };
}

/** A value as searchable text. */
const str = (v: string | number | null | undefined): string => (v === null || v === undefined ? '' : String(v));

/** One index entry. */
export function indexSample(index: number, result: SampleResult, facts: EventFacts, ann: SampleAnnotations = EMPTY_ANNOTATIONS): IndexedSample {
  const haystack = [result.id, result.question, ...(result.choices ?? []), str(result.answer), str(result.ground_truth), facts.code].join('\n').toLowerCase();
  return { index, result, derived: deriveSample(result, facts, ann), annotations: ann, haystack };
}

interface RunIndex {
  /** The SampleCache rows this index was built from (a new array whenever samples.jsonl changed). */
  rows: SampleRow[];
  annotationsVersion: string;
  annotations: Record<string, SampleAnnotations>;
  /** One entry per row of `rows`. */
  all: IndexedSample[];
  /** `all` with one entry per sample id: its last line (a sample recorded twice counts once, as its last record). */
  samples: IndexedSample[];
  /** Event facts by `<sample id>\0<finished_at>`. */
  facts: Map<string, EventFacts>;
}

/**
 * The triage index per run folder. Builds on a {@link SampleCache} (shared with listSamples in the workbench), reads
 * each finished sample's events once, and re-folds annotations only when the journal changed. Keeps the `maxRuns`
 * most recently used runs.
 */
export class SampleIndex {
  private readonly runs = new Map<string, RunIndex>();
  /** events.jsonl files read so far (for tests and benchmarks). */
  eventsRead = 0;

  constructor(
    private readonly cache: SampleCache = new SampleCache(),
    private readonly maxRuns = 8,
  ) {}

  /**
   * The index of the run in `dir`, in samples.jsonl order; a sample id with several lines counts once, as its last
   * line (as `spatialclaw score` and `compare` read runs).
   * @throws naming the file and line for an invalid line of samples.jsonl, annotations.jsonl or an events.jsonl.
   */
  samples(dir: string): IndexedSample[] {
    const rows = this.cache.rows(dir);
    const version = annotationsVersion(dir);
    const old = this.runs.get(dir);
    if (old && old.rows === rows && old.annotationsVersion === version) {
      this.touch(dir, old);
      return old.samples;
    }
    const sameAnnotations = old !== undefined && old.annotationsVersion === version;
    const annotations = sameAnnotations ? old.annotations : readAnnotations(dir).samples;
    const facts = old?.facts ?? new Map<string, EventFacts>();
    const all = rows.map((row, i) => {
      // An unchanged row (samples.jsonl only grew) keeps its entry when the annotations did not change either, and
      // its text when they did.
      const prev = old?.rows[i] === row ? old.all[i] : undefined;
      if (prev && sameAnnotations) return prev;
      const key = `${row.result.id}\0${row.result.finished_at}`;
      let f = facts.get(key);
      if (!f) {
        f = readEventFacts(dir, row.result.id);
        this.eventsRead++;
        facts.set(key, f);
      }
      const ann = annotations[row.result.id] ?? EMPTY_ANNOTATIONS;
      return prev ? { ...prev, derived: deriveSample(row.result, f, ann), annotations: ann } : indexSample(row.index, row.result, f, ann);
    });
    const last = new Map<string, number>();
    all.forEach((e, i) => last.set(e.result.id, i));
    const samples = last.size === all.length ? all : all.filter((e, i) => last.get(e.result.id) === i);
    this.touch(dir, { rows, annotationsVersion: version, annotations, all, samples, facts });
    return samples;
  }

  forget(dir: string): void {
    this.runs.delete(dir);
  }

  private touch(dir: string, entry: RunIndex): void {
    this.runs.delete(dir);
    this.runs.set(dir, entry);
    while (this.runs.size > this.maxRuns) this.runs.delete(this.runs.keys().next().value!);
  }
}

// ---------------------------------------------------------------------------------------------------
// Filters, facets, sort, ranges (pure)

type FacetName = keyof TriagePage['facets'];

/** Each facet's values of a sample (the same function the facet's filter tests). */
const FACET_VALUES: Record<FacetName, (s: IndexedSample) => string[]> = {
  outcome: (s) => [s.derived.correct === null ? 'unscored' : s.derived.correct ? 'correct' : 'wrong'],
  question_type: (s) => [s.result.question_type ?? NONE],
  benchmark: (s) => [s.derived.benchmark ?? NONE],
  termination: (s) => [s.result.termination],
  error_class: (s) => [s.derived.error_class ?? NONE],
  tags: (s) => (s.derived.tags.length ? s.derived.tags : [UNTAGGED]),
  tool_failures: (s) => [String(s.derived.tool_failures > 0)],
  fallback_used: (s) => [String(s.derived.fallback_used)],
};
const FACETS = Object.keys(FACET_VALUES) as FacetName[];

/** Facets listed in a fixed order (all their values, always); the others are sorted by count, then value. */
const FIXED_ORDER: Partial<Record<FacetName, string[]>> = {
  outcome: ['correct', 'wrong', 'unscored'],
  tool_failures: ['true', 'false'],
  fallback_used: ['true', 'false'],
};

type Range = { min?: number | undefined; max?: number | undefined };
const inRange = (v: number | null, r: Range): boolean => v !== null && (r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max);

/** One active filter: its facet (if it has one) and its test. */
interface ActiveFilter {
  facet: FacetName | null;
  test: (s: IndexedSample) => boolean;
}

/** The filters of `f` that constrain anything (empty lists, blank text and open ranges do not). */
export function activeFilters(f: SampleFilter): ActiveFilter[] {
  const out: ActiveFilter[] = [];
  const text = f.text?.trim().toLowerCase();
  if (text) out.push({ facet: null, test: (s) => s.haystack.includes(text) });
  const range = (r: Range | undefined, value: (s: IndexedSample) => number | null): void => {
    if (r && (r.min !== undefined || r.max !== undefined)) out.push({ facet: null, test: (s) => inRange(value(s), r) });
  };
  range(f.score, (s) => s.result.score);
  range(f.steps, (s) => s.result.steps);
  range(f.duration_s, (s) => s.result.duration_s);
  const list = (facet: FacetName, values: readonly string[] | undefined): void => {
    if (!values?.length) return;
    const want = new Set(values);
    const of = FACET_VALUES[facet];
    out.push({ facet, test: (s) => of(s).some((v) => want.has(v)) });
  };
  list('outcome', f.outcome);
  list('question_type', f.question_type);
  list('benchmark', f.benchmark);
  list('termination', f.termination);
  list('error_class', f.error_class);
  list('tags', f.tags);
  if (f.tool_failures !== undefined) list('tool_failures', [String(f.tool_failures)]);
  if (f.fallback_used !== undefined) list('fallback_used', [String(f.fallback_used)]);
  return out;
}

/** The samples matching every filter of `f`, in index order. */
export function filterSamples(samples: readonly IndexedSample[], f: SampleFilter): IndexedSample[] {
  const active = activeFilters(f);
  return active.length ? samples.filter((s) => active.every((a) => a.test(s))) : samples.slice();
}

/**
 * The matches of `f` and the facet counts: each facet counts its values among the samples matching every *other*
 * active filter (selecting a value of a facet does not hide that facet's other values, as in FiftyOne). Every value
 * present in the run is listed, with count 0 when no such sample matches. One pass over the samples.
 */
export function filterWithFacets(samples: readonly IndexedSample[], f: SampleFilter): { matches: IndexedSample[]; facets: TriagePage['facets'] } {
  const active = activeFilters(f);
  if (active.length > 30) throw new Error('too many filters'); // cannot happen with SampleFilter (12 keys); keeps the bit masks exact
  const bit = new Map<FacetName, number>();
  active.forEach((a, i) => a.facet && bit.set(a.facet, 1 << i));
  const counts = Object.fromEntries(FACETS.map((k) => [k, new Map<string, number>()])) as Record<FacetName, Map<string, number>>;
  const matches: IndexedSample[] = [];
  for (const s of samples) {
    let failed = 0;
    for (let i = 0; i < active.length; i++) if (!active[i]!.test(s)) failed |= 1 << i;
    if (failed === 0) matches.push(s);
    for (const k of FACETS) {
      const m = counts[k];
      // Counted when it fails no filter, or fails only this facet's own filter.
      const counted = failed === 0 || failed === bit.get(k);
      for (const v of FACET_VALUES[k](s)) m.set(v, (m.get(v) ?? 0) + (counted ? 1 : 0));
    }
  }
  const facets = Object.fromEntries(
    FACETS.map((k) => {
      const m = counts[k];
      const fixed = FIXED_ORDER[k];
      const list = fixed
        ? fixed.map((value) => ({ value, count: m.get(value) ?? 0 }))
        : [...m].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || a.value.localeCompare(b.value));
      return [k, list];
    }),
  ) as TriagePage['facets'];
  return { matches, facets };
}

type SortKey = NonNullable<TriageQuery['sort']>;
const SORT_VALUE: Record<Exclude<SortKey, 'index'>, (s: IndexedSample) => number | null> = {
  score: (s) => s.result.score,
  steps: (s) => s.result.steps,
  duration: (s) => s.result.duration_s,
  tool_failures: (s) => s.derived.tool_failures,
};

/**
 * `samples` sorted by `key` (index: samples.jsonl order), ascending or `desc`; samples without a value (unscored)
 * come last either way; ties keep index order. Returns a new array.
 */
export function sortSamples(samples: readonly IndexedSample[], key: SortKey, desc: boolean): IndexedSample[] {
  const dir = desc ? -1 : 1;
  if (key === 'index') return samples.slice().sort((a, b) => dir * (a.index - b.index));
  const value = SORT_VALUE[key];
  return samples.slice().sort((a, b) => {
    const x = value(a);
    const y = value(b);
    if (x === null || y === null) return x === y ? a.index - b.index : x === null ? 1 : -1;
    return dir * (x - y) || a.index - b.index;
  });
}

/** [min, max] of a numeric field over the samples, or null when none has a value. */
function rangeOf(samples: readonly IndexedSample[], value: (s: IndexedSample) => number | null): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of samples) {
    const v = value(s);
    if (v === null) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

/** The ranges of score, steps and duration over the whole run (for range sliders). */
export function rangesOf(samples: readonly IndexedSample[]): TriagePage['ranges'] {
  return {
    score: rangeOf(samples, (s) => s.result.score),
    steps: rangeOf(samples, (s) => s.result.steps),
    duration_s: rangeOf(samples, (s) => s.result.duration_s),
  };
}

/** The query with its defaults applied (TriageQuerySchema's output, without run_id). */
export interface TriageParams {
  filter: SampleFilter;
  sort: SortKey;
  desc: boolean;
  offset: number;
  limit: number;
}

/** One triage page: filter, facet counts, sort, then offset/limit; ranges over the whole run. */
export function triagePage(samples: readonly IndexedSample[], q: TriageParams): TriagePage {
  const { matches, facets } = filterWithFacets(samples, q.filter);
  const sorted = q.sort === 'index' && !q.desc ? matches : sortSamples(matches, q.sort, q.desc);
  const rows: TriageRow[] = sorted.slice(q.offset, q.offset + q.limit).map((s) => ({ result: s.result, derived: s.derived }));
  return { run_total: samples.length, total: matches.length, offset: q.offset, rows, facets, ranges: rangesOf(samples) };
}

// ---------------------------------------------------------------------------------------------------
// Export rows

/** A note as one line of text: `<author>: <text>` or `<author> (step <n>): <text>`. */
export function noteText(n: { author: string; step: number | null; text: string }): string {
  return `${n.author}${n.step === null ? '' : ` (step ${n.step})`}: ${n.text}`;
}

/** The export row of an indexed sample (shared/export.ts). */
export function exportRow(s: IndexedSample): ExportRow {
  const r = s.result;
  const d = s.derived;
  return {
    id: r.id,
    benchmark: d.benchmark,
    source_id: r.source_id ?? null,
    question_type: r.question_type,
    category: r.category ?? null,
    question: r.question,
    choices: r.choices ?? [],
    answer: r.answer,
    ground_truth: r.ground_truth,
    score: r.score,
    correct: d.correct,
    scoring: r.scoring ?? null,
    answer_source: r.answer_source,
    termination: r.termination,
    error: r.error,
    error_class: d.error_class,
    steps: r.steps,
    model_calls: r.model_calls,
    parse_failures: r.parse_failures,
    prompt_tokens: r.usage.prompt_tokens,
    completion_tokens: r.usage.completion_tokens,
    reasoning_tokens: r.usage.reasoning_tokens ?? null,
    duration_s: r.duration_s,
    tool_failures: d.tool_failures,
    fallback_used: d.fallback_used,
    tags: [...new Set(s.annotations.tags.filter((t) => t.step === null).map((t) => t.tag))],
    step_tags: s.annotations.tags.filter((t) => t.step !== null).map((t) => `${t.step}:${t.tag}`),
    notes: s.annotations.notes.map(noteText),
    started_at: r.started_at,
    finished_at: r.finished_at,
  };
}
