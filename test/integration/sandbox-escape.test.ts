/**
 * Issue 17, section 1: agent kernels run in the bubblewrap sandbox (docs/security.md). Escape cells written the way the
 * red team's were (pydoc.locate, random._os, logging.handlers.HTTPHandler, numpy's DataSource, matplotlib's canvas,
 * scipy.sparse.save_npz, DataFrame.to_string(path), %sx, operator.attrgetter) run in a real sandboxed kernel on a real
 * Jupyter server, as agent cells where the AST policy lets them through and as console cells (no policy) otherwise.
 * None may write outside scratch, reach the network, read files outside the inputs, or see a secret. Legitimate analysis
 * cells still pass. The model bridge is scoped to its sample and rate-limited.
 *
 * Each assertion checks the host, not the kernel's word: the canary files' contents, the files that must not appear, the
 * requests the host's listener received. On the code before the sandbox every one of these cells did its damage.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { VlmBridge } from '../../electron/services/kernel/bridge.ts';
import { KernelRuntime } from '../../electron/services/kernel/runtime.ts';
import { detectSandbox } from '../../electron/services/kernel/sandbox.ts';
import type { KernelSession } from '../../electron/services/kernel/session.ts';
import type { CellResult } from '../../shared/kernel.ts';
import { ROOT, spatialclaw } from '../helpers/cli.ts';

const FX = join(ROOT, 'test', 'fixtures');
const available = detectSandbox().kind === 'bwrap';
// CI installs bubblewrap (.ci/run) and sets this: there the suite must run, never skip.
const required = process.env.SPATIALCLAW_REQUIRE_SANDBOX === '1';
if (required && !available) throw new Error(`SPATIALCLAW_REQUIRE_SANDBOX=1 but no sandbox: ${JSON.stringify(detectSandbox())}`);

const KEY = `sk-sandbox-test-${randomBytes(8).toString('hex')}`;
const CANARY = `canary-${randomBytes(8).toString('hex')}`;

describe.skipIf(!available)('agent kernels in the OS sandbox (bubblewrap)', () => {
  let rt: KernelRuntime;
  let session: KernelSession;
  let bridge: VlmBridge;
  let listener: Server;
  let port = 0;
  let hits = 0;
  let canaryDir = '';
  /** Host paths an escape would create; none may exist afterwards. */
  const targets: string[] = [];
  const all: CellResult[] = [];

  const run = async (code: string, origin: 'agent' | 'human' = 'human'): Promise<CellResult> => {
    const r = await session.execute(code, { origin, timeoutS: 60 });
    all.push(r);
    return r;
  };
  const text = (r: CellResult): string => `${r.stdout}\n${r.stderr}\n${r.result ?? ''}\n${r.error?.ename ?? ''}: ${r.error?.evalue ?? ''}`;

  beforeAll(async () => {
    vi.stubEnv('OPENAI_API_KEY', KEY);
    vi.stubEnv('SPATIALCLAW_TEST_SECRET_TOKEN', KEY);
    canaryDir = mkdtempSync(join(tmpdir(), 'scw-canary-'));
    writeFileSync(join(canaryDir, 'secret.txt'), CANARY, { mode: 0o644 });
    listener = createServer((_req, res) => {
      hits += 1;
      res.end('ok');
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    port = (listener.address() as AddressInfo).port;
    rt = await KernelRuntime.start({ sandbox: 'on', onWarning: () => undefined });
    bridge = new VlmBridge({
      ask: async (images, q) => ({ text: `saw ${images.length}; ${q}` }),
      locate: async () => ({ points: [[1, 2]], text: '[[1, 2]]' }),
    }, { callsPerMinute: 3, maxConcurrent: 8 });
    await bridge.start();
    session = await rt.openSession();
    await session.prepare({
      inputs: [{ kind: 'video', path: join(FX, 'video_bedroom', 'bedroom.mp4'), num_frames: 4 }],
      scratchDir: rt.newScratchDir(),
      bridge: { url: bridge.url, token: bridge.token, listenUnix: (path, target) => bridge.listenUnix(path, target) },
    });
    expect(session.sandboxed).toBe(true);
  }, 180_000);

  afterAll(async () => {
    await session?.close();
    await bridge?.stop();
    await rt?.close();
    await new Promise<void>((r) => (listener ? listener.close(() => r()) : r()));
    for (const t of targets) rmSync(t, { force: true });
    if (canaryDir) rmSync(canaryDir, { recursive: true, force: true });
    vi.unstubAllEnvs();
  });

  it('runs legitimate analysis cells: numpy, scipy, pandas, matplotlib, show(), files in scratch and /tmp', async () => {
    const r = await run([
      'import numpy as np, scipy.spatial, pandas as pd, matplotlib.pyplot as plt',
      'pts = np.random.default_rng(0).normal(size=(200, 3))',
      'hull = scipy.spatial.ConvexHull(pts)',
      'df = pd.DataFrame(pts, columns=list("xyz")).describe()',
      'plt.plot(pts[:, 0]); plt.show()',
      'show(InputImages[0], label="first frame")',
      'print(round(hull.volume, 3), df.shape, np.asarray(InputImages[0]).shape)',
    ].join('\n'), 'agent');
    expect(r.status, text(r)).toBe('ok');
    expect(r.stdout).toMatch(/^\d+\.\d+ \(8, 3\) \(\d+, \d+, 3\)/);
    expect(r.images.length).toBe(2);
    // Files (the AST policy refuses file I/O in agent cells; the console may): its scratch folder and /tmp are writable.
    const f = await run('np.save("pts.npy", pts); np.save("/tmp/pts.npy", pts)\nprint(np.load("pts.npy").shape, np.load("/tmp/pts.npy").shape, __import__("os").getcwd())');
    expect(f.stdout.trim(), text(f)).toBe('(200, 3) (200, 3) /scratch');
  });

  it('runs code as an unprivileged user that holds no capability (pydoc.locate, random._os, %sx)', async () => {
    // The AST policy lets this one through (as it did on the red team's run).
    const r = await run([
      'import pydoc, random',
      'popen = pydoc.locate("os.popen")',
      'print("ID", popen("id -u").read().strip(), random._os.getuid(), random._os.geteuid())',
      'print("CAP", popen("grep CapEff /proc/self/status").read().split()[1])',
    ].join('\n'), 'agent');
    expect(r.status, text(r)).toBe('ok');
    // Outside the sandbox a root host's kernel ran as uid 0 with every capability.
    expect(r.stdout).toContain('ID 65534 65534 65534');
    expect(r.stdout).toContain('CAP 0000000000000000');
    const sx = await run('out = %sx id -u\nprint("SX", out)');
    expect(sx.stdout).toContain("SX ['65534']");
  });

  it('cannot write outside its scratch: open, canvas.print_png, save_npz, to_string, os.system', async () => {
    const home = homedir();
    const want = {
      repo: join(ROOT, `PWNED-${CANARY}.txt`),
      venv: join(ROOT, '.venv', `PWNED-${CANARY}.txt`),
      home: join(home, `PWNED-${CANARY}.png`),
      canary: join(canaryDir, 'PWNED.npz'),
      shell: join(canaryDir, 'PWNED-shell'),
      tostring: join(canaryDir, 'PWNED.txt'),
    };
    targets.push(...Object.values(want));
    const cells = [
      `open(${JSON.stringify(want.repo)}, "w").write("x")`,
      `open(${JSON.stringify(want.venv)}, "w").write("x")`,
      ['from matplotlib.figure import Figure', 'from matplotlib.backends.backend_agg import FigureCanvasAgg',
        `FigureCanvasAgg(Figure()).print_png(${JSON.stringify(want.home)})`].join('\n'),
      ['import scipy.sparse', `scipy.sparse.save_npz(${JSON.stringify(want.canary)}, scipy.sparse.eye(3).tocsr())`].join('\n'),
      ['import pandas as pd', `pd.DataFrame({"a": [1]}).to_string(${JSON.stringify(want.tostring)})`].join('\n'),
      ['import random', `print("rc", random._os.system("touch ${want.shell} 2>/dev/null"))`].join('\n'),
      // The canary file itself: the host's copy must keep its content.
      `open(${JSON.stringify(join(canaryDir, 'secret.txt'))}, "w").write("overwritten")`,
    ];
    for (const code of cells) {
      const agent = await run(code, 'agent');
      // Whether or not the AST policy lets it through, the console (no policy) must fail at the wall too.
      if (agent.status === 'rejected') await run(code, 'human');
    }
    for (const [what, p] of Object.entries(want)) expect(existsSync(p), `${what}: ${p}`).toBe(false);
    expect(readFileSync(join(canaryDir, 'secret.txt'), 'utf8')).toBe(CANARY);
  });

  it('cannot reach the network: HTTPHandler, urllib, raw sockets to the host\'s listener and Jupyter server', async () => {
    const jupyterPort = Number(new URL(rt.server.baseUrl).port);
    const cells = [
      ['import logging, logging.handlers', `h = logging.handlers.HTTPHandler("127.0.0.1:${port}", "/leak", method="POST")`,
        'lg = logging.getLogger("leak"); lg.addHandler(h); lg.error("secret %s", "x")', 'h.close()'].join('\n'),
      ['import urllib.request', 'for url in ["http://127.0.0.1:%d/leak" % ' + port + ', "http://127.0.0.1:%d/api/status" % ' + jupyterPort + ']:',
        '    try:', '        print("GOT", urllib.request.urlopen(url, timeout=3).status)', '    except Exception as e:', '        print("NO", type(e).__name__)'].join('\n'),
      ['import socket, operator', 'connect = operator.attrgetter("create_connection")(socket)', 'for host in ["127.0.0.1", "1.1.1.1", "::1"]:',
        '    try:', `        connect((host, ${port}), 3); print("CONNECTED", host)`, '    except OSError as e:', '        print("NO", host, e.errno)'].join('\n'),
    ];
    for (const code of cells) {
      const agent = await run(code, 'agent');
      if (agent.status === 'rejected') await run(code, 'human');
    }
    const out = all.slice(-6).map(text).join('\n');
    expect(out).not.toContain('GOT');
    expect(out).not.toContain('CONNECTED');
    expect(hits).toBe(0);
    // Only a loopback with nothing on it.
    const ifs = await run('import socket\nprint(sorted(n for _, n in socket.if_nameindex()))');
    expect(ifs.stdout.trim()).toBe("['lo']");
  });

  it('cannot read files outside its inputs: numpy DataSource, open, listdir of the host\'s folders', async () => {
    const secret = join(canaryDir, 'secret.txt');
    const cells = [
      ['import numpy as np', `print(np.lib.npyio.DataSource(None).open(${JSON.stringify(secret)}).read())`].join('\n'),
      `print(open(${JSON.stringify(secret)}).read())`,
      `import pydoc\nprint(pydoc.locate("builtins.open")(${JSON.stringify(join(ROOT, 'package.json'))}).read()[:200])`,
      `import os\nprint("LS", sorted(os.listdir("/")), os.path.exists(${JSON.stringify(homedir())}) and os.listdir(${JSON.stringify(homedir())}))`,
      'import os\nprint("ETC", sorted(os.listdir("/etc")))',
    ];
    for (const code of cells) {
      const agent = await run(code, 'agent');
      if (agent.status === 'rejected') await run(code, 'human');
    }
    const out = all.slice(-10).map(text).join('\n');
    if (!out.includes('ETC [')) throw new Error(out);
    expect(out).not.toContain(CANARY);
    expect(out).not.toContain('"name": "spatialclaw');
    const ls = all.map(text).find((t) => t.includes('LS ['))!;
    expect(ls).toBeDefined();
    // The root holds the OS, the interpreter and the sandbox's own folders: nothing of the host's data. The checkout
    // (venv and runtime packages) and the interpreter are mounted at their host paths, so their top folders appear
    // too: /work here, /check or /tmp on CI, /home on a laptop.
    const top = JSON.parse(ls.match(/LS (\[[^\]]*\])/)![1]!.replace(/'/g, '"')) as string[];
    const mountedTops = [ROOT, realpathSync(join(ROOT, '.venv', 'bin', 'python3'))].map((p) => p.split('/')[1]!);
    const osTops = ['bin', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'proc', 'sbin', 'usr'];
    const sandboxTops = ['frames', 'host', 'inputs', 'scratch', 'tmp'];
    expect(top.filter((d) => ![...osTops, ...sandboxTops, ...mountedTops].includes(d))).toEqual([]);
    const etc = all.map(text).find((t) => t.includes('ETC ['))!;
    expect(etc).not.toMatch(/passwd|shadow|hostname|ssh|munge|slurm/);
    // Its own inputs it can read, under /inputs.
    const mine = await run('import numpy as np\nprint(np.asarray(InputImages[0]).shape, [p for p in __import__("os").listdir("/inputs")])');
    expect(mine.status, text(mine)).toBe('ok');
  });

  it('sees no secret: not the API key, not the Jupyter token, in its environment or any process it can see', async () => {
    const r = await run([
      'import os, glob',
      'seen = dict(os.environ)',
      'for p in glob.glob("/proc/[0-9]*/environ"):',
      '    try: seen[p] = open(p, "rb").read().decode("latin-1")',
      '    except OSError as e: seen[p] = "unreadable"',
      'print(len(glob.glob("/proc/[0-9]*")), repr(seen))',
    ].join('\n'));
    expect(r.status, text(r)).toBe('ok');
    expect(r.stdout).not.toContain(KEY);
    expect(r.stdout).not.toContain(rt.server.token);
    // Its own PID namespace: bwrap's init, the kernel and whatever the cell started.
    expect(Number(r.stdout.split(' ')[0])).toBeLessThan(6);
  });

  it('scopes the model bridge to its sample: rate-limited, and its token dies with the sample', async () => {
    const calls = await run([
      'out = []',
      'for i in range(4):',
      '    try: out.append(vlm.ask([InputImages[0]], f"q{i}"))',
      '    except Exception as e: out.append(f"{type(e).__name__}: {e}")',
      'print(out)',
    ].join('\n'), 'agent');
    expect(calls.status, text(calls)).toBe('ok');
    expect(calls.stdout).toContain('saw 1; q2');
    expect(calls.stdout).toMatch(/3 model calls per minute per sample/);
    expect(bridge.refused).toBe(1);
    // The sample ends: its bridge stops. The kernel's copy of the token reaches nothing.
    await bridge.stop();
    const after = await run('try:\n    vlm.ask([InputImages[0]], "still there?")\nexcept Exception as e:\n    print("FAILED", type(e).__name__)');
    expect(after.stdout).toContain('FAILED');
    // A later sample's bridge does not accept the old token.
    const next = new VlmBridge({ ask: async () => ({ text: 'x' }), locate: async () => ({ points: [], text: '' }) });
    await next.start();
    try {
      const res = await fetch(`${next.url}/vlm/ask`, { method: 'POST', headers: { Authorization: `Bearer ${bridge.token}` }, body: '{}' });
      expect(res.status).toBe(401);
    } finally {
      await next.stop();
    }
  });
});

describe('choosing the sandbox on the command line', () => {
  const cell = join(tmpdir(), `scw-cell-${process.pid}.py`);
  // Through pydoc.locate: the AST policy lets it through (as the red team found), so it runs as an agent cell.
  beforeAll(() => writeFileSync(cell, 'import pydoc\nprint("UID", pydoc.locate("os.getuid")(), pydoc.locate("os.getcwd")())\n'));
  afterAll(() => rmSync(cell, { force: true }));

  it('--no-sandbox runs the kernel unsandboxed and says so on stderr; --sandbox bogus is refused', async () => {
    const r = await spatialclaw(['kernel', 'run', '--no-sandbox', '--input', join(FX, 'video_bedroom', 'bedroom.mp4'), '--frames', '2', cell]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARNING: agent kernels are NOT sandboxed.*--no-sandbox.*docs\/security\.md/);
    expect(r.stdout).not.toContain('/scratch');
    const bad = await spatialclaw(['kernel', 'run', '--sandbox', 'bogus', cell]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--sandbox must be auto, on or off, got "bogus"');
  }, 180_000);

  it.skipIf(!available)('by default (auto) runs it sandboxed, with no warning', async () => {
    const r = await spatialclaw(['kernel', 'run', '--input', join(FX, 'video_bedroom', 'bedroom.mp4'), '--frames', '2', cell]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('NOT sandboxed');
    expect(r.stdout).toContain('UID 65534 /scratch');
  }, 180_000);
});
