/**
 * The input-preview helper: one long-lived `python -m spatial_runtime.preview` process (started on the
 * first request, restarted if it dies) that reports what inputs hold and renders single frames as JPEG,
 * with the kernel's own loaders (so frame indices are exactly those a sample binds). Protocol: see
 * python-runtime/spatial_runtime/preview.py (a JSON request line on stdin; a JSON header line on stdout
 * followed by `bytes` raw bytes). Requests are answered in order. The process is a ../child.ts
 * ManagedChild: it gets no secret, and is killed when the host exits.
 */
import type { InputSpec } from '../../../shared/kernel.ts';
import { type InputPreview, InputPreviewSchema } from '../../../shared/workbench.ts';
import { ManagedChild, PendingReplies } from '../child.ts';
import { resolvePython } from '../python.ts';

/** The input cannot be previewed; the message names the file and the fix (from spatial_runtime.inputs). */
export class PreviewError extends Error {
  override name = 'PreviewError';
}

/** A reply: the header's `result` and the raw bytes that followed it. */
interface Reply {
  result: unknown;
  bytes: Buffer;
}

/** The JSON line that starts every reply. */
interface Header {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  /** Raw bytes that follow the line. */
  bytes: number;
}

export class PreviewProcess {
  private child: ManagedChild | null = null;
  private readonly replies = new PendingReplies<Reply>();
  private nextId = 1;
  private closed = false;

  /** @param timeoutMs how long one request may take before the helper is restarted (default 60 s). */
  constructor(private readonly timeoutMs = 60_000) {}

  private ensure(): ManagedChild {
    if (this.closed) throw new Error('the preview helper is closed');
    if (this.child?.running) return this.child;
    const child = ManagedChild.start({
      name: 'the preview helper',
      command: resolvePython(),
      args: ['-m', 'spatial_runtime.preview'],
      stdin: true,
      env: { PYTHONUNBUFFERED: '1' },
    });
    child.onData(this.reader(child));
    void child.exited.then(({ code, error }) => {
      if (this.child === child) this.child = null;
      this.replies.failAll(new Error(error
        ? `could not start the preview helper: ${error.message}`
        : `the preview helper exited (code ${code}): ${child.tail(2).replaceAll('\n', ' ')}`), child);
    });
    this.child = child;
    return child;
  }

  /** Parses the reply stream of `child` (header line, then `bytes` bytes) and settles the requests. */
  private reader(child: ManagedChild): (chunk: Buffer) => void {
    let buf: Buffer = Buffer.alloc(0);
    let header: Header | null = null;
    return (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        if (!header) {
          const nl = buf.indexOf(0x0a);
          if (nl < 0) return;
          const line = buf.toString('utf8', 0, nl);
          buf = buf.subarray(nl + 1);
          try {
            header = JSON.parse(line) as Header;
          } catch {
            // Out of step with the protocol: fail what was sent and start afresh on the next request.
            this.replies.failAll(new Error(`the preview helper wrote a line that is not a reply: ${line.slice(0, 200)}`), child);
            child.killNow();
            return;
          }
        }
        if (buf.length < header.bytes) return;
        const payload = Buffer.from(buf.subarray(0, header.bytes));
        buf = buf.subarray(header.bytes);
        const h = header;
        header = null;
        if (h.ok) this.replies.resolve(String(h.id), { result: h.result, bytes: payload });
        else this.replies.reject(String(h.id), new PreviewError(h.error ?? 'preview failed'));
      }
    };
  }

  private request(req: Record<string, unknown>): Promise<Reply> {
    const child = this.ensure();
    const id = this.nextId++;
    const reply = this.replies.wait(String(id), child, this.timeoutMs, () => {
      // Its answer would arrive out of step: start a fresh helper for the next request.
      if (this.child === child) this.child = null;
      child.killNow();
      return new Error(`the preview helper did not answer within ${this.timeoutMs / 1000} s`);
    });
    child.write(`${JSON.stringify({ ...req, id })}\n`);
    return reply;
  }

  /** Frame counts, sizes, fps and the absolute frame indices each input binds. @throws PreviewError */
  async preview(inputs: InputSpec[]): Promise<InputPreview> {
    const { result } = await this.request({ op: 'preview', inputs });
    return InputPreviewSchema.parse(result);
  }

  /** One frame (absolute index) as JPEG bytes, long edge <= maxEdge. @throws PreviewError */
  async frame(input: InputSpec, frameIndex: number, maxEdge: number): Promise<Uint8Array> {
    const { bytes } = await this.request({ op: 'frame', input, frame_index: frameIndex, max_edge: maxEdge });
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Fail the requests in flight and end the helper (stdin closed; SIGKILL if it is still there after 2 s). */
  close(): void {
    this.closed = true;
    this.replies.failAll(new Error('the preview helper was closed'));
    const c = this.child;
    this.child = null;
    void c?.stop({ graceMs: 2000, term: null });
  }
}
