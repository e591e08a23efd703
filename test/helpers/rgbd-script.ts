/**
 * The scripted model's replies for the real RGB-D sample (test/fixtures/rgbd_room): reconstruct the
 * frames, measure how far the camera moved, answer. Shared by the agent, host and browser tests.
 */
import { join } from 'node:path';
import { ROOT } from './cli.ts';

export const ROOM = join(ROOT, 'test', 'fixtures', 'rgbd_room');
export const QUESTION = 'How far did the camera move between the first and the last frame, in metres?';

/** One model reply in the Purpose / Reasoning / Next Goal / Code format the agent parses. */
export const step = (purpose: string, code: string, reasoning = 'the reconstruction gives metric camera positions.'): string =>
  `Purpose: ${purpose}\nReasoning: ${reasoning}\nNext Goal: ${purpose}\nCode:\n\`\`\`python\n${code}\n\`\`\``;

/** Reconstruct, then `d` = distance between the first and last camera centres (metres). */
export function reconstructStep(extraLines: string[] = []): string {
  return step('reconstruct the frames', [
    'recon = tools.Reconstruct.Reconstruct(InputImages)',
    'first, last = recon.frame_indices[0], recon.frame_indices[-1]',
    'd = float(np.linalg.norm(recon.extrinsics[last][:3, 3] - recon.extrinsics[first][:3, 3]))',
    ...extraLines,
    'print(f"camera moved {d:.3f} m")',
  ].join('\n'));
}

export const RECONSTRUCT = reconstructStep();
export const ANSWER = step('answer', 'ReturnAnswer(round(d, 2))');
