/**
 * The composition root's services without kernels or servers: the perception target rule, the model
 * lookup and input checks of AskService, and the run folder and run.json it creates (the kernel runtime
 * is stubbed to fail, so the sample ends at once).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkbenchError } from '../../shared/api.ts';
import { DEFAULTS } from '../../shared/defaults.ts';
import { ModelConfigSchema } from '../../shared/model.ts';
import { type HostEvent, RunIdSchema } from '../../shared/workbench.ts';
import { createServices, type Services } from '../../electron/services/app/index.ts';
import { ENV } from '../../electron/services/config/env.ts';
import { register } from '../../electron/services/perception/registry.ts';
import { PerceptionServerError } from '../../electron/services/perception/server.ts';
import { WorkbenchHost } from '../../electron/services/workbench/host.ts';

let home: string;
let services: Services;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'sc-app-'));
  vi.stubEnv('SPATIALCLAW_HOME', home);
  vi.stubEnv(ENV.perceptionToken, '');
  services = createServices();
  // No Jupyter here: a sample that gets this far ends with the runtime's error.
  vi.spyOn(services.kernels, 'runtime').mockRejectedValue(new Error('no kernels in unit tests'));
});
afterEach(async () => {
  await services.close();
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(Error);
  return e as Error;
}

describe('PerceptionService.resolve', () => {
  it('follows one rule: none, a known name, "local", a URL with its token; else an error naming the choices', async () => {
    expect(await services.perception.resolve(null)).toBeNull();
    register({ name: 'gpu-box', url: 'http://127.0.0.1:9', tokenEnv: 'SC_TEST_GPU_TOKEN' });
    const unknown = await rejection(services.perception.resolve('nowhere'));
    expect(unknown).toBeInstanceOf(WorkbenchError);
    expect(unknown.message).toBe('no perception server called nowhere');
    expect((unknown as WorkbenchError).fix).toMatch(/one of gpu-box, "local" \(start one on this host\), "cluster" \(one registered on the SLURM cluster\), a server URL, or none/);
    // A registered server whose token variable is unset: the variable is named.
    const noToken = await rejection(services.perception.resolve('gpu-box'));
    expect(noToken).toBeInstanceOf(PerceptionServerError);
    expect(noToken.message).toMatch(/set SC_TEST_GPU_TOKEN/);
    const url = await rejection(services.perception.resolve('http://127.0.0.1:9'));
    expect((url as WorkbenchError).fix).toContain(`export ${ENV.perceptionToken}=`);
  });

  it('picks no replay server when the recorded one is unknown and none was started here', () => {
    expect(services.perception.forReplay({ perception: 'gone', perception_url: 'http://127.0.0.1:1' })).toBeNull();
  });
});

describe('AskService', () => {
  const inputs = [{ kind: 'rgbd_sample' as const, path: join(import.meta.dirname, '..', 'fixtures', 'rgbd_room') }];
  const config = ModelConfigSchema.parse({ name: 'org/unit-model', base_url: 'http://127.0.0.1:9/v1' });

  it('refuses an unknown model name and a missing input before making a run folder', async () => {
    const e = await rejection(services.asks.start({ question: 'q', inputs, model: 'nope', perception: null, source: 'workbench' }));
    expect(e.message).toMatch(/unknown model "nope"/);
    const missing = await rejection(services.asks.start({ question: 'q', inputs: [{ kind: 'video', path: '/nowhere/v.mp4' }], model: config, perception: null, source: 'cli' }));
    expect(missing.message).toBe('video /nowhere/v.mp4 does not exist');
    expect(existsSync(join(home, 'runs')) ? services.runs.list({}) : []).toEqual([]);
  });

  it('records the same run.json config keys and run id scheme for the workbench and the CLI', async () => {
    services.models.save(config);
    const host = await WorkbenchHost.create({ services });
    const events: HostEvent[] = [];
    host.onEvent((e) => events.push(e));
    const fromUi = await host.handlers.ask({ question: 'q', inputs, model: 'org_unit-model', perception: null, executor: 'code', max_steps: 4, plan: true });
    const fromCli = await services.asks.start({ question: 'q', inputs, model: config, perception: null, source: 'cli' });
    const done = await fromCli.done;
    expect(done.error).toMatch(/no kernels in unit tests/);
    for (const id of [fromUi.run_id, fromCli.runId]) {
      expect(id).toMatch(/^\d{8}-\d{6}-[0-9a-f]{4}$/);
      expect(RunIdSchema.safeParse(id).success).toBe(true);
    }
    const configOf = (id: string) => (JSON.parse(readFileSync(join(home, 'runs', id, 'run.json'), 'utf8')) as { config: Record<string, unknown> }).config;
    const ui = configOf(fromUi.run_id);
    const cli = configOf(fromCli.runId);
    expect(Object.keys(ui).sort()).toEqual(Object.keys(cli).sort());
    expect(ui).toMatchObject({ kind: 'ask', source: 'workbench', max_steps: 4, perception: null, perception_url: null, model: { name: 'org/unit-model' } });
    expect(cli).toMatchObject({ kind: 'ask', source: 'cli', executor: DEFAULTS.executor, max_steps: DEFAULTS.maxSteps });
    await vi.waitFor(() => expect(events.some((e) => e.type === 'sample_done' && e.run_id === fromUi.run_id)).toBe(true));
    // The demo's runs carry a prefix in the same scheme.
    const demo = await services.asks.start({ question: 'q', inputs, model: config, perception: null, source: 'cli', kind: 'demo', runIdPrefix: 'demo' });
    await demo.done;
    expect(demo.runId).toMatch(/^demo-\d{8}-\d{6}-[0-9a-f]{4}$/);
    expect(Object.keys(configOf(demo.runId)).sort()).toEqual(Object.keys(cli).sort());
  });
});
