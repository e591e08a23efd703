/**
 * Every structure that crosses a language or process boundary, defined once (zod). The TypeScript side
 * imports these schemas; the Python side (`spatial_common.contract`, python-common/) is generated from this
 * table by `npm run contracts` (build/contracts.ts) and checked in; CI fails when it is stale.
 * docs/architecture.md ("Contracts") lists each contract with its producer and consumers.
 */
import type { z } from 'zod';
import { AnnotationEntrySchema, TaxonomySchema } from '../annotations.ts';
import { ExportRowSchema } from '../export.ts';
import { RunComparisonSchema } from '../compare.ts';
import { AgentProfileSchema, AgentRunConfigSchema, KernelProfileSchema } from '../profiles.ts';
import { ModelRequestSchema, RequestMessageSchema, RunEventSchema, RunInfoSchema, SampleResultSchema, SampleSpecSchema } from '../run.ts';
import { ArrayMetaSchema, ArtifactManifestSchema, ArtifactRecordSchema, PublishedArtifactSchema, StoredManifestSchema } from './artifact.ts';
import { AnswerPayloadSchema, ImageMetaSchema, InputSpecSchema, PrepareConfigSchema, VariablesPayloadSchema, VariableSummarySchema } from './kernel.ts';
import {
  BackendInfoSchema,
  ComputeResponseSchema,
  ErrorBodySchema,
  HealthSchema,
  PromptSchema,
  ReconstructRequestSchema,
  SegmentImageRequestSchema,
  SegmentVideoRequestSchema,
} from './perception-api.ts';

export * from './arrays.ts';
export * from './artifact.ts';
export * from './kernel.ts';
export * from './perception-api.ts';

/** Name -> schema of every contract exported to Python as JSON Schema (draft-07). */
export const CONTRACTS: Record<string, z.ZodType> = {
  // Perception artifacts
  ArrayMeta: ArrayMetaSchema,
  ArtifactRecord: ArtifactRecordSchema,
  ArtifactManifest: ArtifactManifestSchema,
  StoredManifest: StoredManifestSchema,
  PublishedArtifact: PublishedArtifactSchema,
  // Kernel: session config and display payloads
  InputSpec: InputSpecSchema,
  PrepareConfig: PrepareConfigSchema,
  ImageMeta: ImageMetaSchema,
  AnswerPayload: AnswerPayloadSchema,
  VariableSummary: VariableSummarySchema,
  VariablesPayload: VariablesPayloadSchema,
  // Perception API bodies
  Prompt: PromptSchema,
  ReconstructRequest: ReconstructRequestSchema,
  SegmentImageRequest: SegmentImageRequestSchema,
  SegmentVideoRequest: SegmentVideoRequestSchema,
  ComputeResponse: ComputeResponseSchema,
  ErrorBody: ErrorBodySchema,
  BackendInfo: BackendInfoSchema,
  Health: HealthSchema,
  // Run records (docs/run-format.md), for readers in Python (pandas, notebooks)
  SampleSpec: SampleSpecSchema,
  SampleResult: SampleResultSchema,
  RunEvent: RunEventSchema,
  RunInfo: RunInfoSchema,
  RequestMessage: RequestMessageSchema,
  ModelRequest: ModelRequestSchema,
  // Annotations journal (annotations.jsonl) and the tag taxonomy (shared/annotations.ts)
  AnnotationEntry: AnnotationEntrySchema,
  Taxonomy: TaxonomySchema,
  // `spatialclaw export` rows (shared/export.ts): the Python writer takes its columns and types from this
  ExportRow: ExportRowSchema,
  // Run comparison (`python -m spatial_eval compare-many` -> the workbench's compareRuns; shared/compare.ts)
  RunComparison: RunComparisonSchema,
  // Agent profiles (run.json config.agent; the kernel part travels in PrepareConfig.profile)
  AgentProfile: AgentProfileSchema,
  AgentRunConfig: AgentRunConfigSchema,
  KernelProfile: KernelProfileSchema,
};
