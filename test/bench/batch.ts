/**
 * `npm run bench:batch` (issue 14): batch throughput of the REAL `spatialclaw run` against a model whose
 * calls take time. Measurement only; it changes nothing in the product.
 *
 * For each (latency, concurrency):
 *   - a scripted OpenAI-compatible server (test/helpers/scripted-model.ts) runs in this process and answers
 *     every chat call after `latency` seconds; each sample is scripted as a plan reply, one trivial cell,
 *     then a ReturnAnswer cell: 3 model calls per sample;
 *   - a JSONL dataset of N one-image samples (test/fixtures/tum_rgbd_frame/TUM_color.png) is run by
 *     `node electron/cli/spatialclaw.mjs run --dataset … --model scripted --base-url … --concurrency C --out DIR`
 *     as a child process (so tsx, the Jupyter server, kernels, the safety checker and the tool reference all
 *     count), with SPATIALCLAW_HOME set to a fresh temporary folder;
 *   - measured: wall time (spawn → exit); from spawn to the first `sample_start` event (events.jsonl) and to
 *     the first chat request the server received; running time (first `sample_start` → last `finished_at`);
 *     the tail after the last sample (shutdown); samples/s; wall / ideal with ideal = N × calls × latency /
 *     min(C, N) (n/a at latency 0); peak RSS of the host process and of the sum over all its descendants
 *     (Jupyter server, kernels, checker), sampled every 200 ms from /proc (`ps` elsewhere); p50/p90 of the
 *     per-sample `duration_s` of samples.jsonl (from `sample_start`, so without kernel acquire and prepare).
 * Also: `spatialclaw --help` against `node -e 0` (p50/p90 over repeated runs, after one warm-up each), and
 * `--help` with an empty tsx compile cache (a fresh TMPDIR per run, as after an install).
 * The start-up timeline says when the host's child processes first appeared, by kind (from their command
 * line; "other" is one that exited before it was read, or an unknown one: BENCH_DEBUG=1 logs them).
 *
 * Also the cold start step by step (test/bench/cold-start.ts: before/after the start-up cuts, in the same run), the
 * speed-up against concurrency 1, the kernels' idle memory, and a table of issue 14's targets.
 *
 * Flags: --samples N (32), --latency 0,0.5,2 (seconds), --concurrency 1,4,8,16,32, --quick (= --samples 8
 * --latency 0.5 --concurrency 1,4; explicit flags win), --startup-runs N (7), --cold-runs N (5; 0 skips), --json
 * (print JSON instead of the markdown tables). Issue 14's throughput target: --samples 16 --latency 1.5
 * --concurrency 1,8. Progress goes to stderr.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../../shared/defaults.ts';
import { ROOT } from '../helpers/cli.ts';
import { benchColdStart, COLD_STEPS, type ColdStart } from './cold-start.ts';
import { type Reply, startScriptedModelServer } from '../helpers/scripted-model.ts';

const CLI = join(ROOT, 'electron', 'cli', 'spatialclaw.mjs');
const IMAGE = join(ROOT, 'test', 'fixtures', 'tum_rgbd_frame', 'TUM_color.png');
const CALLS_PER_SAMPLE = 3;
const SAMPLE_MS = 200;

const PLAN = '1. Look at the image.\n2. Compute a trivial value.\n3. Return the answer.';
const CELL = 'Purpose: compute\nReasoning: a trivial step.\nNext Goal: answer\nCode:\n```python\nx = int(np.arange(10).sum())\nprint(x)\n```';
const ANSWER = 'Purpose: answer\nReasoning: done.\nNext Goal: none\nCode:\n```python\nReturnAnswer(1.0)\n```';

// ---------------------------------------------------------------------------------------------- options

interface Options {
  samples: number;
  latencies: number[];
  concurrencies: number[];
  startupRuns: number;
  json: boolean;
  quick: boolean;
  /** Cold starts of each variant for the step-by-step table (0: skip). */
  coldRuns: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      samples: { type: 'string' },
      latency: { type: 'string' },
      concurrency: { type: 'string' },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'startup-runs': { type: 'string' },
      'cold-runs': { type: 'string' },
    },
    strict: true,
  });
  const list = (name: string, s: string, min: number, int: boolean): number[] => {
    const xs = s.split(',').map((x) => Number(x.trim()));
    if (!xs.length || xs.some((x) => !Number.isFinite(x) || x < min || (int && !Number.isInteger(x)))) {
      throw new Error(`--${name} expects ${int ? 'integers' : 'numbers'} ≥ ${min}, comma-separated; got "${s}"`);
    }
    return xs;
  };
  const quick = values.quick === true;
  return {
    samples: list('samples', values.samples ?? (quick ? '8' : '32'), 1, true)[0]!,
    latencies: list('latency', values.latency ?? (quick ? '0.5' : '0,0.5,2'), 0, false),
    concurrencies: list('concurrency', values.concurrency ?? (quick ? '1,4' : '1,4,8,16,32'), 1, true),
    startupRuns: list('startup-runs', values['startup-runs'] ?? '7', 5, true)[0]!,
    json: values.json === true,
    quick,
    coldRuns: values['cold-runs'] !== undefined ? Number(values['cold-runs']) : quick ? 3 : 5,
  };
}

