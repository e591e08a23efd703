/**
 * `spatialclaw import DIR`: a SpatialClaw work dir (the folder NVlabs/SpatialClaw's benchmark runner writes:
 * `config.json`, `predictions.jsonl`, `session-<sample id>/trace.jsonl`, `session-<sample id>/show_images/`) turned
 * into a run folder of this workbench (docs/run-format.md), written by the run store's own {@link RunWriter}, so the
 * workbench browses, annotates, scores and compares it like a run it recorded itself.
 *
 * The format read, with references to the SpatialClaw commit it follows, and how each record maps to the run
 * record, is in docs/import.md. In short: one sample per line of predictions.jsonl (and per session folder without
 * a line); the trace's `init` gives the question and options, `plan` a plan event, `llm_call` a model_call,
 * `execution` a cell (with its `show()` images, found through the `[SHOW:{...}]` markers of its stdout), `feedback`
 * an observation, `answer_submitted` / `termination` the answer and the way the sample ended. The work dir's own
 * per-sample score (`result`) becomes the score; with a data root the benchmark's rows give the real inputs and
 * question types, and spatial_eval scores the answers.
 *
 * Nothing is dropped silently: the work dir's config (secrets redacted), its results summary, the problems met and
 * what was not mapped go to run.json's `config.source`; each sample's own records are copied verbatim to
 * `samples/<id>/imported/` (trace.jsonl, prediction.json). Unreadable lines and files are reported as problems
 * (`file:line: what was wrong; what was expected`) and the rest is imported.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { CellError, CellImage, CellResult, InputSpec } from '../../../shared/kernel.ts';
import type { ImportReport } from '../../../shared/import.ts';
import type { RunEvent, SampleResult, SampleSpec, Termination } from '../../../shared/run.ts';
import { imageSize } from '../../../shared/image.ts';
import { BenchError, LiveScorer, loadBenchmarks, type ScoringName } from '../bench/index.ts';
import { redactSecrets } from '../model/config.ts';
import { IMPORTED_DIR, newRunId, RUN_JSON } from './layout.ts';
import { RunWriter } from './writer.ts';

/** `config.source.format` of an imported SpatialClaw work dir. */
export const WORKDIR_FORMAT = 'spatialclaw-workdir';
/** The NVlabs/SpatialClaw commit whose work-dir format this reader follows (docs/import.md). */
export const WORKDIR_COMMIT = 'b062f82962549391a02cc70e022641c1f4d8ac2b';
/** `SampleResult.scoring` of a score taken from the work dir's own `result` field. */
export const WORKDIR_SCORING = 'spatialclaw-workdir';
/**
 * SpatialClaw benchmark names (its `evals/factory.py` registry) that spatial_eval spells differently; every other
 * name is the same in both.
 */
export const BENCHMARK_ALIASES: Readonly<Record<string, string>> = { vsibench_unbiased: 'vsibench_debiased' };

/** A line or file that could not be imported (the rest was). */
export type ImportProblem = ImportReport['problems'][number];

/** Something the reader could not bring into the run record but kept elsewhere (never an error). */
export type ImportNote = string;

/** Why nothing was imported; `fix` says what to do. */
export class ImportError extends Error {
  override name = 'ImportError';
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

export interface ImportOptions {
  /** The runs root the run folder goes under (`<root>/<id>/`). */
  runsRoot: string;
  /** The run id (folder name); default `import-YYYYMMDD-HHMMSS-xxxx` ({@link newRunId}). */
  id?: string | undefined;
  /**
   * Folder of the benchmarks' snapshots (`spatialclaw eval --data-root`): when the work dir's benchmark is there, its
   * rows give each sample's real inputs, question, options and question type, and spatial_eval scores the answers.
   */
  dataRoot?: string | undefined;
  /** The spatial_eval scoring used with `dataRoot` (default `official`, as `spatialclaw eval`). */
  scoring?: ScoringName | undefined;
}

export type { ImportReport } from '../../../shared/import.ts';

// ---------------------------------------------------------------------------------------------------
// Reading the work dir

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A line of predictions.jsonl (`entrypoints/run.py` `worker`: `{"sample_id", "content", "ground_truth"?, "result"?, "usage"?}`). */
interface Prediction {
  line: number;
  sampleId: string;
  /** The final answer text (`final_answer.text`; "" when the sample raised). */
  content: string | null;
  groundTruth: string | number | null;
  /** `benchmark.evaluate_single(sample, content)`: 0..1, or null (not scorable). */
  result: number | null;
  usage: Json | null;
  /** The line's object as written. */
  raw: Json;
}

/** The fields of a prediction line this reader maps; others are kept in `imported/prediction.json`. */
const PREDICTION_FIELDS = new Set(['sample_id', 'content', 'ground_truth', 'result', 'usage']);

/** One trace event with its line number. */
interface TraceEvent {
  line: number;
  type: string;
  e: Json;
}

/** The lines of a text file, 1-based, blank ones skipped, the last one kept even without its newline. */
function textLines(path: string): { text: string; line: number }[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((text, i) => ({ text: text.replace(/\r$/, ''), line: i + 1 }))
    .filter((l) => l.text.trim() !== '');
}

/** Parse JSON lines, lazily (problems come in line order with the caller's); a line that is not a JSON object is a problem (and is skipped). */
function* jsonLines(path: string, expected: string, problems: ImportProblem[]): Generator<{ line: number; value: Json }> {
  for (const { text, line } of textLines(path)) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      problems.push({ where: `${path}:${line}`, message: `not valid JSON (${e instanceof Error ? e.message : String(e)}); expected ${expected}; line skipped` });
      continue;
    }
    if (!isObj(v)) {
      problems.push({ where: `${path}:${line}`, message: `a JSON ${Array.isArray(v) ? 'array' : typeof v}, expected ${expected}; line skipped` });
      continue;
    }
    yield { line, value: v };
  }
}

const PREDICTION_SHAPE = 'one {"sample_id": "...", "content": "<answer text>", "ground_truth"?, "result"?: 0..1, "usage"?} object per line';

