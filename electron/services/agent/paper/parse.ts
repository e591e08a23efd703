/**
 * Reply parsing of the `paper` profile (docs/paper-parity.md row 6): thinking stripped, four bold-header
 * sections that must all be present and non-empty, the code taken from the first fence of the Code section,
 * and the history re-rendered from the parse. The `tool_call` executor keeps this workbench's JSON tool call
 * (./../toolcall.ts) and is re-rendered as that call.
 */
import { type ParsedStep, StepParseError } from '../parse.ts';
import type { Executor } from '../prompt.ts';
import { toolCallToCode } from '../toolcall.ts';

/**
 * The reply without its thinking: every `<think>…</think>` block removed; then, if a `</think>` is left
 * (thinking that began before the text we got), everything up to and including the first one dropped.
 * When nothing is left, the raw text.
 */
export function stripThinking(text: string): string {
  let s = text.replace(/<think>[\s\S]*?<\/think>/g, '').trim();
  const close = s.indexOf('</think>');
  if (close >= 0) s = s.slice(close + '</think>'.length).trim();
  return s || text;
}

type SectionKey = keyof ParsedStep;

/** The four headers: bold, the asterisks outside the word (`**Purpose:**` and `## Purpose` do not match). */
const HEADERS: Record<SectionKey, string> = {
  purpose: String.raw`\*\*Purpose\*\*`,
  reasoning: String.raw`\*\*Reasoning\*\*`,
  next_goal: String.raw`\*\*Next[ _]Goal\*\*`,
  code: String.raw`\*\*Code\*\*`,
};
/** A section ends before the next of the four headers, or at the end of the reply. */
const SECTION_END = String.raw`(?=\*\*(?:Purpose|Reasoning|Next[ _]Goal|Code)\*\*|$)`;
const SECTION: Record<SectionKey, RegExp> = Object.fromEntries(
  Object.entries(HEADERS).map(([k, h]) => [k, new RegExp(`${h}[:\\s]*([\\s\\S]*?)${SECTION_END}`, 'i')]),
) as Record<SectionKey, RegExp>;
const ORDER: SectionKey[] = ['purpose', 'reasoning', 'next_goal', 'code'];
const TITLE: Record<SectionKey, string> = { purpose: 'Purpose', reasoning: 'Reasoning', next_goal: 'Next Goal', code: 'Code' };

/**
 * The code inside a Code section: the first fence (three backticks, an optional lower-case `python`, then
 * lazily to the next three backticks); without a closing fence everything after the opening one; without
 * any fence the whole section. `py` or `Python` after the backticks stay in the code.
 */
export function codeOfSection(value: string): string {
  const closed = /```(?:python)?\s*([\s\S]*?)\s*```/.exec(value);
  if (closed) return (closed[1] ?? '').trim();
  const open = /```(?:python)?\s*([\s\S]*)/.exec(value);
  return open ? (open[1] ?? '').trim() : value;
}

/**
 * Parse a reply of the four-section format. Each header's first occurrence counts, in any order.
 * @throws StepParseError when a section is missing (all four are required) or empty (the first empty one
 * in the order Purpose, Reasoning, Next Goal, Code is named).
 */
export function parseSections(reply: string): ParsedStep {
  const text = stripThinking(reply);
  const found: Partial<Record<SectionKey, string>> = {};
  for (const key of ORDER) {
    const m = SECTION[key].exec(text);
    if (m) found[key] = key === 'code' ? codeOfSection((m[1] ?? '').trim()) : (m[1] ?? '').trim();
  }
  if (ORDER.some((k) => found[k] === undefined)) {
    throw new StepParseError('the reply could not be parsed: it needs the four sections **Purpose**, **Reasoning**, **Next Goal** and **Code**');
  }
  for (const key of ORDER) {
    if (!found[key]?.trim()) throw new StepParseError(`the **${TITLE[key]}** section is empty`);
  }
  return { purpose: found.purpose!, reasoning: found.reasoning!, next_goal: found.next_goal!, code: found.code! };
}

/** A parsed step as the history keeps it: the four sections, single newlines, the code in a python fence. */
export function renderSections(p: Pick<ParsedStep, 'purpose' | 'reasoning' | 'next_goal'>, code: string): string {
  return `**Purpose**: ${p.purpose}\n**Reasoning**: ${p.reasoning}\n**Next Goal**: ${p.next_goal}\n**Code**:\n\`\`\`python\n${code}\n\`\`\``;
}

/** Parse one reply for the executor: the four sections (`code`, `single_pass`), or one JSON tool call (`tool_call`). */
export function parsePaperStep(executor: Executor, reply: string): ParsedStep {
  if (executor !== 'tool_call') return parseSections(reply);
  const { code } = toolCallToCode(stripThinking(reply));
  return { purpose: '', reasoning: '', next_goal: '', code };
}

/** A parsed reply as the history keeps it: re-rendered, so prose outside the sections and thinking are dropped. */
export function renderParsed(executor: Executor, reply: string, parsed: ParsedStep): string {
  if (executor !== 'tool_call') return renderSections(parsed, parsed.code);
  const { call } = toolCallToCode(stripThinking(reply));
  return `\`\`\`json\n${JSON.stringify(call)}\n\`\`\``;
}

/** The assistant placeholder of a reply that could not be parsed (the raw reply is not kept). */
export function formatErrorPlaceholder(problem: string): string {
  return `[Format Error] ${problem}`;
}

/** The assistant placeholder of a step whose model call failed (row 4). */
export function modelErrorPlaceholder(error: unknown): string {
  const e = error instanceof Error ? error : new Error(String(error));
  return `[LLM Error] the model call failed: ${e.name}: ${e.message}`;
}

/** The user message after a format error: re-read the format in the system prompt and try again. */
export function formatReminder(): string {
  return 'Look again at the reply format the system prompt requires, then send this step again.';
}