// ------------------------------------------------------------------------------------------------ stats

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const log = (s: string): void => void process.stderr.write(`[bench:batch] ${s}\n`);
const f1 = (x: number | null): string => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(1));
const f2 = (x: number | null): string => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(2));
const MiB = 1024 * 1024;

// -------------------------------------------------------------------------------- process-tree memory

interface Proc {
  ppid: number;
  /** Resident set, bytes. */
  rss: number;
}

const PAGE_SIZE = ((): number => {
  try {
    return Number(execFileSync('getconf', ['PAGESIZE']).toString().trim()) || 4096;
  } catch {
    return 4096;
  }
})();

/** Every process: ppid and RSS, from /proc (Linux) or `ps` (elsewhere). */
function processTable(): Map<number, Proc> {
  const table = new Map<number, Proc>();
  if (existsSync('/proc/self/stat')) {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      } catch {
        continue; // exited meanwhile
      }
      // "pid (comm) state ppid … rss …": fields after the comm; ppid is field 4, rss (pages) field 24.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(name), { ppid: Number(f[1]), rss: Number(f[21]) * PAGE_SIZE });
    }
    return table;
  }
  const out = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,rss=']).toString();
  for (const line of out.split('\n')) {
    const [pid, ppid, rss] = line.trim().split(/\s+/).map(Number);
    if (pid && ppid !== undefined && rss !== undefined) table.set(pid, { ppid, rss: rss * 1024 });
  }
  return table;
}

/** When descendants of one kind were first seen, seconds after the spawn of the host (±SAMPLE_MS). */
interface Spawned {
  first: number;
  last: number;
  count: number;
  /** Every appearance, in order. */
  at: number[];
}

interface MemoryPeak {
  /** Peak RSS of the host process, bytes. */
  host: number;
  /** Peak of the summed RSS of all its descendants, bytes. */
  descendants: number;
  /** Most descendant processes seen at once. */
  procs: number;
  samples: number;
  /** Descendants by kind (jupyter server, kernel, safety checker, tool reference, other): when they appeared. */
  spawned: Record<string, Spawned>;
}

/** A process's command line (arguments joined by spaces), or null once it is gone or elsewhere than Linux. */
function cmdline(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return null;
  }
}

/** What a descendant is, from its command line. */
function kindOf(pid: number, cmd: string | null): string {
  const m = cmd ?? '';
  if (m.includes('spatial_runtime.server_launch')) return 'jupyter server';
  if (m.includes('spatial_runtime.kernel_launch')) return 'kernel';
  if (m.includes('spatial_runtime.safety')) return 'safety checker';
  if (m.includes('spatial_runtime.apidoc')) return 'tool reference';
  if (process.env.BENCH_DEBUG) log(`other descendant ${pid}: ${m || '(command line unreadable)'}`);
  return 'other';
}

