/**
 * The workbench host: the METHODS table of the workbench contract (shared/workbench.ts) mapped onto the
 * host's services (electron/services/app/), shared by the Electron main process and `spatialclaw serve`.
 * Transports validate the arguments, call `handlers[method](args)`, and forward `onEvent` events.
 *
 * Nothing heavy starts in `create()`: the kernel runtime, the preview helper and perception servers start
 * on first use, and `close()` stops what the services started.
 *
 * Errors: a {@link WorkbenchError} (message + fix) for anything the user can correct (unknown run or
 * model, missing file, bad date, ...); anything else is a host fault.
 */
import { WorkbenchError } from '../../../shared/api.ts';
import type { HostEvent, WorkbenchHandlers } from '../../../shared/workbench.ts';
import { createServices, type Services } from '../app/index.ts';
import { clusterStatus } from '../cluster/status.ts';
import { SettingsError } from '../config/settings.ts';
import { runDoctor } from '../doctor.ts';
import { detectSandbox, unsandboxedWarning } from '../kernel/sandbox.ts';
import { ModelError } from '../model/client.ts';
import { ModelConfigError } from '../model/config.ts';
import { PerceptionServerError } from '../perception/server.ts';
import { PythonNotFoundError } from '../python.ts';
import { ExportError } from '../runs/export.ts';
import { ImportError } from '../runs/import.ts';
import { ArtifactNotKeptError } from './artifacts.ts';
import { PreviewError } from './preview.ts';
import { QueryError } from './runs.ts';

export interface WorkbenchHostOptions {
  /** Where runs are created and listed (default `<data dir>/runs`). */
  runsRoot?: string;
  /** Close a console replay kernel after this long unused, milliseconds (default shared/defaults.ts). */
  replayIdleMs?: number;
  /** Serve these services (built by the caller's composition root) instead of building them from the options above. */
  services?: Services;
}

/** Map service errors the user can fix to WorkbenchError (message + fix); others pass through. */
export function toWorkbenchError(e: unknown): unknown {
  if (e instanceof WorkbenchError) return e;
  if (e instanceof ModelConfigError) return new WorkbenchError(e.message, 'add or fix the model in Settings > Model endpoints (listModels shows the configured names)');
  if (e instanceof ModelError && e.kind === 'config') return new WorkbenchError(e.message, 'export the named environment variable before starting the workbench, or edit the model config');
  if (e instanceof PerceptionServerError) return new WorkbenchError(e.message, 'check Settings > Perception servers (start a local one, or fix the URL / token variable)');
  if (e instanceof SettingsError || e instanceof QueryError) return new WorkbenchError(e.message, e.fix);
  if (e instanceof PreviewError) return new WorkbenchError(e.message, 'pick another file or folder, or fix the one named');
  if (e instanceof PythonNotFoundError) return new WorkbenchError(e.message, 'run `npm run setup` (it builds .venv), or set SPATIALCLAW_PYTHON to an interpreter with the project installed');
  if (e instanceof ImportError) return new WorkbenchError(e.message, e.fix);
  if (e instanceof ExportError) return new WorkbenchError(e.message, 'check the run folder is readable and the disk has room; `spatialclaw export RUN --format csv` prints the same error');
  if (e instanceof ArtifactNotKeptError) {
    return new WorkbenchError(e.message, 'run the question again with a perception server: artifacts are copied into the run by default (`spatialclaw run` without --no-artifacts)');
  }
  return e;
}

