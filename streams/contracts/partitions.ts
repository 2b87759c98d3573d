/**
 * Workers are split into a fixed number of partitions so that several control planes can share
 * the liveness judgement: each partition is owned by one control plane at a time (see
 * control-plane/leases/). The NATS server does the split for heartbeats with a subject mapping
 * (`heartbeat.<id>` → `heartbeat.<partition>.<id>`, deterministic partitioning, nats-server ≥ 2.8);
 * `partitionOf` computes the same partition here for servers configured without the mapping.
 */

/** Partitions of the workers; `nats.conf` and `nats-cluster.conf` name the same number in their mapping. */
export const WORKER_PARTITIONS = 12;

/** The mapping `nats.conf` declares (a unit test keeps the files and this constant together). */
export const HEARTBEAT_PARTITION_MAPPING = {
  from: 'heartbeat.*',
  to: `heartbeat.{{partition(${WORKER_PARTITIONS},1)}}.{{wildcard(1)}}`,
} as const;

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * The partition of a worker: FNV-1a (32 bits) of its id modulo the partition count, as
 * nats-server computes `{{partition(n,1)}}`, so both agree on every id.
 */
export function partitionOf(workerId: string, partitions: number = WORKER_PARTITIONS): number {
  let hash = FNV_OFFSET_BASIS;
  for (let index = 0; index < workerId.length; index++) {
    hash ^= workerId.charCodeAt(index);
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash % partitions;
}

/** Every partition number, 0 … WORKER_PARTITIONS − 1. */
export const ALL_PARTITIONS: readonly number[] = Array.from({ length: WORKER_PARTITIONS }, (_, p) => p);
