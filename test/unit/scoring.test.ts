import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SampleResult } from '../../shared/run.ts';
import { MRA_THRESHOLDS, mra, parseChoices, parseNumber, scoreAnswer, summarize, vsiBenchGroup } from '../../electron/services/runs/scoring.ts';

interface VsiRow {
  problem_id: number;
  problem: string;
  problem_type: 'regression' | 'multiple choice';
  original_question_type: string;
  options: string[] | null;
  solution: string;
}

/** 20 real VSI-Bench rows (test/fixtures/vsibench_sample/SOURCE.txt). */
const ROWS = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'vsibench_sample', 'questions.json'), 'utf8')) as VsiRow[];
const gtOf = (r: VsiRow): string => /<answer>(.*)<\/answer>/s.exec(r.solution)![1]!.trim();
const row = (id: number): VsiRow => ROWS.find((r) => r.problem_id === id)!;
const opts = (r: VsiRow): string[] | undefined => r.options ?? undefined;

describe('MRA', () => {
  it('uses the ten VSI-Bench thresholds', () => {
    // np.linspace(.5, .95, 10), bit for bit (the 9th is 0.8999999999999999), as the released VSI-Bench code computes them
    expect(MRA_THRESHOLDS).toEqual([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95]);
  });

  it('gives no extra credit at the boundaries (no slack: a 20% error passes 6 thresholds, a 45% error 1)', () => {
    expect(mra(4, 5)).toBeCloseTo(0.6, 12);
    expect(mra(8, 10)).toBeCloseTo(0.6, 12);
    expect(mra(11, 20)).toBeCloseTo(0.1, 12);
  });

  it('gives the hand-computed values', () => {
    // |2.3 - 2| / 2 = 0.15: thresholds with 1 - t >= 0.15 are t <= 0.85, 8 of 10.
    expect(mra(2.3, 2)).toBe(0.8);
    expect(mra(2, 2)).toBe(1);
    // 0.5 relative error: only t = 0.50 passes.
    expect(mra(1, 2)).toBe(0.1);
    expect(mra(3, 2)).toBe(0.1);
    // Just over 0.5: none.
    expect(mra(0.99, 2)).toBe(0);
    // Exactly 0.1 (a float-rounding boundary: 0.21 / 2.1): t <= 0.90, 9 of 10.
    expect(mra(2.31, 2.1)).toBe(0.9);
    // Negative ground truth uses |gt|: 0.2 / 2 = 0.1.
    expect(mra(-2.2, -2)).toBe(0.9);
    // Just under 0.05: every threshold.
    expect(mra(2.09, 2)).toBe(1);
    expect(mra(2.11, 2)).toBe(0.9);
  });

  it('needs an exact match for gt 0, and a finite prediction', () => {
    expect(mra(0, 0)).toBe(1);
    expect(mra(0.1, 0)).toBe(0);
    expect(mra(null, 2)).toBe(0);
    expect(mra(Number.NaN, 2)).toBe(0);
    expect(mra(Number.POSITIVE_INFINITY, 2)).toBe(0);
  });
});

describe('parseNumber', () => {
  it.each([
    ['2.5 m', 2.5],
    ['about 3', 3],
    ['3-4 m', 3],
    ['-2', -2],
    [' +4.5 ', 4.5],
    ['1e3', 1000],
    ['.5', 0.5],
    ['approx. 1,234 cm', 1234],
    ['2,5', 2],
    ['room-2', 2],
    ['There are three chairs', 3],
    ['Twelve', 12],
    ['2 or three', 2],
  ] as const)('%j -> %d', (s, x) => {
    expect(parseNumber(s)).toBe(x);
  });

  it('returns null when there is no number', () => {
    expect(parseNumber('none')).toBeNull();
    expect(parseNumber('')).toBeNull();
    expect(parseNumber(null)).toBeNull();
    expect(parseNumber(Number.NaN)).toBeNull();
    expect(parseNumber(7)).toBe(7);
  });
});

describe('parseChoices', () => {
  it('splits letter prefixes and falls back to positions', () => {
    expect(parseChoices(['A. 1.2 m', '(B) left', 'C: back'])).toEqual([
      { letter: 'A', text: '1.2 m' },
      { letter: 'B', text: 'left' },
      { letter: 'C', text: 'back' },
    ]);
    expect(parseChoices(['left', 'right'])).toEqual([
      { letter: 'A', text: 'left' },
      { letter: 'B', text: 'right' },
    ]);
  });
});

