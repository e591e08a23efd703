/**
 * Model endpoint configuration (JSON). Any OpenAI-compatible chat-completions endpoint: vLLM, SGLang,
 * llama.cpp server, Ollama, OpenAI, Gemini's OpenAI-compatible endpoint. API keys are never stored:
 * the config names the environment variable that holds the key.
 */
import { z } from 'zod';
import { DEFAULTS } from './defaults.ts';

/** Sampling parameters for one role; passed through to the API (unknown keys go to extra_body). */
export const SamplingSchema = z
  .object({
    temperature: z.number().min(0).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().optional(),
    presence_penalty: z.number().optional(),
    frequency_penalty: z.number().optional(),
    seed: z.number().int().optional(),
    max_tokens: z.number().int().positive().optional(),
  })
  .passthrough();
export type Sampling = z.infer<typeof SamplingSchema>;

/**
 * Model roles, each with its own sampling parameters: the planner, the main loop, `vlm.*` calls from the
 * kernel (`vlm`, and `locate` for grounding calls such as the paper profile's `vlm.locate`), the fallback.
 */
export const ROLES = ['planner', 'main', 'vlm', 'locate', 'fallback'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Requests the model client (`ModelClient`, electron/services/model/client.ts) keeps in flight to one
 * endpoint when neither the endpoint nor the config sets `max_in_flight`. 16 is enough to keep a vLLM or
 * SGLang server's batch busy with long multimodal agent contexts (their KV cache fills long before a
 * typical `--max-num-seqs` of 64 to 256), small enough that a hosted API's rate limit is rarely hit at
 * once (a 429 lowers it further), and it keeps the excess queued on the client, where waiting does not
 * run down a request's `timeout_s`. Rationale and tuning: docs/models.md, "Requests in flight and 429
 * back-pressure".
 */
export const DEFAULT_MAX_IN_FLIGHT = 16;

/**
 * A cap on requests in flight to one endpoint: a whole number of at least 1. The message names what the
 * number means, since `0` (a common way to write "unlimited") would otherwise give a bare "too small".
 */
const MaxInFlightSchema = z
  .number()
  .int({ error: 'must be a whole number of requests (at least 1)' })
  .min(1, { error: 'must be at least 1: the most requests sent to one endpoint at once (there is no "unlimited"; give a large number instead)' });

export const EndpointSchema = z.object({
  base_url: z.string().url(),
  /** Name of the env var with this endpoint's key (overrides the model's api_key_env). */
  api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
  /**
   * Absolute path of a file holding this endpoint's key (first line), read before each request; overrides
   * `api_key_env`. Used for servers registered on a SLURM cluster (`--model cluster`, docs/cluster.md), whose token
   * lives in a file readable by the user only (mode 0600). The path is not a secret; the key never enters the config.
   */
  api_key_file: z.string().min(1).optional(),
  /**
   * Most requests in flight to this endpoint at once (a positive integer); overrides the config's
   * `max_in_flight`. Default: the config's `max_in_flight`, else {@link DEFAULT_MAX_IN_FLIGHT} (16).
   */
  max_in_flight: MaxInFlightSchema.optional(),
});

export const ModelConfigSchema = z
  .object({
    /** The model id sent to the API. */
    name: z.string().min(1),
    /** One endpoint ... */
    base_url: z.string().url().optional(),
    /** ... or several serving the same model (least in-flight routing, sticky per sample). */
    endpoints: z.array(EndpointSchema).min(1).optional(),
    /** Name of the environment variable holding the API key; the key itself is never written anywhere. */
    api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
    roles: z.object({
      planner: SamplingSchema.optional(),
      main: SamplingSchema.optional(),
      vlm: SamplingSchema.optional(),
      /** Grounding calls from the kernel; falls back to `vlm` when absent. */
      locate: SamplingSchema.optional(),
      fallback: SamplingSchema.optional(),
    }).default({}),
    max_tokens: z.number().int().positive().default(4096),
    images: z.object({
      /** Images per request (key frames + show() images). */
      per_request: z.number().int().positive().default(DEFAULTS.imagesPerRequest),
      /** Long edge in pixels images are resized to before sending. */
      max_long_edge: z.number().int().positive().default(DEFAULTS.maxLongEdge),
    }).default({ per_request: DEFAULTS.imagesPerRequest, max_long_edge: DEFAULTS.maxLongEdge }),
    /** Passed through to the request body, e.g. {"chat_template_kwargs": {"enable_thinking": true}} for vLLM. */
    extra_body: z.record(z.string(), z.unknown()).default({}),
    /** Per-request timeout, seconds. */
    timeout_s: z.number().positive().default(300),
    /** Retries on 429, 5xx and timeouts (exponential backoff with jitter). */
    max_retries: z.number().int().nonnegative().default(4),
    /** How long an endpoint that failed its health check or a request is avoided, seconds. */
    cooldown_s: z.number().nonnegative().default(30),
    /**
     * Most requests in flight to each endpoint at once (a positive integer; an endpoint's own `max_in_flight`
     * overrides it). Calls beyond it wait in a FIFO queue on the client. A 429 lowers an endpoint's effective
     * limit below this (halving, at least 1); each success raises it by 1 back up to this. Optional: absent
     * means {@link DEFAULT_MAX_IN_FLIGHT} (16).
     */
    max_in_flight: MaxInFlightSchema.optional(),
  })
  .refine((c) => c.base_url || c.endpoints, { message: 'give base_url or endpoints' });
export type ModelConfig = z.infer<typeof ModelConfigSchema>;

export const UsageSchema = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  reasoning_tokens: z.number().int().nonnegative().optional(),
}).meta({ id: 'Usage' });
export type Usage = z.infer<typeof UsageSchema>;

/** What one model call produced (after retries). */
export interface ChatResult {
  /** The answer text with `<think>` blocks removed; `reasoning_content` when `content` was empty. */
  content: string;
  /** The model's reasoning (think blocks or reasoning_content), if any. */
  reasoning: string | null;
  /** The raw `content` as received. */
  raw: string;
  usage: Usage;
  /** Base URL of the endpoint that answered. */
  endpoint: string;
  latencyMs: number;
  /** Attempts made (1 = no retry). */
  attempts: number;
  /**
   * What was sent besides the messages: the request body's other fields (model, max_tokens, temperature,
   * extra_body keys, ...), with secret-looking values redacted. Absent for stand-ins that send nothing.
   */
  sent?: { params: Record<string, unknown> };
}
