/**
 * Servers on the SLURM cluster (issue 16, docs/cluster.md "Servers on the cluster"): a perception server or a vLLM
 * model server runs as a SLURM job, registers its URL in the cluster registry (./registry.ts) once it answers, and
 * deregisters when the job ends. Clients (`--perception cluster`, `--model cluster`) route to the least-loaded
 * healthy registered servers whose jobs are alive.
 *
 * Three parts:
 *
 * - the submitter (`spatialclaw perception start --slurm`, `spatialclaw model serve --slurm`): {@link serverJobScript}
 *   writes a readable sbatch script to `<cluster dir>/jobs/`, {@link submitServerJob} submits it, and
 *   {@link waitRegistered} waits for the registry entry (or fails naming the job's log);
 * - the job ({@link serveJob}, run by the script as the hidden `spatialclaw cluster serve-job`): generates the token
 *   into a 0600 file, starts the server on the node's address, waits until it answers with that token, registers
 *   it, and deregisters (entry and token file) on SIGTERM/SIGINT, on exit and when the server dies;
 * - routing: {@link clusterPerceptionServer} and {@link clusterModelEndpoints}.
 *
 * Tokens: generated inside the job, written only to `<cluster dir>/tokens/<id>.token` (mode 0600, folder 0700), read
 * from there by clients at call time. Never in a registry entry, a script, a command line or a log.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { WorkbenchError } from '../../../shared/api.ts';
import type { ClusterServer } from '../../../shared/cluster.ts';
import { childEnv, ENV } from '../config/env.ts';
import { PerceptionServer, PerceptionRouter } from '../perception/server.ts';
import { appRoot } from '../paths.ts';
import { clusterDir, deregisterServer, jobsDir, listClusterServers, registerServer, serversDir, serverToken, writeTokenFile } from './registry.ts';
import { jobState, LIVE_STATES, sbatch, SlurmError, currentTask, taskJobRef } from './slurm.ts';

export type ServerKind = ClusterServer['kind'];

/** Seconds before the time limit at which SLURM sends SIGTERM to the job (`#SBATCH --signal=B:TERM@…`). */
export const SIGNAL_BEFORE_LIMIT_S = 60;

/** The sbatch options shared by both kinds of server job. */
export interface SbatchOptions {
  /** `--partition`; omitted: the cluster's default partition. */
  partition?: string | undefined;
  /** `--time` as SLURM takes it (`HH:MM:SS`, `D-HH:MM:SS`); omitted: the partition's default limit. */
  time?: string | undefined;
  /** `--gpus`; 0 asks for none. Default: 1 for a model server and for the GPU perception backends (da3, sam3), else 0. */
  gpus?: number | undefined;
  /** Extra sbatch options, each written as one `#SBATCH` line (e.g. `--cpus-per-task=8`, `--account=lab`). */
  sbatchArgs?: string[] | undefined;
}

/** A perception server job. */
export interface PerceptionJobOptions extends SbatchOptions {
  kind: 'perception';
  /** Backends to load, e.g. ['da3', 'sam3']. */
  backends: string[];
  /** Backend options passed through to `python -m spatial_perception` (`--oracle-root DIR`, checkpoints). */
  backendArgs?: string[] | undefined;
}

/** A vLLM model server job. */
export interface ModelJobOptions extends SbatchOptions {
  kind: 'model';
  /** The model vLLM serves (`vllm serve NAME`), e.g. `Qwen/Qwen2.5-VL-7B-Instruct`. */
  model: string;
  /** Arguments after `vllm serve NAME --host … --port …`, already split into words ({@link splitArgs}). */
  vllmArgs: string[];
  /** The vLLM executable (default `vllm`, looked up on the job's PATH). */
  vllmCommand?: string | undefined;
}

export type ServerJobOptions = PerceptionJobOptions | ModelJobOptions;

/** Where the generated script points: the node binary and CLI the job runs, the cluster folder, the log. */
export interface ScriptContext {
  /** Absolute path of the Node.js binary (default: this process's). */
  node: string;
  /** Absolute path of the CLI launcher, `<root>/electron/cli/spatialclaw.mjs`. */
  cli: string;
  /** The cluster folder, exported to the job as SPATIALCLAW_CLUSTER_DIR. */
  clusterDir: string;
  /** The job's log file; `%j` stands for the job id. */
  log: string;
}

