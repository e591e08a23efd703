import { describe, expect, it } from 'vitest';
import { WorkbenchError, type WorkbenchApi } from '../../shared/api.ts';
import type { CellResult } from '../../shared/kernel.ts';
import type { RunEvent, SampleResult } from '../../shared/run.ts';
import type { HostEvent, MethodName } from '../../shared/workbench.ts';
import { pickTransport, TOKEN_KEY, tokenFromHash, toShownError, type TransportEnv } from '../../renderer/src/api.ts';
import { createRunsStore, createSamplesStore, createUiStore, sampleKey } from '../../renderer/src/stores.ts';
import { activeFilter, createTriageStore, hasTag } from '../../renderer/src/triage-store.ts';
import { DEFAULT_TAXONOMY } from '../../shared/annotations.ts';

/**
 * A WorkbenchApi over an in-memory host: every call is recorded; handlers answer like the real host
 * (same shapes), so the stores' paging and event logic is exercised without a server.
 */
function fakeApi(handlers: Partial<Record<MethodName, (args: never) => unknown>>) {
  const calls: { method: MethodName; args: unknown }[] = [];
  const listeners = new Set<(e: HostEvent) => void>();
  const api: WorkbenchApi = {
    transport: 'http',
    call: (async (method: MethodName, args: unknown) => {
      calls.push({ method, args });
      const h = handlers[method];
      if (!h) throw new WorkbenchError(`no handler for ${method}`, 'add one', method, 500);
      await new Promise((r) => setTimeout(r, 1));
      return h(args as never);
    }) as WorkbenchApi['call'],
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    pickPaths: async () => null,
  };
  return { api, calls, emit: (e: HostEvent) => listeners.forEach((l) => l(e)) };
}

const result = (i: number): SampleResult => ({
  id: `s${String(i).padStart(5, '0')}`, question: `question ${i}`, answer: 'A', answer_source: 'return_answer', ground_truth: 'A', score: 1,
  question_type: null, termination: 'answered', steps: 3, parse_failures: 0, usage: { prompt_tokens: 1, completion_tokens: 1 },
  model_calls: 3, duration_s: 1.5, error: null, started_at: '2025-01-01T00:00:00Z', finished_at: '2025-01-01T00:00:01Z',
});
const ALL = Array.from({ length: 5000 }, (_, i) => result(i));

/** The fake host's triage answer: rows of ALL matching `filter.text` (question substring), with empty facets. */
function triagePage(q: { offset: number; limit: number; filter?: { text?: string; tags?: string[] } }, tagged: Set<string>) {
  let rows = q.filter?.text ? ALL.filter((r) => r.question.includes(q.filter!.text!)) : ALL;
  if (q.filter?.tags) rows = rows.filter((r) => tagged.has(r.id));
  const none = { outcome: [], question_type: [], benchmark: [], termination: [], error_class: [], tags: [{ value: 'untagged', count: rows.length - tagged.size }], tool_failures: [], fallback_used: [] };
  return {
    run_total: ALL.length, total: rows.length, offset: q.offset, facets: none, ranges: { score: [1, 1], steps: [3, 3], duration_s: [1.5, 1.5] },
    rows: rows.slice(q.offset, q.offset + q.limit).map((result) => ({ result, derived: { benchmark: null, correct: true, tool_failures: 0, error_class: null, fallback_used: false, tags: tagged.has(result.id) ? ['reasoning.arithmetic'] : [], notes: 0 } })),
  };
}

function runsHost() {
  const tagged = new Set<string>();
  return {
    tagged,
    ...fakeApi({
      listRuns: ((q: { search?: string }) => [{ id: 'r1', kind: 'run', status: 'finished', model: 'm', created_at: null, total_samples: 5000, done: 5000, live: false, error: null }].filter((r) => !q.search || r.id.includes(q.search))) as never,
      getRun: (() => ({ id: 'r1', info: { format: 'spatialclaw-run/1', id: 'r1', created_at: 'x', updated_at: 'x', status: 'finished', config: {}, versions: {}, total_samples: 5000 }, done: 5000, accuracy: 1, live: false })) as never,
      triageSamples: ((q: { offset: number; limit: number; filter?: { text?: string } }) => triagePage(q, tagged)) as never,
      getTaxonomy: (() => DEFAULT_TAXONOMY) as never,
      getAnnotations: (() => ({ samples: {} })) as never,
      annotate: ((a: { sample_id: string; op: string; tag: string; step: number | null }) => {
        if (a.op === 'tag') tagged.add(a.sample_id);
        else tagged.delete(a.sample_id);
        return { tags: a.op === 'tag' ? [{ tag: a.tag, step: a.step, t: 'x', author: 'me' }] : [], notes: [] };
      }) as never,
    }),
  };
}

