/** shared/shards.ts: the stable sample -> shard rule (docs/cluster.md "Shards"). */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_SHARDS, shardOf, splitByShard } from '../../shared/shards.ts';

/** The rule re-derived a second way: hex digest -> first 16 hex digits -> BigInt. */
function reference(id: string, shards: number): number {
  const hex = createHash('sha256').update(Buffer.from(id, 'utf8')).digest('hex');
  return Number(BigInt(`0x${hex.slice(0, 16)}`) % BigInt(shards));
}

/** All 5,130 VSI-Bench questions, as the sample ids `spatialclaw eval` gives them ("vsibench-<problem_id>"). */
function vsibenchIds(): string[] {
  const rows = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/vsibench_questions/eval_vsibench.json'), 'utf8')) as { problem_id: number }[];
  return rows.map((r) => `vsibench-${r.problem_id}`);
}

describe('shardOf', () => {
  // Values computed with Python: int.from_bytes(hashlib.sha256(id.encode()).digest()[:8], "big") % n.
  const known: [string, string, Record<number, number>][] = [
    ['vsibench-0', '9c06d5ce61e49f29', { 1: 0, 2: 1, 3: 2, 7: 2, 64: 41, 1000: 121 }],
    ['vsibench-17', '690feb93ae8de8f0', { 1: 0, 2: 0, 3: 2, 7: 2, 64: 48, 1000: 784 }],
    ['blink-val_Counting_1', 'f73538f62f359a28', { 1: 0, 2: 0, 3: 2, 7: 6, 64: 40, 1000: 256 }],
    ['é-ünïcode-日本', 'b8abebad582cd26d', { 1: 0, 2: 1, 3: 2, 7: 2, 64: 45, 1000: 429 }],
    ['a', 'ca978112ca1bbdca', { 1: 0, 2: 0, 3: 1, 7: 4, 64: 10, 1000: 250 }],
  ];

  it.each(known)('gives the fixed shards for %s (digest head %s)', (id, head, byCount) => {
    expect(createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 16)).toBe(head);
    for (const [n, shard] of Object.entries(byCount)) {
      expect(shardOf(id, Number(n))).toBe(shard);
      expect(reference(id, Number(n))).toBe(shard);
    }
  });

  it('agrees with the reference derivation on every VSI-Bench id for several shard counts', () => {
    const ids = vsibenchIds();
    for (const n of [2, 3, 8, 13, 100]) {
      for (const id of ids) expect(shardOf(id, n)).toBe(reference(id, n));
    }
  });

  it('does not depend on the other samples or their order', () => {
    const ids = vsibenchIds();
    const forward = splitByShard(ids, 5);
    const backward = splitByShard([...ids].reverse(), 5);
    for (let k = 0; k < 5; k++) expect([...backward[k]!].reverse()).toEqual(forward[k]);
    const half = splitByShard(ids.slice(0, 1000), 5);
    for (let k = 0; k < 5; k++) expect(forward[k]!.slice(0, half[k]!.length)).toEqual(half[k]);
  });

  it.each([0, -1, 1.5, Number.NaN, MAX_SHARDS + 1])('rejects shards = %s with a RangeError naming the rule', (n) => {
    expect(() => shardOf('vsibench-0', n)).toThrow(/shards must be a whole number from 1 to 100000/);
    expect(() => splitByShard(['vsibench-0'], n)).toThrow(RangeError);
  });

  it('rejects an empty sample id', () => {
    expect(() => shardOf('', 3)).toThrow(/non-empty sample id/);
  });
});

describe('splitByShard', () => {
  it('puts each of the 5,130 VSI-Bench ids in exactly one shard, balanced within a few percent', () => {
    const ids = vsibenchIds();
    expect(ids).toHaveLength(5130);
    for (const n of [3, 8, 16]) {
      const parts = splitByShard(ids, n);
      expect(parts).toHaveLength(n);
      const all = parts.flat();
      expect(all).toHaveLength(ids.length);
      expect(new Set(all).size).toBe(ids.length);
      parts.forEach((p, k) => p.forEach((id) => expect(shardOf(id, n)).toBe(k)));
      const mean = ids.length / n;
      // Binomial spread: sd = sqrt(mean·(1-1/n)) ≈ 41 for n = 3, 18 for n = 16; allow 8 % (> 4 sd at n = 3).
      for (const p of parts) expect(Math.abs(p.length - mean) / mean).toBeLessThan(n <= 8 ? 0.08 : 0.12);
    }
  });

  it('keeps the input order inside a shard and returns empty shards when there are fewer ids than shards', () => {
    const parts = splitByShard(['vsibench-0', 'vsibench-17', 'a'], 7);
    expect(parts).toHaveLength(7);
    expect(parts[2]).toEqual(['vsibench-0', 'vsibench-17']);
    expect(parts[4]).toEqual(['a']);
    expect(parts.filter((p) => p.length === 0)).toHaveLength(5);
  });

  it('rejects a duplicate id, naming it', () => {
    expect(() => splitByShard(['vsibench-1', 'vsibench-2', 'vsibench-1'], 2)).toThrow(/"vsibench-1" appears twice/);
  });
});