/** GPU perception backends: a job with any of them asks for one GPU unless `--gpus` says otherwise. */
const GPU_BACKENDS = new Set(['da3', 'sam3']);

/** The GPUs a job asks for: `--gpus`, else the default of its kind. */
export function defaultGpus(o: ServerJobOptions): number {
  if (o.gpus !== undefined) return o.gpus;
  if (o.kind === 'model') return 1;
  return o.backends.some((b) => GPU_BACKENDS.has(b)) ? 1 : 0;
}

/** A word for a POSIX shell: as it is when it is plainly safe, else single-quoted. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_./:=,@%+-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Split a command-line string into words as a POSIX shell does for plain words, 'single' and "double" quotes and
 * backslash escapes (no variables, globs or command substitution): `--vllm-args "--max-model-len 4096 --x 'a b'"`.
 * @throws Error naming the problem for an unbalanced quote.
 */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1]!)) word += s[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      word += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unbalanced ${quote} quote in ${JSON.stringify(s)}`);
  if (inWord) out.push(word);
  return out;
}

/**
 * The sbatch script of a server job: every line commented, no secret in it (the job makes its own token). The same
 * text is shown in docs/cluster.md, "Servers on the cluster".
 */
export function serverJobScript(o: ServerJobOptions, ctx: ScriptContext): string {
  const gpus = defaultGpus(o);
  const what = o.kind === 'perception' ? 'perception server' : 'vLLM model server';
  const cmd = o.kind === 'perception' ? 'spatialclaw perception start --slurm' : 'spatialclaw model serve --slurm';
  const L: string[] = [
    '#!/bin/bash',
    `# A SpatialClaw ${what} as a SLURM job, written by \`${cmd}\``,
    '# (docs/cluster.md, "Servers on the cluster"). The job starts the server on its node, registers its URL once the',
    '# server answers, and deregisters when it ends. The token is generated inside the job and never appears here.',
    '',
    '# The name squeue shows.',
    `#SBATCH --job-name=spatialclaw-${o.kind}`,
    '# The log of the job, stdout and stderr (%j is the job id).',
    `#SBATCH --output=${ctx.log}`,
    '# One task: the spatialclaw supervisor and the server it starts.',
    '#SBATCH --ntasks=1',
  ];
  if (gpus > 0) L.push('# GPUs for the server (--gpus).', `#SBATCH --gpus=${gpus}`);
  else L.push('# No GPUs (--gpus 0).');
  if (o.partition) L.push('# The partition (--partition).', `#SBATCH --partition=${o.partition}`);
  else L.push("# No --partition: the cluster's default partition.");
  if (o.time) L.push('# The time limit (--time).', `#SBATCH --time=${o.time}`);
  else L.push("# No --time: the partition's default time limit.");
  L.push(
    `# SIGTERM to the supervisor ${SIGNAL_BEFORE_LIMIT_S} s before the time limit: it deregisters before SLURM stops the job.`,
    `#SBATCH --signal=B:TERM@${SIGNAL_BEFORE_LIMIT_S}`,
  );
  for (const a of o.sbatchArgs ?? []) L.push('# Given with --sbatch-arg.', `#SBATCH ${a}`);
  L.push(
    '',
    '# Stop at the first unset variable.',
    'set -u',
    '# Files the job creates are readable by the user only.',
    'umask 077',
    '# The cluster folder on the shared filesystem: the registry (servers/), the token files (tokens/) and the job',
    '# scripts and logs (jobs/).',
    `export ${ENV.clusterDir}=${shellQuote(ctx.clusterDir)}`,
  );
  const run = [shellQuote(ctx.node), shellQuote(ctx.cli), 'cluster', 'serve-job', o.kind];
  if (o.kind === 'perception') {
    L.push(
      '# Run the supervisor in place of this shell (exec), so that SLURM\'s signals reach it. It writes a new token to',
      '# tokens/perception-<job id>.token (mode 0600), starts `python -m spatial_perception` on this node\'s address with',
      '# the token in its environment, registers servers/perception-<job id>.json once /health answers and the token',
      '# is accepted, and on SIGTERM, SIGINT or exit removes both files and stops the server.',
    );
    run.push('--backends', shellQuote(o.backends.join(',')));
    for (const a of o.backendArgs ?? []) run.push(shellQuote(a));
  } else {
    L.push(
      '# Run the supervisor in place of this shell (exec), so that SLURM\'s signals reach it. It writes a new token to',
      '# tokens/model-<job id>.token (mode 0600), runs `vllm serve MODEL --host <this node\'s address> --port <a free',
      '# port>` followed by the arguments after `--`, with the token in VLLM_API_KEY (not on the command line),',
      '# registers servers/model-<job id>.json once GET /v1/models answers with the token, and on SIGTERM, SIGINT or',
      '# exit removes both files and stops vLLM.',
    );
    run.push('--model', shellQuote(o.model), '--vllm-command', shellQuote(o.vllmCommand ?? 'vllm'), '--', ...o.vllmArgs.map(shellQuote));
  }
  L.push(`exec ${run.join(' ')}`, '');
  return L.join('\n');
}

