/**
 * The perception server's HTTP API (docs/perception-api.md): request and response bodies of every route.
 * Compute routes take and answer msgpack maps in which frames, images and arrays are msgpack `bin` values
 * (PNG/JPEG file bytes, `.npy` bytes); the other routes answer JSON. The server (`spatial_perception`)
 * takes its field lists from the generated `spatial_common.contract.ROUTES` and is tested against
 * `SCHEMAS`; the host (`electron/services/perception/`) parses `/health` with {@link HealthSchema}.
 */
import { z } from 'zod';
import { ArrayNameSchema, ArtifactInfoSchema, ArtifactRecordSchema, CacheStatusSchema } from './artifact.ts';

/** A msgpack `bin` value (bytes). In the JSON Schemas it is marked `"x-msgpack": "bin"` and left untyped. */
export const bin = (description: string) => z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected bytes (msgpack bin)' }).meta({ description, 'x-msgpack': 'bin' });

/** Segmentation prompts. Pixels are (u = column, v = row), origin at the top-left pixel centre. */
export const PromptSchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('text'),
      /** A noun phrase, e.g. "chair"; every instance is segmented. */
      text: z.string().min(1),
      /** Score threshold in [0, 1] (default 0.3). */
      threshold: z.number().min(0).max(1).nullable().optional(),
    }),
    z.object({
      type: z.literal('points'),
      /** [[u, v], ...] pixel coordinates, one object. */
      points: z.array(z.tuple([z.number(), z.number()])).min(1),
      /** One per point: 1 foreground, 0 background. */
      labels: z.array(z.union([z.literal(0), z.literal(1)])),
    }),
    z.object({
      type: z.literal('box'),
      /** [x1, y1, x2, y2] pixels, top-left then bottom-right. */
      box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
    }),
  ])
  .meta({ id: 'Prompt' });

/** Params every compute route understands; backends take more (passed through). */
const CommonParams = {
  /** Seconds the job may take, queue wait included (server default 600). Not passed to the backend. */
  timeout_s: z.number().positive().optional(),
};

export const ReconstructParamsSchema = z
  .looseObject({
    ...CommonParams,
    /** Rotate the world so +Y is up and the floor is at Y = 0 (default true). */
    align_gravity: z.boolean().optional(),
    /** Drop points below this confidence. */
    conf_threshold: z.number().optional(),
    /** At most this many frames (server default --max-frames). Not passed to the backend. */
    max_frames: z.number().int().positive().optional(),
  })
  .meta({ id: 'ReconstructParams' });

export const SegmentParamsSchema = z.looseObject({ ...CommonParams }).meta({ id: 'SegmentParams' });

/** `return`: which arrays the answer carries (all are stored in the artifact either way). */
const ReturnField = z.array(ArrayNameSchema).nullable().optional();

/** `POST /v1/reconstruct`. */
export const ReconstructRequestSchema = z
  .strictObject({
    backend: z.string().min(1),
    frames: z.array(bin('PNG/JPEG file bytes of one frame')).min(1),
    /** Absolute frame index of each frame, distinct, >= 0. */
    frame_indices: z.array(z.number().int().nonnegative()),
    depth: bin('.npy (N, H, W) float32 metric depth, metres').nullable().optional(),
    intrinsics: bin('.npy (3, 3) or (N, 3, 3) float64 pinhole K, pixels').nullable().optional(),
    poses: bin('.npy (N, 4, 4) float64 camera-to-world, OpenCV axes, metres').nullable().optional(),
    params: ReconstructParamsSchema.nullable().optional(),
    return: ReturnField,
  })
  .meta({ id: 'ReconstructRequest' });

/** `POST /v1/segment/image`. */
export const SegmentImageRequestSchema = z
  .strictObject({
    backend: z.string().min(1),
    image: bin('PNG/JPEG file bytes'),
    prompt: PromptSchema,
    /** The image's absolute frame index in its video (default 0). */
    frame_index: z.number().int().nonnegative().optional(),
    params: SegmentParamsSchema.nullable().optional(),
    return: ReturnField,
  })
  .meta({ id: 'SegmentImageRequest' });

