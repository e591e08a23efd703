/**
 * Stable shard assignment for sharded runs (issue 16, docs/cluster.md "Shards").
 *
 * The rule (the same in every language, so a shard computed by the host, by a SLURM task or by Python agrees):
 *
 *   shard = uint64_be(sha256(utf8(sample_id))[0:8]) mod shards
 *
 * that is: hash the sample id's UTF-8 bytes with SHA-256, read the first 8 bytes of the digest as a big-endian
 * unsigned 64-bit integer, and take it modulo the number of shards. In Python:
 *
 * ```python
 * import hashlib
 * def shard_of(sample_id: str, shards: int) -> int:
 *     return int.from_bytes(hashlib.sha256(sample_id.encode("utf-8")).digest()[:8], "big") % shards
 * ```
 *
 * A sample's shard depends only on its id and the shard count, never on the order or the number of samples, so a
 * resubmission with the same `shards` gives every shard the same samples.
 *
 * Node only (uses node:crypto, so tsconfig.web.json excludes this file): the renderer never assigns shards; it reads
 * each shard's index from the run folder.
 */
import { createHash } from 'node:crypto';

/** The largest shard count accepted: far beyond any SLURM job array (MaxArraySize defaults to 1001). */
export const MAX_SHARDS = 100_000;

function checkShards(shards: number): void {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new RangeError(`shards must be a whole number from 1 to ${MAX_SHARDS}, got ${String(shards)}`);
  }
}

/**
 * The shard (0 … shards-1) that owns a sample.
 * @param sampleId the sample id (shared/run.ts SampleSpec.id, e.g. "vsibench-17"); any non-empty string.
 * @param shards the number of shards, a whole number ≥ 1.
 * @throws RangeError when `shards` is not a whole number from 1 to {@link MAX_SHARDS}, or the id is empty.
 */
export function shardOf(sampleId: string, shards: number): number {
  checkShards(shards);
  if (typeof sampleId !== 'string' || sampleId.length === 0) {
    throw new RangeError('shardOf needs a non-empty sample id');
  }
  const head = createHash('sha256').update(sampleId, 'utf8').digest().readBigUInt64BE(0);
  return Number(head % BigInt(shards));
}

/**
 * Split sample ids into `shards` lists by {@link shardOf}; each list keeps the input order.
 * @returns an array of length `shards`; element k holds the ids of shard k (possibly empty).
 * @throws RangeError as {@link shardOf}, and when an id appears twice (a sample must land in exactly one shard).
 */
export function splitByShard(ids: Iterable<string>, shards: number): string[][] {
  checkShards(shards);
  const out: string[][] = Array.from({ length: shards }, () => []);
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new RangeError(`sample id "${id}" appears twice: sample ids must be unique`);
    seen.add(id);
    out[shardOf(id, shards)]!.push(id);
  }
  return out;
}
