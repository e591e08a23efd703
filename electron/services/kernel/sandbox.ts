/**
 * The OS sandbox around agent kernels (docs/security.md): whether one can be had here, and the host's half of each
 * sandboxed kernel — its folders, the sample's inputs linked into them, and where the bridge's Unix socket goes.
 * The kernel's half is `spatial_runtime.sandbox_launch` (bubblewrap) and `spatial_runtime.kernel_launch`.
 *
 * Layout: one sandbox root per local Jupyter server, `<root>/<kernel id>/` per kernel with
 * `scratch/` (the kernel's `/scratch`, rw), `tmp/` (`/tmp`, rw), `inputs/` (`/inputs`, ro), `host/` (`/host`, ro: the
 * bridge's socket), `frames/` (`/frames`, rw: the kernel's own frame cache) and `rt/` (its connection file and IPC
 * sockets). A root host gives the writable ones to uid 65534, which the kernel runs as.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync,
} from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import type { InputSpec } from '../../../shared/kernel.ts';

/** The uid (and gid) kernels run as when the host is root (`nobody`). */
export const SANDBOX_UID = 65534;

/** What the user asked for: `auto` (sandbox when possible, warn otherwise), `on` (refuse to run without), `off`. */
export type SandboxPreference = 'auto' | 'on' | 'off';

/** The outcome of {@link detectSandbox}. */
export type SandboxStatus =
  | { kind: 'bwrap'; bwrap: string; version: string }
  | { kind: 'none'; reason: string; fix: string; container: string | null };

export class SandboxUnavailableError extends Error {
  override name = 'SandboxUnavailableError';
}

function which(cmd: string): string | null {
  if (cmd.includes('/')) return existsSync(cmd) ? cmd : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not there
    }
  }
  return null;
}

