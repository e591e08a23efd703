/**
 * What the run records as sent is what the model received: one real sample (`spatialclaw ask`, real kernel,
 * the bundled RGB-D sample) with the scripted model, whose server records every HTTP request. For every
 * model call (planner, main steps, a `vlm.ask` through the VLM bridge, the answer fallback) the request
 * recorded in the run (messages.jsonl, request images, params), read back through the workbench's
 * RunsService, must be exactly the body that HTTP request carried: same messages in the same order, same
 * texts, same image bytes, same parameters.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RunsService } from '../../electron/services/app/runs.ts';
import { imageSize } from '../../shared/image.ts';
import { type RunEvent, RunEventSchema } from '../../shared/run.ts';
import { spatialclaw } from '../helpers/cli.ts';
import { ROOM, step } from '../helpers/rgbd-script.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

/** An image by its bytes: length and sha256 (a failing comparison then diffs in a moment, unlike megabytes of Buffers). */
type Bytes = { type: 'image'; length: number; sha256: string };
type Sent = { role: string; parts: ({ type: 'text'; text: string } | Bytes)[] };
type WirePart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

const bytesOf = (b: Buffer): Bytes => ({ type: 'image', length: b.length, sha256: createHash('sha256').update(b).digest('hex') });

/** The messages of an HTTP request body: texts, and the decoded bytes of each image. */
function received(body: Record<string, unknown>): Sent[] {
  return (body['messages'] as { role: string; content: string | WirePart[] }[]).map((m) => ({
    role: m.role,
    parts: (typeof m.content === 'string' ? [{ type: 'text' as const, text: m.content }] : m.content).map((p) =>
      p.type === 'text' ? { type: 'text' as const, text: p.text } : bytesOf(Buffer.from(p.image_url.url.split(',')[1]!, 'base64')),
    ),
  }));
}

describe('the recorded requests are what the model received', () => {
  let model: ScriptedModelServer | null = null;
  afterEach(async () => {
    await model?.close();
    model = null;
  });

  it('for the planner, every step, a VLM bridge call and the answer fallback', async () => {
    model = await startScriptedModelServer({
      script: {
        q1: [
          '1. Look at a frame and ask about it. 2. Answer.',
          step('look and ask', 'show(InputImages[0], label="first")\nprint(vlm.ask([InputImages[1]], "What room is this?"))', 'the model should see it.'),
          step('keep looking', 'print("still looking")', 'one more look.'),
          'The answer is \\boxed{2.1}',
        ],
      },
      // The bridge's calls carry no sample id: they get the default script.
      default: ['A living room.'],
      whenExhausted: 'error',
    });
    const out = mkdtempSync(join(tmpdir(), 'run-sent-'));
    const r = await spatialclaw(['ask', '--input', ROOM, '--question', 'How far did the camera move, in metres?', '--max-steps', '2',
      '--model', 'scripted-vlm', '--base-url', model.url, '--out', out], {}, 240_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);

    const events = readFileSync(join(out, 'samples', 'q1', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => RunEventSchema.parse(JSON.parse(l)));
    const calls = events.filter((e): e is Extract<RunEvent, { type: 'model_call' }> => e.type === 'model_call');
    expect(calls.map((c) => c.role)).toEqual(['planner', 'main', 'vlm', 'main', 'fallback']);
    // In arrival order: the planner, step 1, the bridge call made from step 1's cell, step 2, the fallback.
    expect(model.requests).toHaveLength(calls.length);
    expect(calls[2]!.parsed).toMatchObject({ kind: 'ask', prompt: 'What room is this?' });

    const runs = new RunsService(dirname(out), () => false);
    const sampleDir = join(out, 'samples', 'q1');
    for (const [i, call] of calls.entries()) {
      const http = model.requests[i]!;
      const what = `${call.role} call (model call ${i + 1})`;
      expect(call.request, what).toBeDefined();
      const request = call.request!;
      const { messages: _messages, ...params } = http.body;
      expect(request.params, what).toEqual(params);

      // The recorded messages, resolved through the workbench method, with the images read from their files.
      const recorded = runs.requestMessages(basename(out), 'q1', request.messages).messages;
      const sent: Sent[] = recorded.map((m) => ({
        role: m.role,
        parts: m.parts.map((p) => {
          if (p.type === 'text') return p;
          const bytes = readFileSync(join(sampleDir, p.path));
          expect(p.path, what).toMatch(/^images\/req-[0-9a-f]{16}\.png$/);
          const size = imageSize(bytes);
          expect([p.width, p.height, p.bytes], what).toEqual([size?.width, size?.height, bytes.length]);
          return bytesOf(bytes);
        }),
      }));
      expect(sent, what).toEqual(received(http.body));
      const parts = sent.flatMap((m) => m.parts);
      expect(request.images, what).toBe(parts.filter((p) => p.type === 'image').length);
      expect(request.text_chars, what).toBe(parts.reduce((n, p) => n + (p.type === 'text' ? p.text.length : 0), 0));
    }

    // What each kind of call carried: the key frames (and step 1's image in step 2), the bridge's frame.
    const images = (i: number) => received(model!.requests[i]!.body).flatMap((m) => m.parts).filter((p) => p.type === 'image').length;
    expect(images(0)).toBe(0);
    expect(images(1)).toBeGreaterThan(0);
    expect(images(3)).toBe(images(1) + 1);
    expect(images(2)).toBe(1);
    expect(images(4)).toBe(images(1));

    // Each message and each image is stored once; no base64 in the record.
    const lines = readFileSync(join(sampleDir, 'messages.jsonl'), 'utf8').trim().split('\n');
    const ids = lines.map((l) => (JSON.parse(l) as { id: string }).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(calls.flatMap((c) => c.request!.messages))).toEqual(new Set(ids));
    const reqImages = readdirSync(join(sampleDir, 'images')).filter((f) => f.startsWith('req-'));
    const distinct = new Set(model.requests.flatMap((q) => received(q.body).flatMap((m) => m.parts.flatMap((p) => (p.type === 'image' ? [p.sha256] : [])))));
    expect(reqImages).toHaveLength(distinct.size);
    for (const f of ['events.jsonl', 'messages.jsonl']) expect(readFileSync(join(sampleDir, f), 'utf8')).not.toContain('base64');
  }, 300_000);
});