/** predictions.jsonl: the last line of a sample id wins (as SpatialClaw's own final evaluation reads it). */
function readPredictions(path: string, problems: ImportProblem[]): Map<string, Prediction> {
  const out = new Map<string, Prediction>();
  for (const { line, value: v } of jsonLines(path, PREDICTION_SHAPE, problems)) {
    const where = `${path}:${line}`;
    const id = typeof v['sample_id'] === 'number' ? String(v['sample_id']) : str(v['sample_id']);
    if (id === null || id === '') {
      problems.push({ where, message: `no "sample_id" (a string): expected ${PREDICTION_SHAPE}; line skipped` });
      continue;
    }
    const content = str(v['content']);
    if (content === null) {
      problems.push({ where, message: `sample ${id}: "content" (the answer text) is ${v['content'] === undefined ? 'missing' : `a ${typeof v['content']}`}, expected a string; imported without an answer` });
    }
    const gtRaw = v['ground_truth'];
    const groundTruth = typeof gtRaw === 'string' || num(gtRaw) !== null ? (gtRaw as string | number) : null;
    if (gtRaw !== undefined && gtRaw !== null && groundTruth === null) problems.push({ where, message: `sample ${id}: "ground_truth" is a ${typeof gtRaw}, expected a string; ignored` });
    let result = num(v['result']);
    if (typeof v['result'] === 'boolean') result = v['result'] ? 1 : 0;
    if (v['result'] !== undefined && v['result'] !== null && (result === null || result < 0 || result > 1)) {
      problems.push({ where, message: `sample ${id}: "result" is ${JSON.stringify(v['result'])}, expected a score from 0 to 1; imported unscored` });
      result = null;
    }
    const usage = isObj(v['usage']) ? v['usage'] : null;
    if (out.has(id)) problems.push({ where, message: `sample ${id} also on line ${out.get(id)!.line}; the later line is used (as SpatialClaw's own evaluation does)` });
    out.set(id, { line, sampleId: id, content, groundTruth, result, usage, raw: v });
  }
  return out;
}

/** A JSON file, or null when missing; unreadable: a problem and null. */
function readJsonFile(path: string, problems: ImportProblem[]): unknown {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    problems.push({ where: path, message: `not valid JSON (${e instanceof Error ? e.message : String(e)}); ignored` });
    return null;
  }
}

/** trace.jsonl: `{"event_type", ..., "timestamp"}` per line (`logging_utils/logger.py` `log_step`). */
function readTrace(path: string, problems: ImportProblem[]): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (const { line, value } of jsonLines(path, 'one {"event_type": "...", ..., "timestamp": "<ISO time>"} object per line', problems)) {
    const type = str(value['event_type']);
    if (!type) {
      problems.push({ where: `${path}:${line}`, message: 'no "event_type": expected one of init, plan, llm_call, execution, condense, feedback, answer_submitted, termination, session_usage, evaluation; line skipped' });
      continue;
    }
    out.push({ line, type, e: value });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The pieces of a sample

/** spatial_eval's run sample id for a benchmark row (types.py `sample_id`): `<benchmark>-<source id>`, other characters → `_`. */
export function benchmarkSampleId(benchmark: string, sourceId: string): string {
  return `${benchmark}-${sourceId.replace(/[^A-Za-z0-9_.-]+/g, '_')}`.slice(0, 128);
}

/** A run sample id for a work-dir sample id without a benchmark. */
function plainSampleId(sourceId: string): string {
  const s = sourceId.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 128);
  return s === '' || s === '.' || s === '..' ? `sample_${s.length}` : s;
}

/**
 * The question and options of SpatialClaw's instruction (`entrypoints/run.py` `worker`): the question, a blank line,
 * the benchmark's answer-format prompt, then one `\n<letter>. <text>` line per option. The trailing run of option
 * lines (A., B., ... in order) becomes `choices`; the rest, the answer-format prompt included, is the question.
 */
export function splitInstruction(instruction: string): { question: string; choices?: string[] } {
  const lines = instruction.replace(/\s+$/, '').split('\n');
  let k = lines.length;
  while (k > 0 && /^[A-Z]\.\s/.test(lines[k - 1]!)) k--;
  const opts = lines.slice(k);
  const inOrder = opts.length >= 2 && opts.every((l, i) => l.charCodeAt(0) === 65 + i);
  if (!inOrder || k === 0) return { question: instruction.trim() };
  return { question: lines.slice(0, k).join('\n').trim(), choices: opts };
}

