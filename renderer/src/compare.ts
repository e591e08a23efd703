/**
 * The Compare view's pure parts (CompareView.tsx): which per-sample rows a filter and a search keep, the words of a
 * flip, and how the statistics are written (the same rounding as `spatialclaw compare`'s table). No DOM, no host: unit
 * tested in Node (test/unit/compare-view.test.ts).
 */
import type { CompareAnswer, CompareSample, FlipKind } from '../../shared/compare.ts';

/** Which samples the per-sample table shows, for the chosen pair: every one, those that flipped, or one direction. */
export type FlipFilter = 'all' | 'flips' | 'right_to_wrong' | 'wrong_to_right';

export const FLIP_FILTERS: { id: FlipFilter; label: string }[] = [
  { id: 'all', label: 'all samples' },
  { id: 'flips', label: 'flips (either way)' },
  { id: 'right_to_wrong', label: 'right → wrong' },
  { id: 'wrong_to_right', label: 'wrong → right' },
];

/** A flip in words (shown next to its colour, never colour alone). */
export const FLIP_WORDS: Record<FlipKind, string> = { right_to_wrong: 'right → wrong', wrong_to_right: 'wrong → right', same: 'same' };

/** Whether a sample's flip for `pair` (0-based: runs[pair + 1] against the baseline) passes `filter`. */
export function flipMatches(sample: CompareSample, pair: number, filter: FlipFilter): boolean {
  if (filter === 'all') return true;
  const f = sample.flips[pair] ?? null;
  if (filter === 'flips') return f === 'right_to_wrong' || f === 'wrong_to_right';
  return f === filter;
}

const text = (v: string | number | null | undefined): string => (v === null || v === undefined ? '' : String(v));

/** Whether a case-insensitive `search` occurs in the sample's id, task, question, ground truth or any run's answer. */
export function searchMatches(sample: CompareSample, search: string): boolean {
  const q = search.trim().toLowerCase();
  if (!q) return true;
  const hay = [sample.id, sample.task, sample.question, sample.ground_truth, ...sample.runs.map((r) => r?.answer)].map(text).join('\n').toLowerCase();
  return hay.includes(q);
}

/** The rows the per-sample table shows, in the comparison's order. */
export function filterSamples(samples: CompareSample[], o: { pair: number; filter: FlipFilter; search: string }): CompareSample[] {
  return samples.filter((s) => flipMatches(s, o.pair, o.filter) && searchMatches(s, o.search));
}

/** A 0..1 mean as a percentage with one decimal ("66.7"), or "—". */
export const fmtPct = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : (100 * x).toFixed(1));

/** A score difference in percentage points with its sign ("+16.7", "-8.3"), or "—". */
export const fmtPoints = (d: number | null | undefined): string => (d === null || d === undefined ? '—' : `${d >= 0 ? '+' : ''}${(100 * d).toFixed(1)}`);

/** A 95% interval in points ("[+2.0, +30.1]"), or "—" when there is none. */
export const fmtCi = (ci: readonly [number, number] | null | undefined): string => (ci ? `[${fmtPoints(ci[0])}, ${fmtPoints(ci[1])}]` : '—');

/** A p-value with 3 significant digits, trailing zeros dropped ("1", "0.219"); below 0.001 in exponent form. */
export const fmtP = (p: number): string => (p !== 0 && p < 0.001 ? p.toExponential(1) : String(Number(p.toPrecision(3))));

/** One run's answer to a sample in words: "(A) · 1.00 · right", "— (not in this run)", "(B) · unscored". */
export function answerWords(a: CompareAnswer | null): string {
  if (!a) return '— (not in this run)';
  const ans = a.answer === null ? 'no answer' : String(a.answer);
  if (a.score === null) return `${ans} · unscored`;
  return `${ans} · ${a.score.toFixed(2)} · ${a.correct ? 'right' : 'wrong'}`;
}

/** The ids in `ids` after moving `id` to the front (the baseline). */
export const asBaseline = (ids: string[], id: string): string[] => [id, ...ids.filter((x) => x !== id)];

/** `ids` with `id` added at the end or removed. */
export const toggleId = (ids: string[], id: string): string[] => (ids.includes(id) ? ids.filter((x) => x !== id) : [...ids, id]);
