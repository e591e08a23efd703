/**
 * `spatialclaw doctor`: checks every prerequisite and names the exact command that fixes each one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DoctorCheck, DoctorReport } from '../../shared/doctor.ts';
import { env, ENV } from './config/env.ts';
import { appRoot } from './paths.ts';
import { connectRegistered, loadRegistry } from './perception/registry.ts';
import { slurmAvailable } from './cluster/slurm.ts';
import { detectSandbox, unsandboxedWarning } from './kernel/sandbox.ts';
import { PythonNotFoundError, resolvePython, runPython } from './python.ts';

/** Parse `name==version` pins from a requirements file (comments and other lines are ignored). */
export function readPins(file: string): Map<string, string> {
  const pins = new Map<string, string>();
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^([A-Za-z0-9_.-]+)\s*==\s*([^\s;]+)/.exec(line);
    if (m?.[1] && m[2]) pins.set(m[1], m[2]);
  }
  return pins;
}

/** Runs inside the target interpreter; prints one JSON object. Must not import anything that may be missing at top level. */
const PROBE = String.raw`
import importlib, importlib.metadata as md, json, sys
pins = json.loads(sys.argv[1])
out = {"python": "%d.%d.%d" % sys.version_info[:3], "packages": {}, "imports": {}, "errors": {}}
for name in pins:
    try:
        out["packages"][name] = md.version(name)
    except md.PackageNotFoundError:
        out["packages"][name] = None
for mod in ("spatial_common", "spatial_runtime", "spatial_perception"):
    try:
        out["imports"][mod] = getattr(importlib.import_module(mod), "__version__", "?")
    except Exception as e:
        out["imports"][mod] = None
        out["errors"][mod] = "%s: %s" % (type(e).__name__, e)
try:
    import jupyter_server
    out["jupyter_server"] = jupyter_server.__version__
except Exception as e:
    out["jupyter_server"] = None
    out["errors"]["jupyter_server"] = "%s: %s" % (type(e).__name__, e)
try:
    from jupyter_client.kernelspec import KernelSpecManager
    spec = KernelSpecManager().get_kernel_spec("python3")
    out["kernelspec"] = " ".join(spec.argv[:3])
except Exception as e:
    out["kernelspec"] = None
    out["errors"]["kernelspec"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
`;

interface ProbeResult {
  python: string;
  packages: Record<string, string | null>;
  imports: Record<string, string | null>;
  errors: Record<string, string>;
  jupyter_server: string | null;
  kernelspec: string | null;
}

function toolVersion(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0) return null;
  return (r.stdout || r.stderr).split('\n')[0]?.trim() ?? '';
}

/** Whether this machine has an NVIDIA GPU (device node or a working nvidia-smi). */
function hasNvidiaGpu(): boolean {
  return existsSync('/dev/nvidia0') || toolVersion('nvidia-smi', ['-L']) !== null;
}

/** The chromium used for browser tests: CHROMIUM_PATH, default /usr/bin/chromium. */
export function chromiumPath(): string {
  return env('chromium') ?? '/usr/bin/chromium';
}

