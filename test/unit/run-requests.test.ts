/**
 * What model calls sent, in the run record: SampleWriter.recordRequest (messages.jsonl, request images by
 * content hash), the reader, the RunsService method, the image header reader and the client's params.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import { RunsService } from '../../electron/services/app/runs.ts';
import { ModelClient } from '../../electron/services/model/client.ts';
import { readSampleEvents, readSampleMessages } from '../../electron/services/runs/reader.ts';
import { RunWriter, type SampleWriter } from '../../electron/services/runs/writer.ts';
import { imageSize } from '../../shared/image.ts';
import { ModelConfigSchema } from '../../shared/model.ts';
import { ModelRequestSchema, RequestMessageSchema, type RunEvent, RunEventSchema, type SampleSpec } from '../../shared/run.ts';
import { METHODS } from '../../shared/workbench.ts';
import { ROOT } from '../helpers/cli.ts';
import { startScriptedModel } from '../helpers/scripted-model.ts';

const T = '2025-11-21T10:00:00.000Z';
const FRAME = readFileSync(join(ROOT, 'test', 'fixtures', 'rgbd_room', 'color', '1.png')); // 640x480
const ICON = readFileSync(join(ROOT, 'build', 'icons', 'icon.png')); // 512x512
/** A JPEG header (SOI, APP0, a fill byte, SOF0 of 320x200): all the writer reads of a JPEG. */
const JPEG = Buffer.from([
  0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
  0xff, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0xc8, 0x01, 0x40, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xd9,
]);

const url = (b: Buffer, mime = 'image/png') => `data:${mime};base64,${b.toString('base64')}`;
const img = (b: Buffer, mime?: string) => ({ type: 'image_url' as const, image_url: { url: url(b, mime) } });
const spec = (id: string): SampleSpec => ({ id, question: 'How far?', inputs: [{ kind: 'video', path: '/v.mp4' }] });
const callEvent = (request: unknown): RunEvent => RunEventSchema.parse({
  type: 'model_call', t: T, step: 1, role: 'main', endpoint: 'e', latency_ms: 1, attempts: 1, usage: { prompt_tokens: 1, completion_tokens: 1 },
  raw: 'r', reasoning: null, parsed: null, parse_error: null, request,
});
const newRun = () => RunWriter.create(join(mkdtempSync(join(tmpdir(), 'run-req-')), 'run'), { config: {}, versions: {}, total_samples: 2 });
const startSample = (w: RunWriter, id: string): SampleWriter => {
  const s = w.startSample(spec(id));
  s.event({ type: 'sample_start', t: T, step: 0, sample: spec(id), executor: 'code' });
  return s;
};
const lines = (path: string) => readFileSync(path, 'utf8').trimEnd().split('\n');
const jsonlFiles = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.jsonl')).map((f) => join(dir, f));

/** Step 1's request, and step 2's: the same history plus one turn with an image. */
const step1: ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You write Python cells.' },
  { role: 'user', content: [img(FRAME), img(ICON), img(FRAME), { type: 'text', text: 'How far did the camera move?' }] },
];
const step2: ChatCompletionMessageParam[] = [
  ...step1,
  { role: 'assistant', content: 'Code:\n```python\nshow(x)\n```' },
  { role: 'user', content: [{ type: 'text', text: 'Out: ok' }, img(ICON)] },
];

describe('imageSize', () => {
  it('reads PNG and JPEG headers, and nothing else', () => {
    expect(imageSize(FRAME)).toEqual({ type: 'png', width: 640, height: 480 });
    expect(imageSize(ICON)).toEqual({ type: 'png', width: 512, height: 512 });
    expect(imageSize(JPEG)).toEqual({ type: 'jpeg', width: 320, height: 200 });
    expect(imageSize(Buffer.from('GIF89a\x01\x00\x01\x00'))).toBeNull();
    expect(imageSize(FRAME.subarray(0, 20))).toBeNull();
    expect(imageSize(JPEG.subarray(0, 24))).toBeNull();
  });
});

