/**
 * Host-side client of the safety policy (`python -m spatial_runtime.safety --serve`): one long-lived
 * Python process checks every model-written cell before it reaches a kernel. The policy is a
 * guard-rail, not a sandbox (docs/safety-policy.md).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { type Violation, ViolationSchema } from '../../../shared/kernel.ts';
import { resolvePython } from '../python.ts';

const ReplySchema = z.object({
  id: z.string().nullable(),
  policy: z.string().optional(),
  violations: z.array(ViolationSchema).optional(),
  error: z.string().optional(),
});

export interface SafetyVerdict {
  policy: string;
  violations: Violation[];
}

export class SafetyChecker {
  private child: ChildProcessWithoutNullStreams | null = null;
  private pending = new Map<string, { resolve: (v: SafetyVerdict) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private stderr = '';

  constructor(private readonly python: string = resolvePython()) {}

  private ensure(): ChildProcessWithoutNullStreams {
    if (this.child && this.child.exitCode === null) return this.child;
    const child = spawn(this.python, ['-m', 'spatial_runtime.safety', '--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let reply: z.infer<typeof ReplySchema>;
      try {
        reply = ReplySchema.parse(JSON.parse(line));
      } catch {
        return; // not a protocol line
      }
      const waiter = reply.id !== null ? this.pending.get(reply.id) : undefined;
      if (!waiter || reply.id === null) return;
      this.pending.delete(reply.id);
      if (reply.error) waiter.reject(new Error(`safety check failed: ${reply.error}`));
      else waiter.resolve({ policy: reply.policy ?? 'unknown', violations: reply.violations ?? [] });
    });
    child.on('exit', (code) => {
      const err = new Error(`the safety checker exited (code ${code}) ${this.stderr.trim().split('\n').slice(-3).join(' | ')}; ` +
        'run `spatialclaw doctor` to check the Python environment');
      for (const w of this.pending.values()) w.reject(err);
      this.pending.clear();
    });
    this.child = child;
    return child;
  }

  /** Check one cell. Rejects only if the checker process itself fails. */
  check(code: string, timeoutMs = 10_000): Promise<SafetyVerdict> {
    const child = this.ensure();
    const id = String(this.nextId++);
    return new Promise<SafetyVerdict>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the safety checker did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      child.stdin.write(JSON.stringify({ id, code }) + '\n');
    });
  }

  /** Stop the checker process. */
  close(): void {
    this.child?.stdin.end();
    this.child?.kill();
    this.child = null;
  }
}
