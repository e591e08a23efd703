/**
 * What the workbench's Cluster view shows (issue 16, docs/cluster.md "Watching a sharded run"): whether SLURM
 * answers, the user's jobs, every sharded run under the runs root with each shard's state and progress, and every
 * server in the cluster registry with its health. Built from SLURM's own commands (slurm.ts), the run folders'
 * files (shared/cluster.ts) and the registry (registry.ts); nothing here writes anything.
 *
 * Cheap enough to poll every 3 s:
 * - one `squeue --me` for every live job and task of the user (runs, servers and the Jobs table alike);
 * - `scontrol show job` (then `sacct`) only for a job id whose needed tasks `squeue` no longer lists, one call per
 *   job id, never per shard; a task found ended (or forgotten by SLURM) is remembered for the process's life, since
 *   an ended task only comes back through `squeue` (a requeue), which takes precedence;
 * - `scontrol show config` (the cluster's name) at most every 5 minutes;
 * - journals are counted incrementally (only the bytes appended since the last poll are read);
 * - each server's health is asked at most every 2 s (GET <url>/health, bearer token, 2 s timeout; a model server's
 *   load from its /metrics, as servers.ts routes by it);
 * - a whole answer is reused for calls less than 1 s apart (several windows polling).
 *
 * Errors: none thrown for what the view can show. SLURM that does not answer gives `slurm.available: false` with
 * the error and its fix (runs and servers are still shown, without job rows); a run folder or registry entry that
 * cannot be read is named in `problems`.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  type ClusterJob,
  type ClusterRun,
  type ClusterServer,
  type ClusterServerStatus,
  type ClusterShard,
  type ClusterStatus,
  ClusterStatusSchema,
  type ShardState,
  ShardStateSchema,
  type SlurmRecord,
  SlurmRecordSchema,
  type SlurmSubmission,
} from '../../../shared/cluster.ts';
import { type RunInfo, type RunProgress, RunProgressSchema } from '../../../shared/run.ts';
import { PROGRESS_JSON, SAMPLES_JSONL, SHARD_STATE, shardDir, SLURM_JSON } from '../runs/layout.ts';
import { readRunInfo } from '../runs/reader.ts';
import { clusterDir as defaultClusterDir, listClusterServers, serverToken } from './registry.ts';
import { vllmLoad } from './servers.ts';
import { LIVE_STATES, sacctJobs, scontrolJobs, slurmCommand, squeueJobs } from './slurm.ts';

export interface ClusterStatusOptions {
  /** The runs root: its direct sub-folders with a slurm.json are the sharded runs shown. */
  runsRoot: string;
  /** The cluster folder holding the server registry (default: $SPATIALCLAW_CLUSTER_DIR, else `<data dir>/cluster`). */
  clusterDir?: string;
}

/** How long a health answer is reused (ms). */
export const HEALTH_TTL_MS = 2_000;
/** Timeout of one health check (ms). */
export const HEALTH_TIMEOUT_MS = 2_000;
/** How long a whole status is reused for another caller (ms). */
const STATUS_TTL_MS = 1_000;
/** How long the cluster's name is reused (ms). */
const CLUSTER_NAME_TTL_MS = 300_000;
/** At most this many ended tasks are remembered (oldest forgotten first). */
const ENDED_CACHE_MAX = 100_000;

/** What to do when SLURM's commands fail, appended to their error. */
const SLURM_FIX = 'Fix: run the workbench where SLURM\'s commands reach the controller (a login node of the cluster) and check `sinfo`; '
  + 'for the one-node test cluster on this machine: sudo bash build/slurm-local.sh';

// ---------------------------------------------------------------------------------------------------
// SLURM job rows

/**
 * Ended (or forgotten) tasks, by id (`123_4` or `123`): null when SLURM no longer knows the id. A task that ended
 * stays ended unless requeued, and a requeued task is listed by squeue again, which is asked first.
 */
const endedJobs = new Map<string, ClusterJob | null>();

function rememberEnded(id: string, row: ClusterJob | null): void {
  if (endedJobs.size >= ENDED_CACHE_MAX) endedJobs.delete(endedJobs.keys().next().value!);
  endedJobs.set(id, row);
}

/** `123_4` → `123`; `123` → `123`. */
const baseId = (id: string): string => id.split('_')[0]!;

