/**
 * The `paper` answer fallback (docs/paper-parity.md row 12): after a loop that ended without an answer, a
 * fresh chain-of-thought call (its own system prompt, every key frame, the instruction and a \boxed{} request;
 * no plan, history or observations); the answer is the first \boxed{…} without a closing brace inside, else the
 * whole reply. If that call fails or gives nothing, a regex salvage over what the history shows.
 */
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { HistoryTurn, PolicyContext } from '../policy.ts';
import { withoutFences } from '../parse.ts';
import { stripThinking } from './parse.ts';
import { imagePart } from './prompts.ts';
import { instructionText } from './session.ts';

/** The fallback's system prompt (our wording of the original's). */
export const FALLBACK_SYSTEM_PROMPT = `You are an expert in visual and spatial reasoning.

The input is a set of images, usually frames of a video, with a question about where things are, how they move,
their geometry or the scene.

**What to do:**
1. Look carefully at EVERY image.
2. Work out, step by step, whatever the question hinges on: positions, motion, distances, orientations.
3. When you have reasoned it through, put your final answer inside \\boxed{}:
   - multiple choice: \\boxed{C}
   - a number: \\boxed{2.4}
   - a word or a phrase: \\boxed{next to the door}

Keep in mind:
- The frames are in temporal order (earlier frames first).
- Watch the camera's motion, the objects' motion and the spatial layout.
- In a video, follow how objects and the scene evolve from frame to frame.
- Answer ONLY from what the images show.`;

/** Appended to the instruction after a blank line. */
export const FALLBACK_SUFFIX = 'Reason it out step by step and end with your final answer in \\boxed{}.';

/** The fallback's messages; none (an empty list: no call) when there are no key frames, as in the original. */
export function fallbackMessages(ctx: PolicyContext, _history: HistoryTurn[]): ChatCompletionMessageParam[] {
  if (!ctx.keyFrames.length) return [];
  return [
    { role: 'system', content: FALLBACK_SYSTEM_PROMPT },
    { role: 'user', content: [...ctx.keyFrames.map(imagePart), { type: 'text', text: `${instructionText(ctx.sample)}\n\n${FALLBACK_SUFFIX}` }] },
  ];
}

/**
 * The first `\boxed{…}` (no closing brace inside), stripped; else the whole reply without thinking; null if that
 * is empty or only code-fence markers (a reply of just "```" gives no answer).
 */
export function fallbackAnswer(reply: string): string | null {
  const text = stripThinking(reply);
  const boxed = /\\boxed\{([^}]+)\}/.exec(text)?.[1]?.trim();
  if (boxed && /[^`~]/.test(boxed)) return boxed;
  return /[^\s`~]/.test(withoutFences(text)) ? text.trim() : null;
}

/** Variable lines of the observations' `[Variables]` blocks, in order: `name: facts`. */
function variableLines(history: HistoryTurn[]): [name: string, facts: string][] {
  const out: [string, string][] = [];
  for (const t of history) {
    let inBlock = false;
    for (const line of t.user.split('\n')) {
      if (line.startsWith('[Variables]')) inBlock = true;
      else if (!line.startsWith('  ')) inBlock = false;
      const m = inBlock ? /^ {2}([A-Za-z_]\w*): (.*)$/.exec(line) : null;
      if (m) out.push([m[1]!, m[2]!]);
    }
  }
  return out;
}

/**
 * The last resort when the fallback call fails (row 12, step 3): a variable whose name contains "answer" or
 * "result" (`name = <its facts>`); else, over the last 10 messages of the history, newest first, a letter after
 * "answer is" / "choice:" or inside `ReturnAnswer("X")`. Null when nothing matches.
 */
export function salvageAnswer(history: HistoryTurn[]): string | null {
  const named = variableLines(history).find(([name]) => /answer|result/i.test(name));
  if (named) return `${named[0]} = ${named[1]}`;
  const messages = history.flatMap((t) => [t.assistant, t.user, ...(t.skipped !== undefined ? [t.skipped] : [])]).slice(-10).reverse();
  for (const content of messages) {
    const said = /(?:answer|choice)\s*(?:is|:)\s*([A-Z])\b/i.exec(content);
    if (said) return said[1]!.toUpperCase();
    const called = /ReturnAnswer\(["']([A-Z])["']\)/.exec(content);
    if (called) return called[1]!.toUpperCase();
  }
  return null;
}
