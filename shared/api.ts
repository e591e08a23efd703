import type { HostEvent, MethodArgs, MethodName, MethodResult } from './workbench.ts';

/**
 * The workbench API as the renderer sees it: the method table of `shared/workbench.ts`, reached
 * through one of two transports picked at start-up.
 * - `electron`: the preload's IPC bridge (`window.spatialclaw`).
 * - `http`: the HTTP + WebSocket client of `spatialclaw serve` (`shared/http-client.ts`).
 * Every method exists in both; only `pickPaths` is a native extra (HTTP returns null and the UI
 * falls back to the host folder browser, `listDir`).
 */
export interface WorkbenchApi {
  transport: 'electron' | 'http';
  /**
   * Call a host method. Arguments are validated by the host, JSON results by the client.
   * Binary methods resolve to the raw bytes.
   * @throws WorkbenchError with the host's message and fix.
   */
  call<M extends MethodName>(method: M, args: MethodArgs<M>): Promise<MethodResult<M>>;
  /** Receive host events (live run events, counters, progress). Returns the unsubscribe function. */
  subscribe(listener: (e: HostEvent) => void): () => void;
  /** Native open dialog (Electron); null when cancelled or unavailable (browser mode). */
  pickPaths(options: { kind: 'file' | 'folder'; title?: string; filters?: { name: string; extensions: string[] }[] }): Promise<string[] | null>;
}

/** A failed host call: `message` says what was wrong, `fix` how to fix it. */
export class WorkbenchError extends Error {
  constructor(
    message: string,
    readonly fix: string | null = null,
    readonly method: string | null = null,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'WorkbenchError';
  }
}
