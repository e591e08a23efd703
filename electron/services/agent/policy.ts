/**
 * What an agent profile changes in the loop's conversation with the model: the prompts, how a reply is
 * parsed, how steps enter the history, what an observation says, which images a step may attach, what happens
 * to a failed cell's variables, and the answer fallback. The loop (loop.ts) owns the control flow (steps,
 * budgets, termination, recording) and asks its policy for every text the model reads. Two policies implement
 * this interface: `defaultPolicy` (this workbench's loop, ./default-policy.ts) and `paperPolicy` (the published
 * SpatialClaw loop, ./paper/, specified in docs/paper-parity.md). {@link policyFor} picks one.
 *
 * Every method is pure (no I/O): easy to test on the exact text the model receives.
 */
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { CellImage, CellResult } from '../../../shared/kernel.ts';
import { type AgentProfile, ProfileConfigError } from '../../../shared/profiles.ts';
import type { SampleSpec } from '../../../shared/run.ts';
import { defaultPolicy } from './default-policy.ts';
import type { ParsedStep } from './parse.ts';
import { paperPolicy } from './paper/index.ts';
import type { Executor } from './prompt.ts';

/** What the policies need to know about the sample and the run. */
export interface PolicyContext {
  sample: SampleSpec;
  executor: Executor;
  maxSteps: number;
  /** `python -m spatial_runtime.apidoc` output: the tool reference. */
  apiDoc: string;
  /** What prepare() bound (InputImages / Metadata lines). */
  inputSummary: string;
  /**
   * The key frames the first message carries (labels, absolute frame indices, sizes, PNG; paper key frames also
   * carry `frame`: their variable, list position and absolute frame index).
   */
  keyFrames: CellImage[];
  profile: AgentProfile;
}

/** One finished step as the history keeps it. */
export interface HistoryTurn {
  /** The assistant message as the history shows it (raw reply, re-rendered, condensed, or a placeholder). */
  assistant: string;
  /** The user message that follows (observation text, or a format reminder). */
  user: string;
  /** Observation images attached to `user`. */
  images: CellImage[];
  /** A further user message (text only) after `user`: the observation of a step that ran nothing (paper: a format error). */
  skipped?: string;
}

/** Why a step ran no cell. */
export type SkipCause = 'format' | 'model';

/** What happens to the variables a failed cell created: left alone (`none`), `kept` as survivors, or deleted (`full`). */
export type Rollback = 'none' | 'kept' | 'full';

/** The show() budget as the loop counted it. */
export interface ImageUse {
  /** Images attached by earlier steps of this sample. */
  used: number;
}

export interface LoopPolicy {
  /** The planner's messages (no images unless the policy sends them); null: no planner call for this sample. */
  plannerMessages(ctx: PolicyContext): ChatCompletionMessageParam[] | null;
  /** The system prompt of the main conversation. */
  systemPrompt(ctx: PolicyContext): string;
  /**
   * The user message(s) that open the main conversation, after the system prompt: the key frames, the
   * question, and the plan (`plan` null when there is none or it failed). Key frames are attached by the
   * policy as `image_url` parts (data URLs of `ctx.keyFrames[i].png`).
   */
  openingMessages(ctx: PolicyContext, plan: string | null): ChatCompletionMessageParam[];
  /**
   * Parse one reply of the main role.
   * @throws StepParseError (./parse.ts) naming what is wrong; the loop then calls {@link formatError}.
   */
  parseStep(ctx: PolicyContext, reply: string): ParsedStep;
  /** A parse failure as the history keeps it (assistant placeholder or raw reply, and the user reminder). */
  formatError(ctx: PolicyContext, reply: string, problem: string): Pick<HistoryTurn, 'assistant' | 'user'>;
  /** A successful step's assistant message as the history keeps it (raw reply, or re-rendered from the parse). */
  assistantMessage(ctx: PolicyContext, reply: string, parsed: ParsedStep): string;
  /** A failed cell's assistant message as the history keeps it (condensed); called for every status but `ok`. */
  condensedStep(ctx: PolicyContext, reply: string, parsed: ParsedStep, cell: CellResult): string;
  /**
   * The observation text after a cell (step is 1-based; the policy derives the last-step warning from `step`
   * and `ctx.maxSteps`). `omitted` counts images of this cell left out by the sample's image budget; `use` is the
   * loop's count of images attached by earlier steps.
   */
  observationText(ctx: PolicyContext, cell: CellResult, step: number, omitted: number, use?: ImageUse): string;
  /**
   * The observation of a step that ran no cell: its reply did not parse (`format`: a third message after the
   * format error's two) or its model call failed (`model`: the user message after {@link modelErrorMessage}).
   * null: no such message (default).
   */
  skippedObservation(ctx: PolicyContext, step: number, cause: SkipCause): string | null;
  /**
   * A model call that failed after the client's retries, as the history keeps it (an assistant placeholder): the
   * step is used and the sample goes on. null: a failed model call ends the sample (default).
   */
  modelErrorMessage(error: unknown): string | null;
  /**
   * Whether a failed cell's new variables may survive it, so the loop reads them from the kernel (as
   * `cell.variables`) before {@link rollbackOf}; when false the loop asks {@link rollbackOf} with none.
   */
  readsSurvivors(cell: CellResult): boolean;
  /** What happens to the variables a failed cell created; the loop deletes them in the kernel on `full`. */
  rollbackOf(cell: CellResult): Rollback;
  /** The cell's images that count against the image budget and may be attached (not on a `full` rollback). */
  shownImages(cell: CellResult): CellImage[];
  /**
   * The answer fallback's messages (a separate call, after the loop ended without an answer); an empty list
   * when the policy makes no such call (paper: no key frames).
   */
  fallbackMessages(ctx: PolicyContext, history: HistoryTurn[]): ChatCompletionMessageParam[];
  /** The answer in a fallback reply, or null. */
  fallbackAnswer(reply: string): string | null;
  /** The last resort when the fallback call failed, gave no answer or was not made: an answer read from the history, or null. */
  salvageAnswer(ctx: PolicyContext, history: HistoryTurn[]): string | null;
}

/**
 * The policy of a profile. Its text options (planner, parsing, observation, condensation, fallback) choose one
 * policy as a whole: all `paper` → {@link paperPolicy}, all default (`brief` planner) → {@link defaultPolicy}.
 * @throws ProfileConfigError for a mix (the two conversations' texts refer to each other).
 */
export function policyFor(profile: AgentProfile): LoopPolicy {
  const texts = { planner: profile.planner === 'brief' ? 'default' : profile.planner, parsing: profile.parsing, observation: profile.observation, condensation: profile.condensation, fallback: profile.fallback };
  const kinds = new Set(Object.values(texts));
  if (kinds.size > 1) {
    throw new ProfileConfigError(`profile ${profile.name} mixes the default and paper conversations (${JSON.stringify(texts)}); set all five to one of them`);
  }
  return kinds.has('paper') ? paperPolicy : defaultPolicy;
}

export type { AgentProfile };
