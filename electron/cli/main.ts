/**
 * `spatialclaw`: the headless CLI over the same services the workbench uses.
 */
import { Command } from 'commander';
import { formatDoctor, runDoctor } from '../services/doctor.ts';
import { runDemo } from './demo.ts';

// @jupyterlab/services reports websocket and kernel-status changes through console.debug, which Node
// prints to stdout. Keep CLI output clean unless asked for it.
if (!process.env.SPATIALCLAW_DEBUG) console.debug = () => undefined;

const program = new Command();
program
  .name('spatialclaw')
  .description('SpatialClaw Workbench: code-as-action spatial reasoning agents (CLI)')
  .version('0.1.0');

program
  .command('doctor')
  .description('check every prerequisite and print the command that fixes each missing one (exit 1 if a required one is missing)')
  .option('--json', 'print the report as JSON')
  .action(async (opts: { json?: boolean }) => {
    const report = await runDoctor();
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
    process.exitCode = report.ok ? 0 : 1;
  });

program
  .command('demo')
  .description('run the main job on the bundled real sample (doctor, then a Python cell in a fresh agent kernel)')
  .option('--sample <dir>', 'RGB-D sample folder with a sample.json manifest (default: the bundled room sample)')
  .option('--timeout <seconds>', 'per-cell timeout in seconds', '600')
  .action(async (opts: { sample?: string; timeout: string }) => {
    process.exitCode = await runDemo({ sampleDir: opts.sample, timeoutS: Number(opts.timeout) });
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`spatialclaw: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
