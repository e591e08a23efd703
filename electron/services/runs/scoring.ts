/**
 * Scoring answers against ground truth, and summarising a run. Pure functions: no I/O.
 * The rules follow VSI-Bench (Yang et al. 2024, "Thinking in Space"); docs/run-format.md, "Scoring",
 * states them in full.
 */
import type { SampleResult, Termination } from '../../../shared/run.ts';

/**
 * VSI-Bench's MRA thresholds 0.50, 0.55, …, 0.95 as `np.linspace(.5, .95, 10)` computes them (`i * step + start`,
 * the last one exactly 0.95), so boundary cases compare exactly as the released code does (thinking-in-space
 * `vsibench/utils.py`): a 20% error passes 6 thresholds, not 7 (1 - 0.8 is 0.19999999999999996 in float64).
 */
export const MRA_THRESHOLDS: readonly number[] = Array.from({ length: 10 }, (_, i) => (i === 9 ? 0.95 : i * ((0.95 - 0.5) / 9) + 0.5));

/**
 * Mean relative accuracy: the fraction of thresholds t in {0.50, …, 0.95} with |pred−gt|/|gt| ≤ 1−t, in float64
 * without slack (VSI-Bench's arithmetic). gt = 0: 1 when pred is exactly 0, else 0. A missing or non-finite
 * prediction scores 0. Benchmarks are scored by their own released code instead (python-eval/spatial_eval).
 */
export function mra(pred: number | null, gt: number): number {
  if (pred === null || !Number.isFinite(pred)) return 0;
  if (gt === 0) return pred === 0 ? 1 : 0;
  const rel = Math.abs(pred - gt) / Math.abs(gt);
  return MRA_THRESHOLDS.filter((t) => rel <= 1 - t).length / MRA_THRESHOLDS.length;
}

const NUMBER_WORDS: Record<string, number> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10,
  eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18,
  nineteen: 19, twenty: 20,
};

/**
 * The number in a prediction.
 * - a number: itself (non-finite: null);
 * - a string that is exactly a decimal literal (`"2.5"`, `" -3 "`, `"1e3"`): that number;
 * - otherwise the first number written with digits (`"2.5 m"` → 2.5, `"about 3"` → 3, `"3-4"` → 3,
 *   `"1,234 cm"` → 1234: commas are thousands separators only before groups of exactly three digits,
 *   so `"2,5"` → 2). A `-`/`+` directly before the digits is a sign unless a letter or digit precedes it.
 *   No unit conversion;
 * - otherwise the first number word zero…twenty (`"three chairs"` → 3);
 * - otherwise null.
 */
export function parseNumber(pred: string | number | null | undefined): number | null {
  if (pred === null || pred === undefined) return null;
  if (typeof pred === 'number') return Number.isFinite(pred) ? pred : null;
  const s = pred.trim();
  if (s === '') return null;
  const whole = strictNumber(s);
  if (whole !== null) return whole;
  const joined = s.replace(/(\d),(?=\d{3}(?!\d))/g, '$1');
  const m = /(?:(?<![A-Za-z0-9])[-+])?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?/.exec(joined);
  if (m) {
    const x = Number(m[0]);
    return Number.isFinite(x) ? x : null;
  }
  for (const w of s.toLowerCase().match(/[a-z]+/g) ?? []) {
    const x = NUMBER_WORDS[w];
    if (x !== undefined) return x;
  }
  return null;
}

/** The number a string is, when it is exactly a decimal literal (`"2.5"`, `"-3"`, `"1e3"`), else null. */
function strictNumber(s: string): number | null {
  const t = s.trim();
  if (!/^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/.test(t)) return null;
  const x = Number(t);
  return Number.isFinite(x) ? x : null;
}

/** A multiple-choice option: its letter and its text without the letter prefix. */
export interface Choice {
  letter: string;
  text: string;
}

/**
 * Split options such as `"A. 1.2 m"` / `"(B) left"` / `"C: back"` into letter and text. An option without
 * a letter prefix gets the letter of its position (A, B, …) and keeps its whole text.
 */
export function parseChoices(choices: readonly string[] | undefined): Choice[] {
  return (choices ?? []).map((c, i) => {
    const m = /^\s*\(?([A-Za-z])\)?[.):]\s*([\s\S]*)$/.exec(c);
    return m ? { letter: m[1]!.toUpperCase(), text: m[2]!.trim() } : { letter: String.fromCharCode(65 + i), text: c.trim() };
  });
}

/** Lower case, whitespace collapsed, one trailing '.' removed. */
function norm(s: string): string {
  return s.trim().replace(/\s+/g, ' ').replace(/\.$/, '').toLowerCase();
}

/** The option letter a prediction picks, or null (see {@link scoreAnswer}). */
export function chosenLetter(pred: string | number | null, choices: readonly Choice[]): string | null {
  if (pred === null) return null;
  const s = String(pred).trim();
  if (s === '') return null;
  const token = s.split(/\s+/)[0]!.replace(/^[([]+/, '').replace(/[.):\]]+$/, '');
  if (/^[A-Za-z]$/.test(token)) return token.toUpperCase();
  const n = norm(s);
  const hit = choices.find((c) => norm(c.text) === n || norm(`${c.letter}. ${c.text}`) === n);
  return hit ? hit.letter : null;
}

