import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { decodeJson, encodeJson } from '../../streams/util/json-codec.js';

/**
 * The key-value bucket where control planes hold their leases. Only the control-plane identity
 * may write it (see streams/contracts/authorization.ts); the CLI reads it for `cloudai cluster status`.
 */
export const LEASE_BUCKET = 'cloudai-leases';

/** A partition's liveness judgement, or the scheduler: what one control plane at a time may do. */
export type Role = { kind: 'partition'; partition: number } | { kind: 'scheduler' };

export function leaseKeyOf(role: Role): string {
  return role.kind === 'scheduler' ? 'scheduler' : `partition.${role.partition}`;
}

export function roleOfKey(key: string): Role | undefined {
  if (key === 'scheduler') return { kind: 'scheduler' };
  const match = /^partition\.(\d+)$/.exec(key);
  return match ? { kind: 'partition', partition: Number(match[1]) } : undefined;
}

export function describeRole(role: Role): string {
  return role.kind === 'scheduler' ? 'the scheduler' : `partition ${role.partition}`;
}

/** Control planes announce themselves under `member.<id>` (renewed with their leases). */
export const MEMBER_KEY_PREFIX = 'member.';

export function memberKeyOf(controlPlaneId: string): string {
  return `${MEMBER_KEY_PREFIX}${controlPlaneId}`;
}

const leaseRecordSchema = z.object({
  holder: z.string(),
  /** The bucket revision that created this lease: grows with every new holder, so readers can fence stale writers. */
  epoch: z.number().int().min(0),
  acquiredAt: z.number(),
});
export type LeaseRecord = z.infer<typeof leaseRecordSchema>;

const memberRecordSchema = z.object({
  controlPlaneId: z.string(),
  host: z.string(),
  pid: z.number().int(),
  startedAt: z.number(),
  metricsPort: z.number().int().optional(),
  httpPort: z.number().int().optional(),
});
export type MemberRecord = z.infer<typeof memberRecordSchema>;

export function encodeRecord(record: LeaseRecord | MemberRecord): Uint8Array {
  return encodeJson(record);
}

export function decodeLeaseRecord(value: Uint8Array): LeaseRecord | undefined {
  const decoded = decodeJson(value, leaseRecordSchema);
  return decoded.ok ? decoded.value : undefined;
}

export function decodeMemberRecord(value: Uint8Array): MemberRecord | undefined {
  const decoded = decodeJson(value, memberRecordSchema);
  return decoded.ok ? decoded.value : undefined;
}

export interface LeaseBucketOptions {
  /** An entry not renewed for this long expires: a dead holder's roles are free after it. */
  ttlMs: number;
  replicas: number;
}

/**
 * Opens the lease bucket, creating it if missing. An existing bucket keeps its settings: a
 * different TTL is refused with advice, since holders renewing at different rates would fence
 * each other wrongly.
 */
export async function openLeaseBucket(nc: NatsConnection, options: LeaseBucketOptions): Promise<KV> {
  const kvm = new Kvm(nc);
  const kv = await kvm.create(LEASE_BUCKET, { ttl: options.ttlMs, history: 1, replicas: options.replicas });
  const status = await kv.status();
  if (status.ttl !== options.ttlMs) {
    throw new Error(
      `the lease bucket ${LEASE_BUCKET} expires entries after ${status.ttl} ms, this control plane is set to ` +
        `${options.ttlMs} ms: run every control plane with the same CLOUDAI_LEASE_TTL_MS`,
    );
  }
  return kv;
}

/** Opens the bucket to read it (the CLI); undefined when no control plane ever created it. */
export async function readLeaseBucket(nc: NatsConnection): Promise<KV | undefined> {
  try {
    return await new Kvm(nc).open(LEASE_BUCKET);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)
      return undefined;
    if ((error as Error).message?.includes('stream not found')) return undefined;
    throw error;
  }
}

/** A compare-and-set lost: another writer changed the entry since we read it. */
export function isWrongRevision(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export interface LeaseTableRow {
  role: Role;
  holder: string;
  epoch: number;
  /** How long ago the holder last renewed it (by the server's clock, as stored). */
  renewedAgoMs: number;
}

export interface LeaseTable {
  members: Array<MemberRecord & { announcedAgoMs: number }>;
  leases: LeaseTableRow[];
}

/** Everything in the bucket now, for `cloudai cluster status`. */
export async function readLeaseTable(kv: KV, now = Date.now()): Promise<LeaseTable> {
  const table: LeaseTable = { members: [], leases: [] };
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key);
    if (entry?.operation !== 'PUT') continue;
    const ago = Math.max(0, now - entry.created.getTime());
    if (key.startsWith(MEMBER_KEY_PREFIX)) {
      const member = decodeMemberRecord(entry.value);
      if (member) table.members.push({ ...member, announcedAgoMs: ago });
      continue;
    }
    const role = roleOfKey(key);
    const lease = decodeLeaseRecord(entry.value);
    if (role && lease)
      table.leases.push({ role, holder: lease.holder, epoch: lease.epoch, renewedAgoMs: ago });
  }
  table.members.sort((a, b) => a.controlPlaneId.localeCompare(b.controlPlaneId));
  return table;
}
