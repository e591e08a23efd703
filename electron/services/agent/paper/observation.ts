/**
 * The `paper` observation (docs/paper-parity.md rows 3, 7, 8, 10, 18.2, 18.4): one text in the original's
 * layout and order, our wording for the prose:
 *   `=== Step k Execution Feedback ===` (k 0-based); the status ([SUCCESS] / [ERROR] / [PARTIAL ERROR]);
 *   [Output] stdout (first 1000 + last 3000 characters); [Warnings] stderr only after a clean cell, noise lines
 *   dropped, ≤ 500 characters; [Variables]; [WARNING] for variables over 500 MB; [ANSWER SUBMITTED];
 *   [Inline Images] with labels; [Tool Calls]; then, except after an answer, [LAST STEP] and the
 *   [show() budget] line. No execute_result (the `tool_call` executor excepted: its call's value is its
 *   observation) and no display_data other than show()/plt.show() images.
 */
import type { CellImage, CellResult } from '../../../../shared/kernel.ts';
import type { PolicyContext } from '../policy.ts';
import { charLength, compactError, errorText, failingLine, headChars, rollbackOf, stripAnsi } from './condense.ts';

export const STDERR_MAX = 500;
export const LARGE_VARIABLE_MB = 500;

/** The show() budget as the loop counted it: images attached by earlier steps of this sample. */
export interface ShowBudgetUse {
  used: number;
}

/** The images the model may see: show() and plt.show() images (other display_data is dropped, row 8). */
export const shownImages = (cell: CellResult): CellImage[] => cell.images.filter((im) => im.source !== 'display');

/** Over 4000 characters: the first 1000 and the last 3000, with a note of the total length. */
export function cutStdout(text: string): string {
  const c = Array.from(text);
  if (c.length <= 4000) return text;
  return `${c.slice(0, 1000).join('')}\n... [${c.length} characters; the middle is cut] ...\n${c.slice(-3000).join('')}`;
}

/** Lines our runtime and its clients log to stderr (`spatialclaw: …`), which are not the cell's warnings. */
const STDERR_NOISE = /^spatialclaw( [\w-]+)?:/;

/** stderr as shown after a clean cell: ANSI removed, noise lines dropped, stripped, ≤ 500 characters; '' if nothing is left. */
export function cleanStderr(stderr: string): string {
  const kept = stripAnsi(stderr).split('\n').filter((l) => !STDERR_NOISE.test(l.trim())).join('\n').trim();
  return charLength(kept) > STDERR_MAX ? `${headChars(kept, STDERR_MAX)}\n... (cut at ${STDERR_MAX} characters)` : kept;
}

