/**
 * Running one cell in a kernel through `@jupyterlab/services` and collecting what it produced.
 * The agent's full observation model (variable summaries, show() images, restart and replay) is built
 * on top of this in the kernel runtime.
 */
import { stripVTControlCharacters } from 'node:util';
import type { Kernel, KernelMessage } from '@jupyterlab/services';

export interface CellError {
  ename: string;
  evalue: string;
  /** Traceback lines with ANSI colour codes removed. */
  traceback: string[];
}

export interface CellOutput {
  status: 'ok' | 'error' | 'timeout';
  stdout: string;
  stderr: string;
  /** `text/plain` of the cell's last expression, if any. */
  result?: string;
  error?: CellError;
  /** MIME bundles from display_data messages (e.g. images), in order. */
  displays: Record<string, unknown>[];
  /** Wall time from request to `execute_reply`, milliseconds. */
  durationMs: number;
}

/** Strip ANSI escape sequences (IPython colours tracebacks). */
export const stripAnsi = (s: string): string => stripVTControlCharacters(s);

/**
 * Execute `code` in `kernel` and wait for the reply.
 * On timeout the kernel is interrupted and the result has status `timeout`; outputs seen so far are kept.
 * It then waits up to `interruptGraceMs` for the interrupted reply; a kernel that does not come back in
 * that time needs a restart (the kernel runtime's job).
 */
export async function executeCell(
  kernel: Kernel.IKernelConnection,
  code: string,
  timeoutMs = 600_000,
  interruptGraceMs = 10_000,
): Promise<CellOutput> {
  const out: CellOutput = { status: 'ok', stdout: '', stderr: '', displays: [], durationMs: 0 };
  const t0 = performance.now();
  const future = kernel.requestExecute({ code, store_history: true, stop_on_error: true, allow_stdin: false });
  future.onIOPub = (msg: KernelMessage.IIOPubMessage): void => {
    const type = msg.header.msg_type;
    if (type === 'stream') {
      const c = msg.content as KernelMessage.IStreamMsg['content'];
      if (c.name === 'stdout') out.stdout += c.text;
      else out.stderr += c.text;
    } else if (type === 'execute_result') {
      const c = msg.content as KernelMessage.IExecuteResultMsg['content'];
      const text = c.data['text/plain'];
      if (typeof text === 'string') out.result = text;
    } else if (type === 'display_data') {
      out.displays.push((msg.content as KernelMessage.IDisplayDataMsg['content']).data);
    } else if (type === 'error') {
      const c = msg.content as KernelMessage.IErrorMsg['content'];
      out.status = 'error';
      out.error = { ename: c.ename, evalue: c.evalue, traceback: c.traceback.map(stripAnsi) };
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), timeoutMs);
  });
  const winner = await Promise.race([future.done.then(() => 'done' as const), timedOut]);
  clearTimeout(timer);
  if (winner === 'timeout') {
    out.status = 'timeout';
    // Interrupt, then wait for the interrupted reply so the kernel is idle again before the next cell
    // (a request sent while the KeyboardInterrupt is being handled would be aborted by stop_on_error).
    await kernel.interrupt().catch(() => undefined);
    const settled = await Promise.race([
      future.done.then(() => true, () => true),
      new Promise<false>((r) => setTimeout(() => r(false), interruptGraceMs)),
    ]);
    if (!settled) future.dispose();
    out.status = 'timeout';
  }
  out.durationMs = performance.now() - t0;
  return out;
}