describe('SampleWriter.recordRequest', () => {
  it('writes each message and each image once across calls that share their history, never base64', async () => {
    const w = await newRun();
    const s = startSample(w, 'q1');
    const r1 = s.recordRequest(step1, { model: 'm', max_tokens: 64, temperature: 0 });
    const r2 = s.recordRequest(step2, { model: 'm', max_tokens: 64, temperature: 0 });
    s.event(callEvent(r1));
    s.event(callEvent(r2));
    await s.finish({
      id: 'q1', question: 'How far?', answer: null, answer_source: 'none', ground_truth: null, score: null, question_type: null, termination: 'max_steps',
      steps: 1, parse_failures: 0, usage: { prompt_tokens: 2, completion_tokens: 2 }, model_calls: 2, duration_s: 1, error: null, started_at: T, finished_at: T,
    });
    await w.finish('finished');

    // The requests: ids in order (step 2 starts with step 1's), params, counts.
    expect(ModelRequestSchema.parse(r1)).toEqual(r1);
    expect(r2.messages.slice(0, 2)).toEqual(r1.messages);
    expect(r2.messages).toHaveLength(4);
    expect(r1).toMatchObject({ params: { model: 'm', max_tokens: 64, temperature: 0 }, images: 3, text_chars: 'You write Python cells.'.length + 'How far did the camera move?'.length });
    expect(r2.images).toBe(4);

    // messages.jsonl: each of the 4 distinct messages once, valid, ids = sha256 of role and parts.
    const dir = join(w.dir, 'samples', 'q1');
    const written = lines(join(dir, 'messages.jsonl')).map((l) => RequestMessageSchema.parse(JSON.parse(l)));
    expect(written.map((m) => m.id)).toEqual(r2.messages);
    for (const m of written) expect(m.id).toBe(createHash('sha256').update(JSON.stringify({ role: m.role, parts: m.parts })).digest('hex').slice(0, 16));
    expect(written[0]).toMatchObject({ role: 'system', parts: [{ type: 'text', text: 'You write Python cells.' }] });

    // Images: two files (the frame and the icon), by content hash, with their sizes.
    const hash = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);
    const framePart = { type: 'image', path: `images/req-${hash(FRAME)}.png`, width: 640, height: 480, bytes: FRAME.length };
    const iconPart = { type: 'image', path: `images/req-${hash(ICON)}.png`, width: 512, height: 512, bytes: ICON.length };
    expect(written[1]!.parts).toEqual([framePart, iconPart, framePart, { type: 'text', text: 'How far did the camera move?' }]);
    expect(written[3]!.parts).toEqual([{ type: 'text', text: 'Out: ok' }, iconPart]);
    expect(readdirSync(join(dir, 'images')).sort()).toEqual([`req-${hash(FRAME)}.png`, `req-${hash(ICON)}.png`].sort());
    expect(readFileSync(join(dir, framePart.path)).equals(FRAME)).toBe(true);

    // No base64 in any .jsonl file; the events carry the requests and read back; the reader resolves them.
    for (const f of jsonlFiles(w.dir)) {
      const text = readFileSync(f, 'utf8');
      expect(text).not.toContain('base64');
      expect(text).not.toContain(FRAME.subarray(100, 400).toString('base64'));
    }
    const events = readSampleEvents(w.dir, 'q1').filter((e) => e.type === 'model_call');
    expect(events.map((e) => e.type === 'model_call' && e.request)).toEqual([r1, r2]);
    const byId = readSampleMessages(w.dir, 'q1');
    expect(r2.messages.map((id) => byId.get(id))).toEqual(written);
  });

  it('keeps JPEG images as .jpg, and refuses what the record cannot hold, naming the message and part', async () => {
    const w = await newRun();
    const s = startSample(w, 'q1');
    const r = s.recordRequest([{ role: 'user', content: [img(JPEG, 'image/jpeg')] }], {});
    const [m] = [...readSampleMessages(w.dir, 'q1').values()];
    expect(m!.parts).toEqual([{ type: 'image', path: expect.stringMatching(/^images\/req-[0-9a-f]{16}\.jpg$/), width: 320, height: 200, bytes: JPEG.length }]);
    expect(r.images).toBe(1);
    const one = (content: unknown) => () => s.recordRequest([{ role: 'user', content } as ChatCompletionMessageParam], {});
    expect(one([{ type: 'text', text: 'a' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }])).toThrow(/message 1, part 2: only base64 data:image URLs/);
    expect(one([img(Buffer.from('GIF89a\x01\x00\x01\x00'), 'image/gif')])).toThrow(/message 1, part 1: the image is neither a PNG nor a JPEG/);
    expect(one([img(Buffer.alloc(0))])).toThrow(/neither a PNG nor a JPEG/);
    // A JPEG labelled PNG is kept as the JPEG it is.
    expect(s.recordRequest([{ role: 'user', content: [img(JPEG)] }], {}).messages).toEqual(r.messages);
    expect(one([{ type: 'image_url', image_url: { url: url(FRAME), detail: 'high' } }])).toThrow(/message 1, part 1, image_url: detail cannot be recorded/);
    expect(one([{ type: 'input_audio', input_audio: { data: '', format: 'wav' } }])).toThrow(/input_audio parts cannot be recorded/);
    expect(() => s.recordRequest([{ role: 'tool', content: 'x', tool_call_id: '1' }], {})).toThrow(/message 1: role tool cannot be recorded/);
    expect(() => s.writeImage('req-0000000000000000.png', FRAME)).toThrow(/req- are for request images/);
    s.abort();
    await w.finish('interrupted');
  });

  it('survives resume: the unfinished attempt keeps its messages, the redone sample writes its own', async () => {
    const w = await newRun();
    const s = startSample(w, 'q1');
    const first = s.recordRequest(step1, {});
    s.event(callEvent(first));
    await w.finish('interrupted'); // a crash: q1 unfinished
    const r = await RunWriter.resume(w.dir);
    expect(r.recovery.movedAside).toEqual(['q1']);
    const attempt = join(w.dir, 'attempts', 'q1', '1');
    expect(lines(join(attempt, 'messages.jsonl'))).toHaveLength(2);
    expect(readdirSync(join(attempt, 'images'))).toHaveLength(2);

    const again = startSample(r, 'q1');
    const req = again.recordRequest(step2, {});
    again.event(callEvent(req));
    const dir = join(w.dir, 'samples', 'q1');
    expect(lines(join(dir, 'messages.jsonl'))).toHaveLength(4); // step 1's messages again: a fresh folder
    expect(readdirSync(join(dir, 'images'))).toHaveLength(2);
    expect(req.messages.slice(0, 2)).toEqual(first.messages);
    const byId = readSampleMessages(w.dir, 'q1');
    expect(req.messages.every((id) => byId.has(id))).toBe(true);
    again.abort();
    await r.finish('interrupted');
  });
});