/** An ISO time (ms precision, UTC) from SpatialClaw's `datetime.isoformat()` timestamps, or null. */
function isoTime(v: unknown): string | null {
  const s = str(v);
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/**
 * A cell error from SpatialClaw's `error` text: the kernel's traceback lines joined (ANSI removed), or its own
 * one-line messages (timeouts). The exception is the last line (`Name: message`); the failing line is IPython's
 * `Cell In[n], line k` (or the `---->` marker).
 */
export function cellError(text: string, code: string): CellError {
  const lines = text.split('\n').map((l) => l.trimEnd());
  const last = [...lines].reverse().find((l) => l.trim() !== '') ?? text;
  const m = /^([A-Za-z_][\w.]*)(?::\s?(.*))?$/.exec(last.trim());
  const named = m && (m[2] !== undefined || /(Error|Exception|Interrupt|Exit)$/.test(m[1]!));
  let lineno: number | null = null;
  const cell = /Cell In\[\d+\], line (\d+)/.exec(text) ?? /<ipython-input-[^>]*>.*\n(?:.*\n)*?-+> ?(\d+)/.exec(text);
  if (cell) lineno = Number(cell[1]);
  const src = lineno !== null ? code.split('\n')[lineno - 1]?.trim() ?? null : null;
  return {
    ename: named ? m![1]! : 'Error',
    evalue: named ? (m![2] ?? '') : last.trim(),
    traceback: lines,
    lineno,
    line: src,
  };
}

/** `[SHOW:{"show_id", "label", "num_images", "paths"}]` lines that `feedback.show()` prints (kernel_types/feedback_module.py). */
const SHOW_MARKER = /^\[SHOW:(\{.*\})\]$/gm;

interface ShowMarker {
  showId: string;
  label: string;
  paths: string[];
}

function showMarkers(stdout: string): ShowMarker[] {
  const out: ShowMarker[] = [];
  for (const m of stdout.matchAll(SHOW_MARKER)) {
    try {
      const meta = JSON.parse(m[1]!) as unknown;
      if (isObj(meta) && typeof meta['show_id'] === 'string') {
        out.push({ showId: meta['show_id'], label: str(meta['label']) ?? '', paths: Array.isArray(meta['paths']) ? meta['paths'].filter((p): p is string => typeof p === 'string') : [] });
      }
    } catch {
      // a marker cut by the trace's 2000-character limit: its images are placed by show id (see placeImages)
    }
  }
  return out;
}

/** SpatialClaw cuts a cell's stdout to this many characters in trace.jsonl (nodes/execute_node.py). */
const TRACE_STDOUT_LIMIT = 2000;
const TRACE_STDERR_LIMIT = 1000;

/** The file name `feedback.show()` gives an image: `show_<NNNN>_img_<i>.png`; `_labeled_` copies add the label bar. */
const SHOW_FILE = /^(show_(\d+))_img_(\d+)\.png$/;

/** A show() image of a session, read from show_images/. */
interface ShowImage {
  showId: string;
  showNo: number;
  k: number;
  /** File name in show_images/, and its absolute path (read when the image is written). */
  file: string;
  path: string;
  width: number;
  height: number;
}

/** The first bytes of a file (enough for a PNG header). */
function head(path: string, n = 64): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** How a SpatialClaw `termination` (nodes/router.py `force_terminate`) reason maps to ours. */
function terminationOf(reason: string): { reason: Termination; note: string | null } {
  if (reason === 'max_steps') return { reason: 'max_steps', note: null };
  if (reason === 'max_failures') return { reason: 'consecutive_failures', note: null };
  if (reason === 'max_tool_calls') return { reason: 'max_steps', note: 'the tool-call budget (max_tool_calls) ran out' };
  return { reason: 'error', note: `SpatialClaw's reason ${JSON.stringify(reason)}` };
}

/** SpatialClaw's fallback (`fallback_method`) as our answer source and answer-event source. */
function fallbackSource(method: string): { result: SampleResult['answer_source']; event: string } | null {
  if (method === 'last_submitted') return { result: 'last_submitted', event: 'last_submitted' };
  if (method === 'cot_vlm') return { result: 'direct_answer', event: 'direct_answer' };
  if (method === 'regex') return { result: 'none', event: 'salvage' };
  return null;
}

/**
 * An event to write: a run event (a cell's images as the files whose bytes go in their `png` when written), or an
 * image not tied to a cell (written with `writeImage`, then its `image` event).
 */
type Planned = { event: RunEvent; files?: string[] } | { image: { t: string; step: number; name: string; file: string; label: string; width: number; height: number } };

/** What a session's trace gives. */
interface Session {
  dir: string;
  tracePath: string;
  instruction: string | null;
  isVideo: boolean | null;
  events: Planned[];
  parseFailures: number;
  mainCalls: number;
  images: number;
  /** The answer and its source as the trace ends; null: none. */
  answer: { value: string | number; source: SampleResult['answer_source'] } | null;
  termination: { reason: Termination; detail: string | null } | null;
  startedAt: string | null;
  finishedAt: string | null;
  usage: Json | null;
  groundTruth: string | null;
  lastStep: number;
  /** Counts of trace events with no run-record counterpart (kept in imported/trace.jsonl). */
  unmapped: Map<string, number>;
}

const MAPPED = new Set(['init', 'plan', 'llm_call', 'execution', 'feedback', 'answer_submitted', 'termination', 'session_usage', 'evaluation']);

/** The show() images of a session folder (show_images/show_NNNN_img_i.png), by show id. */
function readShowImages(sessionDir: string, problems: ImportProblem[], notes: Set<string>): Map<string, ShowImage[]> {
  const dir = join(sessionDir, 'show_images');
  const out = new Map<string, ShowImage[]>();
  if (!existsSync(dir)) return out;
  const labeledOnly = new Set<string>();
  for (const f of readdirSync(dir).sort()) {
    const m = SHOW_FILE.exec(f);
    if (!m) {
      const lab = /^(show_\d+)_labeled_(\d+)\.png$/.exec(f);
      if (lab && !existsSync(join(dir, `${lab[1]}_img_${lab[2]}.png`))) labeledOnly.add(f);
      continue;
    }
    const size = imageSize(head(join(dir, f)));
    if (!size || size.type !== 'png' || size.width === 0 || size.height === 0) {
      problems.push({ where: join(dir, f), message: 'not a readable PNG (show() saves PNGs); image skipped' });
      continue;
    }
    const img: ShowImage = { showId: m[1]!, showNo: Number(m[2]), k: Number(m[3]), file: f, path: join(dir, f), width: size.width, height: size.height };
    const list = out.get(img.showId) ?? [];
    list.push(img);
    out.set(img.showId, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.k - b.k);
  if (labeledOnly.size) notes.add(`${labeledOnly.size} labeled show() copies without their original (e.g. ${join(dir, [...labeledOnly][0]!)}) were not imported: only show_NNNN_img_i.png files are`);
  return out;
}

/**
 * Convert one session folder's trace into run events. Steps are SpatialClaw's `step_index` + 1 (our steps count
 * from 1; step 0 holds what comes before the first step).
 */
function convertSession(sessionDir: string, problems: ImportProblem[], notes: Set<string>): Session {
  const tracePath = join(sessionDir, 'trace.jsonl');
  const s: Session = {
    dir: sessionDir, tracePath, instruction: null, isVideo: null, events: [], parseFailures: 0, mainCalls: 0, images: 0,
    answer: null, termination: null, startedAt: null, finishedAt: null, usage: null, groundTruth: null, lastStep: 0, unmapped: new Map(),
  };
  if (!existsSync(tracePath)) {
    problems.push({ where: sessionDir, message: 'no trace.jsonl in the session folder; the sample is imported from predictions.jsonl alone' });
    return s;
  }
  const trace = readTrace(tracePath, problems);
  const shows = readShowImages(sessionDir, problems, notes);

  // Which step each show() call belongs to: its marker in an execution's stdout. Markers cut by the trace's stdout
  // limit are placed by show-id order when exactly one truncated cell can hold them.
  const stepOfShow = new Map<string, { step: number; label: string }>();
  const truncated: number[] = [];
  for (const ev of trace) {
    if (ev.type !== 'execution') continue;
    const step = (num(ev.e['step_index']) ?? 0) + 1;
    const stdout = str(ev.e['stdout']) ?? '';
    if (stdout.length >= TRACE_STDOUT_LIMIT) truncated.push(step);
    for (const mk of showMarkers(stdout)) {
      if (!shows.has(mk.showId) && mk.paths.length) {
        problems.push({ where: `${tracePath}:${ev.line}`, message: `${mk.showId} is printed by this cell but show_images/${basename(mk.paths[0]!)} is missing; its images are not imported` });
      }
      stepOfShow.set(mk.showId, { step, label: mk.label });
    }
  }
  const known = [...stepOfShow.entries()].map(([id, v]) => ({ no: Number(id.replace(/\D/g, '')), step: v.step })).sort((a, b) => a.no - b.no);
  const loose: ShowImage[][] = [];
  for (const [id, imgs] of [...shows.entries()].sort((a, b) => a[1][0]!.showNo - b[1][0]!.showNo)) {
    if (stepOfShow.has(id)) continue;
    const no = imgs[0]!.showNo;
    const prev = [...known].reverse().find((k) => k.no < no)?.step ?? -Infinity;
    const next = known.find((k) => k.no > no)?.step ?? Infinity;
    const candidates = truncated.filter((st) => st >= prev && st <= next);
    if (candidates.length === 1) {
      stepOfShow.set(id, { step: candidates[0]!, label: '' });
      notes.add(`show() images whose marker the trace's ${TRACE_STDOUT_LIMIT}-character stdout cut were placed in the one cut cell their show id fits (cell notes say which)`);
    } else loose.push(imgs);
  }
  // Image index: 0-based over the session's show() images, in show order.
  const order = [...shows.values()].flat().sort((a, b) => a.showNo - b.showNo || a.k - b.k);
  const indexOf = new Map(order.map((img, i) => [`${img.showId}/${img.k}`, i]));

  let prevT: string | null = null;
  let cellIndex = 0;
  let lastSubmitted: { value: string | number } | null = null;
  const stepImageLabels = new Map<number, string[]>();
  const tOf = (ev: TraceEvent): string => {
    const t = isoTime(ev.e['timestamp']);
    if (!t) {
      problems.push({ where: `${tracePath}:${ev.line}`, message: `"timestamp" ${JSON.stringify(ev.e['timestamp'] ?? null)} is not an ISO time; the previous event's time is used` });
    }
    const out = t ?? prevT ?? new Date(statSync(tracePath).mtimeMs).toISOString();
    s.startedAt ??= out;
    s.finishedAt = out;
    return out;
  };
  const push = (e: RunEvent, files?: string[]) => {
    s.events.push(files ? { event: e, files } : { event: e });
    s.lastStep = Math.max(s.lastStep, e.step);
  };

  for (const ev of trace) {
    const e = ev.e;
    if (!MAPPED.has(ev.type)) {
      s.unmapped.set(ev.type, (s.unmapped.get(ev.type) ?? 0) + 1);
      tOf(ev);
      continue;
    }
    const t = tOf(ev);
    const latency = prevT ? Math.max(0, Date.parse(t) - Date.parse(prevT)) : 0;
    prevT = t;
    const step = (num(e['step_index']) ?? s.lastStep - 1) + 1;
    switch (ev.type) {
      case 'init': {
        s.instruction = str(e['instruction']);
        if (s.instruction === null) problems.push({ where: `${tracePath}:${ev.line}`, message: 'the init event has no "instruction" (the question); the question is not known' });
        const sp = str(e['system_prompt']) ?? '';
        const v = /is_video=(True|False)/.exec(sp);
        s.isVideo = v ? v[1] === 'True' : null;
        break;
      }
      case 'plan':
        push({ t, step: 0, type: 'plan', text: str(e['plan_text']), error: str(e['error']) });
        break;
      case 'llm_call': {
        const parsed = isObj(e['parsed_response'])
          ? Object.fromEntries(Object.entries(e['parsed_response']).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]))
          : null;
        const err = str(e['error']);
        if (err !== null && !err.startsWith('LLM call failed')) s.parseFailures++;
        s.mainCalls++;
        push({
          t, step, type: 'model_call', role: 'main', endpoint: 'unknown', latency_ms: latency, attempts: 1, usage: { prompt_tokens: 0, completion_tokens: 0 },
          raw: str(e['raw_response']) ?? '', reasoning: str(e['reasoning_content']), parsed, parse_error: err,
        });
        break;
      }
      case 'execution': {
        const code = str(e['code']) ?? '';
        const rawStdout = str(e['stdout']);
        const errText = str(e['error']);
        // for vlm.locate / vlm.ask_with_thinking: the isolated model calls made from the cell
        for (const q of Array.isArray(e['vlm_queries']) ? e['vlm_queries'] : []) {
          if (!isObj(q) || (q['query_type'] !== 'locate' && q['query_type'] !== 'thinking')) continue;
          const parsed: Record<string, string> = {};
          for (const k of ['question', 'query_type', 'query_id', 'image_source', 'num_images']) if (q[k] !== undefined && q[k] !== null) parsed[k === 'question' ? 'prompt' : k] = String(q[k]);
          push({ t, step, type: 'model_call', role: 'vlm', endpoint: 'unknown', latency_ms: 0, attempts: 1, usage: { prompt_tokens: 0, completion_tokens: 0 }, raw: String(q['answer'] ?? ''), reasoning: null, parsed, parse_error: null });
        }
        const markers = showMarkers(rawStdout ?? '');
        const cellNotes: string[] = [`imported from ${tracePath}:${ev.line}`];
        if ((rawStdout ?? '').length >= TRACE_STDOUT_LIMIT) cellNotes.push(`stdout cut to ${TRACE_STDOUT_LIMIT} characters by SpatialClaw's trace`);
        if ((str(e['stderr']) ?? '').length >= TRACE_STDERR_LIMIT) cellNotes.push(`stderr cut to ${TRACE_STDERR_LIMIT} characters by SpatialClaw's trace`);
        const ids = [...new Set([...markers.map((m) => m.showId), ...[...stepOfShow.entries()].filter(([id, v]) => v.step === step && !markers.some((m) => m.showId === id)).map(([id]) => id)])];
        const images: CellImage[] = [];
        const files: string[] = [];
        for (const id of ids) {
          const imgs = shows.get(id);
          if (!imgs) continue;
          const label = markers.find((m) => m.showId === id)?.label ?? stepOfShow.get(id)?.label ?? '';
          if (!markers.some((m) => m.showId === id)) cellNotes.push(`${id}: its [SHOW] marker was cut from the trace; placed here by show-id order`);
          for (const img of imgs) {
            images.push({ label: label || null, index: indexOf.get(`${img.showId}/${img.k}`) ?? 0, width: img.width, height: img.height, source: 'show' });
            files.push(img.path);
            cellNotes.push(`image ${images.length}: ${join('show_images', img.file)}`);
          }
        }
        s.images += images.length;
        stepImageLabels.set(step, images.map((im) => im.label ?? 'show()'));
        const execS = num(e['execution_time_sec']) ?? 0;
        const rejected = rawStdout === null && errText !== null && e['execution_time_sec'] === undefined;
        const status: CellResult['status'] = errText === null ? 'ok' : rejected ? 'rejected' : /timed out/i.test(errText) ? 'timeout' : 'error';
        cellIndex++;
        const result: CellResult = {
          index: cellIndex,
          origin: 'agent',
          code,
          status,
          startedAt: new Date(Date.parse(t) - execS * 1000).toISOString(),
          durationMs: execS * 1000,
          stdout: (rawStdout ?? '').replace(SHOW_MARKER, '').replace(/\n{2,}/g, '\n').replace(/^\n+/, ''),
          stderr: str(e['stderr']) ?? '',
          result: null,
          error: status === 'error' || status === 'timeout' ? cellError(errText!, code) : null,
          violations: rejected ? [{ rule: 'spatialclaw-safety', message: errText!, line: 0, col: 0 }] : [],
          images,
          answer: null,
          artifacts: [],
          variables: [],
          notes: cellNotes,
        };
        push({ t, step, type: 'cell', result }, files);
        break;
      }
      case 'feedback':
        push({ t, step, type: 'observation', text: str(e['feedback_text']) ?? '', images: stepImageLabels.get(step) ?? [] });
        break;
      case 'answer_submitted': {
        const a = isObj(e['answer']) ? e['answer'] : {};
        const value = typeof a['raw_value'] === 'string' || num(a['raw_value']) !== null ? (a['raw_value'] as string | number) : str(a['text']);
        if (value === null || value === '') {
          problems.push({ where: `${tracePath}:${ev.line}`, message: 'answer_submitted without an answer ({"answer": {"text", "raw_value"}} expected); ignored' });
          break;
        }
        lastSubmitted = { value };
        // the cell that called ReturnAnswer carries the answer, as a recorded cell does
        for (let i = s.events.length - 1; i >= 0; i--) {
          const p = s.events[i]!;
          if ('event' in p && p.event.type === 'cell' && p.event.step === step) {
            p.event.result.answer = { answer: value, type: typeof value === 'string' ? 'str' : Number.isInteger(value) ? 'int' : 'float' };
            break;
          }
        }
        push({ t, step, type: 'answer', answer: value, source: 'return_answer' });
        s.answer = { value, source: 'return_answer' };
        break;
      }
      case 'termination': {
        const fa = isObj(e['final_answer']) ? e['final_answer'] : {};
        const text = str(fa['raw_value']) ?? str(fa['text']) ?? '';
        const method = str(e['fallback_method']) ?? 'none';
        const src = fallbackSource(method);
        const last = s.lastStep;
        if (text !== '' && src) {
          const value = src.result === 'last_submitted' && lastSubmitted ? lastSubmitted.value : text;
          push({ t, step: last, type: 'answer', answer: value, source: src.event });
          s.answer = { value, source: src.result };
        } else s.answer = null;
        const m = terminationOf(str(e['reason']) ?? 'unknown');
        s.termination = { reason: m.reason, detail: [str(e['summary']), m.note].filter(Boolean).join('; ') || null };
        break;
      }
      case 'session_usage':
        s.usage = e;
        break;
      case 'evaluation':
        s.groundTruth = str(e['ground_truth']);
        break;
      default:
        break;
    }
  }
  // show() images whose step cannot be told: kept, at the last step, each named after its show() call.
  for (const imgs of loose) {
    for (const img of imgs) {
      s.events.push({ image: { t: s.finishedAt ?? new Date().toISOString(), step: s.lastStep, name: img.file, file: img.path, label: `${img.showId} (its step is not recorded)`, width: img.width, height: img.height } });
      s.images++;
    }
    notes.add('show() images whose step the trace does not tell are kept as image events at the sample\'s last step, labelled "<show id> (its step is not recorded)"');
  }
  if (s.termination === null && s.answer !== null) s.termination = { reason: 'answered', detail: null };
  return s;
}

