import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VlmBridge, openAiVlmHandler, parsePoints, stripThink } from '../../electron/services/kernel/bridge.ts';
import { startScriptedModel, type ScriptedModel } from '../helpers/scripted-model.ts';

describe('parsePoints / stripThink', () => {
  it('reads JSON objects, bare arrays and (x, y) pairs, clamped to 0-1000', () => {
    expect(parsePoints('{"points": [[100, 200], [300.5, 400]]}')).toEqual([[100, 200], [300.5, 400]]);
    expect(parsePoints('Sure! ```json\n{"points": [[10, 20]]}\n```')).toEqual([[10, 20]]);
    expect(parsePoints('[[1, 2], [3, 4]]')).toEqual([[1, 2], [3, 4]]);
    expect(parsePoints('The cup is at (512, 640) and (1200, -5).')).toEqual([[512, 640], [1000, 0]]);
    expect(parsePoints('<think>maybe (1, 1)</think>nothing here')).toEqual([]);
  });
  it('removes think blocks', () => {
    expect(stripThink('<think>a\nb</think>\nAnswer: B')).toBe('Answer: B');
  });
});

describe('VlmBridge over HTTP', () => {
  const bridge = new VlmBridge({
    ask: async (images, q) => ({ text: `${images.length} image(s): ${q}`, usage: { prompt_tokens: 10, completion_tokens: 2 } }),
    locate: async () => {
      throw new Error('model unavailable');
    },
  });
  beforeAll(() => bridge.start());
  afterAll(() => bridge.stop());
  const post = (path: string, body: unknown, token = bridge.token) =>
    fetch(`${bridge.url}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('binds 127.0.0.1 and requires the token', async () => {
    expect(bridge.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await post('/vlm/ask', { images: [], question: 'q' }, 'wrong')).status).toBe(401);
  });

  it('answers, validates and records calls', async () => {
    const png = Buffer.from('89504e47', 'hex').toString('base64');
    const ok = await post('/vlm/ask', { images: [png], question: 'what is this?' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ text: '1 image(s): what is this?' });
    expect((await post('/vlm/ask', '{not json')).status).toBe(400);
    const bad = await post('/vlm/ask', { images: 'x' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/invalid ask request: images/);
    const failed = await post('/vlm/locate', { images: [png], target: 'cup' });
    expect(failed.status).toBe(502);
    expect(((await failed.json()) as { error: string }).error).toBe('the model call failed: model unavailable');
    expect((await post('/nope', {})).status).toBe(404);
    expect(bridge.calls.map((c) => [c.kind, c.ok])).toEqual([['ask', true], ['locate', false]]);
    expect(bridge.calls[0]?.usage).toEqual({ prompt_tokens: 10, completion_tokens: 2 });
  });
});

describe('openAiVlmHandler against a scripted OpenAI-compatible server', () => {
  let model: ScriptedModel;
  beforeAll(async () => {
    model = await startScriptedModel(['<think>hmm</think>It is a chair.', '{"points": [[250, 750]]}']);
  });
  afterAll(() => model.close());

  it('sends images as data URLs, strips think blocks, parses points and reports usage', async () => {
    process.env.SC_TEST_KEY = 'sk-test-123';
    const h = openAiVlmHandler({ baseURL: model.url, model: 'test-vlm', apiKeyEnv: 'SC_TEST_KEY' });
    const png = Buffer.from('89504e470d0a1a0a', 'hex');
    const a = await h.ask([png], 'What is it?');
    expect(a.text).toBe('It is a chair.');
    expect(a.usage?.prompt_tokens).toBeGreaterThan(0);
    const l = await h.locate([png], 'the chair');
    expect(l.points).toEqual([[250, 750]]);
    const req = model.requests[0]!;
    expect(req.headers.authorization).toBe('Bearer sk-test-123');
    expect(req.body.model).toBe('test-vlm');
    const parts = (req.body.messages as { content: { type: string; image_url?: { url: string } }[] }[])[0]!.content;
    expect(parts[0]?.image_url?.url).toBe(`data:image/png;base64,${png.toString('base64')}`);
  });
});
