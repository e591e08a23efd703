#!/usr/bin/env node
// Installs whatever SpatialClaw Workbench is missing, and nothing that is already there:
//   1. system packages (python3-venv, ffmpeg, chromium, fonts): only when running as root and missing;
//   2. node_modules: `npm ci` when absent or when package-lock.json changed since the last install;
//   2b. the compiled CLI (out/cli/main.mjs, Vite) when the CLI's sources changed since it was built;
//   3. .venv: `python3 -m venv` + pinned `pip install -r` when absent or when a requirements file changed.
// Plain Node with no dependencies, because it runs before node_modules exists.
//
// Usage: node build/bootstrap.mjs [--quiet] [--for-tests] [--gpu] [--check]
//   --quiet      print only the steps that do something
//   --for-tests  also install gpu-server/requirements-cpu-test.txt (CPU torch + transformers, to test the GPU wrappers)
//   --gpu        also install gpu-server/requirements-gpu.txt (torch, transformers)
//   --check      report what would be installed and exit 1 if anything is missing
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const checkOnly = args.has('--check');
const withGpu = args.has('--gpu');
const forTests = args.has('--for-tests');
const isWin = process.platform === 'win32';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const log = (msg) => console.log(`[setup] ${msg}`);
const info = (msg) => { if (!quiet) log(msg); };

function fail(what, fix) {
  console.error(`[setup] ERROR: ${what}`);
  if (fix) console.error(`[setup] fix: ${fix}`);
  process.exit(1);
}

function run(cmd, argv, opts = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) fail(`could not run ${cmd}: ${r.error.message}`, opts.fix);
  if (r.status !== 0) fail(`\`${cmd} ${argv.join(' ')}\` exited with ${r.status}`, opts.fix);
  return (Date.now() - t0) / 1000;
}

