/**
 * The browser-mode transport of the workbench contract (`spatialclaw serve`): one node:http server that
 * serves the built renderer and the whole METHODS table, plus a WebSocket for host events.
 *
 * - `GET /…`: static files of the renderer (`out/renderer`), no token needed (they hold no data),
 *   strict CSP, `nosniff`, no directory listing, traversal-safe (symlinks resolved and re-checked).
 * - `POST /api/call/<method>`: JSON args validated with `METHODS[method].args`; JSON result, or
 *   `application/octet-stream` bytes for binary methods. Errors: `{error, fix, method}` with 4xx/5xx.
 * - WebSocket `/api/events`: the first message must be `{"type":"auth","token":"…"}` within 5 s (else
 *   close code 4401); the server answers `{"type":"authenticated"}` and then sends every HostEvent as a
 *   JSON text frame. Heartbeat pings; TCP_NODELAY.
 *
 * Security (docs/security.md): a bearer token on every /api route (constant-time comparison); an
 * `Origin` that is not the server's own → 403; a `Host` that is not a loopback name (or the configured
 * host) with the server's port → 421 (DNS rebinding); CORS is never granted. Binds 127.0.0.1 by default.
 * Generic over METHODS: no per-method code here (see `transport.ts`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import { type AddressInfo, isIP, type Socket } from 'node:net';
import { extname, join, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { HostEvent, WorkbenchHandlers } from '../../../shared/workbench.ts';
import { contentSecurityPolicy, dispatch, type HostFailure } from './transport.ts';

export { contentSecurityPolicy };

/** Close code sent when the events socket is not authenticated (missing, late or wrong token). */
export const WS_AUTH_FAILED = 4401;

const DEFAULT_BODY_CAP = 4 * 1024 * 1024;
/**
 * Bytes of an over-cap body still read (and discarded) before the 413 is sent; beyond, the 413 is sent at once,
 * the server's side of the connection is closed, and the connection is cut {@link LINGER_MS} later.
 */
const DRAIN_LIMIT = 64 * 1024 * 1024;
/**
 * Milliseconds a connection stays open (the rest of the body read and discarded) after the 413 for a body too
 * large to drain: long enough for the client to read the 413 rather than a reset.
 */
const LINGER_MS = 2000;
/** A client that falls this far behind on events is disconnected (it reconnects and re-reads state). */
const MAX_WS_BUFFERED = 16 * 1024 * 1024;

export interface WorkbenchServerOptions {
  /** The host side of the contract (WorkbenchHost.handlers); called with validated args. */
  handlers: WorkbenchHandlers;
  /** Subscribe to host events (WorkbenchHost.onEvent); returns the unsubscribe function. */
  onEvent?: (listener: (e: HostEvent) => void) => () => void;
  /** Address to bind. Default 127.0.0.1; anything not loopback prints a warning. */
  host?: string;
  /** Port; 0 (default) picks a free one. */
  port?: number;
  /** Bearer token; default: 32 random bytes as hex. */
  token?: string;
  /** Folder of the built renderer (`out/renderer`); null serves no static files. */
  staticDir: string | null;
  /** Request body cap in bytes (default 4 MiB); larger bodies get 413. */
  maxBodyBytes?: number;
  /** Time a new events socket has to authenticate, ms (default 5000). */
  authTimeoutMs?: number;
  /** Heartbeat ping interval, ms (default 30000); a socket silent for a whole interval is dropped. */
  heartbeatMs?: number;
  /** Where warnings and internal errors go (default console.error). Never receives the token. */
  log?: (line: string) => void;
}