describe('triage store: paging cache, filters, selection, tags', () => {
  it('loads the first page on open and only the pages a scroll position needs', async () => {
    const { api, calls } = runsHost();
    const triage = createTriageStore(api, 100);
    await triage.getState().open('r1');
    const st = triage.getState();
    expect(st.total).toBe(5000);
    expect(st.runTotal).toBe(5000);
    expect(Object.keys(st.pages)).toEqual(['0']);
    expect(st.rowAt(99)?.result.id).toBe('s00099');
    expect(st.rowAt(100)).toBeUndefined();
    expect(st.taxonomy?.tags[0]?.id).toBe('perception.segmentation_miss');

    // Jump to the middle (as a scrollbar drag does): only pages 24 and 25 are fetched.
    await st.ensureRows(2450, 2530);
    const offsets = () => calls.filter((c) => c.method === 'triageSamples').map((c) => (c.args as { offset: number }).offset);
    expect(offsets()).toEqual([0, 2400, 2500]);
    expect(triage.getState().rowAt(2499)?.result.id).toBe('s02499');
    // Cached pages are not fetched again, concurrent requests for one page are merged.
    await Promise.all([st.ensureRows(2450, 2530), st.ensureRows(2460, 2470), st.ensureRows(0, 50)]);
    expect(offsets()).toHaveLength(3);
    // The end of the list: the last page only, never past the total.
    await st.ensureRows(4990, 6000);
    expect(calls.filter((c) => c.method === 'triageSamples').at(-1)!.args).toMatchObject({ offset: 4900, limit: 100 });
    expect(triage.getState().rowAt(4999)?.result.id).toBe('s04999');
    // Opening the same run again fetches nothing.
    await triage.getState().open('r1');
    expect(offsets()).toHaveLength(4);
  });

  it('drops the cache when the filter changes, sends only active filters, and ignores answers for an older query', async () => {
    const { api, calls } = runsHost();
    const triage = createTriageStore(api, 100);
    await triage.getState().open('r1');
    const stale = triage.getState().ensureRows(1000, 1100); // in flight while the search changes
    triage.getState().setFilter({ text: 'question 42', question_type: [], score: { min: undefined } });
    await stale;
    await triage.getState().ensureRows(0, 100);
    const st = triage.getState();
    expect(st.total).toBe(111); // 42, 420-429, 4200-4299
    expect(Object.keys(st.pages)).toEqual(['0']);
    expect(st.rowAt(0)?.result.question).toBe('question 42');
    expect(calls.filter((c) => c.method === 'triageSamples').at(-1)!.args).toMatchObject({ filter: { text: 'question 42' } });
    expect((calls.filter((c) => c.method === 'triageSamples').at(-1)!.args as { filter: object }).filter).toEqual({ text: 'question 42' });
    await st.ensureRows(100, 200);
    expect(triage.getState().rowAt(110)?.result.question).toBe('question 4299');
    expect(activeFilter({ text: ' ', tags: [], steps: {} })).toEqual({});
  });

  it('moves the selection with j/k semantics (clamped), toggles tags through annotate and refreshes the rows', async () => {
    const { api, calls, tagged } = runsHost();
    const triage = createTriageStore(api, 100);
    await triage.getState().open('r1');
    expect(await triage.getState().move(-1)).toBe(0);
    expect(await triage.getState().move(150)).toBe(150);
    expect(triage.getState().rowAt(150)?.result.id).toBe('s00150'); // its page was loaded
    triage.getState().setAuthor('ana');
    await triage.getState().toggleTag('s00150', null, 'reasoning.arithmetic');
    expect(calls.find((c) => c.method === 'annotate')!.args).toEqual({ run_id: 'r1', sample_id: 's00150', step: null, op: 'tag', tag: 'reasoning.arithmetic', author: 'ana' });
    expect(tagged.has('s00150')).toBe(true);
    expect(hasTag(triage.getState().annotations.samples['s00150'], null, 'reasoning.arithmetic')).toBe(true);
    // The rows were reloaded (the selection kept) and show the tag.
    await triage.getState().ensureRows(150, 151);
    expect(triage.getState().selected).toBe(150);
    expect(triage.getState().rowAt(150)?.derived.tags).toEqual(['reasoning.arithmetic']);
    // Toggling again removes it.
    await triage.getState().toggleTag('s00150', null, 'reasoning.arithmetic');
    expect((calls.filter((c) => c.method === 'annotate').at(-1)!.args as { op: string }).op).toBe('untag');
    expect(triage.getState().annotations.samples['s00150']).toBeUndefined();
  });

  it('shows the host error (message and fix) when a page or an annotation fails', async () => {
    const { api } = fakeApi({
      triageSamples: (() => { throw new WorkbenchError('run r9 not found', 'pick a run from the list', 'triageSamples', 404); }) as never,
      getTaxonomy: (() => DEFAULT_TAXONOMY) as never,
      getAnnotations: (() => ({ samples: {} })) as never,
      annotate: (() => { throw new WorkbenchError('sample x has 3 steps; step 9 does not exist', 'pick a step from 1 to 3', 'annotate', 400); }) as never,
    });
    const triage = createTriageStore(api);
    await triage.getState().open('r9');
    expect(triage.getState().error).toEqual({ message: 'run r9 not found', fix: 'pick a run from the list', method: 'triageSamples' });
    await triage.getState().toggleTag('x', 9, 'reasoning.arithmetic');
    expect(triage.getState().annotateError?.fix).toBe('pick a step from 1 to 3');
  });
});

