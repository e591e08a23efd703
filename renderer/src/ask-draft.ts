/**
 * The Ask form's draft (zustand 5, vanilla `createStore` like stores.ts): the inputs, question, choices, ground
 * truth, model endpoint, perception server, profile, executor, max steps and planning switch the user typed or
 * picked. It lives outside the AskView component, so switching to Runs or Settings and back keeps it (issue 15,
 * papercut "the Ask form is lost on a tab switch"); it is not saved across a page reload.
 *
 * Model and perception server are what the user picked; until they pick one, the form shows the host's first
 * model endpoint and first healthy perception server ({@link effectiveChoices}), re-evaluated whenever the lists
 * load, so a server started in Settings meanwhile is offered when the user comes back.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { DEFAULTS } from '../../shared/defaults.ts';
import type { InputSpec } from '../../shared/kernel.ts';
import type { ProfileName } from '../../shared/profiles.ts';
import type { AskRequest, ModelEntry, PerceptionEntry } from '../../shared/workbench.ts';

export type InputKind = 'video' | 'images' | 'rgbd_sample' | 'rgbd';

/** The input fields, as typed. */
export interface InputForm {
  kind: InputKind;
  path: string;
  numFrames: string;
  depth: string;
  camera: string;
  poses: string;
}

export type Executor = 'code' | 'single_pass' | 'tool_call';

export interface AskDraft {
  input: InputForm;
  question: string;
  /** One option per line. */
  choices: string;
  /** Ground truth, as typed ('' for none). */
  answer: string;
  /** The model endpoint picked, or '' (not picked: the first listed). */
  model: string;
  /** The perception server picked, '' for none, or null (not picked: the first healthy one). */
  perception: string | null;
  /** '' leaves the choice to the host (SPATIALCLAW_PROFILE, settings.json, else the default profile). */
  profile: ProfileName | '';
  executor: Executor;
  /** As typed; '' for the host's setting. */
  max_steps: string;
  /** Ask the planner for a plan before the first step. */
  plan: boolean;
}

export const EMPTY_DRAFT: AskDraft = {
  input: { kind: 'rgbd_sample', path: '', numFrames: '', depth: '', camera: '', poses: '' },
  question: '',
  choices: '',
  answer: '',
  model: '',
  perception: null,
  profile: '',
  executor: DEFAULTS.executor,
  max_steps: '',
  plan: DEFAULTS.plan,
};

export interface AskDraftState {
  draft: AskDraft;
  /** Change draft fields (not the input: {@link setInput}). */
  set: (patch: Partial<Omit<AskDraft, 'input'>>) => void;
  setInput: (patch: Partial<InputForm>) => void;
  /** Back to the empty form. */
  reset: () => void;
}

export function createAskDraftStore(initial: AskDraft = EMPTY_DRAFT): StoreApi<AskDraftState> {
  return createStore<AskDraftState>((set) => ({
    draft: initial,
    set: (patch) => set((s) => ({ draft: { ...s.draft, ...patch } })),
    setInput: (patch) => set((s) => ({ draft: { ...s.draft, input: { ...s.draft.input, ...patch } } })),
    reset: () => set({ draft: initial }),
  }));
}

/** The Ask form's draft for the app's lifetime (it needs no host connection). */
export const askDraftStore: StoreApi<AskDraftState> = createAskDraftStore();

/** Build the InputSpec from the form, or say what is missing. */
export function inputSpecOf(f: InputForm): InputSpec | string {
  const path = f.path.trim();
  if (!path) return 'pick an input: type a path or use Browse';
  switch (f.kind) {
    case 'video': {
      const n = f.numFrames.trim() ? Number(f.numFrames) : undefined;
      if (n !== undefined && (!Number.isInteger(n) || n <= 0)) return 'frames to sample must be a positive whole number';
      return { kind: 'video', path, ...(n ? { num_frames: n } : {}) };
    }
    case 'images':
      return { kind: 'images', path };
    case 'rgbd_sample':
      return { kind: 'rgbd_sample', path };
    case 'rgbd':
      if (!f.depth.trim() || !f.camera.trim()) return 'an RGB-D input needs the depth folder and the camera JSON';
      return { kind: 'rgbd', path, depth: f.depth.trim(), camera: f.camera.trim(), poses: f.poses.trim() || null };
  }
}

/**
 * The model endpoint and perception server the form shows: the user's picks while the host still lists them, else
 * the first model endpoint and the first healthy perception server (none when none is).
 */
export function effectiveChoices(draft: AskDraft, models: readonly ModelEntry[] | null, perception: readonly PerceptionEntry[] | null): { model: string; perception: string } {
  const model = !models || models.some((m) => m.name === draft.model) ? draft.model : (models[0]?.name ?? '');
  const firstHealthy = perception?.find((p) => p.healthy)?.name ?? '';
  const picked = draft.perception;
  const server = picked === null ? firstHealthy : picked === '' || !perception || perception.some((p) => p.name === picked) ? picked : '';
  return { model: model || (models?.[0]?.name ?? ''), perception: server };
}

/**
 * The `ask` request of a draft with the model and server the form shows, or what is missing as a sentence.
 * A ground truth that is a decimal number is sent as a number; max steps only when a positive whole number.
 */
export function askRequestOf(draft: AskDraft, chosen: { model: string; perception: string }): { request: AskRequest } | { error: string; fix?: string } {
  const spec = inputSpecOf(draft.input);
  if (typeof spec === 'string') return { error: spec };
  if (!draft.question.trim()) return { error: 'type a question' };
  if (!chosen.model) return { error: 'choose a model endpoint', fix: 'add one in Settings > Model endpoints' };
  const choices = draft.choices.split('\n').map((c) => c.trim()).filter(Boolean);
  const gt = draft.answer.trim();
  const steps = Number(draft.max_steps);
  return {
    request: {
      question: draft.question.trim(),
      ...(choices.length ? { choices } : {}),
      ...(gt ? { answer: /^-?\d+(\.\d+)?$/.test(gt) ? Number(gt) : gt } : {}),
      inputs: [spec],
      model: chosen.model,
      perception: chosen.perception || null,
      executor: draft.executor,
      ...(draft.profile ? { profile: draft.profile } : {}),
      ...(draft.max_steps.trim() && Number.isInteger(steps) && steps > 0 ? { max_steps: steps } : {}),
      plan: draft.plan,
    },
  };
}
