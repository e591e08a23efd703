/**
 * Servers on the real SLURM cluster (build/slurm-local.sh, docs/cluster.md "Servers on the cluster"):
 * `spatialclaw perception start --slurm` and `spatialclaw model serve --slurm` submit jobs that register their
 * servers (URL in the registry, token only in a 0600 file), `--perception cluster` and `--model cluster` route to
 * them (in-process and in a real `spatialclaw ask` on the RGB-D room sample), and `scancel` deregisters them.
 *
 * The model is the only stand-in: test/helpers/bin/vllm is a `vllm` on PATH that runs the scripted
 * OpenAI-compatible server (test/helpers/vllm-shim.ts) and requires VLLM_API_KEY as its bearer token, as vLLM does.
 *
 * Skips only when `sbatch` is not on PATH and SPATIALCLAW_REQUIRE_SLURM is unset (as slurm-cluster.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterServer, ClusterServerSchema } from '../../shared/cluster.ts';
import { WorkbenchError } from '../../shared/api.ts';
import { RunEventSchema } from '../../shared/run.ts';
import { registerServer } from '../../electron/services/cluster/registry.ts';
import { clusterModelEndpoints, clusterPerceptionServer } from '../../electron/services/cluster/servers.ts';
import { jobState, LIVE_STATES } from '../../electron/services/cluster/slurm.ts';
import { ModelClient } from '../../electron/services/model/client.ts';
import { ModelRegistry } from '../../electron/services/model/registry.ts';
import { type CliResult, ROOT, spatialclaw } from '../helpers/cli.ts';
import { ANSWER, QUESTION, RECONSTRUCT, ROOM } from '../helpers/rgbd-script.ts';

const haveSbatch = spawnSync('sbatch', ['--version'], { encoding: 'utf8' }).status === 0;
const required = Boolean(process.env.SPATIALCLAW_REQUIRE_SLURM);
const skip = !haveSbatch && !required;
if (skip) {
  console.warn('[cluster-servers] skipped: sbatch is not on PATH and SPATIALCLAW_REQUIRE_SLURM is unset '
    + '(start a one-node cluster with: sudo bash build/slurm-local.sh)');
}

/** Generous: another agent's jobs may hold the cluster's 2 CPUs for a while. */
const WAIT_S = 60;
const MODEL = 'scripted-vlm';
const SHIM_BIN = join(ROOT, 'test', 'helpers', 'bin');

