/**
 * What an agent profile changes in the loop's conversation with the model: the prompts, how a reply is
 * parsed, how steps enter the history, what an observation says, and the answer fallback. The loop
 * (loop.ts) owns the control flow (steps, budgets, termination, recording) and asks its policy for every
 * text the model reads. Two policies implement this interface: `defaultPolicy` (this workbench's loop,
 * ./default-policy.ts) and `paperPolicy` (the published SpatialClaw loop, ./paper/, specified in
 * docs/paper-parity.md). `policyFor(profile)` picks one.
 *
 * Every method is pure (no I/O): easy to test on the exact text the model receives.
 */
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { CellImage, CellResult } from '../../../shared/kernel.ts';
import type { AgentProfile } from '../../../shared/profiles.ts';
import type { SampleSpec } from '../../../shared/run.ts';
import type { ParsedStep } from './parse.ts';
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
  /** The key frames the first message carries (labels, absolute frame indices, sizes, PNG). */
  keyFrames: CellImage[];
  profile: AgentProfile;
}

/** One finished step as the history keeps it. */
export interface HistoryTurn {
  /** The assistant message as the history shows it (raw reply, re-rendered, or condensed). */
  assistant: string;
  /** The user message that follows (observation text, or a format reminder). */
  user: string;
  /** Observation images attached to `user`. */
  images: CellImage[];
}

export interface LoopPolicy {
  /** The planner's messages (no images unless the policy sends them); null: this policy has no planner. */
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
  /** A failed cell's assistant message as the history keeps it (condensed). */
  condensedStep(ctx: PolicyContext, reply: string, parsed: ParsedStep, cell: CellResult): string;
  /**
   * The observation text after a cell (step is 1-based; `lastStep` when only one step remains after this
   * one). `omitted` counts images of this cell left out by the sample's image budget.
   */
  observationText(ctx: PolicyContext, cell: CellResult, step: number, omitted: number): string;
  /** The answer fallback's messages (a separate call, after the loop ended without an answer). */
  fallbackMessages(ctx: PolicyContext, history: HistoryTurn[]): ChatCompletionMessageParam[];
  /** The answer in a fallback reply, or null. */
  fallbackAnswer(reply: string): string | null;
}

export type { AgentProfile };