/** Run every check. Never throws: problems become failed checks with a fix. */
export async function runDoctor(): Promise<DoctorReport> {
  const root = appRoot();
  const checks: DoctorCheck[] = [];
  const add = (c: DoctorCheck): void => {
    checks.push(c.ok ? { ...c, fix: undefined } : c);
  };
  const customPython = env('python');
  const setupFix = customPython
    ? `"${customPython}" -m pip install -r python-common/requirements.txt -r python-runtime/requirements.txt -r gpu-server/requirements.txt -c build/python-constraints.txt && "${customPython}" -m pip install --no-deps -e python-common -e python-runtime -e gpu-server`
    : 'npm run setup';

  // Node
  const [maj = 0, min = 0] = process.versions.node.split('.').map(Number);
  add({
    id: 'node', label: 'Node.js 20.19+ / 22.12+', required: true,
    ok: (maj === 20 && min >= 19) || (maj === 22 && min >= 12) || maj > 22,
    detail: `v${process.versions.node}`,
    fix: 'install a current Node.js LTS (https://nodejs.org or your package manager)',
  });

  // node_modules
  const nm = join(root, 'node_modules');
  const stamp = join(nm, '.spatialclaw-stamp');
  add({
    id: 'node_modules', label: 'node_modules', required: true,
    ok: existsSync(join(nm, '@jupyterlab', 'services', 'package.json')),
    detail: existsSync(stamp) ? `installed (${nm})` : existsSync(nm) ? `present but not installed by the bootstrap (${nm})` : 'missing',
    fix: 'npm run setup',
  });

  // Python interpreter
  let python: string | null = null;
  try {
    python = resolvePython();
  } catch (e) {
    add({ id: 'python', label: 'Python environment (.venv)', required: true, ok: false,
      detail: e instanceof PythonNotFoundError ? e.message : String(e), fix: setupFix });
  }

  const basePins = new Map([
    ...readPins(join(root, 'python-common', 'requirements.txt')),
    ...readPins(join(root, 'python-runtime', 'requirements.txt')),
    ...readPins(join(root, 'gpu-server', 'requirements.txt')),
  ]);
  const gpuPins = readPins(join(root, 'gpu-server', 'requirements-gpu.txt'));

  if (python) {
    const allPins = Object.fromEntries([...basePins, ...gpuPins]);
    const r = await runPython(python, ['-c', PROBE, JSON.stringify(allPins)], 120_000);
    let probe: ProbeResult | null = null;
    try {
      probe = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ProbeResult;
    } catch {
      add({ id: 'python', label: 'Python environment (.venv)', required: true, ok: false,
        detail: `${python} failed to run (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`, fix: setupFix });
    }
    if (probe) {
      const [pmaj = 0, pmin = 0] = probe.python.split('.').map(Number);
      add({ id: 'python', label: 'Python 3.10+ environment', required: true,
        ok: pmaj === 3 && pmin >= 10, detail: `${probe.python} at ${python}`,
        fix: 'install Python 3.10+, then: rm -rf .venv && npm run setup' });

      const bad: string[] = [];
      for (const [name, want] of basePins) {
        const have = probe.packages[name];
        if (have !== want) bad.push(`${name} ${have ?? 'missing'} (want ${want})`);
      }
      add({ id: 'python.packages', label: 'Python packages (pinned)', required: true, ok: bad.length === 0,
        detail: bad.length === 0 ? `${basePins.size} packages at their pinned versions` : bad.join(', '), fix: setupFix });

      add({ id: 'jupyter_server', label: 'jupyter_server', required: true, ok: !!probe.jupyter_server,
        detail: probe.jupyter_server ?? probe.errors['jupyter_server'] ?? 'missing', fix: setupFix });
      add({ id: 'ipykernel', label: 'ipykernel (python3 kernelspec)', required: true, ok: !!probe.kernelspec,
        detail: probe.kernelspec ? `python3 -> ${probe.kernelspec}` : probe.errors['kernelspec'] ?? 'missing', fix: setupFix });
      for (const mod of ['spatial_common', 'spatial_runtime', 'spatial_perception']) {
        const v = probe.imports[mod];
        add({ id: mod, label: `${mod} package`, required: true, ok: !!v,
          detail: v ? `${v} (importable)` : probe.errors[mod] ?? 'not importable', fix: setupFix });
      }
      const gpuMissing = [...gpuPins.keys()].filter((n) => !probe.packages[n]);
      const gpu = hasNvidiaGpu();
      add({ id: 'python.gpu', label: 'GPU backends (torch, transformers)', required: false,
        ok: gpuMissing.length === 0 || !gpu,
        detail: gpuMissing.length === 0 ? [...gpuPins.keys()].map((n) => `${n} ${probe.packages[n]}`).join(', ')
          : gpu ? `an NVIDIA GPU is present but ${gpuMissing.join(', ')} not installed (needed to run da3/sam3 here)`
            : 'not installed and not needed: no NVIDIA GPU here (run the GPU backends on a remote perception server)',
        fix: 'npm run setup -- --gpu' });
    }
  }

  // System tools
  const chrome = chromiumPath();
  const chromeVersion = existsSync(chrome) ? toolVersion(chrome, ['--version']) : null;
  add({ id: 'chromium', label: 'chromium (browser tests)', required: false, ok: !!chromeVersion,
    detail: chromeVersion ?? `${chrome} not found (set ${ENV.chromium} to use another chromium)`,
    fix: 'sudo apt-get install -y chromium' });
  const ff = toolVersion('ffmpeg', ['-version']);
  add({ id: 'ffmpeg', label: 'ffmpeg (video tools)', required: false, ok: !!ff,
    detail: ff ? ff.replace(/ Copyright.*/, '') : 'not found on PATH (PyAV bundles its own decoders; the CLI is for converting videos)',
    fix: 'sudo apt-get install -y ffmpeg' });

  // The kernels' OS sandbox (docs/security.md): optional, but without it model code runs with the user's rights.
  {
    const s = detectSandbox();
    add({ id: 'sandbox', label: 'kernel sandbox (bubblewrap)', required: false, ok: s.kind === 'bwrap',
      detail: s.kind === 'bwrap'
        ? `${s.version} at ${s.bwrap}: agent kernels run without network, as an unprivileged user, seeing only their inputs`
        : unsandboxedWarning(s, 'auto'),
      ...(s.kind === 'bwrap' ? {} : { fix: s.fix + (s.container ? `; or run the workbench in a container (${s.container} found; docs/security.md)` : '') }) });
  }

  // SLURM (optional: only `--slurm` and the Cluster view need it; docs/cluster.md).
  if (toolVersion('sbatch', ['--version']) === null) {
    add({ id: 'slurm', label: 'SLURM (sharded runs, --slurm)', required: false, ok: false,
      detail: 'sbatch is not on PATH: --slurm, perception start --slurm and model serve --slurm need a cluster login node',
      fix: 'run on a login node of your SLURM cluster; for a one-node test cluster: sudo bash build/slurm-local.sh' });
  } else {
    const s = slurmAvailable();
    add({ id: 'slurm', label: 'SLURM (sharded runs, --slurm)', required: false, ok: s.ok,
      detail: s.ok ? `the controller answers${s.cluster ? ` (cluster ${s.cluster})` : ''}` : s.error ?? 'the controller does not answer',
      ...(s.ok ? {} : { fix: 'check the cluster with `sinfo`; for the one-node test cluster: sudo bash build/slurm-local.sh' }) });
  }

  // Registered perception servers (optional: kernels work without them, tools.Reconstruct/SAM3 do not).
  let registered: ReturnType<typeof loadRegistry> = [];
  try {
    registered = loadRegistry();
  } catch (e) {
    add({ id: 'perception.registry', label: 'perception servers', required: false, ok: false,
      detail: e instanceof Error ? e.message : String(e), fix: 'fix or delete the file named above' });
  }
  for (const entry of registered) {
    try {
      const server = await connectRegistered(entry);
      const h = await server.health();
      const avail = h.backends.filter((b) => b.available).map((b) => b.name);
      add({ id: `perception.${entry.name}`, label: `perception server ${entry.name}`, required: false, ok: true,
        detail: `${entry.url}: backends ${avail.join(', ') || 'none available'}` });
    } catch (e) {
      add({ id: `perception.${entry.name}`, label: `perception server ${entry.name}`, required: false, ok: false,
        detail: `${entry.url}: ${e instanceof Error ? e.message : String(e)}`,
        fix: entry.pid ? `spatialclaw perception start --detach --name ${entry.name}` : `check the server, or: spatialclaw perception remove ${entry.name}` });
    }
  }

  return {
    ok: checks.every((c) => c.ok || !c.required),
    checks,
    createdAt: new Date().toISOString(),
  };
}

/** Render a report as aligned text lines for the terminal. */
export function formatDoctor(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.label.length));
  const lines = ['SpatialClaw doctor'];
  for (const c of report.checks) {
    const tag = c.ok ? 'OK     ' : c.required ? 'MISSING' : 'missing';
    lines.push(`  ${tag}  ${c.label.padEnd(width)}  ${c.detail}`);
    if (!c.ok && c.fix) lines.push(`  ${' '.repeat(7)}  ${' '.repeat(width)}  fix: ${c.fix}`);
  }
  const missingRequired = report.checks.filter((c) => !c.ok && c.required).length;
  const missingOptional = report.checks.filter((c) => !c.ok && !c.required).length;
  lines.push(
    missingRequired === 0
      ? `All required prerequisites are present${missingOptional ? ` (${missingOptional} optional missing)` : ''}.`
      : `${missingRequired} required prerequisite(s) missing: run the fix commands above.`,
  );
  return lines.join('\n');
}
