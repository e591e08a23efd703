/**
 * Fault injection for the agent kernels (issue 17, "Faults that still lose work or hang"):
 * - a cell printing 3 MB keeps the head and the tail of its output, says how much was dropped (kernel-side, before
 *   IOPub), and the lines printed after it still arrive;
 * - `input()`, `help()` and `sys.stdin` reads fail at once with a clear error instead of waiting for the timeout;
 * - `kernel run --timeout` / `--cell-timeout` reach the cell; `ask`, `run` and `eval` take `--cell-timeout`;
 * - a sample that rebinds module attributes (`np.pi = 3.0`, a new module attribute) leaves the next sample on the
 *   same pooled kernel the original values.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CellResultSchema } from '../../shared/kernel.ts';
import { RunEventSchema } from '../../shared/run.ts';
import { KernelRuntime } from '../../electron/services/kernel/runtime.ts';
import { runFlags } from '../../electron/cli/run.ts';
import type { KernelSession } from '../../electron/services/kernel/session.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';
import { QUESTION, ROOM, step } from '../helpers/rgbd-script.ts';
import { startScriptedModelServer } from '../helpers/scripted-model.ts';

const FX = join(ROOT, 'test', 'fixtures');

function cellFiles(...codes: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'fault-cells-'));
  return codes.map((c, i) => {
    const f = join(dir, `step${i + 1}.py`);
    writeFileSync(f, c);
    return f;
  });
}

describe('kernel faults: output, stdin, module state', () => {
  let rt: KernelRuntime;
  beforeAll(async () => {
    rt = await KernelRuntime.start({ poolSize: 1 });
    await rt.pool!.fill();
  });
  afterAll(async () => {
    await rt?.close();
  });

  async function withSession<T>(fn: (s: KernelSession) => Promise<T>): Promise<T> {
    const s = await rt.openSession();
    try {
      await s.prepare({ inputs: [], scratchDir: rt.newScratchDir() });
      return await fn(s);
    } finally {
      await rt.closeSession(s);
    }
  }

  it('keeps the head and tail of a 3 MB print, says how much was dropped, and keeps the later lines', async () => {
    await withSession(async (s) => {
      const code = "print('HEAD' + 'x' * 3_000_000 + 'TAIL')\nfor i in range(3):\n    print('after', i)\nimport sys\nprint('E' * 2_000_000, file=sys.stderr)\nprint('done')";
      const r = await s.execute(code, { origin: 'human', timeoutS: 60 });
      expect(r.status).toBe('ok');
      expect(r.stdout.startsWith('HEADxxx')).toBe(true);
      expect(r.stdout).toMatch(/… \[[\d,]+ characters dropped\] …/);
      expect(r.stdout).toContain('xxxTAIL\nafter 0\nafter 1\nafter 2\ndone\n');
      expect(r.stdout.length).toBeLessThan(300_000);
      expect(r.stderr).not.toContain('IOPub data rate exceeded');
      const dropped = Number(/\[([\d,]+) characters dropped\]/.exec(r.stdout)![1]!.replace(/,/g, ''));
      // Everything printed is either kept or counted.
      const printed = 'HEAD'.length + 3_000_000 + 'TAIL\n'.length + 3 * 'after 0\n'.length + 'done\n'.length;
      const kept = r.stdout.replace(/\n… \[[\d,]+ characters dropped\] …\n/, '').length;
      expect(kept + dropped).toBe(printed);
      expect(r.stderr).toMatch(/^EEE[\s\S]*characters dropped[\s\S]*EEE\n$/);
      // The next cell's output is whole again.
      const next = await s.execute("print('y' * 10)", { origin: 'human', timeoutS: 60 });
      expect(next.stdout).toBe(`${'y'.repeat(10)}\n`);
    });
  });

  it.each([
    ['input()', "input('name? ')"],
    ['help()', 'help()'],
    ['sys.stdin.read()', 'import sys\nsys.stdin.read()'],
    ['sys.stdin.readline()', 'import sys\nsys.stdin.readline()'],
  ])('%s fails at once with a clear error instead of waiting for stdin', async (_name, code) => {
    await withSession(async (s) => {
      const t0 = Date.now();
      const r = await s.execute(code, { origin: 'human', timeoutS: 20 });
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(r.status).toBe('error');
      expect(`${r.error?.ename}: ${r.error?.evalue}`).toContain('this kernel has no stdin');
    });
  });

  it('gives the next sample on the reused kernel the original module attributes', async () => {
    const pool = rt.pool!;
    let first = '';
    const tainted = pool.stats().restartedTainted;
    await withSession(async (s) => {
      first = s.id;
      const r = await s.execute('np.pi = 3.0\nmath.tau = 1.0\nnp.spatialclaw_leak = 41\nprint(np.pi, math.tau)', { origin: 'human', timeoutS: 60 });
      expect(r.stdout).toBe('3.0 1.0\n');
    });
    expect(pool.stats().restartedTainted, pool.lastTaint.join('; ')).toBe(tainted);
    await withSession(async (s) => {
      expect(s.id).toBe(first); // reused in place, not restarted
      const r = await s.execute("print(np.pi, math.tau, hasattr(np, 'spatialclaw_leak'))", { origin: 'human', timeoutS: 60 });
      expect(r.stdout).toBe('3.141592653589793 6.283185307179586 False\n');
    });
  });
});

describe('cell timeout flags', () => {
  it('kernel run --timeout and --cell-timeout interrupt the cell', async () => {
    for (const flag of ['--timeout', '--cell-timeout']) {
      const t0 = Date.now();
      const r = await spatialclaw(['kernel', 'run', '--input', join(FX, 'rgbd_room'), flag, '2', '--unchecked', ...cellFiles('import time\ntime.sleep(60)')]);
      expect(Date.now() - t0, flag).toBeLessThan(45_000);
      const out = CellResultSchema.parse(JSON.parse(r.stdout.trim().split('\n')[0]!));
      expect(out.status, flag).toBe('timeout');
      expect(out.notes.join(' '), flag).toContain('2 s timeout');
    }
  });

  it('ask --cell-timeout interrupts a cell after that many seconds and records the timeout', async () => {
    const model = await startScriptedModelServer({
      script: { q1: [step('wait', 'import time\ntime.sleep(60)'), step('answer', 'ReturnAnswer(1.0)')] },
      whenExhausted: 'error',
    });
    try {
      const out = mkdtempSync(join(tmpdir(), 'run-'));
      const t0 = Date.now();
      const r = await spatialclaw(['ask', '--input', ROOM, '--question', QUESTION, '--no-plan', '--cell-timeout', '2',
        '--model', 'scripted-vlm', '--base-url', model.url, '--out', out], {}, 120_000);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(Date.now() - t0).toBeLessThan(50_000);
      const events = readFileSync(join(out, 'samples', 'q1', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => RunEventSchema.parse(JSON.parse(l)));
      const cells = events.flatMap((e) => (e.type === 'cell' ? [e.result] : []));
      expect(cells[0]?.status).toBe('timeout');
      expect(cells[0]?.notes.join(' ')).toContain('2 s timeout');
      const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { config?: { agent?: { cell_timeout_s?: number } } };
      expect(run.config?.agent?.cell_timeout_s).toBe(2);
    } finally {
      await model.close();
    }
  });

  it.each(['ask', 'run', 'eval'])('%s --help lists --cell-timeout', async (cmd) => {
    const r = await spatialclaw([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--cell-timeout <s>\s+per-cell timeout, seconds/);
  });

  it('run and eval pass --cell-timeout to the resolved config', () => {
    expect(runFlags({ dataset: 'x.jsonl', cellTimeout: 7 }).cellTimeoutS).toBe(7);
  });
});
