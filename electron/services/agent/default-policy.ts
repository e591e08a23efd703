/**
 * `defaultPolicy`: this workbench's conversation with the model, as a {@link LoopPolicy}. Its texts live in
 * ./prompt.ts (prompts), ./parse.ts (reply parsing, condensation, the fallback's answer) and
 * ../kernel/observation.ts (the observation); this file only puts them in their places:
 *
 * - planner: one short user message, no system prompt; the plan is pasted into the first user message;
 * - first message: the key frames, then one text (key-frame labels, bound inputs, question, plan);
 * - history: the raw reply (thinking removed by the model client); a parse failure keeps the raw reply and adds a
 *   reminder naming the problem; a failed cell with an exception is condensed to the code up to the failing line;
 * - observation: `buildObservation`, a note when the image budget left images out, the last-step warning;
 * - no rollback, every image of a cell counts; a failed model call ends the sample;
 * - fallback: the key frames, the question and the last three observations; the last `\boxed{}` (or an
 *   "Answer:" line, or the last line).
 */
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { CellImage } from '../../../shared/kernel.ts';
import { buildObservation } from '../kernel/observation.ts';
import { condenseFailedCode, type ParsedStep, parseFinalAnswer, parseStep } from './parse.ts';
import type { LoopPolicy } from './policy.ts';
import { directAnswerPrompt, type Executor, firstUserText, formatReminder, LAST_STEP_WARNING, plannerPrompt, systemPrompt } from './prompt.ts';
import { toolCallToCode } from './toolcall.ts';

const imagePart = (im: CellImage): ChatCompletionContentPart => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${im.png ?? ''}` } });

/** A `tool_call` reply as a step: the translated call is the code. */
function toolStep(content: string): ParsedStep {
  const { code } = toolCallToCode(content);
  return { purpose: '', reasoning: '', next_goal: '', code };
}

/** A failed step as the model will see it in its history. */
function renderStep(p: ParsedStep, code: string, executor: Executor): string {
  if (executor === 'tool_call') return `\`\`\`python\n${code}\n\`\`\``;
  return `Purpose: ${p.purpose}\nReasoning: ${p.reasoning}\nNext Goal: ${p.next_goal}\nCode:\n\`\`\`python\n${code}\n\`\`\``;
}

export const defaultPolicy: LoopPolicy = {
  plannerMessages: (ctx) => (ctx.executor === 'single_pass' ? null : [{ role: 'user', content: plannerPrompt(ctx.sample, ctx.inputSummary) }]),
  systemPrompt: (ctx) => systemPrompt(ctx.apiDoc, ctx.executor, ctx.maxSteps),
  openingMessages: (ctx, plan): ChatCompletionMessageParam[] => [{
    role: 'user',
    content: [
      ...ctx.keyFrames.map(imagePart),
      { type: 'text', text: firstUserText(ctx.sample, ctx.inputSummary, plan, ctx.keyFrames.map((k) => k.label ?? 'frame')) },
    ],
  }],
  parseStep: (ctx, reply) => (ctx.executor === 'tool_call' ? toolStep(reply) : parseStep(reply)),
  formatError: (ctx, reply, problem) => ({ assistant: reply, user: formatReminder(ctx.executor, problem) }),
  assistantMessage: (_ctx, reply) => reply,
  condensedStep: (ctx, reply, parsed, cell) =>
    cell.error ? renderStep(parsed, condenseFailedCode(parsed.code, cell.error.lineno, `${cell.error.ename}: ${cell.error.evalue}`), ctx.executor) : reply,
  observationText: (ctx, cell, step, omitted) => {
    let text = buildObservation(cell).text;
    if (omitted > 0) text += `\nNote: ${omitted} image(s) not attached: the image budget of ${ctx.profile.image_budget} per question is used up.`;
    if (step === ctx.maxSteps - 1) text += `\n${LAST_STEP_WARNING}`;
    return text;
  },
  skippedObservation: () => null,
  modelErrorMessage: () => null,
  readsSurvivors: () => false,
  rollbackOf: () => 'none',
  shownImages: (cell) => cell.images,
  fallbackMessages: (ctx, history) => {
    const findings = history.slice(-3).map((t) => t.user).join('\n---\n').slice(-4000);
    return [{ role: 'user', content: [...ctx.keyFrames.map(imagePart), { type: 'text', text: directAnswerPrompt(ctx.sample, findings) }] }];
  },
  fallbackAnswer: parseFinalAnswer,
  salvageAnswer: () => null,
};
