/**
 * The registry of cluster-hosted servers on the shared filesystem (issue 16, docs/cluster.md):
 *
 *   <cluster dir>/servers/<id>.json   ClusterServer (shared/cluster.ts): URL, job, host, backends; never a token
 *   <cluster dir>/tokens/<id>.token    the server's bearer token, mode 0600 in a 0700 folder (readable by the user only)
 *   <cluster dir>/jobs/                generated sbatch scripts of server jobs and their SLURM logs
 *
 * The cluster dir is $SPATIALCLAW_CLUSTER_DIR, else `<data dir>/cluster`; on a real cluster it must be on a
 * filesystem every node sees (the home directory usually is). Each entry is one file written atomically
 * (temp file + rename), so nodes never write one file at once.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ClusterServer, ClusterServerSchema } from '../../../shared/cluster.ts';
import { env } from '../config/env.ts';
import { writeJsonAtomic } from '../fs/atomic.ts';
import { dataDir } from '../paths.ts';

/** The cluster folder (made if missing). */
export function clusterDir(): string {
  const dir = env('clusterDir') ?? join(dataDir(), 'cluster');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** `<cluster dir>/servers` (made if missing). */
export function serversDir(root: string = clusterDir()): string {
  const d = join(root, 'servers');
  mkdirSync(d, { recursive: true });
  return d;
}

/** `<cluster dir>/jobs` (made if missing): the generated sbatch scripts of server jobs and their SLURM logs. */
export function jobsDir(root: string = clusterDir()): string {
  const d = join(root, 'jobs');
  mkdirSync(d, { recursive: true });
  return d;
}

/** `<cluster dir>/tokens`, mode 0700 (made if missing). */
export function tokensDir(root: string = clusterDir()): string {
  const d = join(root, 'tokens');
  mkdirSync(d, { recursive: true, mode: 0o700 });
  chmodSync(d, 0o700);
  return d;
}

/** Write a server's token to `<cluster dir>/tokens/<id>.token` with mode 0600; returns the path. */
export function writeTokenFile(id: string, token: string, root: string = clusterDir()): string {
  const p = join(tokensDir(root), `${id}.token`);
  rmSync(p, { force: true });
  writeFileSync(p, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return p;
}

/** The token of a registered server (its token file, else its token env var), or undefined. */
export function serverToken(s: ClusterServer): string | undefined {
  if (s.token_file && existsSync(s.token_file)) {
    const t = readFileSync(s.token_file, 'utf8').trim();
    if (t) return t;
  }
  if (s.token_env) {
    const v = process.env[s.token_env];
    if (v) return v;
  }
  return undefined;
}

/** Register (or replace) a server: one JSON file, written atomically. @throws ZodError for an invalid entry. */
export function registerServer(entry: ClusterServer, root: string = clusterDir()): string {
  const checked = ClusterServerSchema.parse(entry);
  const p = join(serversDir(root), `${checked.id}.json`);
  writeJsonAtomic(p, checked);
  return p;
}

/** Remove a server's entry and token file; returns whether an entry was there. */
export function deregisterServer(id: string, root: string = clusterDir()): boolean {
  const p = join(serversDir(root), `${id}.json`);
  const had = existsSync(p);
  rmSync(p, { force: true });
  rmSync(join(tokensDir(root), `${id}.token`), { force: true });
  return had;
}

/** Every registered server, optionally of one kind; unreadable entries are reported in `problems`, not thrown. */
export function listClusterServers(kind?: ClusterServer['kind'], root: string = clusterDir()): { servers: ClusterServer[]; problems: string[] } {
  const dir = serversDir(root);
  const servers: ClusterServer[] = [];
  const problems: string[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.json')) continue;
    const p = join(dir, f);
    try {
      const s = ClusterServerSchema.parse(JSON.parse(readFileSync(p, 'utf8')));
      if (!kind || s.kind === kind) servers.push(s);
    } catch (e) {
      problems.push(`${p}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)} (delete it if its job is gone)`);
    }
  }
  return { servers, problems };
}
