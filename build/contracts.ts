/**
 * Generates the Python side of the cross-language contracts from their zod source (shared/contracts/), in
 * python-common/spatial_common/contract/: `_generated.py` (the MIME types, the artifact array sets, the
 * perception routes with their request fields, the error codes) and `schemas.json` (a draft-07 JSON Schema per
 * contract, every named schema once under `definitions`).
 *
 *   node --import tsx build/contracts.ts           write the files (npm run contracts)
 *   node --import tsx build/contracts.ts --check   exit 1 when a checked-in file is stale (CI, lint stage)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ARRAY_SETS, ARTIFACT_KINDS, CONTRACTS, ErrorBodySchema, MIME, ROUTES } from '../shared/contracts/index.ts';
import { PROFILES } from '../shared/profiles.ts';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const contractDir = join(root, 'python-common', 'spatial_common', 'contract');
/** The generated files: constants as Python, the JSON Schemas as JSON (package data of spatial_common). */
export const targets = { python: join(contractDir, '_generated.py'), schemas: join(contractDir, 'schemas.json') } as const;

/** A JSON value as a Python literal (dicts, lists, str, int/float, True/False/None), indented by 4. */
function py(value: unknown, depth = 0): string {
  const pad = '    '.repeat(depth + 1);
  const end = '    '.repeat(depth);
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as a Python literal`);
    return Number.isInteger(value) ? String(value) : String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const flat = `[${value.map((v) => py(v, depth + 1)).join(', ')}]`;
    if (flat.length <= 100 && !flat.includes('\n')) return flat;
    return `[\n${value.map((v) => `${pad}${py(v, depth + 1)},`).join('\n')}\n${end}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  const flat = `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${py(v, depth + 1)}`).join(', ')}}`;
  if (flat.length <= 100 && !flat.includes('\n')) return flat;
  return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${py(v, depth + 1)},`).join('\n')}\n${end}}`;
}

/** The draft-07 JSON Schema of a contract, as Python validates it (what the TypeScript side accepts: io input). */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const out = z.toJSONSchema(schema, {
    target: 'draft-7',
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      // bin(): bytes in msgpack bodies. JSON Schema has no bytes type; validators leave it untyped.
      const meta = z.globalRegistry.get(ctx.zodSchema as unknown as z.ZodType) as Record<string, unknown> | undefined;
      if (meta?.['x-msgpack'] === 'bin') {
        for (const k of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as Record<string, unknown>)[k];
        Object.assign(ctx.jsonSchema, { 'x-msgpack': 'bin', description: meta['description'] });
      }
    },
  }) as Record<string, unknown>;
  return out;
}

/** Field names of a route's request map and which of them must be present (not nil). */
function routeFields(schema: z.ZodType): { fields: string[]; required: string[] } {
  const shape = (schema as unknown as { shape: Record<string, z.ZodType> }).shape;
  const fields = Object.keys(shape);
  const required = fields.filter((k) => !shape[k]!.safeParse(undefined).success);
  return { fields, required };
}

/** The text of each generated file. */
export function generate(): Record<keyof typeof targets, string> {
  const routes = Object.fromEntries(
    Object.entries(ROUTES).map(([name, r]) => [name, { method: r.method, path: r.path, artifact: r.artifact, ...routeFields(r.request) }]),
  );
  const errorCodes = (ErrorBodySchema.shape.code as unknown as { options: string[] }).options;
  // Every named schema (zod `.meta({ id })`) once, in DEFINITIONS; each contract refers to them by $ref.
  const definitions: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(CONTRACTS)) {
    const { definitions: defs = {}, $schema: _draft, title: _title, ...root } = jsonSchema(schema) as Record<string, unknown> & { definitions?: Record<string, unknown> };
    for (const [id, def] of Object.entries(defs)) {
      if (id in definitions && JSON.stringify(definitions[id]) !== JSON.stringify(def)) throw new Error(`two different schemas are named ${id}`);
      definitions[id] = def;
    }
    schemas[name] = root;
  }
  const lines = [
    '# GENERATED by `npm run contracts` (build/contracts.ts) from shared/contracts/*.ts and shared/run.ts. Do not',
    '# edit: change the zod source and regenerate. CI fails when this file is stale.',
    '"""The cross-language contracts as data: MIME types, artifact array sets, perception routes and error codes.',
    '',
    'The JSON Schemas of the contracts are in schemas.json next to this file (spatial_common.contract.SCHEMAS)."""',
    '',
    `MIME_IMAGE = ${py(MIME.image)}`,
    `MIME_ANSWER = ${py(MIME.answer)}`,
    `MIME_ARTIFACT = ${py(MIME.artifact)}`,
    '',
    `ARTIFACT_KINDS = ${py(ARTIFACT_KINDS)}`,
    '',
    '# kind -> array name -> {"dtype", "axes" (letters vary, digits are fixed sizes), "unit", "producedBy", "doc"}',
    `ARRAY_SETS = ${py(ARRAY_SETS)}`,
    '',
    '# route -> {"method", "path", "artifact" (kind), "fields" (every key a request may have), "required"}',
    `ROUTES = ${py(routes)}`,
    '',
    `ERROR_CODES = ${py(errorCodes)}`,
    '',
    '# profile name -> the kernel half of the agent profile (shared/profiles.ts PROFILES[name].kernel)',
    `KERNEL_PROFILES = ${py(Object.fromEntries(Object.entries(PROFILES).map(([name, p]) => [name, p.kernel])))}`,
    '',
  ];
  const bundle = {
    $comment: 'GENERATED by `npm run contracts` (build/contracts.ts) from shared/contracts/*.ts and shared/run.ts. Do not edit.',
    $schema: 'http://json-schema.org/draft-07/schema#',
    // name -> the contract's root schema; "$ref": "#/definitions/<id>" points into `definitions`.
    contracts: schemas,
    // Every named schema (zod `.meta({ id })`) once.
    definitions,
  };
  return { python: lines.join('\n'), schemas: `${JSON.stringify(bundle, null, 1)}\n` };
}

/** Write the files, or with --check fail when one differs. */
function main(): void {
  const texts = generate();
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [key, file] of Object.entries(targets) as [keyof typeof targets, string][]) {
    const rel = relative(root, file);
    if (check) {
      if ((existsSync(file) ? readFileSync(file, 'utf8') : '') !== texts[key]) {
        console.error(`${rel} is stale: the zod contracts in shared/contracts/ changed. Fix: npm run contracts, then commit ${rel}`);
        stale++;
      }
    } else {
      writeFileSync(file, texts[key]);
      console.log(`wrote ${rel} (${texts[key].length} bytes)`);
    }
  }
  if (stale) process.exit(1);
  if (check) console.log(`the generated contracts are up to date (${Object.keys(CONTRACTS).length} contracts)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
