/**
 * The Cluster view (issue 16, docs/workbench.md "The Cluster view"): SLURM's state, every sharded run under the runs
 * root with per-shard progress, the user's SLURM jobs, and the servers registered on the cluster with their health.
 * One host call, `clusterStatus` (electron/services/cluster/status.ts), polled every 3 s while the view is shown
 * and the page is visible.
 */
import { useEffect, useRef, useState } from 'react';
import type { ClusterJob, ClusterRun, ClusterServerStatus, ClusterShard, ClusterStatus } from '../../../shared/cluster.ts';
import { type ShownError, toShownError } from '../api.ts';
import { useApi, uiStore } from '../context.tsx';
import { ErrorBox, fmtDate } from './common.tsx';

/** How often the view asks the host (ms). */
export const CLUSTER_POLL_MS = 3_000;

/** Seconds as SLURM writes durations: `M:SS`, `H:MM:SS` or `D-HH:MM:SS`; null → `—`. */
export function fmtSlurmDuration(s: number | null): string {
  if (s === null) return '—';
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}-${pad(h)}:${pad(m)}:${pad(sec)}`;
  if (h > 0) return `${h}:${pad(m)}:${pad(sec)}`;
  return `${m}:${pad(sec)}`;
}

/** The badge colour of a SLURM job state: live (running), waiting, done, failed or stopped. */
export function jobStateClass(state: string): string {
  const s = state.toUpperCase();
  if (['RUNNING', 'COMPLETING', 'CONFIGURING', 'SIGNALING', 'STAGE_OUT'].includes(s)) return 'job-live';
  if (['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'SUSPENDED', 'RESIZING'].includes(s)) return 'job-waiting';
  if (s === 'COMPLETED') return 'job-done';
  if (['FAILED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE'].includes(s)) return 'job-failed';
  return 'job-stopped'; // CANCELLED, PREEMPTED, STOPPED, …
}

/** SLURM's error as the view shows it: what went wrong, and the fix when the message carries one (`… Fix: …`). */
export function slurmShownError(error: string): ShownError {
  const i = error.indexOf(' Fix: ');
  return i < 0 ? { message: error, fix: null, method: null } : { message: error.slice(0, i), fix: error.slice(i + ' Fix: '.length), method: null };
}

function JobState({ job }: { job: ClusterJob | null }) {
  if (!job) return <span className="muted">—</span>;
  return (
    <span className={`badge ${jobStateClass(job.state)}`} title={`from ${job.source}`}>
      {job.state}
    </span>
  );
}

/** Polls `clusterStatus` every {@link CLUSTER_POLL_MS} while mounted and the page is visible. */
function useClusterStatus(): { status: ClusterStatus | null; error: ShownError | null; refresh: () => void } {
  const api = useApi();
  const [status, setStatus] = useState<ClusterStatus | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const refreshRef = useRef<() => void>(() => undefined);

  useEffect(() => {
    let alive = true;
    let busy = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const poll = async (): Promise<void> => {
      if (timer) clearTimeout(timer);
      timer = null;
      if (busy) return;
      busy = true;
      try {
        const st = await api.call('clusterStatus', {});
        if (!alive) return;
        setStatus(st);
        setError(null);
      } catch (e) {
        if (alive) setError(toShownError(e));
      } finally {
        busy = false;
        // A hidden page stops polling; showing it again asks at once (below).
        if (alive && !document.hidden) timer = setTimeout(() => void poll(), CLUSTER_POLL_MS);
      }
    };
    const onVisible = () => {
      if (!document.hidden && !timer) void poll();
    };
    refreshRef.current = () => void poll();
    document.addEventListener('visibilitychange', onVisible);
    void poll();
    return () => {
      alive = false;
      if (timer) clearTimeout(timer);
      refreshRef.current = () => undefined;
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [api]);

  return { status, error, refresh: () => refreshRef.current() };
}

function SlurmLine({ status }: { status: ClusterStatus }) {
  const s = status.slurm;
  if (!s.available) return <ErrorBox error={slurmShownError(s.error ?? 'SLURM does not answer')} title="SLURM is not available" />;
  const live = status.jobs.filter((j) => j.state === 'RUNNING').length;
  const waiting = status.jobs.filter((j) => j.state === 'PENDING').length;
  return (
    <p className="cluster-slurm" role="status" aria-label="SLURM status">
      <span className="badge job-live">SLURM</span> cluster <strong>{s.cluster ?? '(unnamed)'}</strong> · {status.jobs.length} of your jobs and tasks queued or running ({live} running, {waiting} pending)
    </p>
  );
}

function ShardRow({ shard: s }: { shard: ClusterShard }) {
  const j = s.job;
  // A shard whose task has not started yet has no state.json: its total is an even share of the run's, an estimate.
  const estimated = !s.total_known;
  return (
    <tr className={`shard-row shard-${s.status}`} data-shard={s.shard}>
      <td>{s.shard}</td>
      <td className="mono">{j?.id ?? <span className="muted">not submitted</span>}</td>
      <td>
        <span className={`badge status-${s.status}`}>{s.status}</span> <JobState job={j} />
      </td>
      <td>{j?.node ?? <span className="muted">—</span>}</td>
      <td className="num">
        {fmtSlurmDuration(j?.elapsed_s ?? null)} / {fmtSlurmDuration(j?.time_limit_s ?? null)}
      </td>
      <td className="num">{j?.restarts ?? '—'}</td>
      <td className="shard-progress">
        <span className="num">
          {s.done}/{estimated ? '≈' : ''}
          {s.total}
        </span>
        <progress max={Math.max(s.total, 1)} value={Math.min(s.done, Math.max(s.total, 1))} aria-label={`Shard ${s.shard} samples done`} />
      </td>
      <td className="num">{s.in_flight}</td>
      <td className="shard-reason">
        {s.reason ?? (j?.reason ? <span className="muted">{j.reason}</span> : <span className="muted">—</span>)}
        {s.updated_at ? <div className="muted small">updated {fmtDate(s.updated_at)}</div> : null}
      </td>
    </tr>
  );
}

function RunCard({ run }: { run: ClusterRun }) {
  const latest = run.submissions.length ? run.submissions[run.submissions.length - 1]! : null;
  const open = () => {
    uiStore.getState().openRun(run.run_id);
    uiStore.getState().setView('runs');
  };
  const running = run.per_shard.filter((s) => s.status === 'running').length;
  const finished = run.per_shard.filter((s) => s.status === 'finished').length;
  return (
    <section className="cluster-run" aria-label={`Sharded run ${run.run_id}`}>
      <header className="row cluster-run-head">
        <h4>
          <button className="link" onClick={open} title="Open this run in the Runs view">
            {run.run_id}
          </button>
        </h4>
        <span className={`badge status-${run.status}`}>{run.status}</span>
        <span className="muted small">
          {run.shards} shards · {finished} finished · {running} running · {run.submissions.length} submission{run.submissions.length === 1 ? '' : 's'}
          {latest ? ` (latest: array ${latest.array_job_id})` : ''}
        </span>
        <button className="small-btn" onClick={open}>
          Open in Runs
        </button>
      </header>
      <div className="row cluster-run-progress">
        <label className="inline">
          <span aria-label={`Run ${run.run_id} samples done`}>
            {run.done}/{run.total} samples done
          </span>
          <progress max={Math.max(run.total, 1)} value={Math.min(run.done, Math.max(run.total, 1))} />
        </label>
        <span className="cluster-finalize" aria-label="Finalize job">
          finalize job {latest?.finalize_job_id ?? '—'}: <JobState job={run.finalize} />
          {run.finalize?.reason ? <span className="muted small"> ({run.finalize.reason})</span> : null}
        </span>
      </div>
      <table className="cluster-table" aria-label={`Shards of ${run.run_id}`}>
        <thead>
          <tr>
            <th>Shard</th>
            <th>SLURM task</th>
            <th>State</th>
            <th>Node</th>
            <th>Elapsed / limit</th>
            <th>Restarts</th>
            <th>Done</th>
            <th>In flight</th>
            <th>Reason</th>
          </tr>
        </thead>
        <tbody>
          {run.per_shard.map((s) => (
            <ShardRow key={s.shard} shard={s} />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function JobsTable({ jobs }: { jobs: ClusterJob[] }) {
  if (jobs.length === 0) return <p className="muted">None of your jobs is queued or running (<code>squeue --me</code> lists nothing).</p>;
  return (
    <table className="cluster-table" aria-label="SLURM jobs">
      <thead>
        <tr>
          <th>Job</th>
          <th>Name</th>
          <th>State</th>
          <th>Reason</th>
          <th>Node</th>
          <th>Elapsed / limit</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.id} data-job={j.id}>
            <td className="mono">{j.id}</td>
            <td>{j.name}</td>
            <td>
              <JobState job={j} />
            </td>
            <td>{j.reason ?? <span className="muted">—</span>}</td>
            <td>{j.node ?? <span className="muted">—</span>}</td>
            <td className="num">
              {fmtSlurmDuration(j.elapsed_s)} / {fmtSlurmDuration(j.time_limit_s)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ServersTable({ servers, registryDir }: { servers: ClusterServerStatus[]; registryDir: string }) {
  if (servers.length === 0) {
    return (
      <p className="muted">
        No server is registered in <code>{registryDir}</code>. Start one on the cluster with <code>spatialclaw perception start --slurm --backends da3,sam3</code> or{' '}
        <code>spatialclaw model serve --slurm --vllm-args "…"</code>; it appears here once its <code>/health</code> answers.
      </p>
    );
  }
  return (
    <table className="cluster-table" aria-label="Cluster servers">
      <thead>
        <tr>
          <th>Kind</th>
          <th>Id</th>
          <th>URL</th>
          <th>Host</th>
          <th>Job</th>
          <th>Health</th>
          <th>Load</th>
          <th>Backends / model</th>
        </tr>
      </thead>
      <tbody>
        {servers.map((s) => (
          <tr key={s.id} data-server={s.id}>
            <td>{s.kind}</td>
            <td className="mono">{s.id}</td>
            <td className="mono">{s.url}</td>
            <td>{s.host}</td>
            <td>
              <span className="mono">{s.job_id}</span> <JobState job={s.job} />
            </td>
            <td>
              <span className={`badge ${s.healthy ? 'status-ok' : 'status-error'}`}>{s.healthy ? 'healthy' : 'unhealthy'}</span>
              {s.error ? <div className="error small server-error">{s.error}</div> : null}
            </td>
            <td className="num">{s.load ?? '—'}</td>
            <td>{s.kind === 'model' ? (s.model ?? '—') : s.backends.join(', ') || '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Everything the view shows of one status (exported for the renderer's unit test). */
export function ClusterBody({ status }: { status: ClusterStatus }) {
  return (
    <>
      <SlurmLine status={status} />
      {status.problems.length ? (
        <details className="cluster-problems" open>
          <summary>{status.problems.length} file{status.problems.length === 1 ? '' : 's'} could not be read</summary>
          <ul>
            {status.problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </details>
      ) : null}
      <section aria-label="Sharded runs">
        <h3>Sharded runs</h3>
        {status.runs.length === 0 ? (
          <p className="muted">
            No sharded run under the runs root. Start one with <code>spatialclaw eval --benchmark vsibench --model … --slurm --shards 8</code> (or{' '}
            <code>spatialclaw run … --slurm</code>); each shard then shows here with its SLURM task.
          </p>
        ) : (
          status.runs.map((r) => <RunCard key={r.run_id} run={r} />)
        )}
      </section>
      <section aria-label="Jobs">
        <h3>Your SLURM jobs</h3>
        {status.slurm.available ? <JobsTable jobs={status.jobs} /> : <p className="muted">SLURM does not answer (above).</p>}
      </section>
      <section aria-label="Servers">
        <h3>Cluster servers</h3>
        <ServersTable servers={status.servers} registryDir={status.registry_dir} />
      </section>
    </>
  );
}

export function ClusterView() {
  const { status, error, refresh } = useClusterStatus();
  return (
    <div className="cluster">
      <div className="row">
        <button onClick={refresh}>Refresh</button>
        <span className="muted small">
          updates every {CLUSTER_POLL_MS / 1000} s{status ? ` · checked ${fmtDate(status.checked_at)}` : ''}
        </span>
      </div>
      {error ? <ErrorBox error={error} title="Cannot read the cluster's state" /> : null}
      {status ? <ClusterBody status={status} /> : error ? null : <p className="muted" role="status">Asking SLURM…</p>}
    </div>
  );
}
