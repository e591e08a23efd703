/**
 * ModelClient against real HTTP: the scripted OpenAI-compatible server (test/helpers/scripted-model.ts)
 * on 127.0.0.1, one or two endpoints per test; the 429 back-pressure tests use a small server of their own
 * that refuses work beyond one request in flight.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { afterEach, describe, expect, it } from 'vitest';
import { ModelClient, ModelError } from '../../electron/services/model/client.ts';
import { DEFAULT_MAX_IN_FLIGHT, ModelConfigSchema, type ModelConfig } from '../../shared/model.ts';
import { startScriptedModelServer, type ScriptedModelServer, type ScriptedServerOptions } from '../helpers/scripted-model.ts';

const KEY_ENV = 'SC_TEST_MODEL_KEY';
const KEY = 'sk-scripted-0123456789';

let servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  delete process.env[KEY_ENV];
});

async function serve(opts: ScriptedServerOptions): Promise<ScriptedModelServer> {
  const s = await startScriptedModelServer(opts);
  servers.push(s);
  return s;
}
function config(server: ScriptedModelServer, over: Record<string, unknown> = {}): ModelConfig {
  const base: Record<string, unknown> = server.urls.length > 1
    ? { endpoints: server.urls.map((base_url) => ({ base_url })) }
    : { base_url: server.url };
  return ModelConfigSchema.parse({ name: 'scripted-vlm', timeout_s: 5, max_retries: 3, ...base, ...over });
}
const ask = (text: string): ChatCompletionMessageParam[] => [{ role: 'user', content: text }];
/** No backoff jitter: retries without a retry-after happen at once. */
const noJitter = { random: () => 0 };
async function failure(p: Promise<unknown>): Promise<ModelError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ModelError);
    return e as ModelError;
  }
  throw new Error('expected the call to fail');
}

describe('ModelClient: answers', () => {
  it('returns a plain answer with usage, endpoint and attempts', async () => {
    const s = await serve({ default: ['The answer is B.'] });
    const client = new ModelClient(config(s));
    const r = await client.chat({ role: 'main', messages: ask('Which is closer?') });
    expect(r).toMatchObject({ content: 'The answer is B.', raw: 'The answer is B.', reasoning: null, endpoint: s.url, attempts: 1 });
    expect(r.usage.prompt_tokens).toBeGreaterThan(0);
    expect(r.usage.completion_tokens).toBeGreaterThan(0);
    expect(r.latencyMs).toBeGreaterThan(0);
    const body = s.requests[0]!.body;
    expect(body).toMatchObject({ model: 'scripted-vlm', max_tokens: 4096, stream: false, messages: ask('Which is closer?') });
  });

  it('strips think blocks into reasoning and falls back to reasoning_content / reasoning', async () => {
    const s = await serve({
      script: {
        think: ['<think>count the chairs: 1, 2, 3</think>\n\nThree chairs.'],
        open: ['the template opened the block</think>Left.'],
        rc: [{ content: '', reasoning_content: 'The mug is left of the laptop.' }],
        both: [{ content: 'B', reasoning_content: 'compare depths' }],
        vllm: [{ content: 'A', reasoning: 'newer field' }],
      },
    });
    const client = new ModelClient(config(s));
    const chat = (sampleKey: string) => client.chat({ role: 'main', messages: ask('q'), sampleKey });
    expect(await chat('think')).toMatchObject({ content: 'Three chairs.', reasoning: 'count the chairs: 1, 2, 3', raw: '<think>count the chairs: 1, 2, 3</think>\n\nThree chairs.' });
    expect(await chat('open')).toMatchObject({ content: 'Left.', reasoning: 'the template opened the block' });
    expect(await chat('rc')).toMatchObject({ content: 'The mug is left of the laptop.', reasoning: 'The mug is left of the laptop.', raw: '' });
    expect(await chat('both')).toMatchObject({ content: 'B', reasoning: 'compare depths' });
    expect(await chat('vllm')).toMatchObject({ content: 'A', reasoning: 'newer field' });
    expect(s.requests.map((r) => r.sampleId)).toEqual(['think', 'open', 'rc', 'both', 'vllm']);
  });

  it('records usage including reasoning tokens, per call and cumulatively', async () => {
    const usage = { prompt_tokens: 1234, completion_tokens: 567, completion_tokens_details: { reasoning_tokens: 400 } };
    const s = await serve({ default: [{ content: 'x', usage }, { content: 'y', usage: { prompt_tokens: 10, completion_tokens: 5 } }] });
    const client = new ModelClient(config(s));
    const a = await client.chat({ role: 'main', messages: ask('q') });
    expect(a.usage).toEqual({ prompt_tokens: 1234, completion_tokens: 567, reasoning_tokens: 400 });
    const b = await client.chat({ role: 'vlm', messages: ask('q') });
    expect(b.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5 });
    expect(client.stats()).toMatchObject({ calls: 2, retries: 0, failures: 0, usage: { prompt_tokens: 1244, completion_tokens: 572, reasoning_tokens: 400 } });
  });
});