describe('runs store', () => {
  it('shows the host error (message and fix) when a run fails to open, and filters the runs list', async () => {
    const { api } = fakeApi({ getRun: (() => { throw new WorkbenchError('run r9 not found', 'pick a run from the list', 'getRun', 404); }) as never });
    const runs = createRunsStore(api);
    await runs.getState().openRun('r9');
    expect(runs.getState().detailError).toEqual({ message: 'run r9 not found', fix: 'pick a run from the list', method: 'getRun' });

    const host = runsHost();
    const list = createRunsStore(host.api);
    await list.getState().loadRuns();
    expect(list.getState().runs).toHaveLength(1);
    list.getState().setFilters({ search: 'zzz', status: undefined });
    await new Promise((r) => setTimeout(r, 20));
    expect(list.getState().runs).toEqual([]);
    expect(host.calls.filter((c) => c.method === 'listRuns').at(-1)!.args).toEqual({ search: 'zzz' });
  });
});

const ev = (e: Partial<RunEvent> & { type: RunEvent['type'] }): RunEvent => ({ t: '2025-01-01T00:00:00Z', step: 0, ...e }) as RunEvent;
const cellResult = (over: Partial<CellResult>): CellResult => ({
  index: 1, origin: 'agent', code: 'print(1)', status: 'ok', startedAt: '2025-01-01T00:00:01Z', durationMs: 5, stdout: '1\n', stderr: '',
  result: null, error: null, violations: [], images: [], answer: null, artifacts: [], variables: [], notes: [], ...over,
});

