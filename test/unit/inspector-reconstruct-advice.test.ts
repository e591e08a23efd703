/**
 * The mask viewer's note for masks without a reconstruction (renderer/src/inspector/load.ts, reconstructAdvice):
 * it must advise only what reconstructs these frames, given the sample's input and the perception servers'
 * available backends, and word the same options as the server and tools.Reconstruct
 * (python-common/spatial_common/reconstruct_options.py, read here through the venv's Python).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reconstructAdvice } from '../../renderer/src/inspector/load.ts';
import type { InputSpec } from '../../shared/kernel.ts';
import type { PerceptionEntry } from '../../shared/workbench.ts';
import { ROOT } from '../helpers/cli.ts';

const PY = join(ROOT, '.venv', 'bin', 'python');
const video: InputSpec = { kind: 'video', path: 'test/fixtures/video_bedroom/bedroom.mp4' };
const rgbd: InputSpec = { kind: 'rgbd_sample', path: 'test/fixtures/rgbd_room' };

function server(backends: string[], healthy = true): PerceptionEntry {
  return { name: 'local', url: 'http://127.0.0.1:1', origin: 'local', token_env: null, healthy, backends, detail: null };
}

/** The shared option texts of the Python side. */
function pythonOptions(): { rgbOnly: string[]; flags: string[] } {
  const code =
    'import json; from spatial_common import reconstruct_options as r; ' +
    'print(json.dumps({"rgbOnly": list(r.RGB_ONLY_BACKENDS), "texts": [r.DA3_GPU, r.DA3_CPU, r.MONO]}))';
  const out = JSON.parse(execFileSync(PY, ['-c', code], { encoding: 'utf8' })) as { rgbOnly: string[]; texts: string[] };
  const flags = out.texts.flatMap((t) => t.match(/--(?:da3|mono)-checkpoint DIR|spatialclaw perception start --backends da3 --da3-checkpoint DIR/g) ?? []);
  return { rgbOnly: out.rgbOnly, flags: [...new Set(flags)] };
}

describe('reconstructAdvice', () => {
  it('a video on a CPU server with rgbd and classical: the three real options, and no dead end', () => {
    const note = reconstructAdvice([0, 5], video, [server(['rgbd', 'classical'])]);
    expect(note).toContain('2D only: no reconstruction of frames 0, 5');
    expect(note).toContain('These frames have no depth');
    const { flags } = pythonOptions();
    expect(flags.length).toBe(3);
    for (const flag of flags) expect(note).toContain(flag);
    expect(note).toContain('slow');
    expect(note).not.toMatch(/backend='(rgbd|classical)'/);
  });

  it('a video with an RGB-only backend available: that backend, in the order of the Python side', () => {
    const { rgbOnly } = pythonOptions();
    expect(rgbOnly).toEqual(['da3', 'mono']);
    expect(reconstructAdvice([1], video, [server(['rgbd', 'mono'])])).toContain("backend='mono'");
    expect(reconstructAdvice([1], video, [server(['mono']), server(['da3'])])).toContain("backend='da3'");
    // an unhealthy server's backends do not count
    expect(reconstructAdvice([1], video, [server(['da3'], false)])).toContain('--da3-checkpoint DIR');
  });

  it('an RGB-D sample: rgbd, which lifts its depth', () => {
    expect(reconstructAdvice([2], rgbd, [server(['rgbd'])])).toContain("backend 'rgbd' lifts the sample's depth");
    expect(reconstructAdvice([2], rgbd, null)).toContain('a perception server with the rgbd backend is needed');
  });

  it('an unknown input and no server list: conditional wording, every option', () => {
    const note = reconstructAdvice([3], null, null);
    expect(note).toContain('If these frames have no depth');
    expect(note).toContain('--mono-checkpoint DIR');
  });
});
