import { useEffect, useState } from 'react';
import { useStore } from 'zustand';
import type { StoreApi } from 'zustand/vanilla';
import type { InputSpec } from '../../../shared/kernel.ts';
import { PROFILE_NAMES, type ProfileName } from '../../../shared/profiles.ts';
import type { InputPreview, ModelEntry, PerceptionEntry } from '../../../shared/workbench.ts';
import { type ShownError, toShownError } from '../api.ts';
import { type AskDraftState, askDraftStore, askRequestOf, effectiveChoices, type Executor, type InputForm, type InputKind, inputSpecOf } from '../ask-draft.ts';
import { useApi, useSamplesStore, useUi, uiStore } from '../context.tsx';
import { ErrorBox, Field, LazyImage } from './common.tsx';
import { PathInput } from './PathPicker.tsx';
import { SampleView } from './Timeline.tsx';

export { inputSpecOf };

const KIND_LABELS: Record<InputKind, string> = {
  video: 'Video file',
  images: 'Image folder',
  rgbd_sample: 'RGB-D folder (with sample.json)',
  rgbd: 'RGB-D: colour folder + depth folder + camera JSON',
};

function FramePreview({ input, preview }: { input: InputSpec; preview: InputPreview }) {
  const api = useApi();
  return (
    <div className="frame-preview" aria-label="Frame preview">
      {preview.inputs.map((p, k) => (
        <div key={k}>
          <p className="muted small" data-testid="preview-info">
            {p.kind}: {p.total_frames} frames, {p.width}×{p.height}
            {p.fps ? `, ${p.fps.toFixed(1)} fps` : ''}; binds {p.frame_indices.length} frames
            {p.has_depth ? ' · depth' : ''}
            {p.has_poses ? ' · poses' : ''}
          </p>
          <div className="frames">
            {p.frame_indices.map((fi) => (
              <figure key={fi}>
                <LazyImage
                  alt={`frame ${fi}`}
                  width={p.width}
                  height={p.height}
                  mime="image/jpeg"
                  load={() => api.call('frameImage', { input, frame_index: fi, max_edge: 240 })}
                />
                <figcaption>frame {fi}</figcaption>
              </figure>
            ))}
          </div>
        </div>
      ))}
    </div>
  );
}

/**
 * Ask: inputs, question, model and perception server; then the live sample. What the user typed or picked is the
 * draft in {@link askDraftStore} (ask-draft.ts), so it survives switching views; the frame preview and errors are
 * this view's own. `draftStore` is for tests (default: the app's).
 */