/**
 * The rows of `wanted` job / task ids: from `live` (squeue) first, then the ended-task memory, then one
 * `scontrol show job` per job id still missing, then `sacct`. Missing ids map to null.
 * @throws SlurmError when scontrol cannot be asked (the caller reports it).
 */
function lookupJobs(wanted: Iterable<string>, live: Map<string, ClusterJob>): Map<string, ClusterJob | null> {
  const out = new Map<string, ClusterJob | null>();
  const missing = new Map<string, string[]>();
  for (const id of wanted) {
    if (out.has(id)) continue;
    const row = live.get(id);
    if (row) out.set(id, row);
    else if (endedJobs.has(id)) out.set(id, endedJobs.get(id)!);
    else {
      const b = baseId(id);
      missing.set(b, [...(missing.get(b) ?? []), id]);
    }
  }
  for (const [base, ids] of missing) {
    const found = new Map(scontrolJobs(base).map((r) => [r.id, r]));
    if (ids.some((id) => !found.has(id))) for (const r of sacctJobs(base)) if (!found.has(r.id)) found.set(r.id, r);
    for (const id of ids) {
      const row = found.get(id) ?? null;
      out.set(id, row);
      if (!row || !LIVE_STATES.has(row.state)) rememberEnded(id, row);
    }
  }
  return out;
}

let clusterName: { name: string | null; at: number } | null = null;

/** The cluster's name (`ClusterName` of `scontrol show config`), asked at most every 5 minutes. */
function slurmClusterName(): string | null {
  if (clusterName && Date.now() - clusterName.at < CLUSTER_NAME_TTL_MS) return clusterName.name;
  let name: string | null = null;
  try {
    name = /ClusterName\s*=\s*(\S+)/.exec(slurmCommand('scontrol', ['show', 'config']))?.[1] ?? null;
  } catch {
    /* only shown */
  }
  clusterName = { name, at: Date.now() };
  return name;
}

/** Why SLURM cannot be asked, with the fix: `sinfo`'s error if it fails too, else `squeue`'s. */
function slurmError(squeueError: unknown): string {
  let msg = squeueError instanceof Error ? squeueError.message : String(squeueError);
  try {
    slurmCommand('sinfo', ['-h', '-o', '%P']);
  } catch (e) {
    msg = (e as Error).message;
  }
  // The not-on-PATH message of slurm.ts already says how to fix it.
  return /not on PATH/.test(msg) ? msg : `${msg}. ${SLURM_FIX}`;
}

// ---------------------------------------------------------------------------------------------------
// Run folders

/** Lines counted so far in a journal: `bytes` is the length they cover (up to the last newline). */
interface LineCount {
  ino: number;
  bytes: number;
  lines: number;
}
const lineCounts = new Map<string, LineCount>();

/**
 * Complete, non-blank lines of a JSON-lines file (a torn last line is not counted); 0 when it is missing. Reads only
 * what was appended since the last call (a file that shrank or was replaced is counted again).
 */
export function countJournalLines(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    lineCounts.delete(path);
    return 0;
  }
  try {
    const st = fstatSync(fd);
    let c = lineCounts.get(path);
    if (!c || c.ino !== st.ino || st.size < c.bytes) c = { ino: st.ino, bytes: 0, lines: 0 };
    const chunk = Buffer.alloc(1 << 20);
    let pos = c.bytes;
    let lineHasText = false;
    let lines = c.lines;
    let covered = c.bytes;
    while (pos < st.size) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, st.size - pos), pos);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) {
        const b = chunk[i]!;
        if (b === 0x0a) {
          if (lineHasText) lines++;
          lineHasText = false;
          covered = pos + i + 1;
        } else if (b !== 0x20 && b !== 0x09 && b !== 0x0d) lineHasText = true;
      }
      pos += n;
    }
    lineCounts.set(path, { ino: st.ino, bytes: covered, lines });
    return lines;
  } finally {
    closeSync(fd);
  }
}

/** A JSON file parsed with `schema`; null when missing; `problem` set when unreadable or invalid. */
function readJson<T>(path: string, parse: (v: unknown) => { success: true; data: T } | { success: false; error: { message: string } }): { value: T | null; problem: string | null } {
  if (!existsSync(path)) return { value: null, problem: null };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return { value: null, problem: `${path} is not valid JSON (${(e as Error).message})` };
  }
  const r = parse(raw);
  return r.success ? { value: r.data, problem: null } : { value: null, problem: `${path} is invalid: ${r.error.message.split('\n')[0]}` };
}

