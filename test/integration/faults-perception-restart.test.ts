/**
 * Fault injection, issue 17 §3 "a dead local perception server poisons the rest of a batch". Real Jupyter kernels, a
 * real local perception server (rgbd backend) and the real run store; only the model is scripted. Each sample's one
 * cell calls `tools.Reconstruct` and answers.
 *
 * - The server is SIGKILLed when the second of three samples has its model reply (its cell, with the tool call, runs
 *   next), and (in this test) restarted only after the kernel's connection retries are over: that tool call fails. The server comes back on the same URL and
 *   token, the third sample succeeds, the hurt sample is not recorded in samples.jsonl (so not scored) but listed in
 *   infra-errors.jsonl and the batch summary, and `--resume` (RunWriter.resume + runBatch) redoes it.
 * - Killed again the same way in the redone sample, now with a short restart delay, the server is back within the
 *   kernel's connection retries (about 8 s): the tool call made while it was down goes through, and the sample is
 *   recorded as answered.
 * - A remote server (known by URL and token only; this host cannot restart it) killed the same way: the hurt sample
 *   and the next one (refused before it reaches the model, since /health fails) are listed, not scored; once a server
 *   answers on that URL again, `--resume` redoes both.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch } from '../../electron/services/agent/runner.ts';
import { KernelRuntime } from '../../electron/services/kernel/runtime.ts';
import { ModelClient } from '../../electron/services/model/client.ts';
import { PerceptionServer } from '../../electron/services/perception/server.ts';
import { batchSummary, formatBatchSummary } from '../../electron/services/runs/batch-summary.ts';
import { readInfraErrors } from '../../electron/services/runs/infra-errors.ts';
import { RunWriter } from '../../electron/services/runs/writer.ts';
import { ModelConfigSchema } from '../../shared/model.ts';
import { type RunEvent, type SampleSpec, SampleResultSchema } from '../../shared/run.ts';
import { ROOT } from '../helpers/cli.ts';
import { type ScriptedModelServer, startScriptedModelServer } from '../helpers/scripted-model.ts';

const CELL = 'Purpose: reconstruct\nReasoning: r\nNext Goal: answer\nCode:\n```python\n' +
  'r = tools.Reconstruct.Reconstruct(InputImages[:2])\nReturnAnswer("A")\n```';
const sample = (id: string): SampleSpec => ({
  id, question: 'Which?', choices: ['A. x', 'B. y'], answer: 'A',
  inputs: [{ kind: 'rgbd_sample', path: join(ROOT, 'test', 'fixtures', 'rgbd_room') }],
});
const recorded = (dir: string): string[] =>
  readFileSync(join(dir, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => SampleResultSchema.parse(JSON.parse(l)).id);

describe.runIf(process.platform === 'linux')('a perception server dies mid-batch', () => {
  let runtime: KernelRuntime;
  let modelServer: ScriptedModelServer;
  let model: ModelClient;
  const servers: PerceptionServer[] = [];

  beforeAll(async () => {
    modelServer = await startScriptedModelServer({ default: [CELL] });
    model = new ModelClient(ModelConfigSchema.parse({ name: 'scripted', base_url: modelServer.url, timeout_s: 30, max_retries: 0 }));
    runtime = await KernelRuntime.start({ poolSize: 1 });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop(0)));
    await runtime?.close();
    await modelServer?.close();
  });

  /** `onReply` hears each sample's main model reply: its cell (the tool call) runs right after. */
  const batch = (writer: RunWriter, perception: PerceptionServer, ids: string[], onReply: (id: string) => void, infra: string[]) =>
    runBatch(ids.map(sample), {
      runtime, model, writer, perception, concurrency: 1, keepArtifacts: false,
      options: { plan: false, maxSteps: 1 },
      onEvent: (id: string, e: RunEvent) => {
        if (e.type === 'model_call' && e.role === 'main') onReply(id);
      },
      onInfraError: (id) => infra.push(id),
    });

  it('restarts it; the hurt sample is classified, not scored, listed, and redone by --resume', async () => {
    // Back only after the kernel's connection retries (about 8 s) are over, so the tool call fails.
    const delaysMs = [11_000];
    const perception = await PerceptionServer.startLocal({ backends: ['rgbd'], restart: { delaysMs } });
    servers.push(perception);
    const url = perception.url;
    const dir = mkdtempSync(join(tmpdir(), 'run-prestart-'));
    const ids = ['p1', 'p2', 'p3'];
    let writer = await RunWriter.create(dir, { config: { kind: 'run' }, versions: {}, total_samples: ids.length });
    const infra: string[] = [];
    let killed = false;
    await batch(writer, perception, ids, (id) => {
      if (id === 'p2' && !killed) {
        killed = true;
        process.kill(perception.pid!, 'SIGKILL');
      }
    }, infra);
    await writer.finish('interrupted');

    expect(killed).toBe(true);
    expect(perception.crashes).toHaveLength(1);
    expect(perception.crashes[0]!.how).toBe('on signal SIGKILL');
    expect(perception.restarts).toBe(1);
    expect(perception.url).toBe(url);
    expect((await perception.health()).status).toBeDefined();
    // The hurt sample is not recorded; the later one succeeded.
    expect(infra).toEqual(['p2']);
    expect(recorded(dir).sort()).toEqual(['p1', 'p3']);
    const listed = readInfraErrors(dir);
    expect(listed.map((e) => e.id)).toEqual(['p2']);
    expect(listed[0]!.error).toMatch(/perception server .* died during this sample/);
    const summary = batchSummary(dir);
    expect(summary).toMatchObject({ done: 2, scored: 2, mean_score: 1, host_errors: 0 });
    expect(summary.infra_errors.map((e) => e.id)).toEqual(['p2']);
    expect(formatBatchSummary(summary)).toMatch(/infrastructure: +1 sample hurt by an infrastructure fault.*p2/);

    // --resume redoes exactly the hurt sample. The server dies again before its tool call, and this time is back within
    // the kernel's connection retries: the tool call goes through (a crash without a failed tool call hurts nothing).
    delaysMs[0] = 300;
    writer = await RunWriter.resume(dir);
    const redone: string[] = [];
    const results = await batch(writer, perception, ids, (id) => {
      redone.push(id);
      process.kill(perception.pid!, 'SIGKILL');
    }, infra);
    await writer.finish('finished');
    expect(redone).toEqual(['p2']);
    expect(perception.restarts).toBe(2);
    expect(infra).toEqual(['p2']);
    expect(results.map((r) => [r.id, r.termination, r.score])).toEqual([['p2', 'answered', 1]]);
    expect(recorded(dir).sort()).toEqual(ids);
    expect(batchSummary(dir)).toMatchObject({ done: 3, mean_score: 1, infra_errors: [] });
  }, 90_000);

  it('a remote server that stops answering: the hurt sample and those that would start without it are listed, not scored, and redone', async () => {
    // The "remote" server is a real one this test owns; the run only knows its URL and token, as for a GPU box.
    const owner = await PerceptionServer.startLocal({ backends: ['rgbd'] });
    servers.push(owner);
    const remote = await PerceptionServer.connect(owner.url, owner.token);
    expect(remote.isLocal).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'run-premote-'));
    const ids = ['r1', 'r2', 'r3'];
    let writer = await RunWriter.create(dir, { config: { kind: 'run' }, versions: {}, total_samples: ids.length });
    const infra: string[] = [];
    await batch(writer, remote, ids, (id) => {
      if (id === 'r2') process.kill(owner.pid!, 'SIGKILL');
    }, infra);
    await writer.finish('interrupted');

    expect(infra).toEqual(['r2', 'r3']);
    expect(recorded(dir)).toEqual(['r1']);
    const listed = readInfraErrors(dir);
    expect(listed.map((e) => e.id)).toEqual(['r2', 'r3']);
    expect(listed[0]!.error).toMatch(/a tool call failed \(Perception\w+: .*\) and the perception server no longer answers: .*not reachable/);
    expect(listed[1]!.error).toMatch(/not reachable.*the sample was not started, recorded or scored: --resume redoes it/);
    // r3 never reached the model: it was not started without its server.
    expect(modelServer.requestsFor('r3')).toHaveLength(0);
    expect(batchSummary(dir)).toMatchObject({ done: 1, scored: 1, mean_score: 1, host_errors: 0 });

    // The server is back (same address and token): --resume redoes exactly r2 and r3.
    const back = await PerceptionServer.startLocal({ backends: ['rgbd'], port: Number(new URL(owner.url).port), token: owner.token });
    servers.push(back);
    writer = await RunWriter.resume(dir);
    const results = await batch(writer, remote, ids, () => undefined, infra);
    await writer.finish('finished');
    expect(results.map((r) => [r.id, r.termination, r.score])).toEqual([['r2', 'answered', 1], ['r3', 'answered', 1]]);
    expect(recorded(dir).sort()).toEqual(ids);
    expect(modelServer.requestsFor('r3').length).toBeGreaterThan(0);
    expect(batchSummary(dir)).toMatchObject({ done: 3, mean_score: 1, infra_errors: [] });
  }, 90_000);
});
