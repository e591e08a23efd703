/**
 * The read side of the runs under one runs root (docs/run-format.md): the run list with filters, one
 * run's summary, pages of its samples (parsed once per run and cached, workbench/runs.ts), a sample's
 * events and console cells, the messages its model calls sent, its images and its kept perception artifacts.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { WorkbenchError } from '../../../shared/api.ts';
import type { ArtifactManifest, RequestMessages, RunDetail, RunQuery, RunRow, SampleEvents, SamplePage, SampleQuery } from '../../../shared/workbench.ts';
import { RunProgressSchema, type SampleResult } from '../../../shared/run.ts';
import type { ImportReport, ImportRequest } from '../../../shared/import.ts';
import { importWorkDir } from '../runs/import.ts';
import { PROGRESS_JSON, RUN_JSON } from '../runs/layout.ts';
import { isRunLive, listRuns, readRunInfo, readSampleEvents, readSampleMessages } from '../runs/reader.ts';
import type { ExportFormat } from '../../../shared/export.ts';
import type { TriagePage } from '../../../shared/triage.ts';
import { exportBytes } from '../runs/export.ts';
import { SampleIndex, triagePage, type TriageParams } from '../runs/sample-index.ts';
import { keptArrayPath, readKeptManifest } from '../workbench/artifacts.ts';
import { accuracy, filterRuns, pageSamples, readConsole, SampleCache, sampleDir, type SampleRow, toRunRow } from '../workbench/runs.ts';
import { RunQuestionIndex } from '../workbench/run-search.ts';
import type { RunResults } from '../../../shared/results.ts';
import { runResults } from './results.ts';

export class RunsService {
  private readonly cache = new SampleCache();
  /** Sample questions of every run, for the run list search. */
  private readonly questions = new RunQuestionIndex();
  /** The triage index (events and annotations per sample), over the same parsed samples.jsonl. */
  private readonly index = new SampleIndex(this.cache);

  /**
   * @param root the runs root (created if missing).
   * @param isLive whether a sample is running in this host now (AskService).
   */
  constructor(
    readonly root: string,
    private readonly isLive: (runId: string, sampleId: string) => boolean,
  ) {
    mkdirSync(root, { recursive: true });
  }

  /** The run folder of `runId`. @throws WorkbenchError when there is no such run. */
  runDir(runId: string): string {
    const dir = join(this.root, runId);
    if (!existsSync(join(dir, RUN_JSON))) throw new WorkbenchError(`no run ${runId} in ${this.root}`, 'pick a run from the Runs list (listRuns)');
    return dir;
  }

  /** A sample's folder. @throws WorkbenchError when the run or the sample does not exist. */
  sampleFolder(runId: string, sampleId: string): string {
    const dir = sampleDir(this.runDir(runId), sampleId);
    if (!existsSync(dir)) throw new WorkbenchError(`run ${runId} has no sample ${sampleId}`, 'pick a sample from the run (listSamples)');
    return dir;
  }

  /**
   * Runs, newest first, filtered; the search also looks in the runs' sample questions (workbench/run-search.ts).
   * @throws QueryError for a date that does not parse.
   */
  list(q: RunQuery): RunRow[] {
    const rows = listRuns(this.root).map((e) => {
      const config = e.info?.config;
      const benchmarks = Array.isArray(config?.['benchmarks']) ? (config['benchmarks'] as unknown[]).filter((b): b is string => typeof b === 'string') : [];
      return { row: toRunRow(e), dataset: typeof config?.['dataset'] === 'string' ? (config['dataset'] as string) : null, benchmarks, dir: e.dir };
    });
    return filterRuns(rows, q, (dir, needle) => this.questions.find(dir, needle));
  }

  /** run.json, the finished count, the accuracy and whether a writer holds the run open. @throws WorkbenchError */
  get(runId: string): RunDetail {
    const dir = this.runDir(runId);
    const rows = this.cache.rows(dir);
    return { id: runId, info: readRunInfo(dir), done: rows.length, accuracy: accuracy(rows), live: isRunLive(dir), results: readResults(dir), progress: readProgress(dir) };
  }

  /**
   * The Results tab's breakdown and chart data (app/results.ts): results.json when current, else live per-sample
   * means with bootstrap intervals (computed once per change of samples.jsonl). @throws WorkbenchError
   */
  results(runId: string): RunResults {
    const dir = this.runDir(runId);
    const rows = this.cache.rows(dir);
    return runResults({ runId, dir, info: readRunInfo(dir), rows: rows.map((r) => r.result), live: isRunLive(dir) }, rows);
  }

  /** A page of finished samples (search, sort, offset, limit). @throws WorkbenchError */
  samples(q: Required<Pick<SampleQuery, 'run_id' | 'offset' | 'limit' | 'sort'>> & Pick<SampleQuery, 'search'>): SamplePage {
    return pageSamples(this.cache.rows(this.runDir(q.run_id)), q);
  }

  /**
   * Failure triage (shared/triage.ts): the run's finished samples with what their events and annotations say,
   * filtered, sorted and paged, with facet counts and ranges. Each sample's events are read once per run.
   * @throws WorkbenchError for an unknown run; Error naming file and line for an invalid line of the run's files.
   */
  triage(q: TriageParams & { run_id: string }): TriagePage {
    return triagePage(this.index.samples(this.runDir(q.run_id)), q);
  }

  /** The run's export (docs/export.md) as bytes of `format`. @throws WorkbenchError for an unknown run; ExportError */
  exportRun(runId: string, format: ExportFormat): Promise<Uint8Array> {
    return exportBytes(this.runDir(runId), format, this.index);
  }

  /**
   * A sample's agent events and console cells, whether it is running in this host, and its recorded result
   * (null while it runs or without a line in samples.jsonl). @throws WorkbenchError
   */
  events(runId: string, sampleId: string): SampleEvents {
    const folder = this.sampleFolder(runId, sampleId);
    const dir = this.runDir(runId);
    const live = this.isLive(runId, sampleId) && existsSync(folder);
    return { events: readSampleEvents(dir, sampleId), console: readConsole(dir, sampleId), live, result: live ? null : this.result(dir, sampleId) };
  }

  /**
   * The last samples.jsonl line of a sample (a resumed run may have retried it), or null. A samples.jsonl that
   * cannot be parsed gives null here: the sample's events still open, and listSamples reports the broken line.
   */
  private result(dir: string, sampleId: string): SampleResult | null {
    let rows: SampleRow[];
    try {
      rows = this.cache.rows(dir);
    } catch {
      return null;
    }
    for (let i = rows.length - 1; i >= 0; i--) if (rows[i]!.result.id === sampleId) return rows[i]!.result;
    return null;
  }

  /**
   * The messages of a model call, by the ids in its model_call event's `request` (in that order, repeats
   * kept), from the sample's messages.jsonl. Read on each call: a live sample's messages are written before
   * the event that names them. @throws WorkbenchError for an id the sample did not record.
   */
  requestMessages(runId: string, sampleId: string, ids: string[]): RequestMessages {
    this.sampleFolder(runId, sampleId);
    const byId = readSampleMessages(this.runDir(runId), sampleId);
    const missing = ids.filter((id) => !byId.has(id));
    if (missing.length) {
      throw new WorkbenchError(
        `sample ${sampleId} of run ${runId} has no recorded message ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` (and ${missing.length - 3} more)` : ''}`,
        "use the ids of a model_call event's request (sampleEvents); runs recorded before requests were kept have none",
      );
    }
    return { messages: ids.map((id) => byId.get(id)!) };
  }

  /** A PNG or JPEG from the sample's images/ folder (`images/<name>.png|.jpg`). @throws WorkbenchError for a path outside it or a missing image. */
  image(runId: string, sampleId: string, path: string): Uint8Array {
    const dir = this.sampleFolder(runId, sampleId);
    const file = resolve(dir, path);
    if (!file.startsWith(join(dir, 'images') + sep)) throw new WorkbenchError(`${path} is not inside the sample's images/ folder`, 'use a path from an image event, e.g. images/step001_1.png');
    if (!existsSync(file)) throw new WorkbenchError(`no image ${path} in sample ${sampleId} of run ${runId}`, "use a path from the sample's image events (sampleEvents)");
    return new Uint8Array(readFileSync(file));
  }

  /** A kept artifact's manifest. @throws WorkbenchError, ArtifactNotKeptError */
  artifactManifest(runId: string, sampleId: string, artifactId: string): ArtifactManifest {
    return readKeptManifest(this.sampleFolder(runId, sampleId), artifactId);
  }

  /** One array of a kept artifact as raw .npy bytes. @throws WorkbenchError, ArtifactNotKeptError */
  artifactArray(runId: string, sampleId: string, artifactId: string, name: string): Uint8Array {
    return new Uint8Array(readFileSync(keptArrayPath(this.sampleFolder(runId, sampleId), artifactId, name)));
  }

  /**
   * Import a SpatialClaw work dir as a new run under this runs root (electron/services/runs/import.ts).
   * @throws ImportError (message and fix) when nothing could be imported; problems with single lines are in the report.
   */
  async importWorkdir(req: ImportRequest): Promise<ImportReport> {
    return importWorkDir(req.path, { runsRoot: this.root, id: req.id, dataRoot: req.data_root });
  }

  /** Drop the cached samples of a run folder (a sample of it just finished). */
  forget(dir: string): void {
    this.cache.forget(dir);
  }
}

