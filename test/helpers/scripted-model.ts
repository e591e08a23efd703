/**
 * A scripted OpenAI-compatible chat-completions server: the only stand-in in the test suite (for the
 * VLM, which cannot run here). It answers /v1/chat/completions with the given replies in order and
 * records every request.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedModel {
  url: string;
  requests: { headers: IncomingMessage['headers']; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

export async function startScriptedModel(replies: string[]): Promise<ScriptedModel> {
  const requests: ScriptedModel['requests'] = [];
  let i = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url !== '/v1/chat/completions' || req.method !== 'POST') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      requests.push({ headers: req.headers, body });
      const content = replies[Math.min(i++, replies.length - 1)] ?? '';
      const reply = {
        id: `chatcmpl-${i}`, object: 'chat.completion', created: 0, model: body['model'],
        choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }],
        usage: { prompt_tokens: 100 + i, completion_tokens: content.length, total_tokens: 100 + i + content.length },
      };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
