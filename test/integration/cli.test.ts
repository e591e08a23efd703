import { describe, expect, it } from 'vitest';
import { DoctorReportSchema } from '../../shared/doctor.ts';
import { spatialclaw } from '../helpers/cli.ts';

describe('spatialclaw doctor', () => {
  it('reports every required prerequisite OK on a set-up checkout', async () => {
    const r = await spatialclaw(['doctor', '--json']);
    const report = DoctorReportSchema.parse(JSON.parse(r.stdout));
    const failedRequired = report.checks.filter((c) => c.required && !c.ok);
    expect(failedRequired, JSON.stringify(failedRequired)).toEqual([]);
    expect(r.code).toBe(0);
    for (const id of ['node', 'python', 'python.packages', 'jupyter_server', 'ipykernel', 'spatial_runtime', 'chromium', 'ffmpeg', 'slurm']) {
      expect(report.checks.map((c) => c.id)).toContain(id);
    }
  });

  it('exits 1 and prints the fix when the interpreter is missing', async () => {
    const r = await spatialclaw(['doctor'], { SPATIALCLAW_PYTHON: '/nonexistent/python' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/MISSING\s+Python environment/);
    expect(r.stdout).toContain('fix: "/nonexistent/python" -m pip install');
    expect(r.stdout).toMatch(/required prerequisite\(s\) missing/);
  });
});

describe('spatialclaw demo', () => {
  it('runs the main job on the real RGB-D sample: the labelled demonstration trajectory through the real stack', async () => {
    const r = await spatialclaw(['demo'], { SPATIALCLAW_MODEL: '', SPATIALCLAW_BASE_URL: '' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('=== DEMONSTRATION TRAJECTORY: scripted replies, not a live model ===');
    expect(r.stdout).toMatch(/camera moved 2\.(09|10)\d m/);
    expect(r.stdout).toMatch(/table: \d+ points, top at 0\.[5-9]\d m above the floor/);
    expect(r.stdout).toContain('Answer: 2.1 m (ground truth 2.1; score 1.00; 3 steps');
    expect(r.stdout).toContain('To run a live model: npm run demo -- --model NAME --base-url');
  });

  it('fails clearly on a folder that is not a sample', async () => {
    const r = await spatialclaw(['demo', '--sample', '/tmp']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/tmp has no sample.json');
  });
});
