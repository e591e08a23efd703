/**
 * The `paper` policy's step handling (docs/paper-parity.md rows 6, 7, 8, 10, 18.2, 18.4): reply parsing and
 * the re-rendered history, format errors, condensed failed steps, and the observation text.
 */
import { describe, expect, it } from 'vitest';
import { StepParseError } from '../../electron/services/agent/parse.ts';
import { compactError, condensedCode, rollbackOf } from '../../electron/services/agent/paper/condense.ts';
import { paperPolicy } from '../../electron/services/agent/paper/index.ts';
import { cell, context, NAME_ERROR, shown, variable, zeroDivision } from '../helpers/paper-policy.ts';

const ctx = context();
const reply = (code: string, extra = ''): string => `${extra}**Purpose**: P\n**Reasoning**: R\n**Next Goal**: N\n**Code**:\n${code}`;
const parse = (r: string, c = ctx): ReturnType<typeof paperPolicy.parseStep> => paperPolicy.parseStep(c, r);

describe('parsing (row 6)', () => {
  it('takes the four sections, drops thinking and prose, and re-renders the step', () => {
    const raw = reply('```python\nx = 1\n```\nThat is all.', '<think>hmm **Purpose**: no</think>Some prose first.\n\n');
    const p = parse(raw);
    expect(p).toEqual({ purpose: 'P', reasoning: 'R', next_goal: 'N', code: 'x = 1' });
    expect(paperPolicy.assistantMessage(ctx, raw, p)).toBe('**Purpose**: P\n**Reasoning**: R\n**Next Goal**: N\n**Code**:\n```python\nx = 1\n```');
  });

  it('accepts colons, any order, any case and Next_Goal', () => {
    const p = parse('**code**::\n```python\ny()\n```\n**next_goal** N\n**PURPOSE**: P\n**Reasoning**:R');
    expect(p).toEqual({ purpose: 'P', reasoning: 'R', next_goal: 'N', code: 'y()' });
  });

  it('an orphan </think> drops everything before it', () => {
    expect(parse(`thinking... </think>${reply('```python\nz = 2\n```')}`).code).toBe('z = 2');
  });

  it('a Code section without a closing fence runs to the end', () => {
    expect(parse(reply('```python\na = 1\nb = 2')).code).toBe('a = 1\nb = 2');
  });

  it('a Code section without any fence is the code', () => {
    expect(parse(reply('print("no fence")')).code).toBe('print("no fence")');
  });

  it('```py keeps `py` as the first token of the code', () => {
    expect(parse(reply('```py\nx = 1\n```')).code).toBe('py\nx = 1');
    expect(parse(reply('```Python\nx = 1\n```')).code).toBe('Python\nx = 1');
  });

  it('two fences: the first one', () => {
    expect(parse(reply('```python\nfirst()\n```\n```python\nsecond()\n```')).code).toBe('first()');
  });

  it('rejects `**Purpose:**`, a missing section and an empty one', () => {
    expect(() => parse('**Purpose:** P\n**Reasoning**: R\n**Next Goal**: N\n**Code**:\n```python\nx\n```')).toThrow(StepParseError);
    expect(() => parse('**Purpose**: P\n**Reasoning**: R\n**Code**:\n```python\nx\n```')).toThrow(/four sections/);
    expect(() => parse('hello')).toThrow(/four sections/);
    expect(() => parse('**Purpose**: P\n**Reasoning**:\n**Next Goal**: N\n**Code**:\n```python\nx\n```')).toThrow(/\*\*Reasoning\*\* section is empty/);
    expect(() => parse(reply('```python\n```'))).toThrow(/\*\*Code\*\* section is empty/);
  });

  it('a format error leaves a placeholder and a reminder, not the raw reply', () => {
    const turn = paperPolicy.formatError(ctx, 'hello there', 'the reply could not be parsed');
    expect(turn.assistant).toBe('[Format Error] the reply could not be parsed');
    expect(turn.user).toContain('system prompt');
    expect(JSON.stringify(turn)).not.toContain('hello there');
  });

  it('the skipped step gets its own observation', () => {
    expect(paperPolicy.skippedObservation(ctx, 4, 'format')).toBe(
      '=== Step 3 Execution Feedback ===\n\n[ERROR] Skipped: the reply did not follow the required format.');
    expect(paperPolicy.skippedObservation(ctx, 29, 'model')).toMatch(/^=== Step 28 Execution Feedback ===\n\n\[ERROR\] Skipped: the model call failed.*\n\n\[LAST STEP\]/s);
    expect(paperPolicy.modelErrorMessage(new TypeError('boom'))).toBe('[LLM Error] the model call failed: TypeError: boom');
  });

  it('tool_call keeps the JSON call and re-renders it', () => {
    const tc = context({ executor: 'tool_call' });
    const raw = 'Let me measure.\n```json\n{"tool": "tools.Geometry.distance", "args": ["$p", "$q"], "assign": "d"}\n```';
    const p = paperPolicy.parseStep(tc, raw);
    expect(p.code).toBe('d = tools.Geometry.distance(p, q)\nd');
    expect(paperPolicy.assistantMessage(tc, raw, p)).toBe('```json\n{"tool":"tools.Geometry.distance","args":["$p","$q"],"kwargs":{},"assign":"d"}\n```');
    expect(() => paperPolicy.parseStep(tc, 'no call')).toThrow(StepParseError);
  });
});

