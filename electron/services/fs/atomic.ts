/**
 * Durable file writes shared by every host service: readers see the old file or the new one, never a
 * half-written one, even after a crash or a power loss. The Python twin is `spatial_common.atomic`.
 *
 * A write goes to a temporary name in the same folder, is fsynced, renamed over the target (atomic on
 * POSIX and Windows), and the folder is fsynced so that the rename itself is durable (skipped where the
 * platform cannot sync folders).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Errors from fsync on a folder where the platform does not support it (Windows, some filesystems). */
const DIR_SYNC_UNSUPPORTED = new Set(['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'EBADF', 'ENOTSUP']);

/** Write the whole buffer (writeSync may write less than asked). */
export function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/** fsync a folder so that renames and creations in it survive a crash; a no-op where unsupported. */
export function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch (e) {
    if (DIR_SYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) return;
    throw e;
  }
  try {
    fsyncSync(fd);
  } catch (e) {
    if (!DIR_SYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    closeSync(fd);
  }
}

/** fsync an open file descriptor on the thread pool, off the event loop. */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((res, rej) => fsync(fd, (err) => (err ? rej(err) : res())));
}

/** fsync a file ('r+') or a folder ('r') by path, asynchronously; a folder that cannot be synced is skipped. */
export async function fsyncPath(path: string, flags: 'r' | 'r+'): Promise<void> {
  let h;
  try {
    h = await open(path, flags);
  } catch (e) {
    if (flags === 'r' && DIR_SYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) return;
    throw e;
  }
  try {
    await h.sync();
  } catch (e) {
    if (!(flags === 'r' && DIR_SYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? ''))) throw e;
  } finally {
    await h.close();
  }
}

export interface AtomicWriteOptions {
  /** Permission bits of the file (default 0o644; 0o600 for files only the user may read). */
  mode?: number;
}

/**
 * Write `data` to `path` atomically and durably (temp file, fsync, rename, folder fsync).
 * @throws the filesystem error (missing folder, no permission); no temporary file is left behind.
 */
export function writeFileAtomic(path: string, data: string | Buffer, options: AtomicWriteOptions = {}): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(tmp, 'w', options.mode ?? 0o644);
    try {
      writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}

/**
 * Write `value` as pretty JSON (two-space indent, trailing newline) to `path`, atomically and durably.
 * @throws TypeError for values JSON cannot hold (nothing is written), or the filesystem error.
 */
export function writeJsonAtomic(path: string, value: unknown, options: AtomicWriteOptions = {}): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, options);
}
