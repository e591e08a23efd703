/**
 * The paper profile's `vlm` on the host side (docs/paper-parity.md row 13): the bridge's `/vlm/paper/...` routes
 * with their image caps and roles, the handler's isolated requests (own system prompt, images, then the question),
 * and the kernel's copy of the profiles' kernel options.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatResult, Role } from '../../shared/model.ts';
import { PROFILES } from '../../shared/profiles.ts';
import { VlmBridge } from '../../electron/services/kernel/bridge.ts';
import { LOCATE_SYSTEM, THINKING_SYSTEM, modelVlmHandler } from '../../electron/services/agent/vlm-handler.ts';
import { ROOT } from '../helpers/cli.ts';

interface Sent {
  role: Role;
  messages: ChatCompletionMessageParam[];
}

/** A model that answers "answer <n>" and records what it was asked; the question "fail" throws. */
function fakeModel(): { chat: (req: Sent) => Promise<ChatResult>; asked: Sent[] } {
  const asked: Sent[] = [];
  return {
    asked,
    chat: (req) => {
      asked.push(req);
      const parts = (req.messages.at(-1)?.content ?? []) as { type: string; text?: string }[];
      if (parts.at(-1)?.text === 'fail') return Promise.reject(new Error('HTTP 400 bad request'));
      const usage = { prompt_tokens: 3, completion_tokens: 1 };
      return Promise.resolve({ content: `answer ${asked.length}`, reasoning: null, raw: '', usage, endpoint: 'fake', latencyMs: 1, attempts: 1 });
    },
  };
}

const PNG = Buffer.from('89504e470d0a1a0a', 'hex').toString('base64');
const images = (n: number): string[] => Array.from({ length: n }, () => PNG);

describe('the bridge and the handler, paper calls', () => {
  const model = fakeModel();
  const bridge = new VlmBridge(modelVlmHandler(model));
  const plain = new VlmBridge({ ask: () => Promise.resolve({ text: 'x' }), locate: () => Promise.resolve({ text: 'x', points: [] }) });
  beforeAll(async () => {
    await bridge.start();
    await plain.start();
  });
  afterAll(async () => {
    await bridge.stop();
    await plain.stop();
  });
  const post = (b: VlmBridge, path: string, body: unknown) =>
    fetch(`${b.url}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${b.token}` }, body: JSON.stringify(body) });

  it('sends vlm.locate with its own system prompt and the locate role, at most 8 images', async () => {
    const ok = await post(bridge, '/vlm/paper/locate', { images: images(8), question: 'Check first ...\n\nRequest: the bed' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ text: 'answer 1' });
    const [asked] = model.asked;
    expect(asked?.role).toBe('locate');
    expect(asked?.messages[0]).toEqual({ role: 'system', content: LOCATE_SYSTEM });
    const parts = asked?.messages[1]?.content as { type: string; text?: string }[];
    expect(parts.map((p) => p.type)).toEqual([...Array(8).fill('image_url'), 'text']);
    expect(parts.at(-1)?.text).toBe('Check first ...\n\nRequest: the bed');
    expect((await post(bridge, '/vlm/paper/locate', { images: images(9), question: 'q' })).status).toBe(400);
    expect(bridge.calls.map((c) => [c.kind, c.role, c.images, c.ok])).toEqual([['paper_locate', 'locate', 8, true]]);
    expect(bridge.calls[0]?.sent?.messages[0]).toEqual({ role: 'system', content: LOCATE_SYSTEM });
  });

  it('sends vlm.ask_with_thinking with the vlm role, at most 64 images; a model error is a 502', async () => {
    expect((await post(bridge, '/vlm/paper/ask_with_thinking', { images: images(64), question: 'Is it open?' })).status).toBe(200);
    const asked = model.asked.at(-1);
    expect(asked?.role).toBe('vlm');
    expect(asked?.messages[0]).toEqual({ role: 'system', content: THINKING_SYSTEM });
    expect((await post(bridge, '/vlm/paper/ask_with_thinking', { images: images(65), question: 'q' })).status).toBe(400);
    const failed = await post(bridge, '/vlm/paper/ask_with_thinking', { images: [], question: 'fail' });
    expect(failed.status).toBe(502);
    expect(((await failed.json()) as { error: string }).error).toBe('the model call failed: HTTP 400 bad request');
    expect(bridge.calls.slice(1).map((c) => [c.kind, c.role, c.ok])).toEqual([['ask_with_thinking', 'vlm', true], ['ask_with_thinking', 'vlm', false]]);
  });

  it('keeps the default calls: no system prompt, role vlm', async () => {
    expect((await post(bridge, '/vlm/ask', { images: images(1), question: 'what?' })).status).toBe(200);
    const asked = model.asked.at(-1);
    expect(asked?.role).toBe('vlm');
    expect(asked?.messages.map((m) => m.role)).toEqual(['user']);
    expect(bridge.calls.at(-1)).toMatchObject({ kind: 'ask', role: 'vlm' });
  });

  it('answers 501 when the handler has no paper calls', async () => {
    expect((await post(plain, '/vlm/paper/locate', { images: [], question: 'q' })).status).toBe(501);
    expect(plain.calls).toEqual([]);
  });

  it('writes the prompts in this project’s words and keeps the marker the kernel checks for', () => {
    expect(LOCATE_SYSTEM).toContain('`Not visible`');
    expect(LOCATE_SYSTEM).toContain('0-1000');
    expect(THINKING_SYSTEM).toContain('64');
  });
});

describe('the kernel’s profiles, generated from shared/profiles.ts', () => {
  it('equals shared/profiles.ts', () => {
    const py = join(ROOT, '.venv', 'bin', 'python');
    const code = 'import dataclasses, json\nfrom spatial_runtime.context import KernelProfile\n' +
      'print(json.dumps({n: dataclasses.asdict(KernelProfile.named(n)) for n in ("default", "paper")}))';
    const named = JSON.parse(execFileSync(py, ['-c', code], { encoding: 'utf8' })) as Record<string, Record<string, unknown>>;
    expect(named['paper']).toEqual(PROFILES.paper.kernel);
    expect(named['default']).toEqual({ ...PROFILES.default.kernel, timeout_reset: false });
  });
});
