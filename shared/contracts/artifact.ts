/**
 * Perception artifacts as they cross processes: the record the perception server makes, the manifest it
 * serves and stores, the copy a run keeps, and the payload a kernel tool publishes. One definition each;
 * Python validates against the JSON Schemas generated from these (`spatial_common.contract.SCHEMAS`).
 *
 *   server (spatial_perception)  ── ArtifactRecord in every compute answer ──▶ kernel tool
 *   kernel tool  ── PublishedArtifact (display_data, MIME_ARTIFACT) ──▶ host (run event `artifact`)
 *   server  ── ArtifactManifest (GET /v1/artifacts/{id}) ──▶ host, which keeps a StoredManifest in the run
 *   host  ── ArtifactManifest (workbench `artifactManifest`) ──▶ 3D inspector
 */
import { z } from 'zod';
import { ARTIFACT_KINDS } from './arrays.ts';

/** Perception artifact ids: 32 lowercase hex digits (uuid4().hex). */
export const ArtifactIdSchema = z.string().regex(/^[0-9a-f]{32}$/, 'an artifact id is 32 lowercase hex digits').meta({ id: 'ArtifactId' });
/** Array names inside an artifact (`points`, `masks`, ...): file names `<name>.npy`. */
export const ArrayNameSchema = z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'an array name is 1-64 letters, digits or _').meta({ id: 'ArrayName' });

/** Absolute frame indices (index of each frame in its source video), in array order. */
export const FrameIndicesSchema = z.array(z.number().int().nonnegative()).meta({ id: 'FrameIndices' });

/** Array name -> shape, e.g. {"points": [5, 480, 640, 3]}. */
export const ShapesSchema = z.record(ArrayNameSchema, z.array(z.number().int().nonnegative())).meta({ id: 'Shapes' });

export const ArtifactKindSchema = z.enum(ARTIFACT_KINDS as [string, ...string[]]).meta({ id: 'ArtifactKind', description: 'reconstruction or masks (shared/contracts/arrays.ts)' });

/** Shape, dtype and data size of one stored array. */
export const ArrayMetaSchema = z
  .object({
    shape: z.array(z.number().int().nonnegative()),
    /** numpy dtype name, e.g. float32. */
    dtype: z.string(),
    /** Bytes of array data (without the .npy header). */
    bytes: z.number().int().nonnegative().optional(),
  })
  .meta({ id: 'ArrayMeta' });

/** The server's record of one artifact (every compute answer's `artifact`). */
export const ArtifactRecordSchema = z
  .object({
    id: ArtifactIdSchema,
    kind: ArtifactKindSchema,
    /** Backend that made it, e.g. rgbd, sam3. */
    backend: z.string().min(1),
    /** ISO 8601 UTC time, e.g. 2026-12-04T20:50:25.123Z. */
    created: z.string(),
    /** Absolute frame indices the artifact covers, in array order. */
    frame_indices: FrameIndicesSchema,
    shapes: ShapesSchema,
    /** One line for people and for the model. */
    summary: z.string(),
    /** The request's params as the backend saw them (server-only keys removed). */
    params: z.record(z.string(), z.unknown()),
    /** Masks only: the label of each of the K objects, in mask order (text prompt, or `object k`). */
    labels: z.array(z.string()).optional(),
  })
  .meta({ id: 'ArtifactRecord' });
export type ArtifactRecord = z.infer<typeof ArtifactRecordSchema>;

/** Backend-specific details of an artifact (alignment report, model name, ...): free-form JSON. */
export const ArtifactInfoSchema = z.record(z.string(), z.unknown()).meta({ id: 'ArtifactInfo' });

export const ArrayMetasSchema = z.record(ArrayNameSchema, ArrayMetaSchema).meta({ id: 'ArrayMetas' });

/** The record plus its arrays and info: `GET /v1/artifacts/{id}` and the workbench's `artifactManifest`. */
export const ArtifactManifestSchema = ArtifactRecordSchema.extend({ arrays: ArrayMetasSchema, info: ArtifactInfoSchema }).meta({ id: 'ArtifactManifest' });
export type ArtifactManifest = z.infer<typeof ArtifactManifestSchema>;

/**
 * An artifact's `manifest.json` on disk, in the server's store (`<root>/<id>/`, with `cache_key` and
 * `nbytes`) and in a run that kept it (`samples/<id>/artifacts/<id>/`, with `source_url` and `kept_at`).
 * Next to it: one `<name>.npy` per array. Written last and atomically: a folder without it is unfinished.
 */
export const StoredManifestSchema = z
  .object({
    record: ArtifactRecordSchema,
    arrays: ArrayMetasSchema,
    info: ArtifactInfoSchema,
    /** Server store: the cache key of the request that made it. */
    cache_key: z.string().optional(),
    /** Server store: total array bytes. */
    nbytes: z.number().int().nonnegative().optional(),
    /** Kept copy: where it was fetched from. */
    source_url: z.string().optional(),
    /** Kept copy: ISO time of the copy. */
    kept_at: z.string().optional(),
  })
  .meta({ id: 'StoredManifest' });
export type StoredManifest = z.infer<typeof StoredManifestSchema>;

/** A compute answer's `cache` field: `hit` (no computation for this request) or `miss` (computed for it). */
export const CacheStatusSchema = z.enum(['hit', 'miss']).meta({ id: 'CacheStatus' });
export type CacheStatus = z.infer<typeof CacheStatusSchema>;

/**
 * What a kernel tool publishes per artifact (display_data under MIME_ARTIFACT), recorded in the cell result
 * and as a run event; the 3D inspector opens it by `url` (live) or `id` (kept copy).
 */
export const PublishedArtifactSchema = z
  .object({
    id: z.string(),
    /** The tool that made it: Reconstruct or SAM3. */
    tool: z.string(),
    kind: ArtifactKindSchema,
    /** `<server>/v1/artifacts/<id>`, or null when the server did not keep it. */
    url: z.string().nullable(),
    summary: z.string(),
    /** Absolute frame indices the artifact covers (authoritative: the tool knows them). */
    frame_indices: z.array(z.number().int()).optional(),
    /** Array name -> shape, e.g. {"points": [5, 480, 640, 3]}. */
    shapes: z.record(z.string(), z.array(z.number().int())).optional(),
    /** Masks only: the K object labels. */
    labels: z.array(z.string()).optional(),
    /**
     * The server's `cache` answer for the request that made it: `hit` (a stored result, or an identical request's
     * computation it waited for) or `miss` (computed for this request). Absent when the server did not say
     * (older runs and servers).
     */
    cache: CacheStatusSchema.optional(),
  })
  .meta({ id: 'PublishedArtifact' });
export type PublishedArtifact = z.infer<typeof PublishedArtifactSchema>;