/** Sample the RSS of `pid` and its descendants every SAMPLE_MS until stopped; `t0` is the spawn time (Date.now()). */
function watchMemory(pid: number, t0: number): { stop: () => MemoryPeak } {
  const peak: MemoryPeak = { host: 0, descendants: 0, procs: 0, samples: 0, spawned: {} };
  const seen = new Set<number>();
  const tick = (): void => {
    const table = processTable();
    const self = table.get(pid);
    if (!self) return;
    const children = new Map<number, number[]>();
    for (const [p, { ppid }] of table) (children.get(ppid) ?? children.set(ppid, []).get(ppid)!).push(p);
    let sum = 0;
    let n = 0;
    const stack = [...(children.get(pid) ?? [])];
    while (stack.length) {
      const p = stack.pop()!;
      sum += table.get(p)?.rss ?? 0;
      n++;
      stack.push(...(children.get(p) ?? []));
      if (seen.has(p)) continue;
      // A child forked but not yet exec'd still shows its parent's command line: look again next time.
      const cmd = cmdline(p);
      if (cmd !== null && cmd === cmdline(table.get(p)!.ppid)) continue;
      seen.add(p);
      const at = (Date.now() - t0) / 1000;
      const kind = kindOf(p, cmd);
      const k = peak.spawned[kind];
      peak.spawned[kind] = k ? { first: k.first, last: at, count: k.count + 1, at: [...k.at, at] } : { first: at, last: at, count: 1, at: [at] };
    }
    peak.host = Math.max(peak.host, self.rss);
    peak.descendants = Math.max(peak.descendants, sum);
    peak.procs = Math.max(peak.procs, n);
    peak.samples++;
  };
  tick();
  const timer = setInterval(tick, SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

// ----------------------------------------------------------------------------------------- one batch

interface Row {
  latencyS: number;
  concurrency: number;
  samples: number;
  answered: number;
  modelCalls: number;
  wallS: number;
  toFirstSampleS: number | null;
  toFirstModelCallS: number | null;
  runningS: number | null;
  afterLastSampleS: number | null;
  samplesPerS: number;
  idealS: number | null;
  wallOverIdeal: number | null;
  sampleP50S: number | null;
  sampleP90S: number | null;
  hostPeakMiB: number;
  descendantsPeakMiB: number;
  peakDescendants: number;
  /** Descendants by kind, when first seen (s after spawn). */
  spawned: Record<string, Spawned>;
  /** Resident memory of the warm kernels after their reset, as the run's summary reports it (MiB, min and max). */
  idleKernelMiB: [number, number] | null;
  /** Kernels started and samples served by a reused kernel (the run's summary). */
  kernelsStarted: number | null;
  kernelReuses: number | null;
  error: string | null;
}

/** The environment of the CLI: this one without SPATIALCLAW_* settings (the root and Python are kept), in `home`. */
function cliEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('SPATIALCLAW_') && k !== 'SPATIALCLAW_ROOT' && k !== 'SPATIALCLAW_PYTHON') continue;
    env[k] = v;
  }
  env.SPATIALCLAW_HOME = home;
  return env;
}

const readJsonl = (file: string): Record<string, unknown>[] =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>) : [];

