/**
 * Failure triage over a run's samples (issue 15): one indexed row per finished sample (its `samples.jsonl` result
 * plus what its events say: tool failures, the error class, whether a fallback answered, the code it ran, its
 * tags), filters over those rows, and facet counts for the filter panel. The host builds the index
 * (electron/services/runs/sample-index.ts) and caches it per run; `spatialclaw export` writes the same rows.
 */
import { z } from 'zod';
import { RunIdSchema } from './ids.ts';
import { SampleResultSchema } from './run.ts';

/** What a sample's events add to its result, for filters, facets and export. */
export const SampleDerivedSchema = z.object({
  /** The sample's benchmark (`benchmark` of the result), or null for non-benchmark samples. */
  benchmark: z.string().nullable(),
  /** score ≥ 0.5 (the issue's and `spatialclaw compare`'s rule); null when unscored. */
  correct: z.boolean().nullable(),
  /** Agent cells whose status is not `ok` (error, timeout, rejected, kernel_died). */
  tool_failures: z.number().int().nonnegative(),
  /**
   * The sample's error class: the exception name of its first failed cell (`NameError`, `TimeoutError` for a timeout,
   * `Rejected` for a cell the safety check refused, `KernelDied`), `HostError` for a host-side error (termination
   * `error`, or an `error` message on the result, e.g. a failed fallback call), or null.
   */
  error_class: z.string().nullable(),
  /**
   * A fallback model call (role `fallback`) was made, or the answer did not come from ReturnAnswer (answer_source
   * `last_submitted` or `direct_answer`; a sample without any answer did not use a fallback).
   */
  fallback_used: z.boolean(),
  /** Tag ids on the sample or any of its steps (shared/annotations.ts), in the order first applied. */
  tags: z.array(z.string()),
  /** Notes on the sample or its steps. */
  notes: z.number().int().nonnegative(),
});
export type SampleDerived = z.infer<typeof SampleDerivedSchema>;

/** One triage row: the sample's result and what was derived from its events and annotations. */
export const TriageRowSchema = z.object({ result: SampleResultSchema, derived: SampleDerivedSchema });
export type TriageRow = z.infer<typeof TriageRowSchema>;

/** A numeric range, both ends inclusive and optional. */
const Range = z.object({ min: z.number().optional(), max: z.number().optional() }).strict();

/**
 * Filters; all given ones must hold (AND). List-valued filters match when the sample's value is one of the list
 * (OR within a facet). `text` is a case-insensitive substring of the id, question, choices, answer, ground truth and
 * the code of every agent cell.
 */
export const SampleFilterSchema = z
  .object({
    text: z.string().max(500).optional(),
    score: Range.optional(),
    /** `correct`: score ≥ 0.5; `wrong`: score < 0.5; `unscored`: no score. */
    outcome: z.array(z.enum(['correct', 'wrong', 'unscored'])).optional(),
    question_type: z.array(z.string()).optional(),
    benchmark: z.array(z.string()).optional(),
    termination: z.array(z.string()).optional(),
    /** Error classes (SampleDerived.error_class); `none` matches samples without one. */
    error_class: z.array(z.string()).optional(),
    /** true: at least one failed cell; false: none. */
    tool_failures: z.boolean().optional(),
    fallback_used: z.boolean().optional(),
    steps: Range.optional(),
    duration_s: Range.optional(),
    /** Tag ids; `untagged` matches samples without any tag. */
    tags: z.array(z.string()).optional(),
  })
  .strict();
export type SampleFilter = z.infer<typeof SampleFilterSchema>;

export const TriageQuerySchema = z
  .object({
    run_id: RunIdSchema,
    filter: SampleFilterSchema.default({}),
    sort: z.enum(['index', 'score', 'steps', 'duration', 'tool_failures']).default('index'),
    desc: z.boolean().default(false),
    offset: z.number().int().nonnegative().default(0),
    limit: z.number().int().positive().max(1000).default(200),
  })
  .strict();
export type TriageQuery = z.input<typeof TriageQuerySchema>;

/**
 * Counts of each value of a facet among the samples matching every *other* active filter (as FiftyOne does). Every
 * value present in the run is listed (count 0 when none of those samples has it); a missing question type, benchmark
 * or error class is the value `none`, a sample without tags `untagged`; `tool_failures` and `fallback_used` have the
 * values `true` and `false`.
 */
export const FacetCountsSchema = z.array(z.object({ value: z.string(), count: z.number().int().nonnegative() }));

export const TriagePageSchema = z.object({
  /** Samples in the run. */
  run_total: z.number().int().nonnegative(),
  /** Samples matching the filter (before offset/limit). */
  total: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  rows: z.array(TriageRowSchema),
  facets: z.object({
    outcome: FacetCountsSchema,
    question_type: FacetCountsSchema,
    benchmark: FacetCountsSchema,
    termination: FacetCountsSchema,
    error_class: FacetCountsSchema,
    tags: FacetCountsSchema,
    tool_failures: FacetCountsSchema,
    fallback_used: FacetCountsSchema,
  }),
  /** The ranges of the numeric fields over the run (for range sliders); null when the run has no such values. */
  ranges: z.object({
    score: z.tuple([z.number(), z.number()]).nullable(),
    steps: z.tuple([z.number(), z.number()]).nullable(),
    duration_s: z.tuple([z.number(), z.number()]).nullable(),
  }),
});
export type TriagePage = z.infer<typeof TriagePageSchema>;