describe('ModelClient: retries', () => {
  it('retries a 429 after its retry-after', async () => {
    const s = await serve({ default: [{ status: 429, retryAfter: 1, error: 'slow down' }, 'ok'] });
    const client = new ModelClient(config(s), noJitter);
    const t0 = performance.now();
    const r = await client.chat({ role: 'main', messages: ask('q') });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
    expect(r).toMatchObject({ content: 'ok', attempts: 2 });
    expect(client.stats()).toMatchObject({ calls: 1, retries: 1, failures: 0 });
  });

  it('retries a 500 with exponential backoff and full jitter', async () => {
    const s = await serve({ default: [{ status: 500, error: 'CUDA out of memory' }, { status: 502 }, 'ok'] });
    // random() = 0.5: waits 0.5 × 0.5 s, then 0.5 × 1 s. The jitter is drawn once per retry; the waits are measured
    // between the requests' arrivals (timers only give lower bounds, so no upper bound on a loaded machine).
    let draws = 0;
    const client = new ModelClient(config(s), { random: () => (draws++, 0.5) });
    expect(await client.chat({ role: 'main', messages: ask('q') })).toMatchObject({ content: 'ok', attempts: 3 });
    expect(draws).toBe(2);
    const at = s.requests.map((r) => r.receivedAt);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(250 - 5);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(500 - 5);
    expect(client.stats().endpoints[0]).toMatchObject({ requests: 3, failures: 2, lastError: 'HTTP 502: scripted error 502' });
  });

  it('retries a timeout', async () => {
    const s = await serve({ default: [{ content: 'too late', delayMs: 5000 }, 'in time'] });
    const client = new ModelClient(config(s, { timeout_s: 0.3 }), noJitter);
    const r = await client.chat({ role: 'main', messages: ask('q') });
    // The answer of the second request: the first was given up at its deadline, long before its 5 s reply.
    expect(r).toMatchObject({ content: 'in time', attempts: 2 });
    expect(s.requests).toHaveLength(2);
    expect(s.requests[1]!.receivedAt - s.requests[0]!.receivedAt).toBeGreaterThanOrEqual(300 - 5);
    expect(s.requests[1]!.receivedAt - s.requests[0]!.receivedAt).toBeLessThan(5000);
  });

  it('retries a malformed body', async () => {
    const s = await serve({ default: [{ malformed: true }, 'fine'] });
    const client = new ModelClient(config(s), noJitter);
    expect(await client.chat({ role: 'main', messages: ask('q') })).toMatchObject({ content: 'fine', attempts: 2 });
  });

  it('gives up after max_retries with the last error', async () => {
    const s = await serve({ default: [{ status: 503, error: 'loading model' }] });
    const client = new ModelClient(config(s, { max_retries: 2 }), noJitter);
    const e = await failure(client.chat({ role: 'main', messages: ask('q') }));
    expect(e).toMatchObject({ kind: 'http', status: 503, attempts: 3, endpoint: s.url, serverMessage: 'loading model' });
    expect(e.message).toMatch(/HTTP 503: loading model \(gave up after 3 attempts\)/);
    expect(s.requests).toHaveLength(3);
    expect(client.stats()).toMatchObject({ calls: 1, retries: 2, failures: 1 });
  });

  it('never retries a 400', async () => {
    const s = await serve({ default: [{ status: 400, error: "'top_k' must be an int" }, 'never'] });
    const client = new ModelClient(config(s), noJitter);
    const e = await failure(client.chat({ role: 'main', messages: ask('q') }));
    expect(e).toMatchObject({ kind: 'http', status: 400, attempts: 1, endpoint: s.url, serverMessage: "'top_k' must be an int" });
    expect(e.message).toContain(s.url);
    expect(s.requests).toHaveLength(1);
  });

  it("keeps the server's message whatever shape its error body has", async () => {
    const s = await serve({
      script: {
        vllm: [{ status: 400, body: '{"object":"error","message":"max_tokens is too large","type":"BadRequestError","code":400}' }],
        fastapi: [{ status: 422, body: '{"detail":[{"loc":["body","messages"],"msg":"field required"}]}' }],
        ollama: [{ status: 404, body: '{"error":"model \\"llava\\" not found, try pulling it first"}' }],
        proxy: [{ status: 502, body: '<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>' }, 'through'],
      },
    });
    const client = new ModelClient(config(s), noJitter);
    const chat = (sampleKey: string) => client.chat({ role: 'main', messages: ask('q'), sampleKey });
    expect(await failure(chat('vllm'))).toMatchObject({ status: 400, serverMessage: 'max_tokens is too large' });
    expect((await failure(chat('fastapi'))).serverMessage).toBe('[{"loc":["body","messages"],"msg":"field required"}]');
    const nf = await failure(chat('ollama'));
    expect(nf).toMatchObject({ status: 404, serverMessage: 'model "llava" not found, try pulling it first' });
    expect(nf.message).toMatch(/does base_url end in \/v1/);
    expect(await chat('proxy')).toMatchObject({ content: 'through', attempts: 2 });
    expect(client.stats().endpoints[0]!.lastError).toBe('HTTP 502: <html><body> <h1>502 Bad Gateway</h1> </body></html>');
  });

  it('names the env var to check on a 401, and never the key', async () => {
    process.env[KEY_ENV] = KEY;
    const s = await serve({ default: [{ status: 401, error: 'Incorrect API key provided' }] });
    const client = new ModelClient(config(s, { api_key_env: KEY_ENV }), noJitter);
    const e = await failure(client.chat({ role: 'main', messages: ask('q') }));
    expect(e).toMatchObject({ status: 401, attempts: 1 });
    expect(e.message).toContain(`environment variable ${KEY_ENV}`);
    expect(e.message).not.toContain(KEY);
  });

  it('refuses to start when a configured key variable is unset', async () => {
    const s = await serve({ default: ['x'] });
    expect(() => new ModelClient(config(s, { api_key_env: KEY_ENV }))).toThrow(new RegExp(`environment variable ${KEY_ENV} .* is not set`));
  });

  it('stops when the signal aborts, without retrying', async () => {
    const s = await serve({ default: [{ content: 'slow', delayMs: 30_000 }] });
    const client = new ModelClient(config(s), noJitter);
    const ac = new AbortController();
    const pending = failure(client.chat({ role: 'main', messages: ask('q'), signal: ac.signal }));
    // Abort while the request is at the server (a fixed 100 ms could come before it arrives on a loaded machine).
    await expect.poll(() => s.requests.length).toBe(1);
    ac.abort();
    const e = await pending;
    expect(e.kind).toBe('aborted');
    expect(s.requests).toHaveLength(1);
    expect(client.stats().endpoints[0]).toMatchObject({ healthy: true, inFlight: 0 });
  });
});

