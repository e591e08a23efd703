/**
 * `spatialclaw demo`: checks the installation, prepares an agent kernel on the bundled real RGB-D
 * sample and runs the bundled demo cell through the same path the agent uses (safety check, execute,
 * observation). Until the agent loop exists this is the main job; it grows into `spatialclaw ask`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatDoctor, runDoctor } from '../services/doctor.ts';
import { buildObservation } from '../services/kernel/observation.ts';
import { KernelRuntime } from '../services/kernel/runtime.ts';
import { appRoot, dataDir, samplesDir } from '../services/paths.ts';

export interface DemoOptions {
  sampleDir?: string | undefined;
  timeoutS?: number;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** Run the demo; returns the process exit code. */
export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const report = await runDoctor();
  console.log(formatDoctor(report));
  if (!report.ok) return 1;

  const sampleDir = resolve(opts.sampleDir ?? join(samplesDir(), 'rgbd_room'));
  if (!existsSync(join(sampleDir, 'sample.json'))) {
    console.error(`demo: ${sampleDir} has no sample.json; pass --sample with an RGB-D sample folder (docs/data-formats.md)`);
    return 1;
  }
  const cell = readFileSync(join(appRoot(), 'python-runtime', 'examples', 'demo_cell.py'), 'utf8');

  console.log(`\nSample: ${sampleDir}`);
  let t = performance.now();
  const rt = await KernelRuntime.start();
  try {
    console.log(`Jupyter server ready at ${rt.server.baseUrl} in ${secs(performance.now() - t)}`);
    t = performance.now();
    const session = await rt.openSession();
    const bound = await session.prepare({ inputs: [{ kind: 'rgbd_sample', path: sampleDir }], scratchDir: rt.newScratchDir() });
    console.log(`Kernel ready and inputs bound in ${secs(performance.now() - t)}:\n${bound}`);

    console.log('\n--- agent cell: python-runtime/examples/demo_cell.py (safety-checked) ---');
    const r = await session.execute(cell, { origin: 'agent', timeoutS: opts.timeoutS ?? 600 });
    console.log('--- observation, as the model would see it ---');
    console.log(buildObservation(r).text);
    const outDir = join(dataDir(), 'demo');
    mkdirSync(outDir, { recursive: true });
    for (const [k, im] of r.images.entries()) {
      if (!im.png) continue;
      const file = join(outDir, `image${k + 1}.png`);
      writeFileSync(file, Buffer.from(im.png, 'base64'));
      console.log(`image ${k + 1} (${im.label ?? 'no label'}) written to ${file}`);
    }
    await rt.closeSession(session);
    if (r.status !== 'ok') {
      if (r.error) console.error(r.error.traceback.join('\n'));
      return 1;
    }
    console.log(`\nAnswer: the camera moved ${String(r.answer?.answer)} m between the first and the last frame.`);
    return 0;
  } finally {
    await rt.close();
  }
}