export function AskView({ draftStore = askDraftStore }: { draftStore?: StoreApi<AskDraftState> } = {}) {
  const api = useApi();
  const samples = useSamplesStore();
  const target = useUi((s) => s.askTarget);
  const draft = useStore(draftStore, (s) => s.draft);
  const form = draft.input;
  const [models, setModels] = useState<ModelEntry[] | null>(null);
  const [perception, setPerception] = useState<PerceptionEntry[] | null>(null);
  const [preview, setPreview] = useState<{ input: InputSpec; data: InputPreview } | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [error, setError] = useState<ShownError | null>(null);
  const [listError, setListError] = useState<ShownError | null>(null);
  const [starting, setStarting] = useState(false);
  const chosen = effectiveChoices(draft, models, perception);
  const setDraft = draftStore.getState().set;

  useEffect(() => {
    let cancelled = false;
    Promise.all([api.call('listModels', {}), api.call('listPerception', {}), api.call('getSettings', {})]).then(
      ([m, p, st]) => {
        if (cancelled) return;
        setModels(m);
        setPerception(p);
        // The host's max steps, unless the user typed one.
        if (!draftStore.getState().draft.max_steps) setDraft({ max_steps: String(st.max_steps) });
      },
      (e: unknown) => !cancelled && setListError(toShownError(e)),
    );
    return () => {
      cancelled = true;
    };
  }, [api, draftStore, setDraft]);

  const set = (patch: Partial<InputForm>) => {
    draftStore.getState().setInput(patch);
    setPreview(null);
  };

  const doPreview = async () => {
    const spec = inputSpecOf(form);
    if (typeof spec === 'string') return setError({ message: spec, fix: null, method: null });
    setPreviewing(true);
    setError(null);
    try {
      setPreview({ input: spec, data: await api.call('previewInputs', { inputs: [spec] }) });
    } catch (e) {
      setError(toShownError(e));
    } finally {
      setPreviewing(false);
    }
  };

  const run = async () => {
    const built = askRequestOf(draft, chosen);
    if ('error' in built) return setError({ message: built.error, fix: built.fix ?? null, method: null });
    setStarting(true);
    setError(null);
    try {
      const started = await api.call('ask', built.request);
      samples.getState().track(started.run_id, started.sample_id);
      uiStore.getState().setAskTarget(started);
    } catch (e) {
      setError(toShownError(e));
    } finally {
      setStarting(false);
    }
  };

  return (
    <div className="ask">
      <form
        className="ask-form"
        aria-label="Ask a question"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <fieldset>
          <legend>Input</legend>
          <Field label="Input kind">
            <select value={form.kind} onChange={(e) => set({ kind: e.target.value as InputKind })}>
              {(Object.keys(KIND_LABELS) as InputKind[]).map((k) => (
                <option key={k} value={k}>
                  {KIND_LABELS[k]}
                </option>
              ))}
            </select>
          </Field>
          <PathInput
            label={form.kind === 'video' ? 'Video file' : form.kind === 'rgbd' ? 'Colour folder' : 'Input folder'}
            value={form.path}
            onChange={(path) => set({ path })}
            pick={form.kind === 'video' ? 'file' : 'folder'}
            {...(form.kind === 'video' ? { filters: [{ name: 'Videos', extensions: ['mp4', 'mov', 'avi', 'mkv', 'webm'] }] } : {})}
          />
          {form.kind === 'video' ? (
            <Field label="Frames to sample" hint={draft.profile === 'paper' ? 'default: every frame (paper profile)' : 'default 16, uniformly over the video'}>
              <input inputMode="numeric" value={form.numFrames} onChange={(e) => set({ numFrames: e.target.value })} />
            </Field>
          ) : null}
          {form.kind === 'rgbd' ? (
            <>
              <PathInput label="Depth folder" value={form.depth} onChange={(depth) => set({ depth })} pick="folder" />
              <PathInput label="Camera JSON" value={form.camera} onChange={(camera) => set({ camera })} pick="file" />
              <PathInput label="Poses file (optional)" value={form.poses} onChange={(poses) => set({ poses })} pick="file" />
            </>
          ) : null}
          <button type="button" onClick={() => void doPreview()} disabled={previewing}>
            {previewing ? 'Reading…' : 'Preview frames'}
          </button>
          {preview ? <FramePreview input={preview.input} preview={preview.data} /> : null}
        </fieldset>
        <fieldset>
          <legend>Question</legend>
          <Field label="Question">
            <textarea value={draft.question} rows={3} onChange={(e) => setDraft({ question: e.target.value })} placeholder="How far did the camera move, in metres?" />
          </Field>
          <Field label="Choices (optional, one per line)">
            <textarea value={draft.choices} rows={2} onChange={(e) => setDraft({ choices: e.target.value })} placeholder={'A. 1.2 m\nB. 2.5 m'} />
          </Field>
          <Field label="Ground truth (optional)" hint="scores the answer: an option letter or a number">
            <input value={draft.answer} onChange={(e) => setDraft({ answer: e.target.value })} />
          </Field>
        </fieldset>
        <fieldset>
          <legend>Agent</legend>
          {listError ? <ErrorBox error={listError} title="Could not list models or perception servers" /> : null}
          <Field label="Model endpoint">
            <select value={chosen.model} onChange={(e) => setDraft({ model: e.target.value })}>
              {models && models.length === 0 ? <option value="">(none: add one in Settings)</option> : null}
              {models?.map((m) => (
                <option key={m.name} value={m.name}>
                  {m.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Perception server">
            <select value={chosen.perception} onChange={(e) => setDraft({ perception: e.target.value })}>
              <option value="">none</option>
              {perception?.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name} ({p.healthy ? p.backends.join(', ') || 'healthy' : 'unhealthy'})
                </option>
              ))}
            </select>
          </Field>
          <Field label="Agent profile" hint="paper: the published SpatialClaw loop (every frame, 32 key frames, its prompts; docs/paper-parity.md)">
            <select value={draft.profile} onChange={(e) => setDraft({ profile: e.target.value as ProfileName | '' })}>
              <option value="">as configured on the host</option>
              {PROFILE_NAMES.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </Field>
          <div className="row">
            <Field label="Executor">
              <select value={draft.executor} onChange={(e) => setDraft({ executor: e.target.value as Executor })}>
                <option value="code">code</option>
                <option value="single_pass">single_pass</option>
                <option value="tool_call">tool_call</option>
              </select>
            </Field>
            <Field label="Max steps">
              <input inputMode="numeric" value={draft.max_steps} onChange={(e) => setDraft({ max_steps: e.target.value })} />
            </Field>
            <label className="inline" title="Ask the planner for a plan before the first step">
              <input type="checkbox" checked={draft.plan} onChange={(e) => setDraft({ plan: e.target.checked })} /> Plan first
            </label>
          </div>
        </fieldset>
        {error ? <ErrorBox error={error} /> : null}
        <button type="submit" className="primary" disabled={starting}>
          {starting ? 'Starting…' : 'Run'}
        </button>
      </form>
      <div className="ask-live">
        {target ? (
          <SampleView key={`${target.run_id}/${target.sample_id}`} runId={target.run_id} sampleId={target.sample_id} />
        ) : (
          <p className="muted">Pick an input, type a question and press Run: the plan, each step and the answer appear here as they happen.</p>
        )}
      </div>
    </div>
  );
}