async function runBatchOnce(n: number, latencyS: number, concurrency: number): Promise<Row> {
  const home = mkdtempSync(join(tmpdir(), 'sc-bench-batch-'));
  const ids = Array.from({ length: n }, (_, i) => `b${String(i).padStart(3, '0')}`);
  const delayMs = Math.round(latencyS * 1000);
  const reply = (content: string): Reply => (delayMs > 0 ? { content, delayMs } : content);
  const model = await startScriptedModelServer({
    script: Object.fromEntries(ids.map((id) => [id, [reply(PLAN), reply(CELL), reply(ANSWER)]])),
    whenExhausted: 'error', // a call beyond the script fails the sample (visible as "answered" < N)
  });
  const dataset = join(home, 'dataset.jsonl');
  writeFileSync(dataset, ids.map((id) => JSON.stringify({ id, question: 'What is the answer?', answer: 1, inputs: [{ kind: 'images', path: IMAGE }] })).join('\n') + '\n');
  const out = join(home, 'run');
  const args = [CLI, 'run', '--dataset', dataset, '--model', 'scripted', '--base-url', model.url, '--concurrency', String(concurrency), '--out', out];
  const timeoutMs = 300_000 + 4 * n * CALLS_PER_SAMPLE * delayMs;
  let output = '';
  const t0 = Date.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, env: cliEnv(home), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const memory = watchMemory(child.pid!, t0);
  const killGroup = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.once('SIGINT', killGroup);
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(killGroup, timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const tEnd = Date.now();
  clearTimeout(timer);
  process.removeListener('SIGINT', killGroup);
  const mem = memory.stop();
  await model.close();

  const results = readJsonl(join(out, 'samples.jsonl'));
  const starts: number[] = [];
  for (const id of ids) {
    const first = readJsonl(join(out, 'samples', id, 'events.jsonl')).find((e) => e['type'] === 'sample_start');
    if (first) starts.push(Date.parse(String(first['t'])));
  }
  const finished = results.map((r) => Date.parse(String(r['finished_at'])));
  const durations = results.map((r) => Number(r['duration_s']));
  const firstStart = starts.length ? Math.min(...starts) : null;
  const lastFinish = finished.length ? Math.max(...finished) : null;
  const firstCall = model.requests.length ? Math.min(...model.requests.map((r) => r.receivedAt)) : null;
  const wallS = (tEnd - t0) / 1000;
  const idealS = latencyS > 0 ? (n * CALLS_PER_SAMPLE * latencyS) / Math.min(concurrency, n) : null;
  const answered = results.filter((r) => r['termination'] === 'answered').length;
  const error = code === 0 ? (answered === n ? null : `${n - answered} of ${n} samples not answered`) : `exit ${code ?? 'killed (timeout)'}`;
  if (error) {
    log(`  FAILED (${error}); run folder kept in ${home}; output tail:\n${output.split('\n').slice(-25).join('\n')}`);
  } else {
    rmSync(home, { recursive: true, force: true });
  }
  return {
    latencyS, concurrency, samples: n, answered, modelCalls: model.requests.length,
    wallS,
    toFirstSampleS: firstStart !== null ? (firstStart - t0) / 1000 : null,
    toFirstModelCallS: firstCall !== null ? (firstCall - t0) / 1000 : null,
    runningS: firstStart !== null && lastFinish !== null ? (lastFinish - firstStart) / 1000 : null,
    afterLastSampleS: lastFinish !== null ? (tEnd - lastFinish) / 1000 : null,
    samplesPerS: results.length / wallS,
    idealS,
    wallOverIdeal: idealS !== null ? wallS / idealS : null,
    sampleP50S: durations.length ? percentile(durations, 50) : null,
    sampleP90S: durations.length ? percentile(durations, 90) : null,
    hostPeakMiB: mem.host / MiB,
    descendantsPeakMiB: mem.descendants / MiB,
    peakDescendants: mem.procs,
    spawned: mem.spawned,
    ...(() => {
      const idle = /idle kernels (\d+)–(\d+) MiB resident/.exec(output);
      const k = /kernels: (\d+) started, (\d+) reuses/.exec(output);
      return {
        idleKernelMiB: idle ? [Number(idle[1]), Number(idle[2])] as [number, number] : null,
        kernelsStarted: k ? Number(k[1]) : null,
        kernelReuses: k ? Number(k[2]) : null,
      };
    })(),
    error,
  };
}

// ---------------------------------------------------------------------------------------- start-up

interface Startup {
  runs: number;
  /** `first`: the warm-up run (not in p50/p90; the first `--help` may fill tsx's compile cache). */
  node: { p50: number; p90: number; ms: number[]; first: number };
  help: { p50: number; p90: number; ms: number[]; first: number };
  /** `spatialclaw --help` with an empty tsx compile cache (a fresh TMPDIR each run): the first start after an install. */
  helpColdCache: { p50: number; p90: number; ms: number[] };
  ratioP50: number;
}

function timeOnce(args: string[], home: string, env: NodeJS.ProcessEnv = {}): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'ignore', env: { ...cliEnv(home), ...env } });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}`);
  return ms;
}

/** `spatialclaw --help` against `node -e 0`, interleaved, after one warm-up run of each. */
function benchStartup(runs: number): Startup {
  const nodeArgs = ['-e', '0'];
  const helpArgs = [CLI, '--help'];
  const home = mkdtempSync(join(tmpdir(), 'sc-bench-startup-'));
  try {
    const nodeFirst = timeOnce(nodeArgs, home);
    const helpFirst = timeOnce(helpArgs, home);
    const node: number[] = [];
    const help: number[] = [];
    const cold: number[] = [];
    for (let i = 0; i < runs; i++) {
      node.push(timeOnce(nodeArgs, home));
      help.push(timeOnce(helpArgs, home));
      const fresh = mkdtempSync(join(home, 'tmp-'));
      cold.push(timeOnce(helpArgs, home, { TMPDIR: fresh }));
    }
    const s = (ms: number[]) => ({ p50: percentile(ms, 50), p90: percentile(ms, 90), ms });
    return {
      runs, node: { ...s(node), first: nodeFirst }, help: { ...s(help), first: helpFirst }, helpColdCache: s(cold),
      ratioP50: percentile(help, 50) / percentile(node, 50),
    };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------- report

function machine(): string {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${process.platform} ${release()}, ${cpus().length} cores (${model}), Node ${process.version}`;
}

