/**
 * Turning a {@link CellResult} into the model's next message (the observation), and pulling the
 * failing line out of an IPython traceback. Pure functions: no I/O.
 */
import {
  type CellError,
  type CellResult,
  type Observation,
  type ObservationOptions,
  ObservationOptionsSchema,
} from '../../../shared/kernel.ts';

/**
 * Keep the first `head` and last `tail` characters of `text`, with a note of how much was cut.
 * The cut never splits a surrogate pair.
 */
export function truncateMiddle(text: string, head: number, tail: number): string {
  if (text.length <= head + tail) return text;
  const chars = Array.from(text);
  if (chars.length <= head + tail) return text;
  const cut = chars.length - head - tail;
  return `${chars.slice(0, head).join('')}\n... [${cut.toLocaleString('en-US')} characters cut; the run record keeps the full output] ...\n${chars.slice(chars.length - tail).join('')}`;
}

/**
 * Locate the failing line of a cell from an IPython (8+) traceback: the last `Cell In[N], line L`
 * frame is the deepest frame inside the cell. For a SyntaxError, IPython reports `line L` of the cell.
 * @returns 1-based line number and its stripped source text, or nulls when the traceback does not say.
 */
export function failingLine(traceback: string[], code: string, ename: string, evalue: string): { lineno: number | null; line: string | null } {
  let lineno: number | null = null;
  const all = traceback.join('\n');
  for (const m of all.matchAll(/Cell In\s*\[\d*\],\s*line (\d+)/g)) lineno = Number(m[1]);
  if (lineno === null && /SyntaxError|IndentationError/.test(ename)) {
    const m = /line (\d+)/.exec(all) ?? /line (\d+)/.exec(evalue);
    if (m) lineno = Number(m[1]);
  }
  if (lineno === null) return { lineno: null, line: null };
  const src = code.split('\n')[lineno - 1];
  return { lineno, line: src === undefined ? null : src.trim() };
}

/** Build a CellError from an IOPub `error` message's content. */
export function toCellError(content: { ename: string; evalue: string; traceback: string[] }, code: string, strip: (s: string) => string): CellError {
  const traceback = content.traceback.map(strip);
  return { ename: content.ename, evalue: content.evalue, traceback, ...failingLine(traceback, code, content.ename, content.evalue) };
}

/**
 * The text the model reads after a cell, plus the images to attach.
 * Contents, in order: a status line with the time taken; stdout (first 1000 and last 3000 characters);
 * stderr (same limits); a compact error (exception line, failing line and number); safety violations;
 * the variable summary; tool results (perception artifacts); the images attached; the answer, if one
 * was submitted. Host notes follow the status line.
 */
export function buildObservation(r: CellResult, options: Partial<ObservationOptions> = {}): Observation {
  const o = ObservationOptionsSchema.parse(options);
  const secs = (r.durationMs / 1000).toFixed(2);
  const parts: string[] = [];
  const statusLine: Record<CellResult['status'], string> = {
    ok: `Cell ${r.index} ran in ${secs} s.`,
    error: `Cell ${r.index} failed after ${secs} s.`,
    timeout: `Cell ${r.index} timed out after ${secs} s and was interrupted.`,
    rejected: `Cell ${r.index} was not run: it breaks the safety policy.`,
    kernel_died: `Cell ${r.index} crashed the kernel after ${secs} s.`,
  };
  parts.push(statusLine[r.status]);
  for (const note of r.notes) parts.push(`Note: ${note}`);
  if (r.stdout) parts.push(`stdout:\n${truncateMiddle(r.stdout, o.stdoutHead, o.stdoutTail).replace(/\n$/, '')}`);
  if (r.stderr) parts.push(`stderr:\n${truncateMiddle(r.stderr, o.stdoutHead, o.stdoutTail).replace(/\n$/, '')}`);
  if (r.result !== null && r.result !== '') parts.push(`result: ${truncateMiddle(r.result, o.stdoutHead, o.stdoutTail)}`);
  if (r.error) {
    const e = r.error;
    const where = e.lineno !== null ? `\n  at line ${e.lineno}${e.line ? `: ${e.line}` : ''}` : '';
    parts.push(`Error: ${e.ename}: ${truncateMiddle(e.evalue, o.stdoutHead, o.stdoutTail)}${where}`);
  }
  if (r.violations.length) {
    parts.push(['Safety policy violations (fix them and send the cell again):',
      ...r.violations.map((v) => `  line ${v.line}, col ${v.col} [${v.rule}]: ${v.message}`)].join('\n'));
  }
  if (r.variables.length) {
    const shown = r.variables.slice(0, o.maxVariables).map((v) => `  ${v.line}`);
    const more = r.variables.length - shown.length;
    parts.push(['Variables (new or changed):', ...shown, ...(more > 0 ? [`  ... and ${more} more`] : [])].join('\n'));
  }
  if (r.artifacts.length) {
    parts.push(['Tool results:', ...r.artifacts.map((a) => `  ${a.tool}: ${a.summary}`)].join('\n'));
  }
  if (r.images.length) {
    const labels = r.images.map((im, i) => `${i + 1}. ${im.label ?? '(no label)'} ${im.width}x${im.height}`);
    parts.push(`Images attached (${r.images.length}): ${labels.join('; ')}`);
  }
  if (r.answer) parts.push(`Answer submitted: ${JSON.stringify(r.answer.answer)}`);
  return { text: parts.join('\n'), images: r.images };
}