describe('scoreAnswer on real VSI-Bench rows', () => {
  it('has 20 rows, both kinds, all ten question types', () => {
    expect(ROWS).toHaveLength(20);
    expect(ROWS.filter((r) => r.problem_type === 'multiple choice')).toHaveLength(12);
    expect(new Set(ROWS.map((r) => r.original_question_type)).size).toBe(10);
  });

  it('scores the ground truth itself as 1 (as string, and as number for numeric rows)', () => {
    for (const r of ROWS) {
      const gt = gtOf(r);
      expect(scoreAnswer(gt, gt, opts(r)), `row ${r.problem_id}`).toBe(1);
      if (r.problem_type === 'regression') expect(scoreAnswer(Number(gt), gt, opts(r))).toBe(1);
      else {
        // The full option and the option text are accepted too.
        const option = r.options!.find((o) => o.startsWith(`${gt}.`))!;
        expect(scoreAnswer(option, gt, opts(r)), option).toBe(1);
        expect(scoreAnswer(option.slice(3), gt, opts(r)), option).toBe(1);
      }
    }
  });

  it('scores a wrong letter 0 on every multiple-choice row', () => {
    for (const r of ROWS.filter((x) => x.problem_type === 'multiple choice')) {
      const gt = gtOf(r);
      expect(scoreAnswer(gt === 'A' ? 'B' : 'A', gt, opts(r))).toBe(0);
    }
  });

  it('gives hand-computed MRA for numeric predictions', () => {
    // 680 object_abs_distance gt 2.9: |3.2-2.9|/2.9 = 0.1034 -> 1-t >= 0.1034 for t <= 0.85 -> 8/10.
    expect(gtOf(row(680))).toBe('2.9');
    expect(scoreAnswer('3.2 m', gtOf(row(680)))).toBe(0.8);
    // 0 object_counting gt 4: "three" -> 3, 1/4 = 0.25 -> t <= 0.75 -> 6/10.
    expect(scoreAnswer('three', gtOf(row(0)))).toBe(0.6);
    // 167 object_size_estimation gt 62 (cm): 12/62 = 0.1935 -> t <= 0.80 -> 7/10.
    expect(scoreAnswer(50, gtOf(row(167)))).toBe(0.7);
    // 2305 gt 91: 9/91 = 0.0989 -> t <= 0.90 -> 9/10.
    expect(scoreAnswer('100', gtOf(row(2305)))).toBe(0.9);
    // 1737 gt 2.1: 0.21/2.1 = 0.1 exactly -> t <= 0.90 -> 9/10.
    expect(scoreAnswer(2.31, gtOf(row(1737)))).toBe(0.9);
    // 674 room_size_estimation gt 25.6: 12.8/25.6 = 0.5 -> t = 0.50 only -> 1/10.
    expect(scoreAnswer('12.8 square meters', gtOf(row(674)))).toBe(0.1);
    // 530 gt 26.4: 13.6/26.4 = 0.515 -> 0.
    expect(scoreAnswer('about 40 square meters', gtOf(row(530)))).toBe(0);
    // 2602 gt 2: 0 -> relative error 1 -> 0; no number -> 0.
    expect(scoreAnswer(0, gtOf(row(2602)))).toBe(0);
    expect(scoreAnswer('I cannot tell', gtOf(row(2602)))).toBe(0);
    expect(scoreAnswer(null, gtOf(row(2602)))).toBe(0);
  });

  it('reads multiple-choice predictions the VSI-Bench way', () => {
    const r = row(1334); // gt A, options A. chair / B. stool / C. stove / D. sofa
    const s = (p: string | number | null) => scoreAnswer(p, gtOf(r), opts(r));
    expect([s('A'), s('a'), s('A.'), s('(A)'), s('A)'), s('A:'), s('A. chair'), s('a chair'), s('chair'), s('Chair.')]).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect([s('B'), s('stool'), s('The answer is A'), s('chairs'), s(''), s(null)]).toEqual([0, 0, 0, 0, 0, 0]);
    const easy = row(1236); // gt A: "A. left", "B. right"
    expect(scoreAnswer('Left', gtOf(easy), opts(easy))).toBe(1);
    expect(scoreAnswer('right', gtOf(easy), opts(easy))).toBe(0);
    const route = row(4959); // gt C: "C. Turn Left, Turn Right"
    expect(scoreAnswer('turn left, turn right', gtOf(route), opts(route))).toBe(1);
    expect(scoreAnswer('Turn Left, Turn Left', gtOf(route), opts(route))).toBe(0);
  });
});