const p50 = (xs: number[]): number => percentile(xs, 50);
const p90 = (xs: number[]): number => percentile(xs, 90);

function coldStartMarkdown(c: ColdStart): string[] {
  const row = (label: string, before: number[], after: number[]): string =>
    `| ${label} | ${p50(before).toFixed(0)} / ${p90(before).toFixed(0)} | ${p50(after).toFixed(0)} / ${p90(after).toFixed(0)} | ${(p50(before) / Math.max(p50(after), 1e-9)).toFixed(2)}× |`;
  return [
    '',
    `Cold start, step by step (in-process, ${c.runs} runs of each variant interleaved after one warm-up; ms p50 / p90): ` +
      '`before` = the Jupyter server importing jsonschema\'s optional rfc3987_syntax and the full runtime init; `after` = the defaults (fast server start, deferred init).',
    '',
    '| step | before ms | after ms | before / after (p50) |',
    '|---|---|---|---|',
    ...COLD_STEPS.map((s) => row(s, c.before.map((r) => r.steps[s]), c.after.map((r) => r.steps[s]))),
    row('**ready for the first model call** (sum)', c.before.map((r) => r.total), c.after.map((r) => r.total)),
    `| init_rest (after only; runs while the first model call is in flight) | – | ${p50(c.after.map((r) => r.initRest ?? 0)).toFixed(0)} / ${p90(c.after.map((r) => r.initRest ?? 0)).toFixed(0)} | |`,
    `| tool reference (apidoc, beside the critical path) | ${p50(c.apidoc).toFixed(0)} / ${p90(c.apidoc).toFixed(0)} | same | |`,
  ];
}

function speedupMarkdown(rows: Row[]): string[] {
  const lines = ['', 'Speed-up against concurrency 1 at the same latency (wall c1 / wall c, this run):', '', '| latency s | concurrency | speed-up | kernels started | reuses | idle kernel RSS MiB |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const base = rows.find((x) => x.latencyS === r.latencyS && x.concurrency === 1 && x.samples === r.samples);
    const idle = r.idleKernelMiB ? `${r.idleKernelMiB[0]}–${r.idleKernelMiB[1]}` : '–';
    lines.push(`| ${r.latencyS} | ${r.concurrency} | ${base ? `${f2(base.wallS / r.wallS)}×` : '–'} | ${r.kernelsStarted ?? '–'} | ${r.kernelReuses ?? '–'} | ${idle} |`);
  }
  return lines;
}

