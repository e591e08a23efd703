/**
 * `spatialclaw kernel run`: prepare a fresh kernel on an input and run cells in order, each through
 * the safety check, printing one JSON line per cell (the CellResult without image bytes; images are
 * written under --out).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CellResult } from '../../shared/kernel.ts';
import { KernelRuntime, inputSpecsFromArgs } from '../services/kernel/runtime.ts';
import { connectRegistered, loadRegistry } from '../services/perception/registry.ts';
import { PerceptionRouter, PerceptionServer } from '../services/perception/server.ts';

export interface KernelRunOptions {
  input: string[];
  depth?: string;
  camera?: string;
  poses?: string;
  frames?: number;
  maxFps?: number;
  maxLongEdge?: number;
  timeoutS: number;
  out?: string;
  keepGoing?: boolean;
  /** Human cells skip the safety check (console use). */
  unchecked?: boolean;
  jupyterUrl?: string;
  jupyterToken?: string;
  /** `local` (start one for this run), `registered` (least-loaded registered server), a registered name, or a URL. */
  perception?: string;
  perceptionToken?: string;
  reconstructBackend?: string;
  segmentBackend?: string;
}

/** Resolve `--perception` to a server; `local` starts one that lives as long as the run. */
async function perceptionFor(o: KernelRunOptions): Promise<PerceptionServer | null> {
  if (!o.perception) return null;
  if (o.perception === 'local') return PerceptionServer.startLocal({ backends: ['rgbd', 'classical'] });
  if (o.perception === 'registered') {
    // Every registered server whose token is set; the router picks the least-loaded healthy one that
    // has the reconstruct backend asked for (servers that are down are skipped).
    const entries = loadRegistry();
    const servers = entries.filter((e) => process.env[e.tokenEnv]).map((e) => PerceptionServer.reference(e.url, process.env[e.tokenEnv]!, e.name));
    if (servers.length === 0) throw new Error('--perception registered: no registered server has its token variable set (`spatialclaw perception status`)');
    return new PerceptionRouter(servers).pick(o.reconstructBackend);
  }
  const entry = loadRegistry().find((e) => e.name === o.perception);
  if (entry) return connectRegistered(entry);
  if (!/^https?:\/\//.test(o.perception)) {
    throw new Error(`--perception ${o.perception}: not "local", a registered server name (see \`spatialclaw perception status\`), or a URL`);
  }
  const token = o.perceptionToken ?? process.env.SPATIAL_PERCEPTION_TOKEN;
  if (!token) throw new Error('--perception URL needs its token: --perception-token or SPATIAL_PERCEPTION_TOKEN');
  return PerceptionServer.connect(o.perception, token);
}

/** Strip image bytes (written to files instead) for the JSON line. */
function forJson(r: CellResult, outDir: string | null): CellResult {
  return {
    ...r,
    images: r.images.map((im, k) => {
      const { png, ...rest } = im;
      if (outDir && png) {
        const path = join(outDir, `cell${String(r.index).padStart(3, '0')}_img${String(k + 1).padStart(2, '0')}.png`);
        writeFileSync(path, Buffer.from(png, 'base64'));
        return { ...rest, path };
      }
      return rest;
    }),
  };
}

/** @returns the process exit code: 0 when every cell ran ok, 1 otherwise. */
export async function kernelRun(cells: string[], o: KernelRunOptions): Promise<number> {
  if (cells.length === 0) throw new Error('no cells given: pass one or more Python files, e.g. `spatialclaw kernel run --input video.mp4 step1.py`');
  const code = cells.map((f) => {
    const p = resolve(f);
    if (!existsSync(p)) throw new Error(`cell file ${p} does not exist`);
    return { file: p, code: readFileSync(p, 'utf8') };
  });
  const inputs = inputSpecsFromArgs({ input: o.input, depth: o.depth, camera: o.camera, poses: o.poses, frames: o.frames, maxFps: o.maxFps });
  const outDir = o.out ? resolve(o.out) : null;
  if (outDir) mkdirSync(outDir, { recursive: true });
  if (o.jupyterUrl && !o.jupyterToken) throw new Error('--jupyter-url needs --jupyter-token (or SPATIALCLAW_JUPYTER_TOKEN)');

  const perception = await perceptionFor(o);
  const rt = await KernelRuntime.start(o.jupyterUrl ? { remote: { url: o.jupyterUrl, token: o.jupyterToken! } } : {});
  try {
    const session = await rt.openSession();
    const bound = await session.prepare({
      inputs,
      maxLongEdge: o.maxLongEdge ?? null,
      scratchDir: rt.newScratchDir(),
      perception: perception
        ? {
            url: perception.url,
            token: perception.token,
            backends: {
              ...(o.reconstructBackend ? { reconstruct: o.reconstructBackend } : {}),
              ...(o.segmentBackend ? { segment: o.segmentBackend } : {}),
            },
          }
        : null,
    });
    process.stderr.write(`${bound}\n`);
    let failed = 0;
    for (const c of code) {
      const r = await session.execute(c.code, { timeoutS: o.timeoutS, origin: o.unchecked ? 'human' : 'agent' });
      process.stdout.write(JSON.stringify({ file: c.file, ...forJson(r, outDir) }) + '\n');
      if (r.status !== 'ok') {
        failed++;
        if (!o.keepGoing) break;
      }
    }
    await rt.closeSession(session);
    return failed ? 1 : 0;
  } finally {
    await rt.close();
    await perception?.stop();
  }
}
