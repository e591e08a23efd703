/**
 * The Cluster view's rendering (renderer/src/components/ClusterView.tsx) of fixed ClusterStatus values: the SLURM
 * error with its fix, the empty states that say what to run, and a run card's shard rows. The view against a real
 * host and SLURM: test/e2e/cluster-view.test.ts.
 */
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { type ClusterJob, type ClusterStatus, ClusterStatusSchema } from '../../shared/cluster.ts';
import { ClusterBody, fmtSlurmDuration, jobStateClass, slurmShownError } from '../../renderer/src/components/ClusterView.tsx';

const job = (id: string, state: string, more: Partial<ClusterJob> = {}): ClusterJob => ({
  id, array_job_id: id.includes('_') ? id.split('_')[0]! : null, array_task_id: id.includes('_') ? Number(id.split('_')[1]) : null, name: 'sc-shards', state,
  reason: null, node: 'vm', elapsed_s: 75, time_limit_s: 3600, restarts: null, source: 'squeue', ...more,
});

const base: ClusterStatus = ClusterStatusSchema.parse({
  slurm: { available: true, cluster: 'lab', error: null }, jobs: [], runs: [], servers: [], registry_dir: '/shared/cluster', checked_at: '2026-12-05T10:00:00.000Z', problems: [],
});

describe('Cluster view', () => {
  it('formats durations as SLURM does and colours job states', () => {
    expect(fmtSlurmDuration(null)).toBe('—');
    expect(fmtSlurmDuration(75)).toBe('1:15');
    expect(fmtSlurmDuration(3 * 3600 + 5)).toBe('3:00:05');
    expect(fmtSlurmDuration(2 * 86400 + 3661)).toBe('2-01:01:01');
    expect(jobStateClass('RUNNING')).toBe('job-live');
    expect(jobStateClass('PENDING')).toBe('job-waiting');
    expect(jobStateClass('COMPLETED')).toBe('job-done');
    expect(jobStateClass('TIMEOUT')).toBe('job-failed');
    expect(jobStateClass('CANCELLED')).toBe('job-stopped');
    expect(slurmShownError('squeue failed. Fix: run it on a login node')).toEqual({ message: 'squeue failed.', fix: 'run it on a login node', method: null });
  });

  it('shows SLURM\'s error with its fix, and empty states that say what to run', () => {
    const html = renderToStaticMarkup(<ClusterBody status={{ ...base, slurm: { available: false, cluster: null, error: 'sinfo -h exited with 1: Unable to contact slurm controller. Fix: start it (sudo bash build/slurm-local.sh)' } }} />);
    expect(html).toContain('SLURM is not available');
    expect(html).toContain('Unable to contact slurm controller');
    expect(html).toContain('start it (sudo bash build/slurm-local.sh)');
    expect(html).toContain('spatialclaw eval --benchmark vsibench --model … --slurm --shards 8');
    expect(html).toContain('spatialclaw perception start --slurm --backends da3,sam3');
    expect(html).toContain('/shared/cluster');
    expect(html).toContain('SLURM does not answer');
  });

  it('shows a run card with overall progress, the finalize job and one row per shard', () => {
    const status: ClusterStatus = {
      ...base,
      jobs: [job('7_0', 'RUNNING'), job('8', 'PENDING', { reason: 'Dependency', node: null, name: 'sc-finalize' })],
      runs: [{
        run_id: 'r1', dir: '/runs/r1', shards: 2, total: 9, done: 3, status: 'running', submissions: [],
        finalize: job('8', 'PENDING', { reason: 'Dependency' }),
        per_shard: [
          { shard: 0, total: 5, total_known: true, done: 3, status: 'running', reason: null, job: job('7_0', 'RUNNING', { restarts: 1 }), in_flight: 2, updated_at: '2026-12-05T10:00:01.000Z' },
          { shard: 1, total: 4, total_known: false, done: 0, status: 'pending', reason: null, job: job('7_1', 'PENDING', { reason: 'Resources', node: null, elapsed_s: 0 }), in_flight: 0, updated_at: null },
        ],
      }],
      problems: ['/runs/x/slurm.json is invalid: shards'],
    };
    const html = renderToStaticMarkup(<ClusterBody status={status} />);
    expect(html).toContain('aria-label="Sharded run r1"');
    expect(html).toContain('3/9 samples done');
    expect(html).toContain('Dependency');
    expect(html).toMatch(/data-shard="0".*7_0.*status-running.*job-live.*RUNNING.*1:15 \/ 1:00:00.*>1<.*3\/5/s);
    // A shard without state.json: its total is an estimate, its task waits for resources.
    expect(html).toMatch(/data-shard="1".*7_1.*status-pending.*job-waiting.*PENDING.*0\/≈4.*Resources/s);
    expect(html).toContain('1 file could not be read');
    expect(html).toContain('cluster <strong>lab</strong> · 2 of your jobs and tasks queued or running (1 running, 1 pending)');
  });
});
