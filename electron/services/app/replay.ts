/**
 * Restoring a kernel from a recorded sample, for `spatialclaw replay` and the workbench's console on a
 * past sample: a fresh session prepared on the sample's recorded inputs with the run's agent profile (run.json
 * `config.agent`: the frames' size rule and the kernel options; no model bridge, so replayed `vlm.*` calls fail),
 * then the recorded cells re-executed in the order they ran.
 *
 * Which cells are replayed is one rule, {@link selectReplayCells}: every cell that reached the kernel and
 * finished there, from the agent's journal (events.jsonl) and the console's (console.jsonl), in the order
 * they ran. Left out: `rejected` cells (the safety check refused them; they never reached the kernel),
 * `timeout` cells (they would cost the timeout again) and `kernel_died` cells (they would kill the kernel
 * again). Cells that ended in an `error` are replayed: what they did before failing is part of the state.
 */
import { basename } from 'node:path';
import { WorkbenchError } from '../../../shared/api.ts';
import type { CellResult } from '../../../shared/kernel.ts';
import { AgentRunConfigSchema } from '../../../shared/profiles.ts';
import type { RunEvent } from '../../../shared/run.ts';
import { prepareOptions } from '../agent/options.ts';
import type { SettingsService } from '../config/settings.ts';
import { KernelPrepareError, type KernelSession } from '../kernel/session.ts';
import type { PerceptionServer } from '../perception/server.ts';
import { readRunInfo, readSampleEvents } from '../runs/reader.ts';
import { readConsole } from '../workbench/runs.ts';
import type { KernelService } from './kernels.ts';

/** A recorded cell event (agent or console). */
export type RecordedCell = Extract<RunEvent, { type: 'cell' }>;

/** Cell statuses that are never replayed, and why. */
export const NOT_REPLAYED: Readonly<Record<'rejected' | 'timeout' | 'kernel_died', string>> = {
  rejected: 'refused by the safety check; it never reached the kernel',
  timeout: 'it ran out of time; replaying it would cost the timeout again',
  kernel_died: 'it killed the kernel; replaying it would kill the restored one',
};

/**
 * The one rule for which recorded cells a replay re-executes, and in which order: the `cell` events of the
 * agent's journal and of the console journal whose status is `ok` or `error`, sorted by their time `t`
 * (ties keep the agent's journal first, then file order). The others are returned as `skipped`, in the
 * same order.
 */
export function selectReplayCells(agentEvents: readonly RunEvent[], consoleEvents: readonly RunEvent[]): { replay: RecordedCell[]; skipped: RecordedCell[] } {
  const cells = [...agentEvents, ...consoleEvents]
    .map((e, i) => ({ e, i }))
    .filter((x): x is { e: RecordedCell; i: number } => x.e.type === 'cell')
    .sort((a, b) => a.e.t.localeCompare(b.e.t) || a.i - b.i)
    .map(({ e }) => e);
  return { replay: cells.filter((c) => !(c.result.status in NOT_REPLAYED)), skipped: cells.filter((c) => c.result.status in NOT_REPLAYED) };
}

/**
 * How a replayed cell's outcome differs from the record: status, answer, error name, stdout (one phrase
 * each); [] when it reproduces the record.
 */
export function cellDifferences(recorded: CellResult, now: CellResult): string[] {
  const diffs: string[] = [];
  if (now.status !== recorded.status) diffs.push(`status ${recorded.status} -> ${now.status}`);
  if (JSON.stringify(now.answer) !== JSON.stringify(recorded.answer)) diffs.push(`answer ${JSON.stringify(recorded.answer?.answer ?? null)} -> ${JSON.stringify(now.answer?.answer ?? null)}`);
  if ((now.error?.ename ?? null) !== (recorded.error?.ename ?? null)) diffs.push(`error ${recorded.error?.ename ?? 'none'} -> ${now.error?.ename ?? 'none'}`);
  if (now.stdout !== recorded.stdout) diffs.push('stdout differs');
  return diffs;
}

/** One replayed cell: the record, the new outcome, and their differences. */
export interface ReplayedCell {
  recorded: RecordedCell;
  now: CellResult;
  differences: string[];
}

export interface RestoreOptions {
  /** The server for tools.Reconstruct / tools.SAM3 in the restored kernel, or null. */
  perception: PerceptionServer | null;
  /** Called before each replayed cell, with "replaying cell i of n". */
  progress?: (message: string) => void;
  /** Called after each replayed cell. */
  onCell?: (cell: ReplayedCell, index: number, total: number) => void;
}

/** A kernel restored to a recorded sample's state; the caller closes `session` with the runtime. */
export interface Restored {
  session: KernelSession;
  /** The step of the sample's last recorded event. */
  step: number;
  cells: ReplayedCell[];
  /** Cells left out by the rule (see {@link NOT_REPLAYED}). */
  skipped: RecordedCell[];
}

/** How the run's samples were prepared (run.json `config.agent`); nothing for runs recorded before profiles (the default). */
function recordedPrepare(runDir: string): ReturnType<typeof prepareOptions> | Record<string, never> {
  let agent: unknown;
  try {
    agent = readRunInfo(runDir).config['agent'];
  } catch {
    return {};
  }
  const parsed = AgentRunConfigSchema.safeParse(agent);
  return parsed.success ? prepareOptions(parsed.data) : {};
}

export class ReplayService {
  constructor(
    private readonly kernels: KernelService,
    private readonly settings: SettingsService,
  ) {}

  /**
   * Restore a kernel from sample `sampleId` of the run in `runDir`: prepare a fresh session on the recorded
   * inputs and replay the cells {@link selectReplayCells} selects, each with the resolved cell timeout.
   * @throws WorkbenchError when the record has no sample_start event or its inputs are gone; Error naming
   *   the file when the journal cannot be read. The session is closed on failure.
   */
  async restore(runDir: string, sampleId: string, o: RestoreOptions): Promise<Restored> {
    const events = readSampleEvents(runDir, sampleId);
    const start = events.find((e) => e.type === 'sample_start');
    const label = `sample ${sampleId} of run ${basename(runDir)}`;
    if (!start || start.type !== 'sample_start') throw new WorkbenchError(`${label} has no sample_start event`, 'the record is incomplete; run the question again');
    const { replay, skipped } = selectReplayCells(events, readConsole(runDir, sampleId));
    const runtime = await this.kernels.runtime();
    const session = await runtime.openSession();
    try {
      try {
        await session.prepare({
          inputs: start.sample.inputs,
          ...recordedPrepare(runDir),
          scratchDir: runtime.newScratchDir(),
          bridge: null,
          perception: o.perception ? { url: o.perception.url, token: o.perception.token } : null,
        });
      } catch (e) {
        if (e instanceof KernelPrepareError) throw new WorkbenchError(`cannot restore ${label}: ${e.message}`, "the sample's inputs must still exist at the paths recorded in its sample_start event");
        throw e;
      }
      const cells: ReplayedCell[] = [];
      for (const [i, recorded] of replay.entries()) {
        o.progress?.(`replaying cell ${i + 1} of ${replay.length}`);
        const now = await session.execute(recorded.result.code, { origin: recorded.result.origin, timeoutS: this.settings.config().cellTimeoutS });
        const cell = { recorded, now, differences: cellDifferences(recorded.result, now) };
        cells.push(cell);
        o.onCell?.(cell, i, replay.length);
      }
      return { session, step: events.at(-1)?.step ?? 0, cells, skipped };
    } catch (e) {
      await runtime.closeSession(session).catch(() => undefined);
      throw e;
    }
  }
}
