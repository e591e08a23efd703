/**
 * The perception servers this user has registered: `<data dir>/perception-servers.json`.
 * Only names, URLs, the NAME of the environment variable holding each token, and the pid of detached
 * local servers are stored: never a token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { secretFrom } from '../config/env.ts';
import { writeJsonAtomic } from '../fs/atomic.ts';
import { dataDir } from '../paths.ts';
import { PerceptionServer, PerceptionServerError } from './server.ts';

export const RegisteredServerSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, _ . -'),
  url: z.string().url(),
  /** Environment variable that holds the bearer token. */
  tokenEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
  /** Process id of a detached local server started by `spatialclaw perception start --detach`. */
  pid: z.number().int().positive().optional(),
  backends: z.array(z.string()).optional(),
});
export type RegisteredServer = z.infer<typeof RegisteredServerSchema>;

const FileSchema = z.object({ servers: z.array(RegisteredServerSchema) });

export function registryPath(): string {
  return join(dataDir(), 'perception-servers.json');
}

/** @throws PerceptionServerError naming the file when it is not valid. */
export function loadRegistry(): RegisteredServer[] {
  const p = registryPath();
  if (!existsSync(p)) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    throw new PerceptionServerError(`${p} is not valid JSON; fix or delete it`);
  }
  const parsed = FileSchema.safeParse(raw);
  if (!parsed.success) throw new PerceptionServerError(`${p} is malformed (${parsed.error.issues[0]?.message}); fix or delete it`);
  return parsed.data.servers;
}

/** Validate and write the registry atomically (mode 0600). @throws ZodError for an invalid entry. */
export function saveRegistry(servers: RegisteredServer[]): void {
  const checked = FileSchema.parse({ servers });
  writeJsonAtomic(registryPath(), checked, { mode: 0o600 });
}

/** Add or replace the entry called `entry.name`. */
export function register(entry: RegisteredServer): void {
  const servers = loadRegistry().filter((s) => s.name !== entry.name);
  saveRegistry([...servers, RegisteredServerSchema.parse(entry)]);
}

export function unregister(name: string): RegisteredServer | undefined {
  const servers = loadRegistry();
  const found = servers.find((s) => s.name === name);
  saveRegistry(servers.filter((s) => s.name !== name));
  return found;
}

/**
 * Connect to a registered server, reading its token from the environment.
 * @throws PerceptionServerError naming the variable to set, or the connection problem.
 */
export async function connectRegistered(entry: RegisteredServer): Promise<PerceptionServer> {
  const token = secretFrom(entry.tokenEnv);
  if (!token) throw new PerceptionServerError(`perception server ${entry.name}: set ${entry.tokenEnv} to its token (export ${entry.tokenEnv}=...)`);
  return PerceptionServer.connect(entry.url, token, entry.name);
}
