/**
 * The host's event stream: live run events, counters, sample ends and progress of long tasks
 * (`HostEvent`, shared/workbench.ts). Services emit; the workbench transports and the CLI listen.
 */
import type { HostEvent } from '../../../shared/workbench.ts';

export class HostEvents {
  private readonly listeners = new Set<(e: HostEvent) => void>();

  /** Receive every event from now on; returns the unsubscribe function. */
  on(listener: (e: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Deliver an event to every listener; a listener that throws is logged and the others still get it. */
  emit(e: HostEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        console.error(`workbench: an event listener failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** A reporter for one long task: each call emits a `progress` event for `task`. */
  progress(task: string): (message: string, done?: boolean) => void {
    return (message, done = false) => this.emit({ type: 'progress', task, message, done });
  }
}

/** The message of anything thrown. */
export const errMsg = (e: unknown): string => (e instanceof Error ? e.message : String(e));
