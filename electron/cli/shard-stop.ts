/**
 * How a shard of a sharded run stops (docs/cluster.md "Time limits and preemption").
 *
 * The job array is submitted with `--requeue` and `--signal=B:USR1@<signal before>`: SLURM sends SIGUSR1 to the task
 * that many seconds before its time limit (the timing is approximate: SLURM checks about every 30 s). Then:
 *
 * | signal | grace for samples in flight | the shard's state | then |
 * |---|---|---|---|
 * | SIGUSR1 (time limit near, or an admin's warning) | half the warning time (at least 5 s) | `requeued` | `scontrol requeue <array job>_<task>`: SLURM starts the task again later; it resumes its shard |
 * | SIGTERM (`scancel`, preemption, the time limit itself) | 5 s | `interrupted` | exit 143; `--resume RUN --slurm` resubmits the shard |
 * | SIGINT (Ctrl-C on a shard run by hand) | none | `interrupted` | exit 130 |
 *
 * No new sample starts after the signal. Samples still in flight when the grace period ends are abandoned: their
 * folders stay unfinished and are moved to attempts/ and redone when the shard opens again, so nothing is lost and
 * nothing is recorded twice. A second signal ends the grace period at once.
 */
import type { ShardStatus } from '../../shared/cluster.ts';
import { currentTask, slurmCommand, taskJobRef } from '../services/cluster/slurm.ts';

/** Default seconds between SLURM's warning signal and the time limit (`--signal-before`). */
export const DEFAULT_SIGNAL_BEFORE_S = 300;

type StopSignal = 'SIGUSR1' | 'SIGTERM' | 'SIGINT';
const SIGNALS: StopSignal[] = ['SIGUSR1', 'SIGTERM', 'SIGINT'];

/**
 * A SIGUSR1 that came before the shard's {@link ShardStop} existed (see {@link armEarlyShardSignal}). The launcher
 * (electron/cli/spatialclaw.mjs) installs the first catcher before the CLI's modules load, in this global.
 */
interface EarlySignal {
  usr1: boolean;
  handler: () => void;
}
const EARLY_KEY = '__spatialclawEarlySignal';
const early = (): EarlySignal | undefined => (globalThis as Record<string, unknown>)[EARLY_KEY] as EarlySignal | undefined;

/**
 * Catch SLURM's warning signal from the first moment of a shard task: SLURM may send it up to a minute earlier than
 * asked (its event handling is that coarse), so it can come while the CLI still loads. Node's default for SIGUSR1
 * (start the inspector) would swallow it; instead it is kept for the shard's {@link ShardStop}. The CLI calls this when
 * its arguments hold `--shard`.
 */
export function armEarlyShardSignal(): void {
  if (early()) return;
  const e: EarlySignal = {
    usr1: false,
    handler: () => {
      e.usr1 = true;
    },
  };
  (globalThis as Record<string, unknown>)[EARLY_KEY] = e;
  process.on('SIGUSR1', e.handler);
}

/**
 * End a shard task's process now, with `process.exitCode`, once its command is done. SLURM's warning (SIGUSR1) can
 * come at any time, also while a finished shard exits. Left to end by itself (the event loop drains), Node tears down
 * its handles, the SIGUSR1 handler with them, and a signal in that window gets the default action, termination: the task
 * ends by signal 10 and SLURM records a finished shard as FAILED (ExitCode 0:10, seen on CI at the requeued task's
 * end). `process.exit()` ends the process without that teardown: with SIGUSR1 sent without pause, 40 of 40 Node
 * processes exited 0 this way, and 40 of 40 died of it when left to drain (Node 20). Nothing is cut short: the command
 * has closed its services, and on Linux stdout and stderr are synchronous for files and pipes.
 */
export function exitShardTask(): never {
  process.exit();
}

export class ShardStop {
  /** Aborted at the first signal: the batch starts no new sample. */
  readonly drain = new AbortController();
  private signal: StopSignal | null = null;
  private timer: NodeJS.Timeout | null = null;
  private resolveStop: (() => void) | null = null;
  private readonly stoppedP: Promise<'stopped'>;
  private readonly handlers = new Map<StopSignal, () => void>();