describe('condensed failed steps (row 10)', () => {
  const parsed = { purpose: 'P', reasoning: 'long reasoning', next_goal: 'more', code: 'a = 1\nb = undefined_name\nc = 3' };

  it('keeps Purpose, marks Reasoning and Next Goal, cuts the code after the failing line and comments the exception', () => {
    const failed = cell({ code: parsed.code, status: 'error', error: NAME_ERROR, variables: [variable('a', 'int')] });
    expect(paperPolicy.condensedStep(ctx, 'raw', parsed, failed)).toBe([
      '**Purpose**: P', '**Reasoning**: [errored — condensed]', '**Next Goal**: [errored — condensed]', '**Code**:', '```python',
      'a = 1', 'b = undefined_name  # <-- ERROR', "# NameError: name 'undefined_name' is not defined", '```',
    ].join('\n'));
    expect(rollbackOf(failed)).toBe('kept');
  });

  it('the failing line is the cell frame of the traceback, not a frame inside a function', () => {
    const code = 'def f():\n    return 1/0\n\nx = 2\nf()';
    const error = { ...zeroDivision(5, 'f()')!, traceback: [...zeroDivision(5, 'f()')!.traceback.slice(0, 3), 'Cell In[7], line 2, in f()\n----> 2     return 1/0\n', 'ZeroDivisionError: division by zero'], lineno: 2 };
    expect(condensedCode(cell({ code, status: 'error', error }), code)).toBe(`${code}  # <-- ERROR\n# ZeroDivisionError: division by zero`);
  });

  it('caps the code at 2000 characters, trimming from the top', () => {
    const code = [...Array.from({ length: 300 }, (_, i) => `x_${i} = ${i}`), '1/0'].join('\n');
    const out = condensedCode(cell({ code, status: 'error', error: zeroDivision(301) }), code);
    expect(out.length).toBeLessThanOrEqual(2000);
    expect(out.startsWith('# ... (earlier lines left out)\n')).toBe(true);
    expect(out.endsWith('1/0  # <-- ERROR\n# ZeroDivisionError: division by zero')).toBe(true);
    expect(out).toContain('x_299 = 299');
    expect(out).not.toContain('x_0 = 0\n');
  });

  it('cuts a long failing line to 100 characters', () => {
    const long = `y = ${'1 + '.repeat(40)}undefined_name`;
    const out = condensedCode(cell({ code: long, status: 'error', error: zeroDivision(1, long) }), long);
    expect(out.split('\n')[0]).toBe(`${long.slice(0, 100)}...  # <-- ERROR`);
  });

  it('unknown line (timeout): the error as a comment and a head/tail snippet', () => {
    const code = Array.from({ length: 10 }, (_, i) => `s${i} = ${i}`).join('\n');
    const out = condensedCode(cell({ code, status: 'timeout', durationMs: 600_000 }), code);
    expect(out).toBe('# [ERROR] The cell timed out after 600.0s and was stopped.\n1: s0 = 0\n2: s1 = 1\n3: s2 = 2\n...\n8: s7 = 7\n9: s8 = 8\n10: s9 = 9');
    expect(rollbackOf(cell({ code, status: 'timeout' }))).toBe('full');
  });

  it('a safety rejection is cut at its line', () => {
    const code = 'a = 1\nimport os\nb = 2';
    const rejected = cell({ code, status: 'rejected', violations: [{ rule: 'import', message: 'importing os is not allowed', line: 2, col: 0 }] });
    expect(condensedCode(rejected, code)).toBe('a = 1\nimport os  # <-- ERROR\n# Security violation (line 2): importing os is not allowed');
    expect(rollbackOf(rejected)).toBe('full');
  });

  it('tool_call: the translated call in a python fence', () => {
    const out = paperPolicy.condensedStep(context({ executor: 'tool_call' }), 'raw', { ...parsed, purpose: '' }, cell({ code: parsed.code, status: 'error', error: NAME_ERROR }));
    expect(out.startsWith('```python\na = 1\nb = undefined_name  # <-- ERROR')).toBe(true);
  });
});

