/**
 * The HTTP transport of the workbench contract (client side): a {@link WorkbenchApi} that talks to
 * `spatialclaw serve` (electron/services/workbench/http.ts). Generic over METHODS: every method of
 * shared/workbench.ts works without per-method code.
 *
 * Runs in the browser (the renderer in browser mode) and in Node 20 (global fetch; pass `ws`'s
 * WebSocket class, since Node 20 has no global WebSocket).
 */
import { WorkbenchError, type WorkbenchApi } from './api.ts';
import { HostErrorSchema, HostEventSchema, isBinaryMethod, METHODS, type HostEvent, type MethodArgs, type MethodName, type MethodResult } from './workbench.ts';

/** The part of the WebSocket API the client uses (browser WebSocket and `ws` both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: unknown;
  onmessage: unknown;
  onclose: unknown;
  onerror: unknown;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

export interface HttpApiOptions {
  /** The server's origin, e.g. `http://127.0.0.1:8765` (in the browser: `location.origin`). */
  baseUrl: string;
  /** The bearer token (the `#token=` fragment of the URL `spatialclaw serve` prints). */
  token: string;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Default: the global WebSocket (browsers, Node >= 22). In Node 20 pass `ws`'s `WebSocket`. */
  WebSocket?: WebSocketCtor;
  /** Reconnect backoff of the events socket, ms: first delay and ceiling (default 250 and 10000). */
  reconnect?: { initialMs?: number; maxMs?: number };
}

/** The HTTP transport's API: the contract plus `close()` (stops the events socket for good). */
export interface HttpWorkbenchApi extends WorkbenchApi {
  readonly transport: 'http';
  /** Whether the events socket is open and authenticated now. */
  readonly eventsConnected: boolean;
  close(): void;
}

/** Close code of the server when the events socket's token is missing or wrong (no reconnect then). */
const WS_AUTH_FAILED = 4401;

const NETWORK_FIX = 'is `spatialclaw serve` still running? Start it again and open the URL it prints';

/**
 * Create the HTTP transport.
 * - `call(m, args)`: `POST <baseUrl>/api/call/<m>` with `Authorization: Bearer <token>` and the JSON
 *   args; JSON results are parsed with `METHODS[m].result`, binary results resolve to a `Uint8Array`.
 *   Failures reject with {@link WorkbenchError}(message, fix, method, HTTP status or null when the host
 *   was unreachable).
 * - `subscribe(listener)`: one shared WebSocket to `/api/events` (opened on the first subscriber,
 *   closed after the last), authenticated with `{"type":"auth","token"}`, reconnected with exponential
 *   backoff; events are parsed with `HostEventSchema` (invalid ones are dropped with a console warning).
 * - `pickPaths()`: resolves null (no native dialog in a browser; the UI uses `listDir`).
 */
