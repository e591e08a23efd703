/**
 * Preload (sandboxed, emitted as CommonJS; may load only `electron`, everything else is bundled in).
 * Implements the WorkbenchApi (`shared/api.ts`) over IPC, generically for every method of
 * `shared/workbench.ts`:
 * - `call(m, args)` → `ipcRenderer.invoke('wb:' + m, args)`; the main process validates the args and
 *   replies `{ok, value}` or `{ok: false, error: {error, fix, method, status}}`. JSON results are
 *   parsed here with `METHODS[m].result`; binary results arrive as `Uint8Array`.
 * - `subscribe(listener)` ← `wb:event` (each event parsed with HostEventSchema; invalid ones dropped).
 * - `pickPaths(options)` → the native open dialog (`wb:pickPaths`).
 * - `onMenu(listener)` ← `wb:menu` (File > Open Video… / Open Folder…: `{action: 'open', kind, paths}`).
 *
 * The API is installed in the page's world with `contextBridge.executeInMainWorld`, as a small wrapper
 * over functions of this isolated world, so that failed calls reject with a real page-world `Error`
 * carrying `name: 'WorkbenchError'`, `fix`, `method` and `status` (errors thrown across the context
 * bridge keep only their message).
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { WorkbenchApi } from '../../shared/api.ts';
import { HostEventSchema, isBinaryMethod, METHODS, type HostEvent, type MethodName } from '../../shared/workbench.ts';
import type { IpcReply } from '../services/workbench/transport.ts';

type Failure = Extract<IpcReply, { ok: false }>['error'];
type Reply = { ok: true; value: unknown } | { ok: false; error: Omit<Failure, 'status'> & { status: number | null } };

/** A File-menu action (Electron only). */
export interface MenuAction {
  action: 'open';
  kind: 'file' | 'folder';
  paths: string[];
}

const fail = (method: string, error: string, fix: string | null, status: number | null = null): Reply => ({ ok: false, error: { error, fix, method, status } });

async function invoke(method: string, args: unknown): Promise<Reply> {
  if (!Object.prototype.hasOwnProperty.call(METHODS, method)) {
    return fail(method, `unknown workbench method ${JSON.stringify(method)}`, `use one of: ${Object.keys(METHODS).join(', ')}`, 404);
  }
  const m = method as MethodName;
  let reply: IpcReply;
  try {
    reply = (await ipcRenderer.invoke(`wb:${m}`, args)) as IpcReply;
  } catch (e) {
    return fail(m, `the workbench host did not answer ${m}: ${e instanceof Error ? e.message : String(e)}`, 'restart SpatialClaw Workbench');
  }
  if (!reply.ok) return reply;
  const spec = METHODS[m].result;
  if (isBinaryMethod(m) || typeof spec === 'string') {
    return reply.value instanceof Uint8Array ? reply : fail(m, `the host's reply to ${m} is not bytes`, 'restart SpatialClaw Workbench');
  }
  const parsed = spec.safeParse(reply.value);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(result)'}: ${i.message}`).join('; ');
  return fail(m, `the host's reply to ${m} does not match the contract: ${issues}`, 'the app is out of date with itself: rebuild it (npm run build)');
}

function onEvent(listener: (e: HostEvent) => void): () => void {
  const handler = (_: IpcRendererEvent, raw: unknown): void => {
    const parsed = HostEventSchema.safeParse(raw);
    if (parsed.success) listener(parsed.data);
    else console.warn(`workbench events: dropped an event that does not match HostEventSchema: ${parsed.error.issues[0]?.message ?? ''}`);
  };
  ipcRenderer.on('wb:event', handler);
  return () => ipcRenderer.removeListener('wb:event', handler);
}

function pickPaths(options: Parameters<WorkbenchApi['pickPaths']>[0]): Promise<string[] | null> {
  return ipcRenderer.invoke('wb:pickPaths', options) as Promise<string[] | null>;
}

function onMenu(listener: (a: MenuAction) => void): () => void {
  const handler = (_: IpcRendererEvent, a: MenuAction): void => listener(a);
  ipcRenderer.on('wb:menu', handler);
  return () => ipcRenderer.removeListener('wb:menu', handler);
}

/**
 * Runs in the page's world (serialised by Electron: it must not use anything from outside its body).
 * Defines `window.spatialclaw` (read-only) as a WorkbenchApi over the isolated-world functions.
 */
function install(call: typeof invoke, subscribe: typeof onEvent, pick: typeof pickPaths, menu: typeof onMenu): void {
  const api: WorkbenchApi & { onMenu: typeof menu } = {
    transport: 'electron',
    call: (async (method: string, args: unknown): Promise<unknown> => {
      const r = await call(method, args);
      if (r.ok) return r.value;
      const e = new Error(r.error.error) as Error & { fix: string | null; method: string; status: number | null };
      e.name = 'WorkbenchError';
      e.fix = r.error.fix;
      e.method = r.error.method;
      e.status = r.error.status;
      throw e;
    }) as WorkbenchApi['call'],
    subscribe: (listener) => subscribe(listener),
    pickPaths: (options) => pick(options),
    onMenu: (listener) => menu(listener),
  };
  Object.defineProperty(globalThis, 'spatialclaw', { value: Object.freeze(api), enumerable: true, configurable: false, writable: false });
}

contextBridge.executeInMainWorld({ func: install, args: [invoke, onEvent, pickPaths, onMenu] });
