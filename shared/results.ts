/**
 * A run's results, as the workbench's Results tab shows them (`runResults`, docs/workbench.md "Results"):
 * per benchmark, per category and per question type the score, the sample counts and a 95% confidence
 * interval, next to the paper's reference numbers, plus what the charts need (numeric-task scores, steps
 * per sample, termination reasons).
 *
 * Two sources, never mixed in one answer (`source`):
 * - `results.json`: the official breakdown written by `spatialclaw eval` / `score`
 *   (python-eval/spatial_eval/results.py `build_results`; format in docs/benchmarks-eval.md). Each benchmark's
 *   score is the aggregate its released evaluation computes (often not the mean of the per-sample scores).
 * - `live`: computed by the host from `samples.jsonl` when there is no (current) results.json: ask / run runs, or an
 *   eval run still in flight. Every score is the mean per-sample score of its group and every interval a 95%
 *   percentile bootstrap of that mean (1000 resamples, seeded). Labelled "live, per-sample mean": it is not the
 *   official number.
 *
 * All scores and intervals are fractions 0..1; `n` counts samples, `scored` those with a score (unscored samples,
 * e.g. without a ground truth, are excluded from every mean).
 */
import { z } from 'zod';
import { RunIdSchema } from './ids.ts';
import { TerminationSchema } from './run.ts';

/** A 95% interval `[low, high]` (0..1), or null (fewer than 2 scored samples, or none given). */
export const Ci95Schema = z.tuple([z.number(), z.number()]).nullable();
export type Ci95 = z.infer<typeof Ci95Schema>;

/** One group of a benchmark's samples: a category or a question type, as the benchmark names them. */
export const ResultGroupSchema = z.object({
  name: z.string(),
  /** Samples in the group. */
  n: z.number().int().nonnegative(),
  /** Of those, samples with a score. */
  scored: z.number().int().nonnegative(),
  /** Mean per-sample score over the scored samples (0..1), or null when none is scored. */
  score: z.number().nullable(),
  ci95: Ci95Schema,
});
export type ResultGroup = z.infer<typeof ResultGroupSchema>;

/** One benchmark of the run (or, `name: null`, the samples that belong to none: ask / run datasets). */
export const BenchmarkBreakdownSchema = z.object({
  /** The benchmark's key (`vsibench_debiased`, `blink`, ...), or null for samples without a benchmark. */
  name: z.string().nullable(),
  /** What people call it (`VSI-Bench-U`), or the key when the title is not known. */
  title: z.string(),
  n: z.number().int().nonnegative(),
  scored: z.number().int().nonnegative(),
  /** results.json: the released evaluation's overall; live: the mean per-sample score. 0..1 or null. */
  score: z.number().nullable(),
  ci95: Ci95Schema,
  /** The paper's SpatialClaw number for this benchmark (0..1, Gemma 4-31B), or null when the paper reports none. */
  paper: z.number().nullable(),
  /** Every method the paper reports for this benchmark (`spatialclaw`, `no_tool`, ...), 0..1. */
  reference: z.record(z.string(), z.number()),
  /** The paper's benchmark category (`Single-image`, `Video & 4D`, ...), or null outside the paper's table. */
  paper_category: z.string().nullable(),
  /** By the benchmark's own category label (SampleResult.category), sorted by name. */
  by_category: z.array(ResultGroupSchema),
  /** By question type, sorted by name. */
  by_question_type: z.array(ResultGroupSchema),
  /** The scorer's notes (results.json), e.g. tasks absent from a subsample. */
  notes: z.array(z.string()),
});
export type BenchmarkBreakdown = z.infer<typeof BenchmarkBreakdownSchema>;

/**
 * One of the paper's benchmark categories, over the run's benchmarks in it. The paper's category averages are the
 * unweighted mean of its benchmarks' scores; `paper` is that mean over the same benchmarks the run has, so the two
 * numbers compare (it equals the paper's published category average when `benchmarks.length === of`).
 */
export const PaperCategorySchema = z.object({
  name: z.string(),
  /** The run's benchmarks in this category, in the paper's order. */
  benchmarks: z.array(z.string()),
  /** How many benchmarks the paper's category holds. */
  of: z.number().int().positive(),
  /** Samples of those benchmarks. */
  n: z.number().int().nonnegative(),
  /** Unweighted mean of the benchmarks' scores (0..1), or null when none has a score. */
  score: z.number().nullable(),
  /** The paper's SpatialClaw numbers over the same benchmarks, averaged (0..1), or null. */
  paper: z.number().nullable(),
});
export type PaperCategory = z.infer<typeof PaperCategorySchema>;

