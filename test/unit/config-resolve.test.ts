/**
 * The resolved config: for every field, flag > environment > settings.json > default (shared/defaults.ts),
 * each over the layers the field has; and SettingsService reading the real layers.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULTS, defaultMemoryGib } from '../../shared/defaults.ts';
import type { Settings } from '../../shared/workbench.ts';
import { ENV, type EnvName } from '../../electron/services/config/env.ts';
import { CONFIG_FIELDS, type ConfigField, type ConfigFlags, resolveConfig } from '../../electron/services/config/resolve.ts';
import { readSettingsLayer, SettingsError, SettingsService } from '../../electron/services/config/settings.ts';

/** One value per layer the field has; distinct from each other and from the default. */
const LAYERS: Record<ConfigField, { flag: unknown; env?: string; settings?: number | string; default: unknown }> = {
  model: { flag: 'model-from-flag', env: 'model-from-env', default: null },
  baseUrl: { flag: 'http://flag.example/v1', env: 'http://env.example/v1', default: null },
  apiKeyEnv: { flag: 'FLAG_KEY_VAR', default: null },
  perception: { flag: 'gpu-box', default: null },
  // Only two profiles: each layer says `paper` over the default; `sources` tells the layers apart.
  profile: { flag: 'paper', env: 'paper', settings: 'paper', default: DEFAULTS.profile },
  executor: { flag: 'tool_call', default: DEFAULTS.executor },
  maxSteps: { flag: 7, settings: 9, default: DEFAULTS.maxSteps },
  plan: { flag: false, default: DEFAULTS.plan },
  concurrency: { flag: 3, default: DEFAULTS.concurrency },
  poolSize: { flag: 0, settings: 4, default: DEFAULTS.poolSize },
  memoryGib: { flag: 2, settings: 3, default: DEFAULTS.memoryGib },
  kernelIdleMaxMb: { flag: 0, settings: 300, default: DEFAULTS.kernelIdleMaxMb },
  cellTimeoutS: { flag: 5, settings: 6, default: DEFAULTS.cellTimeoutS },
  sampleTimeoutS: { flag: 50, settings: 60, default: null },
  localPerceptionBackends: { flag: ['da3', 'sam3'], default: DEFAULTS.localPerceptionBackends },
  replayIdleMs: { flag: 1000, default: DEFAULTS.replayIdleMs },
  sandbox: { flag: 'on', env: 'off', default: 'auto' },
};

function resolveWith(field: ConfigField, use: { flag: boolean; env: boolean; settings: boolean }) {
  const spec = CONFIG_FIELDS[field];
  const l = LAYERS[field];
  const flags: ConfigFlags = use.flag ? { [field]: l.flag } : {};
  const env = (name: EnvName) => (use.env && name === spec.env ? l.env : undefined);
  const settings: Partial<Settings> = use.settings && spec.settings ? { [spec.settings]: l.settings } : {};
  // 64 GiB: the machine-derived memory default is then DEFAULTS.memoryGib (see 'the kernel memory default' below).
  return resolveConfig(flags, { env, settings, dataDir: '/data', settingsFile: '/data/settings.json', totalMemoryBytes: 64 * GiB });
}

const GiB = 1024 ** 3;

describe('resolveConfig', () => {
  it('has a test row for every field, with a value for each layer the field has', () => {
    expect(Object.keys(LAYERS).sort()).toEqual(Object.keys(CONFIG_FIELDS).sort());
    for (const [field, spec] of Object.entries(CONFIG_FIELDS) as [ConfigField, (typeof CONFIG_FIELDS)[ConfigField]][]) {
      expect(LAYERS[field].env !== undefined, `${field}: env layer`).toBe(spec.env !== undefined);
      expect(LAYERS[field].settings !== undefined, `${field}: settings layer`).toBe(spec.settings !== undefined);
      expect(spec.default, `${field}: default`).toEqual(LAYERS[field].default);
    }
  });

  for (const field of Object.keys(CONFIG_FIELDS) as ConfigField[]) {
    it(`${field}: flag > env > settings.json > default`, () => {
      const l = LAYERS[field];
      const all = resolveWith(field, { flag: true, env: true, settings: true });
      expect(all[field]).toEqual(l.flag);
      expect(all.sources[field]).toBe('flag');
      const noFlag = resolveWith(field, { flag: false, env: true, settings: true });
      if (l.env !== undefined) {
        expect(noFlag[field]).toEqual(l.env);
        expect(noFlag.sources[field]).toBe('env');
      }
      const noEnv = resolveWith(field, { flag: false, env: false, settings: true });
      if (l.settings !== undefined) {
        expect(noEnv[field]).toEqual(l.settings);
        expect(noEnv.sources[field]).toBe('settings');
      }
      const none = resolveWith(field, { flag: false, env: false, settings: false });
      expect(none[field]).toEqual(l.default);
      expect(none.sources[field]).toBe('default');
    });
  }

  it('puts the runs root under the data dir unless a flag names one', () => {
    const layers = { env: () => undefined, settings: {}, dataDir: '/data', settingsFile: '/data/settings.json' };
    expect(resolveConfig({}, layers).runsRoot).toBe('/data/runs');
    expect(resolveConfig({ runsRoot: '/elsewhere/runs' }, layers).runsRoot).toBe('/elsewhere/runs');
  });

  it('never hands out the defaults object itself', () => {
    const c = resolveConfig({}, { env: () => undefined, settings: {}, dataDir: '/d', settingsFile: '/d/s.json' });
    c.localPerceptionBackends.push('oracle');
    expect(DEFAULTS.localPerceptionBackends).not.toContain('oracle');
  });
});

