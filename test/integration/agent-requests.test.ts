/**
 * What the model actually receives, read from the HTTP requests the scripted model server recorded: on the
 * bundled real 200-frame video with default settings, the image a cell passes to show() in step k is in the
 * request for step k+1 (key frames never take its slot), and the planner and fallback requests carry what
 * they should. Real kernel; only the model is scripted.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../shared/defaults.ts';
import { RunEventSchema } from '../../shared/run.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { step } from '../helpers/rgbd-script.ts';
import { type RecordedRequest, type Reply, type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const VIDEO = join(ROOT, 'test', 'fixtures', 'video_bedroom', 'bedroom.mp4');
const WHY = 'looking is part of the check.';

type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };
type Message = { role: string; content: string | Part[] };

const messagesOf = (r: RecordedRequest): Message[] => (r.body as { messages: Message[] }).messages;
const partsOf = (m: Message): Part[] => (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content);
/** The PNG bytes of every image in a request, in order. */
const imagesOf = (r: RecordedRequest): Buffer[] =>
  messagesOf(r).flatMap((m) => partsOf(m).flatMap((p) => (p.type === 'image_url' ? [Buffer.from(p.image_url.url.split(',')[1]!, 'base64')] : [])));
const textOf = (r: RecordedRequest): string => messagesOf(r).flatMap((m) => partsOf(m).flatMap((p) => (p.type === 'text' ? [p.text] : []))).join('\n');

describe('what the model receives (default profile, real 200-frame video)', () => {
  let model: ScriptedModelServer | null = null;
  afterEach(async () => {
    await model?.close();
    model = null;
  });

  const ask = async (script: Reply[]) => {
    model = await startScriptedModelServer({ script: { q1: script }, whenExhausted: 'error' });
    const out = mkdtempSync(join(tmpdir(), 'run-req-'));
    const r = await spatialclaw(['ask', '--input', VIDEO, '--question', 'Is there a bed in the room?', '--choices', 'A. yes', 'B. no',
      '--model', 'scripted-vlm', '--base-url', model.url, '--out', out], {}, 240_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const events = readFileSync(join(out, 'samples', 'q1', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => RunEventSchema.parse(JSON.parse(l)));
    return { out, events, requests: model.requestsFor('q1') };
  };

  it('the image shown in step k is in the request for step k+1, after the key frames', async () => {
    const { out, events, requests } = await ask([
      '1. Look at a frame. 2. Answer.',
      step('look at frame 120', 'f = InputImages[5]\nprint(f.frame_index)\nshow(f, label="probe")', WHY),
      step('look at another frame', 'show(InputImages[10], label="second")\nshow(InputImages[11], label="third")', WHY),
      step('answer', 'ReturnAnswer("A")', WHY),
    ]);
    // planner, step 1, step 2, step 3
    expect(requests).toHaveLength(4);
    const shown = (stepNo: number, k: number): Buffer => readFileSync(join(out, 'samples', 'q1', 'images', `step${String(stepNo).padStart(3, '0')}_${k}.png`));
    const keyFrames = imagesOf(requests[1]!);
    expect(keyFrames.length).toBe(DEFAULTS.imagesPerRequest - DEFAULTS.observationSlots);
    // Step 2's request: the key frames, then the probe image of step 1.
    const step2 = imagesOf(requests[2]!);
    expect(step2.slice(0, keyFrames.length)).toEqual(keyFrames);
    expect(step2.some((b) => b.equals(shown(1, 1)))).toBe(true);
    // Step 3's request: both images of step 2 come before the older probe image, and all fit.
    const step3 = imagesOf(requests[3]!);
    const at = (b: Buffer): number => step3.findIndex((x) => x.equals(b));
    expect(at(shown(2, 1))).toBeGreaterThanOrEqual(0);
    expect(at(shown(2, 2))).toBeGreaterThanOrEqual(0);
    expect(step3.length).toBeLessThanOrEqual(DEFAULTS.imagesPerRequest);
    expect(textOf(requests[2]!)).not.toMatch(/omitted to stay within/);
    // The frame was bound from the real video at an absolute index, not a position.
    const cell = events.find((e) => e.type === 'cell');
    expect(cell?.type === 'cell' && Number(cell.result.stdout.trim())).toBeGreaterThan(5);
  }, 300_000);

  it('the planner gets the question and no images; the fallback gets the key frames and the question', async () => {
    const { requests } = await ask([
      'plan: look, then answer',
      step('fail on purpose', 'raise RuntimeError("no luck")', WHY),
      step('fail again', 'raise RuntimeError("no luck")', WHY),
      step('fail again', 'raise RuntimeError("no luck")', WHY),
      step('fail again', 'raise RuntimeError("no luck")', WHY),
      step('fail again', 'raise RuntimeError("no luck")', WHY),
      'The answer is B.',
    ]);
    const planner = requests[0]!;
    expect(imagesOf(planner)).toHaveLength(0);
    expect(textOf(planner)).toContain('Is there a bed in the room?');
    const fallback = requests.at(-1)!;
    expect(textOf(fallback)).toContain('Is there a bed in the room?');
    expect(imagesOf(fallback)).toEqual(imagesOf(requests[1]!));
    expect(textOf(fallback)).toContain('RuntimeError: no luck');
  }, 300_000);
});