describe('ModelClient: routing and health', () => {
  it('fails over from a closed endpoint and keeps away from it while it cools down', async () => {
    const s = await serve({ endpoints: 2, default: ['from the live one'] });
    await s.endpoints[0]!.stop();
    // Full backoff would wait random() × 0.5 s; failing over to a healthy endpoint does not wait, so it draws no jitter.
    let draws = 0;
    const client = new ModelClient(config(s), { random: () => (draws++, 1) });
    const r = await client.chat({ role: 'main', messages: ask('q') });
    expect(draws).toBe(0);
    expect(r).toMatchObject({ content: 'from the live one', attempts: 2, endpoint: s.urls[1] });
    expect((await client.chat({ role: 'main', messages: ask('q') })).attempts).toBe(1);
    expect(client.stats().endpoints.map((e) => e.healthy)).toEqual([false, true]);
    expect(client.stats().endpoints[0]!.lastError).toMatch(/connection failed/);
    expect(s.counts()).toEqual([0, 2]);
  });

  it('spreads concurrent calls over the endpoint with the fewest in flight', async () => {
    const s = await serve({ endpoints: 2, default: [{ content: 'ok', delayMs: 200 }] });
    const client = new ModelClient(config(s));
    const calls = Array.from({ length: 4 }, () => client.chat({ role: 'main', messages: ask('q') }));
    expect(client.stats().endpoints.map((e) => e.inFlight)).toEqual([2, 2]);
    const results = await Promise.all(calls);
    expect(results.map((r) => r.endpoint)).toEqual([s.urls[0], s.urls[1], s.urls[0], s.urls[1]]);
    expect(s.counts()).toEqual([2, 2]);
    expect(s.endpoints.map((e) => e.maxInFlight)).toEqual([2, 2]);
    expect(client.stats().endpoints.map((e) => e.inFlight)).toEqual([0, 0]);
  });

  it('keeps a sample on its endpoint (sticky) while it is healthy, and re-homes it when not', async () => {
    let clock = 0;
    const s = await serve({ endpoints: 2, default: [{ content: 'ok', delayMs: 50 }] });
    const client = new ModelClient(config(s), { ...noJitter, now: () => clock });
    // First calls: a → endpoint 0, b → endpoint 1 (fewest in flight).
    await Promise.all([client.chat({ role: 'main', messages: ask('q'), sampleKey: 'a' }), client.chat({ role: 'main', messages: ask('q'), sampleKey: 'b' })]);
    // Three concurrent calls for a stay on endpoint 0 although endpoint 1 is idle.
    await Promise.all([1, 2, 3].map(() => client.chat({ role: 'main', messages: ask('q'), sampleKey: 'a' })));
    await client.chat({ role: 'main', messages: ask('q'), sampleKey: 'b' });
    expect(s.requestsFor('a').map((r) => r.endpoint)).toEqual([0, 0, 0, 0]);
    expect(s.requestsFor('b').map((r) => r.endpoint)).toEqual([1, 1]);
    // Endpoint 0 goes down: a moves to endpoint 1 and stays there after 0 is back.
    await s.endpoints[0]!.stop();
    expect((await client.chat({ role: 'main', messages: ask('q'), sampleKey: 'a' })).endpoint).toBe(s.urls[1]);
    await s.endpoints[0]!.start();
    clock += 31_000;
    expect((await client.chat({ role: 'main', messages: ask('q'), sampleKey: 'a' })).endpoint).toBe(s.urls[1]);
    // A new sample now goes to the idle, healthy endpoint 0 again.
    expect((await client.chat({ role: 'main', messages: ask('q'), sampleKey: 'c' })).endpoint).toBe(s.urls[0]);
  });

  it('marks endpoints by health check and uses them again after the cool-down', async () => {
    let clock = 1_000_000;
    const s = await serve({ endpoints: 2, default: ['ok'] });
    s.endpoints[0]!.healthStatus = 503;
    const client = new ModelClient(config(s, { cooldown_s: 30 }), { ...noJitter, now: () => clock });
    const h = await client.checkHealth();
    expect(h.map((x) => [x.ok, x.status])).toEqual([[false, 503], [true, 200]]);
    expect(s.endpoints.map((e) => e.healthChecks)).toEqual([1, 1]);
    expect((await client.chat({ role: 'main', messages: ask('q') })).endpoint).toBe(s.urls[1]);
    clock += 31_000;
    expect(client.stats().endpoints[0]!.healthy).toBe(true);
    // Both idle and healthy again: the tie goes to the first endpoint.
    expect((await client.chat({ role: 'main', messages: ask('q') })).endpoint).toBe(s.urls[0]);
    // A stopped endpoint fails its check with a connection error; a passing check clears a cool-down.
    await s.endpoints[1]!.stop();
    s.endpoints[0]!.healthStatus = 200;
    const h2 = await client.checkHealth();
    expect(h2[1]).toMatchObject({ ok: false, status: null });
    expect(h2[1]!.error).toMatch(/connection failed/);
    expect(client.stats().endpoints.map((e) => e.healthy)).toEqual([true, false]);
  });

  it('uses the endpoint whose cool-down ends first when all are cooling', async () => {
    let clock = 0;
    const s = await serve({ endpoints: 2, default: [{ status: 500 }, { status: 500 }, 'recovered'] });
    const client = new ModelClient(config(s, { max_retries: 0, cooldown_s: 30 }), { ...noJitter, now: () => clock });
    expect((await failure(client.chat({ role: 'main', messages: ask('q') }))).endpoint).toBe(s.urls[0]); // cools until 30 s
    clock = 10_000;
    expect((await failure(client.chat({ role: 'main', messages: ask('q') }))).endpoint).toBe(s.urls[1]); // cools until 40 s
    clock = 20_000;
    expect(client.stats().endpoints.map((e) => e.healthy)).toEqual([false, false]);
    const r = await client.chat({ role: 'main', messages: ask('q') });
    expect(r).toMatchObject({ content: 'recovered', endpoint: s.urls[0] });
  });
});

