/**
 * Writing a run record (layout: ./layout.ts, format: docs/run-format.md) as a journal, so that a run
 * killed at any instant (SIGKILL, power loss after the last fsync) can be resumed without losing a
 * finished sample or recording one twice.
 *
 * Events are appended synchronously (one `write` per event, on a kept-open O_APPEND fd), so they are
 * ordered; so are the messages model calls sent (messages.jsonl, one `write` per message, each message
 * once). `SampleWriter.finish` fsyncs the sample's images, messages, events and folders, then appends the
 * result line to samples.jsonl and fsyncs it. Result lines are written with one synchronous write each, so
 * concurrent samples of one writer never interleave. run.json is replaced atomically
 * (../fs/atomic.ts). Plain Node: no `electron` import.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { z } from 'zod';
import {
  type ModelRequest,
  RequestMessageSchema,
  RUN_FORMAT,
  type RunEvent,
  RunEventSchema,
  type RunInfo,
  RunInfoSchema,
  type SampleResult,
  SampleResultSchema,
  type SampleSpec,
  SampleSpecSchema,
} from '../../../shared/run.ts';
import { fsyncDir, fsyncFd, fsyncPath, writeAll, writeJsonAtomic } from '../fs/atomic.ts';
import { hostname } from 'node:os';
import { type ShardState, ShardStateSchema, type ShardStatus } from '../../../shared/cluster.ts';
import { shardOf } from '../../../shared/shards.ts';
import { currentTask } from '../cluster/slurm.ts';
import { ATTEMPTS_DIR, EVENTS_JSONL, IMAGES_DIR, MESSAGES_JSONL, RUN_JSON, SAMPLES_DIR, SAMPLES_JSONL, SHARD_STATE, sampleJournals, shardDir, SLURM_JSON } from './layout.ts';
import { acquireLock, acquireShardLock, releaseLock, releaseShardLock } from './lock.ts';
import { parseJsonLine, parseOrThrow, readRunInfo, splitLines } from './reader.ts';
import { type ImagePart, modelRequest, type RequestImage, toRequestMessages } from './requests.ts';
import { Redactor } from './secrets.ts';

/** The stages of `SampleWriter.finish`, reported to `hooks.finishStage` (used by the crash tests). */
export type FinishStage = 'events_synced' | 'result_written' | 'result_synced';

export interface WriterOptions {
  /**
   * Validate every event with RunEventSchema (default true). Costs a few microseconds per event
   * (docs/run-format.md, "Cost"); results are always validated.
   */
  validate?: boolean;
  /** Test hooks. `finishStage` runs synchronously at each stage of every `SampleWriter.finish`. */
  hooks?: { finishStage?: (sampleId: string, stage: FinishStage) => void };
  /**
   * Redacts secrets from every event, request message and result line before it is written (./secrets.ts
   * `Redactor`). Default: a Redactor of this process's secret-looking variables and the secrets registered with
   * `registerSecret` (server, bridge and model tokens and keys).
   */
  redactor?: Redactor;
}

export interface CreateRunOptions extends WriterOptions {
  /** Default: the folder's name. */
  id?: string;
  /** The run's configuration. Written as given: it must hold no secret (see assertNoSecrets in ./secrets.ts). */
  config: Record<string, unknown>;
  /** Versions of the pieces that made the run (`workbench`, `spatial_runtime`, …). */
  versions: Record<string, string>;
  /** How many samples the run is meant to hold. */
  total_samples: number;
}

/** What `RunWriter.resume` repaired. */
export interface Recovery {
  /** Bytes of a torn (newline-less) last line cut from samples.jsonl. */
  tornBytes: number;
  /** Unfinished samples whose folders were moved to attempts/<id>/<n>/ (they will be redone). */
  movedAside: string[];
  /** Whether a lock left by a dead process was taken over. */
  staleLock: boolean;
}

/** Which shard a shard writer ({@link RunWriter.openShard}) writes. */
export interface ShardRef {
  shard: number;
  shards: number;
}

/**
 * Writes one run. Create with {@link RunWriter.create} or reopen with {@link RunWriter.resume}; start
 * samples with {@link RunWriter.startSample}; end with {@link RunWriter.finish}.
 */
