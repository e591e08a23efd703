/**
 * The model layer the agent loop calls: one {@link ModelClient} per model config, over one or more
 * OpenAI-compatible chat-completions endpoints (openai SDK, its own retries off). It routes each call
 * to the least loaded endpoint (sticky per sample, so the server's prefix cache hits), keeps at most
 * `max_in_flight` requests in flight per endpoint (the rest wait in a FIFO queue; a 429 lowers an
 * endpoint's limit, successes raise it again), cools failing endpoints down, retries
 * 429/5xx/timeouts/connection errors with exponential backoff and full jitter, and separates a
 * reasoning model's thinking from its answer. Behaviour and config: docs/models.md.
 */
import { readFileSync } from 'node:fs';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { DEFAULT_MAX_IN_FLIGHT, type ChatResult, type ModelConfig, type Role, type Sampling, type Usage } from '../../../shared/model.ts';
import { secretFrom } from '../config/env.ts';
import { registerSecret } from '../runs/secrets.ts';
import { redactFor } from './config.ts';

// ---------------------------------------------------------------------------------------------------
// Reasoning text

/**
 * Split a reasoning model's output into the answer and its `<think>` reasoning. Removed: every
 * `<think>…</think>` block; a leading unterminated block that ends in `</think>` (chat templates that
 * open the block in the prompt); and a trailing `<think>` that never closes (output cut off mid-thought).
 */
export function splitThink(text: string): { content: string; reasoning: string | null } {
  const parts: string[] = [];
  let rest = text.replace(/<think>([\s\S]*?)<\/think>/g, (_m, inner: string) => {
    parts.push(inner.trim());
    return '';
  });
  const lead = /^([\s\S]*)<\/think>/.exec(rest);
  if (lead) {
    parts.unshift(lead[1]!.trim());
    rest = rest.slice(lead[0].length);
  }
  const open = rest.indexOf('<think>');
  if (open >= 0) {
    parts.push(rest.slice(open + '<think>'.length).trim());
    rest = rest.slice(0, open);
  }
  const reasoning = parts.filter((p) => p.length > 0).join('\n\n');
  return { content: rest.trim(), reasoning: reasoning || null };
}

/**
 * Gemma 4 served without a reasoning parser answers `thought\n<its thinking>…<the answer>`: the thinking is split
 * off at the first `**Purpose**` (the agent's reply format), else at the first `##`/`###` heading or bold line. Null
 * when the text does not start that way or no split point is found.
 */
