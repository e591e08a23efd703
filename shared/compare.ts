/**
 * Comparing runs (issue 15, "Compare runs"): the workbench method `compareRuns` and what it answers.
 *
 * Two to six runs of the same benchmark; the first is the baseline and each other run is compared with it on the
 * samples both scored (matched by sample id). The statistics are computed once, in Python
 * (python-eval/spatial_eval/compare.py `compare_many`, the same `compare_scores` as `spatialclaw compare A B --json`):
 * a sample is correct when its score is at least {@link CORRECT_AT}; McNemar's exact test on correct/wrong (the
 * two-sided binomial test of the discordant pairs at p = 0.5); `delta` = mean(B score − A score) with a 95% paired
 * percentile bootstrap interval (`resamples` resamples, seed 0). The host (electron/services/app/compare.ts) runs it
 * and parses the answer with {@link RunComparisonSchema}; the Python side checks its output against the generated
 * JSON Schema of the same contract (`RunComparison` in shared/contracts/index.ts).
 */
import { z } from 'zod';
import { RunIdSchema } from './ids.ts';

/** A score at or above this counts as correct (python-eval/spatial_eval/compare.py `CORRECT_AT`). */
export const CORRECT_AT = 0.5;
/** The most runs one comparison takes (compare.py `MAX_RUNS`). */
export const COMPARE_MAX_RUNS = 6;
/** Bootstrap resamples by default: the same as `spatialclaw compare`, so both give the same interval. */
export const COMPARE_RESAMPLES = 9999;

/** `compareRuns` arguments. */
export const CompareRequestSchema = z
  .object({
    /** Run ids (folder names under the runs root); the first is the baseline. */
    run_ids: z
      .array(RunIdSchema)
      .min(2, 'pick at least two runs to compare')
      .max(COMPARE_MAX_RUNS, `compare at most ${COMPARE_MAX_RUNS} runs at once`)
      .refine((ids) => new Set(ids).size === ids.length, 'a run is listed twice: pick each run once'),
    /** Bootstrap resamples of the delta's interval (0: no interval). */
    resamples: z.number().int().min(0).max(100_000).default(COMPARE_RESAMPLES),
  })
  .strict();
export type CompareRequest = z.input<typeof CompareRequestSchema>;

/** The paired statistics of two runs over their common scored samples (compare.py `paired_stats`). */
export const PairedStatsSchema = z
  .object({
    /** Samples both runs scored. */
    n_common: z.number().int().nonnegative(),
    /** Of those, correct in A (the baseline) / in B. */
    a_correct: z.number().int().nonnegative(),
    b_correct: z.number().int().nonnegative(),
    /** Right in A and wrong in B (right → wrong), and the other way round (wrong → right). */
    a_only_correct: z.number().int().nonnegative(),
    b_only_correct: z.number().int().nonnegative(),
    /** a_only_correct + b_only_correct. */
    n_discordant: z.number().int().nonnegative(),
    /** McNemar's exact (binomial) two-sided p; 1 without a discordant pair. */
    mcnemar_p: z.number().min(0).max(1),
    /** Mean scores (0..1), null without common samples. */
    mean_a: z.number().nullable(),
    mean_b: z.number().nullable(),
    /** mean_b − mean_a (score units, -1..1), null without common samples. */
    delta: z.number().nullable(),
    /** 95% paired percentile bootstrap interval of delta; null with fewer than 2 samples or 0 resamples. */
    delta_ci95: z.tuple([z.number(), z.number()]).nullable(),
  })
  .meta({ id: 'PairedStats' });
export type PairedStats = z.infer<typeof PairedStatsSchema>;

/** One run against the baseline: `spatialclaw compare BASELINE RUN --json` with run ids for `a` and `b`. */
export const RunPairSchema = PairedStatsSchema.extend({
  /** The baseline's run id. */
  a: z.string(),
  /** The other run's id. */
  b: z.string(),
  correct_at: z.number(),
  /** Samples only A / only B recorded (scored or not). */
  a_only_samples: z.number().int().nonnegative(),
  b_only_samples: z.number().int().nonnegative(),
  /** Per task: `<benchmark>/<question_type>` for benchmark samples, else the question type (`(none)` without one). */
  per_task: z.record(z.string(), PairedStatsSchema),
  /** Sample ids that flipped, A → B, in A's order. */
  flips: z.object({ right_to_wrong: z.array(z.string()), wrong_to_right: z.array(z.string()) }),
}).meta({ id: 'RunPair' });
export type RunPair = z.infer<typeof RunPairSchema>;

/** How a sample moved from the baseline to another run. */
export const FlipKindSchema = z.enum(['right_to_wrong', 'wrong_to_right', 'same']);
export type FlipKind = z.infer<typeof FlipKindSchema>;

/** One run's answer to a sample. */
export const CompareAnswerSchema = z.object({
  answer: z.union([z.string(), z.number()]).nullable(),
  /** 0..1, null when unscored (no ground truth). */
  score: z.number().nullable(),
  /** score >= CORRECT_AT; null when unscored. */
  correct: z.boolean().nullable(),
});
export type CompareAnswer = z.infer<typeof CompareAnswerSchema>;

/** One sample of the per-sample table. */
export const CompareSampleSchema = z.object({
  id: z.string(),
  benchmark: z.string().nullable(),
  question_type: z.string().nullable(),
  /** The per_task key the sample counts under. */
  task: z.string(),
  question: z.string().nullable(),
  ground_truth: z.union([z.string(), z.number()]).nullable(),
  /** One per run, in run order; null where that run did not record the sample. */
  runs: z.array(CompareAnswerSchema.nullable()),
  /** One per pair (baseline → run k, k = 1..), null where either run has no score for the sample. */
  flips: z.array(FlipKindSchema.nullable()),
});
export type CompareSample = z.infer<typeof CompareSampleSchema>;

/** What `compareRuns` answers (and `python -m spatial_eval compare-many` prints). */
export const RunComparisonSchema = z
  .object({
    /** The baseline's run id (runs[0]). */
    baseline: z.string(),
    correct_at: z.number(),
    resamples: z.number().int().nonnegative(),
    /** Each run, in the order asked: its benchmarks (none for non-benchmark runs), samples recorded and scored. */
    runs: z.array(
      z.object({
        id: z.string(),
        benchmarks: z.array(z.string()),
        samples: z.number().int().nonnegative(),
        scored: z.number().int().nonnegative(),
      }),
    ),
    /** runs[k] against the baseline, k = 1.. */
    pairs: z.array(RunPairSchema),
    /** Every sample any run recorded: the baseline's order, then the others'. */
    samples: z.array(CompareSampleSchema),
  })
  .meta({ id: 'RunComparison' });
export type RunComparison = z.infer<typeof RunComparisonSchema>;
