/**
 * What a model call sent, in the form the run record keeps it (docs/run-format.md, "messages.jsonl"):
 * OpenAI chat messages become RequestMessages, whose image parts point at files written once by
 * content hash (`images/req-<hash>.png|.jpg`) and whose id is the hash of their role and parts. The
 * SampleWriter (./writer.ts) writes them; this module only converts and hashes.
 */
import { createHash } from 'node:crypto';
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { imageSize } from '../../../shared/image.ts';
import type { ModelRequest, RequestMessage, RequestPart } from '../../../shared/run.ts';

export type ImagePart = Extract<RequestPart, { type: 'image' }>;

/** An image of a request, decoded from its data URL. */
export interface RequestImage {
  bytes: Buffer;
  /** `req-<16 hex digits of the sha256 of the bytes>.png` (or `.jpg`): the file name in images/. */
  name: string;
  width: number;
  height: number;
}

/** The first 16 hex digits of the sha256 of `data`. */
export const hash16 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex').slice(0, 16);

/** A message's id: the first 16 hex digits of the sha256 of `JSON.stringify({role, parts})`. */
export const messageId = (role: RequestMessage['role'], parts: RequestPart[]): string => hash16(JSON.stringify({ role, parts }));

const DATA_URL_RE = /^data:image\/[A-Za-z0-9.+-]+;base64,/;

/**
 * The image of an `image_url` part. Its type and size are read from the bytes (a PNG labelled JPEG is kept
 * as the PNG it is).
 * @throws Error naming `where` for a URL that is not a base64 image data URL, or whose bytes are neither
 *   a PNG nor a JPEG with a readable header.
 */
export function decodeImageUrl(url: string, where: string): RequestImage {
  const m = DATA_URL_RE.exec(url);
  if (!m) throw new Error(`${where}: only base64 data:image URLs can be recorded, got ${JSON.stringify(url.slice(0, 32))}`);
  const bytes = Buffer.from(url.slice(m[0].length), 'base64');
  const size = imageSize(bytes);
  if (!size || size.width === 0 || size.height === 0) throw new Error(`${where}: the image is neither a PNG nor a JPEG with a readable header`);
  return { bytes, name: `req-${hash16(bytes)}.${size.type === 'png' ? 'png' : 'jpg'}`, width: size.width, height: size.height };
}

/** @throws Error naming `where` when `o` has keys besides `allowed` (they would be sent but not recorded). */
function onlyKeys(o: object, allowed: string[], where: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length) throw new Error(`${where}: ${extra.join(', ')} cannot be recorded`);
}

function toPart(p: ChatCompletionContentPart | { type: string }, where: string, image: (img: RequestImage) => ImagePart): RequestPart {
  if (p.type === 'text' && 'text' in p) {
    onlyKeys(p, ['type', 'text'], where);
    return { type: 'text', text: p.text };
  }
  if (p.type === 'image_url' && 'image_url' in p) {
    onlyKeys(p, ['type', 'image_url'], where);
    onlyKeys(p.image_url, ['url'], `${where}, image_url`);
    return image(decodeImageUrl(p.image_url.url, where));
  }
  throw new Error(`${where}: ${p.type} parts cannot be recorded`);
}

/**
 * OpenAI chat messages as RequestMessages. String content is one text part; `image_url` parts become
 * image parts through `image` (which stores the bytes and returns the part).
 * @throws Error naming the message and part for what the record cannot hold: roles other than system,
 *   user and assistant, fields besides role and content, parts other than text and image_url, and image
 *   URLs other than PNG/JPEG data URLs.
 */
export function toRequestMessages(messages: ChatCompletionMessageParam[], image: (img: RequestImage) => ImagePart): RequestMessage[] {
  return messages.map((m, i) => {
    const where = `message ${i + 1}`;
    if (m.role !== 'system' && m.role !== 'user' && m.role !== 'assistant') throw new Error(`${where}: role ${m.role} cannot be recorded`);
    onlyKeys(m, ['role', 'content'], where);
    const content = m.content ?? [];
    const parts = typeof content === 'string'
      ? [{ type: 'text' as const, text: content }]
      : content.map((p, k) => toPart(p, `${where}, part ${k + 1}`, image));
    return { id: messageId(m.role, parts), role: m.role, parts };
  });
}

/** The `request` of a model_call event: message ids in order, params, and counts over the parts. */
export function modelRequest(messages: RequestMessage[], params: Record<string, unknown>): ModelRequest {
  let images = 0;
  let textChars = 0;
  for (const m of messages) for (const p of m.parts) if (p.type === 'text') textChars += p.text.length; else images++;
  return { messages: messages.map((m) => m.id), params, images, text_chars: textChars };
}
