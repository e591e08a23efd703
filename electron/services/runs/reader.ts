/**
 * Reading run folders (layout: ./layout.ts, format: docs/run-format.md), and the JSON-lines parsing the
 * writer shares when it resumes a run. Readers never modify a run: a torn last line (a partial line left
 * by a crash) is skipped, not cut.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { type RequestMessage, RequestMessageSchema, RUN_FORMAT, type RunEvent, RunEventSchema, type RunInfo, RunInfoSchema, type SampleResult, SampleResultSchema } from '../../../shared/run.ts';
import { EVENTS_JSONL, MESSAGES_JSONL, RUN_JSON, runsRoot, SAMPLES_DIR, sampleJournals, shardIndices } from './layout.ts';
import { lockHolder, shardLockHolder } from './lock.ts';

// ---------------------------------------------------------------------------------------------------
// JSON lines

/**
 * `value` checked against `schema`.
 * @throws Error `<what>: <every problem, with its path>`.
 */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new Error(`${what}: ${z.prettifyError(r.error)}`);
  return r.data;
}

/**
 * One line of a JSON-lines file, parsed and checked against `schema`.
 * @param path the file, and `line` its 1-based line number: both only name the place in errors.
 * @throws Error `<path>:<line>: …` when the text is not JSON or does not match the schema.
 */
export function parseJsonLine<T extends z.ZodType>(schema: T, text: string, path: string, line: number): z.infer<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}:${line}: not valid JSON (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  return parseOrThrow(schema, raw, `${path}:${line}`);
}

/**
 * The complete lines of a JSON-lines buffer (1-based line numbers; blank lines skipped) and the byte
 * length they cover. Bytes after the last newline are a torn line and are left out.
 */
export function splitLines(buf: Buffer): { lines: { text: string; line: number }[]; completeBytes: number } {
  const completeBytes = buf.lastIndexOf(0x0a) + 1;
  const lines: { text: string; line: number }[] = [];
  if (completeBytes === 0) return { lines, completeBytes };
  buf.toString('utf8', 0, completeBytes).split('\n').forEach((text, i) => {
    if (text.trim() !== '') lines.push({ text, line: i + 1 });
  });
  return { lines, completeBytes };
}

// ---------------------------------------------------------------------------------------------------
// Readers

/** Read run.json. @throws naming the file when it is missing, not JSON, of another format or invalid. */
export function readRunInfo(dir: string): RunInfo {
  const path = join(dir, RUN_JSON);
  if (!existsSync(path)) throw new Error(`${path} is missing: ${dir} is not a run folder`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const format = (raw as { format?: unknown } | null)?.format;
  if (format !== RUN_FORMAT) throw new Error(`${path} has format ${JSON.stringify(format ?? null)}; this version reads ${RUN_FORMAT}`);
  return parseOrThrow(RunInfoSchema, raw, `${path} is invalid`);
}

/**
 * Read a run: run.json and every finished sample (samples.jsonl in the order they finished; for a sharded run the
 * union of its journals, layout.ts {@link sampleJournals}, each in the order its samples finished).
 * A torn last line is ignored (the file is not modified).
 * @throws naming the file and line when run.json or a complete line of a journal is invalid.
 */
export function readRun(dir: string): { info: RunInfo; samples: SampleResult[] } {
  const info = readRunInfo(dir);
  const samples: SampleResult[] = [];
  for (const path of sampleJournals(dir)) {
    const { lines } = splitLines(readFileSync(path));
    for (const { text, line } of lines) samples.push(parseJsonLine(SampleResultSchema, text, path, line));
  }
  return { info, samples };
}

/** A file of sample `id`. @throws naming the id when it is not 1-128 letters, digits, `_`, `.` or `-`. */
function sampleFile(dir: string, id: string, name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(id) || id === '.' || id === '..') throw new Error(`invalid sample id ${JSON.stringify(id)}`);
  return join(dir, SAMPLES_DIR, id, name);
}

/**
 * Read one sample's events (samples/<id>/events.jsonl). A torn last line is ignored.
 * @throws naming the file when it is missing or a complete line is invalid, and naming the id when it is
 *   not 1-128 letters, digits, `_`, `.` or `-`.
 */
export function readSampleEvents(dir: string, id: string): RunEvent[] {
  const path = sampleFile(dir, id, EVENTS_JSONL);
  if (!existsSync(path)) throw new Error(`${path} is missing: no events for sample ${id}`);
  const { lines } = splitLines(readFileSync(path));
  return lines.map(({ text, line }) => parseJsonLine(RunEventSchema, text, path, line));
}

/**
 * Read the messages one sample's model calls sent (samples/<id>/messages.jsonl), by id. A missing file
 * (a run recorded before requests were kept, or a sample without model calls) gives an empty map; a torn
 * last line is ignored.
 * @throws naming the file and line when a complete line is invalid, and naming the id when it is invalid.
 */
export function readSampleMessages(dir: string, id: string): Map<string, RequestMessage> {
  const path = sampleFile(dir, id, MESSAGES_JSONL);
  const out = new Map<string, RequestMessage>();
  if (!existsSync(path)) return out;
  for (const { text, line } of splitLines(readFileSync(path)).lines) {
    const m = parseJsonLine(RequestMessageSchema, text, path, line);
    out.set(m.id, m);
  }
  return out;
}

/** One run found by {@link listRuns}. */
export interface RunListEntry {
  /** The run folder (absolute when `root` was). */
  dir: string;
  /** run.json, or null when it could not be read (see `error`). */
  info: RunInfo | null;
  /** Finished samples (complete lines of samples.jsonl, or of every journal of a sharded run). */
  done: number;
  /** Whether a live process on this host holds the run open, or (sharded runs) a shard lock is held (a `running` run that is not live crashed). */
  live: boolean;
  /** Why run.json could not be read, or null. */
  error: string | null;
}

/** The runs directly under `root` (folders with a run.json), newest first. Missing root: []. */
export function listRuns(root: string = runsRoot()): RunListEntry[] {
  if (!existsSync(root)) return [];
  const out: RunListEntry[] = [];
  for (const ent of readdirSync(root, { withFileTypes: true })) {
    if (!ent.isDirectory()) continue;
    const dir = join(root, ent.name);
    if (!existsSync(join(dir, RUN_JSON))) continue;
    let info: RunInfo | null = null;
    let error: string | null = null;
    try {
      info = readRunInfo(dir);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    let done = 0;
    for (const path of sampleJournals(dir)) {
      const buf = readFileSync(path);
      for (let i = 0; i < buf.length; i++) if (buf[i] === 0x0a) done++;
    }
    out.push({ dir, info, done, live: isRunLive(dir), error });
  }
  return out.sort((a, b) => (b.info?.created_at ?? '').localeCompare(a.info?.created_at ?? '') || a.dir.localeCompare(b.dir));
}

/**
 * Whether a live process (this one included) holds the run in `dir` open for writing, or one of its shards (a shard
 * lock from another host counts as held: SLURM is not asked here, so listing runs stays cheap).
 */
export function isRunLive(dir: string): boolean {
  if (lockHolder(dir) !== null) return true;
  return shardIndices(dir).some((k) => shardLockHolder(dir, k, { askSlurm: false }) !== null);
}
