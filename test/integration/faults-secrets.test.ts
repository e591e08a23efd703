/**
 * Fault injection, issue 17 §2: secrets must reach neither a child process that does not need them nor any file of a
 * run. Real Jupyter server, kernels, perception server and safety checker; only the model is scripted.
 *
 * (a) `spatialclaw ask` with an API key in the CLI's environment (OPENAI_API_KEY, and the configured key under a
 *     plain-looking name given with --api-key-env): a cell prints `os.environ` and tries to read both keys and the
 *     Jupyter token; the model's own text (host side) holds the key. No file of the run folder holds a key; the cell's
 *     output shows no key (the kernel never had one) and no redaction marker; the model_call event shows the marker.
 * (b) /proc/<pid>/environ of the running Jupyter server, a kernel, the perception server and the safety checker:
 *     no key anywhere, the Jupyter token only in the server.
 */
import { readdirSync, readFileSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { kernelHostPid } from '../helpers/process.ts';
import { RunEventSchema, SampleResultSchema } from '../../shared/run.ts';
import { KernelRuntime } from '../../electron/services/kernel/runtime.ts';
import type { KernelSession } from '../../electron/services/kernel/session.ts';
import { PerceptionServer } from '../../electron/services/perception/server.ts';
import { spatialclaw } from '../helpers/cli.ts';
import { ROOM, step } from '../helpers/rgbd-script.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const isLinux = process.platform === 'linux';
/** A key under the usual name: a deny-list by name catches it. */
const OPENAI_KEY = 'sk-proj-faults-secrets-openai-5f2c9e1a7b3d';
/** The configured key under a plain-looking name (`--api-key-env SC_MODEL_ACCESS`): only an allow-list keeps it out. */
const MODEL_KEY = 'sk-faults-secrets-model-access-8d41b07c';

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? allFiles(p) : [p];
  });
}

/** The environment a process was started with (/proc/<pid>/environ), as a map. */
function environOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
const parentOf = (pid: number): number => Number(/\)\s+\S+\s+(\d+)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1]);