/** A submitted server job. */
export interface SubmittedServerJob {
  /** The registry id the job will register under: `<kind>-<job id>`. */
  id: string;
  jobId: string;
  /** The sbatch script written under `<cluster dir>/jobs/`. */
  script: string;
  /** The job's log file. */
  log: string;
}

/**
 * Write the job's script to `<cluster dir>/jobs/<kind>-<UTC time>-<4 hex>.sbatch` and submit it with `sbatch`. The
 * job gets this process's environment without the variables that look secret (config/env.ts `childEnv`): sbatch
 * passes the submitter's environment to the job, and the server needs none of those secrets.
 * @throws SlurmError with sbatch's message (a bad partition, time or option; SLURM not reachable).
 */
export function submitServerJob(o: ServerJobOptions, ctx: Partial<ScriptContext> = {}): SubmittedServerJob {
  const root = ctx.clusterDir ?? clusterDir();
  const jobs = jobsDir(root);
  const full: ScriptContext = {
    node: ctx.node ?? process.execPath,
    cli: ctx.cli ?? join(appRoot(), 'electron', 'cli', 'spatialclaw.mjs'),
    clusterDir: root,
    log: ctx.log ?? join(jobs, `${o.kind}-%j.out`),
  };
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const script = join(jobs, `${o.kind}-${stamp}-${randomBytes(2).toString('hex')}.sbatch`);
  writeFileSync(script, serverJobScript(o, full), { mode: 0o644 });
  const jobId = sbatch(script, [], { cwd: jobs, env: childEnv() });
  return { id: `${o.kind}-${jobId}`, jobId, script, log: full.log.replace(/%j/g, jobId) };
}

/** The last `n` lines of a file, or a note that it does not exist yet. */
export function logTail(file: string, n = 25): string {
  if (!existsSync(file)) return `(${file} does not exist yet: the job has not started)`;
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-n).join('\n');
}

/**
 * Wait until a submitted job has registered its server.
 * @param timeoutMs how long to wait, queueing included.
 * @param onState called with the job's state when it changes (PENDING, RUNNING, …).
 * @returns the registry entry.
 * @throws Error naming the job, its state and its log file (with the log's last lines) when the job ended without
 *   registering, or when the time is up (the job is left as it is: it may still register later).
 */
