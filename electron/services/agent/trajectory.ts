/**
 * A recorded model trajectory played back as if it were the model: the demo uses it when no model
 * is configured, so the real loop, kernel and perception server run without one. Its output is
 * always labelled as a demonstration.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ChatResult } from '../../../shared/model.ts';
import type { ModelLike } from './loop.ts';

const TrajectorySchema = z.object({
  format: z.literal('spatialclaw-trajectory/1'),
  description: z.string(),
  question: z.string(),
  answer: z.union([z.string(), z.number()]).optional(),
  /** Replies in call order: the planner's, then one per step. */
  replies: z.array(z.string()).min(1),
});
export type Trajectory = z.infer<typeof TrajectorySchema>;

export function loadTrajectory(file: string): Trajectory {
  const parsed = TrajectorySchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: not a spatialclaw-trajectory/1 file (${parsed.error.issues[0]?.message})`);
  return parsed.data;
}

/** Plays the replies back in order (the last one repeats); usage is zero, the endpoint is "trajectory". */
export class TrajectoryModel implements ModelLike {
  private i = 0;
  constructor(private readonly t: Trajectory) {}
  async chat(): Promise<ChatResult> {
    const raw = this.t.replies[Math.min(this.i++, this.t.replies.length - 1)]!;
    return { content: raw, reasoning: null, raw, usage: { prompt_tokens: 0, completion_tokens: 0 }, endpoint: 'trajectory', latencyMs: 0, attempts: 1 };
  }
}
