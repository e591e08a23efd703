/**
 * A scripted OpenAI-compatible chat-completions server: the only stand-in in the test suite (for the
 * model, which cannot run here). Real HTTP on 127.0.0.1 (node:http), one or more endpoints sharing
 * one script:
 *
 * - `POST /v1/chat/completions` answers with the next pre-written reply FOR THE SAMPLE the request
 *   belongs to. The sample is identified by the `X-Sample-Id` request header (URL-encoded), which
 *   ModelClient sends for every call that has a `sampleKey`; the script key is that sampleKey.
 *   Requests without the header, or with an id the script does not know, get the default script.
 *   Each sample's replies are served in order across all endpoints (so fail-over continues the
 *   script); when a sample's replies run out the last one repeats (`whenExhausted: 'error'` answers
 *   HTTP 400 instead, which ModelClient does not retry, so a test fails fast).
 * - `GET /v1/models` lists the model ids `models` (default: `model`), or answers `healthStatus` when set to an
 *   error status.
 * - Every chat request is recorded (endpoint, headers, body, sample id); endpoints can be stopped
 *   (connections refused) and started again on the same port.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted answer. A plain string is `{ content }`. */
export interface ReplySpec {
  content?: string;
  /** vLLM/SGLang/DeepSeek-style reasoning field. */
  reasoning_content?: string;
  /** Newer vLLM / Ollama reasoning field. */
  reasoning?: string;
  /** HTTP status (default 200); >= 400 sends an OpenAI-style error body. */
  status?: number;
  /** Error message for an error status. */
  error?: string;
  /** Wait this long before answering (for timeouts). */
  delayMs?: number;
  /** Send an invalid JSON body with status 200. */
  malformed?: boolean;
  /**
   * A trickling body: status 200 and its headers at once, then one space (valid leading JSON whitespace) every
   * `trickleMs` ms, never the answer, until the client hangs up (a server stuck mid-body).
   */
  trickleMs?: number;
  /** `retry-after` header value, seconds. */
  retryAfter?: number;
  /** Merged over the default usage (which is derived from the text lengths). */
  usage?: Record<string, unknown>;
  finish_reason?: string;
  /** Send exactly this body (JSON content type) with `status`, e.g. another server's error shape. */
  body?: string;
}
export type Reply = string | ReplySpec;
/** sampleId → replies, in order. */
export type Script = Record<string, Reply[]>;

export interface ScriptedServerOptions {
  script?: Script;
  /** Replies for requests with no (or an unknown) sample id. Unscripted requests get HTTP 400 when empty. */
  default?: Reply[];
  /** How many endpoints (separate servers on separate ports) share the script. Default 1. */
  endpoints?: number;
  whenExhausted?: 'repeat-last' | 'error';
  /** The model id GET /v1/models lists. */
  model?: string;
  /** The model ids GET /v1/models lists instead of `model` (e.g. several, or none). */
  models?: string[];
  /** Address to listen on (default 127.0.0.1), e.g. a cluster node's address (test/helpers/vllm-shim.ts). */
  host?: string;
  /** Port of the first endpoint (default: a free one; further endpoints always get free ones). */
  port?: number;
  /** Like vLLM's --api-key / VLLM_API_KEY: every /v1 request without `Authorization: Bearer <apiKey>` gets HTTP 401. */
  apiKey?: string;
}

export interface RecordedRequest {
  /** Index of the endpoint that received it. */
  endpoint: number;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** From the `x-sample-id` header (decoded), or null. */
  sampleId: string | null;
  /** The reply served (after resolving the script), for assertions. */
  reply: ReplySpec;
  /** Date.now() when the request's body had been read (before any `delayMs`). */
  receivedAt: number;
}

export interface ScriptedEndpoint {
  readonly index: number;
  /** Base URL including `/v1`. */
  readonly url: string;
  /** Chat requests this endpoint received. */
  readonly requests: RecordedRequest[];
  readonly healthChecks: number;
  readonly inFlight: number;
  /** Most chat requests this endpoint had open at once. */
  readonly maxInFlight: number;
  readonly up: boolean;
  /** Status GET /v1/models answers with (200 by default). */
  healthStatus: number;
  /** Stop listening and drop open connections (clients then get connection refused). */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  start(): Promise<void>;
}

