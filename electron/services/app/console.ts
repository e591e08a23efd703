/**
 * The kernel console: human cells run on a sample. On a live sample the cell runs in that sample's own
 * kernel, queued behind the agent's cell; on a past sample, in a kernel restored by ReplayService, kept
 * for further cells and closed after `replayIdleMs` unused. Console cells skip the safety check (a person
 * typed them) and are appended to the sample's `console.jsonl` as human steps (workbench/runs.ts); the
 * agent's events.jsonl is never rewritten.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkbenchError } from '../../../shared/api.ts';
import type { CellImage, CellResult } from '../../../shared/kernel.ts';
import type { SettingsService } from '../config/settings.ts';
import type { KernelSession } from '../kernel/session.ts';
import { readRunInfo } from '../runs/reader.ts';
import { appendConsole } from '../workbench/runs.ts';
import type { AskService } from './ask.ts';
import { errMsg, type HostEvents } from './events.ts';
import type { KernelService } from './kernels.ts';
import type { PerceptionService } from './perception.ts';
import type { ReplayService } from './replay.ts';
import type { RunsService } from './runs.ts';

interface ReplayState {
  session: KernelSession;
  step: number;
  timer: NodeJS.Timeout | null;
}

export interface ConsoleDeps {
  settings: SettingsService;
  runs: RunsService;
  asks: AskService;
  replay: ReplayService;
  perception: PerceptionService;
  kernels: KernelService;
  events: HostEvents;
}

const key = (runId: string, sampleId: string): string => `${runId}/${sampleId}`;

/** Write a console cell's images to images/console<NNN>_<k>.png; the result then carries their paths. */
function saveConsoleImages(dir: string, images: CellImage[]): CellImage[] {
  if (!images.some((im) => im.png !== undefined)) return images;
  const imagesDir = join(dir, 'images');
  mkdirSync(imagesDir, { recursive: true });
  let n = 1;
  while (existsSync(join(imagesDir, `console${String(n).padStart(3, '0')}_1.png`))) n++;
  return images.map((im, i) => {
    if (im.png === undefined) return im;
    const { png, ...rest } = im;
    const name = `console${String(n).padStart(3, '0')}_${i + 1}.png`;
    writeFileSync(join(imagesDir, name), Buffer.from(png, 'base64'), { flag: 'wx' });
    return { ...rest, path: `images/${name}` };
  });
}

export class ConsoleService {
  private readonly replays = new Map<string, Promise<ReplayState>>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: ConsoleDeps) {}

  /**
   * Run a human cell on a sample; cells of one sample run one at a time, in call order.
   * @throws WorkbenchError (no such run or sample, a live sample still preparing or just finished, a
   *   record that cannot be restored).
   */
  async cell(runId: string, sampleId: string, code: string): Promise<CellResult> {
    const k = key(runId, sampleId);
    const prev = this.locks.get(k) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(() => this.cellNow(runId, sampleId, code));
    this.locks.set(k, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(k) === run) this.locks.delete(k);
    }
  }

  /** Close every restored kernel. */
  async close(): Promise<void> {
    const runtime = await this.deps.kernels.ifStarted();
    for (const p of this.replays.values()) {
      const r = await p.catch(() => null);
      if (!r) continue;
      if (r.timer) clearTimeout(r.timer);
      if (runtime) await runtime.closeSession(r.session).catch(() => undefined);
    }
    this.replays.clear();
  }

  private async cellNow(runId: string, sampleId: string, code: string): Promise<CellResult> {
    const dir = this.deps.runs.sampleFolder(runId, sampleId);
    const runDir = this.deps.runs.runDir(runId);
    const timeoutS = this.deps.settings.config().cellTimeoutS;
    const l = this.deps.asks.liveSample(runId, sampleId);
    let result: CellResult;
    let step: number;
    if (l) {
      if (!l.session) throw new WorkbenchError(`sample ${sampleId} is still preparing its kernel`, 'wait for the first step and run the cell again');
      try {
        result = await l.session.execute(code, { origin: 'human', timeoutS });
      } catch (e) {
        if (this.deps.asks.liveSample(runId, sampleId) === l && !/closed/.test(errMsg(e))) throw e;
        throw new WorkbenchError(`sample ${sampleId} finished before the cell could run`, 'run the cell again: it runs in a kernel restored from the record');
      }
      step = l.step;
    } else {
      const r = await this.restored(runId, sampleId, runDir);
      this.touch(key(runId, sampleId), r);
      result = await r.session.execute(code, { origin: 'human', timeoutS });
      step = r.step;
    }
    const stored = { ...result, images: saveConsoleImages(dir, result.images) };
    appendConsole(runDir, sampleId, { type: 'cell', t: new Date().toISOString(), step, result: stored });
    return stored;
  }

  /** The restored kernel of a past sample, restoring it on first use (one restore per sample at a time). */
  private restored(runId: string, sampleId: string, runDir: string): Promise<ReplayState> {
    const k = key(runId, sampleId);
    const existing = this.replays.get(k);
    if (existing) return existing;
    const p = this.restore(runId, sampleId, runDir);
    this.replays.set(k, p);
    p.catch(() => this.replays.delete(k));
    return p;
  }

  private async restore(runId: string, sampleId: string, runDir: string): Promise<ReplayState> {
    const progress = this.deps.events.progress(`replay ${runId}/${sampleId}`);
    progress('starting a kernel for the console');
    try {
      const r = await this.deps.replay.restore(runDir, sampleId, {
        perception: this.deps.perception.forReplay(readRunInfo(runDir).config),
        progress,
      });
      const same = r.cells.filter((c) => c.now.status === c.recorded.result.status).length;
      progress(`restored: ${same} of ${r.cells.length} cells replayed`, true);
      return { session: r.session, step: r.step, timer: null };
    } catch (e) {
      progress(`replay failed: ${errMsg(e)}`, true);
      throw e;
    }
  }

  private touch(k: string, r: ReplayState): void {
    if (r.timer) clearTimeout(r.timer);
    r.timer = setTimeout(() => {
      this.replays.delete(k);
      void this.deps.kernels.runtime().then((rt) => rt.closeSession(r.session)).catch(() => undefined);
    }, this.deps.settings.config().replayIdleMs);
    r.timer.unref();
  }
}