/**
 * Score one answer: 1/0 for multiple choice, MRA for numbers, null without ground truth.
 *
 * - `gt` null, undefined or blank → null.
 * - Multiple choice when `gt` is a single letter A–Z (any case), or `choices` are given and `gt` equals
 *   one option's text (then that option's letter is the ground truth). The prediction's first
 *   whitespace-separated token, with leading '(' / '[' and trailing '.', ')', ':', ']' removed, is
 *   compared case-insensitively with the letter (VSI-Bench's rule; so "a chair" picks A). When that
 *   token is not a single letter, a prediction equal to an option's text (or "X. text"; case and
 *   spacing ignored, one trailing '.' ignored) picks that option. Anything else scores 0.
 * - Numeric when `gt` is a number or a numeric string: {@link mra} of {@link parseNumber}(pred).
 * - Otherwise (free text): 1 when equal after lower-casing and collapsing spaces, else 0.
 */
export function scoreAnswer(pred: string | number | null, gt: string | number | null | undefined, choices?: string[]): number | null {
  if (gt === null || gt === undefined || (typeof gt === 'string' && gt.trim() === '')) return null;
  const opts = parseChoices(choices);
  let gtLetter: string | null = null;
  if (typeof gt === 'string' && /^[A-Za-z]$/.test(gt.trim())) gtLetter = gt.trim().toUpperCase();
  else if (opts.length > 0) gtLetter = opts.find((c) => norm(c.text) === norm(String(gt)))?.letter ?? null;
  if (gtLetter !== null) return chosenLetter(pred, opts) === gtLetter ? 1 : 0;
  const gtNum = typeof gt === 'number' ? (Number.isFinite(gt) ? gt : null) : strictNumber(gt);
  if (gtNum !== null) return mra(parseNumber(pred), gtNum);
  return pred !== null && norm(String(pred)) === norm(String(gt)) ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------

export interface ScoreGroup {
  /** Samples in the group. */
  n: number;
  /** Of those, with a score (ground truth known). */
  scored: number;
  /** Mean score over the scored ones, or null. */
  mean_score: number | null;
}

export interface RunSummary {
  samples: number;
  by_termination: Record<Termination, number>;
  by_answer_source: Record<SampleResult['answer_source'], number>;
  /** Samples with a non-null `error`. */
  errors: number;
  scored: number;
  /** Mean score over scored samples (micro average), or null. */
  mean_score: number | null;
  /** Per question_type; samples without one are under "(none)". */
  by_question_type: Record<string, ScoreGroup>;
  /**
   * Mean of the per-group means (macro average) over groups with a scored sample; groups are question
   * types mapped through `groupOf` (VSI-Bench: {@link vsiBenchGroup}).
   */
  macro_score: number | null;
  usage: { prompt_tokens: number; completion_tokens: number; reasoning_tokens: number; model_calls: number };
  parse_failures: number;
  mean_steps: number | null;
  mean_duration_s: number | null;
}

/** VSI-Bench's task groups: the three object_rel_direction_{easy,medium,hard} types count as one task. */
export function vsiBenchGroup(questionType: string): string {
  return /^object_rel_direction_/.test(questionType) ? 'object_rel_direction' : questionType;
}

const mean = (xs: number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Counts, scores, usage and means over a run's results. */
export function summarize(results: readonly SampleResult[], options: { groupOf?: (questionType: string) => string } = {}): RunSummary {
  const groupOf = options.groupOf ?? ((t: string) => t);
  const by_termination: Record<Termination, number> = { answered: 0, max_steps: 0, consecutive_failures: 0, stopped: 0, error: 0 };
  const by_answer_source: Record<SampleResult['answer_source'], number> = { return_answer: 0, last_submitted: 0, direct_answer: 0, none: 0 };
  const types = new Map<string, number[]>();
  const typeCounts = new Map<string, number>();
  const groups = new Map<string, number[]>();
  const scores: number[] = [];
  const usage = { prompt_tokens: 0, completion_tokens: 0, reasoning_tokens: 0, model_calls: 0 };
  let errors = 0;
  let parse_failures = 0;
  for (const r of results) {
    by_termination[r.termination]++;
    by_answer_source[r.answer_source]++;
    if (r.error !== null) errors++;
    parse_failures += r.parse_failures;
    usage.prompt_tokens += r.usage.prompt_tokens;
    usage.completion_tokens += r.usage.completion_tokens;
    usage.reasoning_tokens += r.usage.reasoning_tokens ?? 0;
    usage.model_calls += r.model_calls;
    const type = r.question_type ?? '(none)';
    typeCounts.set(type, (typeCounts.get(type) ?? 0) + 1);
    if (!types.has(type)) types.set(type, []);
    if (r.score !== null) {
      scores.push(r.score);
      types.get(type)!.push(r.score);
      const g = groupOf(type);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g)!.push(r.score);
    }
  }
  const by_question_type: Record<string, ScoreGroup> = {};
  for (const [type, s] of [...types].sort(([a], [b]) => a.localeCompare(b))) {
    by_question_type[type] = { n: typeCounts.get(type)!, scored: s.length, mean_score: mean(s) };
  }
  const groupMeans = [...groups.values()].map((s) => mean(s)!);
  return {
    samples: results.length,
    by_termination,
    by_answer_source,
    errors,
    scored: scores.length,
    mean_score: mean(scores),
    by_question_type,
    macro_score: mean(groupMeans),
    usage,
    parse_failures,
    mean_steps: mean(results.map((r) => r.steps)),
    mean_duration_s: mean(results.map((r) => r.duration_s)),
  };
}
