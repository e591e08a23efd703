/**
 * The end-of-batch summary that `spatialclaw run` and `spatialclaw eval` print (issue 15, papercut "the batch summary
 * is a raw JSON dump, and it reports `errors: 0` when samples failed with tool errors"): samples done of total, the
 * score, terminations by reason, the samples whose agent cells failed (by error class), host errors, parse
 * failures, fallbacks, tokens and wall time, as readable lines.
 *
 * "Failed cells" and "fallback used" are the triage view's definitions (runs/sample-index.ts: an agent cell whose
 * status is not `ok`; a sample answered by a fallback route), read from each finished sample's events.jsonl, so the
 * CLI and the workbench count the same samples. A host error is a sample whose result has an `error` or whose
 * termination is `error` (the model endpoint failed for good, the kernel could not start, ...): failed cells are
 * the model's code failing, which the agent sees and may recover from, not host errors.
 */
import type { SampleResult, Termination } from '../../../shared/run.ts';
import { readInfraErrors } from './infra-errors.ts';
import { readRun } from './reader.ts';
import { type EventFacts, readEventFacts } from './sample-index.ts';
import { summarize } from './scoring.ts';

/** How many host errors the summary quotes. */
const HOST_ERRORS_SHOWN = 3;

export interface BatchSummary {
  /** Samples the run was asked to do (run.json total_samples). */
  total: number;
  /** Finished samples (distinct ids in samples.jsonl). */
  done: number;
  scored: number;
  /** Mean per-sample score over the scored samples, or null. */
  mean_score: number | null;
  /** Samples by termination reason; only reasons that occurred. */
  terminations: Partial<Record<Termination, number>>;
  /** Samples with at least one failed agent cell. */
  failed_cell_samples: number;
  /** Failed agent cells over all samples. */
  failed_cells: number;
  /** Samples by the error class of their first failed cell (NameError, TimeoutError, Rejected, KernelDied, ...). */
  by_error_class: Record<string, number>;
  /** Samples with a host error, and the first few of them. */
  host_errors: number;
  host_error_examples: { id: string; error: string }[];
  /**
   * Samples an infrastructure fault hurt (a perception server crash) that are still not done: listed in
   * infra-errors.jsonl, not in samples.jsonl, so not scored; `--resume` redoes them. Every one of them.
   */
  infra_errors: { id: string; error: string }[];
  /** Replies that could not be parsed, over all samples, and the samples that had any. */
  parse_failures: number;
  parse_failure_samples: number;
  /** Samples answered through a fallback (the last submitted answer, or the direct-answer call). */
  fallback_samples: number;
  /** Samples whose events.jsonl could not be read (their failed cells are not counted), with the first problem. */
  unreadable_events: number;
  unreadable_example: string | null;
  usage: { prompt_tokens: number; completion_tokens: number; reasoning_tokens: number; model_calls: number };
  mean_steps: number | null;
  mean_duration_s: number | null;
  /** Wall time of the command, seconds, when the caller knows it. */
  wall_s: number | null;
}

/** The last result of each sample id, in first-seen order (a resumed run may have recorded a sample again). */
function lastPerId(results: readonly SampleResult[]): SampleResult[] {
  const byId = new Map<string, SampleResult>();
  for (const r of results) {
    byId.delete(r.id);
    byId.set(r.id, r);
  }
  return [...byId.values()];
}

/**
 * The summary of the run in `dir`: run.json, samples.jsonl and each finished sample's events.jsonl.
 * @param opts.wallS the command's wall time, seconds.
 * @throws naming the file and line of an invalid line.
 */