describe('SettingsService', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('reads the environment and settings.json, and re-resolves when the file changes', () => {
    const home = mkdtempSync(join(tmpdir(), 'sc-config-'));
    vi.stubEnv('SPATIALCLAW_HOME', home);
    vi.stubEnv(ENV.model, 'env-model');
    const s = new SettingsService({ maxSteps: 12 });
    expect(s.file).toBe(join(home, 'settings.json'));
    let c = s.config();
    expect(c).toMatchObject({ dataDir: home, runsRoot: join(home, 'runs'), model: 'env-model', maxSteps: 12, poolSize: DEFAULTS.poolSize, cellTimeoutS: DEFAULTS.cellTimeoutS });
    expect(c.sources).toMatchObject({ model: 'env', maxSteps: 'flag', poolSize: 'default' });
    expect(s.config()).toBe(c); // unchanged file: not read again

    writeFileSync(s.file, JSON.stringify({ pool_size: 3, cell_timeout_s: 90, max_steps: 50 }));
    c = s.config();
    expect(c).toMatchObject({ poolSize: 3, cellTimeoutS: 90, maxSteps: 12 });
    expect(c.sources).toMatchObject({ poolSize: 'settings', cellTimeoutS: 'settings', memoryGib: 'default' });
    // The Settings view sees the whole file with defaults filled in; the layer only what the file sets.
    expect(s.get()).toEqual({ pool_size: 3, memory_gib: defaultMemoryGib(totalmem(), 3), kernel_idle_max_mb: DEFAULTS.kernelIdleMaxMb, cell_timeout_s: 90, max_steps: 50 });
    expect(c.memoryGib).toBe(defaultMemoryGib(totalmem(), 3));
    expect(readSettingsLayer(s.file)).toEqual({ pool_size: 3, cell_timeout_s: 90, max_steps: 50 });
    expect(s.save({ memory_gib: 4 })).toMatchObject({ memory_gib: 4, pool_size: DEFAULTS.poolSize });
    expect(s.config()).toMatchObject({ memoryGib: 4, poolSize: DEFAULTS.poolSize });

    writeFileSync(s.file, '{"pool_size": ');
    expect(() => s.config()).toThrow(SettingsError);
    expect(() => s.config()).toThrow(s.file);
    // The folders need no settings.json.
    expect(s.folders()).toEqual({ dataDir: home, runsRoot: join(home, 'runs'), settingsFile: s.file });
  });
});

describe('the agent profile in the resolved config', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('comes from SPATIALCLAW_PROFILE or settings.json, survives a save by the Settings view, and must be a known profile', () => {
    const home = mkdtempSync(join(tmpdir(), 'sc-profile-'));
    vi.stubEnv('SPATIALCLAW_HOME', home);
    const s = new SettingsService();
    writeFileSync(s.file, JSON.stringify({ profile: 'paper', max_steps: 12 }));
    expect(s.config()).toMatchObject({ profile: 'paper', maxSteps: 12, sources: { profile: 'settings' } });
    // The Settings view saves its four fields; the profile stays in the file.
    s.save({ pool_size: 2, memory_gib: 4, cell_timeout_s: 60, max_steps: 10 });
    expect(s.config()).toMatchObject({ profile: 'paper', poolSize: 2 });
    expect(s.get()).not.toHaveProperty('profile');
    expect(new SettingsService({ profile: 'default' }).config()).toMatchObject({ profile: 'default', sources: { profile: 'flag' } });

    writeFileSync(s.file, JSON.stringify({ profile: 'fast' }));
    expect(() => new SettingsService().config()).toThrow(/profile/);
    writeFileSync(s.file, '{}');
    vi.stubEnv(ENV.profile, 'papr');
    expect(() => new SettingsService().config()).toThrow(/unknown agent profile "papr" \(from \$SPATIALCLAW_PROFILE\): use default or paper/);
  });
});

