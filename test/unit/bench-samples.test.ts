import { describe, expect, it } from 'vitest';
import type { SampleSpec } from '../../shared/run.ts';
import { benchmarkHint } from '../../electron/services/agent/paper/session.ts';
import { questionText } from '../../electron/services/agent/prompt.ts';
import { applySettings } from '../../electron/services/bench/index.ts';

const sample = (over: Partial<SampleSpec> = {}): SampleSpec => ({
  id: 'cvbench-12', question: 'Which video shows the kitchen first?', inputs: [{ kind: 'video', path: '/v/a.mp4' }, { kind: 'video', path: '/v/b.mp4', max_fps: 2 }, { kind: 'images', path: '/i.png' }],
  choices: ['A. first', 'B. second'], benchmark: 'cvbench', source_id: '12', instruction: 'Reply with the letter of the correct option only.', ...over,
});

describe('benchmark samples', () => {
  it('take the benchmark settings: video_max_fps on videos without their own, num_key_frames as key_frames', () => {
    const s = applySettings(sample(), { video_max_fps: 1, num_key_frames: 32 });
    expect(s.inputs).toEqual([{ kind: 'video', path: '/v/a.mp4', max_fps: 1 }, { kind: 'video', path: '/v/b.mp4', max_fps: 2 }, { kind: 'images', path: '/i.png' }]);
    expect(s.key_frames).toBe(32);
    expect(applySettings(sample(), {})).toEqual(sample());
  });

  it('show the model the benchmark instruction after the choices (default profile), instead of the generic one', () => {
    expect(questionText(sample())).toBe('Question: Which video shows the kitchen first?\nChoices:\nA. first\nB. second\nReply with the letter of the correct option only.');
    expect(questionText(sample({ instruction: undefined }))).toMatch(/Answer with the option letter\.$/);
    expect(questionText({ id: 'x', question: 'How far?', inputs: [{ kind: 'images', path: '/i.png' }] })).toBe('Question: How far?');
  });

  it('paper profile: the paper hint by the sample\'s benchmark, else the benchmark instruction', () => {
    expect(benchmarkHint(sample({ id: 'q-1' }))).toMatch(/2 to 4 separate videos/); // found by benchmark, not by id
    expect(benchmarkHint(sample({ id: 'q-1', benchmark: 'erqa', instruction: 'Reply with one letter.' }))).toBe('Reply with one letter.');
    expect(benchmarkHint(sample({ id: 'q-1', benchmark: undefined, instruction: undefined }))).toBeNull();
  });
});
