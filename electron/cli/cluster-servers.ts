/**
 * The CLI side of servers on the SLURM cluster (docs/cluster.md, "Servers on the cluster"):
 * `spatialclaw perception start --slurm`, `spatialclaw model serve --slurm`, and the hidden
 * `spatialclaw cluster serve-job` that the generated sbatch scripts run. The logic is in
 * electron/services/cluster/servers.ts.
 */
import {
  defaultGpus, serveJob, type ServerJobOptions, type ServerKind, splitArgs, submitServerJob, waitRegistered,
} from '../services/cluster/servers.ts';

/** The sbatch flags both submit commands take. */
export interface SlurmFlags {
  partition?: string;
  time?: string;
  gpus?: number;
  sbatchArg?: string[];
  /** false with `--no-wait`. */
  wait?: boolean;
  /** Seconds to wait for the registration, queueing included. */
  waitTimeout?: number;
}

/** Default of `--wait-timeout`, seconds: a perception server starts in seconds, vLLM loads its weights first. */
const WAIT_DEFAULT_S: Record<ServerKind, number> = { perception: 900, model: 1800 };

/** `--time`: what SLURM accepts (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`). */
export function checkSlurmTime(v: string): string {
  if (!/^(\d+-)?\d+(:\d+){0,2}$/.test(v)) throw new Error(`--time must be a SLURM time limit such as 08:00:00 or 1-00:00:00, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Submit a server job, print its id, script and log, and (unless `--no-wait`) wait until the server registers.
 * @returns 0 once registered (or submitted, with --no-wait). @throws Error naming the job's log when it does not register.
 */
export async function submitServerCommand(job: ServerJobOptions, f: SlurmFlags): Promise<number> {
  const what = job.kind === 'perception' ? `perception server (backends ${job.backends.join(', ')})` : `vLLM server of ${job.model}`;
  const submitted = submitServerJob(job);
  console.log(`submitted job ${submitted.jobId}: ${what}, ${defaultGpus(job)} GPU(s)`);
  console.log(`  script: ${submitted.script}`);
  console.log(`  log:    ${submitted.log}`);
  if (f.wait === false) {
    console.log(`it registers as ${submitted.id} once it answers; follow it with \`squeue -j ${submitted.jobId}\` and its log`);
    return 0;
  }
  const timeoutS = f.waitTimeout ?? WAIT_DEFAULT_S[job.kind];
  console.log(`waiting for ${submitted.id} to register (at most ${timeoutS} s; --no-wait returns at once)`);
  const entry = await waitRegistered(submitted, timeoutS * 1000, (state) => console.log(`  job ${submitted.jobId}: ${state}`));
  console.log(`${entry.id} ready at ${entry.url} on ${entry.host}${entry.kind === 'model' ? ` serving ${entry.model}` : ` (backends ${entry.backends.join(', ') || 'none available'})`}`);
  console.log(`  token file: ${entry.token_file} (mode 0600; clients read it, it is printed nowhere)`);
  console.log(`  use it with: ${entry.kind === 'model' ? `--model cluster${entry.model ? ` (or --model cluster:${entry.model})` : ''}` : '--perception cluster'}`);
  console.log(`  stop it with: scancel ${submitted.jobId}`);
  return 0;
}

/** `spatialclaw model serve`'s flags. */
export interface ModelServeFlags extends SlurmFlags {
  slurm?: boolean;
  model: string;
  vllmArgs?: string;
  vllmCommand?: string;
}

/** `spatialclaw model serve --slurm --model NAME --vllm-args "…"`. */
export async function modelServe(o: ModelServeFlags): Promise<number> {
  if (!o.slurm) {
    throw new Error('model serve only submits a SLURM job: add --slurm. To serve a model on this machine, run vLLM yourself ' +
      '(`vllm serve NAME`, with a key in VLLM_API_KEY) and use --model NAME --base-url http://127.0.0.1:8000/v1 --api-key-env VLLM_API_KEY (docs/models.md)');
  }
  let vllmArgs: string[];
  try {
    vllmArgs = splitArgs(o.vllmArgs ?? '');
  } catch (e) {
    throw new Error(`--vllm-args: ${(e as Error).message}`, { cause: e });
  }
  const reserved = vllmArgs.find((a) => /^--(host|port|api-key)(=|$)/.test(a));
  if (reserved) throw new Error(`--vllm-args must not set ${reserved.split('=')[0]}: the job binds its node's address and a free port, and passes its own token in VLLM_API_KEY`);
  return submitServerCommand({
    kind: 'model', model: o.model, vllmArgs, vllmCommand: o.vllmCommand,
    partition: o.partition, time: o.time, gpus: o.gpus, sbatchArgs: o.sbatchArg ?? [],
  }, o);
}

/** `spatialclaw cluster serve-job perception|model …` (inside the job). */
export async function serveJobCommand(kind: string, rest: string[], o: {
  backends?: string; oracleRoot?: string; sam3Checkpoint?: string; da3Checkpoint?: string; monoCheckpoint?: string;
  model?: string; vllmCommand?: string; readyTimeout?: number; host?: string;
}): Promise<number> {
  if (kind !== 'perception' && kind !== 'model') throw new Error(`cluster serve-job: the kind must be perception or model, got ${JSON.stringify(kind)}`);
  return serveJob({
    kind,
    backends: (o.backends ?? '').split(',').map((b) => b.trim()).filter(Boolean),
    backendArgs: [
      ...(o.oracleRoot ? ['--oracle-root', o.oracleRoot] : []),
      ...(o.sam3Checkpoint ? ['--sam3-checkpoint', o.sam3Checkpoint] : []),
      ...(o.da3Checkpoint ? ['--da3-checkpoint', o.da3Checkpoint] : []),
      ...(o.monoCheckpoint ? ['--mono-checkpoint', o.monoCheckpoint] : []),
    ],
    model: o.model,
    vllmCommand: o.vllmCommand,
    vllmArgs: rest,
    readyTimeoutS: o.readyTimeout,
    host: o.host,
  });
}
