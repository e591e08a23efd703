/**
 * What the header of a sample shows: the question, its choices, the ground truth, the answer and where it
 * came from, the score and whether it counts as correct, how the sample ended, and its steps, duration,
 * tokens and model calls. PURE (no DOM, no React), unit-tested in Node (test/unit/renderer-sample-summary.test.ts).
 *
 * Sources, best first: the sample's recorded result (`SampleResult`, one line of the run's samples.jsonl,
 * delivered with `sampleEvents` for a finished sample or by `sample_done` for a live one), else what its
 * events say so far (the `sample_start` spec's ground truth, the `answer` and `termination` events, the
 * model calls' usage). A live sample therefore fills its header as it runs; the score exists only once the
 * result is recorded.
 */
import type { SampleResult } from '../../shared/run.ts';
import type { Timeline } from './timeline.ts';

/**
 * A score at or above this counts as correct (the rule of failure triage, `shared/triage.ts` `outcome`, and
 * of `spatialclaw compare`): exact-match scores are 0 or 1, MRA scores are fractions.
 */
export const CORRECT_MIN_SCORE = 0.5;

export type Outcome = 'correct' | 'wrong';

/** The header's fields; null where the sample (or its record so far) has no value. */
export interface SampleSummary {
  question: string | null;
  choices: string[];
  groundTruth: string | number | null;
  answer: string | number | null;
  /** `return_answer`, `last_submitted`, `direct_answer`, `none`, or an answer event's own source (`salvage`). */
  answerSource: string | null;
  /** 0..1, null when unscored (no ground truth, or the result is not recorded yet). */
  score: number | null;
  /** The scoring that gave the score (`official` / `paper` for benchmark samples), or null for the generic rule. */
  scoring: string | null;
  outcome: Outcome | null;
  /** `answered`, `max_steps`, `consecutive_failures`, `stopped`, `error`; null while running. */
  termination: string | null;
  /** The termination's detail, or the result's error. */
  detail: string | null;
  steps: number;
  /** Seconds from the first to the last event (the result's duration once recorded), or null before any event. */
  durationS: number | null;
  promptTokens: number;
  completionTokens: number;
  modelCalls: number;
  questionType: string | null;
  benchmark: string | null;
}

/** Correct (score ≥ {@link CORRECT_MIN_SCORE}), wrong, or null when unscored. */
export const outcomeOf = (score: number | null): Outcome | null => (score === null ? null : score >= CORRECT_MIN_SCORE ? 'correct' : 'wrong');

/** How an answer source is said to people. */
export function answerSourceWords(source: string | null): string {
  switch (source) {
    case 'return_answer':
      return 'ReturnAnswer';
    case 'last_submitted':
      return 'last ReturnAnswer of a failed cell';
    case 'direct_answer':
      return 'direct-answer fallback';
    case 'salvage':
      return 'salvaged from the history';
    case 'none':
      return 'no source';
    case null:
      return '';
    default:
      return source;
  }
}

const seconds = (from: string | null, to: string | null): number | null => {
  if (!from || !to) return null;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? ms / 1000 : null;
};

/** The header of a sample from its result (when recorded) and its timeline. */
export function sampleSummary(tl: Timeline, result: SampleResult | null): SampleSummary {
  const spec = tl.sample;
  const score = result?.score ?? null;
  const answerSource = tl.answer?.source ?? result?.answer_source ?? null;
  return {
    question: result?.question ?? spec?.question ?? null,
    choices: result?.choices ?? spec?.choices ?? [],
    groundTruth: result?.ground_truth ?? spec?.answer ?? null,
    answer: result ? result.answer : tl.answer?.answer ?? null,
    // The answer event names salvaged answers, which the result records as `none`.
    answerSource: result && result.answer_source !== 'none' ? result.answer_source : answerSource,
    score,
    scoring: result?.scoring ?? null,
    outcome: outcomeOf(score),
    termination: result?.termination ?? tl.termination?.reason ?? null,
    detail: tl.termination?.detail ?? result?.error ?? null,
    steps: result?.steps ?? tl.steps.length,
    durationS: result?.duration_s ?? seconds(tl.startedAt, tl.lastEventAt),
    promptTokens: result?.usage.prompt_tokens ?? tl.usage.prompt_tokens,
    completionTokens: result?.usage.completion_tokens ?? tl.usage.completion_tokens,
    modelCalls: result?.model_calls ?? tl.modelCalls,
    questionType: result?.question_type ?? spec?.question_type ?? null,
    benchmark: result?.benchmark ?? spec?.benchmark ?? null,
  };
}
