import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DoctorReportSchema } from '../../shared/doctor.ts';
import { formatDoctor, readPins, runDoctor } from '../../electron/services/doctor.ts';

describe('readPins', () => {
  it('reads name==version pins and ignores comments, flags and unpinned lines', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pins-'));
    const f = join(dir, 'req.txt');
    writeFileSync(f, '# comment\nnumpy==2.4.6  # trailing\n-r other.txt\nscipy>=1.0\nopencv-python-headless == 5.0.0.93\n\n');
    expect([...readPins(f)]).toEqual([
      ['numpy', '2.4.6'],
      ['opencv-python-headless', '5.0.0.93'],
    ]);
  });
});

describe('runDoctor', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('reports a missing interpreter as a failed required check with the fix command', async () => {
    vi.stubEnv('SPATIALCLAW_PYTHON', '/nonexistent/python3');
    const report = DoctorReportSchema.parse(await runDoctor());
    expect(report.ok).toBe(false);
    const py = report.checks.find((c) => c.id === 'python');
    expect(py?.ok).toBe(false);
    expect(py?.required).toBe(true);
    expect(py?.detail).toContain('/nonexistent/python3');
    expect(py?.fix).toContain('pip install -r python-common/requirements.txt -r python-runtime/requirements.txt');
  });

  it('reports a missing chromium as optional with the apt command', async () => {
    vi.stubEnv('CHROMIUM_PATH', '/nonexistent/chromium');
    const report = await runDoctor();
    const c = report.checks.find((x) => x.id === 'chromium');
    expect(c).toMatchObject({ ok: false, required: false, fix: 'sudo apt-get install -y chromium' });
  });
});

describe('formatDoctor', () => {
  it('prints OK / MISSING lines, the fix under each failure, and a verdict', () => {
    const text = formatDoctor({
      ok: false,
      createdAt: new Date(0).toISOString(),
      checks: [
        { id: 'a', label: 'Thing A', required: true, ok: true, detail: '1.0' },
        { id: 'b', label: 'Thing B', required: true, ok: false, detail: 'missing', fix: 'npm run setup' },
        { id: 'c', label: 'Thing C', required: false, ok: false, detail: 'missing', fix: 'apt-get install c' },
      ],
    });
    expect(text).toMatch(/OK {5} {2}Thing A/);
    expect(text).toMatch(/MISSING {2}Thing B/);
    expect(text).toContain('fix: npm run setup');
    expect(text).toContain('1 required prerequisite(s) missing');
  });
});
