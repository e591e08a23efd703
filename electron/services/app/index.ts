/**
 * The composition root: every host (the CLI commands, `spatialclaw serve`, the Electron app) builds its
 * services here, from one set of flags, so that questions, replays, perception servers, kernels and
 * settings behave the same whoever asks. Nothing heavy starts here: the kernel runtime, the preview helper
 * and perception servers start on first use, and {@link Services.close} stops what was started.
 *
 *   settings    SettingsService    settings.json and the resolved config (flags > env > settings > defaults)
 *   models      ModelRegistry      model endpoint configs in <data dir>/models
 *   perception  PerceptionService  perception targets, local servers, health, the server to replay on
 *   kernels     KernelService      the lazily started kernel runtime
 *   files       FilesService       folder listings, input previews, frames
 *   runs        RunsService        the read side of the runs root
 *   annotations AnnotationsService tags and notes of runs (annotations.jsonl), the tag taxonomy (<data dir>/taxonomy.json)
 *   compare     CompareService     runs of one benchmark compared sample by sample (python-eval spatial_eval/compare.py)
 *   asks        AskService         one question: compose, run, live bookkeeping, stop
 *   replay      ReplayService      restore a kernel from a recorded sample
 *   console     ConsoleService     human cells on live and past samples
 *   events      HostEvents         the event stream those services push to
 */
import { join } from 'node:path';
import type { ConfigFlags } from '../config/resolve.ts';
import { SettingsService } from '../config/settings.ts';
import { ModelRegistry } from '../model/registry.ts';
import { AnnotationsService, TAXONOMY_JSON } from './annotations.ts';
import { AskService } from './ask.ts';
import { CompareService } from './compare.ts';
import { ConsoleService } from './console.ts';
import { HostEvents } from './events.ts';
import { FilesService } from './files.ts';
import { KernelService, type KernelServiceOptions } from './kernels.ts';
import { PerceptionService } from './perception.ts';
import { ReplayService } from './replay.ts';
import { RunsService } from './runs.ts';

export interface Services {
  settings: SettingsService;
  events: HostEvents;
  models: ModelRegistry;
  perception: PerceptionService;
  kernels: KernelService;
  files: FilesService;
  runs: RunsService;
  annotations: AnnotationsService;
  compare: CompareService;
  asks: AskService;
  replay: ReplayService;
  console: ConsoleService;
  /**
   * Stop live samples (recorded as stopped), restored console kernels, the kernel runtime, the perception
   * servers this host started and the preview helper. Safe to call twice.
   */
  close(): Promise<void>;
}

export interface CreateServicesOptions {
  /** Where the kernels run (default: a Jupyter server started on this host). */
  kernels?: KernelServiceOptions;
}

/**
 * Build the services of one host. Cheap: reads nothing but the data-directory location (settings.json is
 * read when a value from it is first needed, so a corrupt file is reported by the call that needs it).
 */
export function createServices(flags: ConfigFlags = {}, opts: CreateServicesOptions = {}): Services {
  const settings = new SettingsService(flags);
  const events = new HostEvents();
  const models = new ModelRegistry();
  const perception = new PerceptionService(settings, events);
  const kernels = new KernelService(settings, opts.kernels);
  const files = new FilesService();
  let asks: AskService | null = null;
  const runs = new RunsService(settings.folders().runsRoot, (runId, sampleId) => asks?.isLive(runId, sampleId) ?? false);
  const annotations = new AnnotationsService((runId) => runs.runDir(runId), join(settings.folders().dataDir, TAXONOMY_JSON));
  const compare = new CompareService(runs);
  asks = new AskService({ settings, models, perception, kernels, runs, events });
  const replay = new ReplayService(kernels, settings);
  const console = new ConsoleService({ settings, runs, asks, replay, perception, kernels, events });
  let closing: Promise<void> | null = null;
  const live = asks;
  return {
    settings, events, models, perception, kernels, files, runs, annotations, compare, asks, replay, console,
    close: () => {
      closing ??= (async () => {
        await live.close();
        await console.close();
        await kernels.close();
        await perception.close();
        files.close();
      })();
      return closing;
    },
  };
}
