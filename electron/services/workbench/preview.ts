/**
 * The input-preview helper: one long-lived `python -m spatial_runtime.preview` process (started on the
 * first request, restarted if it dies) that reports what inputs hold and renders single frames as JPEG,
 * with the kernel's own loaders (so frame indices are exactly those a sample binds). Protocol: see
 * python-runtime/spatial_runtime/preview.py. Requests are answered in order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { InputSpec } from '../../../shared/kernel.ts';
import { type InputPreview, InputPreviewSchema } from '../../../shared/workbench.ts';
import { resolvePython } from '../python.ts';

/** The input cannot be previewed; the message names the file and the fix (from spatial_runtime.inputs). */
export class PreviewError extends Error {
  override name = 'PreviewError';
}

interface Pending {
  id: number;
  resolve: (v: { result: unknown; bytes: Buffer }) => void;
  reject: (e: Error) => void;
}

interface Header {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  bytes: number;
}

export class PreviewProcess {
  private child: ChildProcess | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private header: Header | null = null;
  private readonly pending: Pending[] = [];
  private nextId = 1;
  private stderrTail = '';
  private closed = false;

  constructor(private readonly timeoutMs = 60_000) {}

  private ensure(): ChildProcess {
    if (this.closed) throw new Error('the preview helper is closed');
    if (this.child) return this.child;
    const child = spawn(resolvePython(), ['-m', 'spatial_runtime.preview'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    child.stdout!.on('data', (d: Buffer) => this.onData(d));
    child.stderr!.on('data', (d: Buffer) => (this.stderrTail = (this.stderrTail + d.toString()).slice(-2000)));
    child.on('error', (e) => this.fail(`could not start the preview helper: ${e.message}`));
    child.on('exit', (code) => {
      if (this.child === child) this.child = null;
      this.fail(`the preview helper exited (code ${code}): ${this.stderrTail.trim().split('\n').slice(-2).join(' ')}`);
    });
    child.stdin!.on('error', () => undefined);
    this.child = child;
    this.buf = Buffer.alloc(0);
    this.header = null;
    return child;
  }

  private fail(message: string): void {
    for (const p of this.pending.splice(0)) p.reject(new Error(message));
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (!this.header) {
        const nl = this.buf.indexOf(0x0a);
        if (nl < 0) return;
        this.header = JSON.parse(this.buf.toString('utf8', 0, nl)) as Header;
        this.buf = this.buf.subarray(nl + 1);
      }
      if (this.buf.length < this.header.bytes) return;
      const payload = Buffer.from(this.buf.subarray(0, this.header.bytes));
      this.buf = this.buf.subarray(this.header.bytes);
      const h = this.header;
      this.header = null;
      const idx = this.pending.findIndex((p) => p.id === h.id);
      const p = idx >= 0 ? this.pending.splice(idx, 1)[0]! : undefined;
      if (!p) continue;
      if (h.ok) p.resolve({ result: h.result, bytes: payload });
      else p.reject(new PreviewError(h.error ?? 'preview failed'));
    }
  }

  private request(req: Record<string, unknown>): Promise<{ result: unknown; bytes: Buffer }> {
    const child = this.ensure();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const idx = this.pending.findIndex((p) => p.id === id);
        if (idx >= 0) this.pending.splice(idx, 1);
        reject(new Error(`the preview helper did not answer within ${this.timeoutMs / 1000} s`));
        // Its answer would arrive out of step: start a fresh helper for the next request.
        this.kill();
      }, this.timeoutMs);
      timer.unref();
      this.pending.push({
        id,
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      child.stdin!.write(`${JSON.stringify({ ...req, id })}\n`);
    });
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

  private kill(): void {
    const c = this.child;
    this.child = null;
    if (c && c.exitCode === null) c.kill('SIGKILL');
  }

  close(): void {
    this.closed = true;
    this.fail('the preview helper was closed');
    const c = this.child;
    this.child = null;
    if (c) {
      c.stdin?.end();
      setTimeout(() => c.exitCode === null && c.kill('SIGKILL'), 2000).unref();
    }
  }
}