export function batchSummary(dir: string, opts: { wallS?: number } = {}): BatchSummary {
  const { info, samples } = readRun(dir);
  const results = lastPerId(samples);
  const base = summarize(results);
  const terminations: Partial<Record<Termination, number>> = {};
  for (const [reason, n] of Object.entries(base.by_termination) as [Termination, number][]) if (n > 0) terminations[reason] = n;
  const byClass = new Map<string, number>();
  let failedSamples = 0;
  let failedCells = 0;
  let fallbacks = 0;
  let parseSamples = 0;
  const hostErrors: { id: string; error: string }[] = [];
  let unreadable = 0;
  let unreadableExample: string | null = null;
  for (const r of results) {
    let facts: EventFacts;
    try {
      facts = readEventFacts(dir, r.id);
    } catch (e) {
      // One broken events file costs its sample's cell counts, not the summary.
      unreadable++;
      unreadableExample ??= e instanceof Error ? e.message : String(e);
      facts = { tool_failures: 0, cell_error_class: null, fallback_call: false, code: '' };
    }
    if (facts.tool_failures > 0) {
      failedSamples++;
      failedCells += facts.tool_failures;
      const cls = facts.cell_error_class ?? 'Error';
      byClass.set(cls, (byClass.get(cls) ?? 0) + 1);
    }
    if (facts.fallback_call || r.answer_source === 'last_submitted' || r.answer_source === 'direct_answer') fallbacks++;
    if (r.parse_failures > 0) parseSamples++;
    if (r.error !== null || r.termination === 'error') hostErrors.push({ id: r.id, error: r.error ?? 'ended with termination "error"' });
  }
  return {
    total: Math.max(info.total_samples, results.length),
    done: results.length,
    scored: base.scored,
    mean_score: base.mean_score,
    terminations,
    failed_cell_samples: failedSamples,
    failed_cells: failedCells,
    by_error_class: Object.fromEntries([...byClass].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    host_errors: hostErrors.length,
    host_error_examples: hostErrors.slice(0, HOST_ERRORS_SHOWN),
    // Those since redone (by --resume) are done and no longer listed.
    infra_errors: readInfraErrors(dir).filter((e) => !results.some((r) => r.id === e.id)).map((e) => ({ id: e.id, error: e.error })),
    parse_failures: base.parse_failures,
    parse_failure_samples: parseSamples,
    fallback_samples: fallbacks,
    unreadable_events: unreadable,
    unreadable_example: unreadableExample,
    usage: base.usage,
    mean_steps: base.mean_steps,
    mean_duration_s: base.mean_duration_s,
    wall_s: opts.wallS ?? null,
  };
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
const count = (n: number): string => n.toLocaleString('en-US');

function duration(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * The summary as lines, e.g.
 * ```
 * samples:        4 of 4 done
 * score:          0.750 mean over 4 scored samples
 * terminations:   answered 3, max_steps 1
 * errors:         2 samples had failed cells (NameError ×1, TimeoutError ×1), 3 failed cells in all; 0 host errors
 * parse failures: 1 (in 1 sample)
 * fallbacks used: 1 sample answered by a fallback
 * tokens:         12,345 prompt + 678 completion in 12 model calls
 * wall time:      34.5 s (a sample: 8.2 s and 3.0 steps on average)
 * ```
 */
export function formatBatchSummary(s: BatchSummary): string {
  const row = (label: string, text: string): string => `${`${label}:`.padEnd(16)}${text}`;
  const lines = [row('samples', `${count(s.done)} of ${count(s.total)} done${s.done < s.total ? ` (${count(s.total - s.done)} not run: --resume --out DIR continues)` : ''}`)];
  lines.push(row('score', s.mean_score === null ? 'none (no sample has a ground truth)' : `${s.mean_score.toFixed(3)} mean over ${plural(s.scored, 'scored sample')}`));
  const terms = Object.entries(s.terminations).map(([k, n]) => `${k} ${count(n)}`);
  lines.push(row('terminations', terms.length ? terms.join(', ') : 'none'));
  const classes = Object.entries(s.by_error_class).map(([k, n]) => `${k} ×${n}`).join(', ');
  const cells = s.failed_cell_samples
    ? `${plural(s.failed_cell_samples, 'sample')} had failed cells (${classes}), ${plural(s.failed_cells, 'failed cell')} in all`
    : 'no sample had a failed cell';
  lines.push(row('errors', `${cells}; ${plural(s.host_errors, 'host error')}`));
  for (const e of s.host_error_examples) lines.push(`${''.padEnd(16)}host error in ${e.id}: ${e.error.replace(/\s+/g, ' ').slice(0, 300)}`);
  if (s.host_errors > s.host_error_examples.length) lines.push(`${''.padEnd(16)}… ${s.host_errors - s.host_error_examples.length} more (samples.jsonl "error")`);
  if (s.infra_errors.length) {
    lines.push(row('infrastructure', `${plural(s.infra_errors.length, 'sample')} hurt by an infrastructure fault, not recorded or scored ` +
      `(--resume redoes them): ${s.infra_errors.map((e) => e.id).join(', ')} (infra-errors.jsonl)`));
  }
  if (s.unreadable_events) {
    lines.push(`${''.padEnd(16)}${plural(s.unreadable_events, 'sample')} with an unreadable events.jsonl not counted (${s.unreadable_example ?? ''})`);
  }
  lines.push(row('parse failures', s.parse_failures ? `${count(s.parse_failures)} (in ${plural(s.parse_failure_samples, 'sample')})` : '0'));
  lines.push(row('fallbacks used', s.fallback_samples ? `${plural(s.fallback_samples, 'sample')} answered by a fallback` : '0'));
  const u = s.usage;
  lines.push(row('tokens', `${count(u.prompt_tokens)} prompt + ${count(u.completion_tokens)} completion${u.reasoning_tokens ? ` (${count(u.reasoning_tokens)} reasoning)` : ''} in ${plural(u.model_calls, 'model call')}`));
  const perSample = s.mean_duration_s !== null && s.mean_steps !== null ? ` (a sample: ${duration(s.mean_duration_s)} and ${s.mean_steps.toFixed(1)} steps on average)` : '';
  lines.push(row('wall time', `${s.wall_s === null ? 'unknown' : duration(s.wall_s)}${perSample}`));
  return lines.join('\n');
}
