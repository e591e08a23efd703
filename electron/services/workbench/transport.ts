/**
 * The transport-neutral half of the workbench contract's host side: argument validation and error
 * mapping, shared by the HTTP server (`http.ts`, `spatialclaw serve`) and the Electron IPC handlers
 * (`electron/main/index.ts`), so both behave identically for every method in `METHODS`.
 * Plain Node: no `electron` import.
 */
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { WorkbenchError } from '../../../shared/api.ts';
import { type HostError, isBinaryMethod, METHOD_NAMES, METHODS, type MethodName, type MethodParsedArgs, type WorkbenchHandlers } from '../../../shared/workbench.ts';

/**
 * The renderer's Content-Security-Policy, the same in Electron (response header) and browser mode.
 * `connect` lists extra `connect-src` sources, e.g. the server's own `ws://host:port` for the events socket.
 */
export function contentSecurityPolicy(connect: string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    ["connect-src 'self'", ...connect].join(' '),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * What an Electron `wb:<method>` IPC handler resolves to (it never rejects, so `fix` survives the
 * trip: thrown errors cross IPC and the context bridge as a bare message).
 */
export type IpcReply = { ok: true; value: unknown } | { ok: false; error: { error: string; fix: string | null; method: string; status: number } };

/** A failure to send back: HTTP status and the JSON body `{error, fix, method}`. */
export interface HostFailure {
  status: number;
  body: HostError & { fix: string | null; method: string };
}

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(METHODS, name);
}

/** The failure for a method name not in the table (HTTP 404), listing the known ones. */
export function unknownMethod(name: string): HostFailure {
  return {
    status: 404,
    body: {
      error: `unknown workbench method ${JSON.stringify(name.slice(0, 100))}`,
      fix: `use one of: ${METHOD_NAMES.join(', ')} (shared/workbench.ts, docs/workbench.md)`,
      method: name.slice(0, 100),
    },
  };
}

/**
 * zod issues as one readable line naming each field, e.g.
 * `run_id: a run id is a folder name under the runs root; limit: missing (expected number)`.
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 8)
    .map((i) => {
      const field = i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') : '(arguments)';
      const missing = /^Invalid input: expected (\w+), received undefined$/.exec(i.message);
      return `${field}: ${missing ? `missing (expected ${missing[1]})` : i.message}`;
    })
    .join('; ')
    .concat(issues.length > 8 ? `; and ${issues.length - 8} more` : '');
}

/** Validate raw arguments with the method's schema (defaults applied). */
export function parseMethodArgs<M extends MethodName>(method: M, raw: unknown): { ok: true; args: MethodParsedArgs<M> } | { ok: false; failure: HostFailure } {
  const r = METHODS[method].args.safeParse(raw === undefined ? {} : raw);
  if (r.success) return { ok: true, args: r.data as MethodParsedArgs<M> };
  return {
    ok: false,
    failure: {
      status: 400,
      body: {
        error: `invalid arguments for ${method}: ${formatIssues(r.error.issues)}`,
        fix: `correct the named field(s); ${method} takes ${describeArgs(method)} (docs/workbench.md)`,
        method,
      },
    },
  };
}

/** A short description of a method's argument object: its top-level field names. */
function describeArgs(method: MethodName): string {
  const schema = METHODS[method].args as unknown as { shape?: Record<string, unknown> };
  const keys = schema.shape ? Object.keys(schema.shape) : [];
  return keys.length ? `{ ${keys.join(', ')} }` : '{} (no arguments)';
}

/**
 * Map anything a handler threw to what the client sees. A {@link WorkbenchError} is a user error: its
 * message and fix go back as they are (status: its own if 4xx/5xx, else 400). Anything else is an
 * internal error: the client gets a generic message with an incident id, the full error (with stack)
 * goes to `log` on the host only.
 */
export function toHostFailure(method: string, e: unknown, log: (line: string) => void = (l) => console.error(l)): HostFailure {
  if (e instanceof WorkbenchError) {
    const status = e.status && e.status >= 400 && e.status <= 599 ? e.status : 400;
    return { status, body: { error: e.message, fix: e.fix, method } };
  }
  const incident = randomBytes(4).toString('hex');
  const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
  log(`workbench: internal error ${incident} in ${method}: ${detail}`);
  return {
    status: 500,
    body: {
      error: `${method} failed on the host with an internal error (incident ${incident})`,
      fix: `the host's console has the details under "internal error ${incident}"; retry, and report it if it persists`,
      method,
    },
  };
}

/**
 * Validate and run one call against a handler table. Returns the handler's result, or the failure to
 * send back. Used by both transports, so both behave the same for every method.
 */
export async function dispatch(
  handlers: WorkbenchHandlers,
  method: string,
  raw: unknown,
  log?: (line: string) => void,
): Promise<{ ok: true; method: MethodName; value: unknown } | { ok: false; failure: HostFailure }> {
  if (!isMethodName(method)) return { ok: false, failure: unknownMethod(method) };
  const parsed = parseMethodArgs(method, raw);
  if (!parsed.ok) return parsed;
  try {
    const handler = handlers[method] as (args: unknown) => Promise<unknown>;
    if (typeof handler !== 'function') {
      return { ok: false, failure: toHostFailure(method, new Error(`no handler for ${method}`), log) };
    }
    const value = await handler(parsed.args);
    if (isBinaryMethod(method) && !(value instanceof Uint8Array)) {
      return { ok: false, failure: toHostFailure(method, new Error(`${method} is a binary method but its handler returned ${typeof value}, not a Uint8Array`), log) };
    }
    return { ok: true, method, value };
  } catch (e) {
    return { ok: false, failure: toHostFailure(method, e, log) };
  }
}

/**
 * The Electron IPC form of {@link dispatch}: what a `wb:<method>` handler resolves to. It never
 * rejects, so the message, fix and status reach the renderer intact.
 */
export async function ipcReply(handlers: WorkbenchHandlers, method: string, raw: unknown, log?: (line: string) => void): Promise<IpcReply> {
  const r = await dispatch(handlers, method, raw, log);
  return r.ok ? { ok: true, value: r.value } : { ok: false, error: { ...r.failure.body, status: r.failure.status } };
}