function has(cmd, argv = ['--version']) {
  const r = spawnSync(cmd, argv, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function hashFiles(files) {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(f);
    h.update(existsSync(join(root, f)) ? readFileSync(join(root, f)) : 'missing');
  }
  return h.digest('hex').slice(0, 16);
}

const missing = [];

// ---- 0. Node itself -------------------------------------------------------------------------
{
  const [maj, min] = process.versions.node.split('.').map(Number);
  if (!((maj === 20 && min >= 19) || (maj === 22 && min >= 12) || maj > 22)) {
    fail(`Node ${process.versions.node} is too old; SpatialClaw needs Node 20.19+ or 22.12+`,
      'install a current Node.js LTS (e.g. from https://nodejs.org or your package manager)');
  }
}

// ---- 1. System packages (root only) -----------------------------------------------------------
const basePython = process.env.PYTHON || (isWin ? 'python' : 'python3');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const systemNeeds = [];
if (process.platform === 'linux') {
  const venvOk = spawnSync(basePython, ['-c', 'import venv, ensurepip'], { stdio: 'ignore' }).status === 0;
  if (!venvOk) systemNeeds.push('python3-venv');
  if (!has('ffmpeg', ['-version'])) systemNeeds.push('ffmpeg');
  if (!existsSync(chromiumPath)) systemNeeds.push('chromium');
  if (!existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')) systemNeeds.push('fonts-dejavu-core');
}
if (systemNeeds.length > 0) {
  const cmd = `apt-get install -y --no-install-recommends ${systemNeeds.join(' ')}`;
  if (checkOnly) missing.push(`system packages: ${systemNeeds.join(', ')} (sudo ${cmd})`);
  else if (isRoot && has('apt-get', ['--version'])) {
    log(`installing system packages: ${systemNeeds.join(', ')}`);
    run('apt-get', ['update', '-qq']);
    const s = run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...systemNeeds],
      { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    log(`system packages installed in ${s.toFixed(1)} s`);
  } else {
    log(`note: missing system packages ${systemNeeds.join(', ')}; not root, so not installing them.`);
    log(`      install them with: sudo ${cmd}`);
  }
}

// ---- 2. node_modules ---------------------------------------------------------------------------
{
  const stampFile = join(root, 'node_modules', '.spatialclaw-stamp');
  const want = hashFiles(['package.json', 'package-lock.json']);
  const have = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : '';
  if (have !== want) {
    if (checkOnly) missing.push('node_modules (npm ci)');
    else {
      log('installing node_modules with npm ci (the Electron binary is not downloaded) ...');
      const s = run(isWin ? 'npm.cmd' : 'npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
        env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' },
        fix: 'check that the npm registry is reachable, then run `npm ci` by hand to see the full error',
      });
      writeFileSync(stampFile, want + '\n');
      log(`node_modules ready in ${s.toFixed(1)} s`);
    }
  } else info('node_modules up to date');
}

// ---- 2b. the compiled CLI (out/cli/main.mjs): `spatialclaw` starts without compiling TypeScript ----------------
if (!checkOnly) {
  const { buildCli } = await import('./cli-build.mjs');
  const t0 = Date.now();
  const r = buildCli(root);
  if (r === 'built') log(`compiled the CLI into out/cli in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  else if (r === 'fresh') info('compiled CLI up to date');
  else log(`could not compile the CLI (${r}); spatialclaw runs from the TypeScript sources instead (slower start)`);
}

// ---- 3. Python virtual environment -----------------------------------------------------------------
if (process.env.SPATIALCLAW_PYTHON) {
  info(`SPATIALCLAW_PYTHON=${process.env.SPATIALCLAW_PYTHON}: using that interpreter, not creating .venv`);
  info('  (it needs the packages of python-common/, python-runtime/, gpu-server/ and python-eval/requirements.txt, and the four packages installed)');
} else {
  const venv = join(root, '.venv');
  const py = isWin ? join(venv, 'Scripts', 'python.exe') : join(venv, 'bin', 'python');
  const reqs = ['python-common/requirements.txt', 'python-runtime/requirements.txt', 'gpu-server/requirements.txt', 'python-eval/requirements.txt',
    'build/python-constraints.txt', 'python-common/pyproject.toml', 'python-runtime/pyproject.toml', 'gpu-server/pyproject.toml', 'python-eval/pyproject.toml'];
  const stampFile = join(venv, '.spatialclaw-stamp');
  const hashBase = hashFiles(reqs);
  const hashTests = hashFiles([...reqs, 'gpu-server/requirements-cpu-test.txt']);
  const hashGpu = hashFiles([...reqs, 'gpu-server/requirements-gpu.txt']);
  const want = withGpu ? hashGpu : forTests ? hashTests : hashBase;
  const have = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : '';
  // A venv installed for tests or for the GPU also serves the plain demo.
  const accepted = withGpu || forTests ? [want] : [hashBase, hashTests, hashGpu];
  const pyWorks = existsSync(py) && spawnSync(py, ['-c', 'import sys'], { stdio: 'ignore' }).status === 0;
  if (!accepted.includes(have) || !pyWorks) {
    if (checkOnly) missing.push('.venv (python packages)');
    else {
      const ver = spawnSync(basePython, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
      if (ver.error || ver.status !== 0) {
        fail(`no Python interpreter found (tried \`${basePython}\`)`,
          'install Python 3.10+ (Debian/Ubuntu: sudo apt-get install python3 python3-venv), or set PYTHON=/path/to/python3');
      }
      const [pmaj, pmin] = ver.stdout.trim().split('.').map(Number);
      if (pmaj < 3 || (pmaj === 3 && pmin < 10)) {
        fail(`Python ${ver.stdout.trim()} is too old; SpatialClaw needs 3.10+`, 'install Python 3.10+ and set PYTHON=/path/to/python3');
      }
      if (!pyWorks) {
        rmSync(venv, { recursive: true, force: true });
        log(`creating .venv with ${basePython} (Python ${ver.stdout.trim()}) ...`);
        run(basePython, ['-m', 'venv', venv], {
          fix: 'Debian/Ubuntu: sudo apt-get install python3-venv; then rerun this command',
        });
      }
      // pip is used exactly as the machine configures it (index, mirrors, certificates). One retry
      // instead of pip's five keeps an unreachable index from costing ~8 s per package.
      const env = { ...process.env, PIP_RETRIES: process.env.PIP_RETRIES ?? '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
      const pipArgs = ['-m', 'pip', 'install', '-qq',
        '-r', 'python-common/requirements.txt', '-r', 'python-runtime/requirements.txt', '-r', 'gpu-server/requirements.txt',
        '-r', 'python-eval/requirements.txt', '-c', 'build/python-constraints.txt'];
      if (withGpu) pipArgs.push('-r', 'gpu-server/requirements-gpu.txt');
      else if (forTests) pipArgs.push('-r', 'gpu-server/requirements-cpu-test.txt');
      log('installing pinned Python packages into .venv (about a minute on a fresh machine) ...');
      const fix = 'check that pip can reach your package index (`.venv/bin/pip download numpy`), then rerun';
      let s = run(py, pipArgs, { env, fix });
      s += run(py, ['-m', 'pip', 'install', '-qq', '--no-deps', '-e', 'python-common', '-e', 'python-runtime', '-e', 'gpu-server', '-e', 'python-eval'], { env, fix });
      writeFileSync(stampFile, want + '\n');
      log(`.venv ready in ${s.toFixed(1)} s`);
    }
  } else info('.venv up to date');
}

if (checkOnly) {
  if (missing.length) {
    for (const m of missing) log(`missing: ${m}`);
    process.exit(1);
  }
  log('everything is installed');
}