export interface ScriptedModelServer {
  /** Base URL of the first endpoint (`http://127.0.0.1:PORT/v1`). */
  readonly url: string;
  readonly urls: string[];
  readonly endpoints: ScriptedEndpoint[];
  /** Every chat request on every endpoint, in arrival order. */
  readonly requests: RecordedRequest[];
  requestsFor(sampleId: string | null): RecordedRequest[];
  /** Chat requests per endpoint. */
  counts(): number[];
  close(): Promise<void>;
}
/** The original single-endpoint shape (a subset of {@link ScriptedModelServer}). */
export type ScriptedModel = ScriptedModelServer;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

const tokens = (s: string): number => Math.ceil(s.length / 4);

class Endpoint implements ScriptedEndpoint {
  readonly requests: RecordedRequest[] = [];
  healthChecks = 0;
  inFlight = 0;
  maxInFlight = 0;
  healthStatus = 200;
  private server: Server | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Trickling bodies' timers. */
  private readonly intervals = new Set<NodeJS.Timeout>();

  constructor(
    readonly index: number,
    private readonly handler: (ep: Endpoint, body: Record<string, unknown>, req: IncomingMessage) => ReplySpec,
    private readonly models: string[],
    private readonly all: RecordedRequest[],
    private readonly host = '127.0.0.1',
    private port = 0,
    private readonly apiKey: string | null = null,
  ) {}

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}/v1`;
  }
  get up(): boolean {
    return this.server !== null;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const t of this.intervals) clearInterval(t);
    this.intervals.clear();
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    s.closeAllConnections();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      if (this.apiKey !== null && path?.startsWith('/v1/') && req.headers.authorization !== `Bearer ${this.apiKey}`) {
        return sendJson(res, 401, { error: { message: 'Unauthorized', type: 'invalid_request_error', code: 401 } });
      }
      if (req.method === 'GET' && path === '/v1/models') {
        this.healthChecks++;
        if (this.healthStatus !== 200) return sendJson(res, this.healthStatus, { error: { message: `scripted health status ${this.healthStatus}` } });
        return sendJson(res, 200, { object: 'list', data: this.models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'scripted' })) });
      }
      if (req.method !== 'POST' || path !== '/v1/chat/completions') {
        return sendJson(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return sendJson(res, 400, { error: { message: 'request body is not JSON' } });
      }
      const reply = this.handler(this, body, req);
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      let done = false;
      const finish = (): void => {
        if (!done) this.inFlight--;
        done = true;
      };
      res.on('close', finish);
      const answer = (): void => {
        if (res.destroyed || res.writableEnded) return finish();
        this.respond(res, body, reply);
        finish();
      };
      if (reply.delayMs && reply.delayMs > 0) {
        const t = setTimeout(() => {
          this.timers.delete(t);
          answer();
        }, reply.delayMs);
        this.timers.add(t);
      } else answer();
    });
  }

  private respond(res: ServerResponse, body: Record<string, unknown>, reply: ReplySpec): void {
    const status = reply.status ?? 200;
    if (reply.trickleMs !== undefined) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(' ');
      const t = setInterval(() => {
        if (res.destroyed || res.writableEnded) return clearInterval(t);
        res.write(' ');
      }, reply.trickleMs);
      res.on('close', () => clearInterval(t));
      this.intervals.add(t);
      return;
    }
    const headers: Record<string, string> = reply.retryAfter !== undefined ? { 'Retry-After': String(reply.retryAfter) } : {};
    if (reply.body !== undefined) {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(reply.body), ...headers });
      res.end(reply.body);
      return;
    }
    if (status >= 400) {
      return sendJson(res, status, { error: { message: reply.error ?? `scripted error ${status}`, type: 'scripted_error', code: status } }, headers);
    }
    if (reply.malformed) {
      const data = '{"id": "chatcmpl-broken", "choices": [{"message": {"content": "trunc';
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), ...headers });
      res.end(data);
      return;
    }
    const content = reply.content ?? null;
    const thinking = (reply.reasoning_content ?? '') + (reply.reasoning ?? '');
    const message: Record<string, unknown> = { role: 'assistant', content };
    if (reply.reasoning_content !== undefined) message.reasoning_content = reply.reasoning_content;
    if (reply.reasoning !== undefined) message.reasoning = reply.reasoning;
    const prompt = 100 + tokens(JSON.stringify(body['messages'] ?? ''));
    const completion = tokens((content ?? '') + thinking);
    const usage: Record<string, unknown> = { prompt_tokens: prompt, completion_tokens: completion, ...reply.usage };
    if (usage.total_tokens === undefined) usage.total_tokens = Number(usage.prompt_tokens) + Number(usage.completion_tokens);
    sendJson(res, status, {
      id: `chatcmpl-${this.index}-${this.requests.length}`, object: 'chat.completion', created: 0, model: body['model'],
      choices: [{ index: 0, finish_reason: reply.finish_reason ?? 'stop', message }],
      usage,
    }, headers);
  }

  record(r: RecordedRequest): void {
    this.requests.push(r);
    this.all.push(r);
  }
}

/** Start scripted endpoints sharing one per-sample script. */
export async function startScriptedModelServer(opts: ScriptedServerOptions = {}): Promise<ScriptedModelServer> {
  const script = new Map<string, Reply[]>(Object.entries(opts.script ?? {}));
  const served = new Map<string | null, number>();
  const all: RecordedRequest[] = [];
  const exhausted = opts.whenExhausted ?? 'repeat-last';

  const next = (sampleId: string | null): ReplySpec => {
    const key = sampleId !== null && script.has(sampleId) ? sampleId : null;
    const replies = key === null ? opts.default ?? [] : script.get(key)!;
    const label = key === null ? 'the default script' : `sample "${key}"`;
    if (!replies.length) return { status: 400, error: `scripted model: no reply scripted for ${sampleId === null ? 'requests without x-sample-id' : `sample "${sampleId}"`}` };
    const i = served.get(key) ?? 0;
    served.set(key, i + 1);
    if (i >= replies.length && exhausted === 'error') return { status: 400, error: `scripted model: ${label} ran out after ${replies.length} replies` };
    const r = replies[Math.min(i, replies.length - 1)]!;
    return typeof r === 'string' ? { content: r } : r;
  };

  const handler = (ep: Endpoint, body: Record<string, unknown>, req: IncomingMessage): ReplySpec => {
    const h = req.headers['x-sample-id'];
    let sampleId: string | null = null;
    if (typeof h === 'string' && h) {
      try {
        sampleId = decodeURIComponent(h);
      } catch {
        sampleId = h;
      }
    }
    const reply = next(sampleId);
    ep.record({ endpoint: ep.index, headers: req.headers, body, sampleId, reply, receivedAt: Date.now() });
    return reply;
  };

  const n = Math.max(1, opts.endpoints ?? 1);
  const endpoints = Array.from({ length: n }, (_, i) => new Endpoint(i, handler, opts.models ?? [opts.model ?? 'scripted-model'], all,
    opts.host, i === 0 ? opts.port ?? 0 : 0, opts.apiKey ?? null));
  await Promise.all(endpoints.map((e) => e.start()));
  return {
    get url() {
      return endpoints[0]!.url;
    },
    get urls() {
      return endpoints.map((e) => e.url);
    },
    endpoints,
    requests: all,
    requestsFor: (sampleId) => all.filter((r) => r.sampleId === sampleId),
    counts: () => endpoints.map((e) => e.requests.length),
    close: async () => {
      await Promise.all(endpoints.map((e) => e.stop()));
    },
  };
}

/** One endpoint answering `replies` in order regardless of sample (the last one repeats). */
export async function startScriptedModel(replies: string[]): Promise<ScriptedModel> {
  return startScriptedModelServer({ default: replies.length ? replies : [''] });
}