/** Whether the trace's answer (ReturnAnswer's value: 4.0 is written `4.0` and read as 4) is the prediction's text. */
function sameAnswer(value: string | number, content: string): boolean {
  return typeof value === 'number' ? content.trim() !== '' && Number(content) === value : value === content;
}

/** The usage SpatialClaw sums per sample (llm/client.py `pop_session_usage`) as ours, with the call count. */
function usageOf(u: Json | null): { usage: SampleResult['usage']; calls: number | null } {
  const n = (k: string) => Math.max(0, Math.round(num(u?.[k]) ?? 0));
  const usage: SampleResult['usage'] = { prompt_tokens: n('total_prompt_tokens'), completion_tokens: n('total_completion_tokens') };
  if (u && num(u['total_reasoning_tokens']) !== null) usage.reasoning_tokens = n('total_reasoning_tokens');
  return { usage, calls: u && num(u['num_calls']) !== null ? n('num_calls') : null };
}

// ---------------------------------------------------------------------------------------------------
// The import

/** The run id rule: a folder name of letters, digits, `_ . -`. */
const RUN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Import the SpatialClaw work dir `workDir` as a new run under `o.runsRoot`.
 * @throws ImportError (with a fix) when `workDir` is not a work dir, the id is invalid, or the run exists already
 *   (an import never writes into an existing run); a partially unreadable work dir is imported as far as it can be,
 *   with its problems in the report and in run.json's `config.source.problems`.
 */
