/**
 * The run store redacts secrets before anything is written (electron/services/runs/secrets.ts `Redactor`,
 * electron/services/runs/writer.ts): events, request messages and result lines carry `[redacted:<NAME>]` instead of
 * the value, the result line counts the replacements (`redactions`), and no file of the run holds the value.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RunEventSchema, SampleResultSchema } from '../../shared/run.ts';
import { envSecrets, MIN_SECRET_LENGTH, Redactor, registerSecret, registeredSecrets, scanRunForSecrets } from '../../electron/services/runs/secrets.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import { VlmBridge } from '../../electron/services/kernel/bridge.ts';
import { sampleEvents, sampleResult, sampleSpec } from '../helpers/run-writer-child.ts';

const KEY = 'sk-proj-redaction-test-0123456789abcdef';
const TOKEN = '0f3e9a7c5b1d2e4f6a8b0c1d2e3f4a5b6c7d8e9f0a1b2c3d';

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? allFiles(p) : [p];
  });
}

const dirs: string[] = [];
const forget: (() => void)[] = [];
afterEach(() => {
  vi.unstubAllEnvs();
  for (const f of forget.splice(0)) f();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('Redactor', () => {
  it('replaces every occurrence of each secret by a marker naming its variable, and counts them', () => {
    const r = new Redactor([{ name: 'OPENAI_API_KEY', value: KEY }, { name: 'JUPYTER_TOKEN', value: TOKEN }]);
    const line = JSON.stringify({ stdout: `key=${KEY}\n${KEY} and ${TOKEN}`, other: 'nothing secret' });
    const out = r.redact(line);
    expect(out.count).toBe(3);
    expect(out.text).not.toContain(KEY);
    expect(out.text).not.toContain(TOKEN);
    expect(JSON.parse(out.text)).toEqual({ stdout: 'key=[redacted:OPENAI_API_KEY]\n[redacted:OPENAI_API_KEY] and [redacted:JUPYTER_TOKEN]', other: 'nothing secret' });
    expect(r.redact('{"a":"clean"}')).toEqual({ text: '{"a":"clean"}', count: 0 });
  });

  it('finds a secret with JSON-escaped characters in serialized text, and keeps the line valid JSON', () => {
    const odd = 'pa"ss\\word-0123456789';
    const r = new Redactor([{ name: 'DB_PASSWORD', value: odd }]);
    const out = r.redact(JSON.stringify({ s: `before ${odd} after` }));
    expect(out.count).toBe(1);
    expect(JSON.parse(out.text)).toEqual({ s: 'before [redacted:DB_PASSWORD] after' });
  });

  it('removes a secret that contains another whole, ignores short values, and cleans odd names', () => {
    const inner = 'abcdefgh12345678';
    const r = new Redactor([{ name: 'SHORT', value: 'abc' }, { name: 'INNER', value: inner }, { name: 'OUTER KEY(x)', value: `${inner}-outer` }]);
    const out = r.redact(`"${inner}-outer / ${inner} / abc"`);
    expect(out.text).toBe('"[redacted:OUTER_KEY_x_] / [redacted:INNER] / abc"');
    expect(out.count).toBe(2);
    expect('abc'.length).toBeLessThan(MIN_SECRET_LENGTH);
  });

  it('looks for the secrets registered now (tokens of servers and bridges), and stops after they are forgotten', () => {
    const r = new Redactor([]);
    expect(r.redact(`"${TOKEN}"`).count).toBe(0);
    const done = registerSecret('MODEL_BRIDGE_TOKEN', TOKEN);
    forget.push(done);
    expect(registeredSecrets()).toContainEqual({ name: 'MODEL_BRIDGE_TOKEN', value: TOKEN });
    expect(r.redact(`"${TOKEN}"`)).toEqual({ text: '"[redacted:MODEL_BRIDGE_TOKEN]"', count: 1 });
    done();
    expect(r.redact(`"${TOKEN}"`).count).toBe(0);
  });

  it('redacts a VLM bridge token (which a kernel holds in memory) while the bridge serves', async () => {
    const bridge = new VlmBridge({ ask: async () => ({ text: '' }), locate: async () => ({ points: [], text: '' }) });
    const r = new Redactor([]);
    await bridge.start();
    try {
      expect(r.redact(`"bridge ${bridge.token}"`)).toEqual({ text: '"bridge [redacted:MODEL_BRIDGE_TOKEN]"', count: 1 });
    } finally {
      await bridge.stop();
    }
    expect(registeredSecrets().map((x) => x.value)).not.toContain(bridge.token);
  });

  it('by default treats the values of secret-looking variables as secrets, named by the variable', () => {
    vi.stubEnv('SPATIALCLAW_TEST_API_KEY', KEY);
    vi.stubEnv('SPATIALCLAW_TEST_PLAIN', 'plain-value-0123456789');
    expect(envSecrets()).toContainEqual({ name: 'SPATIALCLAW_TEST_API_KEY', value: KEY });
    expect(envSecrets().map((s) => s.name)).not.toContain('SPATIALCLAW_TEST_PLAIN');
    expect(new Redactor().redact(`"${KEY}"`).text).toBe('"[redacted:SPATIALCLAW_TEST_API_KEY]"');
  });
});

describe('RunWriter redacts before writing', () => {
  it('keeps the key and a registered token out of events, messages and results, and records how many it replaced', async () => {
    vi.stubEnv('SPATIALCLAW_TEST_API_KEY', KEY);
    forget.push(registerSecret('JUPYTER_TOKEN', TOKEN));
    const dir = mkdtempSync(join(tmpdir(), 'redact-'));
    dirs.push(dir);
    const w = await RunWriter.create(dir, { config: { model: { api_key_env: 'SPATIALCLAW_TEST_API_KEY' } }, versions: {}, total_samples: 2 });

    // Sample 0: the model "echoes" the key (host side) and a cell prints the token; the answer holds the key too.
    const s0 = w.startSample(sampleSpec(0));
    const events = sampleEvents(0);
    const live = events.flatMap((e) => {
      if (e.type === 'model_call') return s0.event({ ...e, raw: `my key is ${KEY}` });
      if (e.type === 'cell') return s0.event({ ...e, result: { ...e.result, stdout: `JUPYTER_TOKEN=${TOKEN}\n` } });
      return s0.event(e);
    });
    s0.recordRequest([{ role: 'user', content: `observation: ${KEY}` }], { model: 'm' });
    expect(JSON.stringify(live)).not.toContain(KEY); // what live views get is what was written
    expect(live.find((e) => e.type === 'model_call')).toMatchObject({ raw: 'my key is [redacted:SPATIALCLAW_TEST_API_KEY]' });
    expect(s0.redactions).toBe(3);
    await s0.finish({ ...sampleResult(0), error: `failed with ${KEY}` });

    // Sample 1: nothing secret, no count.
    const s1 = w.startSample(sampleSpec(1));
    for (const e of sampleEvents(1)) s1.event(e);
    await s1.finish(sampleResult(1));
    await w.finish('finished');

    for (const f of allFiles(dir)) {
      const bytes = readFileSync(f);
      expect(bytes.includes(KEY), f).toBe(false);
      expect(bytes.includes(TOKEN), f).toBe(false);
    }
    expect(scanRunForSecrets(dir, [KEY, TOKEN])).toEqual([]);
    const lines = readFileSync(join(dir, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => SampleResultSchema.parse(JSON.parse(l)));
    expect(lines[0]).toMatchObject({ id: 's000', redactions: 4, error: 'failed with [redacted:SPATIALCLAW_TEST_API_KEY]' });
    expect(lines[1]!.redactions).toBeUndefined();
    const ev = readFileSync(join(dir, 'samples', 's000', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => RunEventSchema.parse(JSON.parse(l)));
    const cell = ev.find((e) => e.type === 'cell');
    expect(cell?.type === 'cell' && cell.result.stdout).toBe('JUPYTER_TOKEN=[redacted:JUPYTER_TOKEN]\n');
    expect(readFileSync(join(dir, 'samples', 's000', 'messages.jsonl'), 'utf8')).toContain('observation: [redacted:SPATIALCLAW_TEST_API_KEY]');
  });
});
