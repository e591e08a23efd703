/**
 * `spatialclaw perception start|add|status|stop|remove`: run and manage perception servers. `start --slurm` submits
 * a SLURM job instead (./cluster-servers.ts).
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { env, ENV } from '../services/config/env.ts';
import { connectRegistered, loadRegistry, register, registryPath, unregister } from '../services/perception/registry.ts';
import { PerceptionServer } from '../services/perception/server.ts';
import { type SlurmFlags, submitServerCommand } from './cluster-servers.ts';

const TOKEN_ENV = ENV.perceptionToken;

export interface StartOptions extends SlurmFlags {
  backends: string;
  /** Submit a SLURM job that runs the server and registers it on the cluster (docs/cluster.md). */
  slurm?: boolean;
  port?: number;
  detach?: boolean;
  name: string;
  oracleRoot?: string;
  sam3Checkpoint?: string;
  da3Checkpoint?: string;
  monoCheckpoint?: string;
}

export async function perceptionStart(o: StartOptions): Promise<number> {
  if (o.slurm) {
    if (o.detach || o.port !== undefined) throw new Error('--slurm starts the server in a SLURM job on a free port of its node: leave out --detach and --port');
    return submitServerCommand({
      kind: 'perception',
      backends: o.backends.split(',').map((b) => b.trim()).filter(Boolean),
      backendArgs: [
        ...(o.oracleRoot ? ['--oracle-root', resolve(o.oracleRoot)] : []),
        ...(o.sam3Checkpoint ? ['--sam3-checkpoint', resolve(o.sam3Checkpoint)] : []),
        ...(o.da3Checkpoint ? ['--da3-checkpoint', resolve(o.da3Checkpoint)] : []),
        ...(o.monoCheckpoint ? ['--mono-checkpoint', resolve(o.monoCheckpoint)] : []),
      ],
      partition: o.partition, time: o.time, gpus: o.gpus, sbatchArgs: o.sbatchArg ?? [],
    }, o);
  }
  const fromEnv = env('perceptionToken');
  const generated = !fromEnv;
  const token = fromEnv ?? randomBytes(24).toString('hex');
  const extraArgs = [
    ...(o.oracleRoot ? ['--oracle-root', o.oracleRoot] : []),
    ...(o.sam3Checkpoint ? ['--sam3-checkpoint', o.sam3Checkpoint] : []),
    ...(o.da3Checkpoint ? ['--da3-checkpoint', o.da3Checkpoint] : []),
    ...(o.monoCheckpoint ? ['--mono-checkpoint', o.monoCheckpoint] : []),
  ];
  const server = await PerceptionServer.startLocal({
    backends: o.backends.split(',').map((b) => b.trim()).filter(Boolean),
    token,
    extraArgs,
    detached: o.detach ?? false,
    ...(o.port !== undefined ? { port: o.port } : {}),
  });
  const h = await server.health();
  console.log(`perception server ${o.name} ready at ${server.url}`);
  for (const b of h.backends) console.log(`  ${b.available ? 'OK     ' : 'missing'}  ${b.name} (${b.device})${b.reason ? `: ${b.reason}` : ''}`);
  if (generated) {
    console.log(`token (not stored anywhere; clients read it from ${TOKEN_ENV}):`);
    console.log(`  export ${TOKEN_ENV}=${token}`);
  }
  if (o.detach) {
    register({ name: o.name, url: server.url, tokenEnv: TOKEN_ENV, pid: server.pid!, backends: h.backends.map((b) => b.name) });
    console.log(`running in the background (pid ${server.pid}); registered as ${o.name} in ${registryPath()}`);
    console.log(`stop it with: spatialclaw perception stop ${o.name}`);
    return 0;
  }
  console.log('press Ctrl-C to stop');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await server.stop();
  return 0;
}

export async function perceptionStatus(json: boolean): Promise<number> {
  const entries = loadRegistry();
  if (entries.length === 0) {
    console.log('no perception servers registered: `spatialclaw perception start --detach` or `spatialclaw perception add NAME URL`');
    return 0;
  }
  const out: unknown[] = [];
  let bad = 0;
  for (const e of entries) {
    try {
      const s = await connectRegistered(e);
      const h = await s.health();
      out.push({ name: e.name, url: e.url, ok: true, health: h });
      if (!json) {
        const queue = Object.entries(h.queue).map(([d, n]) => `${d}: ${n}`).join(', ') || 'empty';
        console.log(`OK       ${e.name}  ${e.url}  up ${h.uptime_s.toFixed(0)} s, queue ${queue}, cache ${h.cache.entries} entries ${(h.cache.bytes / 2 ** 20).toFixed(1)} MiB (${h.cache.hits} hits / ${h.cache.misses} misses)`);
        for (const b of h.backends) console.log(`           ${b.available ? 'OK     ' : 'missing'}  ${b.name} (${b.device}) ${b.capabilities.join(' ')}${b.reason ? `: ${b.reason}` : ''}`);
      }
    } catch (err) {
      bad++;
      const msg = err instanceof Error ? err.message : String(err);
      out.push({ name: e.name, url: e.url, ok: false, error: msg });
      if (!json) console.log(`FAILED   ${e.name}  ${e.url}\n           ${msg}`);
    }
  }
  if (json) console.log(JSON.stringify(out, null, 2));
  return bad ? 1 : 0;
}

export function perceptionAdd(name: string, url: string, tokenEnv: string): number {
  register({ name, url, tokenEnv });
  console.log(`registered ${name} at ${url}; its token is read from $${tokenEnv}`);
  return 0;
}

export async function perceptionStop(name: string): Promise<number> {
  const entry = loadRegistry().find((s) => s.name === name);
  if (!entry) throw new Error(`no perception server called ${name}; \`spatialclaw perception status\` lists them`);
  if (!entry.pid) throw new Error(`${name} is a remote server (not started here); remove it with \`spatialclaw perception remove ${name}\``);
  try {
    process.kill(-entry.pid, 'SIGTERM');
    console.log(`stopped ${name} (pid ${entry.pid})`);
  } catch {
    console.log(`${name} (pid ${entry.pid}) was not running`);
  }
  unregister(name);
  return 0;
}

export function perceptionRemove(name: string): number {
  if (!unregister(name)) throw new Error(`no perception server called ${name}`);
  console.log(`removed ${name}`);
  return 0;
}