export interface WorkbenchServer {
  /** `http://127.0.0.1:PORT` (no token: it travels in the page URL's fragment, never to the server). */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly token: string;
  /** Authenticated event sockets now open. */
  readonly eventClients: number;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** `host` as it appears in a URL authority (IPv6 in brackets). */
function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host.toLowerCase();
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

const COMMON_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const data = JSON.stringify(body === undefined ? null : body);
  res.writeHead(status, {
    ...COMMON_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(data),
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(data);
}

function sendFailure(res: ServerResponse, f: HostFailure, extra: Record<string, string> = {}): void {
  sendJson(res, f.status, f.body, extra);
}

function fail(status: number, error: string, fix: string | null, method = ''): HostFailure {
  return { status, body: { error, fix, method } };
}

/**
 * Read a request body up to `cap` bytes. Over the cap: drain the rest and report 413; past DRAIN_LIMIT more,
 * report 413 at once (`cut`) while the rest is still discarded as it comes (the request stream is not destroyed:
 * that would destroy the socket before the 413 could be sent).
 * @throws Error when the request stream fails or closes before its end (the client went away).
 */
function readBody(req: IncomingMessage, cap: number): Promise<{ ok: true; body: Buffer } | { ok: false; failure: HostFailure; cut: boolean }> {
  const tooBig = (): HostFailure =>
    fail(413, `the request body is larger than ${cap} bytes`, 'send smaller arguments (large data goes through files on the host, not the request)');
  const declared = Number(req.headers['content-length'] ?? NaN);
  const chunks: Buffer[] = [];
  let size = 0;
  let over = Number.isFinite(declared) && declared > cap;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      req.off('end', onEnd).off('error', onError).off('close', onClose);
      return true;
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > cap) over = true;
      if (!over) chunks.push(chunk);
      else if (size > cap + DRAIN_LIMIT && settle()) resolve({ ok: false, failure: tooBig(), cut: true });
    };
    const onEnd = (): void => {
      if (settle()) resolve(over ? { ok: false, failure: tooBig(), cut: false } : { ok: true, body: Buffer.concat(chunks) });
    };
    const onError = (e: Error): void => {
      if (settle()) reject(e);
    };
    const onClose = (): void => {
      if (settle()) reject(new Error(`the client closed the connection after ${size} bytes of the request body`));
    };
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/**
 * Start the workbench HTTP + WebSocket server. Resolves once it listens.
 * @throws Error if the port is taken or the address cannot be bound (message says which and how to fix).
 */
export async function startWorkbenchServer(opts: WorkbenchServerOptions): Promise<WorkbenchServer> {
  const bindHost = opts.host ?? '127.0.0.1';
  const token = opts.token ?? randomBytes(32).toString('hex');
  const tokenDigest = digest(token);
  const cap = opts.maxBodyBytes ?? DEFAULT_BODY_CAP;
  const log = opts.log ?? ((l: string) => console.error(l));
  const staticRoot = opts.staticDir ? await realpath(opts.staticDir).catch(() => null) : null;
  if (opts.staticDir && !staticRoot) log(`workbench: the renderer folder ${opts.staticDir} does not exist; only /api is served (fix: npm run build)`);
  let port = 0;

  if (!isLoopback(bindHost)) {
    log(
      `workbench: WARNING: binding ${bindHost}, not 127.0.0.1: the workbench is reachable from other machines. ` +
        'Anyone who gets the token can run code on this host through it. Prefer an SSH tunnel to a 127.0.0.1 server.',
    );
  }

  const tokenOk = (presented: string | undefined): boolean => typeof presented === 'string' && timingSafeEqual(digest(presented), tokenDigest);

  /** The request's Host, checked against the names this server answers to (DNS-rebinding defence). */
  const checkHost = (req: IncomingMessage): URL | null => {
    const raw = req.headers.host;
    if (!raw) return null;
    let u: URL;
    try {
      u = new URL(`http://${raw}`);
    } catch {
      return null;
    }
    if (u.username || u.password || u.pathname !== '/' || u.search || u.hash) return null;
    if ((u.port || '80') !== String(port)) return null;
    const name = u.hostname.toLowerCase();
    if (LOOPBACK_NAMES.has(name) || name === urlHost(bindHost)) return u;
    // Bound to every interface: any IP literal is fine (rebinding needs a DNS name), names are not.
    if (isWildcard(bindHost) && isIP(name.replace(/^\[|\]$/g, ''))) return u;
    return null;
  };

  /** Origin must be absent (same-origin GETs, non-browser clients) or exactly this server's origin. */
  const originOk = (req: IncomingMessage, self: URL): boolean => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    try {
      return new URL(origin).origin === self.origin;
    } catch {
      return false;
    }
  };

  const guard = (req: IncomingMessage): HostFailure | URL => {
    const self = checkHost(req);
    if (!self) {
      return fail(421, `this server does not answer to Host ${JSON.stringify(String(req.headers.host ?? '').slice(0, 100))}`, `open it as http://127.0.0.1:${port}/ (the URL printed by spatialclaw serve)`);
    }
    if (!originOk(req, self)) {
      return fail(403, 'cross-origin requests are refused', `open the workbench at ${self.origin}/ itself; other pages cannot call its API`);
    }
    return self;
  };