/** Pids of every living descendant of `root` with its command line. */
function descendants(root: number): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    try {
      for (let p = parentOf(pid), hops = 0; p > 1 && hops < 12; p = parentOf(p), hops++) {
        if (p === root) {
          found.push({ pid, cmd: cmdline(pid) });
          break;
        }
      }
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

/** Every value of `env` that holds one of `secrets`, as `NAME` (never the value). */
const holding = (env: Record<string, string>, secrets: string[]): string[] =>
  Object.entries(env).filter(([, v]) => secrets.some((s) => v.includes(s))).map(([k]) => k);

describe.runIf(isLinux)('secrets stay out of the children (/proc/<pid>/environ)', () => {
  let rt: KernelRuntime;
  let session: KernelSession;
  let perception: PerceptionServer;

  beforeAll(async () => {
    vi.stubEnv('OPENAI_API_KEY', OPENAI_KEY);
    vi.stubEnv('SC_MODEL_ACCESS', MODEL_KEY);
    rt = await KernelRuntime.start({ kernelLimits: { memoryBytes: 4 * 1024 ** 3 } });
    session = await rt.openSession();
    perception = await PerceptionServer.startLocal({ backends: ['classical'] });
  }, 180_000);
  afterAll(async () => {
    await session?.close();
    await rt?.close();
    await perception?.stop();
    vi.unstubAllEnvs();
  });

  it('gives the server its token only, the kernel, perception server and safety checker no token of another and no key', async () => {
    // A console (human) cell: the safety policy judges model-written cells only.
    const r = await session.execute('import os\nprint(os.getpid())', { origin: 'human' });
    expect(r.status, r.error?.evalue).toBe('ok');
    // The host's pid of the kernel process (a sandboxed kernel's own getpid() is its PID-namespace pid).
    const kernelPid = kernelHostPid(session.id);
    await rt.safety.check('x = 1'); // starts the safety checker
    const safety = descendants(process.pid).filter((p) => p.cmd.includes('spatial_runtime.safety'));
    expect(safety.length, 'the safety checker process').toBeGreaterThan(0);

    const jupyterToken = rt.server.token;
    const keys = [OPENAI_KEY, MODEL_KEY];
    const server = environOf(rt.server.pid!);
    const kernel = environOf(kernelPid);
    const perc = environOf(perception.pid!);
    const checker = environOf(safety[0]!.pid);

    expect(cmdline(kernelPid)).toContain('spatial_runtime.kernel_launch');
    // No process holds an API key, under any name.
    for (const [who, env] of [['server', server], ['kernel', kernel], ['perception', perc], ['safety', checker]] as const) {
      expect(holding(env, keys), `${who} holds a key`).toEqual([]);
      expect(env.PATH, `${who} PATH`).toBeTruthy(); // an allow-list, not an empty environment
    }
    // The Jupyter token: in the server only (it needs it), never in its kernels nor the other children.
    expect(server.JUPYTER_TOKEN).toBe(jupyterToken);
    expect('JUPYTER_TOKEN' in kernel).toBe(false);
    expect(holding(kernel, [jupyterToken])).toEqual([]);
    expect(holding(perc, [jupyterToken])).toEqual([]);
    expect(holding(checker, [jupyterToken])).toEqual([]);
    // The perception server has its own token and nothing else secret-looking; the checker has no token at all.
    expect(perc.SPATIAL_PERCEPTION_TOKEN).toBe(perception.token);
    expect(Object.keys(perc).filter((k) => /KEY|TOKEN|SECRET|PASSW/i.test(k))).toEqual(['SPATIAL_PERCEPTION_TOKEN']);
    expect(Object.keys(checker).filter((k) => /KEY|TOKEN|SECRET|PASSW/i.test(k))).toEqual([]);
    expect(Object.keys(kernel).filter((k) => /KEY|TOKEN|SECRET|PASSW/i.test(k))).toEqual([]);
    // What a cell sees agrees.
    const seen = await session.execute('import os\nprint(sorted(k for k in os.environ if "TOKEN" in k or "KEY" in k or k == "SC_MODEL_ACCESS"))', { origin: 'human' });
    expect(seen.stdout.trim()).toBe('[]');
  }, 120_000);
});

describe.runIf(isLinux)('spatialclaw ask with a key in its environment: no key in any run file', () => {
  let model: ScriptedModelServer | null = null;
  afterEach(async () => {
    await model?.close();
    model = null;
  });

  it('keeps the keys out of the kernel and the run, and marks what the host redacted', async () => {
    // `import os` is refused by the safety policy; pydoc.locate is one of the escapes of issue 17 §1 that passes it.
    const printEnv = [
      'import pydoc',
      'env = pydoc.locate("os.environ")',
      'print(dict(env))',
      'print("openai:", env.get("OPENAI_API_KEY"))',
      'print("model:", env.get("SC_MODEL_ACCESS"))',
      'print("jupyter token present:", "JUPYTER_TOKEN" in env)',
    ].join('\n');
    // The model's own text holds the key (host side): it must be recorded redacted.
    const script = ['1. Look at the environment. 2. Answer.', step('read the environment', printEnv, `the key might be ${OPENAI_KEY}`), step('answer', 'ReturnAnswer(2.1)')];
    model = await startScriptedModelServer({ script: { q1: script }, whenExhausted: 'error', apiKey: MODEL_KEY });
    const out = mkdtempSync(join(tmpdir(), 'run-secrets-'));
    const r = await spatialclaw(['ask', '--input', ROOM, '--question', 'How far did the camera move?', '--answer', '2.1',
      '--model', 'scripted-vlm', '--base-url', model.url, '--api-key-env', 'SC_MODEL_ACCESS', '--perception', 'local', '--out', out],
    { OPENAI_API_KEY: OPENAI_KEY, SC_MODEL_ACCESS: MODEL_KEY }, 240_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(model.requests[0]!.headers.authorization).toBe(`Bearer ${MODEL_KEY}`); // the host uses the key

    // No file of the run holds either key (nor does the CLI's output).
    for (const f of allFiles(out)) {
      const bytes = readFileSync(f);
      expect(bytes.includes(OPENAI_KEY), f).toBe(false);
      expect(bytes.includes(MODEL_KEY), f).toBe(false);
    }
    expect(r.stdout.includes(OPENAI_KEY) || r.stdout.includes(MODEL_KEY)).toBe(false);

    const events = readFileSync(join(out, 'samples', 'q1', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => RunEventSchema.parse(JSON.parse(l)));
    const cell = events.find((e) => e.type === 'cell');
    if (cell?.type !== 'cell') throw new Error('no cell event');
    expect(cell.result.status, JSON.stringify(cell.result.violations)).toBe('ok');
    // The kernel never had the keys or the token: nothing to redact in what it printed.
    expect(cell.result.stdout).toContain('openai: None');
    expect(cell.result.stdout).toContain('model: None');
    expect(cell.result.stdout).toContain('jupyter token present: False');
    expect(cell.result.stdout).not.toContain('[redacted:');
    // The host side (the model's text) held the key: recorded with the marker, and counted.
    const calls = events.filter((e) => e.type === 'model_call');
    expect(JSON.stringify(calls)).toContain('[redacted:OPENAI_API_KEY]');
    const result = SampleResultSchema.parse(JSON.parse(readFileSync(join(out, 'samples.jsonl'), 'utf8').trim()));
    expect(result.redactions).toBeGreaterThan(0);
  }, 300_000);
});
