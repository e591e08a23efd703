#!/usr/bin/env node
// Runs every test suite and ends with one line "N passed, N failed" that sums them all.
//
//   node test/run-all.mjs                 all stages
//   node test/run-all.mjs unit python     only these stages
//
// Stages: typecheck, lint, unit, python (pytest, and beside it the SLURM tests: vitest project `cluster`), integration,
// build, e2e. A check that is not a test runner
// (tsc, eslint, ruff, the electron-vite build) counts as one test. A runner that crashes without a
// report counts as one failure, so a broken suite can never look green.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const artifacts = join(root, 'test', '.artifacts');
mkdirSync(artifacts, { recursive: true });
const bin = (name) => join(root, 'node_modules', '.bin', process.platform === 'win32' ? `${name}.cmd` : name);
const python = process.env.SPATIALCLAW_PYTHON
  || join(root, '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');

// Tests never touch the user's real data dir.
const testHome = join(artifacts, 'home');
rmSync(testHome, { recursive: true, force: true });
mkdirSync(testHome, { recursive: true });
const env = {
  ...process.env,
  SPATIALCLAW_HOME: testHome,
  CHROMIUM_PATH: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  FORCE_COLOR: process.env.CI ? '0' : process.env.FORCE_COLOR,
};

/**
 * Run a command; its output goes to this process's (`inherit`), or with `buffer` is collected and printed in one piece
 * when it ends (checks that run side by side, so their outputs do not interleave).
 */
function run(cmd, args, buffer = false) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: buffer ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    const chunks = [];
    if (buffer) {
      child.stdout.on('data', (d) => chunks.push(d));
      child.stderr.on('data', (d) => chunks.push(d));
    }
    child.on('error', (e) => {
      console.error(`[test] could not start ${cmd}: ${e.message}`);
      resolve(127);
    });
    child.on('close', (code) => {
      if (chunks.length) process.stdout.write(Buffer.concat(chunks));
      resolve(code ?? 1);
    });
  });
}

/** The first line of a failure message, without colour codes, at most 300 characters. */
const firstLine = (msg) => (stripVTControlCharacters(String(msg ?? '')).split('\n').find((l) => l.trim()) ?? '').trim().slice(0, 300);
const unescapeXml = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#10;/g, ' ').replace(/&amp;/g, '&');

/** One command = one test. */
const single = (name, cmd, args) => async (buffer = false) => {
  const code = await run(cmd, args, buffer);
  if (code !== 0) console.error(`[test] FAILED: ${name} (exit ${code})`);
  return { passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, skipped: 0, failures: code === 0 ? [] : [`${name} (exit ${code})`] };
};

const vitest = (project, extra = []) => async (buffer = false) => {
  const out = join(artifacts, `vitest-${project}.json`);
  rmSync(out, { force: true });
  const code = await run(bin('vitest'), ['run', '--project', project, ...extra, '--reporter=default', '--reporter=json', `--outputFile.json=${out}`], buffer);
  if (!existsSync(out)) return { passed: 0, failed: 1, skipped: 0 };
  const r = JSON.parse(readFileSync(out, 'utf8'));
  let failed = r.numFailedTests;
  // A file that fails to import has no tests but fails the suite.
  const brokenFiles = (r.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
  failed += brokenFiles;
  if (code !== 0 && failed === 0) failed = 1;
  if (r.numTotalTests === 0 && failed === 0) {
    console.error(`[test] vitest project ${project} ran no test`);
    failed = 1;
  }
  // Name each failure in the summary: CI logs are often read only from their end.
  const failures = [];
  for (const f of r.testResults ?? []) {
    const file = relative(root, f.name ?? '');
    if (f.status === 'failed' && (f.assertionResults ?? []).length === 0) failures.push(`${file}: ${firstLine(f.message)}`);
    for (const a of f.assertionResults ?? []) {
      if (a.status !== 'failed') continue;
      // vitest's JSON report keeps only a placeholder for some errors (a test's timeout among them): give the duration.
      const said = firstLine((a.failureMessages ?? [])[0]);
      const why = said === 'Error: STACK_TRACE_ERROR' ? `failed after ${Math.round((a.duration ?? 0) / 1000)} s (a timeout?)` : said;
      failures.push(`${file} > ${a.fullName ?? a.title}: ${why}`);
    }
  }
  return { passed: r.numPassedTests, failed, skipped: r.numPendingTests + r.numTodoTests, failures };
};

const pytest = async (buffer = false) => {
  const xml = join(artifacts, 'pytest.xml');
  rmSync(xml, { force: true });
  // pytest-xdist: one worker per CPU (at most 4), a whole file per worker so that module-scoped servers start once.
  const workers = String(Math.max(1, Math.min(4, availableParallelism())));
  const code = await run(python, ['-m', 'pytest', 'test/python', '-q', '-p', 'no:cacheprovider', '-n', workers, '--dist', 'loadfile', `--junitxml=${xml}`], buffer);
  if (!existsSync(xml)) return { passed: 0, failed: 1, skipped: 0 };
  const head = /<testsuite\b[^>]*>/.exec(readFileSync(xml, 'utf8'))?.[0] ?? '';
  const attr = (k) => Number(new RegExp(`\\b${k}="(\\d+)"`).exec(head)?.[1] ?? 0);
  const tests = attr('tests');
  const failed = attr('failures') + attr('errors');
  const skipped = attr('skipped');
  const failures = [];
  for (const m of readFileSync(xml, 'utf8').matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const bad = /<(failure|error)\b[^>]*?message="([^"]*)"/.exec(m[2] ?? '');
    if (!bad) continue;
    const at = (k) => new RegExp(`\\b${k}="([^"]*)"`).exec(m[1])?.[1] ?? '';
    failures.push(`${at('classname')}::${at('name')}: ${firstLine(unescapeXml(bad[2]))}`);
  }
  if (tests === 0) {
    console.error('[test] pytest ran no test');
    return { passed: 0, failed: 1, skipped: 0 };
  }
  return { passed: tests - failed - skipped, failed: failed || (code !== 0 ? 1 : 0), skipped, failures };
};