/** `POST /v1/segment/video`: the prompt is on one frame and propagated over all. */
export const SegmentVideoRequestSchema = z
  .strictObject({
    backend: z.string().min(1),
    frames: z.array(bin('PNG/JPEG file bytes of one frame')).min(1),
    frame_indices: z.array(z.number().int().nonnegative()),
    /** The absolute index (one of frame_indices) of the frame the prompt refers to. */
    prompt_frame_index: z.number().int().nonnegative(),
    prompt: PromptSchema,
    params: SegmentParamsSchema.nullable().optional(),
    return: ReturnField,
  })
  .meta({ id: 'SegmentVideoRequest' });

/** The msgpack answer of every compute route. */
export const ComputeResponseSchema = z
  .object({
    artifact: ArtifactRecordSchema,
    info: ArtifactInfoSchema,
    /**
     * `miss`: computed for this request. `hit`: not computed for it: an identical earlier request's stored result,
     * or the result of an identical request that was computing when it arrived (single-flight; docs/perception-api.md).
     */
    cache: CacheStatusSchema,
    compute_ms: z.number().nonnegative(),
    queue_ms: z.number().nonnegative(),
    server_ms: z.number().nonnegative(),
    /** name -> `.npy` bytes (the arrays of `return`, or all). */
    arrays: z.record(ArrayNameSchema, bin('.npy bytes')),
  })
  .meta({ id: 'ComputeResponse' });

/** Every error answer (JSON), with its HTTP status. */
export const ErrorBodySchema = z
  .object({
    error: z.string(),
    /** 400 bad_request, 401 unauthorized, 404 not_found / unknown_backend, 413 too_large, 422 unsupported (503 when the backend cannot run here), 499 cancelled, 504 timeout, 500 backend_error. */
    code: z.enum(['bad_request', 'unauthorized', 'not_found', 'unknown_backend', 'unsupported', 'too_large', 'timeout', 'cancelled', 'backend_error']),
    /** What to do about it, or null. */
    fix: z.string().nullable(),
  })
  .meta({ id: 'ErrorBody' });

/** One backend as `/health` and `/v1/backends` list it. */
export const BackendInfoSchema = z
  .object({
    name: z.string(),
    /** Routes and prompt kinds it serves: reconstruct, segment_image, segment_video, text, points, box. */
    capabilities: z.array(z.string()),
    /** cpu, cuda:0, ... */
    device: z.string(),
    version: z.string(),
    available: z.boolean(),
    /** Why it is not available (and how to fix that), or null. */
    reason: z.string().nullable().optional(),
  })
  .meta({ id: 'BackendInfo' });
export type BackendInfo = z.infer<typeof BackendInfoSchema>;

/** `GET /health` (no token needed). */
export const HealthSchema = z
  .object({
    status: z.string(),
    version: z.string(),
    backends: z.array(BackendInfoSchema),
    device: z.string(),
    /** Jobs waiting per device. */
    queue: z.record(z.string(), z.number().int().nonnegative()),
    cache: z.object({
      entries: z.number().int().nonnegative(),
      bytes: z.number().nonnegative(),
      max_bytes: z.number().nonnegative(),
      hits: z.number().int().nonnegative(),
      misses: z.number().int().nonnegative(),
      evictions: z.number().int().nonnegative(),
    }),
    uptime_s: z.number().nonnegative(),
  })
  .meta({ id: 'Health' });
export type Health = z.infer<typeof HealthSchema>;

/** The routes, their request schemas and what the server reads from each request. */
export const ROUTES = {
  reconstruct: { method: 'POST', path: '/v1/reconstruct', request: ReconstructRequestSchema, artifact: 'reconstruction' },
  segment_image: { method: 'POST', path: '/v1/segment/image', request: SegmentImageRequestSchema, artifact: 'masks' },
  segment_video: { method: 'POST', path: '/v1/segment/video', request: SegmentVideoRequestSchema, artifact: 'masks' },
} as const;