  const serveStatic = async (req: IncomingMessage, res: ServerResponse, self: URL): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendFailure(res, fail(405, `${req.method} is not allowed here`, 'use GET'), { Allow: 'GET, HEAD' });
    if (!staticRoot) return sendFailure(res, fail(404, 'the renderer is not built, so there is no page to serve', 'run `npm run build`, then restart `spatialclaw serve`'));
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return sendFailure(res, fail(400, 'malformed URL', null));
    }
    const segments = pathname.split('/').filter(Boolean);
    if (segments.length === 0) segments.push('index.html');
    const notFound = (): void => sendFailure(res, fail(404, `no such file: ${pathname.slice(0, 200)}`, null));
    if (segments.some((s) => s.startsWith('.') || s.includes('\\') || s.includes('\0'))) return notFound();
    let file: string;
    try {
      file = await realpath(join(staticRoot, ...segments));
    } catch {
      return notFound();
    }
    if (!file.startsWith(staticRoot + sep)) return notFound();
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) return notFound(); // directories are never listed
    const type = MIME[extname(file).toLowerCase()] ?? 'application/octet-stream';
    const headers: Record<string, string | number> = {
      ...COMMON_HEADERS,
      'Content-Type': type,
      'Content-Length': st.size,
      'Cache-Control': 'no-cache',
      'Content-Security-Policy': contentSecurityPolicy([`ws://${self.host}`]),
      'Cross-Origin-Opener-Policy': 'same-origin',
    };
    res.writeHead(200, headers);
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };

  const serveApi = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const auth = req.headers.authorization;
    const presented = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (!tokenOk(presented)) {
      return sendFailure(
        res,
        fail(401, 'missing or wrong workbench token', 'open the URL printed by `spatialclaw serve` (the token is in its #token= part); API clients send it as `Authorization: Bearer <token>`'),
        { 'WWW-Authenticate': 'Bearer realm="spatialclaw"' },
      );
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const m = /^\/api\/call\/([^/]+)$/.exec(path);
    if (!m) return sendFailure(res, fail(404, `no API route ${path.slice(0, 200)}`, 'calls are POST /api/call/<method>; events are the WebSocket /api/events'));
    let method: string;
    try {
      method = decodeURIComponent(m[1]!);
    } catch {
      method = m[1]!;
    }
    if (req.method !== 'POST') return sendFailure(res, fail(405, `${req.method} is not allowed on /api/call`, 'use POST with a JSON body', method), { Allow: 'POST' });
    // Kept before reading: node lets go of `req.socket` (null) once the request is destroyed.
    const socket = req.socket;
    const read = await readBody(req, cap);
    if (!read.ok) {
      log(`workbench: refused POST /api/call/${JSON.stringify(method.slice(0, 100))} with 413: ${read.failure.body.error}` +
        (read.cut ? ` (more than ${DRAIN_LIMIT / 1024 / 1024} MiB over it: answered at once, the connection closed)` : ''));
      // A lingering close for a body too large to drain: the 413 says `Connection: close`, upon which node ends
      // the socket at once (`destroySoon`); closing it with the client still sending would make the client read
      // a reset (EPIPE/ECONNRESET) instead of the 413. So the rest is still discarded as it comes, and the
      // connection is cut LINGER_MS after our side has ended.
      if (read.cut) {
        socket.destroySoon = () => {
          socket.end();
          setTimeout(() => socket.destroy(), LINGER_MS).unref();
        };
      }
      sendFailure(res, read.failure, { Connection: 'close' });
      return;
    }
    let raw: unknown = {};
    if (read.body.length) {
      const ctype = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (ctype !== 'application/json') {
        return sendFailure(res, fail(415, `the request body must be JSON, got Content-Type ${JSON.stringify(ctype || '(none)')}`, 'send Content-Type: application/json', method));
      }
      try {
        raw = JSON.parse(read.body.toString('utf8'));
      } catch (e) {
        return sendFailure(res, fail(400, `the request body is not valid JSON: ${(e as Error).message}`, 'send the arguments as one JSON object', method));
      }
    }
    const r = await dispatch(opts.handlers, method, raw, log);
    if (!r.ok) return sendFailure(res, r.failure);
    if (r.value instanceof Uint8Array) {
      const buf = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'application/octet-stream', 'Content-Length': buf.length, 'Cache-Control': 'no-store' });
      res.end(buf);
      return;
    }
    sendJson(res, 200, r.value);
  };

  const server: Server = createServer((req, res) => {
    const g = guard(req);
    if (!(g instanceof URL)) {
      // Drain nothing: refuse and close.
      sendFailure(res, g, { Connection: 'close' });
      return;
    }
    const isApi = (req.url ?? '/').startsWith('/api/') || req.url === '/api';
    const work = isApi ? serveApi(req, res) : serveStatic(req, res, g);
    work.catch((e: unknown) => {
      log(`workbench: request failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      if (!res.headersSent) sendFailure(res, fail(500, 'internal server error', 'see the serve console'));
      else res.destroy();
    });
  });

  // --- events socket -------------------------------------------------------------------------------
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const clients = new Set<WebSocket>();
  const alive = new WeakMap<WebSocket, boolean>();

  const refuseUpgrade = (socket: Duplex, f: HostFailure): void => {
    const body = JSON.stringify(f.body);
    socket.end(
      `HTTP/1.1 ${f.status} ${STATUS_CODES[f.status] ?? ''}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const g = guard(req);
    if (!(g instanceof URL)) return refuseUpgrade(socket, g);
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/api/events') return refuseUpgrade(socket, fail(404, 'the only WebSocket is /api/events', null));
    wss.handleUpgrade(req, socket, head, (ws) => {
      (req.socket as Socket).setNoDelay(true);
      alive.set(ws, true);
      let authed = false;
      const timer = setTimeout(() => ws.close(WS_AUTH_FAILED, 'authenticate first: send {"type":"auth","token":...} within 5 s'), opts.authTimeoutMs ?? 5000);
      ws.on('pong', () => alive.set(ws, true));
      ws.on('error', () => undefined);
      ws.on('close', () => {
        clearTimeout(timer);
        clients.delete(ws);
      });
      ws.on('message', (data, isBinary) => {
        alive.set(ws, true);
        if (authed) return; // after authentication the socket is one-way
        clearTimeout(timer);
        let msg: unknown = null;
        try {
          msg = isBinary ? null : JSON.parse(String(data));
        } catch {
          /* not JSON */
        }
        const m = msg as { type?: unknown; token?: unknown } | null;
        if (!m || m.type !== 'auth' || typeof m.token !== 'string' || !tokenOk(m.token)) {
          ws.close(WS_AUTH_FAILED, 'missing or wrong workbench token');
          return;
        }
        authed = true;
        clients.add(ws);
        ws.send(JSON.stringify({ type: 'authenticated' }));
      });
    });
  });

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, opts.heartbeatMs ?? 30_000);
  heartbeat.unref();

  const unsubscribe = opts.onEvent?.((e) => {
    const data = JSON.stringify(e);
    for (const ws of clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount > MAX_WS_BUFFERED) {
        ws.close(1013, 'too far behind on events: reconnect');
        continue;
      }
      ws.send(data);
    }
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      clearInterval(heartbeat);
      unsubscribe?.();
      if (e.code === 'EADDRINUSE') reject(new Error(`port ${opts.port} on ${bindHost} is already in use (fix: pick another with --port, or --port 0 for a free one)`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES') reject(new Error(`cannot bind ${bindHost}:${opts.port ?? 0}: ${e.code} (fix: use --host 127.0.0.1, and a port above 1023)`));
      else reject(e);
    };
    server.once('error', onError);
    server.listen(opts.port ?? 0, bindHost, () => {
      server.off('error', onError);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const publicHost = isWildcard(bindHost) ? '127.0.0.1' : urlHost(bindHost);

  let closed: Promise<void> | null = null;
  return {
    url: `http://${publicHost}:${port}`,
    port,
    host: bindHost,
    token,
    get eventClients() {
      return clients.size;
    },
    close() {
      closed ??= (async () => {
        clearInterval(heartbeat);
        unsubscribe?.();
        for (const ws of wss.clients) ws.close(1001, 'the workbench server is shutting down');
        // Give the close handshakes a moment, then cut whatever is left.
        await new Promise<void>((r) => setTimeout(r, wss.clients.size ? 200 : 0));
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((r) => wss.close(() => r()));
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), 1000).unref();
        });
      })();
      return closed;
    },
  };
}
