import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './cli.ts';
import { alive } from './process.ts';

/** A `spatialclaw serve` process, with what its READY line said. */
export interface Serve {
  proc: ChildProcess;
  url: string;
  port: number;
  token: string;
  /** Everything it wrote to stdout / stderr so far. */
  stdout: () => string;
  stderr: () => string;
}

/**
 * Start `spatialclaw serve --port 0` as a user would (through the CLI launcher) and resolve with its
 * READY line. `args` are extra flags (e.g. `['--runs', dir]`); `env` is merged over process.env.
 * @throws Error with the process output when it exits or prints no READY line within `timeoutMs`.
 */
export function startServe(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 90_000): Promise<Serve> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(ROOT, 'electron', 'cli', 'spatialclaw.mjs'), 'serve', '--port', '0', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`spatialclaw serve printed no READY line in ${timeoutMs / 1000} s\nstdout: ${out}\nstderr: ${err}`)), timeoutMs);
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^READY (\{.*\})$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        const r = JSON.parse(m[1]!) as { url: string; port: number; token: string };
        resolve({ proc, ...r, stdout: () => out, stderr: () => err });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`spatialclaw serve exited (${code}) before READY\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

/** SIGTERM, wait up to `graceMs` for a clean exit, then SIGKILL. */
export async function stopServe(serve: Serve | undefined, graceMs = 20_000): Promise<void> {
  const pid = serve?.proc.pid;
  if (!serve || !pid || !alive(pid)) return;
  const exited = new Promise((r) => serve.proc.once('exit', r));
  serve.proc.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
  if (alive(pid)) serve.proc.kill('SIGKILL');
}
