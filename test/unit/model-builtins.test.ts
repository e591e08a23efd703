/**
 * The built-in model configs of the paper's six backbones (`<root>/models/`, docs/paper-parity.md row 17): their
 * per-role parameters as the request bodies carry them, and how the ModelRegistry offers them (listed read-only,
 * usable by name, `--base-url` keeps their roles, a saved config of the same name replaces one).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkbenchError } from '../../shared/api.ts';
import { ModelConfigSchema, type Role } from '../../shared/model.ts';
import { ModelClient, splitGemmaThought } from '../../electron/services/model/client.ts';
import { builtinModelsDir, ModelRegistry } from '../../electron/services/model/registry.ts';
import { ROOT } from '../helpers/cli.ts';

const BACKBONES = ['gemma-4-26b-a4b', 'gemma-4-31b', 'qwen3.5-122b-a10b', 'qwen3.5-397b-a17b', 'qwen3.6-27b', 'qwen3.6-35b-a3b'];
let dir: string;
const registry = (): ModelRegistry => new ModelRegistry(join(dir, 'models'), join(ROOT, 'models'));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sc-builtins-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('built-in model configs', () => {
  it('ship one config per backbone, in <root>/models', () => {
    expect(builtinModelsDir()).toBe(join(ROOT, 'models'));
    expect(registry().builtinNames()).toEqual(BACKBONES);
    expect(registry().names()).toEqual([]);
  });

  it('send 131072 tokens for planner, main and fallback, 32768 for vlm, 16384 for locate; temperature 0.6, thinking on, nothing else', () => {
    const expected: Record<Role, number> = { planner: 131072, main: 131072, fallback: 131072, vlm: 32768, locate: 16384 };
    for (const name of BACKBONES) {
      const cfg = registry().resolve(name);
      expect(cfg).toMatchObject({ name, base_url: 'http://127.0.0.1:8000/v1', timeout_s: 600, max_retries: 4 });
      const client = new ModelClient(cfg);
      for (const [role, tokens] of Object.entries(expected) as [Role, number][]) {
        const { messages: _m, ...body } = client.requestBody(role, [{ role: 'user', content: 'x' }]);
        expect(body, `${name} ${role}`).toEqual({ model: name, stream: false, max_tokens: tokens, temperature: 0.6, chat_template_kwargs: { enable_thinking: true } });
      }
    }
  });

  it('are listed read-only and usable by name; --base-url keeps their roles; a saved config of the same name replaces one', () => {
    const r = registry();
    const listed = r.list();
    expect(listed.map((m) => m.name)).toEqual(BACKBONES);
    expect(listed.every((m) => m.builtin === true)).toBe(true);
    expect(r.lookup('qwen3.6-27b')?.config.roles.locate?.max_tokens).toBe(16384);
    expect(() => r.remove('qwen3.6-27b')).toThrow(WorkbenchError);

    const moved = r.fromArgs({ model: 'gemma-4-31b', baseUrl: 'http://gpu:9000/v1', apiKeyEnv: 'GPU_KEY' })!;
    expect(moved).toMatchObject({ name: 'gemma-4-31b', base_url: 'http://gpu:9000/v1', api_key_env: 'GPU_KEY', timeout_s: 600 });
    expect(moved.roles.main?.max_tokens).toBe(131072);
    // Any other name with a base URL is still an ad-hoc config with the defaults.
    expect(r.fromArgs({ model: 'org/other', baseUrl: 'http://gpu:9000/v1' })).toMatchObject({ name: 'org/other', max_tokens: 4096, roles: {} });

    // A built-in config is replaced only when asked to (saveModel's replace).
    expect(() => r.save(ModelConfigSchema.parse({ name: 'qwen3.6-27b', base_url: 'http://mine:1/v1' }))).toThrow(/built-in model endpoint is called "qwen3\.6-27b".*not replaced/);
    expect(r.resolve('qwen3.6-27b').base_url).toBe('http://127.0.0.1:8000/v1');
    r.save(ModelConfigSchema.parse({ name: 'qwen3.6-27b', base_url: 'http://mine:1/v1' }), { replace: true });
    expect(r.resolve('qwen3.6-27b').base_url).toBe('http://mine:1/v1');
    expect(r.builtinNames()).not.toContain('qwen3.6-27b');
    expect(r.list().find((m) => m.name === 'qwen3.6-27b')?.builtin).toBeUndefined();
    r.remove('qwen3.6-27b');
    expect(r.resolve('qwen3.6-27b').base_url).toBe('http://127.0.0.1:8000/v1');
  });

  it('an unknown name lists the built-in ones', () => {
    expect(() => registry().resolve('nothing')).toThrow(/built-in: gemma-4-26b-a4b, gemma-4-31b/);
  });
});

describe('Gemma thinking inline (row 17)', () => {
  it('splits `thought\\n…` at the first **Purpose**, else at a heading or bold line', () => {
    expect(splitGemmaThought('thought\nabc\n**Purpose**: p\n**Reasoning**: r')).toEqual({ content: '**Purpose**: p\n**Reasoning**: r', reasoning: 'abc' });
    expect(splitGemmaThought('thought\nlet me see\n## Answer\nB')).toEqual({ content: '## Answer\nB', reasoning: 'let me see' });
    expect(splitGemmaThought('no thought prefix **Purpose**: p')).toBeNull();
    expect(splitGemmaThought('thought\nonly thinking')).toBeNull();
  });
});
