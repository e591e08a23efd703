/**
 * Failed steps under the `paper` profile (docs/paper-parity.md rows 7, 10 and 18.8): the error text of a
 * cell, its failing line, the compact error (≤ 600 characters), whether the step's new variables survive or
 * are rolled back, and the condensed assistant message that replaces the failed step in the history.
 * The rollback itself (deleting names, resetting the namespace after a timeout) is done by the loop and the
 * kernel; {@link rollbackOf} is the rule they share with the observation.
 */
import type { CellResult } from '../../../../shared/kernel.ts';
import type { ParsedStep } from '../parse.ts';
import type { Executor } from '../prompt.ts';
import { renderSections } from './parse.ts';

/** The marker that replaces Reasoning and Next Goal of a failed step. */
export const CONDENSED_MARKER = '[errored — condensed]';
export const COMPACT_ERROR_MAX = 600;
export const CONDENSED_CODE_MAX = 2000;

/** Text cut to `n` code points (the original counts Python characters). */
export const headChars = (s: string, n: number): string => {
  const c = Array.from(s);
  return c.length <= n ? s : c.slice(0, n).join('');
};
export const charLength = (s: string): number => Array.from(s).length;
export const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex
/** Python's `str.splitlines()` for the line breaks code and tracebacks use. */
export const splitLines = (s: string): string[] => {
  const lines = s.split(/\r\n|\r|\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
};

/**
 * The error of a failed cell as one text, like the original's error string: the traceback (exception),
 * a timeout sentence, the safety violations, or a kernel-death sentence with the host's notes. Null when the
 * cell succeeded.
 */
export function errorText(cell: CellResult): string | null {
  switch (cell.status) {
    case 'ok':
      return null;
    case 'error': {
      const e = cell.error;
      if (!e) return 'The cell raised an error.';
      const tb = e.traceback.join('\n');
      return tb.trim() ? tb : `${e.ename}: ${e.evalue}`;
    }
    case 'timeout':
      return `The cell timed out after ${(cell.durationMs / 1000).toFixed(1)}s and was stopped.`;
    case 'rejected':
      return cell.violations.map((v) => `Security violation (line ${v.line}): ${v.message}`).join('\n') || 'Security violation.';
    case 'kernel_died':
      return ['The kernel died while running this cell.', ...cell.notes].join(' ');
  }
}

/** The first `--->`-marked line number of a traceback, else the first `line N` anywhere in it, else null. */
export function tracebackLine(error: string): number | null {
  const clean = stripAnsi(error);
  for (const line of splitLines(clean)) {
    const m = /^-*>\s*(\d+)\s/.exec(line.trim());
    if (m) return Number(m[1]);
  }
  const m = /\bline\s+(\d+)\b/.exec(clean);
  return m ? Number(m[1]) : null;
}

/**
 * The cell's failing line (1-based): for an exception the traceback's `--->` marker (the cell's own frame) or a
 * `line N`; for a safety rejection the first violation's line (ours carry one); unknown (null) after a timeout or
 * a kernel death, as the original's timeout error names no line.
 */
export function failingLine(cell: CellResult): number | null {
  if (cell.status === 'rejected') {
    const lines = cell.violations.map((v) => v.line).filter((l) => l >= 1);
    return lines.length ? Math.min(...lines) : null;
  }
  if (cell.status !== 'error') return null;
  return tracebackLine(errorText(cell) ?? '') ?? cell.error?.lineno ?? null;
}

/**
 * The compact error (≤ 600 characters): `at: <source line>` (the last `--->`-marked line) and the exception line
 * (the last line starting with a capitalised word ending in Error, Exception or Warning); without an exception
 * line, the first 600 characters of the text.
 */
export function compactError(error: string): string {
  const clean = stripAnsi(error);
  const lines = splitLines(clean).map((l) => l.trim()).filter(Boolean);
  let exception = '';
  let source = '';
  for (const line of [...lines].reverse()) {
    if (!exception && /^[A-Z]\w*(Error|Exception|Warning)/.test(line)) exception = line;
    if (!source && /^-*>\s*\d+\s/.test(line)) source = line.replace(/^-*>\s*/, '').trim();
  }
  if (!exception) return headChars(clean, COMPACT_ERROR_MAX);
  const result = source ? `at: ${source}\n${exception}` : exception;
  return charLength(result) > COMPACT_ERROR_MAX ? `${headChars(result, COMPACT_ERROR_MAX - 3)}...` : result;
}

/** What happens to the variables a failed cell created (row 10). */
export type Rollback = 'none' | 'kept' | 'full';

/**
 * `kept` when the failing line is known and the cell reports new variables (they were assigned before the
 * error: the loop keeps them); `full` otherwise (the loop deletes the new names; a timeout resets the whole
 * namespace); `none` for a cell that succeeded. A failed paper cell's `variables` are taken to be the names it
 * created (the paper kernel reports no value changes).
 */
export function rollbackOf(cell: CellResult): Rollback {
  if (cell.status === 'ok') return 'none';
  return failingLine(cell) !== null && cell.variables.length > 0 ? 'kept' : 'full';
}

/**
 * Whether a failed cell's new variables may survive it (its failing line is known): the loop then reads the names
 * the cell created from the kernel (`session.newVariables()`, which keeps them) before {@link rollbackOf}; otherwise
 * it deletes them without reading them (`session.rollbackNewVariables()`).
 */
export function readsSurvivors(cell: CellResult): boolean {
  return cell.status !== 'ok' && failingLine(cell) !== null;
}

/** The code up to and including the failing line, marked, then the exception as comment lines; ≤ 2000 characters. */
function codeCutAtLine(lines: string[], line: number, error: string): string {
  const kept = lines.slice(0, line);
  const compact = splitLines(compactError(error));
  const exception = compact.filter((l) => !l.startsWith('at:'));
  const marker = (exception.length ? exception : compact).map((l) => `# ${l}`).join('\n');
  if (kept.length) {
    const last = kept.at(-1)!;
    kept[kept.length - 1] = `${charLength(last) > 100 ? `${headChars(last, 100)}...` : last}  # <-- ERROR`;
  }
  const result = kept.length ? `${kept.join('\n')}\n${marker}` : marker;
  if (charLength(result) <= CONDENSED_CODE_MAX) return result;
  const header = '# ... (earlier lines left out)\n';
  while (kept.length && charLength(`${kept.join('\n')}\n${marker}`) + charLength(header) > CONDENSED_CODE_MAX) kept.shift();
  return kept.length ? `${header}${kept.join('\n')}\n${marker}` : `${header}${marker}`;
}

/** A short snippet of code whose failing line is unknown: all of ≤ 7 lines, else the first 3 and last 3; ≤ 400 characters. */
function snippet(lines: string[]): string {
  const fmt = (i: number): string => {
    const t = lines[i]!;
    return `${i + 1}: ${charLength(t) > 120 ? `${headChars(t, 120)}...` : t}`;
  };
  const all = lines.map((_, i) => i);
  const picked = lines.length <= 7 ? all.map(fmt) : [...all.slice(0, 3).map(fmt), '...', ...all.slice(-3).map(fmt)];
  const text = picked.join('\n');
  return charLength(text) > 400 ? `${headChars(text, 397)}...` : text;
}

/** The Code section of a condensed step (row 10). */
export function condensedCode(cell: CellResult, code: string): string {
  const error = errorText(cell) ?? '';
  const lines = splitLines(code);
  const line = failingLine(cell);
  if (lines.length && line !== null) return codeCutAtLine(lines, line, error);
  const head = splitLines(compactError(error)).map((l, i) => (i === 0 ? `# [ERROR] ${l}` : `# ${l}`)).join('\n');
  const snip = lines.length ? snippet(lines) : '';
  return snip ? `${head}\n${snip}` : head;
}

/** A failed step as the history keeps it: Purpose kept, Reasoning and Next Goal replaced by the marker, the condensed code. */
export function condensedStep(executor: Executor, parsed: ParsedStep, cell: CellResult): string {
  const code = condensedCode(cell, parsed.code);
  if (executor === 'tool_call') return `\`\`\`python\n${code}\n\`\`\``;
  return renderSections({ purpose: parsed.purpose, reasoning: CONDENSED_MARKER, next_goal: CONDENSED_MARKER }, code);
}