export async function waitRegistered(job: SubmittedServerJob, timeoutMs: number, onState?: (state: string) => void, root: string = clusterDir()): Promise<ClusterServer> {
  const deadline = Date.now() + timeoutMs;
  let state = 'PENDING';
  let lastState = '';
  let nextStateCheck = 0;
  for (;;) {
    const entry = listClusterServers(undefined, root).servers.find((s) => s.id === job.id);
    if (entry) return entry;
    if (Date.now() >= nextStateCheck) {
      nextStateCheck = Date.now() + 1000;
      try {
        state = jobState(job.jobId) ?? 'GONE';
      } catch (e) {
        state = `UNKNOWN (${e instanceof SlurmError ? e.message : String(e)})`;
      }
      if (state !== lastState) {
        lastState = state;
        onState?.(state);
      }
      if (!LIVE_STATES.has(state) && !state.startsWith('UNKNOWN')) {
        // The entry may have been written just before the job ended: look once more.
        const late = listClusterServers(undefined, root).servers.find((s) => s.id === job.id);
        if (late) return late;
        throw new Error(`job ${job.jobId} ended (${state}) before its server registered; its log ${job.log} ends with:\n${logTail(job.log)}`);
      }
    }
    if (Date.now() >= deadline) {
      throw new Error(`job ${job.jobId} did not register its server within ${Math.round(timeoutMs / 1000)} s (state ${state}); ` +
        `see its log ${job.log}. The job was left as it is: it registers when it gets ready (\`squeue -j ${job.jobId}\`), or cancel it with \`scancel ${job.jobId}\`.\n${logTail(job.log, 10)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---------------------------------------------------------------------------------------------------
// The job

/** What `spatialclaw cluster serve-job` runs inside the job. */
export interface ServeJobOptions {
  kind: ServerKind;
  /** Perception: backends to load. */
  backends?: string[] | undefined;
  /** Perception: backend options for `python -m spatial_perception`. */
  backendArgs?: string[] | undefined;
  /** Model: the model vLLM serves. */
  model?: string | undefined;
  /** Model: the vLLM executable (default `vllm`). */
  vllmCommand?: string | undefined;
  /** Model: arguments after `vllm serve NAME --host … --port …`. */
  vllmArgs?: string[] | undefined;
  /** Seconds the server may take to answer (default 600 for perception, 1800 for vLLM, which loads the weights first). */
  readyTimeoutS?: number | undefined;
  /** The address to bind and register (default {@link nodeAddress}). */
  host?: string | undefined;
  /** Where progress lines go (default: stdout, the job's log). */
  log?: ((line: string) => void) | undefined;
}

const isLoopback = (a: string): boolean => a === '::1' || a.startsWith('127.') || a === 'localhost';

/**
 * The address of this node that other nodes reach: what its host name resolves to, unless that is a loopback address
 * (Debian maps the host name to 127.0.1.1), else the first IPv4 address of a non-loopback interface.
 * @throws Error when the node has no such address.
 */
export async function nodeAddress(): Promise<string> {
  const name = hostname();
  try {
    const all = await lookup(name, { all: true });
    const found = all.find((a) => a.family === 4 && !isLoopback(a.address)) ?? all.find((a) => !isLoopback(a.address) && !a.address.startsWith('fe80:'));
    if (found) return found.address;
  } catch {
    /* the name does not resolve: use the interfaces */
  }
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  }
  throw new Error(`node ${name} has no address other nodes can reach (its name resolves to loopback only and no interface has an IPv4 address)`);
}

/** A free TCP port on `host` (listen on port 0, close). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host, port: 0 }, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const urlOf = (host: string, port: number): string => `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * Run a server inside a SLURM job until the job ends (the body of the generated script). Returns the exit status:
 * 0 after SIGTERM/SIGINT, 1 when the server could not start or exited by itself. The entry and token file are removed
 * in every case (on a signal at once, before the server is stopped, so no client picks a server that is going away).
 * @throws Error outside a SLURM job (no SLURM_JOB_ID).
 */
export async function serveJob(o: ServeJobOptions): Promise<number> {
  const task = currentTask();
  if (!task) {
    throw new Error('cluster serve-job runs inside a SLURM job (it is what the generated sbatch script runs); ' +
      'submit one with `spatialclaw perception start --slurm` or `spatialclaw model serve --slurm`');
  }
  const say = o.log ?? ((line: string) => console.log(`[spatialclaw ${new Date().toISOString()}] ${line}`));
  const root = clusterDir();
  const jobRef = taskJobRef(task);
  const id = `${o.kind}-${jobRef}`;
  const host = o.host ?? (await nodeAddress());
  const readyMs = (o.readyTimeoutS ?? (o.kind === 'model' ? 1800 : 600)) * 1000;

  let deregistered = false;
  const deregister = (): void => {
    if (deregistered) return;
    deregistered = true;
    try {
      deregisterServer(id, root);
    } catch {
      /* the folder is gone: nothing to remove */
    }
  };
  process.on('exit', deregister);
  let stopServer: () => Promise<void> = async () => undefined;
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    say(`${sig}: deregistering ${id} and stopping the server`);
    deregister();
    void stopServer().finally(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const token = randomBytes(32).toString('hex');
  const tokenFile = writeTokenFile(id, token, root);
  say(`job ${jobRef} on ${hostname()}: starting the ${o.kind} server on ${host}; token in ${tokenFile} (mode 0600)`);
  try {
    const entry = o.kind === 'perception'
      ? await startPerception(o, { id, host, token, tokenFile, jobRef, readyMs, say, setStop: (f) => (stopServer = f) })
      : await startModel(o, { id, host, token, tokenFile, jobRef, readyMs, say, setStop: (f) => (stopServer = f) });
    if (signalled) return 0;
    registerServer(entry.server, root);
    say(`registered ${id} at ${entry.server.url} in ${join(serversDir(root), `${id}.json`)}`);
    const how = await entry.exited;
    if (signalled) return 0;
    deregister();
    say(`the server exited ${how}; deregistered ${id}`);
    return 1;
  } catch (e) {
    deregister();
    if (signalled) return 0;
    console.error(`spatialclaw: ${e instanceof Error ? e.message : String(e)}`);
    say(`the server did not start; ${id} was not registered`);
    return 1;
  }
}

interface StartContext {
  id: string;
  host: string;
  token: string;
  tokenFile: string;
  jobRef: string;
  readyMs: number;
  say: (line: string) => void;
  /** Set how a signal stops the server. */
  setStop: (stop: () => Promise<void>) => void;
}

/** A started server: its registry entry, and a promise of how it ended (for the log). */
interface Started {
  server: ClusterServer;
  exited: Promise<string>;
}

async function startPerception(o: ServeJobOptions, c: StartContext): Promise<Started> {
  const backends = o.backends ?? [];
  const server = await PerceptionServer.startLocal({ backends, token: c.token, host: c.host, extraArgs: o.backendArgs ?? [], startTimeoutMs: c.readyMs });
  c.setStop(() => server.stop(5000));
  const h = await server.health(10_000);
  // The server must refuse requests without the token (it is reachable from other machines).
  const unauth = await fetch(`${server.url}/v1/backends`, { signal: AbortSignal.timeout(10_000) });
  await unauth.arrayBuffer();
  const authed = await fetch(`${server.url}/v1/backends`, { headers: server.authHeaders(), signal: AbortSignal.timeout(10_000) });
  await authed.arrayBuffer();
  if (unauth.status !== 401 || !authed.ok) {
    await server.stop();
    throw new Error(`the perception server at ${server.url} does not enforce its token (GET /v1/backends: ${unauth.status} without it, ${authed.status} with it); refusing to register it`);
  }
  for (const b of h.backends) c.say(`  ${b.available ? 'OK     ' : 'missing'}  ${b.name} (${b.device})${b.reason ? `: ${b.reason}` : ''}`);
  const available = h.backends.filter((b) => b.available).map((b) => b.name);
  if (available.length === 0) c.say('warning: no backend is available; the server is registered but every request to it will fail');
  const exited = server.exited!.then((x) => (x.signal ? `on signal ${x.signal}` : `with code ${x.code}`));
  return {
    server: {
      id: c.id, kind: 'perception', url: server.url, token_file: c.tokenFile, token_env: null, job_id: c.jobRef, host: hostname(),
      backends: available, model: null, registered_at: new Date().toISOString(),
    },
    exited,
  };
}

/** How a spawned child ended, or why it did not start. */
function childEnded(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; error: Error | null }> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, error: null }));
    child.once('error', (error) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
  });
}