describe('ModelClient: request contents', () => {
  it('sends role sampling, max_tokens and extra_body fields in the body', async () => {
    const s = await serve({ default: ['ok'] });
    const client = new ModelClient(config(s, {
      max_tokens: 8000,
      extra_body: { chat_template_kwargs: { enable_thinking: true }, repetition_penalty: 1.05 },
      roles: {
        main: { temperature: 0.6, top_p: 0.95, top_k: 20 },
        vlm: { temperature: 0, max_tokens: 256, chat_template_kwargs: { enable_thinking: false } },
      },
    }));
    await client.chat({ role: 'main', messages: ask('q') });
    await client.chat({ role: 'vlm', messages: ask('q') });
    await client.chat({ role: 'planner', messages: ask('q'), maxTokens: 99 });
    const [main, vlm, planner] = s.requests.map((r) => r.body);
    expect(main).toMatchObject({ temperature: 0.6, top_p: 0.95, top_k: 20, max_tokens: 8000, repetition_penalty: 1.05, chat_template_kwargs: { enable_thinking: true } });
    // A role's params go over main's; nested extra_body objects are merged.
    expect(vlm).toMatchObject({ temperature: 0, top_p: 0.95, top_k: 20, max_tokens: 256, chat_template_kwargs: { enable_thinking: false } });
    expect(planner).toMatchObject({ temperature: 0.6, max_tokens: 99 });
  });

  it('sends the token limit as max_completion_tokens when the config names that field', async () => {
    const s = await serve({ default: ['ok'] });
    const client = new ModelClient(config(s, { extra_body: { max_completion_tokens: 16000, reasoning_effort: 'low' } }));
    await client.chat({ role: 'main', messages: ask('q') });
    await client.chat({ role: 'main', messages: ask('q'), maxTokens: 500 });
    expect(s.requests[0]!.body).toMatchObject({ max_completion_tokens: 16000, reasoning_effort: 'low' });
    expect(s.requests[0]!.body).not.toHaveProperty('max_tokens');
    expect(s.requests[1]!.body).toMatchObject({ max_completion_tokens: 500 });
  });

  it('sends the API key as a Bearer token, the sample id as a header, and never returns the key', async () => {
    process.env[KEY_ENV] = KEY;
    const s = await serve({ script: { 'scene 7/q#2': ['fine'] } });
    const client = new ModelClient(config(s, { api_key_env: KEY_ENV }));
    const image = 'data:image/png;base64,iVBORw0KGgo=';
    const r = await client.chat({
      role: 'main', sampleKey: 'scene 7/q#2',
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: image } }, { type: 'text', text: 'what?' }] }],
    });
    const req = s.requests[0]!;
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.sampleId).toBe('scene 7/q#2');
    expect(req.headers['openai-organization']).toBeUndefined();
    expect((req.body.messages as { content: { image_url?: { url: string } }[] }[])[0]!.content[0]!.image_url?.url).toBe(image);
    expect(r.content).toBe('fine');
    expect(JSON.stringify(r)).not.toContain(KEY);
    expect(JSON.stringify(client.stats())).not.toContain(KEY);
  });

  it('sends a placeholder key when the config names no variable', async () => {
    const s = await serve({ default: ['ok'] });
    await new ModelClient(config(s)).chat({ role: 'main', messages: ask('q') });
    expect(s.requests[0]!.headers.authorization).toBe('Bearer not-needed');
    expect(s.requests[0]!.sampleId).toBeNull();
  });
});