describe('samples store: live state from host events', () => {
  it('builds a live sample from run_event, counters and sample_done', () => {
    const { api } = fakeApi({});
    const s = createSamplesStore(api);
    s.getState().track('r1', 'q1');
    expect(s.getState().samples[sampleKey('r1', 'q1')]?.live).toBe(true);
    const send = (event: RunEvent) => s.getState().applyHostEvent({ type: 'run_event', run_id: 'r1', sample_id: 'q1', event });
    send(ev({ type: 'plan', text: 'plan it', error: null }));
    send(ev({ type: 'model_call', step: 1, role: 'main', endpoint: 'e', latency_ms: 1, attempts: 1, usage: { prompt_tokens: 5, completion_tokens: 1 }, raw: 'r', reasoning: null, parsed: { purpose: 'look', code: 'print(1)' }, parse_error: null }));
    send(ev({ type: 'cell', step: 1, result: cellResult({}) }));
    s.getState().applyHostEvent({ type: 'counters', run_id: 'r1', sample_id: 'q1', prompt_tokens: 5, completion_tokens: 1, elapsed_s: 2.5 });
    // Events of another sample do not leak in.
    s.getState().applyHostEvent({ type: 'run_event', run_id: 'r1', sample_id: 'q2', event: ev({ type: 'plan', text: 'other', error: null }) });
    let q1 = s.getState().samples[sampleKey('r1', 'q1')]!;
    expect(q1.timeline.plan?.text).toBe('plan it');
    expect(q1.timeline.steps).toHaveLength(1);
    expect(q1.timeline.steps[0]!.cell?.stdout).toBe('1\n');
    expect(q1.counters).toEqual({ prompt_tokens: 5, completion_tokens: 1, elapsed_s: 2.5 });
    expect(q1.live).toBe(true);

    send(ev({ type: 'answer', step: 1, answer: 3, source: 'return_answer' }));
    send(ev({ type: 'termination', step: 1, reason: 'answered', detail: null }));
    expect(s.getState().samples[sampleKey('r1', 'q1')]!.live).toBe(false);
    s.getState().applyHostEvent({ type: 'sample_done', run_id: 'r1', sample_id: 'q1', result: { ...result(1), id: 'q1', answer: 3 }, error: null });
    q1 = s.getState().samples[sampleKey('r1', 'q1')]!;
    expect(q1.result?.answer).toBe(3);
    expect(q1.timeline.answer?.answer).toBe(3);
    expect(s.getState().samples[sampleKey('r1', 'q2')]!.timeline.plan?.text).toBe('other');
  });

  it('merges recorded events with live events that arrived first, without duplicates', async () => {
    const plan = ev({ type: 'plan', text: 'p', error: null });
    const c1 = ev({ type: 'cell', step: 1, result: cellResult({}) });
    const c2 = ev({ type: 'cell', step: 2, result: cellResult({ index: 2, startedAt: '2025-01-01T00:00:02Z' }) });
    const { api } = fakeApi({ sampleEvents: (() => ({ events: [plan, c1], console: [], live: true })) as never });
    const s = createSamplesStore(api);
    s.getState().applyHostEvent({ type: 'run_event', run_id: 'r', sample_id: 'q', event: c1 });
    s.getState().applyHostEvent({ type: 'run_event', run_id: 'r', sample_id: 'q', event: c2 });
    await s.getState().load('r', 'q');
    const q = s.getState().samples[sampleKey('r', 'q')]!;
    expect(q.timeline.steps.map((x) => x.step)).toEqual([1, 2]);
    expect(q.timeline.plan?.text).toBe('p');
    expect(q.live).toBe(true);
    expect(q.loading).toBe(false);
  });

  it('retries loading a just-started live sample whose record does not exist yet, and reports a real failure', async () => {
    let tries = 0;
    const { api } = fakeApi({
      sampleEvents: (() => {
        if (++tries < 3) throw new WorkbenchError('run r has no sample q', 'pick a sample from the run (listSamples)', 'sampleEvents', 404);
        return { events: [ev({ type: 'plan', text: 'p', error: null })], console: [], live: true };
      }) as never,
    });
    const s = createSamplesStore(api);
    s.getState().track('r', 'q');
    await s.getState().load('r', 'q');
    expect(tries).toBe(3);
    expect(s.getState().samples[sampleKey('r', 'q')]).toMatchObject({ loadError: null, loading: false, live: true });
    // A recorded (not live) sample that cannot be read shows the host's message and fix at once.
    tries = -100;
    await s.getState().load('r', 'old');
    expect(tries).toBe(-99);
    expect(s.getState().samples[sampleKey('r', 'old')]!.loadError).toEqual({ message: 'run r has no sample q', fix: 'pick a sample from the run (listSamples)', method: 'sampleEvents' });
  });

  it('runs a console cell: the result becomes a human step; a failure shows the host message and fix', async () => {
    let fail = false;
    const { api } = fakeApi({
      sampleEvents: (() => ({ events: [], console: [], live: false })) as never,
      consoleCell: ((a: { code: string }) => {
        if (fail) throw new WorkbenchError('the replay failed at cell 2', 'open the sample and check cell 2', 'consoleCell', 500);
        return cellResult({ origin: 'human', code: a.code, stdout: 'hi\n', index: 5 });
      }) as never,
    });
    const s = createSamplesStore(api);
    s.getState().applyHostEvent({ type: 'progress', task: 'replay:r/q', message: 'restoring state by replay: cell 1 of 2', done: false });
    expect(s.getState().progress['replay:r/q']).toMatchObject({ message: 'restoring state by replay: cell 1 of 2', done: false });
    const r = await s.getState().runConsole('r', 'q', 'print("hi")');
    expect(r?.stdout).toBe('hi\n');
    const q = s.getState().samples[sampleKey('r', 'q')]!;
    expect(q.consolePending).toBe(false);
    expect(q.timeline.console.map((c) => c.code)).toEqual(['print("hi")']);
    fail = true;
    expect(await s.getState().runConsole('r', 'q', 'x')).toBeNull();
    expect(s.getState().samples[sampleKey('r', 'q')]!.consoleError).toEqual({ message: 'the replay failed at cell 2', fix: 'open the sample and check cell 2', method: 'consoleCell' });
  });
});

