/**
 * `spatialclaw replay RUN SAMPLE`: re-execute a recorded sample's cells, in order, in a fresh kernel
 * prepared on the same inputs, without a model; report where the outcome differs from the record
 * (status, answer, error). Used to re-check a run after a tool or an input changes.
 */
import { resolve } from 'node:path';
import { KernelRuntime } from '../services/kernel/runtime.ts';
import { PerceptionServer } from '../services/perception/server.ts';
import { readSampleEvents } from '../services/runs/store.ts';

export async function replay(runDir: string, sampleId: string, o: { perception?: string; timeoutS?: number }): Promise<number> {
  const events = readSampleEvents(resolve(runDir), sampleId);
  const start = events.find((e) => e.type === 'sample_start');
  if (!start || start.type !== 'sample_start') throw new Error(`${runDir}: sample ${sampleId} has no sample_start event`);
  const cells = events.flatMap((e) => (e.type === 'cell' ? [e.result] : []));
  if (cells.length === 0) {
    console.log(`sample ${sampleId} has no recorded cells: nothing to replay`);
    return 0;
  }
  const perception = o.perception === 'local' ? await PerceptionServer.startLocal({ backends: ['rgbd', 'classical'] }) : null;
  const rt = await KernelRuntime.start();
  let differences = 0;
  try {
    const session = await rt.openSession();
    await session.prepare({
      inputs: start.sample.inputs,
      scratchDir: rt.newScratchDir(),
      perception: perception ? { url: perception.url, token: perception.token } : null,
    });
    for (const old of cells) {
      const now = await session.execute(old.code, { origin: old.origin, timeoutS: o.timeoutS ?? 600 });
      const diffs: string[] = [];
      if (now.status !== old.status) diffs.push(`status ${old.status} -> ${now.status}`);
      if (JSON.stringify(now.answer) !== JSON.stringify(old.answer)) diffs.push(`answer ${JSON.stringify(old.answer?.answer ?? null)} -> ${JSON.stringify(now.answer?.answer ?? null)}`);
      if ((now.error?.ename ?? null) !== (old.error?.ename ?? null)) diffs.push(`error ${old.error?.ename ?? 'none'} -> ${now.error?.ename ?? 'none'}`);
      if (now.stdout !== old.stdout) diffs.push('stdout differs');
      differences += diffs.length ? 1 : 0;
      console.log(`cell ${old.index}: ${diffs.length ? `DIFFERENT (${diffs.join('; ')})` : `same (${now.status}${now.answer ? `, answer ${JSON.stringify(now.answer.answer)}` : ''})`}`);
    }
    await rt.closeSession(session);
  } finally {
    await rt.close();
    await perception?.stop();
  }
  console.log(differences ? `${differences} of ${cells.length} cells differ from the record` : `all ${cells.length} cells reproduce the record`);
  return differences ? 1 : 0;
}
