/**
 * Host-side client of the safety policy (`python -m spatial_runtime.safety --serve`): one long-lived
 * Python process checks every model-written cell before it reaches a kernel. The policy is a
 * guard-rail, not a sandbox (docs/safety-policy.md). The process is a ../child.ts ManagedChild: it gets
 * no secret, is restarted after it died, and is killed when the host exits.
 */
import { z } from 'zod';
import { type Violation, ViolationSchema } from '../../../shared/kernel.ts';
import { ManagedChild, PendingReplies } from '../child.ts';
import { resolvePython } from '../python.ts';

const ReplySchema = z.object({
  id: z.string().nullable(),
  policy: z.string().optional(),
  violations: z.array(ViolationSchema).optional(),
  error: z.string().optional(),
});

export interface SafetyVerdict {
  /** Name and version of the policy that judged the cell. */
  policy: string;
  /** What the cell may not do; empty when it passes. */
  violations: Violation[];
}

export class SafetyChecker {
  private child: ManagedChild | null = null;
  private readonly replies = new PendingReplies<SafetyVerdict>();
  private nextId = 0;

  /** @param python the interpreter with spatial_runtime installed (default resolvePython(), which may throw). */
  constructor(private readonly python: string = resolvePython()) {}

  private ensure(): ManagedChild {
    if (this.child?.running) return this.child;
    const child = ManagedChild.start({ name: 'the safety checker', command: this.python, args: ['-m', 'spatial_runtime.safety', '--serve'], stdin: true });
    child.onLine((line) => this.onReply(line));
    void child.exited.then(({ code, error }) => {
      const why = error ? `could not start: ${error.message}` : `exited (code ${code}) ${child.tail(3).replaceAll('\n', ' | ')}`;
      this.replies.failAll(new Error(`the safety checker ${why}; run \`spatialclaw doctor\` to check the Python environment`), child);
    });
    this.child = child;
    return child;
  }

  private onReply(line: string): void {
    let reply: z.infer<typeof ReplySchema>;
    try {
      reply = ReplySchema.parse(JSON.parse(line));
    } catch {
      return; // not a protocol line
    }
    if (reply.id === null) return;
    if (reply.error) this.replies.reject(reply.id, new Error(`safety check failed: ${reply.error}`));
    else this.replies.resolve(reply.id, { policy: reply.policy ?? 'unknown', violations: reply.violations ?? [] });
  }

  /**
   * Check one cell. Rejects only if the checker process itself fails: it cannot start, exits, or does
   * not answer within `timeoutMs` (then the next check still goes to it).
   */
  check(code: string, timeoutMs = 10_000): Promise<SafetyVerdict> {
    const child = this.ensure();
    const id = String(this.nextId++);
    const verdict = this.replies.wait(id, child, timeoutMs, () => new Error(`the safety checker did not answer within ${timeoutMs} ms`));
    child.write(JSON.stringify({ id, code }) + '\n');
    return verdict;
  }

  /** Stop the checker process (stdin closed, SIGTERM, SIGKILL after 2 s); a later check starts a new one. */
  close(): void {
    const c = this.child;
    this.child = null;
    void c?.stop({ graceMs: 2000 });
  }
}
