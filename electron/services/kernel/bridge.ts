/**
 * The VLM bridge: a small HTTP server on 127.0.0.1 through which a kernel's `vlm.ask` / `vlm.locate`
 * (and the paper profile's `vlm.locate` / `vlm.ask_with_thinking`, on the `/vlm/paper/...` routes) reach the model. The kernel holds only a per-bridge token in memory, never an API key, and every
 * call is recorded here (with token usage) so it lands in the run record.
 * Protocol: docs/kernel-protocol.md, "VLM bridge".
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { z } from 'zod';
import type { ModelRequest } from '../../../shared/run.ts';
import { secretFrom } from '../config/env.ts';
import { stripThink } from '../model/client.ts';
import { registerSecret } from '../runs/secrets.ts';

const MAX_BODY_BYTES = 64 * 1024 * 1024;

const AskSchema = z.object({ images: z.array(z.string()).max(64), question: z.string().min(1) });
const LocateSchema = z.object({ images: z.array(z.string()).min(1).max(64), target: z.string().min(1) });

/** The paper profile's isolated calls: `vlm.locate` (≤ 8 images, model role `locate`) and `vlm.ask_with_thinking` (≤ 64, role `vlm`). */
export const PAPER_CALLS = {
  paper_locate: { route: '/vlm/paper/locate', maxImages: 8, role: 'locate' },
  ask_with_thinking: { route: '/vlm/paper/ask_with_thinking', maxImages: 64, role: 'vlm' },
} as const;
export type PaperCall = keyof typeof PAPER_CALLS;
const paperSchema = (maxImages: number) => z.object({ images: z.array(z.string()).max(maxImages), question: z.string().min(1) });

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  reasoning_tokens?: number;
}

/** What a handler sent to the model for one call: the chat messages and the other request body fields. */
export interface SentRequest {
  messages: ChatCompletionMessageParam[];
  params: Record<string, unknown>;
}

/** What answers the bridge's calls: a model endpoint, or a scripted one in tests. */
export interface VlmHandler {
  /** `images` are PNG bytes. */
  ask(images: Buffer[], question: string): Promise<{ text: string; usage?: Usage; sent?: SentRequest }>;
  /** Points normalised to 0–1000 over the first image's width and height. */
  locate(images: Buffer[], target: string): Promise<{ points: [number, number][]; text: string; usage?: Usage; sent?: SentRequest }>;
  /**
   * The paper profile's calls (absent: those routes answer 501): one isolated request with the call's own system
   * prompt, the images, then `question` as the kernel sent it (the locate presence check included).
   */
  paper?(call: PaperCall, images: Buffer[], question: string): Promise<{ text: string; usage?: Usage; sent?: SentRequest }>;
}

/** One recorded bridge call. */
export interface BridgeCall {
  /** `ask` / `locate` (vlm.ask / vlm.locate), or the paper profile's `paper_locate` / `ask_with_thinking`. */
  kind: 'ask' | 'locate' | PaperCall;
  /** The model role that answered: `locate` for the paper's vlm.locate, else `vlm`. */
  role: 'vlm' | 'locate';
  prompt: string;
  images: number;
  startedAt: string;
  durationMs: number;
  ok: boolean;
  text?: string;
  points?: [number, number][];
  error?: string;
  usage?: Usage;
  /** What the handler sent (until the call is drained and recorded). */
  sent?: SentRequest;
  /** What was sent, as recorded in the run (set when the call is drained). */
  request?: ModelRequest;
}

/**
 * Answer with JSON. A request body not read yet is read and dropped: Python's http.client (the kernel's side) sends the
 * whole body before it reads the answer, so an unread body would block its upload until the connection times out.
 */
function send(res: ServerResponse, status: number, body: unknown): void {
  const req = res.req as IncomingMessage | undefined;
  if (req && !req.readableEnded && !req.destroyed) req.resume();
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  // An over-size body is read to its end (and dropped) before the 413, so that the sender gets to read the answer.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    else chunks.length = 0;
  }
  if (size > MAX_BODY_BYTES) throw Object.assign(new Error(`request body over ${MAX_BODY_BYTES} bytes`), { status: 413 });
  return Buffer.concat(chunks);
}