/** Poll `check` every 100 ms until it returns true; fails naming `what` after `timeoutS`. */
async function until(what: string, check: () => boolean, timeoutS = WAIT_S): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutS * 1000) throw new Error(`${what}: not within ${timeoutS} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return (Date.now() - t0) / 1000;
}

function allFiles(d: string): string[] {
  return readdirSync(d).flatMap((f) => {
    const p = join(d, f);
    return statSync(p).isDirectory() ? allFiles(p) : [p];
  });
}

describe.skipIf(skip)('servers on a real SLURM cluster', () => {
  let dir = '';
  let cluster = '';
  let env: NodeJS.ProcessEnv = {};
  const previousClusterDir = process.env.SPATIALCLAW_CLUSTER_DIR;
  const jobIds: string[] = [];
  let perception: ClusterServer;
  let model: ClusterServer;
  const tokens: string[] = [];

  const jobIdOf = (r: CliResult): string => {
    const m = /^submitted job (\d+)/m.exec(r.stdout);
    if (m) jobIds.push(m[1]!);
    return m?.[1] ?? '';
  };
  const entryFile = (id: string): string => join(cluster, 'servers', `${id}.json`);
  const tokenFile = (id: string): string => join(cluster, 'tokens', `${id}.token`);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sc-cluster-servers-'));
    cluster = join(dir, 'cluster');
    mkdirSync(join(dir, 'home'));
    // The shim's replies: one chat for the direct --model cluster call, and the ask's plan, reconstruction and answer.
    const script = join(dir, 'shim-script.json');
    writeFileSync(script, JSON.stringify({ script: { ping: ['pong from the cluster'], q1: ['1. Reconstruct. 2. Measure.', RECONSTRUCT, ANSWER] } }));
    env = { SPATIALCLAW_HOME: join(dir, 'home'), SPATIALCLAW_CLUSTER_DIR: cluster, PATH: `${SHIM_BIN}:${process.env.PATH ?? ''}`, VLLM_SHIM_SCRIPT: script };
    // The in-process routing below reads the same cluster folder.
    process.env.SPATIALCLAW_CLUSTER_DIR = cluster;
  });

  afterAll(() => {
    if (jobIds.length) spawnSync('scancel', jobIds, { encoding: 'utf8' }); // no-op for ended jobs
    if (previousClusterDir === undefined) delete process.env.SPATIALCLAW_CLUSTER_DIR;
    else process.env.SPATIALCLAW_CLUSTER_DIR = previousClusterDir;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('submits a perception job and a vLLM job that register themselves: URL in the registry, token only in a 0600 file', async () => {
    const t0 = Date.now();
    const [p, m] = await Promise.all([
      spatialclaw(['perception', 'start', '--slurm', '--backends', 'rgbd,classical', '--time', '00:10:00', '--wait-timeout', String(WAIT_S)], env, (WAIT_S + 30) * 1000),
      spatialclaw(['model', 'serve', '--slurm', '--model', MODEL, '--vllm-args', "--max-model-len 4096 --tag 'two words'", '--gpus', '0', '--time', '00:10:00',
        '--wait-timeout', String(WAIT_S)], env, (WAIT_S + 30) * 1000),
    ]);
    const pJob = jobIdOf(p);
    const mJob = jobIdOf(m);
    expect(p.code, p.stderr + p.stdout).toBe(0);
    expect(m.code, m.stderr + m.stdout).toBe(0);
    console.log(`[cluster-servers] both servers registered in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // The submitter printed the job, the script under <cluster dir>/jobs/ and the URL.
    expect(p.stdout).toMatch(new RegExp(`script: ${cluster}/jobs/perception-\\S+\\.sbatch`));
    expect(p.stdout).toContain(`log:    ${cluster}/jobs/perception-${pJob}.out`);
    perception = ClusterServerSchema.parse(JSON.parse(readFileSync(entryFile(`perception-${pJob}`), 'utf8')));
    model = ClusterServerSchema.parse(JSON.parse(readFileSync(entryFile(`model-${mJob}`), 'utf8')));
    expect(p.stdout).toContain(`perception-${pJob} ready at ${perception.url}`);
    expect(m.stdout).toContain(`model-${mJob} ready at ${model.url}`);
    expect(perception).toMatchObject({ kind: 'perception', job_id: pJob, token_file: tokenFile(`perception-${pJob}`), token_env: null, backends: ['rgbd', 'classical'] });
    expect(model).toMatchObject({ kind: 'model', job_id: mJob, token_file: tokenFile(`model-${mJob}`), model: MODEL });
    // Bound to the node's address, not loopback: shards on other nodes connect to it.
    for (const s of [perception, model]) expect(new URL(s.url).hostname).not.toMatch(/^(127\.|localhost$|::1$)/);

    // The script is readable and carries the signal that lets a time limit deregister first; no token anywhere in it.
    const script = readFileSync(/script: (\S+)/.exec(m.stdout)![1]!, 'utf8');
    expect(script).toContain('#SBATCH --signal=B:TERM@60');
    expect(script).toContain(`cluster serve-job model --model ${MODEL} --vllm-command vllm -- --max-model-len 4096 --tag 'two words'`);

    for (const s of [perception, model]) {
      const token = readFileSync(s.token_file!, 'utf8').trim();
      tokens.push(token);
      expect(token).toMatch(/^[0-9a-f]{64}$/);
      expect(statSync(s.token_file!).mode & 0o777).toBe(0o600);
      expect(statSync(join(cluster, 'tokens')).mode & 0o777).toBe(0o700);
      expect(readFileSync(entryFile(s.id), 'utf8')).not.toContain(token);
      expect(script).not.toContain(token);
    }
    const [pToken, mToken] = tokens as [string, string];
    // The perception server: /health answers; its API takes the token and refuses requests without it.
    const health = await fetch(`${perception.url}/health`, { headers: { Authorization: `Bearer ${pToken}` } });
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
    expect((await fetch(`${perception.url}/v1/backends`)).status).toBe(401);
    expect((await fetch(`${perception.url}/v1/backends`, { headers: { Authorization: `Bearer ${pToken}` } })).status).toBe(200);
    // The vLLM stand-in got the token through VLLM_API_KEY: it answers with it and refuses without.
    expect((await fetch(`${model.url}/v1/models`)).status).toBe(401);
    const models = await fetch(`${model.url}/v1/models`, { headers: { Authorization: `Bearer ${mToken}` } });
    expect(((await models.json()) as { data: { id: string }[] }).data.map((x) => x.id)).toEqual([MODEL]);
    // It ran `vllm serve NAME --host <node address> --port <port> <vllm args>`.
    const log = readFileSync(join(cluster, 'jobs', `model-${mJob}.out`), 'utf8');
    expect(log).toContain(`vllm shim: serving ${MODEL} on ${model.url}/v1 (extra arguments: --max-model-len 4096 --tag two words)`);
  });

  it('routes --perception cluster and --model cluster to the registered servers, in-process and in an ask', async () => {
    expect(perception, 'the servers registered (first test)').toBeDefined();
    const server = await clusterPerceptionServer();
    expect(server.url).toBe(perception.url);
    expect(server.name).toBe(perception.id);

    const cfg = new ModelRegistry(join(dir, 'models'), null).fromArgs({ model: 'cluster' })!;
    expect(cfg.name).toBe(MODEL);
    expect(cfg.endpoints).toEqual([{ base_url: `${model.url}/v1`, api_key_file: model.token_file }]);
    expect(JSON.stringify(cfg)).not.toContain(tokens[1]);
    expect(new ModelRegistry(join(dir, 'models'), null).fromArgs({ model: `cluster:${MODEL}` })!.endpoints).toEqual(cfg.endpoints);
    expect(() => clusterModelEndpoints('no-such-model')).toThrow(/no registered model server serves no-such-model/);
    const reply = await new ModelClient(cfg).chat({ role: 'main', messages: [{ role: 'user', content: 'ping' }], sampleKey: 'ping' });
    expect(reply.content).toBe('pong from the cluster');
    expect(reply.endpoint).toBe(`${model.url}/v1`);

    // An ordinary ask with both: the scripted model (through the cluster's vLLM job) reconstructs on the cluster's perception server.
    const out = join(dir, 'ask-run');
    const t0 = Date.now();
    const r = await spatialclaw(['ask', '--input', ROOM, '--question', QUESTION, '--answer', '2.1', '--model', 'cluster', '--perception', 'cluster', '--out', out], env, 120_000);
    console.log(`[cluster-servers] ask over the cluster's servers: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/camera moved 2\.(09|10)\d m/);
    expect(r.stdout).toContain('score 1.00');
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { config: { perception: string; perception_url: string; model: { endpoints: unknown[] } } };
    expect(run.config.perception).toBe('cluster');
    expect(run.config.perception_url).toBe(perception.url);
    expect(run.config.model.endpoints).toEqual([{ base_url: `${model.url}/v1`, api_key_file: model.token_file }]);
    const events = readFileSync(join(out, 'samples', 'q1', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => RunEventSchema.parse(JSON.parse(l)));
    expect(events.some((e) => e.type === 'artifact' && e.url?.startsWith(`${perception.url}/v1/artifacts/`))).toBe(true);
    // Neither token reaches the run record.
    for (const f of allFiles(out)) for (const t of tokens) expect(readFileSync(f).includes(t), f).toBe(false);
  });

  it('scancel deregisters both servers within seconds, and a stale entry of an ended job is skipped and removed', async () => {
    expect(perception, 'the servers registered (first test)').toBeDefined();
    spawnSync('scancel', [perception.job_id, model.job_id], { encoding: 'utf8' });
    const took = await until('entries and token files removed after scancel', () =>
      [perception, model].every((s) => !existsSync(entryFile(s.id)) && !existsSync(s.token_file!)), 15);
    console.log(`[cluster-servers] deregistered ${took.toFixed(1)} s after scancel`);
    // No token in any job log.
    for (const f of readdirSync(join(cluster, 'jobs'))) {
      const text = readFileSync(join(cluster, 'jobs', f), 'utf8');
      for (const t of tokens) expect(text.includes(t), f).toBe(false);
    }
    // An entry left behind by a job that ended (e.g. killed with SIGKILL) is skipped, and removed.
    await until('the cancelled job ends', () => !LIVE_STATES.has(jobState(perception.job_id) ?? 'GONE'), 30);
    registerServer({ ...perception, registered_at: new Date().toISOString() }, cluster);
    await expect(clusterPerceptionServer()).rejects.toThrow(WorkbenchError);
    await expect(clusterPerceptionServer()).rejects.toThrow(/no live perception server/);
    expect(existsSync(entryFile(perception.id))).toBe(false);
  });

  it('a job without vllm fails with a clear error in its log, and the submitter names the log', async () => {
    const r = await spatialclaw(['model', 'serve', '--slurm', '--model', MODEL, '--vllm-command', 'vllm-not-installed', '--gpus', '0', '--time', '00:02:00',
      '--wait-timeout', String(WAIT_S)], env, (WAIT_S + 30) * 1000);
    const job = jobIdOf(r);
    expect(r.code).toBe(1);
    const log = join(cluster, 'jobs', `model-${job}.out`);
    expect(r.stderr).toContain(`job ${job} ended`);
    expect(r.stderr).toContain(`its log ${log}`);
    expect(r.stderr).toContain('vllm is not installed here: `vllm-not-installed` is not on the job\'s PATH');
    expect(readFileSync(log, 'utf8')).toContain('--vllm-command /path/to/vllm');
    expect(existsSync(entryFile(`model-${job}`))).toBe(false);
    expect(existsSync(tokenFile(`model-${job}`))).toBe(false);
  });
});
