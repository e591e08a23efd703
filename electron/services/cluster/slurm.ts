/**
 * SLURM's own commands, run as child processes: `sbatch`, `squeue`, `scontrol`, `sacct`, `scancel` (Slurm ≥ 22.05).
 * SLURM is the distributed engine of sharded runs (docs/cluster.md); this module only submits scripts and reads job
 * states, it schedules nothing itself.
 *
 * Job states come from, in order: `squeue` (pending and running jobs), `scontrol show job` (jobs that ended less than
 * the cluster's MinJobAge ago, 300 s by default) and `sacct` (the accounting database, when the cluster has one). A
 * job none of them knows has ended long ago.
 *
 * Errors: every failure is a {@link SlurmError} naming the command, its exit status and stderr, and how to check the
 * cluster (`sinfo`).
 */
import { spawnSync } from 'node:child_process';
import type { ClusterJob, SlurmTaskIds } from '../../../shared/cluster.ts';

export class SlurmError extends Error {
  override name = 'SlurmError';
}

/** States in which a job still holds (or will hold) its work: its lock is not stale. */
export const LIVE_STATES = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'REQUEUE_FED', 'REQUEUE_HOLD', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'STOPPED', 'RESV_DEL_HOLD']);

/** Timeout of one SLURM command (ms): the controller answers in milliseconds, or is unreachable. */
const TIMEOUT_MS = 20_000;

/** Run a SLURM command; returns stdout. @throws SlurmError naming the command, exit status and stderr. */
export function slurmCommand(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: TIMEOUT_MS, cwd: opts.cwd, env: opts.env ?? process.env });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new SlurmError(missing
      ? `${cmd} is not on PATH: SLURM's client commands are needed for --slurm (run on a login node of the cluster; for a one-node test cluster: sudo bash build/slurm-local.sh)`
      : `${cmd} ${args.join(' ')} failed: ${r.error.message}`);
  }
  if (r.status !== 0) {
    throw new SlurmError(`${cmd} ${args.join(' ')} exited with ${r.status}: ${(r.stderr || r.stdout).trim() || '(no output)'}; check the cluster with \`sinfo\``);
  }
  return r.stdout;
}

/** Whether `sbatch` is on PATH and the controller answers (`sinfo`). */
export function slurmAvailable(): { ok: boolean; error: string | null; cluster: string | null } {
  try {
    slurmCommand('sinfo', ['-h', '-o', '%P']);
    let cluster: string | null = null;
    try {
      cluster = /ClusterName\s*=\s*(\S+)/.exec(slurmCommand('scontrol', ['show', 'config']))?.[1] ?? null;
    } catch {
      /* the name is only shown */
    }
    return { ok: true, error: null, cluster };
  } catch (e) {
    return { ok: false, error: (e as Error).message, cluster: null };
  }
}

/**
 * Submit a batch script: `sbatch --parsable [args…] script`.
 * @returns the job id (for a job array, the array's id).
 * @throws SlurmError with sbatch's message (a bad partition, time limit or option).
 */
export function sbatch(script: string, args: string[] = [], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const out = slurmCommand('sbatch', ['--parsable', ...args, script], opts).trim();
  const id = out.split('\n').pop()!.split(';')[0]!.trim();
  if (!/^\d+$/.test(id)) throw new SlurmError(`sbatch printed no job id (got ${JSON.stringify(out)})`);
  return id;
}

/** `scancel [--signal S] ids…`; ids of ended jobs are ignored by SLURM. */
export function scancel(ids: string[], signal?: string): void {
  if (ids.length === 0) return;
  slurmCommand('scancel', [...(signal ? [`--signal=${signal}`] : []), ...ids]);
}

/** `[D-]HH:MM:SS`, `MM:SS`, `UNLIMITED`, … as seconds (null for unlimited or unknown). */
export function slurmDuration(s: string | undefined): number | null {
  if (!s) return null;
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(s.trim());
  if (!m) return null;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

const SQUEUE_FORMAT = '%i|%F|%K|%T|%r|%N|%M|%l|%j';

/**
 * Pending and running jobs from `squeue`, one row per array task (`-r`).
 * @param ids limit to these job ids (array ids include their tasks); omitted: the user's jobs (`--me`) or, with
 *   `all`, every job.
 */
export function squeueJobs(ids?: string[], all = false): ClusterJob[] {
  const args = ['-h', '-r', '-o', SQUEUE_FORMAT];
  if (ids && ids.length) args.push('-j', ids.join(','));
  else if (!all) args.push('--me');
  let out: string;
  try {
    out = slurmCommand('squeue', args);
  } catch (e) {
    // squeue -j exits 1 with "Invalid job id specified" when none of the ids is known any more.
    if (ids && /Invalid job id/i.test((e as Error).message)) return [];
    throw e;
  }
  const rows: ClusterJob[] = [];
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const [id, arrayJob, arrayTask, state, reason, node, used, limit, ...name] = line.split('|');
    const task = arrayTask && /^\d+$/.test(arrayTask) ? Number(arrayTask) : null;
    rows.push({
      id: id!, array_job_id: task !== null ? arrayJob! : null, array_task_id: task, name: name.join('|'), state: state!,
      reason: reason && reason !== 'None' ? reason : null, node: node || null, elapsed_s: slurmDuration(used), time_limit_s: slurmDuration(limit),
      restarts: null, source: 'squeue',
    });
  }
  return rows;
}