/** Limits on one bridge's model calls (one bridge serves one sample). */
export interface BridgeLimits {
  /** Model calls (ask, locate, paper calls) started per rolling minute; over it: 429. Default 120. */
  callsPerMinute: number;
  /** Model calls in flight at once; over it: 429. Default 8. */
  maxConcurrent: number;
}

export const DEFAULT_BRIDGE_LIMITS: BridgeLimits = { callsPerMinute: 120, maxConcurrent: 8 };

/**
 * One sample's bridge. Its token is made for the sample and dies with it ({@link stop}); it grants the model routes
 * (rate-limited, {@link BridgeLimits}) and, for a sandboxed kernel, `/perception/...`, which the bridge forwards to the
 * perception server with that server's token (the kernel never holds it). A sandboxed kernel reaches the bridge over
 * a Unix socket in its `/host` folder ({@link listenUnix}); an unsandboxed one over 127.0.0.1.
 */
export class VlmBridge {
  readonly token = randomBytes(24).toString('hex');
  /** Every call made through the bridge, in order. */
  readonly calls: BridgeCall[] = [];
  /** Model calls refused by the rate limits (each answered 429). */
  refused = 0;
  private server: Server | null = null;
  private unixServer: Server | null = null;
  private unixPath: string | null = null;
  private perception: { url: string; token: string } | null = null;
  private port = 0;
  private forgetToken: () => void = () => undefined;
  private readonly limits: BridgeLimits;
  private readonly recent: number[] = [];
  private inFlight = 0;

  constructor(private readonly handler: VlmHandler, limits: Partial<BridgeLimits> = {}) {
    this.limits = { ...DEFAULT_BRIDGE_LIMITS, ...limits };
  }

  /** URL the kernel should call (valid after `start()`). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    // While the bridge serves, run writers of this process redact its token (../runs/secrets.ts).
    this.forgetToken = registerSecret('MODEL_BRIDGE_TOKEN', this.token);
  }

  /**
   * Also serve on the Unix socket `path` (a sandboxed kernel's `/host` folder), and forward `/perception/<route>` to
   * `perception` (null: those routes answer 503). The socket is made connectable by the kernel's uid (0666 in a
   * folder only the kernel and the host reach) and removed by {@link stop}.
   */
  async listenUnix(path: string, perception: { url: string; token: string } | null): Promise<void> {
    rmSync(path, { force: true });
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    chmodSync(path, 0o666);
    this.unixServer = server;
    this.unixPath = path;
    this.perception = perception ? { url: perception.url.replace(/\/+$/, ''), token: perception.token } : null;
  }