describe('the kernel memory default (derived from the machine)', () => {
  afterEach(() => vi.unstubAllEnvs());
  const layers = (totalMemoryBytes: number, settings: Partial<Settings> = {}) =>
    ({ env: () => undefined, settings, dataDir: '/data', settingsFile: '/data/settings.json', totalMemoryBytes });

  it('is 3/4 of the memory shared by the kernels (at least 2), rounded down to 0.5 GiB, between 4 and 16 GiB', () => {
    expect(defaultMemoryGib(24 * GiB, 1)).toBe(9);
    expect(defaultMemoryGib(24 * GiB, 0)).toBe(9);
    expect(defaultMemoryGib(24 * GiB, 2)).toBe(9);
    expect(defaultMemoryGib(24 * GiB, 3)).toBe(6);
    expect(defaultMemoryGib(24 * GiB, 4)).toBe(4.5);
    expect(defaultMemoryGib(24 * GiB, 16)).toBe(4);
    expect(defaultMemoryGib(8 * GiB, 1)).toBe(4);
    expect(defaultMemoryGib(15.6 * GiB, 1)).toBe(5.5);
    expect(defaultMemoryGib(64 * GiB, 1)).toBe(16);
    expect(defaultMemoryGib(1024 * GiB, 8)).toBe(16);
    expect(() => defaultMemoryGib(0, 1)).toThrow(RangeError);
    expect(() => defaultMemoryGib(NaN, 1)).toThrow(/total memory/);
    expect(() => defaultMemoryGib(8 * GiB, -1)).toThrow(/kernels/);
  });

  it('lets two kernels fit on a 24 GiB machine, and any pool up to 4 kernels fit in 3/4 of a 24-64 GiB one', () => {
    expect(2 * defaultMemoryGib(24 * GiB, 1)).toBeLessThanOrEqual(24);
    for (const total of [24, 32, 48, 64]) {
      for (const kernels of [1, 2, 3, 4]) expect(Math.max(2, kernels) * defaultMemoryGib(total * GiB, kernels)).toBeLessThanOrEqual(0.75 * total);
    }
  });

  it('is what resolveConfig gives without a flag or settings value, from the resolved pool size', () => {
    expect(resolveConfig({}, layers(24 * GiB))).toMatchObject({ memoryGib: 9, poolSize: DEFAULTS.poolSize, sources: { memoryGib: 'default' } });
    expect(resolveConfig({ poolSize: 4 }, layers(24 * GiB)).memoryGib).toBe(4.5);
    expect(resolveConfig({}, layers(24 * GiB, { pool_size: 3 })).memoryGib).toBe(6);
    // A value given wins, even above the derived one.
    expect(resolveConfig({}, layers(24 * GiB, { memory_gib: 16 }))).toMatchObject({ memoryGib: 16, sources: { memoryGib: 'settings' } });
    expect(resolveConfig({ memoryGib: 12 }, layers(24 * GiB))).toMatchObject({ memoryGib: 12, sources: { memoryGib: 'flag' } });
    // Without totalMemoryBytes: this machine's memory.
    expect(resolveConfig({}, { ...layers(1), totalMemoryBytes: undefined }).memoryGib).toBe(defaultMemoryGib(totalmem(), DEFAULTS.poolSize));
  });

  it('is what the Settings view shows while settings.json leaves memory_gib out', () => {
    const home = mkdtempSync(join(tmpdir(), 'sc-mem-'));
    vi.stubEnv('SPATIALCLAW_HOME', home);
    const s = new SettingsService();
    expect(s.get().memory_gib).toBe(defaultMemoryGib(totalmem(), DEFAULTS.poolSize));
    expect(s.get().memory_gib).toBe(s.config().memoryGib);
    s.save({ memory_gib: 16 });
    expect(s.get().memory_gib).toBe(16);
    expect(s.config().memoryGib).toBe(16);
  });
});