/** The sharded runs under `root` (folders with a slurm.json), newest first by folder name. */
function shardedRunDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const ent of readdirSync(root, { withFileTypes: true })) {
    if (ent.isDirectory() && existsSync(join(root, ent.name, SLURM_JSON))) out.push(join(root, ent.name));
  }
  return out.sort((a, b) => basename(b).localeCompare(basename(a)));
}

/** The latest submission that included each shard (by shard index). */
function latestSubmissionByShard(rec: SlurmRecord): Map<number, SlurmSubmission> {
  const out = new Map<number, SlurmSubmission>();
  for (const sub of [...rec.submissions].sort((a, b) => a.n - b.n)) for (const k of sub.shards) out.set(k, sub);
  return out;
}

interface RunRef {
  dir: string;
  record: SlurmRecord;
  bySubmission: Map<number, SlurmSubmission>;
  finalizeId: string | null;
}

/** A shard's row, from its files and its SLURM task's row. */
function shardRow(ref: RunRef, k: number, job: ClusterJob | null, jobKnown: boolean, problems: string[]): ClusterShard {
  const sdir = shardDir(ref.dir, k);
  const st = readJson<ShardState>(join(sdir, SHARD_STATE), (v) => ShardStateSchema.safeParse(v));
  const pr = readJson<RunProgress>(join(sdir, PROGRESS_JSON), (v) => RunProgressSchema.safeParse(v));
  if (st.problem) problems.push(st.problem);
  const state = st.value;
  const progress = pr.value;
  const done = countJournalLines(join(sdir, SAMPLES_JSONL));
  let status: ClusterShard['status'] = state?.status ?? 'pending';
  let reason = state?.reason ?? (st.problem ? `state.json unreadable: ${st.problem}` : null);
  // The task that said "running" is gone: killed without a word (SIGKILL, node failure). Resuming redoes its in-flight samples.
  const earlier = state?.slurm?.array_job_id !== undefined && job !== null && job.array_job_id !== null && state.slurm.array_job_id !== job.array_job_id;
  if (status === 'running' && jobKnown && (job === null || !LIVE_STATES.has(job.state))) {
    status = 'interrupted';
    reason = `its SLURM task ${job ? `${job.id} ended (${job.state})` : 'has ended'} without recording why (killed?); resume with: spatialclaw eval --resume ${ref.dir} --slurm`;
  } else if (status === 'running' && jobKnown && earlier) {
    // state.json is from a task of an earlier submission that died without a word; the resubmitted task has not written yet.
    status = 'pending';
    reason = `resubmitted as ${job!.id}; the earlier task ${state!.slurm!.array_job_id}_${k} stopped without recording why`;
  }
  let row = job;
  // squeue does not report restarts: the task's own count (SLURM_RESTART_COUNT) from state.json, when it is that task.
  if (row && row.restarts === null && state?.slurm?.restart_count !== undefined && state.slurm.array_job_id === row.array_job_id && state.slurm.array_task_id === row.array_task_id) {
    row = { ...row, restarts: state.slurm.restart_count };
  }
  const inFlight = status === 'running' && progress ? Object.values(progress.samples.phases).reduce((a, b) => a + (b ?? 0), 0) : 0;
  return {
    shard: k,
    total: state?.total ?? progress?.samples.total ?? 0,
    total_known: true,
    done,
    status,
    reason,
    job: row,
    in_flight: inFlight,
    updated_at: state?.updated_at ?? progress?.t ?? null,
  };
}

/**
 * `count` split as evenly as shards go (the first `count % shards` get one more): the estimate of a shard's total
 * before its task has written state.json.
 */