describe('compact error (row 7)', () => {
  it('source line and exception line, at most 600 characters', () => {
    expect(compactError(NAME_ERROR.traceback.join('\n'))).toBe("at: 2 b = undefined_name\nNameError: name 'undefined_name' is not defined");
    const long = compactError(`ValueError: ${'v'.repeat(700)}`);
    expect(long).toHaveLength(600);
    expect(long.endsWith('...')).toBe(true);
    expect(compactError(`no exception here ${'z'.repeat(700)}`)).toHaveLength(600);
  });
});

describe('observation (rows 3, 7, 8, 18.2, 18.4)', () => {
  const ok = cell({
    code: 'print("hi")\nm = tools.Mask.area(np.ones((2, 2), bool))\nshow(InputImages[3])',
    stdout: 'hi\n',
    images: [shown(0, 'InputImages[3]')],
    variables: [variable('m', 'int')],
  });

  it('has the layout and order of the original', () => {
    const text = paperPolicy.observationText(ctx, ok, 1, 0);
    expect(text).toBe([
      '=== Step 0 Execution Feedback ===', '', '[SUCCESS] The code ran in 0.25s.', '', '[Output]', 'hi', '', '[Variables] New/changed:', '  m: int', '',
      '[Inline Images] 1 image(s) attached below.', '  Labels: InputImages[3]', '', '[Tool Calls] 1 tool/VLM call(s) in this step.',
      '[show() budget] 249/250 images remaining.',
    ].join('\n'));
  });

  it('counts the budget from the loop when it says, else from the kernel counter', () => {
    expect(paperPolicy.observationText(ctx, ok, 1, 0, { used: 10 })).toContain('[show() budget] 239/250 images remaining.');
    const later = cell({ ...ok, images: [shown(40), shown(41)] });
    expect(paperPolicy.observationText(ctx, later, 5, 0)).toContain('[show() budget] 208/250 images remaining.');
    expect(paperPolicy.observationText(ctx, later, 5, 1)).toContain('[show() budget] 0/250 images remaining.');
    expect(paperPolicy.observationText(ctx, later, 5, 2)).toMatch(/\[Inline Images\] 2 image\(s\)[\s\S]*\n\n\[show\(\) budget\] EXHAUSTED: 0\/250/);
  });

  it('shows stderr only after a clean cell, without noise, at most 500 characters', () => {
    const warned = paperPolicy.observationText(ctx, cell({ stderr: `spatialclaw: tool log\n\x1b[31mUserWarning: ${'w'.repeat(2000)}\x1b[0m\n` }), 1, 0);
    const block = warned.split('[Warnings]\n')[1]!;
    expect(block.startsWith('UserWarning: www')).toBe(true);
    expect(block.split('\n')[0]).toHaveLength(500);
    expect(block).toContain('(cut at 500 characters)');
    expect(warned).not.toContain('spatialclaw: tool log');
    const failed = paperPolicy.observationText(ctx, cell({ code: 'import warnings\nwarnings.warn("w")\n1/0', stderr: 'UserWarning: w\n', status: 'error', error: zeroDivision(3) }), 1, 0);
    expect(failed).not.toContain('Warning');
    expect(failed).not.toContain('ZeroDivisionError');
    expect(failed).toContain('[ERROR] (the error is shown in the code above)');
  });

  it('drops execute_result and display_data that is not a show() image', () => {
    const text = paperPolicy.observationText(ctx, cell({ code: 'x = 41\nx + 1', result: '42', images: [shown(0, 'df', 'display')] }), 1, 0);
    expect(text).not.toContain('42');
    expect(text).not.toMatch(/result/i);
    expect(text).not.toContain('[Inline Images]');
    expect(paperPolicy.observationText(context({ executor: 'tool_call' }), cell({ result: '42' }), 1, 0)).toContain('[Result]\n42');
  });

  it('cuts stdout to its first 1000 and last 3000 characters', () => {
    const text = paperPolicy.observationText(ctx, cell({ stdout: `${'a'.repeat(3000)}${'b'.repeat(3000)}` }), 1, 0);
    expect(text.endsWith(`[Output]\n${'a'.repeat(1000)}\n... [6000 characters; the middle is cut] ...\n${'b'.repeat(3000)}`)).toBe(true);
    expect(paperPolicy.observationText(ctx, cell({ stdout: 'c'.repeat(4000) }), 1, 0).endsWith(`[Output]\n${'c'.repeat(4000)}`)).toBe(true);
  });

  it('a partial error keeps and lists the new variables, its images and tool calls', () => {
    const partial = cell({ code: 'a = 1\nb = undefined_name', status: 'error', error: NAME_ERROR, variables: [variable('a', 'int')], images: [shown(2, 'x')], stdout: 'before' });
    const text = paperPolicy.observationText(ctx, partial, 2, 0);
    expect(text).toContain('[PARTIAL ERROR] The code failed at line 2. The variables created before the error were kept.');
    expect(text).toContain('[Output]\nbefore');
    expect(text).toContain('[Variables] Kept from before the error:\n  a: int');
    expect(text).toContain('[Inline Images] 1 image(s)');
    expect(text).not.toContain('NameError');
  });

  it('a full rollback shows no variables, images or tool calls', () => {
    const full = cell({ code: 'tools.Mask.area(m)\n1/0', status: 'error', error: zeroDivision(2), images: [shown(0)] });
    const text = paperPolicy.observationText(ctx, full, 2, 0);
    expect(text).toBe('=== Step 1 Execution Feedback ===\n\n[ERROR] (the error is shown in the code above)\nEvery variable this step created has been rolled back.');
    expect(paperPolicy.rollbackOf(full)).toBe('full');
  });

  it('warns about variables over 500 MB', () => {
    const text = paperPolicy.observationText(ctx, cell({ variables: [variable('big', 'ndarray, size=812.3MB', 812.3), variable('small', 'int', 1)] }), 1, 0);
    expect(text).toContain("[WARNING] Variable 'big' takes 812.3MB (limit 500MB).");
    expect(text).not.toContain("Variable 'small'");
  });

  it('gives the last-step warning after the last two steps, not after an answer', () => {
    const short = context({ maxSteps: 3 });
    expect(paperPolicy.observationText(short, cell(), 1, 0)).not.toContain('[LAST STEP]');
    expect(paperPolicy.observationText(short, cell(), 2, 0)).toMatch(/\n\n\[LAST STEP\] .*ReturnAnswer\(\.\.\.\) NOW.*$/);
    expect(paperPolicy.observationText(short, cell(), 3, 0)).toMatch(/\[LAST STEP\][^\n]*$/);
    const answered = paperPolicy.observationText(short, cell({ answer: { answer: 3, type: 'float' }, images: [shown(0)] }), 3, 0);
    expect(answered).toContain('[ANSWER SUBMITTED] 3.0');
    expect(answered).not.toContain('[LAST STEP]');
    expect(answered).not.toContain('[show() budget]');
  });
});
