import { useCallback, useEffect, useState } from 'react';
import { DEFAULTS } from '../../../shared/defaults.ts';
import type { DoctorReport } from '../../../shared/doctor.ts';
import type { ModelConfig } from '../../../shared/model.ts';
import type { LocalBackends, ModelEntry, ModelTest, PerceptionBackend, PerceptionEntry, Settings } from '../../../shared/workbench.ts';
import { type ShownError, toShownError } from '../api.ts';
import { useApi, useSamples } from '../context.tsx';
import { ErrorBox, Field, TextFields } from './common.tsx';
import { TaxonomyEditor } from './TaxonomyEditor.tsx';

function useLoad<T>(load: () => Promise<T>): { data: T | null; error: ShownError | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let cancelled = false;
    load().then(
      (d) => {
        if (cancelled) return;
        setData(d);
        setError(null);
      },
      (e: unknown) => !cancelled && setError(toShownError(e)),
    );
    return () => {
      cancelled = true;
    };
  }, [load, tick]);
  return { data, error, reload: useCallback(() => setTick((t) => t + 1), []) };
}

const endpointsOf = (m: ModelEntry): string[] => (m.config.endpoints ? m.config.endpoints.map((e) => e.base_url) : m.config.base_url ? [m.config.base_url] : []);

/** What a Test said about one endpoint, in words: reachable and serving the model, or what is wrong. */
function endpointStatus(r: ModelTest['endpoints'][number]): string {
  const ms = r.latency_ms !== null ? ` (${Math.round(r.latency_ms)} ms)` : '';
  if (r.ok) return `reachable${ms}${r.served ? ', serves the model' : ', model name not checked (no /models route)'}`;
  // Reachable, but the configured model id is not served: the host's message says what is.
  if (r.served) return `reachable${ms}, but ${r.error ?? 'the model is not served'}`;
  return `unreachable: ${r.error ?? 'no answer'}`;
}

/** A taken name: saveModel answered 409 (Conflict). */
const isConflict = (e: unknown): boolean => typeof e === 'object' && e !== null && (e as { status?: unknown }).status === 409;

interface ModelForm {
  name: string;
  base_url: string;
  api_key_env: string;
}
const EMPTY_FORM: ModelForm = { name: '', base_url: '', api_key_env: '' };

