import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VlmBridge, openAiVlmHandler, parsePoints, stripThink } from '../../electron/services/kernel/bridge.ts';
import { ROOT } from '../helpers/cli.ts';
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

// The kernel's side (spatial_runtime) talks to the bridge with Python's http.client, which sends a request's whole body
// before it reads the answer: every early answer (401, 413, 502 from an unreachable perception server) must still
// read the body, or the kernel blocks on its upload until the connection times out and never sees the answer.
describe.runIf(process.platform === 'linux')('VlmBridge answers a Python http.client that sends its whole body first', () => {
  const PY = `
import http.client, json, socket, sys, time
class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(5)
        self.sock.connect(sys.argv[1])
out = []
for path, token, size in json.loads(sys.argv[2]):
    c = Unix("bridge")
    t0 = time.monotonic()
    try:
        c.request("POST", path, body=b"\x07" * size, headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        out.append([r.status, json.loads(r.read()).get("error", ""), time.monotonic() - t0])
    except OSError as e:
        out.append([type(e).__name__, str(e), time.monotonic() - t0])
    c.close()
print(json.dumps(out))
`;
  const bridge = new VlmBridge({ ask: async () => ({ text: '' }), locate: async () => ({ text: '', points: [] }) });
  const sock = join(mkdtempSync(join(tmpdir(), 'bridge-py-')), 'bridge.sock');
  beforeAll(async () => {
    await bridge.start();
    // Nothing listens on port 1: the forward fails at once.
    await bridge.listenUnix(sock, { url: 'http://127.0.0.1:1', token: 'perception-token' });
  });
  afterAll(() => bridge.stop());

  it('reads the body of a refused, over-size or unforwardable request before answering', async () => {
    const mb = 1024 * 1024;
    const requests = [
      ['/perception/v1/reconstruct', bridge.token, 8 * mb],
      ['/vlm/ask', 'wrong-token', 8 * mb],
      ['/vlm/ask', bridge.token, 65 * mb],
    ];
    const { stdout } = await promisify(execFile)(join(ROOT, '.venv', 'bin', 'python3'), ['-c', PY, sock, JSON.stringify(requests)], { timeout: 30_000 });
    const got = JSON.parse(stdout) as [number | string, string, number][];
    expect(got.map(([status, error]) => [status, error])).toEqual([
      [502, expect.stringMatching(/^the perception server at http:\/\/127\.0\.0\.1:1 is not reachable from the host: .*ECONNREFUSED/)],
      [401, 'missing or wrong bridge token'],
      [413, `request body over ${64 * mb} bytes`],
    ]);
    // Each answered as soon as its body was sent, well inside the client's 5 s socket timeout.
    for (const [, , seconds] of got) expect(seconds).toBeLessThan(4);
  }, 40_000);
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
