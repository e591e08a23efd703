/**
 * More video frames asked for than a video has: the kernel's input summary says so in a `note:` line of the
 * Metadata (python: test/python/test_inputs.py `test_more_frames_than_the_video_has_are_noted`), and the host
 * reads the notes back for `spatialclaw ask` / `run` to print. The summary below is what prepare() gives for
 * test/fixtures/video_bedroom/bedroom.mp4 (200 frames) with num_frames 10000 and 4.
 */
import { describe, expect, it } from 'vitest';
import { boundInputs } from '../../electron/services/agent/paper/session.ts';
import { inputNotes } from '../../electron/services/agent/runner.ts';
import type { SampleSpec } from '../../shared/run.ts';

const VIDEO = '/work/test/fixtures/video_bedroom/bedroom.mp4';
const SUMMARY = [
  'InputImages_1 = InputImages(200 frames, indices 0..199, 960x540, video bedroom.mp4)',
  `Metadata_1 = Metadata(video ${VIDEO}); video: 200 frames, 30 fps, 6.67 s, 960x540 (W x H); bound: 200 frames, 960x540; ` +
    'note: asked for 10000 frames, but the video has only 200: all 200 are bound; frame_indices: 0, 1, 2, 3, 4, 5, 6, ..., 198, 199; ' +
    'timestamps (s): 0.000, 0.033, 0.067, 0.100, 0.133, 0.167, 0.200, ..., 6.600, 6.633; intrinsics: unknown; depth: no; poses: none',
  'InputImages_2 = InputImages(4 frames, indices 0..199, 960x540, video bedroom.mp4)',
  `Metadata_2 = Metadata(video ${VIDEO}); video: 200 frames, 30 fps, 6.67 s, 960x540 (W x H); bound: 4 frames, 960x540; ` +
    'frame_indices: 0, 66, 133, 199; timestamps (s): 0.000, 2.200, 4.433, 6.633; intrinsics: unknown; depth: no; poses: none',
].join('\n');

describe('inputNotes', () => {
  it('reads each note of the summary, with the input it is about', () => {
    expect(inputNotes(SUMMARY)).toEqual(['Metadata_1: asked for 10000 frames, but the video has only 200: all 200 are bound']);
  });

  it('finds none in a summary without notes', () => {
    expect(inputNotes(SUMMARY.split('\n').slice(2).join('\n'))).toEqual([]);
    expect(inputNotes('')).toEqual([]);
  });

  it('leaves the paper profile reading the bound inputs as before', () => {
    const sample: SampleSpec = { id: 's', question: 'q', inputs: [{ kind: 'video', path: VIDEO, num_frames: 10000 }, { kind: 'video', path: VIDEO, num_frames: 4 }] };
    expect(boundInputs(sample, SUMMARY)).toEqual([
      { variable: 'InputImages_1', metadata: 'Metadata_1', kind: 'video', name: 'bedroom.mp4', numImages: 200, totalFrames: 200, fps: 30, durationSec: 6.67 },
      { variable: 'InputImages_2', metadata: 'Metadata_2', kind: 'video', name: 'bedroom.mp4', numImages: 4, totalFrames: 200, fps: 30, durationSec: 6.67 },
    ]);
  });
});
