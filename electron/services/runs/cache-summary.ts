/**
 * How often a run's perception requests were answered from the perception server's cache, read from the
 * `artifact` events of its samples (docs/run-format.md: each carries the server's `cache`, `hit` or `miss`).
 *
 * A `hit` is a request the server did not compute for: a stored result of an identical earlier request, or the
 * result of an identical request that was computing when it arrived (single-flight, docs/perception-api.md).
 * Artifact events without `cache` (runs recorded before the field, or a server that did not say) are counted
 * as `unknown` and left out of the hit rate.
 */
import type { RunEvent } from '../../../shared/run.ts';
import { readRun, readSampleEvents } from './reader.ts';

/** Artifact events counted by the server's cache answer. */
export interface CacheCounts {
  /** `artifact` events: one per perception request a tool made. */
  artifacts: number;
  /** Of those, answered from the cache (`cache: "hit"`). */
  hits: number;
  /** Computed for the request (`cache: "miss"`). */
  misses: number;
  /** Without a cache answer (older runs or servers). */
  unknown: number;
  /** hits / (hits + misses), or null when no artifact has a cache answer. */
  hit_rate: number | null;
}

/** {@link CacheCounts} over a run's samples, overall and per tool. */
export interface PerceptionCacheSummary extends CacheCounts {
  /** Samples whose events were read. */
  samples: number;
  /** Of those, with at least one artifact event. */
  samples_with_artifacts: number;
  /** The same counts per tool (`Reconstruct`, `SAM3`), by tool name. */
  by_tool: Record<string, CacheCounts>;
}

type Tally = Omit<CacheCounts, 'hit_rate'>;

const emptyTally = (): Tally => ({ artifacts: 0, hits: 0, misses: 0, unknown: 0 });

function add(t: Tally, cache: 'hit' | 'miss' | undefined): void {
  t.artifacts++;
  if (cache === 'hit') t.hits++;
  else if (cache === 'miss') t.misses++;
  else t.unknown++;
}

const withRate = (t: Tally): CacheCounts => ({ ...t, hit_rate: t.hits + t.misses === 0 ? null : t.hits / (t.hits + t.misses) });

/** The cache counts of some events (one sample's, say): only `artifact` events count. */
export function cacheCounts(events: Iterable<RunEvent>): CacheCounts {
  const t = emptyTally();
  for (const e of events) if (e.type === 'artifact') add(t, e.cache);
  return withRate(t);
}

/**
 * The perception cache summary of the run in `dir`: artifact events, hits, misses and the hit rate, over its
 * finished samples (the lines of samples.jsonl) or the samples named by `ids`, overall and per tool. Reads each
 * sample's events.jsonl (a torn last line is skipped); console cells (console.jsonl) are not part of it.
 * @throws as {@link readRun} and {@link readSampleEvents} do: naming the file (and line) when run.json, a
 *   complete line or a sample's events.jsonl is missing or invalid.
 */
export function perceptionCacheSummary(dir: string, ids?: readonly string[]): PerceptionCacheSummary {
  const sampleIds = ids ?? readRun(dir).samples.map((s) => s.id);
  const total = emptyTally();
  const tools = new Map<string, Tally>();
  let withArtifacts = 0;
  for (const id of sampleIds) {
    let seen = false;
    for (const e of readSampleEvents(dir, id)) {
      if (e.type !== 'artifact') continue;
      seen = true;
      add(total, e.cache);
      let tool = tools.get(e.tool);
      if (!tool) tools.set(e.tool, (tool = emptyTally()));
      add(tool, e.cache);
    }
    if (seen) withArtifacts++;
  }
  const by_tool: Record<string, CacheCounts> = {};
  for (const [name, t] of [...tools].sort(([a], [b]) => a.localeCompare(b))) by_tool[name] = withRate(t);
  return { samples: sampleIds.length, samples_with_artifacts: withArtifacts, ...withRate(total), by_tool };
}
