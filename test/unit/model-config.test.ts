import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelConfigError, loadModelConfig, modelConfigFromFlags, redactConfig } from '../../electron/services/model/config.ts';
import { ModelRegistry } from '../../electron/services/model/registry.ts';
import { splitThink, stripThink } from '../../electron/services/model/client.ts';

let dir: string;
const savedHome = process.env.SPATIALCLAW_HOME;
const write = (name: string, content: unknown): string => {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
};
const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sc-model-config-'));
  process.env.SPATIALCLAW_HOME = join(dir, 'home');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  if (savedHome === undefined) delete process.env.SPATIALCLAW_HOME;
  else process.env.SPATIALCLAW_HOME = savedHome;
});

describe('loadModelConfig', () => {
  it('reads a valid file and fills the defaults', () => {
    const p = write('ok.json', {
      name: 'Qwen/Qwen3-VL-8B-Thinking', base_url: 'http://127.0.0.1:8000/v1', _comment: 'ignored',
      roles: { main: { temperature: 0.6, top_k: 20 }, vlm: { max_tokens: 256 } },
      extra_body: { chat_template_kwargs: { enable_thinking: true } },
    });
    const c = loadModelConfig(p);
    expect(c.name).toBe('Qwen/Qwen3-VL-8B-Thinking');
    expect(c.max_tokens).toBe(4096);
    expect(c.max_retries).toBe(4);
    expect(c.timeout_s).toBe(300);
    expect(c.roles.vlm?.max_tokens).toBe(256);
    expect(c.extra_body).toEqual({ chat_template_kwargs: { enable_thinking: true } });
  });

  it('names the file for bad JSON', () => {
    const p = write('bad.json', '{"name": "x", ');
    const e = errorOf(() => loadModelConfig(p));
    expect(e).toBeInstanceOf(ModelConfigError);
    expect(e.message).toContain(p);
    expect(e.message).toMatch(/not valid JSON/);
  });

  it('names the file and the field for a missing name', () => {
    const p = write('noname.json', { base_url: 'http://127.0.0.1:8000/v1' });
    const e = errorOf(() => loadModelConfig(p));
    expect(e.message).toContain(p);
    expect(e.message).toMatch(/name: /);
  });

  it('names the field for a bad URL, including inside endpoints', () => {
    const p = write('badurl.json', { name: 'm', base_url: 'localhost:8000' });
    expect(errorOf(() => loadModelConfig(p)).message).toMatch(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: base_url: must be an absolute http\\(s\\) URL`));
    const q = write('badep.json', { name: 'm', endpoints: [{ base_url: 'http://a:1/v1' }, { base_url: 'nope' }] });
    expect(errorOf(() => loadModelConfig(q)).message).toMatch(/endpoints\[1\]\.base_url: must be an absolute/);
    const r = write('ftp.json', { name: 'm', base_url: 'ftp://host/v1' });
    expect(errorOf(() => loadModelConfig(r)).message).toMatch(/base_url: must be an absolute http\(s\) URL .*\(got "ftp:\/\/host\/v1"\)/);
    const s = write('junk.json', { name: 'm', base_url: 'not a url' });
    expect(errorOf(() => loadModelConfig(s)).message).toMatch(/junk\.json: base_url: must be an absolute/);
  });

  it('rejects a config with neither base_url nor endpoints, unknown fields and stored keys', () => {
    expect(errorOf(() => loadModelConfig(write('nourl.json', { name: 'm' }))).message).toMatch(/give base_url or endpoints/);
    expect(errorOf(() => loadModelConfig(write('typo.json', { name: 'm', base_url: 'http://h/v1', temprature: 0 }))).message)
      .toMatch(/unknown field "temprature"/);
    const e = errorOf(() => loadModelConfig(write('key.json', { name: 'm', base_url: 'http://h/v1', api_key: 'sk-123' })));
    expect(e.message).toMatch(/API keys are never stored/);
    expect(e.message).not.toContain('sk-123');
    expect(errorOf(() => loadModelConfig(write('keyenv.json', { name: 'm', base_url: 'http://h/v1', api_key_env: 'sk-abc' }))).message)
      .toMatch(/api_key_env: must be the NAME of an environment variable/);
  });

  it('takes max_in_flight for the config and per endpoint, and rejects 0 with a clear message', () => {
    const ok = loadModelConfig(write('inflight.json', { name: 'm', max_in_flight: 4, endpoints: [{ base_url: 'http://a:1/v1', max_in_flight: 2 }, { base_url: 'http://b:1/v1' }] }));
    expect(ok.max_in_flight).toBe(4);
    expect(ok.endpoints?.map((e) => e.max_in_flight)).toEqual([2, undefined]);
    // Absent: no value in the config (the client applies DEFAULT_MAX_IN_FLIGHT).
    expect(loadModelConfig(write('noinflight.json', { name: 'm', base_url: 'http://h/v1' })).max_in_flight).toBeUndefined();
    const p = write('zero.json', { name: 'm', base_url: 'http://h/v1', max_in_flight: 0 });
    const zero = errorOf(() => loadModelConfig(p));
    expect(zero).toBeInstanceOf(ModelConfigError);
    expect(zero.message).toContain(p);
    expect(zero.message).toMatch(/max_in_flight: must be at least 1: the most requests sent to one endpoint at once/);
    expect(errorOf(() => loadModelConfig(write('epzero.json', { name: 'm', endpoints: [{ base_url: 'http://a:1/v1', max_in_flight: 0 }] }))).message)
      .toMatch(/endpoints\[0\]\.max_in_flight: must be at least 1/);
    expect(errorOf(() => loadModelConfig(write('frac.json', { name: 'm', base_url: 'http://h/v1', max_in_flight: 2.5 }))).message)
      .toMatch(/max_in_flight: must be a whole number/);
  });

  it('names the file for an unknown file', () => {
    const p = join(dir, 'missing.json');
    const e = errorOf(() => loadModelConfig(p));
    expect(e.message).toBe(`${p}: no such model config file`);
  });
});

describe('modelConfigFromFlags', () => {
  it('builds a config with defaults', () => {
    const c = modelConfigFromFlags({ model: 'gpt-4o', baseUrl: 'https://api.openai.com/v1', apiKeyEnv: 'OPENAI_API_KEY' });
    expect(c).toMatchObject({ name: 'gpt-4o', base_url: 'https://api.openai.com/v1', api_key_env: 'OPENAI_API_KEY', max_tokens: 4096, roles: {} });
    expect(modelConfigFromFlags({ model: 'm', baseUrl: 'http://127.0.0.1:11434/v1' }).api_key_env).toBeUndefined();
  });
  it('names the flag in errors', () => {
    expect(errorOf(() => modelConfigFromFlags({ model: 'm', baseUrl: 'not a url' })).message).toMatch(/--base-url: must be an absolute/);
    expect(errorOf(() => modelConfigFromFlags({ model: '', baseUrl: 'http://h/v1' })).message).toMatch(/--model: /);
    expect(errorOf(() => modelConfigFromFlags({ model: 'm', baseUrl: 'http://h/v1', apiKeyEnv: 'has space' })).message).toMatch(/--api-key-env: must be the NAME/);
  });
});

describe('ModelRegistry.resolve', () => {
  // Built per call: SPATIALCLAW_HOME is set in beforeAll.
  const modelsDir = (): string => new ModelRegistry().dir;
  const resolveModelConfig = (arg: string) => new ModelRegistry().resolve(arg);
  afterEach(() => rmSync(modelsDir(), { recursive: true, force: true }));

  it('accepts a path or a name in <data dir>/models/', () => {
    const p = write('path.json', { name: 'by-path', base_url: 'http://127.0.0.1:1/v1' });
    expect(resolveModelConfig(p).name).toBe('by-path');
    mkdirSync(modelsDir(), { recursive: true });
    writeFileSync(join(modelsDir(), 'local-qwen.json'), JSON.stringify({ name: 'by-name', base_url: 'http://127.0.0.1:2/v1' }));
    expect(modelsDir()).toBe(join(dir, 'home', 'models'));
    expect(resolveModelConfig('local-qwen').name).toBe('by-name');
    expect(new ModelRegistry().names()).toEqual(['local-qwen']);
    // The model id a config serves names it too.
    expect(resolveModelConfig('by-name').base_url).toBe('http://127.0.0.1:2/v1');
  });

  it('explains an unknown name and lists the known ones', () => {
    expect(errorOf(() => resolveModelConfig('nothing')).message).toMatch(/no model config called "nothing" \(no configs in .* yet\)/);
    mkdirSync(modelsDir(), { recursive: true });
    writeFileSync(join(modelsDir(), 'a.json'), '{}');
    const e = errorOf(() => resolveModelConfig('b'));
    expect(e.message).toContain(join(modelsDir(), 'b.json'));
    expect(e.message).toMatch(/known: a/);
    expect(errorOf(() => resolveModelConfig(join(dir, 'nope.json'))).message).toMatch(/no such model config file/);
    expect(errorOf(() => resolveModelConfig('Qwen/Qwen3-VL-8B')).message).toMatch(/no such model config file \(a model id .* --base-url\)/);
  });
});

describe('redactConfig', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of ['SC_REDACT_KEY', 'SC_OTHER_TOKEN', 'SC_EP_KEY']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it('keeps api_key_env names and never writes a key value', () => {
    const key = 'sk-live-0123456789abcdef';
    const epKey = 'ep-secret-987654321';
    const hfToken = 'hf_tokentokentoken123';
    process.env.SC_REDACT_KEY = key;
    process.env.SC_EP_KEY = epKey;
    process.env.SC_OTHER_TOKEN = hfToken;
    const cfg = modelConfigFromFlags({ model: 'm', baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: 'SC_REDACT_KEY' });
    // Keys pasted where they do not belong: extra_body, a role, a URL's query and userinfo.
    cfg.extra_body = { api_key: key, headers_note: `Bearer ${key}`, nested: { token: hfToken, max_tokens: 5 }, chat_template_kwargs: { enable_thinking: true } };
    cfg.roles = { main: { temperature: 0.2, note: epKey } };
    cfg.endpoints = [
      { base_url: `https://user:${epKey}@host.example/v1?key=${key}`, api_key_env: 'SC_EP_KEY' },
      { base_url: 'http://127.0.0.1:9/v1' },
    ];
    const red = redactConfig(cfg);
    const text = JSON.stringify(red);
    for (const secret of [key, epKey, hfToken]) expect(text).not.toContain(secret);
    expect(red.api_key_env).toBe('SC_REDACT_KEY');
    expect(red.endpoints?.[0]?.api_key_env).toBe('SC_EP_KEY');
    expect(red.endpoints?.[1]?.base_url).toBe('http://127.0.0.1:9/v1');
    expect(red.extra_body).toMatchObject({ api_key: '[redacted]', nested: { token: '[redacted]', max_tokens: 5 }, chat_template_kwargs: { enable_thinking: true } });
    expect(red.roles.main?.temperature).toBe(0.2);
    // The input is not modified.
    expect(cfg.extra_body.api_key).toBe(key);
  });
});

describe('splitThink / stripThink', () => {
  it('separates think blocks from the answer', () => {
    expect(splitThink('<think>a\nb</think>\nAnswer: B')).toEqual({ content: 'Answer: B', reasoning: 'a\nb' });
    expect(splitThink('opened in the prompt</think>B')).toEqual({ content: 'B', reasoning: 'opened in the prompt' });
    expect(splitThink('plain')).toEqual({ content: 'plain', reasoning: null });
    expect(splitThink('<think>cut off mid-thou')).toEqual({ content: '', reasoning: 'cut off mid-thou' });
    expect(splitThink('<think>x</think>A <think>y</think>B')).toEqual({ content: 'A B', reasoning: 'x\n\ny' });
    expect(stripThink('<think></think>\n\nC')).toBe('C');
  });
});
