/**
 * `spatialclaw kernel run`: prepare a fresh kernel on an input and run cells in order, each through
 * the safety check, printing one JSON line per cell (the CellResult without image bytes; images are
 * written under --out).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CellResult } from '../../shared/kernel.ts';
import { createServices, type Services } from '../services/app/index.ts';
import { secretFrom } from '../services/config/env.ts';
import { inputSpecsFromArgs } from '../services/kernel/runtime.ts';
import { loadRegistry } from '../services/perception/registry.ts';
import { PerceptionRouter, PerceptionServer } from '../services/perception/server.ts';

export interface KernelRunOptions {
  input: string[];
  depth?: string;
  camera?: string;
  poses?: string;
  frames?: number;
  maxFps?: number;
  maxLongEdge?: number;
  /** Per-cell timeout, seconds (default: the resolved config's). */
  timeoutS?: number;
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

/**
 * Resolve `--perception`: "registered" picks the least-loaded registered server; a URL with
 * --perception-token connects with that token; anything else follows the one target rule of
 * PerceptionService.resolve (a server name, "local" started for this run, a URL with
 * $SPATIAL_PERCEPTION_TOKEN).
 */
async function perceptionFor(o: KernelRunOptions, services: Services): Promise<PerceptionServer | null> {
  if (o.perception === 'registered') {
    // Every registered server whose token is set; the router picks the least-loaded healthy one that
    // has the reconstruct backend asked for (servers that are down are skipped).
    const servers = loadRegistry().flatMap((e) => {
      const token = secretFrom(e.tokenEnv);
      return token ? [PerceptionServer.reference(e.url, token, e.name)] : [];
    });
    if (servers.length === 0) throw new Error('--perception registered: no registered server has its token variable set (`spatialclaw perception status`)');
    return new PerceptionRouter(servers).pick(o.reconstructBackend);
  }
  if (o.perception && /^https?:\/\//.test(o.perception) && o.perceptionToken) return PerceptionServer.connect(o.perception, o.perceptionToken);
  return services.perception.resolve(o.perception ?? null);
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

  // One kernel, no warm pool; a remote Jupyter server when --jupyter-url is given.
  const services = createServices({ cellTimeoutS: o.timeoutS, poolSize: 0 }, o.jupyterUrl ? { kernels: { remote: { url: o.jupyterUrl, token: o.jupyterToken! } } } : {});
  try {
    const timeoutS = services.settings.config().cellTimeoutS;
    const perception = await perceptionFor(o, services);
    const rt = await services.kernels.runtime();
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
      const r = await session.execute(c.code, { timeoutS, origin: o.unchecked ? 'human' : 'agent' });
      process.stdout.write(JSON.stringify({ file: c.file, ...forJson(r, outDir) }) + '\n');
      if (r.status !== 'ok') {
        failed++;
        if (!o.keepGoing) break;
      }
    }
    await rt.closeSession(session);
    return failed ? 1 : 0;
  } finally {
    await services.close();
  }
}