  async stop(): Promise<void> {
    const servers = [this.server, this.unixServer].filter((x): x is Server => x !== null);
    this.server = null;
    this.unixServer = null;
    this.forgetToken();
    await Promise.all(servers.map((s) => new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections?.();
    })));
    if (this.unixPath) rmSync(this.unixPath, { force: true });
    this.unixPath = null;
  }

  /** Forward a kernel's `/perception/<route>` request to the perception server, streaming both bodies. */
  private forwardPerception(req: IncomingMessage, res: ServerResponse): void {
    const target = this.perception;
    if (!target) return send(res, 503, { error: 'no perception server is configured for this session; start one with `spatialclaw perception start` or pass --perception' });
    const url = new URL(target.url + (req.url ?? '/').slice('/perception'.length));
    const headers: Record<string, string> = { Authorization: `Bearer ${target.token}` };
    for (const h of ['content-type', 'accept', 'content-length']) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const make = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const out = make(url, { method: req.method ?? 'GET', headers }, (up) => {
      const back: Record<string, string> = {};
      for (const h of ['content-type', 'content-length', 'x-request-id']) {
        const v = up.headers[h];
        if (typeof v === 'string') back[h] = v;
      }
      res.writeHead(up.statusCode ?? 502, back);
      up.pipe(res);
    });
    out.on('error', (e) => {
      // Read (and drop) the rest of the kernel's request body: Python's http.client sends the whole body before it reads
      // the answer, so a body left unread (pipe() stops reading when the target fails) would block the kernel's upload
      // until the connection times out, and the kernel would never see this 502 (nor retry at once).
      req.unpipe(out);
      req.resume();
      if (!res.headersSent) send(res, 502, { error: `the perception server at ${target.url} is not reachable from the host: ${e.message}` });
      else res.destroy(e);
    });
    req.pipe(out);
  }

  /** Whether a new model call may start now; counts it when so. */
  private admit(): string | null {
    const now = Date.now();
    while (this.recent.length && now - this.recent[0]! > 60_000) this.recent.shift();
    if (this.inFlight >= this.limits.maxConcurrent) {
      return `the model bridge allows ${this.limits.maxConcurrent} calls in flight per sample; wait for one to finish (vlm calls in parallel threads are limited)`;
    }
    if (this.recent.length >= this.limits.callsPerMinute) {
      return `the model bridge allows ${this.limits.callsPerMinute} model calls per minute per sample; ${this.recent.length} were made in the last minute: batch the question or ask fewer frames`;
    }
    this.recent.push(now);
    return null;
  }

  private authorised(req: IncomingMessage): boolean {
    const got = Buffer.from(req.headers.authorization ?? '');
    const want = Buffer.from(`Bearer ${this.token}`);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorised(req)) return send(res, 401, { error: 'missing or wrong bridge token' });
    if (req.url === '/perception' || req.url?.startsWith('/perception/')) return this.forwardPerception(req, res);
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST' });
    const paper = (Object.keys(PAPER_CALLS) as PaperCall[]).find((k) => PAPER_CALLS[k].route === req.url);
    const kind = req.url === '/vlm/ask' ? 'ask' : req.url === '/vlm/locate' ? 'locate' : paper ?? null;
    if (!kind) return send(res, 404, { error: `unknown route ${req.url}; use /vlm/ask, /vlm/locate, ${Object.values(PAPER_CALLS).map((c) => c.route).join(' or ')}` });
    const answerPaper = this.handler.paper?.bind(this.handler);
    if (paper && !answerPaper) return send(res, 501, { error: `this bridge does not answer ${req.url}` });
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req)).toString('utf8'));
    } catch (e) {
      const status = (e as { status?: number }).status ?? 400;
      return send(res, status, { error: status === 413 ? (e as Error).message : 'the request body is not valid JSON' });
    }
    const parsed = (paper ? paperSchema(PAPER_CALLS[paper].maxImages) : kind === 'ask' ? AskSchema : LocateSchema).safeParse(body);
    if (!parsed.success) return send(res, 400, { error: `invalid ${kind} request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
    const images = parsed.data.images.map((b) => Buffer.from(b, 'base64'));
    const prompt = 'question' in parsed.data ? parsed.data.question : parsed.data.target;
    const role = paper ? PAPER_CALLS[paper].role : 'vlm';
    const refusal = this.admit();
    if (refusal) {
      this.refused += 1;
      return send(res, 429, { error: refusal });
    }
    const call: BridgeCall = { kind, role, prompt, images: images.length, startedAt: new Date().toISOString(), durationMs: 0, ok: false };
    const t0 = performance.now();
    this.inFlight += 1;
    try {
      if (paper && answerPaper) {
        const r = await answerPaper(paper, images, prompt);
        Object.assign(call, { ok: true, text: r.text, usage: r.usage, sent: r.sent });
        send(res, 200, { text: r.text });
      } else if (kind === 'ask') {
        const r = await this.handler.ask(images, prompt);
        Object.assign(call, { ok: true, text: r.text, usage: r.usage, sent: r.sent });
        send(res, 200, { text: r.text });
      } else {
        const r = await this.handler.locate(images, prompt);
        Object.assign(call, { ok: true, text: r.text, points: r.points, usage: r.usage, sent: r.sent });
        send(res, 200, { points: r.points, text: r.text });
      }
    } catch (e) {
      call.error = e instanceof Error ? e.message : String(e);
      send(res, 502, { error: `the model call failed: ${call.error}` });
    } finally {
      this.inFlight -= 1;
      call.durationMs = performance.now() - t0;
      this.calls.push(call);
    }
  }
}

/** Remove `<think>…</think>` blocks (one implementation, in the model layer). */
export { stripThink };

/**
 * Points from a model's locate answer: a JSON `{"points": [[x, y], ...]}` or `[[x, y], ...]` anywhere
 * in the text, or else `(x, y)` pairs. Values are clamped to 0–1000.
 */
export function parsePoints(text: string): [number, number][] {
  const clean = stripThink(text);
  const clamp = (v: number): number => Math.min(1000, Math.max(0, v));
  const fromArray = (a: unknown): [number, number][] | null => {
    if (!Array.isArray(a)) return null;
    const pts = a.filter((p): p is [number, number] => Array.isArray(p) && p.length >= 2 && p.slice(0, 2).every((v) => typeof v === 'number'));
    return pts.length ? pts.map(([x, y]) => [clamp(x), clamp(y)]) : null;
  };
  const candidates = [clean];
  const [o, c] = [clean.indexOf('{'), clean.lastIndexOf('}')];
  if (o >= 0 && c > o) candidates.push(clean.slice(o, c + 1));
  const [ao, ac] = [clean.indexOf('[['), clean.lastIndexOf(']]')];
  if (ao >= 0 && ac > ao) candidates.push(clean.slice(ao, ac + 2));
  for (const cand of candidates) {
    try {
      const v: unknown = JSON.parse(cand);
      const pts = fromArray(Array.isArray(v) ? v : (v as { points?: unknown } | null)?.points);
      if (pts) return pts;
    } catch {
      /* try the next candidate */
    }
  }
  return [...clean.matchAll(/\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)/g)].map((m) => [clamp(Number(m[1])), clamp(Number(m[2]))]);
}

export interface OpenAiVlmConfig {
  baseURL: string;
  model: string;
  /** Name of the environment variable holding the API key (the key itself is never stored). */
  apiKeyEnv?: string;
  maxTokens?: number;
  timeoutMs?: number;
}

/** A {@link VlmHandler} backed by any OpenAI-compatible chat-completions endpoint (openai SDK). */
export function openAiVlmHandler(cfg: OpenAiVlmConfig): VlmHandler {
  const client = new OpenAI({
    baseURL: cfg.baseURL,
    apiKey: secretFrom(cfg.apiKeyEnv) ?? 'not-needed',
    timeout: cfg.timeoutMs ?? 120_000,
    maxRetries: 2,
  });
  const call = async (images: Buffer[], text: string): Promise<{ text: string; usage?: Usage }> => {
    const r = await client.chat.completions.create({
      model: cfg.model,
      max_tokens: cfg.maxTokens ?? 1024,
      messages: [{
        role: 'user',
        content: [
          ...images.map((b) => ({ type: 'image_url' as const, image_url: { url: `data:image/png;base64,${b.toString('base64')}` } })),
          { type: 'text' as const, text },
        ],
      }],
    });
    const msg = r.choices[0]?.message as ({ content: string | null; reasoning_content?: string } | undefined);
    const out = stripThink(msg?.content || msg?.reasoning_content || '');
    const usage = r.usage
      ? {
          prompt_tokens: r.usage.prompt_tokens,
          completion_tokens: r.usage.completion_tokens,
          reasoning_tokens: r.usage.completion_tokens_details?.reasoning_tokens ?? undefined,
        }
      : undefined;
    return { text: out, usage };
  };
  return {
    ask: (images, question) => call(images, question),
    locate: async (images, target) => {
      const r = await call(images,
        `Locate: ${target}\nAnswer only with JSON {"points": [[x, y], ...]}: one point per instance, ` +
        'x and y normalised to 0-1000 over the image width and height (0,0 = top-left).');
      return { ...r, points: parsePoints(r.text) };
    },
  };
}
