/**
 * `spatialclaw`: the headless CLI over the same services the workbench uses.
 */
import { Command } from 'commander';
import { DEFAULTS } from '../../shared/defaults.ts';
import { PROFILE_NAMES, type ProfileName } from '../../shared/profiles.ts';
import { env, ENV } from '../services/config/env.ts';
import { formatDoctor, runDoctor } from '../services/doctor.ts';
import { resolvePython, runPython } from '../services/python.ts';
import { benchAgent } from './bench-agent.ts';
import { benchKernel, formatBench } from './bench-kernel.ts';
import { runDemo } from './demo.ts';
import { ask } from './ask.ts';
import { kernelRun } from './kernel.ts';
import { replay } from './replay.ts';
import { checkSlurmTime } from './cluster-servers.ts';
import { perceptionAdd, perceptionRemove, perceptionStart, perceptionStatus, perceptionStop } from './perception.ts';
import { runDataset } from './run.ts';
import { armEarlyShardSignal, exitShardTask } from './shard-stop.ts';
import { compareRuns, datasets, evalBenchmarks, score } from './eval.ts';
import { exportFormatOpt, exportRun } from './export.ts';
import { tagCommand, type TagOptions } from './tag.ts';

// @jupyterlab/services reports websocket and kernel-status changes through console.debug, which Node
// prints to stdout. Keep CLI output clean unless asked for it.
if (!env('debug')) console.debug = () => undefined;