  constructor(private readonly signalBeforeS: number) {
    this.stoppedP = new Promise<'stopped'>((res) => {
      this.resolveStop = () => res('stopped');
    });
    for (const sig of SIGNALS) {
      const h = (): void => this.onSignal(sig);
      this.handlers.set(sig, h);
      process.on(sig, h);
    }
    const e = early();
    if (e) {
      process.off('SIGUSR1', e.handler);
      delete (globalThis as Record<string, unknown>)[EARLY_KEY];
      if (e.usr1) {
        console.log('[shard] SIGUSR1 came while the CLI started');
        this.onSignal('SIGUSR1');
      }
    }
  }

  /** Whether a signal came. */
  get stopped(): boolean {
    return this.signal !== null;
  }

  /** The grace period samples in flight get after `sig` (ms). */
  graceMs(sig: StopSignal): number {
    if (sig === 'SIGUSR1') return Math.max(5, Math.floor(this.signalBeforeS / 2)) * 1000;
    if (sig === 'SIGTERM') return 5000;
    return 0;
  }

  private onSignal(sig: StopSignal): void {
    if (this.signal !== null) {
      // A second signal: no more grace.
      if (sig !== 'SIGUSR1') this.finishGrace();
      return;
    }
    this.signal = sig;
    this.drain.abort();
    const grace = this.graceMs(sig);
    console.log(`[shard] ${sig}: no new samples; samples in flight get ${(grace / 1000).toFixed(0)} s to finish`);
    if (grace === 0) this.finishGrace();
    else this.timer = setTimeout(() => this.finishGrace(), grace);
  }

  private finishGrace(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.resolveStop?.();
  }

  /** Wait for the batch, or for the grace period after a signal to end: 'done' or 'stopped'. */
  race(batch: Promise<unknown>): Promise<'done' | 'stopped'> {
    return Promise.race([batch.then(() => 'done' as const), this.stoppedP]);
  }

  /**
   * How the shard ends after the signal: its state, the reason recorded, and `then`, which does the rest (the
   * requeue) and returns the exit code.
   */
  how(): { status: Exclude<ShardStatus, 'running' | 'finished'>; reason: string; then: () => Promise<number> } {
    const sig = this.signal ?? 'SIGTERM';
    const task = currentTask();
    if (sig === 'SIGUSR1' && task) {
      const ref = taskJobRef(task);
      return {
        status: 'requeued',
        reason: `SLURM's warning signal SIGUSR1 (the time limit is near, or preemption); requeued as ${ref}`,
        then: async () => {
          try {
            // SLURM ends this task now and starts it again later (with SLURM_RESTART_COUNT + 1); it resumes the shard.
            slurmCommand('scontrol', ['requeue', ref]);
            console.log(`[shard] requeued ${ref}`);
            return 0;
          } catch (e) {
            console.error(`[shard] could not requeue ${ref}: ${(e as Error).message}; resubmit with \`spatialclaw eval --resume RUN --slurm\``);
            return 1;
          }
        },
      };
    }
    const what = sig === 'SIGUSR1' ? 'SIGUSR1 (outside a SLURM task: not requeued)' : sig === 'SIGTERM' ? 'SIGTERM (scancel, preemption or the time limit)' : 'SIGINT (Ctrl-C)';
    return { status: 'interrupted', reason: what, then: async () => (sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 1) };
  }

  /**
   * Remove the signal handlers. SIGUSR1 stays ignored until the process exits: SLURM's warning may still come while
   * the finished shard shuts down, and its default action would kill the process (the task would count as failed).
   */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const [sig, h] of this.handlers) process.off(sig, h);
    this.handlers.clear();
    if (process.listenerCount('SIGUSR1') === 0) process.on('SIGUSR1', () => console.log('[shard] SIGUSR1 after the shard closed: ignored'));
  }
}