describe('ui store', () => {
  it('navigates runs and collects inserted inspector code in the console draft', () => {
    const ui = createUiStore();
    ui.getState().openRun('r1');
    ui.getState().openSample('q1');
    expect(ui.getState()).toMatchObject({ openRunId: 'r1', openSampleId: 'q1' });
    ui.getState().openRun('r2');
    expect(ui.getState().openSampleId).toBeNull();
    ui.getState().setDraft('r/q', 'a = 1');
    ui.getState().insertCode('r/q', 'p = recon.points[0, 10, 20]');
    expect(ui.getState().drafts['r/q']).toBe('a = 1\np = recon.points[0, 10, 20]');
  });
});

describe('transport pick', () => {
  function env(over: Partial<TransportEnv> & { hash?: string; stored?: string | null } = {}) {
    const store = new Map<string, string>();
    if (over.stored) store.set(TOKEN_KEY, over.stored);
    const replaced: string[] = [];
    const created: { baseUrl: string; token: string }[] = [];
    const e: TransportEnv = {
      bridge: over.bridge,
      location: { hash: over.hash ?? '', origin: 'http://127.0.0.1:4321', pathname: '/', search: '' },
      storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v) },
      history: { replaceState: (_d, _t, url) => void replaced.push(String(url)) },
      createHttpApi: (o) => {
        created.push(o);
        return { transport: 'http' } as WorkbenchApi;
      },
    };
    return { e, store, replaced, created };
  }

  it('prefers the Electron bridge', () => {
    const bridge = { transport: 'electron' } as WorkbenchApi;
    const { e, created } = env({ bridge, hash: '#token=abc' });
    expect(pickTransport(e)).toEqual({ api: bridge, transport: 'electron', reason: null });
    expect(created).toEqual([]);
  });

  it('moves a #token from the URL to sessionStorage, strips it, and connects over HTTP', () => {
    const { e, store, replaced, created } = env({ hash: '#token=f00dcafe' });
    const p = pickTransport(e);
    expect(p.transport).toBe('http');
    expect(created).toEqual([{ baseUrl: 'http://127.0.0.1:4321', token: 'f00dcafe' }]);
    expect(store.get(TOKEN_KEY)).toBe('f00dcafe');
    expect(replaced).toEqual(['/']);
  });

  it('reuses the stored token after a reload (no hash)', () => {
    const { e, replaced, created } = env({ stored: 'tok2' });
    expect(pickTransport(e).transport).toBe('http');
    expect(created[0]?.token).toBe('tok2');
    expect(replaced).toEqual([]);
  });

  it('says how to connect when there is no token', () => {
    const { e } = env();
    const p = pickTransport(e);
    expect(p.api).toBeNull();
    expect(p.reason).toMatch(/spatialclaw serve/);
    expect(tokenFromHash('#a=1&token=xyz')).toBe('xyz');
    expect(tokenFromHash('#token=')).toBeNull();
  });

  it('turns anything thrown into a message and a fix', () => {
    expect(toShownError(new WorkbenchError('bad', 'do x', 'm', 400))).toEqual({ message: 'bad', fix: 'do x', method: 'm' });
    expect(toShownError(new Error('plain'))).toEqual({ message: 'plain', fix: null, method: null });
    expect(toShownError('text')).toEqual({ message: 'text', fix: null, method: null });
  });
});
