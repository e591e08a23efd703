/**
 * The pure parts of servers on the cluster (electron/services/cluster/servers.ts): the generated sbatch scripts are
 * exactly the ones docs/cluster.md shows, `--vllm-args` is split as a shell splits it, and vLLM's load is read from
 * its Prometheus metrics. The jobs themselves run in test/integration/cluster-servers.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelClient } from '../../electron/services/model/client.ts';
import { redactConfig } from '../../electron/services/model/config.ts';
import { startScriptedModelServer } from '../helpers/scripted-model.ts';
import { defaultGpus, type ScriptContext, serverJobScript, shellQuote, splitArgs, vllmLoad } from '../../electron/services/cluster/servers.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const CLUSTER = '/home/alice/.local/share/spatialclaw/cluster';
const ctx = (kind: string): ScriptContext => ({
  node: '/usr/bin/node', cli: '/opt/spatialclaw/electron/cli/spatialclaw.mjs', clusterDir: CLUSTER, log: `${CLUSTER}/jobs/${kind}-%j.out`,
});

/** The bash block after `<!-- server-job-script: KIND …-->` in docs/cluster.md. */
function documented(kind: string): string {
  const doc = readFileSync(join(ROOT, 'docs', 'cluster.md'), 'utf8');
  const m = new RegExp(`<!-- server-job-script: ${kind}\\b[^>]*-->\\n\`\`\`bash\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (!m) throw new Error(`docs/cluster.md has no server-job-script block for ${kind}`);
  return m[1]!;
}

describe('server job scripts', () => {
  it('are the ones docs/cluster.md shows in full', () => {
    expect(serverJobScript({ kind: 'perception', backends: ['da3', 'sam3'], partition: 'gpu', time: '08:00:00' }, ctx('perception'))).toBe(documented('perception'));
    expect(serverJobScript({
      kind: 'model', model: 'Qwen/Qwen2.5-VL-72B-Instruct', vllmArgs: splitArgs('--tensor-parallel-size 4 --max-model-len 32768'),
      gpus: 4, partition: 'gpu', time: '1-00:00:00', sbatchArgs: ['--cpus-per-task=16'],
    }, ctx('model'))).toBe(documented('model'));
  });

  it('comment every line, quote what needs quoting, and carry no token or secret', () => {
    const s = serverJobScript({ kind: 'model', model: 'org/m', vllmArgs: ['--chat-template', "it's here.jinja"], gpus: 0 }, ctx('model'));
    const lines = s.split('\n');
    // Every #SBATCH line and every command has a comment line right above it.
    lines.forEach((l, i) => {
      if (l.startsWith('#SBATCH') || /^(set|umask|export|exec) /.test(l)) expect(lines[i - 1], l).toMatch(/^# /);
    });
    expect(s).not.toContain('#SBATCH --gpus');
    expect(s).toContain("-- --chat-template 'it'\\''s here.jinja'");
    expect(s).not.toMatch(/VLLM_API_KEY=|--api-key|--token/);
  });

  it('ask for a GPU by default only where one is needed', () => {
    expect(defaultGpus({ kind: 'perception', backends: ['rgbd', 'classical'] })).toBe(0);
    expect(defaultGpus({ kind: 'perception', backends: ['rgbd', 'sam3'] })).toBe(1);
    expect(defaultGpus({ kind: 'model', model: 'm', vllmArgs: [] })).toBe(1);
    expect(defaultGpus({ kind: 'model', model: 'm', vllmArgs: [], gpus: 0 })).toBe(0);
  });
});

describe('splitArgs and shellQuote', () => {
  it('split like a POSIX shell for words, quotes and escapes', () => {
    expect(splitArgs('  --a 1   --b "two words" --c \'x "y"\' --d a\\ b --e ""')).toEqual(['--a', '1', '--b', 'two words', '--c', 'x "y"', '--d', 'a b', '--e', '']);
    expect(splitArgs('')).toEqual([]);
    expect(() => splitArgs('--a "open')).toThrow(/unbalanced " quote/);
  });

  it('round-trip through bash', async () => {
    const { spawnSync } = await import('node:child_process');
    const words = ['plain', 'two words', "it's", '$HOME', 'a"b', '', '--x=1'];
    const r = spawnSync('bash', ['-c', `printf '%s\\n' ${words.map(shellQuote).join(' ')}`], { encoding: 'utf8' });
    expect(r.stdout.split('\n').slice(0, -1)).toEqual(words);
  });
});

describe('vllmLoad', () => {
  it('adds running and waiting requests over every model label, and is 0 without metrics', () => {
    const text = [
      '# HELP vllm:num_requests_running Number of requests in model execution batches.',
      '# TYPE vllm:num_requests_running gauge',
      'vllm:num_requests_running{engine="0",model_name="m"} 3.0',
      'vllm:num_requests_waiting{engine="0",model_name="m"} 2.0',
      'vllm:num_requests_swapped{engine="0",model_name="m"} 7.0',
      'vllm:num_requests_running{engine="1",model_name="m"} 1.0',
    ].join('\n');
    expect(vllmLoad(text)).toBe(6);
    expect(vllmLoad(null)).toBe(0);
    expect(vllmLoad('no metrics here')).toBe(0);
  });
});

describe('an endpoint with api_key_file (how --model cluster reaches a registered server)', () => {
  it('reads the key from the file at each call, and records only the path', async () => {
    const server = await startScriptedModelServer({ apiKey: 'token-new-0123456789', default: ['ok'] });
    const dir = mkdtempSync(join(tmpdir(), 'sc-keyfile-'));
    try {
      const file = join(dir, 'model-1.token');
      writeFileSync(file, 'token-old-0123456789\n', { mode: 0o600 });
      const cfg = { name: 'scripted-model', endpoints: [{ base_url: server.url, api_key_file: file }], roles: {}, max_tokens: 64,
        images: { per_request: 1, max_long_edge: 64 }, extra_body: {}, timeout_s: 5, max_retries: 0, cooldown_s: 0 };
      const client = new ModelClient(cfg);
      await expect(client.chat({ role: 'main', messages: [{ role: 'user', content: 'hi' }] })).rejects.toThrow(`HTTP 401: Unauthorized (check the key file ${file}`);
      // The server restarted with a new token: the same client picks it up from the file.
      writeFileSync(file, 'token-new-0123456789\n');
      expect((await client.chat({ role: 'main', messages: [{ role: 'user', content: 'hi' }] })).content).toBe('ok');
      expect(server.requests.at(-1)!.headers.authorization).toBe('Bearer token-new-0123456789');
      const recorded = JSON.stringify(redactConfig(cfg));
      expect(recorded).toContain(file);
      expect(recorded).not.toContain('token-new-0123456789');
      rmSync(file);
      expect(() => new ModelClient(cfg)).toThrow(`cannot read the key file ${file}`);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
