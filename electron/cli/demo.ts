/**
 * `spatialclaw demo`: checks the installation, starts a local Jupyter server and an agent kernel,
 * and runs the bundled demo cell on the bundled real RGB-D sample. Until the agent loop exists this
 * is the main job; it grows into `spatialclaw ask` on the same sample.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KernelManager } from '@jupyterlab/services';
import { formatDoctor, runDoctor } from '../services/doctor.ts';
import { executeCell } from '../services/jupyter/execute.ts';
import { JupyterServer } from '../services/jupyter/server.ts';
import { appRoot, samplesDir } from '../services/paths.ts';

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
  const server = await JupyterServer.startLocal();
  console.log(`Jupyter server ready at ${server.baseUrl} in ${secs(performance.now() - t)}`);
  const manager = new KernelManager({ serverSettings: server.settings });
  try {
    t = performance.now();
    const kernel = await manager.startNew({ name: 'python3' });
    await kernel.info; // resolves once the websocket is connected and the kernel answered
    console.log(`Kernel ${kernel.id.slice(0, 8)} ready in ${secs(performance.now() - t)}`);
    const prep = await executeCell(kernel, `SAMPLE_DIR = ${JSON.stringify(sampleDir)}`, 30_000);
    if (prep.status !== 'ok') throw new Error(`could not prepare the kernel namespace: ${prep.error?.evalue ?? prep.status}`);

    console.log('\n--- cell: python-runtime/examples/demo_cell.py ---');
    const out = await executeCell(kernel, cell, (opts.timeoutS ?? 600) * 1000);
    process.stdout.write(out.stdout);
    if (out.stderr) process.stderr.write(out.stderr);
    console.log(`--- ${out.status} in ${secs(out.durationMs)} ---`);
    if (out.status !== 'ok') {
      if (out.error) console.error(out.error.traceback.join('\n'));
      else console.error(`the cell did not finish within ${opts.timeoutS ?? 600} s`);
      return 1;
    }
    await kernel.shutdown();
    return 0;
  } finally {
    manager.dispose();
    await server.stop();
  }
}
