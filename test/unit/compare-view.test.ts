/** The Compare view's pure parts (renderer/src/compare.ts): filters, search, flip words and number formats. */
import { describe, expect, it } from 'vitest';
import { type CompareSample, CompareSampleSchema } from '../../shared/compare.ts';
import { answerWords, asBaseline, filterSamples, fmtCi, fmtP, fmtPct, fmtPoints, toggleId } from '../../renderer/src/compare.ts';

const sample = (id: string, flips: CompareSample['flips'], answers: (string | null)[] = ['(A)', '(B)', '(A)'], question = `question ${id}`): CompareSample =>
  CompareSampleSchema.parse({
    id, benchmark: 'blink', question_type: 'Counting', task: 'blink/Counting', question, ground_truth: '(A)',
    runs: answers.map((a) => (a === null ? null : { answer: a, score: a === '(A)' ? 1 : 0, correct: a === '(A)' })),
    flips,
  });

describe('filterSamples', () => {
  const rows = [
    sample('s0', ['right_to_wrong', 'same']),
    sample('s1', ['wrong_to_right', 'right_to_wrong'], ['(B)', '(A)', '(C)']),
    sample('s2', ['same', null], ['(A)', '(A)', null], 'How many lamps?'),
    sample('s3', [null, 'wrong_to_right']),
  ];
  const ids = (o: Parameters<typeof filterSamples>[1]) => filterSamples(rows, o).map((s) => s.id);

  it('keeps every sample, the flips of the chosen pair, or one direction', () => {
    expect(ids({ pair: 0, filter: 'all', search: '' })).toEqual(['s0', 's1', 's2', 's3']);
    expect(ids({ pair: 0, filter: 'flips', search: '' })).toEqual(['s0', 's1']);
    expect(ids({ pair: 0, filter: 'right_to_wrong', search: '' })).toEqual(['s0']);
    expect(ids({ pair: 0, filter: 'wrong_to_right', search: '' })).toEqual(['s1']);
    expect(ids({ pair: 1, filter: 'flips', search: '' })).toEqual(['s1', 's3']);
    expect(ids({ pair: 1, filter: 'wrong_to_right', search: '' })).toEqual(['s3']);
  });

  it('searches id, question and every run\'s answer, case-insensitively, together with the filter', () => {
    expect(ids({ pair: 0, filter: 'all', search: 'LAMPS' })).toEqual(['s2']);
    expect(ids({ pair: 0, filter: 'all', search: '(c)' })).toEqual(['s1']);
    expect(ids({ pair: 0, filter: 'all', search: ' s3 ' })).toEqual(['s3']);
    expect(ids({ pair: 0, filter: 'right_to_wrong', search: 's1' })).toEqual([]);
  });
});

describe('formats', () => {
  it('writes means, point differences and intervals as spatialclaw compare does', () => {
    expect(fmtPct(2 / 3)).toBe('66.7');
    expect(fmtPct(null)).toBe('—');
    expect(fmtPoints(1 / 6)).toBe('+16.7');
    expect(fmtPoints(-1 / 12)).toBe('-8.3');
    expect(fmtPoints(0)).toBe('+0.0');
    expect(fmtCi([-0.05, 0.25])).toBe('[-5.0, +25.0]');
    expect(fmtCi(null)).toBe('—');
  });
  it('writes p with 3 significant digits, and tiny ones in exponent form', () => {
    expect(fmtP(1)).toBe('1');
    expect(fmtP(14 / 64)).toBe('0.219');
    expect(fmtP(0.0625)).toBe('0.0625');
    expect(fmtP(0.00012)).toBe('1.2e-4');
  });
  it('says what a run answered, and whether it was right, in words', () => {
    expect(answerWords({ answer: '(A)', score: 1, correct: true })).toBe('(A) · 1.00 · right');
    expect(answerWords({ answer: 2.5, score: 0.4, correct: false })).toBe('2.5 · 0.40 · wrong');
    expect(answerWords({ answer: null, score: null, correct: null })).toBe('no answer · unscored');
    expect(answerWords(null)).toBe('— (not in this run)');
  });
});

describe('picking runs', () => {
  it('toggles a run at the end and moves one to the front as the baseline', () => {
    expect(toggleId(['a', 'b'], 'c')).toEqual(['a', 'b', 'c']);
    expect(toggleId(['a', 'b', 'c'], 'b')).toEqual(['a', 'c']);
    expect(asBaseline(['a', 'b', 'c'], 'c')).toEqual(['c', 'a', 'b']);
  });
});