describe('reading requests back', () => {
  it('resolves ids in order through the RunsService, skips a torn line, and names missing ids', async () => {
    const w = await newRun();
    const s = startSample(w, 'q1');
    const req = s.recordRequest(step2, {});
    s.abort();
    await w.finish('interrupted');
    const root = join(w.dir, '..');
    const runs = new RunsService(root, () => false);
    const got = runs.requestMessages('run', 'q1', [req.messages[1]!, req.messages[0]!, req.messages[1]!]);
    expect(got.messages.map((m) => m.id)).toEqual([req.messages[1], req.messages[0], req.messages[1]]);
    const image = got.messages[0]!.parts[0]!;
    expect(image.type === 'image' && Buffer.from(runs.image('run', 'q1', image.path)).equals(FRAME)).toBe(true);
    expect(() => runs.requestMessages('run', 'q1', ['0123456789abcdef'])).toThrow(/has no recorded message 0123456789abcdef/);

    appendFileSync(join(w.dir, 'samples', 'q1', 'messages.jsonl'), '{"id":"ffff');
    expect(readSampleMessages(w.dir, 'q1').size).toBe(4);
    expect(readSampleMessages(w.dir, 'nope').size).toBe(0); // no file: a run recorded before requests were kept

    const args = (path: string) => METHODS.sampleImage.args.safeParse({ run_id: 'run', sample_id: 'q1', path }).success;
    expect(args('images/req-0123456789abcdef.jpg')).toBe(true);
    expect(args('images/req-0123456789abcdef.png')).toBe(true);
    expect(args('images/../run.json')).toBe(false);
    expect(args('images/x.gif')).toBe(false);
    expect(METHODS.requestMessages.args.safeParse({ run_id: 'run', sample_id: 'q1', messages: ['../x'] }).success).toBe(false);
  });
});

describe('ModelClient: what was sent', () => {
  it('reports the request body besides the messages, with secret-looking values redacted', async () => {
    const model = await startScriptedModel(['hello']);
    try {
      const cfg = ModelConfigSchema.parse({ name: 'm', base_url: model.url, max_tokens: 77, roles: { main: { temperature: 0.2 } }, extra_body: { top_k: 5, api_token: 'tok-value-123456' } });
      const r = await new ModelClient(cfg).chat({ role: 'main', messages: [{ role: 'user', content: 'hi' }] });
      const { messages, ...body } = model.requests[0]!.body;
      expect(messages).toEqual([{ role: 'user', content: 'hi' }]);
      expect(r.sent?.params).toEqual({ ...body, api_token: '[redacted]' });
      expect(body).toMatchObject({ model: 'm', max_tokens: 77, temperature: 0.2, top_k: 5, stream: false, api_token: 'tok-value-123456' });
    } finally {
      await model.close();
    }
  });
});