describe('scoreAnswer edge cases', () => {
  it('returns null without ground truth', () => {
    expect(scoreAnswer('A', null)).toBeNull();
    expect(scoreAnswer('A', undefined)).toBeNull();
    expect(scoreAnswer(3, '  ')).toBeNull();
  });

  it('takes a letter ground truth as multiple choice even without choices', () => {
    expect(scoreAnswer('b.', 'B')).toBe(1);
    expect(scoreAnswer('C', 'b')).toBe(0);
  });

  it('maps an option-text ground truth to its letter', () => {
    expect(scoreAnswer('B', 'right', ['A. left', 'B. right'])).toBe(1);
    expect(scoreAnswer('right', 'right', ['A. left', 'B. right'])).toBe(1);
    expect(scoreAnswer('A', 'right', ['A. left', 'B. right'])).toBe(0);
  });

  it('compares free text exactly, ignoring case and spacing', () => {
    expect(scoreAnswer('Living  room', 'living room')).toBe(1);
    expect(scoreAnswer('kitchen', 'living room')).toBe(0);
  });

  it('scores numbers given as numbers', () => {
    expect(scoreAnswer(2.3, 2)).toBe(0.8);
    expect(scoreAnswer('0', 0)).toBe(1);
  });
});

function result(over: Partial<SampleResult>): SampleResult {
  return {
    id: 's', question: 'q', answer: null, answer_source: 'return_answer', ground_truth: null, score: null, question_type: null,
    termination: 'answered', steps: 0, parse_failures: 0, usage: { prompt_tokens: 0, completion_tokens: 0 }, model_calls: 0,
    duration_s: 0, error: null, started_at: '2025-01-01T00:00:00.000Z', finished_at: '2025-01-01T00:00:01.000Z', ...over,
  };
}

describe('summarize', () => {
  it('counts, averages and totals', () => {
    const rs = [
      result({ id: 'a', score: 1, question_type: 'object_counting', steps: 3, duration_s: 10, model_calls: 4, usage: { prompt_tokens: 100, completion_tokens: 10, reasoning_tokens: 5 } }),
      result({ id: 'b', score: 0.5, question_type: 'object_counting', steps: 5, duration_s: 20, model_calls: 6, usage: { prompt_tokens: 200, completion_tokens: 20 }, parse_failures: 2 }),
      result({ id: 'c', score: 0, question_type: 'object_rel_direction_easy', termination: 'max_steps', answer_source: 'last_submitted', steps: 30, duration_s: 60 }),
      result({ id: 'd', score: 1, question_type: 'object_rel_direction_hard', steps: 2, duration_s: 6 }),
      result({ id: 'e', score: null, termination: 'error', answer_source: 'none', error: 'no video', steps: 0, duration_s: 0 }),
    ];
    const s = summarize(rs);
    expect(s.samples).toBe(5);
    expect(s.by_termination).toEqual({ answered: 3, max_steps: 1, consecutive_failures: 0, stopped: 0, error: 1 });
    expect(s.by_answer_source).toEqual({ return_answer: 3, last_submitted: 1, direct_answer: 0, none: 1 });
    expect(s.errors).toBe(1);
    expect(s.scored).toBe(4);
    expect(s.mean_score).toBe(2.5 / 4);
    expect(s.by_question_type).toEqual({
      '(none)': { n: 1, scored: 0, mean_score: null },
      object_counting: { n: 2, scored: 2, mean_score: 0.75 },
      object_rel_direction_easy: { n: 1, scored: 1, mean_score: 0 },
      object_rel_direction_hard: { n: 1, scored: 1, mean_score: 1 },
    });
    // Macro over the three scored types: (0.75 + 0 + 1) / 3.
    expect(s.macro_score).toBe(1.75 / 3);
    expect(s.usage).toEqual({ prompt_tokens: 300, completion_tokens: 30, reasoning_tokens: 5, model_calls: 10 });
    expect(s.parse_failures).toBe(2);
    expect(s.mean_steps).toBe(8);
    expect(s.mean_duration_s).toBe(19.2);
    // VSI-Bench groups the rel_direction types into one task: (0.75 + (0 + 1) / 2) / 2.
    expect(summarize(rs, { groupOf: vsiBenchGroup }).macro_score).toBe(0.625);
  });

  it('handles an empty run', () => {
    const s = summarize([]);
    expect(s.samples).toBe(0);
    expect(s.mean_score).toBeNull();
    expect(s.macro_score).toBeNull();
    expect(s.mean_steps).toBeNull();
    expect(s.by_question_type).toEqual({});
  });
});