export async function importWorkDir(workDir: string, o: ImportOptions): Promise<ImportReport> {
  const src = resolve(workDir);
  if (!existsSync(src)) throw new ImportError(`${src} does not exist`, 'pass the work dir SpatialClaw wrote (its --work_dir; by default spatial_agent/work_dir/spatial_<benchmark>_<model>/)');
  if (!statSync(src).isDirectory()) throw new ImportError(`${src} is not a folder`, 'pass the work dir itself, not a file in it');
  const entries = readdirSync(src, { withFileTypes: true });
  const predictionsPath = join(src, 'predictions.jsonl');
  const sessionNames = entries.filter((d) => d.isDirectory() && d.name.startsWith('session-')).map((d) => d.name).sort();
  if (!existsSync(predictionsPath) && sessionNames.length === 0) {
    throw new ImportError(`${src} is not a SpatialClaw work dir: it has neither predictions.jsonl nor session-<sample id>/ folders`, 'pass the folder `python -m spatial_agent.entrypoints.run` wrote (its --work_dir)');
  }
  const id = o.id ?? newRunId('import');
  if (!RUN_ID_RE.test(id)) throw new ImportError(`run id ${JSON.stringify(id)} is invalid`, 'use a letter or digit, then up to 127 letters, digits, _ . or -');
  const runDir = join(resolve(o.runsRoot), id);
  if (existsSync(runDir)) {
    throw new ImportError(
      `run ${id} exists already (${existsSync(join(runDir, RUN_JSON)) ? join(runDir, RUN_JSON) : runDir}); an import never writes into an existing run`,
      'choose another --id, or delete that run folder first',
    );
  }

  const problems: ImportProblem[] = [];
  const notes = new Set<string>();

  // config.json: SpatialAgentConfig.to_dict() of the run (entrypoints/run.py); the key (llm_api_key) is redacted.
  const configRaw = readJsonFile(join(src, 'config.json'), problems);
  const config = isObj(configRaw) ? (redactSecrets(configRaw) as Json) : null;
  if (configRaw !== null && !isObj(configRaw)) problems.push({ where: join(src, 'config.json'), message: 'not a JSON object (SpatialAgentConfig.to_dict() expected); ignored' });
  if (!existsSync(join(src, 'config.json'))) notes.add('no config.json: the benchmark and the model are not known');
  const swBench = str(config?.['benchmark']);
  const benchmark = swBench && swBench !== 'none' ? (BENCHMARK_ALIASES[swBench] ?? swBench) : null;
  const model = str(config?.['llm_model']) || null;

  const predictions = existsSync(predictionsPath) ? readPredictions(predictionsPath, problems) : new Map<string, Prediction>();
  if (!existsSync(predictionsPath)) notes.add('no predictions.jsonl: every sample comes from its session folder (no work-dir scores)');
  const resultsSummary = readJsonFile(join(src, 'results_summary.json'), problems);
  const sessionsById = new Map(sessionNames.map((n) => [n.slice('session-'.length), join(src, n)]));
  const known = new Set(['config.json', 'predictions.jsonl', 'results_summary.json', 'report_pdf']);
  const otherFiles = entries.filter((d) => !known.has(d.name) && !d.name.startsWith('session-')).map((d) => d.name + (d.isDirectory() ? '/' : '')).sort();
  const extraFields = new Set<string>();
  for (const p of predictions.values()) for (const k of Object.keys(p.raw)) if (!PREDICTION_FIELDS.has(k)) extraFields.add(k);

  // The benchmark's rows (real inputs, question types) and its scorer, when a data root holds it.
  let rows: Map<string, SampleSpec> | null = null;
  let scorer: LiveScorer | null = null;
  const scoring = o.scoring ?? 'official';
  if (o.dataRoot && benchmark) {
    try {
      const loaded = await loadBenchmarks(benchmark, resolve(o.dataRoot));
      rows = new Map(loaded.samples.map((s) => [s.source_id ?? s.id, s]));
      scorer = new LiveScorer(benchmark, resolve(o.dataRoot), scoring);
      await scorer.start();
    } catch (e) {
      if (!(e instanceof BenchError)) throw e;
      problems.push({ where: resolve(o.dataRoot), message: `${benchmark} could not be read from the data root (${e.message}); samples keep placeholder inputs and the work dir's scores` });
      rows = null;
      scorer = null;
    }
  } else if (o.dataRoot && !benchmark) notes.add('a data root was given but the work dir does not name its benchmark (config.json "benchmark"); it was not used');

  // Samples: predictions.jsonl order (the order SpatialClaw finished them), then session folders without a line.
  const order = [...predictions.keys()];
  for (const sid of sessionsById.keys()) if (!predictions.has(sid)) order.push(sid);
  const usedIds = new Map<string, string>();
  const sampleIdOf = (sid: string): string => {
    const base = benchmark ? benchmarkSampleId(benchmark, sid) : plainSampleId(sid);
    let out = base;
    for (let n = 2; usedIds.has(out.toLowerCase()); n++) out = `${base.slice(0, 120)}-${n}`;
    if (out !== base) problems.push({ where: src, message: `work-dir samples ${JSON.stringify(usedIds.get(base.toLowerCase()))} and ${JSON.stringify(sid)} map to the same run sample id ${base}; the second is ${out}` });
    usedIds.set(out.toLowerCase(), sid);
    return out;
  };

  const report: ImportReport = {
    run_id: id, run_dir: runDir, source: src, benchmark, model, samples: 0, with_trace: 0, without_trace: 0, without_prediction: 0,
    scored: 0, scoring: scorer ? scoring : WORKDIR_SCORING, mean_score: null, inputs_recovered: 0, images: 0, problems, notes: [],
  };
  const mtime = (p: string) => new Date(statSync(p).mtimeMs).toISOString();

  // Pass 1: each sample's spec and result (and every problem and note), so run.json is complete when it is created.
  // Events are converted again while writing (pass 2), so a large work dir is never held in memory at once.
  const prepared: Prepared[] = [];
  /** Trace event types with no run-record counterpart, counted over the sessions. */
  const unmapped = new Map<string, number>();
  let agreeChecked = 0;
  const disagree: string[] = [];
  try {
    for (const sid of order) {
      const pred = predictions.get(sid) ?? null;
      const sessionDir = sessionsById.get(sid) ?? null;
      const session = sessionDir ? convertSession(sessionDir, problems, notes) : null;
      for (const [type, n] of session?.unmapped ?? []) unmapped.set(type, (unmapped.get(type) ?? 0) + n);
      const row = rows?.get(sid) ?? null;
      const where = pred ? `${predictionsPath}:${pred.line}` : sessionDir!;
      if (rows && !row) problems.push({ where, message: `sample ${sid} is not a row of ${benchmark} under the data root; it keeps a placeholder input and the work dir's score` });
      const runId = sampleIdOf(sid);

      const fromInstruction = session?.instruction ? splitInstruction(session.instruction) : null;
      const question = row?.question ?? fromInstruction?.question ?? `(question not recorded: sample ${sid} has no session trace)`;
      const choices = row ? row.choices : fromInstruction?.choices;
      const inputs: InputSpec[] = row?.inputs ?? [{ kind: session?.isVideo ? 'video' : 'images', path: placeholderInput(benchmark, sid) }];
      const gt = row?.answer ?? pred?.groundTruth ?? session?.groundTruth ?? null;
      const spec: SampleSpec = {
        id: runId,
        question,
        ...(choices ? { choices } : {}),
        inputs,
        ...(gt !== null ? { answer: gt } : {}),
        ...(row?.question_type ? { question_type: row.question_type } : {}),
        ...(benchmark ? { benchmark } : {}),
        source_id: sid,
        ...(row?.category ? { category: row.category } : {}),
        ...(row?.instruction ? { instruction: row.instruction } : {}),
      };

      // The answer: what the work dir scored (predictions.jsonl "content"), as the trace's value when they agree.
      const traceAnswer = session?.answer ?? null;
      let answer: string | number | null;
      let answerSource: SampleResult['answer_source'] = traceAnswer?.source ?? 'none';
      if (pred && pred.content !== null) {
        const same = traceAnswer !== null && sameAnswer(traceAnswer.value, pred.content);
        answer = pred.content === '' ? null : same ? traceAnswer.value : pred.content;
        if (traceAnswer && !same) {
          problems.push({ where, message: `sample ${sid}: predictions.jsonl says ${JSON.stringify(pred.content)} but the trace ends with ${JSON.stringify(traceAnswer.value)}; the prediction (what the work dir scored) is used` });
        }
        if (answer === null) answerSource = 'none';
      } else answer = traceAnswer?.value ?? null;

      let termination: { reason: Termination; detail: string | null };
      if (session?.termination) termination = session.termination;
      else if (!sessionDir) {
        termination = answer !== null
          ? { reason: 'answered', detail: `imported from predictions.jsonl alone: session-${sid}/ is missing, so how the sample ended is not recorded` }
          : { reason: 'error', detail: 'imported from predictions.jsonl alone (no session folder), without an answer' };
      } else termination = { reason: 'error', detail: "the trace has neither answer_submitted nor termination: SpatialClaw raised before the sample finished (its answer is empty); see the original run's log" };
      if (!pred && sessionDir) notes.add('session folders without a line in predictions.jsonl (a run stopped before recording them) are imported unscored');

      let score: number | null = pred?.result ?? null;
      let scoringName: string | undefined = score !== null ? WORKDIR_SCORING : undefined;
      if (scorer && row) {
        const ours = await scorer.score(row.id, answer);
        if (scoring === 'paper' && pred?.result !== null && pred?.result !== undefined && ours !== null) {
          agreeChecked++;
          if (Math.abs(ours - pred.result) > 1e-6) disagree.push(`${sid} (work dir ${pred.result}, spatial_eval ${ours})`);
        }
        score = ours;
        scoringName = scoring;
      }
      const usage = usageOf(pred?.usage ?? session?.usage ?? null);
      const startedAt = session?.startedAt ?? (pred ? mtime(predictionsPath) : mtime(sessionDir!));
      const finishedAt = session?.finishedAt ?? startedAt;
      const result: SampleResult = {
        id: runId,
        question,
        ...(choices ? { choices } : {}),
        answer,
        answer_source: answerSource,
        ground_truth: gt,
        score,
        ...(scoringName ? { scoring: scoringName } : {}),
        question_type: row?.question_type ?? null,
        ...(benchmark ? { benchmark } : {}),
        source_id: sid,
        ...(row?.category ? { category: row.category } : {}),
        termination: termination.reason,
        steps: session?.lastStep ?? 0,
        parse_failures: session?.parseFailures ?? 0,
        usage: usage.usage,
        model_calls: usage.calls ?? session?.mainCalls ?? 0,
        duration_s: Math.max(0, (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000),
        error: termination.reason === 'error' ? termination.detail : null,
        started_at: startedAt,
        finished_at: finishedAt,
      };
      prepared.push({
        sid, where, pred, sessionDir, spec, result, termination,
        hasTrace: !!session && existsSync(session.tracePath),
        answerEvent: answer !== null && !session?.events.some((p) => 'event' in p && p.event.type === 'answer'),
        lastStep: session?.lastStep ?? 0,
        images: session?.images ?? 0,
        recovered: !!row,
      });
    }
  } finally {
    await scorer?.close();
  }
  for (const [type, n] of [...unmapped].sort()) {
    notes.add(`${n} trace event${n === 1 ? '' : 's'} of type ${type} ${n === 1 ? 'has' : 'have'} no run-record counterpart; kept verbatim in samples/<id>/${IMPORTED_DIR}/trace.jsonl`);
  }
  if (!rows) notes.add("inputs: the work dir does not record where a sample's frames came from; each sample has one placeholder input (docs/import.md); pass --data-root to recover them");
  if (agreeChecked) {
    if (disagree.length) problems.push({ where: predictionsPath, message: `${disagree.length} of ${agreeChecked} work-dir scores ("result") differ from spatial_eval's paper scoring: ${disagree.slice(0, 5).join(', ')}` });
    else notes.add(`the work dir's scores ("result") equal spatial_eval's paper scoring on all ${agreeChecked} samples`);
  }

  // Pass 2: write.
  const config_: Json = {
    kind: 'import',
    source: {
      format: WORKDIR_FORMAT,
      format_commit: WORKDIR_COMMIT,
      path: src,
      config,
      results_summary: resultsSummary,
      other_files: otherFiles,
      prediction_extra_fields: [...extraFields].sort(),
      problems: problems.slice(0, 200),
      problem_count: problems.length,
      notes: [...notes],
    },
    ...(model ? { model: { name: model } } : {}),
    ...(benchmark ? { benchmarks: [benchmark] } : {}),
    ...(config && str(config['executor_type']) ? { executor: config['executor_type'] } : {}),
    ...(config && num(config['max_steps']) !== null ? { max_steps: config['max_steps'] } : {}),
    ...(rows && o.dataRoot ? { data_root: resolve(o.dataRoot) } : {}),
    scoring: report.scoring,
  };
  const executor = str(config?.['executor_type']) ?? 'code';
  const writer = await RunWriter.create(runDir, {
    id,
    config: config_,
    versions: { node: process.version, source_format: `NVlabs/SpatialClaw@${WORKDIR_COMMIT.slice(0, 12)} work dir` },
    total_samples: prepared.length,
  });
  let scoreSum = 0;
  for (const p of prepared) {
    const events = p.sessionDir ? convertSession(p.sessionDir, [], new Set()).events : [];
    const sw = writer.startSample(p.spec);
    try {
      const t0 = p.result.started_at;
      const t1 = p.result.finished_at;
      sw.event({ t: t0, step: 0, type: 'sample_start', sample: p.spec, executor });
      for (const ev of events) {
        if ('event' in ev) {
          const e = ev.event;
          if (e.type === 'cell' && ev.files) {
            const files = ev.files;
            sw.event({ ...e, result: { ...e.result, images: e.result.images.map((im, k) => ({ ...im, png: readFileSync(files[k]!).toString('base64') })) } });
          } else sw.event(e);
        } else {
          const path = sw.writeImage(ev.image.name, readFileSync(ev.image.file));
          sw.event({ t: ev.image.t, step: ev.image.step, type: 'image', path, label: ev.image.label, width: ev.image.width, height: ev.image.height });
        }
      }
      if (p.answerEvent && p.result.answer !== null) sw.event({ t: t1, step: p.lastStep, type: 'answer', answer: p.result.answer, source: 'return_answer' });
      sw.event({ t: t1, step: p.lastStep, type: 'termination', reason: p.termination.reason, detail: p.termination.detail });
      // The sample's own records, verbatim.
      const kept = join(sw.dir, IMPORTED_DIR);
      mkdirSync(kept, { recursive: true });
      if (p.pred) writeFileSync(join(kept, 'prediction.json'), `${JSON.stringify(p.pred.raw, null, 1)}\n`, { flag: 'wx' });
      if (p.hasTrace) writeFileSync(join(kept, 'trace.jsonl'), readFileSync(join(p.sessionDir!, 'trace.jsonl')), { flag: 'wx' });
      await sw.finish(p.result);
    } catch (e) {
      sw.abort();
      problems.push({ where: p.where, message: `sample ${p.sid} could not be written: ${e instanceof Error ? e.message : String(e)}` });
      continue;
    }
    report.samples++;
    if (p.hasTrace) report.with_trace++;
    else if (p.pred) report.without_trace++;
    if (!p.pred) report.without_prediction++;
    if (p.recovered) report.inputs_recovered++;
    report.images += p.images;
    if (p.result.score !== null) {
      report.scored++;
      scoreSum += p.result.score;
    }
  }
  await writer.finish(report.samples === prepared.length ? 'finished' : 'failed');
  report.mean_score = report.scored ? scoreSum / report.scored : null;
  report.notes = [...notes];
  return report;
}

/** A sample ready to write (pass 1 of {@link importWorkDir}). */
interface Prepared {
  sid: string;
  where: string;
  pred: Prediction | null;
  sessionDir: string | null;
  spec: SampleSpec;
  result: SampleResult;
  termination: { reason: Termination; detail: string | null };
  hasTrace: boolean;
  /** Write an answer event before the termination (the trace has none: a prediction without a session). */
  answerEvent: boolean;
  lastStep: number;
  images: number;
  recovered: boolean;
}

/**
 * The input of a sample whose frames the work dir does not locate: SpatialClaw records no input paths (its dataset
 * row is not in the work dir), so the sample gets one input of the right kind (video when its system prompt says
 * `is_video=True`) whose path names what is missing and is no file, so the kernel console and `replay` stop with a
 * "missing" error instead of binding other frames. `--data-root` replaces it with the real inputs.
 */
export function placeholderInput(benchmark: string | null, sourceId: string): string {
  return `${WORKDIR_FORMAT}:inputs-not-recorded/${benchmark ?? 'unknown-benchmark'}/${sourceId}`;
}