export class RunWriter {
  readonly dir: string;
  /** Ids of finished samples (those with a line in samples.jsonl). Updated as samples finish. */
  readonly doneIds: ReadonlySet<string>;
  /** What resume repaired (all empty after create). */
  readonly recovery: Recovery;
  readonly validate: boolean;
  readonly hooks: NonNullable<WriterOptions['hooks']>;
  /** Replaces secrets in every line before it is written. */
  readonly redactor: Redactor;
  private runInfo: RunInfo;
  private readonly done: Set<string>;
  private readonly active = new Map<string, SampleWriter>();
  /** Lower-cased id -> id over done and active samples: ids that differ only in case would share a folder on macOS/Windows. */
  private readonly folded = new Map<string, string>();
  private readonly pending = new Set<Promise<void>>();
  private samplesFd: number | null;
  /** Whether {@link RunWriter.finish} ran (nothing more can be written). */
  closed = false;
  /** The journal this writer appends to: samples.jsonl, or shards/<kkk>/samples.jsonl of a shard writer. */
  readonly journal: string;
  /** The shard this writer owns (a sharded run's task), or null for a whole run. */
  readonly shard: ShardRef | null;
  private shardStarted = '';

  private constructor(dir: string, info: RunInfo, done: Set<string>, samplesFd: number, recovery: Recovery, options: WriterOptions, shard: ShardRef | null = null) {
    this.dir = dir;
    this.shard = shard;
    this.journal = shard ? join(shardDir(dir, shard.shard), SAMPLES_JSONL) : join(dir, SAMPLES_JSONL);
    this.runInfo = info;
    this.done = done;
    this.doneIds = done;
    this.samplesFd = samplesFd;
    this.recovery = recovery;
    this.validate = options.validate ?? true;
    this.hooks = options.hooks ?? {};
    this.redactor = options.redactor ?? new Redactor();
    for (const id of done) this.folded.set(id.toLowerCase(), id);
  }

  /** The folder of this writer's own files: the run folder, or `shards/<kkk>/` of a shard writer. */
  get ownDir(): string {
    return this.shard ? shardDir(this.dir, this.shard.shard) : this.dir;
  }

  /** A copy of the current run.json contents. */
  get info(): RunInfo {
    return structuredClone(this.runInfo);
  }

  /** Ids of samples started and not yet finished or aborted. */
  get activeIds(): string[] {
    return [...this.active.keys()];
  }

  /**
   * Create a run folder (made if missing; it must not hold a run already) and write run.json with
   * status `running`.
   */
  static async create(dir: string, options: CreateRunOptions): Promise<RunWriter> {
    dir = resolve(dir);
    if (existsSync(join(dir, RUN_JSON))) throw new Error(`${join(dir, RUN_JSON)} exists: the folder already holds a run (resume it instead)`);
    mkdirSync(join(dir, SAMPLES_DIR), { recursive: true });
    const lock = acquireLock(dir);
    try {
      const now = new Date().toISOString();
      const info = parseOrThrow(RunInfoSchema, {
        format: RUN_FORMAT,
        id: options.id ?? basename(dir),
        created_at: now,
        updated_at: now,
        status: 'running',
        config: options.config,
        versions: options.versions,
        total_samples: options.total_samples,
      }, 'invalid run info');
      const fd = openSync(join(dir, SAMPLES_JSONL), 'a');
      try {
        fsyncSync(fd);
        writeJsonAtomic(join(dir, RUN_JSON), info);
        fsyncDir(dir);
      } catch (e) {
        closeSync(fd);
        throw e;
      }
      return new RunWriter(dir, info, new Set(), fd, { tornBytes: 0, movedAside: [], staleLock: lock.stale }, options);
    } catch (e) {
      releaseLock(dir);
      throw e;
    }
  }