/** A container runtime the user could run the workbench in instead (`docker`, `podman`), or null. */
export function containerRuntime(): string | null {
  return which('podman') ?? which('docker');
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

let cached: { key: string; status: SandboxStatus } | null = null;

/**
 * Whether kernels can be sandboxed on this machine: Linux with bubblewrap (`SPATIALCLAW_BWRAP` or `bwrap` on PATH)
 * that can actually make the namespaces (a probe runs `true` in a sandbox like the kernels'; containers without
 * user namespaces fail it). Cached per process and bwrap path.
 */
export function detectSandbox(): SandboxStatus {
  const bwrapName = process.env.SPATIALCLAW_BWRAP || 'bwrap';
  const key = `${process.platform}:${bwrapName}:${process.env.PATH}`;
  if (cached?.key === key) return cached.status;
  const container = containerRuntime();
  const none = (reason: string, fix: string): SandboxStatus => ({ kind: 'none', reason, fix, container });
  let status: SandboxStatus;
  const bwrap = process.platform === 'linux' ? which(bwrapName) : null;
  if (process.platform !== 'linux') {
    status = none(`no OS sandbox for kernels on ${process.platform} (bubblewrap is Linux-only)`,
      'run the workbench on Linux with bubblewrap, or inside a Linux container');
  } else if (!bwrap) {
    status = none('bubblewrap (bwrap) is not installed', 'install it: apt install bubblewrap (Debian/Ubuntu), dnf install bubblewrap (Fedora)');
  } else {
    const args = ['--unshare-pid', '--unshare-net', '--die-with-parent', '--ro-bind', '/usr', '/usr',
      '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin',
      '--proc', '/proc', '--dev', '/dev', '--clearenv'];
    if (!isRoot()) args.unshift('--unshare-user');
    const probe = spawnSync(bwrap, [...args, '/usr/bin/true'], { encoding: 'utf8', timeout: 10_000 });
    const version = spawnSync(bwrap, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
    if (probe.status === 0) {
      status = { kind: 'bwrap', bwrap, version };
    } else {
      const why = (probe.stderr || probe.error?.message || `exit ${probe.status}`).trim().split('\n')[0];
      status = none(`bubblewrap at ${bwrap} cannot make a sandbox here: ${why}`,
        'allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; in Docker run with --security-opt seccomp=unconfined or use podman)');
    }
  }
  cached = { key, status };
  return status;
}

/**
 * The warning printed at every start (CLI, serve, the app's banner) and by `doctor` when kernels run unsandboxed.
 * @param why what made it so: the detection's reason, or that the user turned it off.
 */
export function unsandboxedWarning(status: SandboxStatus, pref: SandboxPreference): string {
  if (status.kind === 'bwrap' && pref !== 'off') return '';
  const head = 'WARNING: agent kernels are NOT sandboxed: model-written code runs with your user\'s rights and can read your files and reach the network';
  if (pref === 'off') return `${head} (turned off with --no-sandbox / sandbox: off). Leave it on unless you trust the model and its inputs; docs/security.md.`;
  if (status.kind === 'bwrap') return '';
  const container = status.container
    ? ` Or run the workbench in a container: ${status.container} was found (docs/security.md, "Containers").`
    : '';
  return `${head}: ${status.reason}. To sandbox them, ${status.fix}.${container} See docs/security.md.`;
}

/**
 * Decide the sandbox for a local Jupyter server.
 * @returns the bwrap path, or null (unsandboxed; the caller prints {@link unsandboxedWarning}).
 * @throws SandboxUnavailableError with `pref: 'on'` where none can be had.
 */
export function chooseSandbox(pref: SandboxPreference): { bwrap: string | null; status: SandboxStatus } {
  if (pref === 'off') return { bwrap: null, status: detectSandbox() };
  const status = detectSandbox();
  if (status.kind === 'bwrap') return { bwrap: status.bwrap, status };
  if (pref === 'on') {
    throw new SandboxUnavailableError(`the kernel sandbox is required (--sandbox on) but ${status.reason}; ${status.fix}, or start with --sandbox auto to run unsandboxed with a warning`);
  }
  return { bwrap: null, status };
}

/** The InputSpec fields that hold host paths (a string or a list of strings). */
export const INPUT_PATH_FIELDS = ['path', 'files', 'depth', 'camera', 'poses'] as const;

/** The sandbox of each local Jupyter server of this process, by its base URL (see {@link sandboxOfServer}). */
const serverSandboxes = new Map<string, KernelSandbox>();

/** Record that the kernels of the server at `baseUrl` run in `sandbox` (JupyterServer does, when it starts one). */
export function registerServerSandbox(baseUrl: string, sandbox: KernelSandbox | null): void {
  const key = baseUrl.replace(/\/+$/, '');
  if (sandbox) serverSandboxes.set(key, sandbox);
  else serverSandboxes.delete(key);
}

/**
 * The sandbox of the server at `baseUrl`, or null: what a {@link KernelSession} opened without one uses, so that no
 * caller can hand a sandboxed kernel host paths by forgetting to pass it.
 */
export function sandboxOfServer(baseUrl: string): KernelSandbox | null {
  return serverSandboxes.get(baseUrl.replace(/\/+$/, '')) ?? null;
}

/** Where a sandboxed kernel sees its folders. */
export const INSIDE = { scratch: '/scratch', inputs: '/inputs', host: '/host' } as const;

/** The host's half of one local server's sandboxed kernels (the folders `sandbox_launch` creates per kernel). */
export class KernelSandbox {
  constructor(readonly root: string, readonly uid: number = SANDBOX_UID) {}

  /** `<root>/<kernel id>`; created by `sandbox_launch` when the kernel starts. */
  kernelDir(kernelId: string): string {
    if (!/^[A-Za-z0-9-]+$/.test(kernelId)) throw new Error(`not a kernel id: ${JSON.stringify(kernelId)}`);
    return join(this.root, kernelId);
  }

  /** Whether this kernel was started in the sandbox (its folder exists). */
  has(kernelId: string): boolean {
    return existsSync(join(this.kernelDir(kernelId), 'rt'));
  }

  /**
   * Empty the kernel's scratch and tmp folders and link (hard links; copies across file systems or where the kernel
   * could not read the file) the inputs into its `inputs/` folder, replacing the last sample's.
   * @returns the inputs with every path as the kernel sees it (`/inputs/<hash>/<name>`), and the map from those paths
   *   back to the host's (for messages).
   * @throws Error naming the input path that could not be linked or copied.
   */
  stageSample(kernelId: string, inputs: InputSpec[]): { inputs: InputSpec[]; paths: Map<string, string> } {
    const kdir = this.kernelDir(kernelId);
    // Mount points the sandbox made in its /tmp (sandbox_launch TMP_KEEP) stay: removing one would detach the mount.
    let keep: string[] = [];
    try {
      keep = JSON.parse(readFileSync(join(kdir, 'tmp-keep.json'), 'utf8')) as string[];
    } catch {
      // none written: nothing under /tmp is mounted
    }
    for (const name of ['scratch', 'tmp', 'inputs']) {
      const dir = join(kdir, name);
      for (const entry of readdirSync(dir)) {
        if (name === 'tmp' && keep.includes(entry)) continue;
        rmSync(join(dir, entry), { recursive: true, force: true });
      }
    }
    const staged = new Map<string, string>();
    const stage = (hostPath: string): string => {
      const seen = staged.get(hostPath);
      if (seen) return seen;
      const folder = createHash('sha256').update(hostPath).digest('hex').slice(0, 12);
      const name = basename(hostPath) || 'input';
      try {
        mkdirSync(join(kdir, 'inputs', folder), { mode: 0o755, recursive: true });
        this.linkTree(hostPath, join(kdir, 'inputs', folder, name));
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        throw new Error(err.code === 'ENOENT'
          ? `input ${hostPath} does not exist; check the path`
          : `could not give the sandboxed kernel the input ${hostPath} (${err.message}); check that it is readable`, { cause: e });
      }
      const inside = `${INSIDE.inputs}/${folder}/${name}`;
      staged.set(hostPath, inside);
      return inside;
    };
    const out = inputs.map((spec) => {
      const copy: Record<string, unknown> = { ...spec };
      // Every path of shared/contracts/kernel.ts InputSpec (test/unit/sandbox-stage.test.ts checks none is missed).
      for (const field of INPUT_PATH_FIELDS) {
        const v = (spec as Record<string, unknown>)[field];
        if (typeof v === 'string' && v) copy[field] = stage(v);
        else if (Array.isArray(v)) copy[field] = v.map((p) => (typeof p === 'string' && p ? stage(p) : p));
      }
      return copy as InputSpec;
    });
    return { inputs: out, paths: new Map([...staged].map(([host, inside]) => [inside, host])) };
  }

  /** Hard-link `src` (a file or a folder, recursively) to `dst`; copy where linking fails or the kernel's uid could not read. */
  private linkTree(src: string, dst: string): void {
    const st = statSync(src);
    if (st.isDirectory()) {
      mkdirSync(dst, { mode: 0o755 });
      for (const entry of readdirSync(src)) this.linkTree(join(src, entry), join(dst, entry));
      return;
    }
    if (!st.isFile()) return; // sockets, fifos, devices: never inputs
    const othersCanRead = (st.mode & 0o004) !== 0;
    if (othersCanRead || !isRoot()) {
      try {
        linkSync(src, dst);
        return;
      } catch {
        // another file system, or a protected link: copy
      }
    }
    copyFileSync(src, dst);
    chmodSync(dst, 0o644);
    if (isRoot()) chownSync(dst, this.uid, this.uid);
  }

  /** The host path of a Unix socket in the kernel's `/host` folder, and the path the kernel uses. */
  hostSocket(kernelId: string, name: string): { host: string; inside: string } {
    return { host: join(this.kernelDir(kernelId), 'host', name), inside: `${INSIDE.host}/${name}` };
  }

  /** Remove a kernel's folders (after it has shut down). */
  forget(kernelId: string): void {
    rmSync(this.kernelDir(kernelId), { recursive: true, force: true });
  }

  /** Remove every kernel folder (the server has stopped). */
  removeAll(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
