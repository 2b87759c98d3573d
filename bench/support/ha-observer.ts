import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeLeaseRecord, LEASE_BUCKET, roleOfKey } from '../../control-plane/leases/lease-bucket.js';
import { WORKER_EVENTS_WILDCARD } from '../../streams/contracts/subjects.js';
import { decodeWorkerEvent, type WorkerStreamEvent } from '../../streams/contracts/worker-events.js';

/** A lease as the bucket shows it now: who holds it, and when this observer saw it change hands. */
export interface ObservedLease {
  holder: string;
  /** Wall-clock instant this observer saw the current holder's first write. */
  since: number;
}

/**
 * Follows the lease bucket (`cloudai-leases`) as the CLI would: who holds each partition and the
 * scheduler, and when each changed hands. Entries that expire silently (the bucket's TTL) stay
 * in this view until their next holder writes: "held" here means "last written by".
 */
export class LeaseObserver {
  readonly partitions = new Map<number, ObservedLease>();
  scheduler: ObservedLease | undefined;
  private listeners: Array<() => void> = [];

  private constructor() {}

  /** Opens the bucket (waiting until a control plane has created it) and follows it from now on. */
  static async start(nc: NatsConnection, timeoutMs: number): Promise<LeaseObserver> {
    const observer = new LeaseObserver();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const kv = await new Kvm(nc).open(LEASE_BUCKET);
        // Opening succeeds on a missing bucket in some client versions: status() proves it exists.
        await kv.status();
        const watch = await kv.watch({ key: '>' });
        void (async () => {
          for await (const entry of watch) {
            const role = roleOfKey(entry.key);
            if (!role || entry.operation !== 'PUT') continue;
            const holder = decodeLeaseRecord(entry.value)?.holder;
            if (holder === undefined) continue;
            const previous =
              role.kind === 'scheduler' ? observer.scheduler : observer.partitions.get(role.partition);
            const lease = previous?.holder === holder ? previous : { holder, since: Date.now() };
            if (role.kind === 'scheduler') observer.scheduler = lease;
            else observer.partitions.set(role.partition, lease);
            for (const listener of observer.listeners) listener();
          }
        })();
        return observer;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`no lease bucket ${LEASE_BUCKET}: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** Partitions whose last writer is `holder`. */
  heldBy(holder: string): number[] {
    return [...this.partitions]
      .filter(([, lease]) => lease.holder === holder)
      .map(([partition]) => partition);
  }

  /** How many partitions each holder wrote last. */
  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { holder } of this.partitions.values()) counts.set(holder, (counts.get(holder) ?? 0) + 1);
    return counts;
  }

  /** Resolves once `check` holds (looked at after every change), or rejects after `timeoutMs`. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = () => {
        if (!check()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what}: not seen in the lease bucket within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((other) => other !== listener);
      };
      this.listeners.push(listener);
    });
  }
}

/**
 * Every worker event the control planes publish, as it is published (a core subscription on the
 * stream's subjects), with the instant it was seen here.
 */
export function watchWorkerEvents(
  nc: NatsConnection,
  onEvent: (event: WorkerStreamEvent, seenAt: number) => void,
): void {
  const subscription = nc.subscribe(WORKER_EVENTS_WILDCARD);
  void (async () => {
    for await (const message of subscription) {
      const decoded = decodeWorkerEvent(message.data);
      if (decoded.ok) onEvent(decoded.value, Date.now());
    }
  })();
}