export function createHttpApi(opts: HttpApiOptions): HttpWorkbenchApi {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const doFetch: typeof fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const WS: WebSocketCtor | undefined = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
  const initialMs = opts.reconnect?.initialMs ?? 250;
  const maxMs = opts.reconnect?.maxMs ?? 10_000;

  // ---- events ------------------------------------------------------------------------------------
  const listeners = new Set<(e: HostEvent) => void>();
  let socket: WebSocketLike | null = null;
  let authenticated = false;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let attempt = 0;
  let closed = false;

  const wsUrl = `${base.replace(/^http/, 'ws')}/api/events`;

  const deliver = (raw: unknown): void => {
    let msg: unknown;
    try {
      msg = JSON.parse(typeof raw === 'string' ? raw : String(raw));
    } catch {
      console.warn('workbench events: dropped a frame that is not JSON');
      return;
    }
    if ((msg as { type?: unknown } | null)?.type === 'authenticated') {
      authenticated = true;
      attempt = 0;
      return;
    }
    const parsed = HostEventSchema.safeParse(msg);
    if (!parsed.success) {
      console.warn(`workbench events: dropped an event that does not match HostEventSchema: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ')}`);
      return;
    }
    for (const l of [...listeners]) {
      try {
        l(parsed.data);
      } catch (e) {
        console.error('workbench events: a listener threw', e);
      }
    }
  };

  const connect = (): void => {
    if (closed || socket || listeners.size === 0) return;
    if (!WS) {
      console.warn('workbench events: no WebSocket implementation (pass `WebSocket` to createHttpApi); live events are off');
      return;
    }
    const ws = new WS(wsUrl);
    socket = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: opts.token }));
    ws.onmessage = (ev: { data: unknown }) => deliver(ev.data);
    ws.onerror = () => undefined; // the close event follows and schedules the reconnect
    ws.onclose = (ev: { code: number; reason: string }) => {
      if (socket === ws) socket = null;
      authenticated = false;
      if (ev.code === WS_AUTH_FAILED) {
        console.error(`workbench events: the server refused the token (${ev.reason}); open the URL printed by \`spatialclaw serve\` again`);
        return;
      }
      scheduleReconnect();
    };
  };

  const scheduleReconnect = (): void => {
    if (closed || retryTimer || listeners.size === 0) return;
    const delay = Math.min(maxMs, initialMs * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    attempt = Math.min(attempt + 1, 30);
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect();
    }, delay);
  };

  const disconnect = (): void => {
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = null;
    const ws = socket;
    socket = null;
    authenticated = false;
    attempt = 0;
    ws?.close(1000, 'unsubscribed');
  };

  // ---- calls -------------------------------------------------------------------------------------
  async function call<M extends MethodName>(method: M, args: MethodArgs<M>): Promise<MethodResult<M>> {
    let res: Response;
    try {
      res = await doFetch(`${base}/api/call/${encodeURIComponent(method)}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${opts.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(args ?? {}),
      });
    } catch (e) {
      throw new WorkbenchError(`cannot reach the SpatialClaw host at ${base}: ${e instanceof Error ? e.message : String(e)}`, NETWORK_FIX, method, null);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      const he = HostErrorSchema.safeParse(body);
      if (he.success) throw new WorkbenchError(he.data.error, he.data.fix ?? null, method, res.status);
      throw new WorkbenchError(`${method} failed: HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`, res.status >= 500 ? NETWORK_FIX : null, method, res.status);
    }
    if (isBinaryMethod(method)) return new Uint8Array(await res.arrayBuffer()) as MethodResult<M>;
    let value: unknown;
    try {
      value = await res.json();
    } catch (e) {
      throw new WorkbenchError(`the host's reply to ${method} is not JSON: ${e instanceof Error ? e.message : String(e)}`, 'reload the page; the host and the page may be from different versions', method, res.status);
    }
    const schema = METHODS[method].result;
    if (typeof schema === 'string') return value as MethodResult<M>; // unreachable: binary handled above
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new WorkbenchError(
        `the host's reply to ${method} does not match the contract: ${parsed.error.issues
          .slice(0, 5)
          .map((i) => `${i.path.join('.') || '(result)'}: ${i.message}`)
          .join('; ')}`,
        'the page and the host are from different versions: reload the page, and rebuild (npm run build) if it persists',
        method,
        res.status,
      );
    }
    return parsed.data as MethodResult<M>;
  }

  return {
    transport: 'http',
    call,
    subscribe(listener) {
      listeners.add(listener);
      connect();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) disconnect();
      };
    },
    pickPaths: async () => null,
    get eventsConnected() {
      return authenticated;
    },
    close() {
      closed = true;
      listeners.clear();
      disconnect();
    },
  };
}

/**
 * The token from a page URL's fragment (`#token=<hex>`, as printed by `spatialclaw serve`), or null.
 * The fragment is never sent to the server, so the token stays out of request lines and logs.
 */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const t = params.get('token');
  return t && /^[A-Za-z0-9_-]{16,256}$/.test(t) ? t : null;
}

/**
 * Browser mode: the HTTP transport for the page's own server, if its URL carries a token
 * (`location.origin` + `#token=`); null otherwise (e.g. a plain static preview).
 */
export function httpApiFromLocation(loc: { origin: string; hash: string }, extra: Omit<HttpApiOptions, 'baseUrl' | 'token'> = {}): HttpWorkbenchApi | null {
  const token = tokenFromHash(loc.hash);
  if (!token || !/^https?:\/\//.test(loc.origin)) return null;
  return createHttpApi({ ...extra, baseUrl: loc.origin, token });
}