function targetsMarkdown(rows: Row[], startup: Startup): string[] {
  const lines = ['', 'Issue 14 targets, from this run:', '', '| target | measured | met |', '|---|---|---|'];
  const c1 = rows.find((r) => r.latencyS === 1.5 && r.samples === 16 && r.concurrency === 1);
  const c8 = rows.find((r) => r.latencyS === 1.5 && r.samples === 16 && r.concurrency === 8);
  if (c1 && c8) lines.push(`| 1.5 s latency, 16 samples: concurrency 8 ≥ 5× faster than 1 | ${f1(c1.wallS)} s → ${f1(c8.wallS)} s = ${f2(c1.wallS / c8.wallS)}× | ${c1.wallS / c8.wallS >= 5 ? 'yes' : 'no'} |`);
  else lines.push('| 1.5 s latency, 16 samples: concurrency 8 ≥ 5× faster than 1 | not in this run (`--samples 16 --latency 1.5 --concurrency 1,8`) | – |');
  const firsts = rows.map((r) => r.toFirstModelCallS).filter((x): x is number => x !== null);
  if (firsts.length) lines.push(`| first model call ≤ 3 s after spawn, any concurrency | ${f1(Math.min(...firsts))}–${f1(Math.max(...firsts))} s | ${Math.max(...firsts) <= 3 ? 'yes' : 'no'} |`);
  lines.push(`| \`spatialclaw --help\` ≤ 8× \`node -e 0\` | ${f1(startup.ratioP50)}× | ${startup.ratioP50 <= 8 ? 'yes' : 'no'} |`);
  const idle = rows.flatMap((r) => r.idleKernelMiB ?? []);
  if (idle.length) lines.push(`| memory per idle warm kernel measured and bounded (kernel_idle_max_mb, default ${DEFAULTS.kernelIdleMaxMb} MiB) | ${Math.min(...idle)}–${Math.max(...idle)} MiB | ${Math.max(...idle) <= DEFAULTS.kernelIdleMaxMb ? 'yes' : 'no'} |`);
  return lines;
}

