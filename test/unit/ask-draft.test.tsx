/**
 * The Ask form's draft store (renderer/src/ask-draft.ts; issue 15, papercut "the Ask form is lost on a tab switch"):
 * the fields live outside AskView, so a new AskView (the view mounted again after Runs or Settings) shows them. The
 * e2e test test/e2e/papercuts-forms.test.ts does the same in chromium.
 */
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { WorkbenchApi } from '../../shared/api.ts';
import type { ModelEntry, PerceptionEntry } from '../../shared/workbench.ts';
import { askRequestOf, createAskDraftStore, EMPTY_DRAFT, effectiveChoices } from '../../renderer/src/ask-draft.ts';
import { AskView } from '../../renderer/src/components/AskView.tsx';
import { HostProvider } from '../../renderer/src/context.tsx';

const model = (name: string): ModelEntry => ({ name, file: `/m/${name}.json`, config: { name, base_url: 'http://h:1/v1', roles: {}, max_tokens: 4096, images: { per_request: 8, max_long_edge: 1024 }, extra_body: {}, timeout_s: 300, max_retries: 4, cooldown_s: 30 } });
const server = (name: string, healthy: boolean): PerceptionEntry => ({ name, url: 'http://p:1', origin: 'registered', token_env: null, healthy, backends: [], detail: null });

/** A host that never answers: server rendering runs no effects, so nothing is called. */
const silentApi: WorkbenchApi = { transport: 'http', call: () => new Promise(() => undefined), subscribe: () => () => undefined, pickPaths: async () => null };

describe('Ask draft store', () => {
  it('keeps every field the form edits, and resets', () => {
    const st = createAskDraftStore();
    st.getState().setInput({ kind: 'video', path: '/data/clip.mp4', numFrames: '8' });
    st.getState().set({ question: 'How far?', choices: 'A. 1 m\nB. 2 m', answer: 'B', model: 'qwen', perception: 'local', profile: 'paper', executor: 'tool_call', max_steps: '12', plan: false });
    expect(st.getState().draft).toEqual({
      input: { kind: 'video', path: '/data/clip.mp4', numFrames: '8', depth: '', camera: '', poses: '' },
      question: 'How far?', choices: 'A. 1 m\nB. 2 m', answer: 'B', model: 'qwen', perception: 'local', profile: 'paper', executor: 'tool_call', max_steps: '12', plan: false,
    });
    st.getState().reset();
    expect(st.getState().draft).toEqual(EMPTY_DRAFT);
  });

  it('shows the first model and first healthy server until the user picks, and drops picks the host no longer lists', () => {
    const models = [model('a'), model('b')];
    const servers = [server('down', false), server('up', true)];
    expect(effectiveChoices(EMPTY_DRAFT, models, servers)).toEqual({ model: 'a', perception: 'up' });
    expect(effectiveChoices({ ...EMPTY_DRAFT, model: 'b', perception: '' }, models, servers)).toEqual({ model: 'b', perception: '' });
    expect(effectiveChoices({ ...EMPTY_DRAFT, model: 'removed', perception: 'gone' }, models, servers)).toEqual({ model: 'a', perception: '' });
    // Before the lists arrive, the picks stand.
    expect(effectiveChoices({ ...EMPTY_DRAFT, model: 'b', perception: 'down' }, null, null)).toEqual({ model: 'b', perception: 'down' });
  });

  it('builds the ask request from the draft, or says what is missing', () => {
    const draft = { ...EMPTY_DRAFT, input: { ...EMPTY_DRAFT.input, path: '/data/room' }, question: ' How far? ', choices: 'A. 1 m\n\nB. 2 m', answer: '2.5', max_steps: '7', plan: false };
    expect(askRequestOf(draft, { model: 'a', perception: '' })).toEqual({
      request: { question: 'How far?', choices: ['A. 1 m', 'B. 2 m'], answer: 2.5, inputs: [{ kind: 'rgbd_sample', path: '/data/room' }], model: 'a', perception: null, executor: 'code', max_steps: 7, plan: false },
    });
    expect(askRequestOf({ ...draft, question: '' }, { model: 'a', perception: '' })).toEqual({ error: 'type a question' });
    expect(askRequestOf(draft, { model: '', perception: '' })).toEqual({ error: 'choose a model endpoint', fix: 'add one in Settings > Model endpoints' });
    expect(askRequestOf({ ...draft, input: EMPTY_DRAFT.input }, { model: 'a', perception: '' })).toEqual({ error: 'pick an input: type a path or use Browse' });
  });

  it('is what AskView shows: a view mounted again (after a tab switch) has the fields typed before', () => {
    const store = createAskDraftStore({
      ...EMPTY_DRAFT,
      input: { ...EMPTY_DRAFT.input, kind: 'images', path: '/data/living-room' },
      question: 'How far is the lamp from the sofa?', choices: 'A. 1 m', answer: 'A', executor: 'single_pass', max_steps: '9', plan: false,
    });
    // Server rendering shows a store's initial state (zustand's server snapshot), so the draft is the store's initial one.
    const html = renderToStaticMarkup(<HostProvider api={silentApi}><AskView draftStore={store} /></HostProvider>);
    expect(html).toContain('>How far is the lamp from the sofa?</textarea>');
    expect(html).toContain('>A. 1 m</textarea>');
    expect(html).toContain('value="/data/living-room"');
    expect(html).toMatch(/<option value="images" selected="">Image folder<\/option>/);
    expect(html).toMatch(/<option value="single_pass" selected="">single_pass<\/option>/);
    expect(html).toContain('value="9"');
    expect(html).toMatch(/<input type="checkbox"\/> Plan first/);
    // The app's own view reads the app's draft store.
    expect(renderToStaticMarkup(<HostProvider api={silentApi}><AskView /></HostProvider>)).not.toContain('How far is the lamp');
  });
});