/**
 * A one-endpoint server that serves one request at a time (holding it `holdMs`) and answers every request
 * that arrives meanwhile with 429 and `retry-after-ms: retryAfterMs`, like a rate-limited provider.
 */
async function oneAtATimeServer(holdMs: number, retryAfterMs: number): Promise<{ url: string; served: () => number; throttled: () => number }> {
  let busy = false;
  let served = 0;
  let throttled = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (busy) {
        throttled++;
        const data = JSON.stringify({ error: { message: 'too many requests in flight', type: 'rate_limit' } });
        res.writeHead(429, { 'Content-Type': 'application/json', 'retry-after-ms': String(retryAfterMs), 'Content-Length': Buffer.byteLength(data) });
        res.end(data);
        return;
      }
      busy = true;
      setTimeout(() => {
        busy = false;
        served++;
        const data = JSON.stringify({
          id: `chatcmpl-${served}`, object: 'chat.completion', created: 0, model: 'scripted-vlm',
          choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'ok' } }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
        res.end(data);
      }, holdMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  servers.push({
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, served: () => served, throttled: () => throttled };
}

describe('ModelClient: requests in flight', () => {
  it('takes max_in_flight from the endpoint, else the config, else the default', async () => {
    const s = await serve({ endpoints: 2, default: ['ok'] });
    const dflt = new ModelClient(config(s));
    expect(dflt.stats().endpoints.map((e) => [e.maxInFlight, e.effectiveLimit])).toEqual([[DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT], [DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT]]);
    expect(dflt.capacity()).toBe(2 * DEFAULT_MAX_IN_FLIGHT);
    const mixed = new ModelClient(config(s, { max_in_flight: 3, endpoints: [{ base_url: s.urls[0], max_in_flight: 1 }, { base_url: s.urls[1] }] }));
    expect(mixed.stats().endpoints.map((e) => e.maxInFlight)).toEqual([1, 3]);
    expect(mixed.capacity()).toBe(4);
    expect(mixed.stats()).toMatchObject({ capacity: 4, waiting: 0, waits: 0, waitedMs: 0, rateLimited: 0 });
    const single = new ModelClient(config(s, { base_url: s.urls[0], endpoints: undefined, max_in_flight: 5 }));
    expect(single.capacity()).toBe(5);
  });

  it('never has more than max_in_flight requests open, and serves the waiting calls in order', async () => {
    const s = await serve({ default: [{ content: 'ok', delayMs: 200 }] });
    const client = new ModelClient(config(s, { max_in_flight: 2 }));
    const t0 = performance.now();
    const calls = Array.from({ length: 6 }, (_, i) => client.chat({ role: 'main', messages: ask(`q${i}`) }));
    expect(client.stats()).toMatchObject({ capacity: 2, waiting: 4, waits: 4, endpoints: [{ inFlight: 2, maxInFlight: 2, effectiveLimit: 2 }] });
    const results = await Promise.all(calls);
    expect(results.map((r) => r.content)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(s.endpoints[0]!.maxInFlight).toBe(2);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(3 * 200 - 30);
    // FIFO: the calls go out in pairs, in the order they were made.
    const sentOrder = s.requests.map((r) => (r.body.messages as { content: string }[])[0]!.content);
    expect([0, 2, 4].map((i) => sentOrder.slice(i, i + 2).sort())).toEqual([['q0', 'q1'], ['q2', 'q3'], ['q4', 'q5']]);
    const st = client.stats();
    expect(st).toMatchObject({ calls: 6, failures: 0, retries: 0, waiting: 0, waits: 4 });
    // Two calls waited about 200 ms, two about 400 ms.
    expect(st.waitedMs).toBeGreaterThanOrEqual(1100);
    expect(st.endpoints[0]).toMatchObject({ inFlight: 0, requests: 6 });
  });

  it('spreads calls over endpoints within each one\'s limit', async () => {
    const s = await serve({ endpoints: 2, default: [{ content: 'ok', delayMs: 150 }] });
    // The endpoints' own limit wins over the config's.
    const client = new ModelClient(config(s, { max_in_flight: 8, endpoints: s.urls.map((base_url) => ({ base_url, max_in_flight: 1 })) }));
    expect(client.capacity()).toBe(2);
    const calls = Array.from({ length: 4 }, () => client.chat({ role: 'main', messages: ask('q') }));
    expect(client.stats().endpoints.map((e) => e.inFlight)).toEqual([1, 1]);
    expect(client.stats().waiting).toBe(2);
    const results = await Promise.all(calls);
    expect(results.every((r) => r.content === 'ok')).toBe(true);
    expect(s.endpoints.map((e) => e.maxInFlight)).toEqual([1, 1]);
    expect(s.counts()).toEqual([2, 2]);
    expect(client.stats().endpoints.map((e) => e.inFlight)).toEqual([0, 0]);
  });

  it('moves a sample off its full sticky endpoint for one call, and keeps it sticky', async () => {
    const s = await serve({ endpoints: 2, default: [{ content: 'ok', delayMs: 100 }] });
    const client = new ModelClient(config(s, { max_in_flight: 1 }));
    expect((await client.chat({ role: 'main', messages: ask('q'), sampleKey: 'a' })).endpoint).toBe(s.urls[0]);
    const both = await Promise.all([1, 2].map(() => client.chat({ role: 'main', messages: ask('q'), sampleKey: 'a' })));
    expect(both.map((r) => r.endpoint)).toEqual([s.urls[0], s.urls[1]]);
    expect(client.stats().waits).toBe(0);
    expect((await client.chat({ role: 'main', messages: ask('q'), sampleKey: 'a' })).endpoint).toBe(s.urls[0]);
  });

  it('takes an aborted waiting call out of the queue: it fails as aborted and never reaches the server', async () => {
    const s = await serve({ script: { slow: [{ content: 'slow', delayMs: 2000 }], gone: ['never sent'], next: ['next'] } });
    const client = new ModelClient(config(s, { max_in_flight: 1 }));
    const slow = client.chat({ role: 'main', messages: ask('q'), sampleKey: 'slow' });
    let slowDone = false;
    void slow.then(() => { slowDone = true; }, () => undefined);
    const ac = new AbortController();
    const gone = failure(client.chat({ role: 'main', messages: ask('q'), sampleKey: 'gone', signal: ac.signal }));
    const next = client.chat({ role: 'main', messages: ask('q'), sampleKey: 'next' });
    expect(client.stats().waiting).toBe(2);
    setTimeout(() => ac.abort(), 50);
    const e = await gone;
    expect(e.kind).toBe('aborted');
    expect(e.attempts).toBe(0);
    // It left the queue at the abort, not when the call ahead of it finished.
    expect(slowDone).toBe(false);
    expect(client.stats()).toMatchObject({ waiting: 1, failures: 1 });
    expect((await slow).content).toBe('slow');
    expect((await next).content).toBe('next');
    expect(s.requestsFor('gone')).toHaveLength(0);
    expect(s.requests.map((r) => r.sampleId)).toEqual(['slow', 'next']);
    expect(client.stats()).toMatchObject({ waiting: 0, calls: 3, failures: 1, endpoints: [{ inFlight: 0, requests: 2 }] });
  });

  it('does not count time spent waiting for a slot against timeout_s', async () => {
    const s = await serve({ default: [{ content: 'ok', delayMs: 200 }] });
    const client = new ModelClient(config(s, { max_in_flight: 1, timeout_s: 0.35, max_retries: 0 }));
    const results = await Promise.all([1, 2, 3].map(() => client.chat({ role: 'main', messages: ask('q') })));
    // The third call waited about 400 ms, longer than the timeout, and still succeeded at its first attempt.
    expect(results.map((r) => r.attempts)).toEqual([1, 1, 1]);
    expect(results[2]!.latencyMs).toBeGreaterThan(550);
  });

  it('uses a cooling endpoint with free slots for waiting calls once its cool-down ends', async () => {
    // The first call is held 30 s on endpoint 1; the second gets its answer at once wherever it goes.
    const s = await serve({ endpoints: 2, default: [{ content: 'held', delayMs: 30_000 }, { content: 'ok' }] });
    s.endpoints[0]!.healthStatus = 503;
    const client = new ModelClient(config(s, { max_in_flight: 1, cooldown_s: 0.2, timeout_s: 60, max_retries: 0 }));
    await client.checkHealth();
    expect(client.stats().endpoints.map((e) => e.healthy)).toEqual([false, true]);
    const ac = new AbortController();
    let firstSettled = false;
    const first = client.chat({ role: 'main', messages: ask('q'), signal: ac.signal });
    void first.then(() => (firstSettled = true), () => (firstSettled = true));
    // Endpoint 1 is full and endpoint 0 cools down: this call waits, and goes to endpoint 0 when it is back.
    const second = client.chat({ role: 'main', messages: ask('q') });
    expect(client.stats().waiting).toBe(1);
    const r = await second;
    // It was sent when the 200 ms cool-down ended, not behind the first call, which cannot end before 30 s
    // (so a stalled event loop cannot reorder the two).
    expect(firstSettled).toBe(false);
    expect(r).toMatchObject({ endpoint: s.urls[0], content: 'ok' });
    expect(s.counts()).toEqual([1, 1]);
    expect(s.endpoints[1]!.inFlight).toBe(1);
    ac.abort();
    expect((await failure(first)).kind).toBe('aborted');
  });
});

describe('ModelClient: 429 back-pressure', () => {
  it('halves the effective limit once per burst of 429s, at least to 1', async () => {
    const s = await serve({ default: [{ status: 429, error: 'slow down' }] });
    const client = new ModelClient(config(s, { max_in_flight: 8, max_retries: 0 }), noJitter);
    // Eight requests sent under the limit 8 all get a 429: one halving (8 → 4), not eight.
    const burst = await Promise.all(Array.from({ length: 8 }, () => failure(client.chat({ role: 'main', messages: ask('q') }))));
    expect(burst.every((e) => e.kind === 'http' && e.status === 429)).toBe(true);
    expect(client.stats().endpoints[0]).toMatchObject({ maxInFlight: 8, effectiveLimit: 4, rateLimited: 8, failures: 8 });
    const limits: number[] = [];
    for (let i = 0; i < 4; i++) {
      await failure(client.chat({ role: 'main', messages: ask('q') }));
      limits.push(client.stats().endpoints[0]!.effectiveLimit);
    }
    expect(limits).toEqual([2, 1, 1, 1]);
    expect(client.stats()).toMatchObject({ rateLimited: 12, capacity: 8 });
  });

  it('backs off on 429s so every call succeeds, then climbs back to max_in_flight', async () => {
    const srv = await oneAtATimeServer(100, 20);
    const client = new ModelClient(ModelConfigSchema.parse({ name: 'scripted-vlm', base_url: srv.url, timeout_s: 5, max_retries: 30, max_in_flight: 4 }), noJitter);
    let lowest = Infinity;
    const poll = setInterval(() => {
      lowest = Math.min(lowest, client.stats().endpoints[0]!.effectiveLimit);
    }, 2);
    let results;
    try {
      results = await Promise.all(Array.from({ length: 6 }, () => client.chat({ role: 'main', messages: ask('q') })));
    } finally {
      clearInterval(poll);
    }
    expect(results.map((r) => r.content)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(srv.served()).toBe(6);
    const st = client.stats();
    expect(lowest).toBeLessThanOrEqual(2);
    expect(st.rateLimited).toBe(srv.throttled());
    expect(st.endpoints[0]!.rateLimited).toBe(srv.throttled());
    expect(st.retries).toBe(srv.throttled());
    expect(st.rateLimited).toBeGreaterThanOrEqual(3);
    // Without back-pressure the five refused calls would retry every 20 ms while each request is held
    // 100 ms: dozens of 429s. With it, about one per success after the first burst.
    expect(st.rateLimited).toBeLessThanOrEqual(15);
    // One call at a time: each success raises the limit by 1, back to max_in_flight and no further.
    const climb: number[] = [];
    for (let i = 0; i < 4; i++) {
      await client.chat({ role: 'main', messages: ask('q') });
      climb.push(client.stats().endpoints[0]!.effectiveLimit);
    }
    expect(climb.at(-1)).toBe(4);
    expect(climb.every((v, i) => i === 0 || v >= climb[i - 1]!)).toBe(true);
    expect(client.stats().rateLimited).toBe(st.rateLimited);
  });
});