const TWO_FILES_AT_ONCE = ['--fileParallelism', `--maxWorkers=${Math.min(2, availableParallelism())}`];

const STAGES = {
  typecheck: [
    ['tsc (main, preload, CLI, shared, tests)', single('tsc node', bin('tsc'), ['-p', 'tsconfig.node.json', '--noEmit'])],
    ['tsc (renderer)', single('tsc web', bin('tsc'), ['-p', 'tsconfig.web.json', '--noEmit'])],
    ['tsc (renderer tests)', single('tsc web tests', bin('tsc'), ['-p', 'tsconfig.test-web.json', '--noEmit'])],
  ],
  lint: [
    ['contracts are current (npm run contracts)', single('contracts --check', process.execPath, ['--import', 'tsx', 'build/contracts.ts', '--check'])],
    ['eslint', single('eslint', bin('eslint'), ['.', '--max-warnings=0'])],
    ['ruff check', single('ruff check', python, ['-m', 'ruff', 'check', 'python-common', 'python-runtime', 'gpu-server', 'python-eval', 'test/python'])],
    ['ruff format --check', single('ruff format', python, ['-m', 'ruff', 'format', '--check', 'python-common', 'python-runtime', 'gpu-server', 'python-eval', 'test/python'])],
  ],
  unit: [['vitest unit', vitest('unit')]],
  // The SLURM tests (vitest project `cluster`) mostly wait on jobs: they run beside pytest, which keeps the CPUs busy.
  python: [['pytest', pytest], ['vitest cluster (SLURM)', vitest('cluster')]],
  // Two integration files at a time (at most one per CPU): alone, a file leaves about a fifth of two CPUs idle (it
  // waits on servers, kernels and chromium); two at a time took 606 s instead of 748 s here, every test passing. e2e alike.
  integration: [['vitest integration', vitest('integration', TWO_FILES_AT_ONCE)]],
  build: [['electron-vite build', single('electron-vite build', bin('electron-vite'), ['build'])]],
  e2e: [['vitest e2e (chromium)', vitest('e2e', TWO_FILES_AT_ONCE)]],
};

const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!(w in STAGES)) {
    console.error(`[test] unknown stage ${w}; stages: ${Object.keys(STAGES).join(', ')}`);
    process.exit(2);
  }
}
const order = wanted.length ? Object.keys(STAGES).filter((s) => wanted.includes(s)) : Object.keys(STAGES);

// The single-command checks (tsc, eslint, ruff, contracts) run two at a time: each is one CPU-bound process, and
// the machines running this have at least two cores; pytest runs beside the SLURM tests, which mostly wait. Their
// outputs are printed whole as each ends.
const PARALLEL_STAGES = new Set(['typecheck', 'lint', 'python']);
const CHECKS_AT_ONCE = 2;

const rows = [];
const t0 = Date.now();
for (const stage of order) {
  const items = STAGES[stage];
  const one = async ([label, fn], buffer) => {
    if (!buffer) console.log(`\n[test] ==== ${stage}: ${label} ====`);
    const ts = Date.now();
    const r = await fn(buffer);
    const secs = (Date.now() - ts) / 1000;
    if (buffer) console.log(`\n[test] ==== ${stage}: ${label} ====`);
    console.log(`[test] ${stage}: ${label}: ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''} (${secs.toFixed(1)} s)`);
    return { stage, label, ...r, secs };
  };
  if (PARALLEL_STAGES.has(stage)) {
    const out = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await one(items[i], true);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CHECKS_AT_ONCE, items.length) }, worker));
    rows.push(...out);
  } else {
    for (const item of items) rows.push(await one(item, false));
  }
}

const sum = (k) => rows.reduce((a, r) => a + r[k], 0);
console.log('\n[test] ==== summary ====');
for (const r of rows) {
  console.log(`[test] ${r.failed ? 'FAIL' : 'ok  '}  ${r.stage.padEnd(11)} ${r.label.padEnd(42)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed  ${r.secs.toFixed(1).padStart(6)} s`);
}
const failures = rows.flatMap((r) => (r.failures ?? []).map((f) => `[test]   ${r.stage}: ${f}`));
if (failures.length) {
  console.log('[test] failed tests:');
  for (const f of failures.slice(0, 40)) console.log(f);
  if (failures.length > 40) console.log(`[test]   … and ${failures.length - 40} more (test/.artifacts/)`);
}
console.log(`[test] total time ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const skipped = sum('skipped');
console.log(`${sum('passed')} passed, ${sum('failed')} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(sum('failed') > 0 ? 1 : 0);