function evenShare(count: number, shards: number, k: number): number {
  return Math.floor(count / shards) + (k < count % shards ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------------
// Servers

const healthCache = new Map<string, { at: number; result: Promise<{ healthy: boolean; load: number | null; error: string | null }> }>();

/** The load a health answer reports: `load`, or the sum of perception's `queue` per device, plus `in_flight`. */
function loadOf(body: unknown): number | null {
  if (!body || typeof body !== 'object') return null;
  const o = body as Record<string, unknown>;
  if (typeof o['load'] === 'number') return o['load'];
  let n: number | null = null;
  if (o['queue'] && typeof o['queue'] === 'object') n = Object.values(o['queue'] as Record<string, unknown>).reduce<number>((a, v) => a + (typeof v === 'number' ? v : 0), 0);
  if (typeof o['in_flight'] === 'number') n = (n ?? 0) + o['in_flight'];
  return n;
}

/** A vLLM server's requests running + waiting from its /metrics, or null when it does not say. Never throws. */
async function modelLoad(s: ClusterServer, token: string | undefined): Promise<number | null> {
  try {
    const res = await fetch(`${s.url.replace(/\/+$/, '')}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    const text = await res.text();
    return res.ok && /^vllm:num_requests_/m.test(text) ? vllmLoad(text) : null;
  } catch {
    return null;
  }
}

/** GET <url>/health with the server's token, 2 s timeout. Never throws. */
async function askHealth(s: ClusterServer, registryDir: string): Promise<{ healthy: boolean; load: number | null; error: string | null }> {
  const url = `${s.url.replace(/\/+$/, '')}/health`;
  const token = serverToken(s);
  try {
    const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    const text = await res.text();
    if (!res.ok) {
      const hint = res.status === 401 || res.status === 403
        ? `its token (${s.token_file ?? `$${s.token_env ?? '?'}`}) is not the one the server expects`
        : 'the server is up but not ready';
      return { healthy: false, load: null, error: `GET ${url} answered HTTP ${res.status}: ${hint}` };
    }
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      /* vLLM answers an empty body */
    }
    let load = loadOf(body);
    // vLLM says its load on /metrics (requests running + waiting), as the shards' routing reads it (servers.ts).
    if (load === null && s.kind === 'model') load = await modelLoad(s, token);
    return { healthy: true, load, error: null };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.name === 'TimeoutError' ? `no answer in ${HEALTH_TIMEOUT_MS / 1000} s` : (err.cause?.code ?? err.cause?.message ?? err.message);
    return {
      healthy: false,
      load: null,
      error: `GET ${url} failed: ${why}. Is job ${s.job_id} still running (Jobs table, its log under ${join(registryDir, 'jobs')})? `
        + `A server whose job is gone leaves a stale entry: delete ${join(registryDir, 'servers', `${s.id}.json`)}`,
    };
  }
}

/** A server's health, asked at most every {@link HEALTH_TTL_MS}. */
function serverHealth(s: ClusterServer, registryDir: string): Promise<{ healthy: boolean; load: number | null; error: string | null }> {
  const key = `${s.id} ${s.url}`;
  const hit = healthCache.get(key);
  if (hit && Date.now() - hit.at < HEALTH_TTL_MS) return hit.result;
  const result = askHealth(s, registryDir);
  healthCache.set(key, { at: Date.now(), result });
  return result;
}

// ---------------------------------------------------------------------------------------------------
// The status

const recent = new Map<string, { at: number; result: Promise<ClusterStatus> }>();

/**
 * The Cluster view's data (shared/cluster.ts ClusterStatus). Calls less than 1 s apart with the same options share
 * one answer.
 */
export function clusterStatus(opts: ClusterStatusOptions): Promise<ClusterStatus> {
  const key = `${opts.runsRoot}\n${opts.clusterDir ?? ''}`;
  const hit = recent.get(key);
  if (hit && Date.now() - hit.at < STATUS_TTL_MS) return hit.result;
  const result = computeStatus(opts);
  recent.set(key, { at: Date.now(), result });
  result.catch(() => recent.delete(key));
  return result;
}

async function computeStatus(opts: ClusterStatusOptions): Promise<ClusterStatus> {
  const problems: string[] = [];
  const registryDir = opts.clusterDir ?? defaultClusterDir();

  // 1. Which job ids the runs and servers need (slurm.json and the registry), before asking SLURM.
  const refs: RunRef[] = [];
  for (const dir of shardedRunDirs(opts.runsRoot)) {
    const rec = readJson<SlurmRecord>(join(dir, SLURM_JSON), (v) => SlurmRecordSchema.safeParse(v));
    if (!rec.value) {
      problems.push(rec.problem ?? `${join(dir, SLURM_JSON)} vanished while being read`);
      continue;
    }
    const latest = [...rec.value.submissions].sort((a, b) => b.n - a.n)[0];
    refs.push({ dir, record: rec.value, bySubmission: latestSubmissionByShard(rec.value), finalizeId: latest?.finalize_job_id ?? null });
  }
  let servers: ClusterServer[] = [];
  try {
    const listed = listClusterServers(undefined, registryDir);
    servers = listed.servers;
    problems.push(...listed.problems);
  } catch (e) {
    problems.push(`cannot read the server registry in ${registryDir}: ${(e as Error).message}`);
  }
  const wanted = new Set<string>();
  for (const r of refs) {
    for (const [k, sub] of r.bySubmission) wanted.add(`${sub.array_job_id}_${k}`);
    if (r.finalizeId) wanted.add(r.finalizeId);
  }
  for (const s of servers) wanted.add(s.job_id);

  // 2. SLURM: one squeue for every live job of the user; scontrol / sacct only for what it no longer lists.
  const health = new Map(servers.map((s) => [s.id, serverHealth(s, registryDir)]));
  let slurm: ClusterStatus['slurm'];
  let jobs: ClusterJob[] = [];
  let rows = new Map<string, ClusterJob | null>();
  let jobsKnown = false;
  try {
    jobs = squeueJobs();
    slurm = { available: true, cluster: slurmClusterName(), error: null };
    const live = new Map(jobs.map((j) => [j.id, j]));
    try {
      rows = lookupJobs(wanted, live);
      jobsKnown = true;
    } catch (e) {
      problems.push(`job states of ended tasks are unknown: ${(e as Error).message}`);
      rows = new Map([...wanted].map((id) => [id, live.get(id) ?? null]));
    }
  } catch (e) {
    slurm = { available: false, cluster: null, error: slurmError(e) };
  }
  const rowOf = (id: string | null): ClusterJob | null => (id ? rows.get(id) ?? null : null);

  // 3. The run folders (read after SLURM, so a task that ends meanwhile is seen with its final state.json).
  const runs: ClusterRun[] = refs.map((ref) => {
    let info: RunInfo | null = null;
    try {
      info = readRunInfo(ref.dir);
    } catch (e) {
      problems.push((e as Error).message);
    }
    const n = ref.record.shards;
    const perShard = Array.from({ length: n }, (_, k) => {
      const sub = ref.bySubmission.get(k);
      const id = sub ? `${sub.array_job_id}_${k}` : null;
      const row = shardRow(ref, k, rowOf(id), jobsKnown && id !== null, problems);
      const exact = ref.record.shard_totals?.[k];
      if (row.status === 'pending' && row.total === 0) {
        if (exact !== undefined) row.total = exact;
        else if (info) {
          row.total = evenShare(info.total_samples, n, k);
          row.total_known = false;
        }
      }
      return row;
    });
    const shardDone = perShard.reduce((a, s) => a + s.done, 0);
    return {
      run_id: basename(ref.dir),
      dir: ref.dir,
      shards: n,
      total: info?.total_samples ?? perShard.reduce((a, s) => a + s.total, 0),
      done: shardDone + countJournalLines(join(ref.dir, SAMPLES_JSONL)),
      status: info?.status ?? 'unknown',
      submissions: ref.record.submissions,
      finalize: rowOf(ref.finalizeId),
      per_shard: perShard,
    };
  });

  // 4. Servers with health and their job.
  const serverRows: ClusterServerStatus[] = [];
  for (const s of servers) {
    const h = await health.get(s.id)!;
    serverRows.push({ ...s, ...h, job: rowOf(s.job_id) });
  }

  return ClusterStatusSchema.parse({
    slurm,
    jobs: jobs.sort(byJobId),
    runs,
    servers: serverRows,
    registry_dir: registryDir,
    checked_at: new Date().toISOString(),
    problems,
  });
}

/** Job order: by numeric job (array) id, then task index. */
function byJobId(a: ClusterJob, b: ClusterJob): number {
  const na = Number(a.array_job_id ?? a.id);
  const nb = Number(b.array_job_id ?? b.id);
  return na - nb || (a.array_task_id ?? -1) - (b.array_task_id ?? -1) || a.id.localeCompare(b.id);
}

/** Forget every cached answer (tests). */
export function resetClusterStatusCaches(): void {
  endedJobs.clear();
  lineCounts.clear();
  healthCache.clear();
  recent.clear();
  clusterName = null;
}

