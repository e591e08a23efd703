import { describe, expect, it } from 'vitest';
import { condenseFailedCode, parseFinalAnswer, parseStep, StepParseError } from '../../electron/services/agent/parse.ts';
import { fallbackAnswer as paperFallbackAnswer } from '../../electron/services/agent/paper/fallback.ts';
import { toolCallToCode, toPython } from '../../electron/services/agent/toolcall.ts';

describe('parseStep', () => {
  it('reads the four sections in plain and markdown styles', () => {
    const p = parseStep('**Purpose:** find the chair\n## Reasoning\nit is near the door\nNext Goal: segment it\nCode:\n```python\nm = 1\nprint(m)\n```\n');
    expect(p).toEqual({ purpose: 'find the chair', reasoning: 'it is near the door', next_goal: 'segment it', code: 'm = 1\nprint(m)' });
  });
  it('accepts a reply with only a code block', () => {
    expect(parseStep('```python\nx = 2\n```').code).toBe('x = 2');
  });
  it('rejects replies without exactly one runnable block, saying what to fix', () => {
    expect(() => parseStep('The answer is 3 m.')).toThrow(StepParseError);
    expect(() => parseStep('The answer is 3 m.')).toThrow(/no ```python code block/);
    expect(() => parseStep('```python\nx = 1\n')).toThrow(/not closed/);
    expect(() => parseStep('```python\n\n```')).toThrow(/empty/);
    expect(() => parseStep('```python\na=1\n```\n```python\nb=2\n```')).toThrow(/exactly one cell/);
  });
});

describe('parseFinalAnswer', () => {
  it('prefers \\boxed{}, then "Answer:", then the last line', () => {
    expect(parseFinalAnswer('so \\boxed{2.5} metres')).toBe('2.5');
    expect(parseFinalAnswer('nested \\boxed{\\text{B}}')).toBe('\\text{B}');
    expect(parseFinalAnswer('Thinking...\nAnswer: B.')).toBe('B');
    expect(parseFinalAnswer('line one\n\n  C  \n')).toBe('C');
    expect(parseFinalAnswer('   ')).toBeNull();
  });
  it('gives no answer for a reply that is only a code fence, and reads past fence lines', () => {
    expect(parseFinalAnswer('```')).toBeNull();
    expect(parseFinalAnswer('```\n```')).toBeNull();
    expect(parseFinalAnswer('```python\n\n```\n')).toBeNull();
    expect(parseFinalAnswer('~~~')).toBeNull();
    expect(parseFinalAnswer('It is the chair.\n```\nB\n```')).toBe('B');
  });
});

describe('paper fallbackAnswer', () => {
  it('gives no answer for a reply that is only a code fence (or thinking and a fence)', () => {
    expect(paperFallbackAnswer('```')).toBeNull();
    expect(paperFallbackAnswer('```python\n```')).toBeNull();
    expect(paperFallbackAnswer('<think>hmm</think>\n```\n')).toBeNull();
  });
  it('still reads \\boxed{} and otherwise keeps the whole reply', () => {
    expect(paperFallbackAnswer('```\n\\boxed{C}\n```')).toBe('C');
    expect(paperFallbackAnswer('It is B')).toBe('It is B');
  });
});

describe('condenseFailedCode', () => {
  it('keeps the code up to the failing line, then the exception', () => {
    expect(condenseFailedCode('a = 1\nb = a / 0\nc = 3\nd = 4', 2, 'ZeroDivisionError: division by zero'))
      .toBe('a = 1\nb = a / 0\n# ... (2 more lines not run)\n# -> ZeroDivisionError: division by zero');
    expect(condenseFailedCode('a = 1', null, 'E: x')).toBe('a = 1\n# -> E: x');
  });
});

describe('tool_call translation', () => {
  it('turns one JSON call into one assignment, with $variable references', () => {
    const { code } = toolCallToCode('```json\n{"tool": "tools.Geometry.distance", "args": ["$c0", "$recon.extrinsics[4]"], "kwargs": {"eps": 0.5, "ok": true, "name": "x"}, "assign": "d"}\n```');
    expect(code).toBe('d = tools.Geometry.distance(c0, recon.extrinsics[4], eps=0.5, ok=True, name="x")\nd');
    expect(toolCallToCode('{"tool": "ReturnAnswer", "args": [2.1]}').code).toBe('ReturnAnswer(2.1)');
  });
  it('converts JSON values to Python literals and rejects what it cannot express', () => {
    expect(toPython({ a: [1, null, false], b: 'q"uote' })).toBe('{"a": [1, None, False], "b": "q\\"uote"}');
    expect(() => toPython('$os.system("x")')).toThrow(/not a variable reference/);
    expect(() => toolCallToCode('{"tool": "__import__(\'os\')"}')).toThrow(/dotted name/);
    expect(() => toolCallToCode('no json here')).toThrow(/no valid JSON tool call/);
  });
});
