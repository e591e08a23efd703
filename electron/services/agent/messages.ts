/**
 * The main role's request at each step: the system prompt, the policy's opening messages (key frames, question,
 * plan), then every finished step of the history. With a per-request image cap (default profile) older
 * observation images are replaced by a text placeholder; without one (paper profile) nothing is ever pruned.
 */
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { CellImage } from '../../../shared/kernel.ts';
import type { HistoryTurn } from './policy.ts';

const dataUrl = (png: string): string => `data:image/png;base64,${png}`;

/** Image parts in the messages. */
export function imageCount(messages: ChatCompletionMessageParam[]): number {
  let n = 0;
  for (const m of messages) if (Array.isArray(m.content)) for (const p of m.content) if (p.type === 'image_url') n++;
  return n;
}

/**
 * The request. With `perRequest` set, it carries at most that many images: those of the opening messages (the
 * caller keeps the key frames within perRequest − observation slots), then observation images newest first, so the
 * latest observation's images always come before any older one; images that do not fit become a short text
 * placeholder. With `perRequest` null every image is sent.
 */
export function buildMessages(system: string, opening: ChatCompletionMessageParam[], turns: HistoryTurn[], perRequest: number | null): ChatCompletionMessageParam[] {
  let allowed: Set<CellImage> | null = null;
  if (perRequest !== null) {
    allowed = new Set<CellImage>();
    let room = perRequest - imageCount(opening);
    for (let i = turns.length - 1; i >= 0 && room > 0; i--) {
      for (const im of turns[i]!.images) {
        if (room <= 0) break;
        allowed.add(im);
        room--;
      }
    }
  }
  const messages: ChatCompletionMessageParam[] = [{ role: 'system', content: system }, ...opening];
  for (const t of turns) {
    messages.push({ role: 'assistant', content: t.assistant });
    const parts: ChatCompletionContentPart[] = [{ type: 'text', text: t.user }];
    for (const im of t.images) {
      if ((allowed === null || allowed.has(im)) && im.png) parts.push({ type: 'image_url', image_url: { url: dataUrl(im.png) } });
      else if (perRequest !== null) parts.push({ type: 'text', text: `[image "${im.label ?? im.index}" omitted to stay within ${perRequest} images per request]` });
      else parts.push({ type: 'text', text: `[image "${im.label ?? im.index}" has no pixels]` });
    }
    messages.push({ role: 'user', content: parts });
    if (t.skipped !== undefined) messages.push({ role: 'user', content: t.skipped });
  }
  return messages;
}