  /**
   * Reopen a run: read run.json and samples.jsonl, cut a torn last line (a partial line without its
   * newline, left by a crash) from samples.jsonl, move the folders of unfinished samples to
   * attempts/<id>/<n>/, and set the status back to `running`.
   * @throws naming the file, when run.json is missing, unreadable or of another format, when a complete
   *   line of samples.jsonl is invalid, or when the run is open in another live process.
   */
  static async resume(dir: string, options: WriterOptions = {}): Promise<RunWriter> {
    dir = resolve(dir);
    const info = readRunInfo(dir);
    if (existsSync(join(dir, SLURM_JSON))) {
      throw new Error(`${dir} is a sharded run (${SLURM_JSON}): resume it with \`spatialclaw eval|run --resume ${dir} --slurm\`, or run one shard here with --shard K/N`);
    }
    const lock = acquireLock(dir);
    try {
      for (const f of readdirSync(dir)) if (f.startsWith(`${RUN_JSON}.tmp-`)) rmSync(join(dir, f), { force: true });
      const { fd, tornBytes, done } = openJournal(join(dir, SAMPLES_JSONL));
      mkdirSync(join(dir, SAMPLES_DIR), { recursive: true });
      const movedAside: string[] = [];
      for (const ent of readdirSync(join(dir, SAMPLES_DIR), { withFileTypes: true })) {
        if (ent.isDirectory() && !done.has(ent.name)) {
          moveAside(dir, ent.name);
          movedAside.push(ent.name);
        }
      }
      movedAside.sort();
      const resumed: RunInfo = { ...info, status: 'running', updated_at: new Date().toISOString() };
      writeJsonAtomic(join(dir, RUN_JSON), resumed);
      return new RunWriter(dir, resumed, done, fd, { tornBytes, movedAside, staleLock: lock.stale }, options);
    } catch (e) {
      releaseLock(dir);
      throw e;
    }
  }

  /**
   * Open one shard of a sharded run (shared/cluster.ts) for writing: take `shards/<kkk>/shard.lock` (holding the
   * SLURM job and task ids), cut a torn last line of the shard's journal, read the union of every journal (a sample
   * done anywhere is done), move the folders of this shard's unfinished samples (and only this shard's: other shards
   * run at the same time) to attempts/<id>/<n>/, and write the shard's state.json (`running`). run.json is never
   * written by a shard: the submitter and the finalize job own it.
   * @param total how many samples the shard is assigned (for state.json).
   * @throws naming the file when run.json is missing or invalid, a journal line is invalid, the shard's journal
   *   records a sample twice, or the shard is held by a live task (the message names the SLURM task).
   */
  static async openShard(dir: string, ref: ShardRef & { total: number }, options: WriterOptions = {}): Promise<RunWriter> {
    dir = resolve(dir);
    const info = readRunInfo(dir);
    if (!Number.isInteger(ref.shard) || ref.shard < 0 || ref.shard >= ref.shards) throw new Error(`shard ${ref.shard} is not in 0..${ref.shards - 1}`);
    const lock = acquireShardLock(dir, ref.shard, ref.shards);
    try {
      const own = join(shardDir(dir, ref.shard), SAMPLES_JSONL);
      const { fd, tornBytes, done } = openJournal(own);
      try {
        for (const path of sampleJournals(dir)) {
          if (path === own) continue;
          for (const { text, line } of splitLines(readFileSync(path)).lines) done.add(parseJsonLine(SampleResultSchema, text, path, line).id);
        }
      } catch (e) {
        closeSync(fd);
        throw e;
      }
      mkdirSync(join(dir, SAMPLES_DIR), { recursive: true });
      const movedAside: string[] = [];
      for (const ent of readdirSync(join(dir, SAMPLES_DIR), { withFileTypes: true })) {
        if (ent.isDirectory() && !done.has(ent.name) && shardOf(ent.name, ref.shards) === ref.shard) {
          moveAside(dir, ent.name);
          movedAside.push(ent.name);
        }
      }
      movedAside.sort();
      const w = new RunWriter(dir, info, done, fd, { tornBytes, movedAside, staleLock: lock.stale }, options, { shard: ref.shard, shards: ref.shards });
      w.shardStarted = new Date().toISOString();
      w.writeShardState('running', null, ref.total);
      return w;
    } catch (e) {
      releaseShardLock(dir, ref.shard);
      throw e;
    }
  }

  private shardTotal = 0;

  /**
   * Replace the shard's state.json (atomically). Shard writers only.
   * @param total samples assigned to the shard (kept from the last call when omitted).
   */
  writeShardState(status: ShardStatus, reason: string | null, total?: number, abandoned: string[] = []): ShardState {
    if (!this.shard) throw new Error('writeShardState: not a shard writer');
    if (total !== undefined) this.shardTotal = total;
    const slurm = currentTask();
    const now = new Date().toISOString();
    const doneHere = [...this.done].filter((id) => shardOf(id, this.shard!.shards) === this.shard!.shard).length;
    const state = ShardStateSchema.parse({
      shard: this.shard.shard, shards: this.shard.shards, status, reason, total: this.shardTotal, done: doneHere, abandoned,
      ...(slurm ? { slurm } : {}), host: hostname(), started_at: this.shardStarted || now, updated_at: now,
    });
    writeJsonAtomic(join(shardDir(this.dir, this.shard.shard), SHARD_STATE), state);
    return state;
  }

