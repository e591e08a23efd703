/**
 * The `tool_call` executor's translation: one JSON tool call per step becomes one Python assignment,
 * e.g. {"tool": "tools.Geometry.distance", "args": ["$p", "$q"], "assign": "d"} -> `d = tools.Geometry.distance(p, q)`.
 * The resulting cell still goes through the safety check.
 */
import { z } from 'zod';
import { StepParseError } from './parse.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CALLABLE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

const ToolCallSchema = z.object({
  tool: z.string().regex(CALLABLE, 'tool must be a dotted name such as tools.Geometry.distance'),
  args: z.array(z.unknown()).default([]),
  kwargs: z.record(z.string().regex(IDENT), z.unknown()).default({}),
  assign: z.string().regex(IDENT).nullable().optional(),
});
export type ToolCall = z.infer<typeof ToolCallSchema>;

/** A JSON value as a Python expression; strings "$name" are variable references. */
export function toPython(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new StepParseError(`non-finite number ${v} in a tool call`);
    return String(v);
  }
  if (typeof v === 'string') {
    if (v.startsWith('$')) {
      const ref = v.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*(\[[0-9-]+\]|\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(ref)) {
        throw new StepParseError(`"${v}" is not a variable reference (use "$name", "$name.attr" or "$name[0]")`);
      }
      return ref;
    }
    return JSON.stringify(v); // a JSON string literal is a valid Python string literal
  }
  if (Array.isArray(v)) return `[${v.map(toPython).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}: ${toPython(x)}`).join(', ')}}`;
  }
  throw new StepParseError(`unsupported value in a tool call: ${typeof v}`);
}

/** Parse the model's reply (a ```json block or bare JSON) and translate it into one Python statement. */
export function toolCallToCode(text: string): { call: ToolCall; code: string } {
  const block = /```(?:json)?\s*\n([\s\S]*?)```/i.exec(text)?.[1] ?? text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1);
  let raw: unknown;
  try {
    raw = JSON.parse(block);
  } catch {
    throw new StepParseError('no valid JSON tool call found (one ```json block with {"tool": ..., "args": [...]})');
  }
  const parsed = ToolCallSchema.safeParse(raw);
  if (!parsed.success) {
    throw new StepParseError(`invalid tool call: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'call'}: ${i.message}`).join('; ')}`);
  }
  const c = parsed.data;
  const args = [...c.args.map(toPython), ...Object.entries(c.kwargs).map(([k, v]) => `${k}=${toPython(v)}`)];
  const call = `${c.tool}(${args.join(', ')})`;
  return { call: c, code: c.assign ? `${c.assign} = ${call}\n${c.assign}` : call };
}