// @jupyterlab/services rejects promises of its own internal work that nobody awaits: the `done` of an
// internal request (e.g. kernel_info after a reconnect) when a kernel restarts, and an in-flight model
// poll when the manager is disposed at shutdown. Node would exit on those unhandled rejections.
// Ignore exactly these; anything else still crashes loudly.
const LIBRARY_INTERNAL = [/^Canceled future for \w+ message before replies were done$/, /^Poll \(@jupyterlab\/services:[\w#]+\) is disposed\.?$/];
process.on('unhandledRejection', (reason) => {
  if (reason instanceof Error && LIBRARY_INTERNAL.some((re) => re.test(reason.message))) {
    console.debug(`ignored: ${reason.message}`);
    return;
  }
  throw reason;
});

// A shard task of a sharded run (docs/cluster.md): SLURM's warning signal may come while the CLI still loads.
const shardTask = process.argv.some((a) => a === '--shard' || a.startsWith('--shard='));
if (shardTask) armEarlyShardSignal();

const program = new Command();

/** A command action that sets the exit code to what `run` returns (errors go to the handler at the end). */
const exitWith = <A extends unknown[]>(run: (...args: A) => Promise<number> | number) => async (...args: A): Promise<void> => {
  process.exitCode = await run(...args);
};
program
  .name('spatialclaw')
  .description('SpatialClaw Workbench: code-as-action spatial reasoning agents (CLI)')
  .version('0.1.0')
  // Every command that starts agent kernels honours these (docs/security.md); they set $SPATIALCLAW_SANDBOX, which
  // SLURM tasks and other children inherit.
  .option('--sandbox <mode>', 'agent kernels\' OS sandbox: auto (bubblewrap where it works, else a warning), on (refuse to run without), off')
  .option('--no-sandbox', 'run agent kernels without the OS sandbox (a warning at every start; same as --sandbox off)')
  .hook('preAction', (cmd) => {
    const raw = cmd.opts<{ sandbox?: string | boolean }>().sandbox;
    if (raw === undefined || raw === true) return;
    const mode = raw === false ? 'off' : raw;
    if (!['auto', 'on', 'off'].includes(mode)) {
      throw new Error(`--sandbox must be auto, on or off, got ${JSON.stringify(mode)}`);
    }
    process.env[ENV.sandbox] = mode;
  });

program
  .command('doctor')
  .description('check every prerequisite and print the command that fixes each missing one (exit 1 if a required one is missing)')
  .option('--json', 'print the report as JSON')
  .action(async (opts: { json?: boolean }) => {
    const report = await runDoctor();
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
    process.exitCode = report.ok ? 0 : 1;
  });

/** The options of every command that talks to a model: --model, --base-url, --api-key-env (docs/models.md). */
function withModelOptions(cmd: Command): Command {
  return cmd
    .option('--model <config|name>', `model config file or name (in <data dir>/models, or built in: the paper's backbones such as qwen3.5-397b-a17b), or the model id of a config (see docs/models.md), or "cluster" / "cluster:NAME" (the model servers registered on the SLURM cluster, docs/cluster.md); default $${ENV.model}`)
    .option('--base-url <url>', `OpenAI-compatible endpoint for an ad-hoc config (with --model NAME), or for a built-in one; default $${ENV.baseUrl}`)
    .option('--api-key-env <var>', 'environment variable holding the API key (ad-hoc config)')
    .option('--max-retries <n>', 'retries per model call, over the config\'s max_retries: a call sends at most 1 + N requests (docs/models.md)', (v: string): number => {
      const x = Number(v);
      if (!Number.isInteger(x) || x < 0) throw new Error(`--max-retries must be a whole number >= 0, got ${JSON.stringify(v)}`);
      return x;
    });
}

withModelOptions(program
  .command('demo')
  .description('the main job on the bundled real RGB-D sample; live with a model, else a labelled demonstration trajectory')
  .option('--sample <dir>', 'RGB-D sample folder with a sample.json manifest (default: the bundled room sample)'))
  .action(exitWith((opts: { sample?: string; model?: string; baseUrl?: string; apiKeyEnv?: string }) => runDemo({ ...opts, sampleDir: opts.sample })));

const collect = (v: string, prev: string[]): string[] => [...prev, v];
const num = (name: string) => (v: string): number => {
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(v)}`);
  return x;
};

/** `--concurrency`: a positive whole number, or `auto`. */
const concurrencyOpt = (v: string): number | 'auto' => {
  if (v === 'auto') return v;
  const x = Number(v);
  if (!Number.isInteger(x) || x <= 0) throw new Error(`--concurrency must be a positive whole number or auto, got ${JSON.stringify(v)}`);
  return x;
};
const CONCURRENCY_HELP = 'samples in parallel, each with its own kernel, or "auto": as many as the model takes in flight (its endpoints\' max_in_flight), at most 2 × CPUs (default auto)';

const orderOpt = (v: string): 'media' | 'dataset' => {
  if (v !== 'media' && v !== 'dataset') throw new Error(`--order must be media or dataset, got ${JSON.stringify(v)}`);
  return v;
};
const ORDER_HELP = 'media (default): samples about the same video or images run one after another, so perception results are reused; dataset: the order of the file';

const PERCEPTION_HELP = 'perception server for tools.Reconstruct / tools.SAM3: a server name (started here or registered), "local" (start one), "cluster" (the least-loaded one registered on the SLURM cluster), or a URL (token in $' + ENV.perceptionToken + ')';

const profileOpt = (v: string): ProfileName => {
  if (!(PROFILE_NAMES as readonly string[]).includes(v)) throw new Error(`--profile must be ${PROFILE_NAMES.join(' or ')}, got ${v}`);
  return v as ProfileName;
};
const PROFILE_HELP = `agent profile: default (this workbench's loop) or paper (the published SpatialClaw loop, docs/paper-parity.md); default $${ENV.profile}, else profile of settings.json, else ${DEFAULTS.profile}`;

const executorOpt = (v: string): 'code' | 'single_pass' | 'tool_call' => {
  if (v !== 'code' && v !== 'single_pass' && v !== 'tool_call') throw new Error(`--executor must be code, single_pass or tool_call, got ${v}`);
  return v;
};

withModelOptions(program
  .command('ask')
  .description('answer one spatial question about a video, images or an RGB-D set; shows the steps live and records a run')
  .requiredOption('--input <path>', 'video, image, folder of images, RGB-D sample folder, or (with --depth) the colour folder; repeatable', collect, [])
  .option('--depth <dir>', 'folder of 16-bit depth frames')
  .option('--camera <file>', 'JSON {"fx","fy","cx","cy"} (+ optional depth_scale)')
  .option('--poses <file>', 'camera-to-world poses, one "tx ty tz qx qy qz qw" line per frame')
  .requiredOption('--question <text>', 'the question')
  .option('--choices <choice...>', 'multiple-choice options, e.g. "A. 1 m" "B. 2 m"')
  .option('--answer <gt>', 'ground truth, to score the answer'))
  .option('--perception <target>', PERCEPTION_HELP)
  .option('--profile <name>', PROFILE_HELP, profileOpt)
  .option('--executor <kind>', `code | single_pass | tool_call (default ${DEFAULTS.executor})`, executorOpt)
  .option('--max-steps <n>', `step budget (default: max_steps of settings.json, else ${DEFAULTS.maxSteps})`, num('--max-steps'))
  .option('--cell-timeout <s>', `per-cell timeout, seconds (default: cell_timeout_s of settings.json, else ${DEFAULTS.cellTimeoutS})`, num('--cell-timeout'))
  .option('--sample-timeout <s>', 'wall-clock budget per sample, seconds: past it the sample ends with termination error, recorded (default: sample_timeout_s of settings.json, else none)', num('--sample-timeout'))
  .option('--frames <n>', 'frames to sample from a video (default: the profile\'s: 16, or every frame for paper)', num('--frames'))
  .option('--no-plan', 'skip the planner call')
  .option('--out <dir>', 'run folder (default: <data dir>/runs/<run id>)')
  .option('--json', 'print the sample result as JSON instead of the live view')
  .action(exitWith((opts: Parameters<typeof ask>[0]) => ask(opts)));

/** The flags of a sharded run on SLURM (docs/cluster.md), on `run` and `eval`. */
function withSlurmOptions(cmd: Command): Command {
  return cmd
    .option('--slurm', 'submit to SLURM as a sharded run (one job array + a finalize job) instead of running here; prints the job ids and returns')
    .option('--shards <n>', 'with --slurm: how many shards (job-array tasks), default 4; samples go to shards by a stable hash of their id', num('--shards'))
    .option('--partition <name>', 'with --slurm: the partition (sbatch --partition)')
    .option('--time <limit>', 'with --slurm: each task\'s time limit (sbatch --time, e.g. 04:00:00); tasks near it are requeued and resume')
    .option('--gpus-per-task <n>', 'with --slurm: GPUs per task (sbatch --gpus-per-task)', num('--gpus-per-task'))
    .option('--sbatch-arg <arg>', 'with --slurm: one more sbatch option for every job, e.g. --sbatch-arg=--qos=high; repeatable', collect, [])
    .option('--signal-before <s>', 'with --slurm: seconds before the time limit at which SLURM tells a task to stop and requeue (default 300)', num('--signal-before'))
    .option('--wait', 'with --slurm: stay and print each shard\'s progress until the finalize job ends (exit 0 when the run finished)')
    .option('--shard <k/n>', 'run only shard K of N of a sharded run in --out (what each job-array task runs; also works without SLURM)');
}

const runCmd = withModelOptions(program
  .command('run')
  .description('run a batch of questions from a JSONL dataset with progress, scores and --resume')
  .requiredOption('--dataset <file>', 'JSONL: {"id", "inputs": [InputSpec], "question", "choices"?, "answer"?, "question_type"?} per line'))
  .option('--concurrency <n|auto>', CONCURRENCY_HELP, concurrencyOpt)
  .option('--order <order>', ORDER_HELP, orderOpt)
  .option('--limit <n>', 'only the first N samples', num('--limit'))
  .option('--resume [run]', 'continue the run RUN (or the one in --out) where it stopped; with --slurm, resubmit only its unfinished shards')
  .option('--out <dir>', 'run folder (default: <data dir>/runs/<run id>)')
  .option('--perception <target>', PERCEPTION_HELP)
  .option('--profile <name>', PROFILE_HELP, profileOpt)
  .option('--executor <kind>', `code | single_pass | tool_call (default ${DEFAULTS.executor})`, executorOpt)
  .option('--max-steps <n>', `step budget per sample (default: max_steps of settings.json, else ${DEFAULTS.maxSteps})`, num('--max-steps'))
  .option('--cell-timeout <s>', `per-cell timeout, seconds (default: cell_timeout_s of settings.json, else ${DEFAULTS.cellTimeoutS})`, num('--cell-timeout'))
  .option('--sample-timeout <s>', 'wall-clock budget per sample, seconds: past it the sample ends with termination error, recorded (default: sample_timeout_s of settings.json, else none)', num('--sample-timeout'))
  .option('--no-plan', 'skip the planner call')
  .option('--no-artifacts', 'do not copy perception artifacts (point clouds, masks) into the run folder');
withSlurmOptions(runCmd).action(exitWith((opts: Parameters<typeof runDataset>[0]) => runDataset(opts)));

const scoringOpt = (v: string): 'official' | 'paper' => {
  if (v !== 'official' && v !== 'paper') throw new Error(`--scoring must be official or paper, got ${v}`);
  return v;
};
const DATA_ROOT_HELP = `folder holding the benchmarks' snapshots (<dir>/vsibench/, <dir>/blink/, ...); default $${ENV.dataRoot}`;
const int = (name: string) => (v: string): number => {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 0) throw new Error(`${name} must be a whole number, got ${JSON.stringify(v)}`);
  return x;
};

const evalCmd = withModelOptions(program
  .command('eval')
  .description('run the paper\'s benchmarks from their published snapshots, score them as each benchmark\'s released evaluation does, and print the table (docs/benchmarks-eval.md)')
  .requiredOption('--benchmark <names>', 'a benchmark, a comma-separated list, or "all" (the paper\'s 20); `spatialclaw datasets list` shows them')
  .option('--data-root <dir>', DATA_ROOT_HELP))
  .option('--profile <name>', PROFILE_HELP, profileOpt)
  .option('--executor <kind>', `code | single_pass | tool_call (default ${DEFAULTS.executor})`, executorOpt)
  .option('--scoring <name>', 'official (the benchmark\'s released evaluation, default) or paper (SpatialClaw\'s evaluation); both can be computed later with `spatialclaw score RUN`', scoringOpt)
  .option('--limit <n>', 'the first N samples of each benchmark', num('--limit'))
  .option('--subsample <n>', 'N samples of each benchmark, drawn with --seed (the original\'s --subsample: seed 42, shuffle, first N)', num('--subsample'))
  .option('--seed <n>', 'seed of --subsample (default 42)', int('--seed'))
  .option('--concurrency <n|auto>', CONCURRENCY_HELP, concurrencyOpt)
  .option('--order <order>', ORDER_HELP, orderOpt)
  .option('--out <dir>', 'run folder (default: <data dir>/runs/<run id>)')
  .option('--resume [run]', 'continue the run RUN (or the one in --out) where it stopped (pass the same --benchmark and selection); with --slurm, resubmit only its unfinished shards')
  .option('--perception <target>', PERCEPTION_HELP)
  .option('--max-steps <n>', `step budget per sample (default: max_steps of settings.json, else ${DEFAULTS.maxSteps})`, num('--max-steps'))
  .option('--cell-timeout <s>', `per-cell timeout, seconds (default: cell_timeout_s of settings.json, else ${DEFAULTS.cellTimeoutS})`, num('--cell-timeout'))
  .option('--sample-timeout <s>', 'wall-clock budget per sample, seconds: past it the sample ends with termination error, recorded (default: sample_timeout_s of settings.json, else none)', num('--sample-timeout'))
  .option('--no-plan', 'skip the planner call')
  .option('--no-artifacts', 'do not copy perception artifacts into the run folder');
withSlurmOptions(evalCmd).action(exitWith((opts: Parameters<typeof evalBenchmarks>[0]) => evalBenchmarks(opts)));

const clusterCmd = program.command('cluster').description('SLURM clusters: sharded runs and cluster-hosted servers (docs/cluster.md)');
clusterCmd
  .command('status')
  .description('what the workbench\'s Cluster view shows: SLURM, every sharded run shard by shard, your jobs, the registered servers and their health (exit 1 when SLURM does not answer)')
  .option('--runs <dir>', 'runs root (default: the configured one)')
  .option('--json', 'print JSON (ClusterStatus, shared/cluster.ts)')
  .action(exitWith(async (opts: { runs?: string; json?: boolean }) => (await import('./cluster.ts')).clusterStatusCommand(opts)));
clusterCmd
  .command('cancel')
  .description('cancel the pending and running jobs of a sharded run (its shards record interrupted; --resume RUN --slurm continues it)')
  .argument('<run>', 'the sharded run folder, or its run id under the runs root')
  .action(exitWith(async (run: string) => (await import('./cluster.ts')).clusterCancel(run)));
clusterCmd
  .command('finalize')
  .description('what the finalize job of a sharded run runs: mark it finished when every shard is (else interrupted, saying what to resume), score it and print the summary')
  .argument('<run>', 'the sharded run folder')
  .action(exitWith(async (run: string) => (await import('./slurm-run.ts')).finalizeShardedRun(run)));
clusterCmd
  .command('serve-job', { hidden: true })
  .description('what the job of `perception start --slurm` / `model serve --slurm` runs: start the server on this node, register it, deregister on exit')
  .argument('<kind>', 'perception or model')
  .argument('[vllm_args...]', 'model: the arguments after `vllm serve NAME --host ... --port ...` (after --)')
  .option('--backends <list>', 'perception: comma-separated backends')
  .option('--oracle-root <dir>', 'perception: folder of ground-truth annotation sets for the oracle backend')
  .option('--sam3-checkpoint <dir>', 'perception: local SAM 3 checkpoint directory')
  .option('--da3-checkpoint <dir>', 'perception: local Depth Anything 3 checkpoint directory')
  .option('--mono-checkpoint <dir>', 'perception: local metric depth checkpoint directory (Depth Pro or metric Depth Anything V2) for the mono backend')
  .option('--model <name>', 'model: the model vLLM serves')
  .option('--vllm-command <cmd>', 'model: the vLLM executable', 'vllm')
  .option('--ready-timeout <s>', 'seconds the server may take to answer (default 600 for perception, 1800 for vLLM)', num('--ready-timeout'))
  .option('--host <addr>', 'address to bind and register (default: this node\'s address)')
  .action(exitWith(async (kind: string, rest: string[], opts: Parameters<typeof import('./cluster-servers.ts').serveJobCommand>[2]) =>
    (await import('./cluster-servers.ts')).serveJobCommand(kind, rest, opts)));

program
  .command('score')
  .description('re-score a run folder (writes results.json), or a predictions file against a benchmark')
  .argument('[run]', 'run folder of `spatialclaw eval`')
  .option('--benchmark <name>', 'the benchmark of --predictions')
  .option('--data-root <dir>', DATA_ROOT_HELP)
  .option('--predictions <file>', 'JSONL, one {"id": <official id>, "prediction": "<text>"} per line')
  .option('--scoring <name>', 'official (default) or paper', scoringOpt)
  .option('--json', 'print JSON: {"benchmark", "scoring", "n", "per_task", "overall"} for --predictions, results.json for a run')
  .action(exitWith((run: string | undefined, opts: Parameters<typeof score>[1]) => score(run, opts)));

program
  .command('compare')
  .description('compare two runs sample by sample: answers that flipped, McNemar\'s exact test, the paired bootstrap CI of the score difference, per task')
  .argument('<run_a>', 'run folder A (the baseline)')
  .argument('<run_b>', 'run folder B (compared against A: positive differences mean B scores higher)')
  .option('--json', 'print JSON: {"n_common", "a_only_correct", "b_only_correct", "mcnemar_p", "delta", "delta_ci95", "per_task", "flips", ...}')
  .option('--resamples <n>', 'bootstrap resamples (default 9999)', num('--resamples'))
  .action(exitWith((a: string, b: string, opts: { json?: boolean; resamples?: number }) => compareRuns(a, b, opts)));

program
  .command('export')
  .description('one row per finished sample of a run (scores, tags, notes, steps, tokens, termination, error) as CSV, Parquet or JSON Lines (docs/export.md)')
  .argument('<run>', 'run folder, or a run id under the runs root')
  .requiredOption('--format <format>', 'csv | parquet | jsonl', exportFormatOpt)
  .option('--out <file>', 'file to write (default: <run>/export.<format>)')
  .action(exitWith((run: string, opts: { format: 'csv' | 'parquet' | 'jsonl'; out?: string }) => exportRun(run, opts)));

program
  .command('tag')
  .description("tag a sample or one of its steps, add or delete notes (the run's annotations.jsonl), or list a run's annotations")
  .argument('<run>', 'run folder, or a run id under the runs root')
  .argument('[sample]', 'sample id (with --list: only its annotations)')
  .option('--step <n>', 'annotate this step (1-based cell number) instead of the whole sample')
  .option('--tag <id>', 'tag id from the taxonomy, e.g. perception.segmentation_miss; repeatable', collect, [])
  .option('--note <text>', 'add a note; repeatable', collect, [])
  .option('--delete-note <id>', 'delete a note by its id (ids from --list); repeatable', collect, [])
  .option('--remove', 'remove the --tag tags instead of adding them')
  .option('--author <name>', 'who annotates (default: your user name)')
  .option('--list', "print the run's annotations: per sample and step, tags and notes")
  .option('--json', 'print JSON: {"samples": {id: {"tags", "notes"}}} for --list, the sample\'s {"tags", "notes"} otherwise')
  .action(exitWith((run: string, sample: string | undefined, opts: TagOptions) => tagCommand(run, sample, opts)));

program
  .command('import')
  .description('import a SpatialClaw work dir (predictions.jsonl, session-*/trace.jsonl, show_images/) as a run the workbench browses, annotates and compares (docs/import.md)')
  .argument('<dir>', 'the work dir SpatialClaw wrote (its --work_dir)')
  .option('--runs <dir>', 'runs root to write the run under (default: <data dir>/runs)')
  .option('--id <run_id>', 'run id, the folder name (default: import-<UTC time>-<4 hex>); an existing run is never overwritten')
  .option('--data-root <dir>', `${DATA_ROOT_HELP}; when it holds the work dir's benchmark, samples get their real inputs and question types and are scored by spatial_eval`)
  .option('--scoring <name>', 'with a data root: official (default) or paper; without one the work dir\'s own scores are kept', scoringOpt)
  .option('--json', 'print the import report as JSON')
  .action(async (dir: string, opts: Parameters<typeof import('./import.ts').importCommand>[1]) => {
    const { importCommand } = await import('./import.ts');
    process.exitCode = await importCommand(dir, opts);
  });

const datasetsCmd = program.command('datasets').description('the benchmarks\' snapshots: what is there, and whether every row and media file is readable');
datasetsCmd
  .command('list')
  .description('every benchmark, its published size, and whether its data is present and complete under --data-root')
  .option('--data-root <dir>', DATA_ROOT_HELP)
  .option('--json', 'print JSON')
  .action(exitWith((opts: { dataRoot?: string; json?: boolean }) => datasets('list', opts)));
datasetsCmd
  .command('check')
  .description('validate every row and decode every media file of one benchmark; lists each problem (exit 1 when any)')
  .argument('<name>', 'benchmark name')
  .option('--data-root <dir>', DATA_ROOT_HELP)
  .option('--json', 'print JSON')
  .option('--no-open', 'only check that media files exist')
  .action(exitWith((name: string, opts: { dataRoot?: string; json?: boolean; open?: boolean }) => datasets('check', { ...opts, name, noOpen: opts.open === false })));

program
  .command('replay')
  .description('re-execute a recorded sample\'s cells without a model and report differences from the record')
  .addHelpText('after', `
Replayed: every cell that reached the kernel and finished there (status ok or error), agent and
console cells, in the order they ran - the same rule as the workbench console's restore. Not
replayed: rejected cells (never reached the kernel), timeout cells (they would cost the timeout
again) and kernel_died cells (they would kill the kernel again). Each cell runs with the cell
timeout of settings.json (default ${DEFAULTS.cellTimeoutS} s).`)
  .argument('<run>', 'run folder')
  .argument('<sample>', 'sample id')
  .option('--perception <target>', `${PERCEPTION_HELP}; default: the server the run used, if registered here with its token set`)
  .action(exitWith((run: string, sample: string, opts: { perception?: string }) => replay(run, sample, opts)));

program
  .command('agent')
  .description('the agent loop')
  .command('bench')
  .description('benchmark the agent loop with a zero-latency scripted model: per-step overhead and batch throughput')
  .option('--samples <n>', 'samples per measurement', num('--samples'), 16)
  .option('--steps <n>', 'trivial cells per sample before ReturnAnswer', num('--steps'), 4)
  .action(async (opts: { samples: number; steps: number }) => {
    console.log(await benchAgent(opts));
  });

/** The sbatch flags of `perception start --slurm` and `model serve --slurm` (docs/cluster.md, "Servers on the cluster"). */
function withServerSlurmOptions(cmd: Command): Command {
  return cmd
    .option('--partition <name>', 'with --slurm: the partition (sbatch --partition)')
    .option('--time <limit>', 'with --slurm: the job\'s time limit, e.g. 08:00:00 (sbatch --time); it deregisters 60 s before', (v: string) => checkSlurmTime(v))
    .option('--gpus <n>', 'with --slurm: GPUs for the job (sbatch --gpus; 0 for none); default 1 for a model server and for the da3/sam3 backends, else 0', int('--gpus'))
    .option('--sbatch-arg <arg>', 'with --slurm: one more sbatch option, written as an #SBATCH line, e.g. --sbatch-arg=--cpus-per-task=8; repeatable', collect, [])
    .option('--no-wait', 'with --slurm: return once the job is submitted instead of waiting until the server registers')
    .option('--wait-timeout <s>', 'with --slurm: seconds to wait for the server to register, queueing included (default 900 for perception, 1800 for a model)', num('--wait-timeout'));
}

const perception = program.command('perception').description('run and manage perception servers (reconstruction and segmentation backends)');
const perceptionStart_ = perception
  .command('start')
  .description('start a local perception server (foreground; --detach keeps it running and registers it)')
  .option('--backends <list>', 'comma-separated backends: rgbd, classical, oracle, da3, sam3, mono', DEFAULTS.localPerceptionBackends.join(','))
  .option('--port <n>', 'port (default: a free one)', num('--port'))
  .option('--name <name>', 'name to register a detached server under', 'local')
  .option('--detach', 'run in the background and register it; the token must then come from $SPATIAL_PERCEPTION_TOKEN')
  .option('--oracle-root <dir>', 'folder of ground-truth annotation sets for the oracle backend')
  .option('--sam3-checkpoint <dir>', 'local SAM 3 checkpoint directory')
  .option('--da3-checkpoint <dir>', 'local Depth Anything 3 checkpoint directory')
  .option('--mono-checkpoint <dir>', 'local metric depth checkpoint directory (Depth Pro or metric Depth Anything V2) for the mono backend')
  .option('--slurm', 'submit a SLURM job that runs the server on a cluster node and registers it for --perception cluster (docs/cluster.md)');
withServerSlurmOptions(perceptionStart_)
  .action(exitWith((opts: Parameters<typeof perceptionStart>[0]) => perceptionStart(opts)));
perception
  .command('add')
  .description('register a remote perception server (its token is read from an environment variable)')
  .argument('<name>')
  .argument('<url>')
  .option('--token-env <var>', 'environment variable holding its token', ENV.perceptionToken)
  .action((name: string, url: string, opts: { tokenEnv: string }) => {
    process.exitCode = perceptionAdd(name, url, opts.tokenEnv);
  });
perception
  .command('status')
  .description('health, backends, queue and cache of every registered perception server (exit 1 if one is down)')
  .option('--json', 'print JSON')
  .action(exitWith((opts: { json?: boolean }) => perceptionStatus(!!opts.json)));
perception
  .command('stop')
  .description('stop a detached local perception server')
  .argument('[name]', 'registered name', 'local')
  .action(exitWith((name: string) => perceptionStop(name)));
perception
  .command('bench')
  .description('benchmark the perception server: reconstruct compute vs end-to-end time, loopback throughput, cache hits')
  .option('--iterations <n>', 'repetitions per measure', num('--iterations'), 15)
  .action(async (opts: { iterations: number }) => {
    const r = await runPython(resolvePython(), ['-m', 'spatial_perception.bench', '--iterations', String(opts.iterations)], 30 * 60_000);
    process.stdout.write(r.stdout);
    if (r.code !== 0) process.stderr.write(r.stderr);
    process.exitCode = r.code ?? 1;
  });
perception
  .command('remove')
  .description('forget a registered perception server')
  .argument('<name>')
  .action((name: string) => {
    process.exitCode = perceptionRemove(name);
  });

const model = program.command('model').description('model servers: serve a model with vLLM as a SLURM job, registered for --model cluster (docs/cluster.md)');
withServerSlurmOptions(model
  .command('serve')
  .description('submit a SLURM job that runs `vllm serve NAME` on a cluster node with a generated token and registers it for --model cluster')
  .option('--slurm', 'submit it as a SLURM job (required: the only way this command serves)')
  .requiredOption('--model <name>', 'the model vLLM serves, e.g. Qwen/Qwen2.5-VL-7B-Instruct')
  .option('--vllm-args <args>', 'more arguments for `vllm serve`, as one string, e.g. "--tensor-parallel-size 4 --max-model-len 32768" (not --host, --port or --api-key: the job sets those)', '')
  .option('--vllm-command <cmd>', 'the vLLM executable on the job\'s PATH, or its full path', 'vllm'))
  .action(exitWith(async (opts: Parameters<typeof import('./cluster-servers.ts').modelServe>[0]) => (await import('./cluster-servers.ts')).modelServe(opts)));

const kernel = program.command('kernel').description('agent kernels: run cells on an input, benchmark the runtime');
kernel
  .command('run')
  .description('prepare a fresh kernel on an input and run the cells in order, each through the safety check; prints one JSON line per cell')
  .argument('<cells...>', 'Python files, run in order as cells')
  .requiredOption('--input <path>', 'a video, an image, a folder of images, an RGB-D sample folder, or (with --depth) the colour folder; repeat for several inputs (InputImages_1..N)', collect, [])
  .option('--depth <dir>', 'folder of 16-bit depth frames matching the colour frames by sorted name')
  .option('--camera <file>', 'JSON {"fx","fy","cx","cy"} with optional "depth_scale", "width", "height"')
  .option('--poses <file>', 'one line per frame: tx ty tz qx qy qz qw (camera-to-world, TUM order)')
  .option('--frames <n>', 'frames to sample from a video (uniformly; default 16)', num('--frames'))
  .option('--max-fps <fps>', 'sample a video at most this many frames per second', num('--max-fps'))
  .option('--max-long-edge <px>', 'resize frames so the long edge is at most this (intrinsics scaled to match)', num('--max-long-edge'))
  .option('--timeout <seconds>', `per-cell timeout (default: cell_timeout_s of settings.json, else ${DEFAULTS.cellTimeoutS})`, num('--timeout'))
  .option('--cell-timeout <s>', 'the same as --timeout (the name ask, run and eval use)', num('--cell-timeout'))
  .option('--out <dir>', 'write show() images here (the JSON lines then carry their paths)')
  .option('--keep-going', 'run the remaining cells after a failure')
  .option('--unchecked', 'skip the safety check (cells are treated as human console cells)')
  .option('--perception <target>', 'perception server for tools.Reconstruct/SAM3: "local" (started for this run), "registered" (the least-loaded registered one), a registered name, or a URL')
  .option('--perception-token <token>', 'token for a --perception URL (default: $SPATIAL_PERCEPTION_TOKEN)')
  .option('--reconstruct-backend <name>', 'default backend of tools.Reconstruct (rgbd, da3, oracle)')
  .option('--segment-backend <name>', 'default backend of tools.SAM3 (sam3, classical, oracle)')
  .option('--jupyter-url <url>', 'use a running Jupyter server instead of starting one')
  .option('--jupyter-token <token>', 'its token (default: $SPATIALCLAW_JUPYTER_TOKEN)')
  .action(async (cells: string[], opts: Record<string, unknown>) => {
    process.exitCode = await kernelRun(cells, {
      ...(opts as unknown as Parameters<typeof kernelRun>[1]),
      // Commander names the values after the flags (`timeout`, `cellTimeout`); kernelRun takes `timeoutS`.
      timeoutS: (opts['cellTimeout'] ?? opts['timeout']) as number | undefined,
      jupyterToken: (opts['jupyterToken'] as string | undefined) ?? env('jupyterToken'),
    });
  });
kernel
  .command('bench')
  .description('benchmark the kernel runtime: round trip with/without TCP_NODELAY, per-step overhead, warm acquire, cold start')
  .option('--iterations <n>', 'round trips and steps per measure', num('--iterations'), 200)
  .option('--cold-starts <n>', 'cold kernel starts to time', num('--cold-starts'), 5)
  .option('--json', 'print JSON instead of a markdown table')
  .action(async (opts: { iterations: number; coldStarts: number; json?: boolean }) => {
    const stats = await benchKernel(opts);
    console.log(opts.json ? JSON.stringify(stats, null, 2) : `${new Date().toISOString().slice(0, 10)}, ${process.platform}, Node ${process.version}\n\n${formatBench(stats)}`);
  });

const portOpt = (v: string): number => {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 0 || x > 65535) throw new Error(`--port must be an integer from 0 (a free port) to 65535, got ${JSON.stringify(v)}`);
  return x;
};
program
  .command('serve')
  .description('the workbench in a browser: serve the UI and the workbench API on 127.0.0.1 with a token (prints the URL to open)')
  .option('--port <n>', 'port (0: a free one)', portOpt, 0)
  .option('--host <addr>', 'address to bind; anything but 127.0.0.1 exposes the workbench to the network', '127.0.0.1')
  .option('--runs <dir>', 'runs root (default: <data dir>/runs)')
  .option('--static <dir>', 'serve the UI from this folder (default: out/renderer, built on first use)')
  .action(async (opts: { port: number; host: string; runs?: string; static?: string }) => {
    // Loaded on demand: the workbench host is only needed by this command.
    const { serve } = await import('./serve.ts');
    process.exitCode = await serve(opts);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  // Errors a user can correct carry a fix (WorkbenchError, SettingsError): print it under the message.
  const fix = e && typeof e === 'object' && 'fix' in e && typeof e.fix === 'string' ? e.fix : null;
  console.error(`spatialclaw: ${e instanceof Error ? e.message : String(e)}${fix ? `\n  fix: ${fix}` : ''}`);
  process.exitCode = 1;
}).finally(() => {
  if (shardTask) exitShardTask();
});