  /**
   * Start writing a sample. Its first event must be its `sample_start`. A folder left by an earlier,
   * unfinished attempt is moved to attempts/<id>/<n>/ first, so the sample is redone from scratch.
   * @throws when the sample is done already, is being written, or its id differs only in case from one
   *   that is.
   */
  startSample(spec: SampleSpec): SampleWriter {
    this.assertOpen();
    const s = parseOrThrow(SampleSpecSchema, spec, 'invalid sample');
    if (s.id === '.' || s.id === '..') throw new Error(`invalid sample id ${JSON.stringify(s.id)}`);
    if (this.done.has(s.id)) throw new Error(`sample ${s.id} is already done (recorded in ${this.journal})`);
    if (this.shard && shardOf(s.id, this.shard.shards) !== this.shard.shard) {
      throw new Error(`sample ${s.id} belongs to shard ${shardOf(s.id, this.shard.shards)}, not to shard ${this.shard.shard} of ${this.shard.shards}`);
    }
    if (this.active.has(s.id)) throw new Error(`sample ${s.id} is already being written`);
    const other = this.folded.get(s.id.toLowerCase());
    if (other !== undefined && other !== s.id) throw new Error(`sample ids ${other} and ${s.id} differ only in case; their folders would collide`);
    if (existsSync(join(this.dir, SAMPLES_DIR, s.id))) moveAside(this.dir, s.id);
    const w = new SampleWriter(this, s);
    this.active.set(s.id, w);
    this.folded.set(s.id.toLowerCase(), s.id);
    return w;
  }

  /**
   * End the run: wait for samples being finished, close the files, write run.json with `status` and
   * `updated_at`, and release the lock. Samples still open are aborted (left unfinished, redone on
   * resume); with status `finished` an open sample is an error instead.
   */
  async finish(status: Exclude<RunInfo['status'], 'running'>, shardEnd?: { status: Exclude<ShardStatus, 'running'>; reason: string | null; abandoned?: string[] }): Promise<void> {
    this.assertOpen();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    if (status === 'finished' && this.active.size > 0) {
      throw new Error(`cannot finish run ${this.runInfo.id} as finished: samples still open: ${[...this.active.keys()].join(', ')}`);
    }
    for (const w of [...this.active.values()]) w.abort();
    this.closed = true;
    if (this.samplesFd !== null) {
      fsyncSync(this.samplesFd);
      closeSync(this.samplesFd);
      this.samplesFd = null;
    }
    if (this.shard) {
      // A shard never writes run.json (the finalize job does); its state.json says how it ended.
      const end = shardEnd ?? { status: status === 'finished' ? 'finished' : status === 'failed' ? 'failed' : 'interrupted', reason: null };
      this.writeShardState(end.status, end.reason, undefined, end.abandoned ?? []);
      releaseShardLock(this.dir, this.shard.shard);
      return;
    }
    this.runInfo = { ...this.runInfo, status, updated_at: new Date().toISOString() };
    writeJsonAtomic(join(this.dir, RUN_JSON), this.runInfo);
    releaseLock(this.dir);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`run ${this.runInfo.id} is finished; resume it to write more`);
  }

  /** @internal Append one result line (one synchronous write: lines never interleave). */
  appendResultLine(line: string): void {
    if (this.samplesFd === null) throw new Error(`run ${this.runInfo.id} is closed`);
    writeAll(this.samplesFd, Buffer.from(line));
  }

  /** @internal */
  async syncResults(): Promise<void> {
    if (this.samplesFd === null) throw new Error(`run ${this.runInfo.id} is closed`);
    await fsyncFd(this.samplesFd);
  }

  /** @internal */
  markDone(id: string): void {
    this.done.add(id);
    this.active.delete(id);
  }

  /** @internal */
  release(id: string): void {
    this.active.delete(id);
    if (!this.done.has(id)) this.folded.delete(id.toLowerCase());
  }

  /** @internal */
  track(p: Promise<void>): void {
    this.pending.add(p);
    void p.then(
      () => this.pending.delete(p),
      () => this.pending.delete(p),
    );
  }
}

