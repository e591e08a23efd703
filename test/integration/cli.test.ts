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
    for (const id of ['node', 'python', 'python.packages', 'jupyter_server', 'ipykernel', 'spatial_runtime', 'chromium', 'ffmpeg']) {
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
  it('runs the bundled cell on the real RGB-D sample in a fresh kernel', async () => {
    const r = await spatialclaw(['demo']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('5 RGB-D frames, 640x480, frame indices [0, 1, 2, 3, 4]');
    expect(r.stdout).toContain('intrinsics: fx=518.0 fy=519.0 cx=325.5 cy=253.5 px');
    const overlap = /overlap within 5 cm: (\d+)% with the sample's poses vs (\d+)% assuming no motion/.exec(r.stdout);
    expect(overlap).not.toBeNull();
    expect(Number(overlap![1])).toBeGreaterThan(Number(overlap![2]));
    expect(r.stdout).toMatch(/^Cell 1 ran in [\d.]+ s\.$/m);
    expect(r.stdout).toContain('Images attached (1): 1. frame 0 and its depth');
    expect(r.stdout).toContain('Answer: the camera moved 2.1 m between the first and the last frame.');
  });

  it('fails clearly on a folder that is not a sample', async () => {
    const r = await spatialclaw(['demo', '--sample', '/tmp']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/tmp has no sample.json');
  });
});