/**
 * The summary of a run's `results.json` (written by `spatialclaw eval` / `score`, python-eval/spatial_eval/results.py),
 * or null when there is none or it cannot be read (the run itself still opens).
 */
/** The run's `progress.json` (a batch in flight, or its last snapshot), or null when absent or unreadable. */
export function readProgress(dir: string): RunDetail['progress'] {
  const file = join(dir, PROGRESS_JSON);
  if (!existsSync(file)) return null;
  try {
    const parsed = RunProgressSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null; // replaced while being read: the next poll gets it
  }
}

export function readResults(dir: string): RunDetail['results'] {
  const file = join(dir, 'results.json');
  if (!existsSync(file)) return null;
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as {
      scoring: string;
      benchmarks: Record<string, { title: string; n: number; overall: number | null; ci95: [number, number] | null; reference?: Record<string, number> }>;
      mean_over_benchmarks: { value: number | null; benchmarks: string[]; of: number };
    };
    return {
      scoring: r.scoring,
      benchmarks: Object.entries(r.benchmarks).map(([name, b]) => ({
        name, title: b.title, n: b.n, overall: b.overall, ci95: b.ci95, paper: b.reference?.['spatialclaw'] ?? null,
      })),
      mean: { value: r.mean_over_benchmarks.value, count: r.mean_over_benchmarks.benchmarks.length, of: r.mean_over_benchmarks.of },
    };
  } catch {
    return null;
  }
}