/** Writes one sample's events, images and model requests. Made by {@link RunWriter.startSample}. */
export class SampleWriter {
  readonly id: string;
  readonly spec: SampleSpec;
  /** Absolute path of samples/<id>/. */
  readonly dir: string;
  private readonly run: RunWriter;
  private fd: number | null;
  private state: 'open' | 'finishing' | 'finished' | 'aborted' = 'open';
  private count = 0;
  private last: RunEvent | null = null;
  private readonly imageNames = new Set<string>();
  /** messages.jsonl, opened by the first recorded request. */
  private messagesFd: number | null = null;
  /** Ids of the messages in messages.jsonl. */
  private readonly messageIds = new Set<string>();
  private redacted = 0;

  /** @internal use RunWriter.startSample */
  constructor(run: RunWriter, spec: SampleSpec) {
    this.run = run;
    this.spec = spec;
    this.id = spec.id;
    this.dir = join(run.dir, SAMPLES_DIR, spec.id);
    mkdirSync(this.dir, { recursive: true });
    this.fd = openSync(join(this.dir, EVENTS_JSONL), 'wx');
  }

  /** Events written so far (image events included). */
  get eventCount(): number {
    return this.count;
  }

  get status(): 'open' | 'finishing' | 'finished' | 'aborted' {
    return this.state;
  }

  /**
   * Secrets replaced so far in this sample's events and request messages (each occurrence counts once). The result
   * line records the total, its own included, as `redactions` when it is above 0.
   */
  get redactions(): number {
    return this.redacted;
  }

  /** `text` with the run's secrets replaced (./secrets.ts `Redactor`), counted in {@link redactions}. */
  private redact(text: string): string {
    const r = this.run.redactor.redact(text);
    this.redacted += r.count;
    return r.text;
  }

  /**
   * Append one event to events.jsonl (synchronously). For a `cell` event, each image's base64 `png`
   * is written to images/step<NNN>_<k>.png (k = 1-based position in the cell's images) and replaced by
   * its `path` relative to the sample folder, and one `image` event per image follows the cell event.
   * The caller's object is not modified. Secrets (./secrets.ts `Redactor`) are replaced by `[redacted:<name>]` in
   * the serialized line before it is written.
   * @returns the events as written (the cell with image paths, then its image events; redacted), for live views.
   */
  event(e: RunEvent): RunEvent[] {
    this.assertOpen();
    let ev = e;
    if (this.run.validate) {
      const r = RunEventSchema.safeParse(e);
      if (!r.success) throw new Error(`sample ${this.id}: invalid ${describeType(e)} event: ${z.prettifyError(r.error)}`);
      ev = r.data;
    }
    if (this.count === 0) {
      if (ev.type !== 'sample_start') throw new Error(`sample ${this.id}: the first event must be sample_start, got ${ev.type}`);
      if (ev.sample.id !== this.id) throw new Error(`sample ${this.id}: sample_start is for sample ${ev.sample.id}`);
    } else if (ev.type === 'sample_start') {
      throw new Error(`sample ${this.id}: sample_start may only be the first event`);
    }
    const lines: RunEvent[] = [];
    if (ev.type === 'cell') {
      const extra: RunEvent[] = [];
      const images = ev.result.images.map((img, k) => {
        if (img.png === undefined) return img;
        const { png, ...rest } = img;
        const path = this.saveImage(this.uniqueName(`step${String(ev.step).padStart(3, '0')}_${k + 1}`), Buffer.from(png, 'base64'));
        extra.push({ t: ev.t, step: ev.step, type: 'image', path, label: img.label, width: img.width, height: img.height });
        return { ...rest, path };
      });
      lines.push({ ...ev, result: { ...ev.result, images } }, ...extra);
    } else {
      lines.push(ev);
    }
    const before = this.redacted;
    const text = lines.map((l) => this.redact(`${JSON.stringify(l)}\n`));
    writeAll(this.fd!, Buffer.from(text.join('')));
    // Live views get what was written: parsed back only when something was redacted (rare).
    const written = this.redacted === before ? lines : text.map((t) => JSON.parse(t) as RunEvent);
    this.count += written.length;
    this.last = written[written.length - 1]!;
    return written;
  }

