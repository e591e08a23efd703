/**
 * Locating the Python interpreter that hosts Jupyter, the kernels and the perception server.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { env, ENV, minimalChildEnv } from './config/env.ts';
import { appRoot } from './paths.ts';

export class PythonNotFoundError extends Error {
  override name = 'PythonNotFoundError';
}

/**
 * The interpreter to use: `SPATIALCLAW_PYTHON` when set, else `<root>/.venv/bin/python`
 * (`.venv\Scripts\python.exe` on Windows).
 * @throws PythonNotFoundError naming the path that was tried and the command that creates it.
 */
export function resolvePython(): string {
  const fromEnv = env('python');
  if (fromEnv) {
    if (!existsSync(fromEnv)) {
      throw new PythonNotFoundError(`${ENV.python}=${fromEnv} does not exist; point it at a python executable or unset it to use .venv`);
    }
    return fromEnv;
  }
  const venvPython = process.platform === 'win32'
    ? join(appRoot(), '.venv', 'Scripts', 'python.exe')
    : join(appRoot(), '.venv', 'bin', 'python');
  if (!existsSync(venvPython)) {
    throw new PythonNotFoundError(`no Python environment at ${venvPython}; create it with \`npm run setup\` (or set ${ENV.python})`);
  }
  return venvPython;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a short Python command and capture its output (for probes; not for kernels). The child gets an
 * allow-listed environment, without secrets (config/env.ts `minimalChildEnv`). Never rejects: a process that cannot
 * start resolves with `code: null` and the error in `stderr`; one running past `timeoutMs` is killed.
 */
export function runPython(python: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, env: minimalChildEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => resolvePromise({ code: null, stdout, stderr: stderr + String(e) }));
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}
