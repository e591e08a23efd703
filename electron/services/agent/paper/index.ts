/**
 * `paperPolicy`: the published SpatialClaw loop's conversation (docs/paper-parity.md), as a {@link LoopPolicy}.
 *
 * The methods beyond the prompts and the parse:
 * - `skippedObservation`: the third message of a format-error turn (row 6) and the observation of a step whose
 *   model call failed (row 4, after `modelErrorMessage`, the `[LLM Error] …` placeholder);
 * - the fifth argument of `observationText`: the loop's count of show() images attached before the step, for the
 *   `[show() budget]` line (row 3);
 * - `readsSurvivors` and `rollbackOf`: whether a failed cell's new variables are kept or rolled back (row 10), and
 *   `shownImages`: the images the budget applies to (row 8);
 * - `salvageAnswer`: the regex salvage when the fallback call fails (row 12).
 */
import type { CellImage, CellResult } from '../../../../shared/kernel.ts';
import type { HistoryTurn, LoopPolicy, PolicyContext } from '../policy.ts';
import { condensedStep, readsSurvivors, rollbackOf, type Rollback } from './condense.ts';
import { fallbackAnswer, fallbackMessages, salvageAnswer } from './fallback.ts';
import { paperObservation, type ShowBudgetUse, shownImages, type SkipCause, skippedObservation } from './observation.ts';
import { formatErrorPlaceholder, formatReminder, modelErrorPlaceholder, parsePaperStep, renderParsed } from './parse.ts';
import { plannerMessages } from './planner.ts';
import { firstUserMessage, paperSystemPrompt, planMessages } from './prompts.ts';

/** The paper policy's methods with their paper-specific types (a {@link LoopPolicy}). */
export interface PaperLoopPolicy extends LoopPolicy {
  /** As in LoopPolicy; `use` (optional) is the loop's count of show() images attached by earlier steps. */
  observationText(ctx: PolicyContext, cell: CellResult, step: number, omitted: number, use?: ShowBudgetUse): string;
  /** The observation of a step that ran nothing: its reply failed to parse (`format`) or its model call failed (`model`). */
  skippedObservation(ctx: PolicyContext, step: number, cause: SkipCause): string;
  /** The assistant placeholder of a failed model call (`[LLM Error] …`; no reminder follows it). */
  modelErrorMessage(error: unknown): string;
  /** What happens to the variables of a failed cell: `kept`, `full` rollback, or `none` (it succeeded). */
  rollbackOf(cell: CellResult): Rollback;
  /** The cell's images that count against the show() budget and may be attached (show() and plt.show() only). */
  shownImages(cell: CellResult): CellImage[];
  /** The regex salvage after a failed fallback call, or null. */
  salvageAnswer(ctx: PolicyContext, history: HistoryTurn[]): string | null;
}

export const paperPolicy: PaperLoopPolicy = {
  plannerMessages,
  systemPrompt: paperSystemPrompt,
  openingMessages: (ctx, plan) => [firstUserMessage(ctx), ...(plan !== null ? planMessages(ctx.executor, plan) : [])],
  parseStep: (ctx, reply) => parsePaperStep(ctx.executor, reply),
  formatError: (_ctx, _reply, problem) => ({ assistant: formatErrorPlaceholder(problem), user: formatReminder() }),
  assistantMessage: (ctx, reply, parsed) => renderParsed(ctx.executor, reply, parsed),
  condensedStep: (ctx, _reply, parsed, cell) => condensedStep(ctx.executor, parsed, cell),
  observationText: paperObservation,
  fallbackMessages,
  fallbackAnswer,
  skippedObservation,
  modelErrorMessage: modelErrorPlaceholder,
  readsSurvivors,
  rollbackOf,
  shownImages,
  salvageAnswer: (_ctx, history) => salvageAnswer(history),
};
