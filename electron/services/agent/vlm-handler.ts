/**
 * The VLM handler of a run: answers the kernel's `vlm.*` calls (through the VLM bridge, electron/services/kernel/
 * bridge.ts) with the run's model.
 *
 * - default profile: `vlm.ask` (the question after the images) and `vlm.locate` (asked for JSON points), role `vlm`,
 *   no system prompt;
 * - paper profile (docs/paper-parity.md row 13): `vlm.locate` and `vlm.ask_with_thinking`, each an isolated
 *   request — its own system prompt ({@link LOCATE_SYSTEM}, {@link THINKING_SYSTEM}), then one user message with
 *   the images followed by the question as the kernel sent it (for locate, after the kernel's presence check) —
 *   with roles `locate` (which falls back to `vlm`'s parameters) and `vlm`.
 *
 * Every answer says what was sent, for the run record. The prompts are this project's wording of the published
 * agent's prompts: the same structure and information, not its text.
 */
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { Role } from '../../../shared/model.ts';
import { PAPER_CALLS, type PaperCall, parsePoints, type VlmHandler } from '../kernel/bridge.ts';
import type { ModelLike } from './loop.ts';

/** System prompt of the paper profile's `vlm.locate` (grounding, with the right to refuse). */
export const LOCATE_SYSTEM = `You locate things in images. You receive one or more images and a request, usually for the coordinates of an object, an annotation or a marker.

A request takes for granted that its target is in the images, and that can be false: the target may be in another frame, missing altogether, or impossible to tell apart from similar things. So check that it is there before you answer.

Work in three steps:
1. Pin down exactly what the request describes: the object, the colour and shape of an annotation, the marker.
2. Look at the images and decide which case holds:
   a. PRESENT: the described thing is clearly visible, and only one thing fits.
   b. ABSENT: nothing in the images fits the description.
   c. AMBIGUOUS: several things fit, or you cannot tell whether one does.
3. Answer according to the case:
   - PRESENT: do exactly what the request asks (when it wants only numbers, give only the coordinates, on a 0-1000 scale).
   - ABSENT or AMBIGUOUS: reply with \`Not visible\` on a line of its own; you may add one short line on what you see instead. Give no coordinates.

Saying \`Not visible\` is a correct and expected answer. Coordinates of something merely similar (an annotation of another colour, a different object next to the target) are a hallucination and count as wrong: refuse instead.

Examples:
- The image has a red circle drawn around a white box; the request asks for the GREEN circle. Reply: \`Not visible\` (only a red annotation is there).
- The same image; the request asks for the object inside the RED circle. Reply: \`834 357\`.
- The image has two green objects that stand out equally; the request asks for "the green object". Reply: \`Not visible\` and the line \`Two green objects fit; it is unclear which one is meant.\`

When you answer (not when you refuse):
- Coordinates are on a 0-1000 scale over the image's width and height.
- Give only the numbers when the request says so.
- For images with segmentation overlays, judge whether each mask covers the object it should and say what is wrong.
- For plots and charts, read off the values, the trends and anything notable.`;

/** System prompt of the paper profile's `vlm.ask_with_thinking` (visual reasoning over up to 64 frames). */
export const THINKING_SYSTEM = `You reason about images. You receive one or more images (at most 64 frames from one source, often a video) and a question that needs their visual content.

Rules:
- Base every statement on what the images actually show; add nothing you cannot see.
- If the question refers to frame indices, refer to them in your answer too.
- Think the frames through before answering, then keep the final answer short and precise.
- If the images are not enough to answer, reply "Cannot determine from the images." and add one short line on what is missing or unclear.
- Use nothing beyond these images and this question; every call stands on its own.`;

const SYSTEM: Record<PaperCall, string> = { paper_locate: LOCATE_SYSTEM, ask_with_thinking: THINKING_SYSTEM };

const imagePart = (png: Buffer): ChatCompletionContentPart => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } });

/** A handler that answers the kernel's `vlm.*` calls with `model` (both profiles' calls); each answer says what was sent. */
export function modelVlmHandler(model: ModelLike): VlmHandler {
  const chat = async (role: Role, images: Buffer[], text: string, system?: string) => {
    const messages: ChatCompletionMessageParam[] = [
      ...(system === undefined ? [] : [{ role: 'system' as const, content: system }]),
      { role: 'user', content: [...images.map(imagePart), { type: 'text', text }] },
    ];
    const r = await model.chat({ role, messages });
    return { text: r.content, usage: r.usage, sent: { messages, params: r.sent?.params ?? {} } };
  };
  return {
    ask: (images, question) => chat('vlm', images, question),
    locate: async (images, target) => {
      const r = await chat('vlm', images, `Locate: ${target}\nAnswer only with JSON {"points": [[x, y], ...]}, x and y normalised to 0-1000 over the image (0,0 = top-left).`);
      return { ...r, points: parsePoints(r.text) };
    },
    paper: (call, images, question) => chat(PAPER_CALLS[call].role, images, question, SYSTEM[call]),
  };
}