function markdown(o: Options, rows: Row[], startup: Startup, meta: { date: string; load: string }, cold: ColdStart | null): string {
  const lines: string[] = [];
  lines.push(
    `${meta.date}, ${machine()}; load average ${meta.load}.`,
    `${o.quick ? 'Quick configuration (`--quick`): ' : ''}${o.samples} one-image samples (TUM_color.png), ${CALLS_PER_SAMPLE} model calls each (plan, one trivial cell, ReturnAnswer); ` +
      'scripted model in the bench process; the real `spatialclaw run` as a child process, fresh SPATIALCLAW_HOME per row.',
    '',
    '| latency s | concurrency | wall s | to first `sample_start` s | to first model call s | running s | after last sample s | samples/s | ideal s | wall / ideal | sample p50 / p90 s | host peak RSS MiB | descendants peak RSS MiB (procs) | answered |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of rows) {
    lines.push(`| ${r.latencyS} | ${r.concurrency} | ${f1(r.wallS)} | ${f1(r.toFirstSampleS)} | ${f1(r.toFirstModelCallS)} | ${f1(r.runningS)} | ${f1(r.afterLastSampleS)} | ` +
      `${f2(r.samplesPerS)} | ${f1(r.idealS)} | ${r.wallOverIdeal === null ? 'n/a' : `${f2(r.wallOverIdeal)}×`} | ${f1(r.sampleP50S)} / ${f1(r.sampleP90S)} | ` +
      `${r.hostPeakMiB.toFixed(0)} | ${r.descendantsPeakMiB.toFixed(0)} (${r.peakDescendants}) | ${r.answered}/${r.samples}${r.error ? ` (${r.error})` : ''} |`);
  }
  const kinds = ['jupyter server', 'safety checker', 'tool reference', 'kernel', 'other'];
  const when = (k: Spawned | undefined): string => (k ? (k.count > 1 ? `${f1(k.first)} … ${f1(k.last)} (${k.count})` : f1(k.first)) : '–');
  lines.push(
    '',
    `Start-up timeline: when the host's child processes first appeared (s after spawn, sampled every ${SAMPLE_MS} ms; first … last (count) for several).`,
    '',
    `| latency s | concurrency | ${kinds.join(' | ')} | first \`sample_start\` | first model call |`,
    `|---|---|${kinds.map(() => '---|').join('')}---|---|`,
    ...rows.map((r) => `| ${r.latencyS} | ${r.concurrency} | ${kinds.map((k) => when(r.spawned[k])).join(' | ')} | ${f1(r.toFirstSampleS)} | ${f1(r.toFirstModelCallS)} |`),
    '',
    `| command (${startup.runs} runs after 1 warm-up, interleaved) | p50 ms | p90 ms | warm-up run ms |`,
    '|---|---|---|---|',
    `| \`node -e 0\` (baseline) | ${f1(startup.node.p50)} | ${f1(startup.node.p90)} | ${f1(startup.node.first)} |`,
    `| \`spatialclaw --help\` | ${f1(startup.help.p50)} | ${f1(startup.help.p90)} | ${f1(startup.help.first)} |`,
    `| \`spatialclaw --help\`, empty tsx cache (fresh TMPDIR) | ${f1(startup.helpColdCache.p50)} | ${f1(startup.helpColdCache.p90)} | |`,
    `| ratio (p50) | ${f1(startup.ratioP50)}× | target ≤ 8×: ${startup.ratioP50 <= 8 ? 'met' : 'missed'} | |`,
  );
  lines.push(...speedupMarkdown(rows));
  if (cold) lines.push(...coldStartMarkdown(cold));
  lines.push(...targetsMarkdown(rows, startup));
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (!existsSync(IMAGE)) throw new Error(`missing fixture ${IMAGE}`);
  const date = new Date().toISOString().slice(0, 10);
  const loadStart = loadavg()[0]!.toFixed(2);
  log(`${machine()}; ${o.samples} samples, latency ${o.latencies.join(',')} s, concurrency ${o.concurrencies.join(',')}`);
  log(`start-up: spatialclaw --help vs node -e 0, ${o.startupRuns} runs each ...`);
  const startup = benchStartup(o.startupRuns);
  log(`  --help p50 ${f1(startup.help.p50)} ms, node -e 0 p50 ${f1(startup.node.p50)} ms (${f1(startup.ratioP50)}×)`);
  const cold = o.coldRuns > 0 ? (log(`cold start, step by step, ${o.coldRuns} runs of each variant ...`), await benchColdStart(IMAGE, o.coldRuns, log)) : null;
  const rows: Row[] = [];
  for (const latency of o.latencies) {
    for (const c of o.concurrencies) {
      log(`latency ${latency} s, concurrency ${c} ...`);
      const r = await runBatchOnce(o.samples, latency, c);
      log(`  wall ${f1(r.wallS)} s, first sample_start ${f1(r.toFirstSampleS)} s, first model call ${f1(r.toFirstModelCallS)} s, ` +
        `running ${f1(r.runningS)} s, wall/ideal ${f2(r.wallOverIdeal)}, host ${r.hostPeakMiB.toFixed(0)} MiB, descendants ${r.descendantsPeakMiB.toFixed(0)} MiB`);
      rows.push(r);
    }
  }
  const load = `${loadStart} → ${loadavg()[0]!.toFixed(2)}`;
  if (o.json) {
    console.log(JSON.stringify({ date, machine: machine(), load, options: o, callsPerSample: CALLS_PER_SAMPLE, rows, startup, cold }, null, 2));
  } else {
    console.log(markdown(o, rows, startup, { date, load }, cold));
  }
  if (rows.some((r) => r.error)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