/** `key=value` pairs of one `scontrol show job -o` line. */
function parseScontrolLine(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/(\w[\w:/]*)=(\S*)/g)) if (!(m[1]! in out)) out[m[1]!] = m[2]!;
  return out;
}

/**
 * Jobs from `scontrol show job -o ID` (pending, running and ended less than MinJobAge ago), one row per array task.
 * An id SLURM no longer knows gives [].
 */
export function scontrolJobs(id: string): ClusterJob[] {
  let out: string;
  try {
    out = slurmCommand('scontrol', ['show', 'job', '-o', id]);
  } catch (e) {
    if (/Invalid job id/i.test((e as Error).message)) return [];
    throw e;
  }
  const rows: ClusterJob[] = [];
  for (const line of out.split('\n')) {
    if (!line.trim().startsWith('JobId=')) continue;
    const f = parseScontrolLine(line);
    const task = f['ArrayTaskId'] && /^\d+$/.test(f['ArrayTaskId']) ? Number(f['ArrayTaskId']) : null;
    rows.push({
      id: task !== null ? `${f['ArrayJobId']}_${task}` : f['JobId']!,
      array_job_id: task !== null ? f['ArrayJobId']! : null,
      array_task_id: task,
      name: f['JobName'] ?? '',
      state: f['JobState'] ?? 'UNKNOWN',
      reason: f['Reason'] && f['Reason'] !== 'None' ? f['Reason'] : null,
      node: f['NodeList'] && f['NodeList'] !== '(null)' ? f['NodeList'] : null,
      elapsed_s: slurmDuration(f['RunTime']),
      time_limit_s: slurmDuration(f['TimeLimit']),
      restarts: f['Restarts'] !== undefined ? Number(f['Restarts']) : null,
      source: 'scontrol',
    });
  }
  return rows;
}

/**
 * Jobs from the accounting database (`sacct -n -P -X -j ID`), when the cluster keeps one; [] when it does not
 * (`sacct` then says accounting storage is disabled).
 */
export function sacctJobs(id: string): ClusterJob[] {
  let out: string;
  try {
    out = slurmCommand('sacct', ['-n', '-P', '-X', '-j', id, '-o', 'JobID,JobName,State,NodeList,ElapsedRaw,TimelimitRaw']);
  } catch {
    return [];
  }
  const rows: ClusterJob[] = [];
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const [jid, name, state, node, elapsed, limit] = line.split('|');
    const m = /^(\d+)_(\d+)$/.exec(jid!);
    rows.push({
      id: jid!, array_job_id: m ? m[1]! : null, array_task_id: m ? Number(m[2]) : null, name: name ?? '',
      state: (state ?? 'UNKNOWN').split(' ')[0]!, reason: null, node: node && node !== 'None assigned' ? node : null,
      elapsed_s: elapsed && /^\d+$/.test(elapsed) ? Number(elapsed) : null, time_limit_s: limit && /^\d+$/.test(limit) ? Number(limit) * 60 : null,
      restarts: null, source: 'sacct',
    });
  }
  return rows;
}

/**
 * Every known row of a job id (an array id gives all its tasks): squeue's live rows first, then scontrol's and
 * sacct's for tasks squeue no longer lists.
 */
export function jobRows(id: string): ClusterJob[] {
  const byId = new Map<string, ClusterJob>();
  for (const src of [() => squeueJobs([id]), () => scontrolJobs(id), () => sacctJobs(id)]) {
    for (const r of src()) if (!byId.has(r.id)) byId.set(r.id, r);
  }
  return [...byId.values()];
}

/**
 * The state of one job or array task (`123` or `123_4`): `PENDING`, `RUNNING`, `COMPLETED`, … or null when SLURM has
 * forgotten it (it ended long ago).
 * @throws SlurmError when SLURM cannot be asked (the caller must then treat the job as possibly alive).
 */
export function jobState(id: string): string | null {
  const arrayId = id.split('_')[0]!;
  const rows = jobRows(arrayId);
  const row = rows.find((r) => r.id === id) ?? (id === arrayId ? rows.find((r) => r.array_job_id === null) : undefined);
  return row?.state ?? null;
}

/** The SLURM ids of the current process's task, from SLURM's environment, or null outside a SLURM job. */
export function currentTask(env: NodeJS.ProcessEnv = process.env): SlurmTaskIds | null {
  const job = env['SLURM_JOB_ID'];
  if (!job) return null;
  const task = env['SLURM_ARRAY_TASK_ID'];
  return {
    job_id: job,
    ...(env['SLURM_ARRAY_JOB_ID'] ? { array_job_id: env['SLURM_ARRAY_JOB_ID'] } : {}),
    ...(task && /^\d+$/.test(task) ? { array_task_id: Number(task) } : {}),
    ...(env['SLURM_RESTART_COUNT'] && /^\d+$/.test(env['SLURM_RESTART_COUNT']) ? { restart_count: Number(env['SLURM_RESTART_COUNT']) } : { restart_count: 0 }),
    ...(env['SLURM_CLUSTER_NAME'] ? { cluster: env['SLURM_CLUSTER_NAME'] } : {}),
  };
}

/** The id SLURM's commands take for a task: `<array job>_<task>` for an array task, else the job id. */
export function taskJobRef(t: SlurmTaskIds): string {
  return t.array_job_id !== undefined && t.array_task_id !== undefined ? `${t.array_job_id}_${t.array_task_id}` : t.job_id;
}