  /**
   * Write a PNG (or any image bytes) to images/<name> and return its path relative to the sample
   * folder (`images/<name>`). Names use letters, digits, _ . - and are never overwritten. No event is
   * written: reference the path from your own event (e.g. an `image` event).
   */
  writeImage(name: string, png: Uint8Array): string {
    this.assertOpen();
    if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/.test(name)) throw new Error(`sample ${this.id}: invalid image name ${JSON.stringify(name)}`);
    if (name.startsWith('req-')) throw new Error(`sample ${this.id}: image names starting with req- are for request images (recordRequest)`);
    if (this.imageNames.has(name) || existsSync(join(this.dir, IMAGES_DIR, name))) throw new Error(`sample ${this.id}: image ${name} exists`);
    return this.saveImage(name, png);
  }

  /**
   * Record what one model call sent. Its messages (OpenAI chat messages; images as PNG or JPEG base64 data
   * URLs) become RequestMessages: each message not in messages.jsonl yet is appended to it (one `write`
   * per line), and each image not written yet goes to images/req-<hash>.png (or .jpg), by content hash,
   * before the line that references it. Calls sharing their history write it once; no base64 reaches a
   * .jsonl file. The files are fsynced by `finish`, with the events.
   * @param params the request body's fields besides `messages` (model, max_tokens, temperature, ...).
   * @returns the `request` to put in the call's model_call event.
   * @throws naming the message and part, for what the record cannot hold (roles other than system, user
   *   and assistant; parts other than text and image_url; image URLs other than PNG/JPEG data URLs).
   */
  recordRequest(messages: ChatCompletionMessageParam[], params: Record<string, unknown>): ModelRequest {
    this.assertOpen();
    const recorded = toRequestMessages(messages, (img) => this.requestImage(img));
    for (const m of recorded) {
      if (this.messageIds.has(m.id)) continue;
      const line = this.run.validate ? parseOrThrow(RequestMessageSchema, m, `sample ${this.id}: invalid request message`) : m;
      this.messagesFd ??= openSync(join(this.dir, MESSAGES_JSONL), 'wx');
      writeAll(this.messagesFd, Buffer.from(this.redact(`${JSON.stringify(line)}\n`)));
      this.messageIds.add(m.id);
    }
    return modelRequest(recorded, params);
  }

  /** Write a request image once (its name is its content hash) and return its part. */
  private requestImage(img: RequestImage): ImagePart {
    if (!this.imageNames.has(img.name)) this.saveImage(img.name, img.bytes);
    return { type: 'image', path: `${IMAGES_DIR}/${img.name}`, width: img.width, height: img.height, bytes: img.bytes.length };
  }

  /**
   * Record the sample as done: append a `termination` event if the last event is not one, fsync the
   * images, events.jsonl and the folders, then append the result to samples.jsonl and fsync it. The
   * sample is done once this resolves (and only then). Rejects (writing nothing to samples.jsonl) when
   * the result is invalid, is for another sample, or contradicts the termination event.
   */
  finish(result: SampleResult): Promise<void> {
    let line: string;
    try {
      line = this.prepareFinish(result);
    } catch (e) {
      return Promise.reject(e);
    }
    this.state = 'finishing';
    const p = this.commit(line);
    this.run.track(p);
    return p;
  }

  /** Validate the result and write the termination event if missing; returns the result line. */
  private prepareFinish(result: SampleResult): string {
    this.assertOpen();
    const r = parseOrThrow(SampleResultSchema, result, `sample ${this.id}: invalid result`);
    if (r.id !== this.id) throw new Error(`sample ${this.id}: result is for sample ${r.id}`);
    if (this.count === 0) throw new Error(`sample ${this.id}: no events written (the first must be sample_start)`);
    if (this.last?.type === 'termination') {
      if (this.last.reason !== r.termination) {
        throw new Error(`sample ${this.id}: result termination ${r.termination} differs from the termination event (${this.last.reason})`);
      }
    } else {
      this.event({ t: r.finished_at, step: this.last?.step ?? 0, type: 'termination', reason: r.termination, detail: r.error });
    }
    const own = this.run.redactor.redact(JSON.stringify(r));
    const total = this.redacted + own.count;
    if (total === 0) return `${own.text}\n`;
    // The count goes in as the last field, over the redacted result when the result itself held a secret.
    return `${JSON.stringify({ ...(own.count > 0 ? JSON.parse(own.text) as SampleResult : r), redactions: total })}\n`;
  }

  /**
   * Close without recording: the sample stays unfinished (its folder is moved aside and the sample
   * redone on resume, or when started again). Safe to call in any state; a no-op once finished.
   */
  abort(): void {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.closeFd();
    this.run.release(this.id);
  }

  private async commit(line: string): Promise<void> {
    const stage = (s: FinishStage) => this.run.hooks.finishStage?.(this.id, s);
    let written = false;
    try {
      const imagesDir = join(this.dir, IMAGES_DIR);
      for (const name of this.imageNames) await fsyncPath(join(imagesDir, name), 'r+');
      if (this.imageNames.size > 0) await fsyncPath(imagesDir, 'r');
      if (this.messagesFd !== null) await fsyncFd(this.messagesFd);
      await fsyncFd(this.fd!);
      this.closeFd();
      await fsyncPath(this.dir, 'r');
      await fsyncPath(join(this.run.dir, SAMPLES_DIR), 'r');
      stage('events_synced');
      this.run.appendResultLine(line);
      written = true;
      stage('result_written');
      await this.run.syncResults();
      stage('result_synced');
      this.state = 'finished';
      this.run.markDone(this.id);
    } catch (e) {
      this.closeFd();
      if (written) {
        // The line is in samples.jsonl (maybe not yet on disk): never write it twice.
        this.state = 'finished';
        this.run.markDone(this.id);
      } else {
        this.state = 'aborted';
        this.run.release(this.id);
      }
      throw e;
    }
  }

  private saveImage(name: string, bytes: Uint8Array): string {
    const dir = join(this.dir, IMAGES_DIR);
    if (this.imageNames.size === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), bytes, { flag: 'wx' });
    this.imageNames.add(name);
    return `${IMAGES_DIR}/${name}`;
  }

  private uniqueName(stem: string): string {
    let name = `${stem}.png`;
    for (let i = 2; this.imageNames.has(name) || existsSync(join(this.dir, IMAGES_DIR, name)); i++) name = `${stem}-${i}.png`;
    return name;
  }

  private closeFd(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
    if (this.messagesFd !== null) {
      closeSync(this.messagesFd);
      this.messagesFd = null;
    }
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`sample ${this.id} is ${this.state}; no more writes`);
  }
}


