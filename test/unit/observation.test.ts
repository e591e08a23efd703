import { describe, expect, it } from 'vitest';
import type { CellResult } from '../../shared/kernel.ts';
import { buildObservation, failingLine, truncateMiddle } from '../../electron/services/kernel/observation.ts';

const base: CellResult = {
  index: 3, origin: 'agent', code: 'a = 1\nb = a / 0\n', status: 'ok', startedAt: new Date(0).toISOString(), durationMs: 1234,
  stdout: '', stderr: '', result: null, error: null, violations: [], images: [], answer: null, artifacts: [], variables: [], notes: [],
};

describe('truncateMiddle', () => {
  it('keeps short text whole and cuts long text to head + tail with a note', () => {
    expect(truncateMiddle('abc', 1000, 3000)).toBe('abc');
    const long = 'H'.repeat(1000) + 'M'.repeat(5000) + 'T'.repeat(3000);
    const cut = truncateMiddle(long, 1000, 3000);
    expect(cut.startsWith('H'.repeat(1000) + '\n... [5,000 characters cut')).toBe(true);
    expect(cut.endsWith('\n' + 'T'.repeat(3000))).toBe(true);
    expect(cut).not.toContain('M');
  });
});

describe('failingLine', () => {
  it('takes the deepest cell frame of an IPython 8 traceback', () => {
    const tb = [
      '---------------------------------------------------------------------------',
      'ZeroDivisionError                         Traceback (most recent call last)',
      'Cell In[7], line 2',
      '      1 a = 1',
      '----> 2 b = a / 0',
      '',
      'ZeroDivisionError: division by zero',
    ];
    expect(failingLine(tb, 'a = 1\nb = a / 0\n', 'ZeroDivisionError', 'division by zero')).toEqual({ lineno: 2, line: 'b = a / 0' });
  });

  it('uses the last cell frame when the error is raised inside a function defined in the cell', () => {
    const tb = ['Cell In[2], line 4', '----> 4 f()', 'Cell In[2], line 2, in f()', '----> 2     return 1 / 0'];
    expect(failingLine(tb, 'def f():\n    return 1 / 0\n\nf()', 'ZeroDivisionError', '')).toEqual({ lineno: 2, line: 'return 1 / 0' });
  });

  it('reads a SyntaxError line and gives nulls when nothing says where', () => {
    expect(failingLine(['  Cell In[1], line 3', '    x = (', 'SyntaxError: incomplete input'], 'a\nb\nx = (', 'SyntaxError', 'incomplete input').lineno).toBe(3);
    expect(failingLine(['KeyboardInterrupt'], 'x', 'KeyboardInterrupt', '')).toEqual({ lineno: null, line: null });
  });
});

describe('buildObservation', () => {
  it('orders status, stdout, error, variables, images and answer, and truncates stdout', () => {
    const obs = buildObservation({
      ...base,
      status: 'error',
      stdout: 'x'.repeat(5000),
      error: { ename: 'ZeroDivisionError', evalue: 'division by zero', traceback: [], lineno: 2, line: 'b = a / 0' },
      variables: [{ name: 'a', type: 'int', line: 'a: int = 1' }],
      images: [{ index: 0, label: 'depth', width: 64, height: 48, source: 'show', png: 'AAAA' }],
      answer: { answer: 2.5, type: 'float' },
    });
    const t = obs.text;
    expect(t.split('\n')[0]).toBe('Cell 3 failed after 1.23 s.');
    expect(t).toContain('characters cut');
    expect(t).toContain('Error: ZeroDivisionError: division by zero\n  at line 2: b = a / 0');
    expect(t).toContain('Variables (new or changed):\n  a: int = 1');
    expect(t).toContain('Images attached (1): 1. depth 64x48');
    expect(t).toContain('Answer submitted: 2.5');
    const order = ['stdout:', 'Error:', 'Variables', 'Images attached', 'Answer submitted'].map((k) => t.indexOf(k));
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(obs.images).toHaveLength(1);
  });

  it('explains rejected cells with each violation and its position', () => {
    const obs = buildObservation({ ...base, status: 'rejected', violations: [{ rule: 'import', message: 'os is not allowed', line: 1, col: 0 }] });
    expect(obs.text).toContain('was not run: it breaks the safety policy');
    expect(obs.text).toContain('line 1, col 0 [import]: os is not allowed');
  });

  it('lists perception tool results', () => {
    const obs = buildObservation({ ...base, artifacts: [{ id: 'a1', tool: 'Reconstruct', kind: 'reconstruction', url: null, summary: 'reconstruction of 5 frames 640x480' }] });
    expect(obs.text).toContain('Tool results:\n  Reconstruct: reconstruction of 5 frames 640x480');
  });

  it('caps the variable list', () => {
    const variables = Array.from({ length: 50 }, (_, i) => ({ name: `v${i}`, type: 'int', line: `v${i}: int = ${i}` }));
    expect(buildObservation({ ...base, variables }).text).toContain('... and 10 more');
  });
});
