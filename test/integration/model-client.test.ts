/**
 * ModelClient against real HTTP: the scripted OpenAI-compatible server (test/helpers/scripted-model.ts)
 * on 127.0.0.1, one or two endpoints per test.
 */
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { afterEach, describe, expect, it } from 'vitest';
import { ModelClient, ModelError } from '../../electron/services/model/client.ts';
import { ModelConfigSchema, type ModelConfig } from '../../shared/model.ts';
import { startScriptedModelServer, type ScriptedModelServer, type ScriptedServerOptions } from '../helpers/scripted-model.ts';

const KEY_ENV = 'SC_TEST_MODEL_KEY';
const KEY = 'sk-scripted-0123456789';

let servers: ScriptedModelServer[] = [];
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
    // random() = 0.5: waits 0.5 × 0.5 s, then 0.5 × 1 s.
    const client = new ModelClient(config(s), { random: () => 0.5 });
    const t0 = performance.now();
    expect(await client.chat({ role: 'main', messages: ask('q') })).toMatchObject({ content: 'ok', attempts: 3 });
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(700);
    expect(took).toBeLessThan(1500);
    expect(client.stats().endpoints[0]).toMatchObject({ requests: 3, failures: 2, lastError: 'HTTP 502: scripted error 502' });
  });

  it('retries a timeout', async () => {
    const s = await serve({ default: [{ content: 'too late', delayMs: 1000 }, 'in time'] });
    const client = new ModelClient(config(s, { timeout_s: 0.3 }), noJitter);
    const t0 = performance.now();
    const r = await client.chat({ role: 'main', messages: ask('q') });
    expect(r).toMatchObject({ content: 'in time', attempts: 2 });
    expect(performance.now() - t0).toBeLessThan(900);
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
    const s = await serve({ default: [{ content: 'slow', delayMs: 2000 }] });
    const client = new ModelClient(config(s), noJitter);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const e = await failure(client.chat({ role: 'main', messages: ask('q'), signal: ac.signal }));
    expect(e.kind).toBe('aborted');
    expect(s.requests).toHaveLength(1);
    expect(client.stats().endpoints[0]).toMatchObject({ healthy: true, inFlight: 0 });
  });
});

describe('ModelClient: routing and health', () => {
  it('fails over from a closed endpoint and keeps away from it while it cools down', async () => {
    const s = await serve({ endpoints: 2, default: ['from the live one'] });
    await s.endpoints[0]!.stop();
    // Full backoff would wait 0.5 s; failing over to a healthy endpoint does not wait.
    const client = new ModelClient(config(s), { random: () => 1 });
    const t0 = performance.now();
    const r = await client.chat({ role: 'main', messages: ask('q') });
    expect(performance.now() - t0).toBeLessThan(400);
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