/** The `type` of an event that failed validation, for the error message. */
function describeType(e: unknown): string {
  const t = (e as { type?: unknown } | null)?.type;
  return typeof t === 'string' ? t : 'untyped';
}

/**
 * Open a journal of finished samples for appending (made if missing): cut a torn last line (a result whose write a
 * crash cut) and read the ids it records.
 * @throws naming the file and line when a complete line is invalid or records a sample twice (the fd is closed).
 */
function openJournal(path: string): { fd: number; tornBytes: number; done: Set<string> } {
  const fd = openSync(path, 'a+');
  const done = new Set<string>();
  try {
    const buf = readFileSync(path);
    const { lines, completeBytes } = splitLines(buf);
    const tornBytes = buf.length - completeBytes;
    if (tornBytes > 0) {
      ftruncateSync(fd, completeBytes);
      fsyncSync(fd);
    }
    for (const { text, line } of lines) {
      const r = parseJsonLine(SampleResultSchema, text, path, line);
      if (done.has(r.id)) throw new Error(`${path}:${line}: sample ${r.id} is recorded twice`);
      done.add(r.id);
    }
    return { fd, tornBytes, done };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Move samples/<id>/ to attempts/<id>/<n>/ (n = 1, 2, …: one more than the attempts kept so far). */
function moveAside(runDir: string, id: string): string {
  const parent = join(runDir, ATTEMPTS_DIR, id);
  mkdirSync(parent, { recursive: true });
  let n = 1;
  for (const f of readdirSync(parent)) if (/^\d+$/.test(f)) n = Math.max(n, Number(f) + 1);
  const to = join(parent, String(n));
  renameSync(join(runDir, SAMPLES_DIR, id), to);
  fsyncDir(parent);
  fsyncDir(join(runDir, SAMPLES_DIR));
  return to;
}