/** Calls of `tools.X.y(` and `vlm.x(` in the code's text. */
export const toolCallCount = (code: string): number => (code.match(/tools\.\w+\.\w+\(/g)?.length ?? 0) + (code.match(/vlm\.\w+\(/g)?.length ?? 0);

/** `=== Step k Execution Feedback ===`, k 0-based. */
const header = (step: number): string => `=== Step ${step - 1} Execution Feedback ===`;

/** After every step whose 1-based number is ≥ maxSteps − 1 (so the last two steps). */
function lastStepWarning(ctx: PolicyContext, step: number): string {
  return ctx.maxSteps - step <= 1
    ? '\n\n[LAST STEP] This is your final step: the session ends after it. Call ReturnAnswer(...) NOW with your best answer.'
    : '';
}

/** Python's `str()` of the submitted answer. */
const answerText = (a: NonNullable<CellResult['answer']>): string =>
  a.type === 'float' && typeof a.answer === 'number' && Number.isInteger(a.answer) ? `${a.answer}.0` : String(a.answer);

/** Labels of the show() calls, in order (one per call: repeated labels and `(i/n)` suffixes folded). */
function showLabels(images: CellImage[]): string[] {
  const labels: string[] = [];
  for (const im of images) {
    const l = (im.label ?? '').replace(/ \(\d+\/\d+\)$/, '');
    if (l && labels.at(-1) !== l) labels.push(l);
  }
  return labels;
}

/**
 * The status block: success with the seconds taken, or, for a failed cell (always condensed, so its error is in
 * the code above), a full rollback or a partial error with its line.
 */
function statusLines(cell: CellResult): string {
  if (errorText(cell) === null) return `\n[SUCCESS] The code ran in ${(cell.durationMs / 1000).toFixed(2)}s.`;
  if (rollbackOf(cell) === 'full') return '\n[ERROR] (the error is shown in the code above)\nEvery variable this step created has been rolled back.';
  const line = failingLine(cell);
  return `\n[PARTIAL ERROR] The code failed${line !== null ? ` at line ${line}` : ''}. The variables created before the error were kept.`;
}

/** The [show() budget] line, when the step showed images. */
function budgetLine(ctx: PolicyContext, images: CellImage[], omitted: number, use: ShowBudgetUse | undefined): string {
  const budget = ctx.profile.image_budget;
  if (!images.length) return '';
  if (omitted >= images.length) return `\n\n[show() budget] EXHAUSTED: 0/${budget} remaining. Further show() calls attach no images.`;
  // Without the loop's count, the kernel's show() counter (images shown earlier this session) stands in.
  const used = use?.used ?? images[0]!.index;
  const left = omitted > 0 ? 0 : Math.max(0, budget - used - images.length);
  return `\n[show() budget] ${left}/${budget} images remaining.`;
}

/**
 * The observation after a cell (step 1-based). `omitted` counts the cell's show() images the budget left out;
 * `use` is the loop's count of images attached before this step (when absent, the kernel's show() counter).
 * A failed cell's full rollback hides its variables, images and tool-call count.
 */
export function paperObservation(ctx: PolicyContext, cell: CellResult, step: number, omitted: number, use?: ShowBudgetUse): string {
  const rollback = rollbackOf(cell);
  const full = rollback === 'full';
  const parts = [header(step), statusLines(cell)];
  const stdout = cell.stdout.trim();
  if (stdout) parts.push(`\n[Output]\n${cutStdout(stdout)}`);
  if (ctx.executor === 'tool_call' && cell.result) parts.push(`\n[Result]\n${cutStdout(cell.result.trim())}`);
  const stderr = cell.status === 'ok' ? cleanStderr(cell.stderr) : '';
  if (stderr) parts.push(`\n[Warnings]\n${stderr}`);
  if (cell.variables.length && !full) {
    parts.push(rollback === 'kept' ? '\n[Variables] Kept from before the error:' : '\n[Variables] New/changed:');
    for (const v of cell.variables) parts.push(`  ${v.line}`);
  }
  if (!full) {
    for (const v of cell.variables.filter((x) => (x.size_mb ?? 0) > LARGE_VARIABLE_MB)) {
      parts.push(`\n[WARNING] Variable '${v.name}' takes ${v.size_mb!.toFixed(1)}MB (limit ${LARGE_VARIABLE_MB}MB). Once you have what you need from it, free it with \`del ${v.name}\`.`);
    }
  }
  if (cell.answer) parts.push(`\n[ANSWER SUBMITTED] ${answerText(cell.answer)}`);
  const images = full ? [] : shownImages(cell);
  if (images.length) {
    parts.push(`\n[Inline Images] ${images.length} image(s) attached below.`);
    const labels = showLabels(images);
    if (labels.length) parts.push(`  Labels: ${labels.join(', ')}`);
  }
  const calls = full ? 0 : toolCallCount(cell.code);
  if (calls > 0) parts.push(`\n[Tool Calls] ${calls} tool/VLM call(s) in this step.`);
  let text = parts.join('\n');
  if (!cell.answer) text += lastStepWarning(ctx, step) + budgetLine(ctx, images, omitted, use);
  return text;
}

/** Why a step did not run. */
export type SkipCause = 'format' | 'model';

/** The observation of a step whose reply was not run (row 6: a format error; row 4: a failed model call). */
export function skippedObservation(ctx: PolicyContext, step: number, cause: SkipCause): string {
  const why = cause === 'format'
    ? 'Skipped: the reply did not follow the required format.'
    : 'Skipped: the model call failed (the run record has the details).';
  return `${header(step)}\n\n[ERROR] ${compactError(why)}${lastStepWarning(ctx, step)}`;
}