/** One handler per method, each a call into one service. */
function handlersOver(s: Services): WorkbenchHandlers {
  return {
    doctor: () => runDoctor(),
    sandboxStatus: async () => {
      const pref = s.settings.config().sandbox;
      const status = detectSandbox();
      const warning = unsandboxedWarning(status, pref);
      return { sandboxed: warning === '', warning };
    },
    listDir: async ({ path }) => s.files.listDir(path),
    previewInputs: ({ inputs }) => s.files.previewInputs(inputs),
    frameImage: ({ input, frame_index, max_edge }) => s.files.frameImage(input, frame_index, max_edge),
    ask: async ({ max_steps, ...req }) => {
      const h = await s.asks.start({ ...req, maxSteps: max_steps, source: 'workbench' });
      return { run_id: h.runId, sample_id: h.sampleId };
    },
    stop: async ({ run_id, sample_id }) => {
      s.asks.stop(run_id, sample_id);
      return { ok: true as const };
    },
    listRuns: async (q) => s.runs.list(q),
    getRun: async ({ run_id }) => s.runs.get(run_id),
    importWorkdir: (req) => s.runs.importWorkdir(req),
    runResults: async ({ run_id }) => s.runs.results(run_id),
    listSamples: async (q) => s.runs.samples(q),
    triageSamples: async (q) => s.runs.triage(q),
    exportRun: ({ run_id, format }) => s.runs.exportRun(run_id, format),
    sampleEvents: async ({ run_id, sample_id }) => s.runs.events(run_id, sample_id),
    sampleImage: async ({ run_id, sample_id, path }) => s.runs.image(run_id, sample_id, path),
    requestMessages: async ({ run_id, sample_id, messages }) => s.runs.requestMessages(run_id, sample_id, messages),
    compareRuns: ({ run_ids, resamples }) => s.compare.compare(run_ids, resamples),
    getAnnotations: async ({ run_id }) => s.annotations.get(run_id),
    annotate: async ({ run_id, ...req }) => s.annotations.annotate(run_id, req),
    getTaxonomy: async () => s.annotations.getTaxonomy(),
    saveTaxonomy: async ({ taxonomy }) => s.annotations.saveTaxonomy(taxonomy),
    consoleCell: ({ run_id, sample_id, code }) => s.console.cell(run_id, sample_id, code),
    artifactManifest: async ({ run_id, sample_id, artifact_id }) => s.runs.artifactManifest(run_id, sample_id, artifact_id),
    artifactArray: async ({ run_id, sample_id, artifact_id, name }) => s.runs.artifactArray(run_id, sample_id, artifact_id, name),
    listModels: async () => s.models.list(),
    saveModel: async ({ config, replace }) => s.models.save(config, { replace: replace === true }),
    testModel: ({ name }) => s.models.test(name),
    removeModel: async ({ name }) => {
      s.models.remove(name);
      return { ok: true as const };
    },
    listPerception: () => s.perception.list(),
    startLocalPerception: ({ backends }) => s.perception.startLocal(backends),
    localPerceptionBackends: () => s.perception.localBackends(),
    addPerception: ({ name, url, token_env }) => s.perception.add(name, url, token_env),
    removePerception: async ({ name }) => {
      await s.perception.remove(name);
      return { ok: true as const };
    },
    clusterStatus: () => clusterStatus({ runsRoot: s.runs.root }),
    getSettings: async () => s.settings.get(),
    saveSettings: async (v) => s.settings.save(v),
  };
}

export class WorkbenchHost {
  readonly handlers: WorkbenchHandlers;
  /** The runs root. */
  readonly root: string;
  private closed = false;

  private constructor(readonly services: Services) {
    this.root = services.runs.root;
    // Every handler maps the errors a user can fix to WorkbenchError, and refuses calls once closing.
    const guarded = {} as Record<string, (a: unknown) => Promise<unknown>>;
    for (const [name, fn] of Object.entries(handlersOver(services)) as [string, (a: unknown) => Promise<unknown>][]) {
      guarded[name] = async (a: unknown) => {
        if (this.closed) throw new WorkbenchError('the workbench host is shutting down', 'restart the workbench');
        try {
          return await fn(a);
        } catch (e) {
          throw toWorkbenchError(e);
        }
      };
    }
    this.handlers = guarded as unknown as WorkbenchHandlers;
  }

  /** A host over `opts.services`, or over services built from the options. Cheap: nothing starts until needed. */
  static async create(opts: WorkbenchHostOptions = {}): Promise<WorkbenchHost> {
    return new WorkbenchHost(opts.services ?? createServices({ runsRoot: opts.runsRoot, replayIdleMs: opts.replayIdleMs }));
  }

  /** Receive host events; returns the unsubscribe function. */
  onEvent(listener: (e: HostEvent) => void): () => void {
    return this.services.events.on(listener);
  }

  /** Refuse further calls and close the services (live samples are recorded as stopped). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.services.close();
  }
}