export const RunResultsSchema = z.object({
  run_id: RunIdSchema,
  /** Where the numbers come from: the official `results.json`, or the host's `live` per-sample means. */
  source: z.enum(['results.json', 'live']),
  /** What the numbers are, in words (e.g. `official (results.json, official scoring)`, `live, per-sample mean`). */
  label: z.string(),
  /** The scoring behind the numbers (`official` / `paper`), or null for samples scored by the generic rule. */
  scoring: z.string().nullable(),
  /** A writer holds the run open (this host's question or another process's `spatialclaw run` / `eval`). */
  live: z.boolean(),
  /** An eval run whose samples are all done and whose results.json is being written now: ask again shortly. */
  scoring_pending: z.boolean(),
  /** Finished samples (lines of samples.jsonl) and the samples the run was asked to do. */
  done: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  benchmarks: z.array(BenchmarkBreakdownSchema),
  /** The paper's categories the run's benchmarks fall in, in the paper's order (empty for runs outside its table). */
  paper_categories: z.array(PaperCategorySchema),
  /**
   * The unweighted mean of the benchmark scores over those of the paper's `of` benchmarks in the run (`count`), as
   * the paper computes its average; `complete` when all are there (only then comparable with `paper`). Null when the
   * run has none of the paper's benchmarks.
   */
  mean: z
    .object({ value: z.number().nullable(), count: z.number().int().nonnegative(), of: z.number().int().positive(), complete: z.boolean(), paper: z.number().nullable() })
    .nullable(),
  /** Scores (0..1) of the scored samples whose ground truth is a number (no choices): MRA-type tasks. */
  numeric_scores: z.array(z.number()),
  /** Cells run per finished sample, in samples.jsonl order. */
  steps: z.array(z.number().int().nonnegative()),
  /** Finished samples per termination reason, every reason listed (zeros included), in the schema's order. */
  terminations: z.array(z.object({ reason: TerminationSchema, count: z.number().int().nonnegative() })),
  /** Anything the reader should know: a stale or unreadable results.json, a missing reference table, ... */
  notes: z.array(z.string()),
});
export type RunResults = z.infer<typeof RunResultsSchema>;

// ---------------------------------------------------------------------------------------------------
// results.json as the host reads it (the Python producer's format; only the fields used here)

const FileGroupSchema = z.object({
  n: z.number().int().nonnegative(),
  scored: z.number().int().nonnegative(),
  mean: z.number().nullable(),
  ci95: Ci95Schema,
});

/** `results.json` (`spatialclaw-results/1`, docs/benchmarks-eval.md), the fields the Results tab reads. */
export const ResultsFileSchema = z.object({
  format: z.literal('spatialclaw-results/1'),
  scoring: z.string(),
  run: z.object({ finished_samples: z.number().int().nonnegative().optional() }).optional(),
  benchmarks: z.record(
    z.string(),
    z.object({
      title: z.string(),
      n: z.number().int().nonnegative(),
      scored: z.number().int().nonnegative(),
      overall: z.number().nullable(),
      ci95: Ci95Schema,
      by_category: z.record(z.string(), FileGroupSchema),
      by_question_type: z.record(z.string(), FileGroupSchema),
      notes: z.array(z.string()).default([]),
      reference: z.record(z.string(), z.number()).default({}),
    }),
  ),
  mean_over_benchmarks: z.object({
    value: z.number().nullable(),
    benchmarks: z.array(z.string()),
    of: z.number().int().positive(),
    complete: z.boolean(),
    reference: z.record(z.string(), z.number()).default({}),
  }),
});
export type ResultsFile = z.infer<typeof ResultsFileSchema>;

/** The paper's reference table (python-eval/spatial_eval/reference/paper_results.json), numbers in percent. */
export const PaperReferenceSchema = z.object({
  methods: z.array(z.string()),
  benchmarks: z.array(z.object({ key: z.string(), name: z.string(), category: z.string() }).catchall(z.unknown())),
  averages: z.record(z.string(), z.number()),
});
export type PaperReference = z.infer<typeof PaperReferenceSchema>;