async function startModel(o: ServeJobOptions, c: StartContext): Promise<Started> {
  const model = o.model;
  if (!model) throw new Error('cluster serve-job model needs --model NAME');
  const cmd = o.vllmCommand ?? 'vllm';
  const port = await freePort(c.host);
  const url = urlOf(c.host, port);
  const args = ['serve', model, '--host', c.host, '--port', String(port), ...(o.vllmArgs ?? [])];
  c.say(`running: ${[cmd, ...args].map(shellQuote).join(' ')} (token in VLLM_API_KEY)`);
  // vLLM's own output goes straight to the job's log. Own process group: a stop reaches its workers too.
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], detached: true, env: childEnv({ VLLM_API_KEY: c.token }) });
  const ended = childEnded(child);
  const killGroup = (sig: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      /* already gone */
    }
  };
  process.on('exit', () => killGroup('SIGKILL'));
  let gone = false;
  void ended.then(() => (gone = true));
  c.setStop(async () => {
    if (gone) return;
    killGroup('SIGTERM');
    const t = setTimeout(() => killGroup('SIGKILL'), 20_000);
    await ended;
    clearTimeout(t);
  });
  const describe = (x: Awaited<typeof ended>): string => (x.signal ? `on signal ${x.signal}` : `with code ${x.code}`);

  const deadline = Date.now() + c.readyMs;
  // The model ids GET /v1/models lists, once it answers with the token.
  const served = await (async (): Promise<string[]> => {
    let last: string | undefined;
    for (;;) {
      if (gone) {
        const x = await ended;
        if (x.error) {
          const missing = (x.error as NodeJS.ErrnoException).code === 'ENOENT';
          throw new Error(missing
            ? `vllm is not installed here: \`${cmd}\` is not on the job's PATH (${x.error.message}). vLLM is your install: ` +
              'activate the environment that has it before submitting (sbatch passes your environment to the job), or give its full path with --vllm-command /path/to/vllm'
            : `could not start ${cmd}: ${x.error.message}`);
        }
        throw new Error(`${cmd} serve exited ${describe(x)} before it was ready (its output is above in this log)`);
      }
      let status: number | null = null;
      try {
        const r = await fetch(`${url}/v1/models`, { headers: { Authorization: `Bearer ${c.token}` }, signal: AbortSignal.timeout(5000) });
        status = r.status;
        const body = await r.text();
        if (r.ok) {
          const data = (JSON.parse(body) as { data?: { id?: unknown }[] }).data ?? [];
          return data.map((m) => m.id).filter((x): x is string => typeof x === 'string');
        }
        last = `GET /v1/models: HTTP ${r.status}`;
      } catch (e) {
        last = `GET /v1/models: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (status === 401 || status === 403) {
        killGroup('SIGTERM');
        throw new Error(`${url}/v1/models rejected the job's token (HTTP ${status}): do the vLLM arguments set their own --api-key? Leave it out; the job passes its token in VLLM_API_KEY`);
      }
      if (Date.now() >= deadline) {
        killGroup('SIGTERM');
        throw new Error(`${cmd} serve did not answer ${url}/v1/models within ${c.readyMs / 1000} s (last: ${last ?? 'no answer'}); raise --ready-timeout for large models`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  // The token must guard it: vLLM versions that ignore VLLM_API_KEY would serve anyone.
  const open = await fetch(`${url}/v1/models`, { signal: AbortSignal.timeout(5000) });
  await open.arrayBuffer();
  if (open.status !== 401 && open.status !== 403) {
    killGroup('SIGTERM');
    throw new Error(`${url}/v1/models answers without the token (HTTP ${open.status}): this vLLM ignores VLLM_API_KEY; refusing to register an open server (upgrade vLLM)`);
  }
  const registered = served.includes(model) ? model : served[0] ?? model;
  if (registered !== model) c.say(`vLLM serves ${served.join(', ')} (not ${model}, see --served-model-name); registering ${registered}`);
  return {
    server: {
      id: c.id, kind: 'model', url, token_file: c.tokenFile, token_env: null, job_id: c.jobRef, host: hostname(),
      backends: [], model: registered, registered_at: new Date().toISOString(),
    },
    exited: ended.then(describe),
  };
}

// ---------------------------------------------------------------------------------------------------
// Routing

/** Registered servers of a kind whose SLURM job is alive, and why the others were skipped. */
export interface LiveServers {
  servers: ClusterServer[];
  /** One line per skipped entry: its id and why. */
  skipped: string[];
}

/**
 * The registered servers of `kind` whose SLURM job is still alive (slurm.ts `jobState` in {@link LIVE_STATES}).
 * Entries of ended jobs are skipped and, with `prune` (default), removed with their token files. When SLURM cannot be
 * asked (no `squeue` on this machine), an entry is kept: its health check decides.
 */
export function liveClusterServers(kind: ServerKind, opts: { prune?: boolean; root?: string } = {}): LiveServers {
  const root = opts.root ?? clusterDir();
  const { servers, problems } = listClusterServers(kind, root);
  const live: ClusterServer[] = [];
  const skipped = [...problems];
  for (const s of servers) {
    let state: string | null;
    try {
      state = jobState(s.job_id);
    } catch {
      live.push(s);
      continue;
    }
    if (state !== null && LIVE_STATES.has(state)) {
      live.push(s);
      continue;
    }
    skipped.push(`${s.id}: its job ${s.job_id} ${state ? `is ${state}` : 'has ended'}${opts.prune === false ? '' : ' (stale entry removed)'}`);
    if (opts.prune !== false) deregisterServer(s.id, root);
  }
  return { servers: live, skipped };
}

/**
 * `--perception cluster`: the least-loaded healthy perception server registered on the cluster (load: the queue its
 * /health reports plus this host's requests in flight), with the failover of {@link PerceptionRouter} (servers that
 * do not answer are skipped). Servers without the backend `backend` (when given) are skipped.
 * @throws WorkbenchError when none is registered (or every job has ended); PerceptionServerError listing each
 *   server's problem when none is healthy.
 */
export async function clusterPerceptionServer(backend?: string, root: string = clusterDir()): Promise<PerceptionServer> {
  const { servers, skipped } = liveClusterServers('perception', { root });
  const refs: PerceptionServer[] = [];
  for (const s of servers) {
    const token = serverToken(s);
    if (token) refs.push(PerceptionServer.reference(s.url, token, s.id));
    else skipped.push(`${s.id}: its token file ${s.token_file ?? '(none)'} cannot be read from here`);
  }
  if (refs.length === 0) {
    throw new WorkbenchError(`--perception cluster: no live perception server is registered in ${serversDir(root)}${skipped.length ? ` (${skipped.join('; ')})` : ''}`,
      'start one with `spatialclaw perception start --slurm --backends ...`, or set SPATIALCLAW_CLUSTER_DIR to the cluster folder the jobs use');
  }
  return new PerceptionRouter(refs).pick(backend);
}

/** One endpoint of `--model cluster`, least loaded first. */
export interface ClusterModelEndpoint {
  id: string;
  /** OpenAI base URL: the server's URL + `/v1`. */
  base_url: string;
  /** The server's token file (the client reads the key from it at each call). */
  api_key_file: string;
  /** Requests running + waiting on the server (vLLM's Prometheus /metrics), 0 when it does not say. */
  load: number;
}

/** What the probe worker reports per server. */
interface ProbeResult {
  status: number | null;
  models: string[] | null;
  metrics: string | null;
  error: string | null;
}

// Runs in a worker thread: GET /v1/models (with the token) and /metrics of each target, all at once.
const PROBE_WORKER = `
const { workerData } = require('node:worker_threads');
const { targets, timeoutMs, flag, port } = workerData;
async function one(t) {
  const out = { status: null, models: null, metrics: null, error: null };
  const headers = { Authorization: 'Bearer ' + t.token };
  try {
    const r = await fetch(t.url + '/v1/models', { headers, signal: AbortSignal.timeout(timeoutMs) });
    out.status = r.status;
    const text = await r.text();
    if (r.ok) {
      const data = JSON.parse(text).data;
      out.models = Array.isArray(data) ? data.map((m) => m && m.id).filter((x) => typeof x === 'string') : [];
    }
  } catch (e) {
    out.error = (e && e.cause && e.cause.code) || (e && e.name === 'TimeoutError' ? 'timed out' : String(e && e.message || e));
  }
  if (out.models) {
    try {
      const r = await fetch(t.url + '/metrics', { headers, signal: AbortSignal.timeout(timeoutMs) });
      const text = await r.text();
      if (r.ok) out.metrics = text;
    } catch {}
  }
  return out;
}
Promise.all(targets.map(one)).then((results) => {
  port.postMessage(results);
  const f = new Int32Array(flag);
  Atomics.store(f, 0, 1);
  Atomics.notify(f, 0);
});
`;

/**
 * Probe model servers synchronously: a worker thread does the requests while this thread waits (Atomics.wait).
 * Synchronous because a model config is resolved synchronously (ModelRegistry.fromArgs, before anything async runs).
 * The tokens go to the worker in memory only.
 */
function probeModelServers(targets: { url: string; token: string }[], timeoutMs: number): ProbeResult[] {
  if (targets.length === 0) return [];
  const { port1, port2 } = new MessageChannel();
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(PROBE_WORKER, { eval: true, workerData: { targets, timeoutMs, flag, port: port2 }, transferList: [port2] });
  try {
    Atomics.wait(new Int32Array(flag), 0, 0, timeoutMs * 2 + 2000);
    const msg = receiveMessageOnPort(port1);
    if (!msg) return targets.map(() => ({ status: null, models: null, metrics: null, error: 'no answer in time' }));
    return msg.message as ProbeResult[];
  } finally {
    port1.close();
    void worker.terminate();
  }
}

/** Requests running plus waiting, from vLLM's Prometheus text (`vllm:num_requests_running`, `vllm:num_requests_waiting`), or 0. */
export function vllmLoad(metrics: string | null): number {
  if (!metrics) return 0;
  let load = 0;
  for (const m of metrics.matchAll(/^vllm:num_requests_(?:running|waiting)(?:\{[^}]*\})?\s+(\S+)/gm)) {
    const v = Number(m[1]);
    if (Number.isFinite(v)) load += v;
  }
  return load;
}

/**
 * `--model cluster[:NAME]`: the healthy model servers registered on the cluster that serve `model` (any, when they
 * all serve one model), least loaded first. Healthy: its job is alive and `GET /v1/models` answers with its token.
 * @returns the model id and its endpoints.
 * @throws WorkbenchError when none is registered, none serves `model`, several models are served and none was named,
 *   or none answers (each server's problem listed).
 */
export function clusterModelEndpoints(model?: string, opts: { root?: string; timeoutMs?: number } = {}): { model: string; endpoints: ClusterModelEndpoint[] } {
  const root = opts.root ?? clusterDir();
  const { servers, skipped } = liveClusterServers('model', { root });
  const fix = 'start one with `spatialclaw model serve --slurm --model NAME --vllm-args "..."`, or set SPATIALCLAW_CLUSTER_DIR to the cluster folder the jobs use';
  if (servers.length === 0) {
    throw new WorkbenchError(`--model cluster: no live model server is registered in ${serversDir(root)}${skipped.length ? ` (${skipped.join('; ')})` : ''}`, fix);
  }
  const models = [...new Set(servers.map((s) => s.model ?? ''))].filter(Boolean).sort();
  if (!model) {
    if (models.length > 1) throw new WorkbenchError(`--model cluster: the cluster serves several models (${models.join(', ')})`, `name one: --model cluster:${models[0]}`);
    model = models[0] ?? '';
  }
  const mine = servers.filter((s) => s.model === model);
  if (mine.length === 0) throw new WorkbenchError(`--model cluster:${model}: no registered model server serves ${model} (served: ${models.join(', ') || 'none'})`, fix);
  const problems = [...skipped];
  const targets: { s: ClusterServer; token: string }[] = [];
  for (const s of mine) {
    const token = serverToken(s);
    if (token && s.token_file) targets.push({ s, token });
    else problems.push(`${s.id}: its token file ${s.token_file ?? '(none)'} cannot be read from here`);
  }
  const results = probeModelServers(targets.map((t) => ({ url: t.s.url, token: t.token })), opts.timeoutMs ?? 3000);
  const healthy: ClusterModelEndpoint[] = [];
  targets.forEach((t, i) => {
    const r = results[i]!;
    if (r.models) healthy.push({ id: t.s.id, base_url: `${t.s.url}/v1`, api_key_file: t.s.token_file!, load: vllmLoad(r.metrics) });
    else problems.push(`${t.s.id} (${t.s.url}): ${r.error ?? `GET /v1/models answered HTTP ${r.status}`}`);
  });
  if (healthy.length === 0) throw new WorkbenchError(`--model cluster: no registered server of ${model} answers:\n  ${problems.join('\n  ')}`, 'check the jobs with `squeue` and their logs in <cluster dir>/jobs/');
  // Stable: equal loads keep the registry's (id) order.
  healthy.sort((a, b) => a.load - b.load);
  return { model, endpoints: healthy };
}