export function splitGemmaThought(text: string): { content: string; reasoning: string } | null {
  if (!text.startsWith('thought\n')) return null;
  const body = text.slice('thought\n'.length);
  const purpose = body.indexOf('**Purpose**');
  const at = purpose >= 0 ? purpose : body.search(/^(#{2,3} |\*\*)/m);
  if (at <= 0) return null;
  return { content: body.slice(at).trim(), reasoning: body.slice(0, at).trim() };
}

/** Remove `<think>…</think>` blocks that reasoning models put before their answer. */
export function stripThink(text: string): string {
  return splitThink(text).content;
}

// ---------------------------------------------------------------------------------------------------
// Errors

export type ModelErrorKind = 'http' | 'timeout' | 'connection' | 'malformed' | 'config' | 'aborted';

/** A model call that failed for good (after any retries), or a client that cannot be set up. */
export class ModelError extends Error {
  override name = 'ModelError';
  readonly kind: ModelErrorKind;
  /** HTTP status for `kind: 'http'`, else null. */
  readonly status: number | null;
  /** Base URL of the endpoint of the last attempt (null for config errors). */
  readonly endpoint: string | null;
  /** The server's own error message, when it sent one. */
  readonly serverMessage: string | null;
  /** Requests made before giving up. */
  readonly attempts: number;
  constructor(message: string, o: { kind: ModelErrorKind; status?: number | null; endpoint?: string | null; serverMessage?: string | null; attempts?: number }) {
    super(message);
    this.kind = o.kind;
    this.status = o.status ?? null;
    this.endpoint = o.endpoint ?? null;
    this.serverMessage = o.serverMessage ?? null;
    this.attempts = o.attempts ?? 0;
  }
}

// ---------------------------------------------------------------------------------------------------
// The client

export interface ChatRequest {
  role: Role;
  /** OpenAI chat messages; images as `image_url` parts with data URLs. */
  messages: ChatCompletionMessageParam[];
  /** Keeps a sample's calls on one endpoint while it is healthy; also sent as the `X-Sample-Id` header. */
  sampleKey?: string;
  signal?: AbortSignal;
  /** Overrides the role's / config's max_tokens for this call. */
  maxTokens?: number;
  /**
   * Hears every request of this call as soon as it ends, the failed ones and the last (retries included): the run
   * record's `model_attempt` events (shared/run.ts). Called synchronously; it must not throw.
   */
  onAttempt?: (a: ModelAttempt) => void;
}

/** One request of a chat() call, as {@link ChatRequest.onAttempt} hears it. */
export interface ModelAttempt {
  /** 1 for the first request of the call, 2 for its first retry, ... */
  attempt: number;
  endpoint: string;
  /** From sending the request to its end (answer read, error, deadline), ms. */
  durationMs: number;
  /** null for a request that answered; else why it failed. */
  error: string | null;
  kind: ModelErrorKind | null;
  /** HTTP status of a failed request, when it got one. */
  status: number | null;
  /** Whether chat() sends another request after this one. */
  willRetry: boolean;
}

export interface ModelClientOptions {
  /** Clock for cool-downs, ms (tests). Default `Date.now`. */
  now?: () => number;
  /** Uniform [0, 1) for backoff jitter (tests). Default `Math.random`. */
  random?: () => number;
  /** Path under each base URL that {@link ModelClient.checkHealth} GETs. Default `/models`. */
  healthCheckPath?: string;
  /** Send `X-Sample-Id: <sampleKey>` with each call that has a sampleKey. Default true. */
  sampleHeader?: boolean;
}

export interface EndpointStats {
  base_url: string;
  /** Requests to this endpoint in flight now. */
  inFlight: number;
  /**
   * The configured cap on requests in flight: the endpoint's `max_in_flight`, else the config's, else
   * {@link DEFAULT_MAX_IN_FLIGHT} (16).
   */
  maxInFlight: number;
  /**
   * The cap in force now, 1 to {@link EndpointStats.maxInFlight}: halved (at least 1) by a 429, raised by 1
   * with each successful request (AIMD).
   */
  effectiveLimit: number;
  /** HTTP 429 answers this endpoint gave (each is also a failed request). */
  rateLimited: number;
  healthy: boolean;
  /** Seconds until a cooling endpoint is tried again (0 when healthy). */
  cooldownRemainingS: number;
  requests: number;
  failures: number;
  lastError: string | null;
}

export interface ModelClientStats {
  /** chat() calls made. */
  calls: number;
  /** Extra attempts over all calls. */
  retries: number;
  /** chat() calls that threw. */
  failures: number;
  usage: { prompt_tokens: number; completion_tokens: number; reasoning_tokens: number };
  /** Sum of the endpoints' configured `maxInFlight` (see {@link ModelClient.capacity}). */
  capacity: number;
  /** Calls (or retries) waiting for a free slot now, because every usable endpoint is at its limit. */
  waiting: number;
  /** How many times a call (or a retry) had to wait for a slot. */
  waits: number;
  /** Total time calls spent waiting for a slot, ms (waits still under way included up to now). */
  waitedMs: number;
  /** HTTP 429 answers over all endpoints. */
  rateLimited: number;
  endpoints: EndpointStats[];
}

export interface HealthResult {
  base_url: string;
  /** Reachable and not answering 5xx (a 4xx, e.g. no /models route, still counts as up). */
  ok: boolean;
  status: number | null;
  error: string | null;
  latencyMs: number;
}

/** What one endpoint's `GET /models` said ({@link ModelClient.servedModels}). */
export interface ServedModels {
  base_url: string;
  /** The model ids it lists, or null when it could not be asked (see `status` and `error`). */
  models: string[] | null;
  /** HTTP status of the answer, or null without one (connection failed, timed out). */
  status: number | null;
  error: string | null;
  latencyMs: number;
}

interface Endpoint {
  base_url: string;
  /** base_url without trailing slashes. */
  url: string;
  keyEnv: string | null;
  /** The file the key is read from before each request (`api_key_file`), or null. */
  keyFile: string | null;
  /** The key to send now: the variable's value read once, or the key file's first line read at each call. */
  key: () => string;
  client: OpenAI;
  inFlight: number;
  /** Configured cap on requests in flight (max_in_flight). */
  limit: number;
  /** Cap in force now, 1..limit (AIMD on 429s). */
  effLimit: number;
  /** Bumped at each 429 decrease: a 429 to a request sent under an older limit does not halve again. */
  epoch: number;
  rateLimited: number;
  cooldownUntil: number;
  requests: number;
  failures: number;
  lastError: string | null;
}

/** A reserved place in an endpoint's in-flight limit, for one attempt. */
interface Slot {
  ep: Endpoint;
  /** The endpoint's limit epoch when the slot was taken. */
  epoch: number;
}

/** A call waiting for a slot (FIFO). */
interface Waiter {
  sampleKey: string | undefined;
  avoid: Endpoint | null;
  /** performance.now() when it started waiting. */
  since: number;
  resolve: (slot: Slot) => void;
  /** Detach the abort listener. */
  cleanup: () => void;
}

/** How an attempt ended, for the endpoint's effective limit. */
type Outcome = 'ok' | 'throttled' | 'other';

/** What one failed attempt means for the retry loop. */
interface Failure {
  kind: ModelErrorKind;
  status: number | null;
  message: string;
  serverMessage: string | null;
  retryable: boolean;
  /** Cool the endpoint down (connection errors, timeouts, 5xx). */
  unhealthy: boolean;
  retryAfterMs: number | null;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 20_000;
/** A server's retry-after is honoured up to this. */
const RETRY_AFTER_CAP_MS = 60_000;
const HEALTH_TIMEOUT_MS = 5_000;
const STICKY_MAX = 10_000;
/** The soonest a cooling endpoint's end of cool-down is checked for waiting calls, ms. */
const WAKE_MIN_MS = 10;
const NO_KEY = 'not-needed';

/**
 * The key in an endpoint's `api_key_file`: its first line, trimmed.
 * @throws ModelError (kind `config`) naming the file when it cannot be read or is empty.
 */
function readKeyFile(file: string, model: string, baseUrl: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelError(`model "${model}": cannot read the key file ${file} (api_key_file for ${baseUrl}): ${(e as Error).message}; ` +
      'for a cluster server, check that its job still runs (`squeue`) and that the cluster folder is shared with this machine', { kind: 'config', endpoint: baseUrl });
  }
  const k = text.split('\n')[0]!.trim();
  if (!k) throw new ModelError(`model "${model}": the key file ${file} (api_key_file for ${baseUrl}) is empty`, { kind: 'config', endpoint: baseUrl });
  // Run writers of this process redact the key wherever it would be written (../runs/secrets.ts).
  registerSecret('api_key_file', k);
  return k;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `b` over `a`, merging nested plain objects (so a role can add one chat_template_kwargs key). */
function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function messageOf(body: unknown): string | null {
  if (typeof body === 'string') return body.trim() || null;
  if (!isPlainObject(body)) return null;
  const err = body['error'];
  if (typeof err === 'string') return err;
  if (isPlainObject(err) && typeof err['message'] === 'string') return err['message'];
  if (typeof body['message'] === 'string') return body['message'];
  const detail = body['detail'];
  if (detail !== undefined) return typeof detail === 'string' ? detail : JSON.stringify(detail);
  return null;
}

/**
 * fetch for the SDK: error responses are rewritten to `{"error": {"message": ...}}` so the server's
 * message survives whatever shape it used (vLLM's old `{"message"}`, FastAPI's `{"detail"}`,
 * Ollama's `{"error": "..."}`, an HTML page from a proxy).
 */
const normalisingFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const res = await fetch(input, init);
  if (res.ok) return res;
  const text = await res.text().catch(() => '');
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  const errObj = isPlainObject(parsed) && isPlainObject(parsed['error']) && typeof parsed['error']['message'] === 'string'
    ? parsed['error']
    : { message: (messageOf(parsed) ?? '').replace(/\s+/g, ' ').slice(0, 500) || `HTTP ${res.status} with no body` };
  const headers = new Headers(res.headers);
  for (const h of ['content-length', 'content-encoding', 'transfer-encoding']) headers.delete(h);
  headers.set('content-type', 'application/json');
  return new Response(JSON.stringify({ error: errObj }), { status: res.status, statusText: res.statusText, headers });
};

function parseRetryAfter(headers: Headers | undefined, nowMs: number): number | null {
  if (!headers) return null;
  const ms = headers.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (!ra) return null;
  if (Number.isFinite(Number(ra))) return Math.max(0, Number(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

function causeCode(e: unknown): string | null {
  let c: unknown = e;
  for (let i = 0; i < 5 && c; i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    c = (c as { cause?: unknown }).cause;
  }
  return null;
}

function abortable(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new ModelError('the model call was aborted', { kind: 'aborted' }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class ModelClient {
  readonly config: ModelConfig;
  private readonly endpoints: Endpoint[];
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly healthPath: string;
  private readonly sampleHeader: boolean;
  private readonly timeoutMs: number;
  /** sampleKey → endpoint, oldest first (a Map keeps insertion order). */
  private readonly sticky = new Map<string, Endpoint>();
  private readonly counters = { calls: 0, retries: 0, failures: 0, prompt: 0, completion: 0, reasoning: 0, waits: 0, waitedMs: 0, rateLimited: 0 };
  /** Calls waiting for a slot, oldest first. */
  private readonly waiters: Waiter[] = [];
  /** Wakes the queue when a cooling endpoint with free slots comes back (nothing else would). */
  private wakeTimer: NodeJS.Timeout | null = null;

  constructor(cfg: ModelConfig, opts: ModelClientOptions = {}) {
    this.config = cfg;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.healthPath = '/' + (opts.healthCheckPath ?? '/models').replace(/^\/+/, '');
    this.sampleHeader = opts.sampleHeader ?? true;
    this.timeoutMs = Math.max(1, Math.round(cfg.timeout_s * 1000));
    const list = cfg.endpoints ?? (cfg.base_url ? [{ base_url: cfg.base_url }] : []);
    if (!list.length) throw new ModelError(`model "${cfg.name}": the config gives neither base_url nor endpoints`, { kind: 'config' });
    this.endpoints = list.map((e) => {
      const keyFile = ('api_key_file' in e ? e.api_key_file : undefined) ?? null;
      const keyEnv = keyFile ? null : ('api_key_env' in e ? e.api_key_env : undefined) ?? cfg.api_key_env ?? null;
      let key = NO_KEY;
      if (keyFile) {
        key = readKeyFile(keyFile, cfg.name, e.base_url);
      } else if (keyEnv) {
        const v = secretFrom(keyEnv);
        if (!v) {
          throw new ModelError(
            `model "${cfg.name}": the environment variable ${keyEnv} (api_key_env for ${e.base_url}) is not set; export the API key in it`,
            { kind: 'config', endpoint: e.base_url });
        }
        key = v;
        registerSecret(keyEnv, v);
      }
      const url = e.base_url.replace(/\/+$/, '');
      // A key file is read at each call; when it has gone (its server deregistered) the last key is sent and the
      // request fails as that server's failures do (refused connection, 401), so fail-over moves on.
      const currentKey = (): string => {
        if (!keyFile) return key;
        try {
          key = readKeyFile(keyFile, cfg.name, e.base_url);
        } catch {
          /* keep the last key */
        }
        return key;
      };
      const limit = ('max_in_flight' in e ? e.max_in_flight : undefined) ?? cfg.max_in_flight ?? DEFAULT_MAX_IN_FLIGHT;
      return {
        base_url: e.base_url, url, keyEnv, keyFile, key: currentKey, limit, effLimit: limit, epoch: 0, rateLimited: 0,
        // organization/project: null so OPENAI_ORG_ID/OPENAI_PROJECT_ID never reach other providers. A key file is
        // read again before each request (the SDK calls an apiKey function per request).
        client: new OpenAI({ baseURL: url, apiKey: keyFile ? async () => currentKey() : key, maxRetries: 0, timeout: this.timeoutMs, organization: null, project: null, fetch: normalisingFetch }),
        inFlight: 0, cooldownUntil: 0, requests: 0, failures: 0, lastError: null,
      };
    });
  }

  /**
   * One chat completion, with routing, retries and fail-over. Each attempt takes a slot in an endpoint's
   * in-flight limit; when every usable endpoint is at its limit the attempt waits in a FIFO queue (an aborted
   * `signal` takes it out of the queue). Throws {@link ModelError}.
   */
  async chat(req: ChatRequest): Promise<ChatResult> {
    const t0 = performance.now();
    this.counters.calls++;
    const body = this.requestBody(req.role, req.messages, req.maxTokens);
    const { messages: _sentMessages, ...params } = body;
    const sent = { params: redactFor(this.config, params) as Record<string, unknown> };
    const headers: Record<string, string> = {};
    if (req.sampleKey !== undefined && this.sampleHeader) headers['X-Sample-Id'] = encodeURIComponent(req.sampleKey);
    let attempts = 0;
    let avoid: Endpoint | null = null;
    for (;;) {
      if (req.signal?.aborted) {
        this.counters.failures++;
        throw new ModelError('the model call was aborted', { kind: 'aborted', attempts, endpoint: avoid?.base_url ?? null });
      }
      // No await before the request starts when a slot is free: concurrent calls see each other's in-flight counts.
      let slot = this.tryAcquire(req.sampleKey, avoid);
      if (!slot) {
        try {
          slot = await this.waitForSlot(req.sampleKey, avoid, req.signal);
        } catch (e) {
          this.counters.failures++;
          throw new ModelError((e as Error).message, { kind: 'aborted', attempts, endpoint: avoid?.base_url ?? null });
        }
      }
      const ep = slot.ep;
      attempts++;
      if (attempts > 1) this.counters.retries++;
      let failure: Failure;
      let outcome: Outcome = 'other';
      const ta = performance.now();
      try {
        const msg = await this.attempt(ep, body, headers, req.signal);
        const result = { ...this.result(msg, ep, attempts, t0), sent };
        outcome = 'ok';
        req.onAttempt?.({ attempt: attempts, endpoint: ep.base_url, durationMs: performance.now() - ta, error: null, kind: null, status: null, willRetry: false });
        return result;
      } catch (e) {
        failure = this.classify(e, ep);
        if (failure.status === 429) outcome = 'throttled';
        if (failure.kind !== 'aborted') {
          ep.failures++;
          ep.lastError = failure.message;
          // Before the slot is released, so no waiting call is handed an endpoint that is about to cool down.
          if (failure.unhealthy) ep.cooldownUntil = this.now() + this.config.cooldown_s * 1000;
        }
      } finally {
        this.release(slot, outcome);
      }
      // max_retries counts retries: a call sends at most 1 + max_retries requests.
      const willRetry = failure.kind !== 'aborted' && failure.retryable && attempts <= this.config.max_retries;
      req.onAttempt?.({
        attempt: attempts, endpoint: ep.base_url, durationMs: performance.now() - ta, error: failure.message, kind: failure.kind, status: failure.status, willRetry,
      });
      if (failure.kind === 'aborted') {
        this.counters.failures++;
        throw this.toError(failure, ep, attempts);
      }
      if (!failure.retryable || attempts > this.config.max_retries) {
        this.counters.failures++;
        throw this.toError(failure, ep, attempts);
      }
      avoid = ep;
      try {
        await abortable(this.backoffMs(failure, ep, attempts), req.signal);
      } catch {
        this.counters.failures++;
        throw new ModelError('the model call was aborted', { kind: 'aborted', attempts, endpoint: ep.base_url });
      }
    }
  }

  /**
   * Sum of the endpoints' configured `max_in_flight` limits (not lowered by 429s, healthy or not): the most
   * model requests this client sends at once, and so the number of workers a batch can keep busy.
   */
  capacity(): number {
    return this.endpoints.reduce((n, e) => n + e.limit, 0);
  }

  /**
   * GET `<base_url>/models` on every endpoint (short timeout). An endpoint that cannot be reached,
   * times out or answers 5xx cools down for `cooldown_s`; one that answers is marked healthy again.
   */
  async checkHealth(): Promise<HealthResult[]> {
    return Promise.all(this.endpoints.map(async (ep): Promise<HealthResult> => {
      const t0 = performance.now();
      let status: number | null = null;
      let error: string | null = null;
      try {
        const res = await fetch(ep.url + this.healthPath, {
          headers: { Authorization: `Bearer ${ep.key()}` },
          signal: AbortSignal.timeout(Math.min(HEALTH_TIMEOUT_MS, this.timeoutMs)),
        });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (status >= 500) error = `HTTP ${status}`;
      } catch (e) {
        const name = (e as { name?: string }).name;
        error = name === 'TimeoutError' || name === 'AbortError' ? 'timed out' : `connection failed (${causeCode(e) ?? (e as Error).message})`;
      }
      const ok = error === null;
      if (ok) ep.cooldownUntil = 0;
      else {
        ep.cooldownUntil = this.now() + this.config.cooldown_s * 1000;
        ep.lastError = `health check: ${error}`;
      }
      return { base_url: ep.base_url, ok, status, error, latencyMs: performance.now() - t0 };
    })).finally(() => this.dispatch());
  }

  /**
   * The model ids each endpoint serves: `models.list()` (GET `<base_url>/models`) through the endpoint's OpenAI
   * client, with the health check's short timeout and no retries. `models` is null when the endpoint could not say:
   * unreachable, timed out, or an HTTP error (a 404 from a server without that route; `status` tells which). An
   * endpoint that cannot be reached, times out or answers 5xx cools down as in {@link checkHealth}.
   */
  async servedModels(): Promise<ServedModels[]> {
    return Promise.all(this.endpoints.map(async (ep): Promise<ServedModels> => {
      const t0 = performance.now();
      const timeout = Math.min(HEALTH_TIMEOUT_MS, this.timeoutMs);
      const ids: string[] = [];
      try {
        for await (const m of ep.client.models.list({ timeout, maxRetries: 0 })) {
          if (typeof m?.id === 'string') ids.push(m.id);
        }
        ep.cooldownUntil = 0;
        return { base_url: ep.base_url, models: ids, status: 200, error: null, latencyMs: performance.now() - t0 };
      } catch (e) {
        const f = this.classify(e, ep);
        const message = f.kind === 'timeout' ? `timed out after ${timeout / 1000} s` : f.message;
        if (f.unhealthy) {
          ep.cooldownUntil = this.now() + this.config.cooldown_s * 1000;
          ep.lastError = `models list: ${message}`;
        }
        return { base_url: ep.base_url, models: null, status: f.status, error: message, latencyMs: performance.now() - t0 };
      }
    })).finally(() => this.dispatch());
  }

  /** Cumulative counts since the client was made, and the state of each endpoint now. */
  stats(): ModelClientStats {
    const now = this.now();
    const t = performance.now();
    return {
      calls: this.counters.calls,
      retries: this.counters.retries,
      failures: this.counters.failures,
      usage: { prompt_tokens: this.counters.prompt, completion_tokens: this.counters.completion, reasoning_tokens: this.counters.reasoning },
      capacity: this.capacity(),
      waiting: this.waiters.length,
      waits: this.counters.waits,
      waitedMs: this.counters.waitedMs + this.waiters.reduce((ms, w) => ms + (t - w.since), 0),
      rateLimited: this.counters.rateLimited,
      endpoints: this.endpoints.map((e) => ({
        base_url: e.base_url,
        inFlight: e.inFlight,
        maxInFlight: e.limit,
        effectiveLimit: e.effLimit,
        rateLimited: e.rateLimited,
        healthy: e.cooldownUntil <= now,
        cooldownRemainingS: Math.max(0, (e.cooldownUntil - now) / 1000),
        requests: e.requests,
        failures: e.failures,
        lastError: e.lastError,
      })),
    };
  }

  /** The request body for a role (exposed for tests and for recording what was asked). */
  requestBody(role: Role, messages: ChatCompletionMessageParam[], maxTokens?: number): Record<string, unknown> {
    const roles = this.config.roles;
    // A role inherits main's parameters; `locate` inherits `vlm`'s first.
    const own = role === 'locate' ? { ...(roles.vlm ?? {}), ...(roles.locate ?? {}) } : role === 'main' ? {} : roles[role] ?? {};
    const sampling: Sampling = { ...(roles.main ?? {}), ...own };
    const { max_tokens: roleMax, ...params } = sampling;
    const body = deepMerge(structuredClone(this.config.extra_body), params);
    if ('max_completion_tokens' in body) {
      // OpenAI's reasoning models refuse max_tokens: naming max_completion_tokens switches the field.
      const given = typeof body['max_completion_tokens'] === 'number' ? body['max_completion_tokens'] : undefined;
      body['max_completion_tokens'] = maxTokens ?? roleMax ?? given ?? this.config.max_tokens;
      delete body['max_tokens'];
    } else {
      body['max_tokens'] = maxTokens ?? roleMax ?? this.config.max_tokens;
    }
    body['model'] = this.config.name;
    body['messages'] = messages;
    body['stream'] = false;
    return body;
  }

  /** Free slots under the endpoint's effective limit. */
  private static hasRoom(e: Endpoint): boolean {
    return e.inFlight < e.effLimit;
  }

  /**
   * The endpoint for the next attempt, or null when every usable one is at its limit. Usable: the healthy
   * endpoints other than `avoid` (the one that just failed) when there are such, else all healthy ones, else
   * (all cooling down) every endpoint, the one whose cool-down ends first preferred. Among the usable ones
   * with a free slot: the sample's sticky endpoint, else the least loaded (in flight / effective limit;
   * ties: fewer in flight, then the first in the list).
   */
  private choose(sampleKey: string | undefined, avoid: Endpoint | null): Endpoint | null {
    const now = this.now();
    const healthy = this.endpoints.filter((e) => e.cooldownUntil <= now);
    if (healthy.length) {
      const others = healthy.filter((e) => e !== avoid);
      const candidates = others.length ? others : healthy;
      const current = sampleKey === undefined ? undefined : this.sticky.get(sampleKey);
      if (current && candidates.includes(current) && ModelClient.hasRoom(current)) return current;
      let best: Endpoint | null = null;
      for (const e of candidates) {
        if (!ModelClient.hasRoom(e)) continue;
        if (!best) best = e;
        else {
          const load = e.inFlight / e.effLimit;
          const bestLoad = best.inFlight / best.effLimit;
          if (load < bestLoad || (load === bestLoad && e.inFlight < best.inFlight)) best = e;
        }
      }
      // Re-home the sample only when its endpoint went unhealthy (not when it was avoided once or full).
      if (best && sampleKey !== undefined && (!current || current.cooldownUntil > now)) this.setSticky(sampleKey, best);
      return best;
    }
    let soonest: Endpoint | null = null;
    for (const e of this.endpoints) {
      if (ModelClient.hasRoom(e) && (!soonest || e.cooldownUntil < soonest.cooldownUntil)) soonest = e;
    }
    return soonest;
  }

  /** Take a slot at once if one is free (synchronously, so concurrent calls see each other). */
  private tryAcquire(sampleKey: string | undefined, avoid: Endpoint | null): Slot | null {
    const ep = this.choose(sampleKey, avoid);
    if (!ep) return null;
    ep.inFlight++;
    return { ep, epoch: ep.epoch };
  }

  /** Queue for a slot (FIFO); rejects with a ModelError of kind 'aborted' when `signal` aborts first. */
  private waitForSlot(sampleKey: string | undefined, avoid: Endpoint | null, signal: AbortSignal | undefined): Promise<Slot> {
    return new Promise<Slot>((resolve, reject) => {
      const since = performance.now();
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return; // already handed a slot: the attempt sees the aborted signal
        this.waiters.splice(i, 1);
        this.counters.waitedMs += performance.now() - since;
        this.scheduleWake();
        reject(new ModelError('the model call was aborted while waiting for a free slot', { kind: 'aborted' }));
      };
      const waiter: Waiter = {
        sampleKey, avoid, since, resolve,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      this.counters.waits++;
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.scheduleWake();
    });
  }

  /**
   * An attempt is over: free its slot, adjust the endpoint's effective limit and hand free slots to waiting
   * calls. A 429 halves the limit (at least 1), once per limit epoch: the other 429s of the same burst, to
   * requests sent under the old limit, do not halve it again. A success raises it by 1, up to the configured one.
   */
  private release(slot: Slot, outcome: Outcome): void {
    const ep = slot.ep;
    ep.inFlight--;
    if (outcome === 'throttled') {
      ep.rateLimited++;
      this.counters.rateLimited++;
      if (slot.epoch === ep.epoch) {
        ep.effLimit = Math.max(1, Math.floor(ep.effLimit / 2));
        ep.epoch++;
      }
    } else if (outcome === 'ok' && ep.effLimit < ep.limit) {
      ep.effLimit++;
    }
    this.dispatch();
  }

  /**
   * Hand free slots to waiting calls, oldest first. A call that cannot use any free slot (it avoids the only
   * endpoint with one) keeps its place, and the calls behind it may take that slot.
   */
  private dispatch(): void {
    for (let i = 0; i < this.waiters.length && this.endpoints.some(ModelClient.hasRoom);) {
      const w = this.waiters[i]!;
      const slot = this.tryAcquire(w.sampleKey, w.avoid);
      if (!slot) {
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      w.cleanup();
      this.counters.waitedMs += performance.now() - w.since;
      w.resolve(slot);
    }
    this.scheduleWake();
  }

  /**
   * While calls wait, a cooling endpoint with free slots becomes usable when its cool-down ends, which no
   * request finishing would signal: a timer dispatches then. No timer while nothing waits.
   */
  private scheduleWake(): void {
    if (this.wakeTimer) {
      clearTimeout(this.wakeTimer);
      this.wakeTimer = null;
    }
    if (!this.waiters.length) return;
    const now = this.now();
    let soonest = Infinity;
    for (const e of this.endpoints) {
      if (e.cooldownUntil > now && ModelClient.hasRoom(e)) soonest = Math.min(soonest, e.cooldownUntil);
    }
    if (soonest === Infinity) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.dispatch();
    }, Math.max(WAKE_MIN_MS, soonest - now));
    this.wakeTimer.unref();
  }

  private setSticky(key: string, ep: Endpoint): void {
    this.sticky.delete(key);
    this.sticky.set(key, ep);
    if (this.sticky.size > STICKY_MAX) this.sticky.delete(this.sticky.keys().next().value!);
  }

  /** One request on a slot already taken (the caller releases it). */
  private async attempt(ep: Endpoint, body: Record<string, unknown>, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<unknown> {
    ep.requests++;
    // The SDK's timeout stops at the response headers; this one covers reading the body too.
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, this.timeoutMs);
    const onAbort = (): void => ac.abort();
    if (signal?.aborted) ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await ep.client.chat.completions.create(body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, { signal: ac.signal, headers });
    } catch (e) {
      throw timedOut ? new APIConnectionTimeoutError() : e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private classify(e: unknown, ep: Endpoint): Failure {
    const base = { status: null, serverMessage: null, retryAfterMs: null };
    if (e instanceof ModelError && e.kind === 'malformed') {
      return { ...base, kind: 'malformed', message: e.message, retryable: true, unhealthy: false };
    }
    if (e instanceof APIConnectionTimeoutError) {
      return { ...base, kind: 'timeout', message: `timed out after ${this.config.timeout_s} s`, retryable: true, unhealthy: true };
    }
    if (e instanceof APIUserAbortError || (e as { name?: unknown } | null)?.name === 'AbortError') {
      return { ...base, kind: 'aborted', message: 'the model call was aborted', retryable: false, unhealthy: false };
    }
    if (e instanceof APIConnectionError) {
      return { ...base, kind: 'connection', message: `connection failed (${causeCode(e) ?? e.message})`, retryable: true, unhealthy: true };
    }
    if (e instanceof APIError && typeof e.status === 'number') {
      const status = e.status;
      const serverMessage = messageOf({ error: e.error }) ?? e.message.replace(/^\d+\s*/, '');
      const retryable = status === 429 || status >= 500;
      return {
        kind: 'http', status, serverMessage, retryable, unhealthy: status >= 500,
        message: `HTTP ${status}: ${serverMessage}${this.hint(status, ep)}`,
        retryAfterMs: retryable ? parseRetryAfter(e.headers, Date.now()) : null,
      };
    }
    if (e instanceof SyntaxError) {
      return { ...base, kind: 'malformed', message: `the response is not valid JSON (${e.message})`, retryable: true, unhealthy: false };
    }
    // Anything else while talking to the server (a socket dropped mid-body, ...): like a connection error.
    const msg = e instanceof Error ? e.message : String(e);
    return { ...base, kind: 'connection', message: `request failed (${causeCode(e) ?? msg})`, retryable: true, unhealthy: true };
  }

  private hint(status: number, ep: Endpoint): string {
    if (status === 401 || status === 403) {
      if (ep.keyFile) return ` (check the key file ${ep.keyFile}: the server behind it may have restarted with a new token)`;
      return ep.keyEnv
        ? ` (check the API key in the environment variable ${ep.keyEnv})`
        : ' (the endpoint wants an API key: export it in an environment variable and name that variable in the config\'s "api_key_env")';
    }
    if (status === 404) return ` (is the model "${this.config.name}" served there, and does base_url end in /v1?)`;
    return '';
  }

  private backoffMs(f: Failure, failed: Endpoint, attempts: number): number {
    if (f.retryAfterMs !== null) return Math.min(f.retryAfterMs, RETRY_AFTER_CAP_MS);
    const now = this.now();
    // Failing over to another healthy endpoint needs no wait; the same (or a cooling) one does.
    if (this.endpoints.some((e) => e !== failed && e.cooldownUntil <= now)) return 0;
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempts - 1));
    return this.random() * ceiling;
  }

  private toError(f: Failure, ep: Endpoint, attempts: number): ModelError {
    const tail = attempts > 1 && f.retryable ? ` (gave up after ${attempts} attempts)` : '';
    return new ModelError(`model "${this.config.name}" at ${ep.base_url}: ${f.message}${tail}`, {
      kind: f.kind, status: f.status, endpoint: ep.base_url, serverMessage: f.serverMessage, attempts,
    });
  }

  private result(response: unknown, ep: Endpoint, attempts: number, t0: number): ChatResult {
    const r = response as { choices?: { message?: Record<string, unknown> }[]; usage?: Record<string, unknown> } | null;
    const msg = isPlainObject(r) && Array.isArray(r.choices) ? r.choices[0]?.message : undefined;
    if (!isPlainObject(msg)) {
      const snippet = (typeof response === 'string' ? response : JSON.stringify(response) ?? '').slice(0, 200);
      // Thrown back into chat()'s catch: retried like a server fault.
      throw new ModelError(`the response has no choices[0].message: ${snippet}`, { kind: 'malformed', endpoint: ep.base_url });
    }
    const raw = typeof msg['content'] === 'string' ? msg['content'] : '';
    // vLLM/SGLang/DeepSeek: reasoning_content; newer vLLM and Ollama: reasoning.
    const field = [msg['reasoning_content'], msg['reasoning']].find((v): v is string => typeof v === 'string' && v.trim().length > 0)?.trim() ?? null;
    const split = splitThink(raw);
    // Gemma models whose thinking came inline (no reasoning field): `thought\n…` (docs/paper-parity.md row 17).
    const gemma = !field && /gemma/i.test(this.config.name) ? splitGemmaThought(split.content) : null;
    const content = gemma?.content ?? (split.content || (field ? stripThink(field) : ''));
    const reasoningParts = [field, split.reasoning, gemma?.reasoning].filter((p): p is string => !!p);
    const u = isPlainObject(r!.usage) ? r!.usage : {};
    const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : 0);
    const details = isPlainObject(u['completion_tokens_details']) ? u['completion_tokens_details'] : {};
    const usage: Usage = { prompt_tokens: num(u['prompt_tokens']), completion_tokens: num(u['completion_tokens']) };
    if (typeof details['reasoning_tokens'] === 'number') usage.reasoning_tokens = num(details['reasoning_tokens']);
    this.counters.prompt += usage.prompt_tokens;
    this.counters.completion += usage.completion_tokens;
    this.counters.reasoning += usage.reasoning_tokens ?? 0;
    return {
      content,
      reasoning: reasoningParts.length ? reasoningParts.join('\n\n') : null,
      raw,
      usage,
      endpoint: ep.base_url,
      latencyMs: performance.now() - t0,
      attempts,
    };
  }
}
