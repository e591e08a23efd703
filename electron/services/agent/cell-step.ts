/**
 * One executed step of the agent loop, after its reply parsed: run the cell, settle a failed cell's variables as
 * the policy says (read the survivors, or delete the names it created: docs/paper-parity.md row 10), record the
 * cell, the kernel's `vlm.*` calls and the tool artifacts, and build the observation with the images the image
 * budget allows.
 */
import type { CellImage, CellResult } from '../../../shared/kernel.ts';
import type { Usage } from '../../../shared/model.ts';
import { ArtifactEventFieldsSchema, type RunEvent } from '../../../shared/run.ts';
import type { BridgeCall } from '../kernel/bridge.ts';
import type { KernelSession } from '../kernel/session.ts';
import type { ImageUse, LoopPolicy, PolicyContext, Rollback } from './policy.ts';

export interface CellStepDeps {
  session: KernelSession;
  policy: LoopPolicy;
  ctx: PolicyContext;
  cellTimeoutS: number;
  emit: (e: RunEvent) => void;
  /** Calls the kernel made through the VLM bridge since the last drain. */
  drainVlmCalls?: (() => BridgeCall[]) | undefined;
  /** Counts the bridge calls into the sample's totals. */
  countCall: (usage: Usage) => void;
}

export interface CellStep {
  /** The cell as recorded (a failed cell's `variables`: the survivors the policy keeps). */
  cell: CellResult;
  rollback: Rollback;
  /** The observation text. */
  text: string;
  /** The images attached to it. */
  attached: CellImage[];
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A failed cell's variables after the policy's rule: read the survivors, or delete what it created. */
async function settleVariables(d: CellStepDeps, cell: CellResult): Promise<{ cell: CellResult; rollback: Rollback }> {
  if (cell.status === 'ok') return { cell, rollback: 'none' };
  let settled = cell;
  try {
    if (d.policy.readsSurvivors(cell)) settled = { ...cell, variables: await d.session.newVariables() };
    const rollback = d.policy.rollbackOf(settled);
    if (rollback === 'full') {
      const deleted = await d.session.rollbackNewVariables();
      if (deleted.length) settled = { ...settled, notes: [...settled.notes, `rolled back (deleted) the variables this cell created: ${deleted.join(', ')}`] };
    }
    return { cell: settled, rollback };
  } catch (e) {
    const rollback = d.policy.rollbackOf(settled);
    return { cell: { ...settled, notes: [...settled.notes, `could not settle this cell's variables (${rollback}): ${message(e)}`] }, rollback };
  }
}

/** Record the kernel's `vlm.*` calls of this step as model_call events. */
function recordVlmCalls(d: CellStepDeps, step: number): void {
  const now = new Date().toISOString();
  for (const v of d.drainVlmCalls?.() ?? []) {
    const u = v.usage ?? { prompt_tokens: 0, completion_tokens: 0 };
    d.countCall(u);
    d.emit({
      type: 'model_call', t: now, step, role: v.role, endpoint: 'vlm-bridge', latency_ms: v.durationMs, attempts: 1,
      usage: u, raw: v.text ?? v.error ?? '', reasoning: null,
      parsed: { kind: v.kind, prompt: v.prompt, ...(v.points ? { points: JSON.stringify(v.points) } : {}) },
      parse_error: v.ok ? null : v.error ?? 'failed', ...(v.request ? { request: v.request } : {}),
    });
  }
}

/**
 * Run `code` as step `step` and record it. `use.used` counts the images attached by earlier steps (the caller adds
 * the returned `attached`).
 */
export async function runCellStep(d: CellStepDeps, code: string, step: number, use: ImageUse): Promise<CellStep> {
  const ran = await d.session.execute(code, { origin: 'agent', timeoutS: d.cellTimeoutS });
  const { cell, rollback } = await settleVariables(d, ran);
  d.emit({ type: 'cell', t: new Date().toISOString(), step, result: cell });
  recordVlmCalls(d, step);
  for (const a of cell.artifacts) d.emit({ type: 'artifact', t: new Date().toISOString(), step, ...ArtifactEventFieldsSchema.parse(a) });

  // Observation, with the show() images the sample's budget still allows (none after a full rollback).
  const shown = rollback === 'full' ? [] : d.policy.shownImages(cell);
  const room = Math.max(0, d.ctx.profile.image_budget - use.used);
  const attached = shown.slice(0, room);
  const text = d.policy.observationText(d.ctx, cell, step, shown.length - attached.length, { used: use.used });
  d.emit({ type: 'observation', t: new Date().toISOString(), step, text, images: attached.map((im) => im.label ?? `image ${im.index}`) });
  return { cell, rollback, text, attached };
}
