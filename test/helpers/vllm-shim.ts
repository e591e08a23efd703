/**
 * What test/helpers/bin/vllm runs: `vllm serve NAME --host H --port P [more vLLM arguments]` answered by the repo's
 * scripted OpenAI-compatible server (./scripted-model.ts) on H:P, serving the model id NAME and requiring
 * `Authorization: Bearer $VLLM_API_KEY` on every /v1 route, as vLLM does with that variable. The model is the only
 * stand-in of the test suite; everything around it (the SLURM job, the registry, the client) is real.
 *
 * Replies: the JSON file named by $VLLM_SHIM_SCRIPT, `{"script": {sampleId: [replies]}, "default": [replies]}`
 * (scripted-model.ts `Script` and `default`); without it every request gets "shim reply".
 *
 * Prints one line, `vllm shim: serving NAME on http://H:P/v1 (extra arguments: ...)`, and stops on SIGTERM/SIGINT.
 * Exits 2 with a message on a wrong command line or without VLLM_API_KEY.
 */
import { readFileSync } from 'node:fs';
import { type Reply, startScriptedModelServer } from './scripted-model.ts';

function fail(message: string): never {
  console.error(`vllm shim: ${message}`);
  process.exit(2);
}

const [sub, model, ...rest] = process.argv.slice(2);
if (sub !== 'serve' || !model || model.startsWith('-')) fail(`usage: vllm serve NAME --host H --port P [...]; got ${process.argv.slice(2).join(' ')}`);
const opt = (name: string): string | undefined => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
const host = opt('--host') ?? fail('--host is missing');
const port = Number(opt('--port') ?? fail('--port is missing'));
const apiKey = process.env.VLLM_API_KEY ?? fail('VLLM_API_KEY is not set (the job must pass its token there)');
const extra = rest.filter((a, i) => !['--host', '--port'].includes(a) && !['--host', '--port'].includes(rest[i - 1] ?? ''));
const scriptFile = process.env.VLLM_SHIM_SCRIPT;
const replies = scriptFile
  ? (JSON.parse(readFileSync(scriptFile, 'utf8')) as { script?: Record<string, Reply[]>; default?: Reply[] })
  : { default: ['shim reply'] };

const server = await startScriptedModelServer({ host, port, apiKey, model, script: replies.script ?? {}, default: replies.default ?? [] });
console.log(`vllm shim: serving ${model} on ${server.url} (extra arguments: ${extra.join(' ') || 'none'})`);
const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