function ModelsSection() {
  const api = useApi();
  const { data, error, reload } = useLoad(useCallback(() => api.call('listModels', {}), [api]));
  const [tests, setTests] = useState<Record<string, ModelTest | 'testing' | ShownError>>({});
  const [form, setForm] = useState<ModelForm>(EMPTY_FORM);
  /** The config being edited (its Edit button), or null when the form adds a new one. */
  const [editing, setEditing] = useState<ModelEntry | null>(null);
  const [formError, setFormError] = useState<ShownError | null>(null);
  /** The host refused a taken name: the config to save if the user confirms the replacement. */
  const [conflict, setConflict] = useState<{ config: ModelConfig; error: ShownError } | null>(null);
  const [busy, setBusy] = useState(false);

  /** The config the form describes; editing keeps the edited config's other fields (roles, limits, endpoints). */
  const configOf = (): ModelConfig | ShownError => {
    const name = form.name.trim();
    const baseUrl = form.base_url.trim();
    const keyEnv = form.api_key_env.trim();
    const multi = editing?.config.endpoints !== undefined;
    if (!name || (!baseUrl && !multi)) return { message: 'give the model name and its base URL', fix: 'e.g. http://127.0.0.1:8000/v1 for a local vLLM server', method: null };
    if (keyEnv && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(keyEnv)) {
      return { message: 'the API key field takes the NAME of an environment variable (e.g. OPENAI_API_KEY), never the key itself', fix: null, method: null };
    }
    const { api_key_env: _key, base_url: _url, ...kept } = editing?.config ?? ({} as Partial<ModelConfig>);
    return { ...kept, name, ...(multi ? {} : { base_url: baseUrl }), ...(keyEnv ? { api_key_env: keyEnv } : {}) } as ModelConfig;
  };

  const save = async (config: ModelConfig, replace: boolean) => {
    setBusy(true);
    try {
      await api.call('saveModel', { config, ...(replace ? { replace: true } : {}) });
      setForm(EMPTY_FORM);
      setEditing(null);
      setConflict(null);
      setFormError(null);
      reload();
    } catch (e) {
      if (!replace && isConflict(e)) {
        setConflict({ config, error: toShownError(e) });
        setFormError(null);
      } else setFormError(toShownError(e));
    } finally {
      setBusy(false);
    }
  };

  const submit = () => {
    const config = configOf();
    if ('message' in config) return setFormError(config);
    // Editing replaces the config it was opened from; adding refuses a taken name (the host asks).
    void save(config, editing !== null);
  };

  const edit = (m: ModelEntry) => {
    setEditing(m);
    setConflict(null);
    setFormError(null);
    setForm({ name: m.config.name, base_url: m.config.base_url ?? '', api_key_env: m.config.api_key_env ?? '' });
  };

  return (
    <section aria-label="Model endpoints" className="settings-section">
      <h3>Model endpoints</h3>
      {error ? <ErrorBox error={error} title="Could not list model endpoints" /> : null}
      {data && data.length === 0 ? <p className="muted">No model endpoint yet: add one below (any OpenAI-compatible server).</p> : null}
      {data?.length ? (
        <table className="settings-table" aria-label="Model endpoint list">
          <thead>
            <tr>
              <th>Name</th>
              <th>Endpoints</th>
              <th>API key env var</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data.map((m) => {
              const t = tests[m.name];
              return (
                <tr key={m.name}>
                  <td>
                    {m.name}
                    {m.builtin ? <span className="muted small"> (built-in)</span> : null}
                  </td>
                  <td>
                    {endpointsOf(m).map((u) => {
                      const r = t && typeof t === 'object' && 'endpoints' in t ? t.endpoints.find((x) => x.base_url === u) : undefined;
                      return (
                        <div key={u}>
                          <code>{u}</code>
                          {r ? (
                            <span className={r.ok ? 'ok' : 'error'} role="status">
                              {' '}
                              {endpointStatus(r)}
                            </span>
                          ) : null}
                        </div>
                      );
                    })}
                    {t === 'testing' ? <span className="muted">testing…</span> : null}
                    {t && typeof t === 'object' && 'message' in t ? <ErrorBox error={t} title="Test failed" /> : null}
                  </td>
                  <td>{m.config.api_key_env ?? <span className="muted">none</span>}</td>
                  <td className="actions">
                    <button
                      type="button"
                      onClick={async () => {
                        setTests((s) => ({ ...s, [m.name]: 'testing' }));
                        try {
                          const r = await api.call('testModel', { name: m.name });
                          setTests((s) => ({ ...s, [m.name]: r }));
                        } catch (e) {
                          setTests((s) => ({ ...s, [m.name]: toShownError(e) }));
                        }
                      }}
                      aria-label={`Test ${m.name}`}
                    >
                      Test
                    </button>
                    <button type="button" aria-label={`Edit ${m.name}`} onClick={() => edit(m)}>
                      Edit
                    </button>
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Remove ${m.name}`}
                      onClick={async () => {
                        try {
                          await api.call('removeModel', { name: m.name });
                          reload();
                        } catch (e) {
                          setFormError(toShownError(e));
                        }
                      }}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
      <form
        className="row add-form"
        aria-label={editing ? `Edit model endpoint ${editing.name}` : 'Add a model endpoint'}
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <Field label="Model name" {...(editing ? { hint: 'the model id: saved under this name; to rename, add a new endpoint and remove this one' } : {})}>
          <input value={form.name} readOnly={editing !== null} onChange={(e) => setForm({ ...form, name: e.target.value })} placeholder="Qwen/Qwen3-VL-8B-Instruct" />
        </Field>
        {editing?.config.endpoints ? (
          <Field label="Endpoints" hint={`several endpoints: edit them in ${editing.file}`}>
            <span>{editing.config.endpoints.map((e) => e.base_url).join(', ')}</span>
          </Field>
        ) : (
          <Field label="Base URL">
            <input value={form.base_url} onChange={(e) => setForm({ ...form, base_url: e.target.value })} placeholder="http://127.0.0.1:8000/v1" />
          </Field>
        )}
        <Field label="API key env var" hint="the variable's name; the key is never stored">
          <input value={form.api_key_env} onChange={(e) => setForm({ ...form, api_key_env: e.target.value })} placeholder="OPENAI_API_KEY" />
        </Field>
        <button type="submit" disabled={busy}>
          {editing ? (editing.builtin ? 'Save as my own config' : 'Save changes') : 'Add endpoint'}
        </button>
        {editing ? (
          <button
            type="button"
            onClick={() => {
              setEditing(null);
              setForm(EMPTY_FORM);
              setFormError(null);
            }}
          >
            Cancel edit
          </button>
        ) : null}
      </form>
      {conflict ? (
        <div role="alertdialog" aria-label="Replace the existing endpoint?" className="confirm-box">
          <ErrorBox error={conflict.error} title="Not saved" />
          <p>
            Replace the existing endpoint <strong>{conflict.config.name}</strong>?
          </p>
          <div className="row">
            <button type="button" className="danger" disabled={busy} onClick={() => void save(conflict.config, true)}>
              Replace
            </button>
            <button type="button" onClick={() => setConflict(null)}>
              Keep the existing one
            </button>
          </div>
        </div>
      ) : null}
      {formError ? <ErrorBox error={formError} /> : null}
    </section>
  );
}

/**
 * The backends a local server would offer (the host's backend registry, or its fallback: the defaults plus
 * what the running servers report), as checkboxes. Unavailable ones are disabled with the reason.
 */
function BackendChoices({ offered, chosen, setChosen }: { offered: LocalBackends | null; chosen: string[]; setChosen: (f: (cur: string[]) => string[]) => void }) {
  // Until the list arrives, the defaults (availability unknown).
  const list: PerceptionBackend[] = offered?.backends ?? DEFAULTS.localPerceptionBackends.map((name) => ({ name, available: null, reason: null, capabilities: [], device: '' }));
  return (
    <>
      {list.map((b) => {
        const why = b.available === false ? `unavailable: ${b.reason ?? 'no reason given'}` : [b.device, b.capabilities.join(', ')].filter(Boolean).join(' · ');
        return (
          <label key={b.name} className="inline" title={why || undefined}>
            <input
              type="checkbox"
              disabled={b.available === false}
              checked={chosen.includes(b.name)}
              onChange={(e) => setChosen((cur) => (e.target.checked ? [...cur, b.name] : cur.filter((x) => x !== b.name)))}
            />{' '}
            {b.name}
            {b.available === false ? <span className="muted small"> (unavailable)</span> : null}
          </label>
        );
      })}
      {offered?.note ? (
        <span className="hint" role="note">
          {offered.note}
        </span>
      ) : null}
    </>
  );
}

function PerceptionSection() {
  const api = useApi();
  const { data, error, reload } = useLoad(useCallback(() => api.call('listPerception', {}), [api]));
  const offered = useLoad(useCallback(() => api.call('localPerceptionBackends', {}), [api]));
  const [backends, setBackends] = useState<string[]>(() => [...DEFAULTS.localPerceptionBackends]);
  // A checked default the host reports unavailable is not asked for.
  const startable = backends.filter((name) => offered.data?.backends.find((b) => b.name === name)?.available !== false);
  const [starting, setStarting] = useState(false);
  const [form, setForm] = useState({ name: '', url: '', token_env: '' });
  const [actionError, setActionError] = useState<ShownError | null>(null);
  const allProgress = useSamples((s) => s.progress);
  const progress = Object.entries(allProgress).filter(([task, p]) => task.startsWith('perception') && !p.done);
  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
      setActionError(null);
      reload();
      // A fallback list includes what the running servers report: it may have changed.
      if (offered.data?.source === 'fallback') offered.reload();
    } catch (e) {
      setActionError(toShownError(e));
    }
  };
  return (
    <section aria-label="Perception servers" className="settings-section">
      <h3>Perception servers</h3>
      {error ? <ErrorBox error={error} title="Could not list perception servers" /> : null}
      {data && data.length === 0 ? <p className="muted">No perception server: start a local one or add a remote one (e.g. a GPU box).</p> : null}
      {data?.length ? (
        <table className="settings-table" aria-label="Perception server list">
          <thead>
            <tr>
              <th>Name</th>
              <th>URL</th>
              <th>Health</th>
              <th>Backends</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data.map((p: PerceptionEntry) => (
              <tr key={p.name}>
                <td>
                  {p.name} <span className="muted small">({p.origin})</span>
                </td>
                <td>
                  <code>{p.url}</code>
                  {p.token_env ? <span className="muted small"> token: ${p.token_env}</span> : null}
                </td>
                <td className={p.healthy ? 'ok' : 'error'}>
                  {p.healthy ? 'healthy' : 'unhealthy'}
                  {p.detail ? <span className="muted small"> {p.detail}</span> : null}
                </td>
                <td>{p.backends.join(', ') || '—'}</td>
                <td className="actions">
                  <button className="danger" aria-label={`Remove ${p.name}`} onClick={() => void act(() => api.call('removePerception', { name: p.name }))}>
                    {p.origin === 'local' ? 'Stop' : 'Remove'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <div className="row add-form" role="group" aria-label="Start a local perception server">
        <span className="field-label">Local server backends:</span>
        <BackendChoices offered={offered.data} chosen={backends} setChosen={setBackends} />
        {offered.error ? <ErrorBox error={offered.error} title="Could not list the local backends" /> : null}
        <button
          disabled={starting || startable.length === 0}
          onClick={async () => {
            setStarting(true);
            await act(() => api.call('startLocalPerception', { backends: startable }));
            setStarting(false);
          }}
        >
          {starting ? 'Starting…' : 'Start local server'}
        </button>
        {starting && progress.length ? (
          <span role="status" className="muted">
            {progress.map(([, p]) => p.message).join(' · ')}
          </span>
        ) : null}
      </div>
      <form
        className="row add-form"
        aria-label="Add a remote perception server"
        onSubmit={(e) => {
          e.preventDefault();
          void act(async () => {
            await api.call('addPerception', { name: form.name.trim(), url: form.url.trim(), token_env: form.token_env.trim() });
            setForm({ name: '', url: '', token_env: '' });
          });
        }}
      >
        <TextFields
          form={form}
          setForm={setForm}
          fields={[
            { key: 'name', label: 'Server name', placeholder: 'gpu-box' },
            { key: 'url', label: 'Server URL', placeholder: 'http://10.0.0.5:8765' },
            { key: 'token_env', label: 'Token env var', placeholder: 'SPATIAL_PERCEPTION_TOKEN', hint: "the variable's name; the token is never stored" },
          ]}
        />
        <button type="submit">Add server</button>
      </form>
      {actionError ? <ErrorBox error={actionError} /> : null}
    </section>
  );
}

function KernelSection() {
  const api = useApi();
  const { data, error } = useLoad(useCallback(() => api.call('getSettings', {}), [api]));
  const [draft, setDraft] = useState<Record<keyof Settings, string> | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [saveError, setSaveError] = useState<ShownError | null>(null);
  const values =
    draft ??
    (data
      ? {
          pool_size: String(data.pool_size),
          memory_gib: String(data.memory_gib),
          kernel_idle_max_mb: String(data.kernel_idle_max_mb),
          cell_timeout_s: String(data.cell_timeout_s),
          max_steps: String(data.max_steps),
        }
      : null);
  const fields: { key: keyof Settings; label: string; hint: string }[] = [
    { key: 'pool_size', label: 'Kernel pool size', hint: 'warm kernels kept ready (0–32)' },
    { key: 'memory_gib', label: 'Kernel memory limit (GiB)', hint: 'RLIMIT_AS per kernel' },
    { key: 'kernel_idle_max_mb', label: 'Idle kernel memory bound (MiB)', hint: 'a pooled kernel keeping more after its reset is replaced, not reused (0 = no bound)' },
    { key: 'cell_timeout_s', label: 'Cell timeout (s)', hint: 'a cell running longer is interrupted' },
    { key: 'max_steps', label: 'Default max steps', hint: 'step budget for new questions' },
  ];
  return (
    <section aria-label="Kernels" className="settings-section">
      <h3>Kernels</h3>
      {error ? <ErrorBox error={error} title="Could not read the settings" /> : null}
      {values ? (
        <form
          className="row add-form"
          aria-label="Kernel settings"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              const s = await api.call('saveSettings', {
                pool_size: Number(values.pool_size),
                memory_gib: Number(values.memory_gib),
                kernel_idle_max_mb: Number(values.kernel_idle_max_mb),
                cell_timeout_s: Number(values.cell_timeout_s),
                max_steps: Number(values.max_steps),
              });
              setDraft(null);
              setSaveError(null);
              setSaved(
                `saved: pool ${s.pool_size}, ${s.memory_gib} GiB, idle bound ${s.kernel_idle_max_mb} MiB, ${s.cell_timeout_s} s, ${s.max_steps} steps (applies to kernels started from now on)`,
              );
            } catch (err) {
              setSaved(null);
              setSaveError(toShownError(err));
            }
          }}
        >
          {fields.map((f) => (
            <Field key={f.key} label={f.label} hint={f.hint}>
              <input inputMode="decimal" value={values[f.key]} onChange={(e) => setDraft({ ...values, [f.key]: e.target.value })} />
            </Field>
          ))}
          <button type="submit">Save settings</button>
        </form>
      ) : null}
      {saved ? (
        <p role="status" className="ok">
          {saved}
        </p>
      ) : null}
      {saveError ? <ErrorBox error={saveError} title="Settings not saved" /> : null}
    </section>
  );
}

function DoctorSection() {
  const api = useApi();
  const [tick, setTick] = useState(0);
  const [result, setResult] = useState<{ tick: number; report: DoctorReport | null; error: ShownError | null } | null>(null);
  useEffect(() => {
    let cancelled = false;
    api.call('doctor', {}).then(
      (report) => !cancelled && setResult({ tick, report, error: null }),
      (e: unknown) => !cancelled && setResult({ tick, report: null, error: toShownError(e) }),
    );
    return () => {
      cancelled = true;
    };
  }, [api, tick]);
  const running = !result || result.tick !== tick;
  const report = result?.report ?? null;
  const error = result?.error ?? null;
  const run = () => setTick((t) => t + 1);
  return (
    <section aria-label="Installation check" className="settings-section">
      <div className="row">
        <h3>Installation check</h3>
        <button onClick={run} disabled={running}>
          {running ? 'Checking…' : 'Run again'}
        </button>
      </div>
      {error ? <ErrorBox error={error} title="Installation check failed" /> : null}
      {!report && !error ? <p className="muted">Running the installation check…</p> : null}
      {report ? (
        <table className="doctor" aria-label="Installation check results">
          <tbody>
            {report.checks.map((c) => (
              <tr key={c.id} className={c.ok ? 'ok' : c.required ? 'missing' : 'optional'}>
                <td>{c.ok ? 'OK' : c.required ? 'MISSING' : 'missing'}</td>
                <td>{c.label}</td>
                <td>
                  {c.detail}
                  {c.fix ? <code className="fix">{c.fix}</code> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

/** Settings: model endpoints, perception servers, kernel limits, the installation check. */
export function SettingsView() {
  return (
    <div className="settings">
      <ModelsSection />
      <PerceptionSection />
      <KernelSection />
      <TaxonomyEditor />
      <DoctorSection />
    </div>
  );
}
