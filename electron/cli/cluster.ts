/**
 * `spatialclaw cluster status` and `spatialclaw cluster cancel RUN`: the Cluster view's content in the terminal, and
 * cancelling a sharded run's jobs (docs/cluster.md).
 */
import { resolve } from 'node:path';
import type { ClusterStatus } from '../../shared/cluster.ts';
import { readSlurmRecord } from '../services/cluster/sharded.ts';
import { jobState, LIVE_STATES, scancel } from '../services/cluster/slurm.ts';
import { clusterStatus } from '../services/cluster/status.ts';
import { SettingsService } from '../services/config/settings.ts';
import { resolveRunDir } from './run-ref.ts';

/** The status as text: SLURM, each sharded run with its shards, the user's jobs, the registered servers. */
export function formatClusterStatus(s: ClusterStatus): string {
  const out: string[] = [];
  out.push(s.slurm.available ? `SLURM: cluster ${s.slurm.cluster ?? '?'}, ${s.jobs.length} of your jobs and tasks queued or running` : `SLURM: not available: ${s.slurm.error}`);
  for (const r of s.runs) {
    out.push('', `run ${r.run_id} (${r.status}): ${r.done}/${r.total} samples done over ${r.shards} shards; finalize ${r.finalize ? `${r.finalize.id} ${r.finalize.state}` : '-'}`);
    out.push(`  ${'shard'.padEnd(6)}${'task'.padEnd(12)}${'state'.padEnd(24)}${'node'.padEnd(10)}${'done'.padEnd(10)}reason`);
    for (const k of r.per_shard) {
      const state = `${k.status}${k.job ? ` ${k.job.state}` : ''}`;
      out.push(`  ${String(k.shard).padEnd(6)}${(k.job?.id ?? '-').padEnd(12)}${state.padEnd(24)}${(k.job?.node ?? '-').padEnd(10)}${`${k.done}/${k.total_known ? '' : '~'}${k.total}`.padEnd(10)}${k.reason ?? ''}`);
    }
  }
  if (s.servers.length) {
    out.push('', 'servers:');
    for (const v of s.servers) out.push(`  ${v.kind.padEnd(11)}${v.id.padEnd(22)}${v.url.padEnd(28)}${v.healthy ? 'healthy' : `unhealthy: ${v.error ?? ''}`}${v.load !== null ? `, load ${v.load}` : ''}`);
  }
  if (s.runs.length === 0 && s.servers.length === 0) out.push('', `no sharded run under the runs root and no registered server (${s.registry_dir}); start one with spatialclaw eval … --slurm`);
  for (const p of s.problems) out.push(`problem: ${p}`);
  return out.join('\n');
}

/** `spatialclaw cluster status [--runs DIR] [--json]`. */
export async function clusterStatusCommand(o: { runs?: string; json?: boolean }): Promise<number> {
  const runsRoot = resolve(o.runs ?? new SettingsService({}).config().runsRoot);
  const s = await clusterStatus({ runsRoot });
  console.log(o.json ? JSON.stringify(s, null, 2) : formatClusterStatus(s));
  return s.slurm.available ? 0 : 1;
}

/**
 * `spatialclaw cluster cancel RUN`: scancel every task and finalize job of the run's submissions that is still
 * pending or running. The shards record `interrupted` (SIGTERM); `--resume RUN --slurm` continues the run later.
 */
export function clusterCancel(run: string): number {
  const dir = resolveRunDir(run, new SettingsService({}).config().runsRoot);
  const rec = readSlurmRecord(dir);
  const live: string[] = [];
  for (const sub of rec.submissions) {
    for (const id of [...sub.shards.map((k) => `${sub.array_job_id}_${k}`), sub.finalize_job_id]) {
      let st: string | null;
      try {
        st = jobState(id);
      } catch {
        st = 'UNKNOWN'; // SLURM did not answer: scancel it anyway (an ended job is ignored by scancel)
      }
      if (st && (LIVE_STATES.has(st) || st === 'UNKNOWN')) live.push(id);
    }
  }
  if (live.length === 0) {
    console.log(`nothing to cancel: no job of ${dir} is pending or running`);
    return 0;
  }
  scancel(live);
  console.log(`cancelled ${live.join(', ')}; the shards stop within seconds (their state.json says interrupted); continue with --resume ${dir} --slurm`);
  return 0;
}
