/**
 * Settings > Model endpoints through the real workbench host (issue 15, papercut "same-name model endpoints
 * silently overwrite each other, and Test does not check the model name"): saveModel refuses a taken name (a saved
 * config, two model ids with one file name, a built-in config) unless `replace: true`, with status 409 through the
 * shared transport dispatch; testModel asks each endpoint's GET /models (OpenAI models.list) and says when the
 * configured model id is not among those served. Real HTTP endpoints (the scripted model server) and a real host in
 * a temporary SPATIALCLAW_HOME.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkbenchError } from '../../shared/api.ts';
import { ModelConfigSchema } from '../../shared/model.ts';
import { dispatch } from '../../electron/services/workbench/transport.ts';
import { hostInTempHome, type TempHomeHost } from '../helpers/host-home.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

let wb: TempHomeHost;
const servers: ScriptedModelServer[] = [];

beforeAll(async () => {
  wb = await hostInTempHome('model-endpoints-');
});
afterAll(async () => {
  await wb?.close(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
});

const config = (name: string, base_url: string) => ModelConfigSchema.parse({ name, base_url, max_retries: 0 });

async function refusal(p: Promise<unknown>): Promise<WorkbenchError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(WorkbenchError);
  return e as WorkbenchError;
}

describe('saveModel: a taken name is replaced only when asked', () => {
  it('refuses a second endpoint with the same name, keeps the first, and replaces it with replace: true', async () => {
    const h = wb.host.handlers;
    const first = await h.saveModel({ config: config('org/vlm', 'http://box-a:8000/v1') });
    expect(first.name).toBe('org_vlm');
    const before = readFileSync(first.file, 'utf8');

    const e = await refusal(h.saveModel({ config: config('org/vlm', 'http://box-b:8000/v1') }));
    expect(e.status).toBe(409);
    expect(e.message).toBe('a model endpoint called "org_vlm" already exists (model "org/vlm" at http://box-a:8000/v1); it was not replaced');
    expect(e.fix).toMatch(/replace: true.*"endpoints"/);
    expect(readFileSync(first.file, 'utf8')).toBe(before); // nothing lost
    // Another model id with the same file name is refused too, naming the mapping.
    const clash = await refusal(h.saveModel({ config: config('org_vlm', 'http://box-c:8000/v1') }));
    expect(clash.message).toBe('a model endpoint called "org_vlm" already exists (model "org/vlm" at http://box-a:8000/v1; model ids "org/vlm" and "org_vlm" are both saved as org_vlm.json); it was not replaced');

    // Both transports answer the refusal as HTTP 409 with the message and fix (shared dispatch).
    const viaTransport = await dispatch(h, 'saveModel', { config: { name: 'org/vlm', base_url: 'http://box-b:8000/v1' } });
    expect(viaTransport.ok).toBe(false);
    if (!viaTransport.ok) {
      expect(viaTransport.failure.status).toBe(409);
      expect(viaTransport.failure.body.error).toMatch(/already exists/);
    }
    const bad = await dispatch(h, 'saveModel', { config: { name: 'x', base_url: 'http://h:1/v1' }, replace: 'yes' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.failure.body.error).toMatch(/^invalid arguments for saveModel: replace: /);

    const replaced = await dispatch(h, 'saveModel', { config: { name: 'org/vlm', base_url: 'http://box-b:8000/v1' }, replace: true });
    expect(replaced.ok).toBe(true);
    const listed = (await h.listModels({})).filter((m) => m.name === 'org_vlm');
    expect(listed.map((m) => m.config.base_url)).toEqual(['http://box-b:8000/v1']);
  });

  it('replaces a built-in (read-only) config only with replace: true', async () => {
    const h = wb.host.handlers;
    const builtin = (await h.listModels({})).find((m) => m.builtin);
    expect(builtin, 'the repo ships built-in model configs (models/)').toBeDefined();
    const e = await refusal(h.saveModel({ config: config(builtin!.name, 'http://mine:1/v1') }));
    expect(e.status).toBe(409);
    expect(e.message).toMatch(new RegExp(`^a built-in model endpoint is called "${builtin!.name.replace(/\./g, '\\.')}" .*read-only and was not replaced$`));
    expect((await h.listModels({})).find((m) => m.name === builtin!.name)?.builtin).toBe(true);
    const mine = await h.saveModel({ config: config(builtin!.name, 'http://mine:1/v1'), replace: true });
    expect((await h.listModels({})).find((m) => m.name === builtin!.name)).toMatchObject({ file: mine.file, config: { base_url: 'http://mine:1/v1' } });
    await h.removeModel({ name: builtin!.name });
    expect((await h.listModels({})).find((m) => m.name === builtin!.name)?.builtin).toBe(true);
  });
});

describe('testModel: the endpoint must serve the configured model id', () => {
  it('names what the endpoint serves when the model id is not among them, and passes when it is', async () => {
    const h = wb.host.handlers;
    const s = await startScriptedModelServer({ models: ['Qwen/Qwen3-VL-8B-Instruct', 'gemma-4-31b'] });
    servers.push(s);
    await h.saveModel({ config: config('qwen3-vl', s.url) });
    const wrong = await h.testModel({ name: 'qwen3-vl' });
    expect(wrong.ok).toBe(false);
    expect(wrong.endpoints).toEqual([{
      base_url: s.url, ok: false, latency_ms: expect.any(Number) as number, served: ['Qwen/Qwen3-VL-8B-Instruct', 'gemma-4-31b'],
      error: "endpoint serves [Qwen/Qwen3-VL-8B-Instruct, gemma-4-31b]; model 'qwen3-vl' is not among them — fix the model name (did you mean 'Qwen/Qwen3-VL-8B-Instruct'?)",
    }]);
    expect(s.endpoints[0]!.healthChecks).toBe(1); // it asked GET /v1/models
    await h.saveModel({ config: config('llava-1.5', s.url) });
    expect((await h.testModel({ name: 'llava-1.5' })).endpoints[0]!.error).toBe(
      "endpoint serves [Qwen/Qwen3-VL-8B-Instruct, gemma-4-31b]; model 'llava-1.5' is not among them — fix the model name",
    );

    await h.saveModel({ config: config('Gemma-4-31B', s.url) });
    const cased = await h.testModel({ name: 'Gemma-4-31B' });
    expect(cased.endpoints[0]!.error).toMatch(/model 'Gemma-4-31B' is not among them — fix the model name \(did you mean 'gemma-4-31b'\?\)$/);

    await h.saveModel({ config: config('Qwen/Qwen3-VL-8B-Instruct', s.url) });
    const right = await h.testModel({ name: 'Qwen/Qwen3-VL-8B-Instruct' });
    expect(right).toEqual({ ok: true, endpoints: [{ base_url: s.url, ok: true, latency_ms: expect.any(Number) as number, error: null, served: ['Qwen/Qwen3-VL-8B-Instruct', 'gemma-4-31b'] }] });
  });

  it('checks every endpoint of a config; unreachable, unauthorised and route-less endpoints say so', async () => {
    const h = wb.host.handlers;
    const s = await startScriptedModelServer({ endpoints: 4, model: 'multi-vlm' });
    servers.push(s);
    s.endpoints[1]!.healthStatus = 404; // a server without /models: reachable, the name cannot be checked
    s.endpoints[2]!.healthStatus = 401;
    await s.endpoints[3]!.stop(); // connection refused
    await h.saveModel({ config: ModelConfigSchema.parse({ name: 'multi-vlm', endpoints: s.urls.map((base_url) => ({ base_url })), max_retries: 0 }) });
    const r = await h.testModel({ name: 'multi-vlm' });
    expect(r.ok).toBe(false);
    const [ok, noRoute, unauthorised, down] = r.endpoints;
    expect(ok).toMatchObject({ ok: true, error: null, served: ['multi-vlm'] });
    expect(noRoute).toMatchObject({ ok: true, error: null, served: null });
    expect(unauthorised).toMatchObject({ ok: false, served: null });
    expect(unauthorised!.error).toMatch(/^HTTP 401: .*api_key_env/);
    expect(down).toMatchObject({ ok: false, latency_ms: null, served: null });
    expect(down!.error).toMatch(/^connection failed \(ECONNREFUSED\); check that the server runs and the URL ends in \/v1$/);
  });
});
