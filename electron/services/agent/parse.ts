/**
 * Parsing the model's step answer: "Purpose / Reasoning / Next Goal / Code" with the code in one
 * ```python block, and the final-answer formats used by the direct-answer fallback.
 */

export interface ParsedStep {
  purpose: string;
  reasoning: string;
  next_goal: string;
  code: string;
}

export class StepParseError extends Error {
  override name = 'StepParseError';
}

const SECTION = /^\s*(?:#{1,6}\s*|\*\*)?\s*(purpose|reasoning|next[ _-]?goal|code)\s*(?:\*\*)?\s*:?\s*(?:\*\*)?\s*(.*)$/i;

/**
 * Split a step answer into its sections. The code is the LAST ```python (or bare ```) block; a
 * missing code block is an error (the loop answers with a format reminder). Missing prose sections
 * are allowed and come back empty.
 * @throws StepParseError describing what is missing.
 */
export function parseStep(text: string): ParsedStep {
  const blocks = [...text.matchAll(/```[ \t]*(python|py)?[ \t]*\n([\s\S]*?)```/gi)];
  const pythonBlocks = blocks.filter((b) => b[1]);
  const chosen = (pythonBlocks.length ? pythonBlocks : blocks).at(-1);
  if (!chosen) {
    throw new StepParseError(
      /```/.test(text)
        ? 'the code block is not closed: end it with ``` on its own line'
        : 'no ```python code block found: every step must end with exactly one ```python block',
    );
  }
  const code = (chosen[2] ?? '').replace(/\s+$/, '');
  if (!code.trim()) throw new StepParseError('the ```python block is empty: put the cell to run in it');
  if (pythonBlocks.length > 1) {
    throw new StepParseError(`found ${pythonBlocks.length} \`\`\`python blocks: send exactly one cell per step`);
  }
  const prose = text.slice(0, chosen.index);
  const out: Record<string, string> = { purpose: '', reasoning: '', next_goal: '' };
  let current: string | null = null;
  for (const line of prose.split('\n')) {
    const m = SECTION.exec(line);
    if (m?.[1]) {
      const key = m[1].toLowerCase().replace(/[ _-]/g, '');
      current = key === 'nextgoal' ? 'next_goal' : key === 'code' ? null : key;
      if (current && m[2]) out[current] = `${out[current] ? `${out[current]}\n` : ''}${m[2].trim()}`;
      continue;
    }
    if (current) out[current] = `${out[current] ?? ''}\n${line}`;
  }
  return {
    purpose: (out['purpose'] ?? '').trim(),
    reasoning: (out['reasoning'] ?? '').trim(),
    next_goal: (out['next_goal'] ?? '').trim(),
    code,
  };
}

/** A line that is only a code-fence marker: three or more backticks or tildes, with an optional info string (```python). */
const FENCE_LINE = /^[ \t]*(?:`{3,}|~{3,})[\w.+-]*[ \t]*$/;

/**
 * `text` without its code-fence marker lines (```, ```python, ~~~), the code between them kept: what is left
 * of a reply that is only a code fence is empty, so it gives no answer.
 */
export function withoutFences(text: string): string {
  return text.split('\n').filter((l) => !FENCE_LINE.test(l)).join('\n');
}

/** Whether an answer read from a reply says anything: not empty, and not only backticks or tildes. */
const saysSomething = (s: string | undefined): s is string => !!s && /[^\s`~]/.test(s);

/**
 * The answer of a direct-answer call: the content of the last `\boxed{...}`, else the text after a
 * final "Answer:", else the last non-empty line, code-fence marker lines (```) left out. Returns null for
 * empty text, and for a reply that is only code fences.
 */
export function parseFinalAnswer(reply: string): string | null {
  const text = withoutFences(reply);
  const boxed = [...text.matchAll(/\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}/g)].at(-1);
  if (saysSomething(boxed?.[1])) return boxed[1].trim();
  const answer = [...text.matchAll(/answer\s*(?:is)?\s*[:：]\s*(.+)$/gim)].at(-1);
  if (saysSomething(answer?.[1])) return answer[1].trim().replace(/[.。]$/, '');
  const last = text.trim().split('\n').map((l) => l.trim()).filter(saysSomething).at(-1);
  return last ?? null;
}

/**
 * The model's view of a failed step: the code up to and including the failing line, then the
 * exception. The run record keeps the full cell and traceback.
 */
export function condenseFailedCode(code: string, lineno: number | null, error: string): string {
  const lines = code.split('\n');
  const kept = lineno && lineno >= 1 && lineno <= lines.length ? lines.slice(0, lineno) : lines;
  const cut = kept.length < lines.length ? `\n# ... (${lines.length - kept.length} more lines not run)` : '';
  return `${kept.join('\n')}${cut}\n# -> ${error}`;
}
