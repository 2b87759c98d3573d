import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import { MONOTONIC_CLOCK } from '../../streams/util/clock.js';
import { type Logger, RateLimitedLog } from '../../streams/util/logger.js';
import {
  decodeLeaseRecord,
  describeRole,
  encodeRecord,
  isWrongRevision,
  leaseKeyOf,
  MEMBER_KEY_PREFIX,
  type MemberRecord,
  memberKeyOf,
  type Role,
  roleOfKey,
} from './lease-bucket.js';
import { planMoves, watchedPartitions } from './work-assignment.js';

/** Why a role was given up: its lease lapsed unrenewed, another holder has it, or it was handed on. */
export type LossReason = 'expired' | 'taken' | 'released' | 'closing';

export interface LeaseKeeperOptions {
  kv: KV;
  member: MemberRecord;
  /** The bucket's TTL: a holder that stops renewing loses its leases after it. */
  ttlMs: number;
  partitions: readonly number[];
  logger: Logger;
  /**
   * The role is ours from now on (epoch: the lease's fencing token). The control plane gets
   * ready for it (catches up, restores its workers); until this resolves, nothing is judged.
   */
  onAcquired: (role: Role, epoch: number) => Promise<void>;
  /**
   * The role is no longer ours: stop acting for it at once, synchronously. For a release, the
   * returned promise is awaited (events still on their way are stored) before the lease is freed.
   */
  onLost: (role: Role, reason: LossReason) => Promise<void> | void;
  /** At every look at the bucket: the partitions whose heartbeats to note (see `watchedPartitions`). */
  onWatchedPartitions?: (partitions: readonly number[]) => void;
  /** The monotonic clock the fencing deadlines run on. */
  now?: () => number;
}

interface HeldLease {
  role: Role;
  key: string;
  epoch: number;
  revision: number;
  /** Past this instant we act as if the lease were lost, renewed or not (see `fencing`). */
  validUntil: number;
  ready: boolean;
}

interface SeenEntry {
  holder: string | undefined;
  revision: number;
  /** When this process saw the entry written, on its monotonic clock. */
  seenAt: number;
  /** When the server stored it (its wall clock). */
  createdAt: number;
}

/** How often the keeper looks at its view of the bucket: the delay between a lease's expiry and its takeover. */
const TICK_MS = 200;

/**
 * Holds this control plane's leases in the lease bucket: announces it as a member, takes free
 * roles (its share of the partitions, and the scheduler when free), renews them with
 * compare-and-set, hands partitions on when a new member joins, and gives up a role it can no
 * longer prove it holds.
 *
 * Fencing: a lease is treated as lost two thirds of a TTL after the renewal that last succeeded
 * was sent. The server cannot expire it, and so nobody else can take it, sooner than a whole
 * TTL after that renewal arrived: the last third is the margin for in-flight messages and clock
 * rates. Every output for a role checks `holds(role)` first, so a process frozen past its lease
 * publishes nothing when it wakes up.
 */
export class LeaseKeeper {
  private readonly held = new Map<string, HeldLease>();
  private readonly view = new Map<string, SeenEntry>();
  /** When each free partition was first seen free (monotonic). */
  private readonly freeSince = new Map<number, number>();
  private readonly pendingKeys = new Set<string>();
  private readonly now: () => number;
  private readonly renewIntervalMs: number;
  private readonly fenceAfterMs: number;
  private readonly log: RateLimitedLog;
  private watch: QueuedIterator<KvWatchEntry> | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private lastRenewalAt = Number.NEGATIVE_INFINITY;
  /** Another live process runs under this control plane's id (a copied data dir): adopt nothing. */
  private duplicateSeen = false;
  private renewing = false;
  private closed = false;

  constructor(private readonly options: LeaseKeeperOptions) {
    this.now = options.now ?? MONOTONIC_CLOCK.now;
    this.renewIntervalMs = Math.floor(options.ttlMs / 4);
    this.fenceAfterMs = Math.floor((options.ttlMs * 2) / 3);
    this.log = new RateLimitedLog(options.logger);
  }

  /**
   * Announces this control plane, reads the bucket, and takes what is free for it: resolves once
   * those first roles are taken up (a lone control plane holds everything by then). The keeper
   * exists before: whatever takes up a role may already ask it (`holds`, `epochOf`).
   */
  async start(): Promise<void> {
    await this.announce();
    const { kv } = this.options;
    for await (const key of await kv.keys()) {
      const entry = await kv.get(key);
      if (entry) this.see(entry);
    }
    this.watch = await kv.watch({ key: '>' });
    void this.follow(this.watch);
    this.ticker = setInterval(() => void this.tick(), TICK_MS);
    await this.tick();
  }

  get controlPlaneId(): string {
    return this.options.member.controlPlaneId;
  }

  /** Whether this control plane may act for the role now: held, renewed in time, and ready. */
  holds(role: Role): boolean {
    const lease = this.held.get(leaseKeyOf(role));
    if (!lease?.ready) return false;
    if (this.now() < lease.validUntil) return true;
    // Not from inside the caller (an actor mid-transition): the loss forgets workers.
    setImmediate(() => this.lose(lease, 'expired'));
    return false;
  }

  /** The fencing token of a held role (undefined when not held). */
  epochOf(role: Role): number | undefined {
    return this.holds(role) ? this.held.get(leaseKeyOf(role))?.epoch : undefined;
  }

  /** The roles held now, with their epochs. */
  heldRoles(): Array<{ role: Role; epoch: number; ready: boolean }> {
    return [...this.held.values()].map(({ role, epoch, ready }) => ({ role, epoch, ready }));
  }

  /** Who holds each role, as this control plane's view of the bucket has it. */
  holderOf(role: Role): string | undefined {
    const entry = this.view.get(leaseKeyOf(role));
    return entry && this.isAlive(entry) ? entry.holder : undefined;
  }

  /** Live members, this one included. */
  liveMembers(): string[] {
    const members = new Set([this.controlPlaneId]);
    for (const [key, entry] of this.view) {
      if (key.startsWith(MEMBER_KEY_PREFIX) && this.isAlive(entry))
        members.add(key.slice(MEMBER_KEY_PREFIX.length));
    }
    return [...members].sort();
  }

  /** Gives every role up (their events flushed first) and stops; other members take over at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    this.watch?.stop();
    await Promise.all([...this.held.values()].map((lease) => this.release(lease, 'closing')));
    await this.options.kv.delete(memberKeyOf(this.controlPlaneId)).catch(() => {});
  }

  private async follow(watch: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const entry of watch) this.see(entry);
    } catch (error) {
      if (!this.closed) this.options.logger.warn(`lease bucket watch ended: ${(error as Error).message}`);
    }
  }

  private see(entry: KvEntry): void {
    if (entry.operation !== 'PUT') {
      this.view.delete(entry.key);
      return;
    }
    const holder = entry.key.startsWith(MEMBER_KEY_PREFIX)
      ? entry.key.slice(MEMBER_KEY_PREFIX.length)
      : decodeLeaseRecord(entry.value)?.holder;
    this.view.set(entry.key, {
      holder,
      revision: entry.revision,
      seenAt: this.now(),
      createdAt: entry.created.getTime(),
    });
  }

  /**
   * Expired, as far as we can tell: TTL since we saw it written, or since the server stored it by
   * its clock. Either suffices; when we guess too early, a `create` simply fails.
   */
  private isAlive(entry: SeenEntry): boolean {
    const ttl = this.options.ttlMs;
    return this.now() - entry.seenAt < ttl && Date.now() - entry.createdAt < ttl;
  }

  /** Resolves once the roles it started taking are taken up (or failed). */
  private async tick(): Promise<void> {
    if (this.closed) return;
    const now = this.now();
    for (const lease of [...this.held.values()]) {
      if (now >= lease.validUntil) this.lose(lease, 'expired');
    }
    if (!this.renewing && now - this.lastRenewalAt >= this.renewIntervalMs) void this.renew();
    await Promise.all(this.rebalance(now));
  }

  private rebalance(now: number): Promise<void>[] {
    const adoptions = this.adoptOwnLeases();
    const holders = new Map<number, string>();
    for (const partition of this.options.partitions) {
      const holder = this.holderOf({ kind: 'partition', partition });
      const mine = this.held.has(leaseKeyOf({ kind: 'partition', partition }));
      if (holder !== undefined || mine) {
        holders.set(partition, holder ?? this.controlPlaneId);
        this.freeSince.delete(partition);
      } else if (!this.freeSince.has(partition)) {
        this.freeSince.set(partition, now);
      }
    }
    const freeForMs = new Map([...this.freeSince].map(([partition, since]) => [partition, now - since]));
    const liveMembers = this.liveMembers();
    this.options.onWatchedPartitions?.(
      watchedPartitions({
        me: this.controlPlaneId,
        liveMembers,
        holders,
        partitions: this.options.partitions,
      }),
    );
    const moves = planMoves({
      me: this.controlPlaneId,
      liveMembers,
      holders,
      partitions: this.options.partitions,
      freeForMs,
      orphanAfterMs: this.options.ttlMs,
    });
    const acquisitions = [
      ...adoptions,
      ...moves.acquire.map((partition) => this.acquire({ kind: 'partition', partition })),
    ];
    for (const partition of moves.release) {
      const lease = this.held.get(leaseKeyOf({ kind: 'partition', partition }));
      // A partition still getting ready is handed on once it is.
      if (lease?.ready) void this.release(lease, 'released');
    }
    const scheduler: Role = { kind: 'scheduler' };
    if (this.holderOf(scheduler) === undefined && !this.held.has(leaseKeyOf(scheduler))) {
      acquisitions.push(this.acquire(scheduler));
    }
    return acquisitions;
  }

  /**
   * Leases the bucket says are ours but this process does not hold: a previous run of this
   * control plane (same data dir, same id) died holding them. Taken back at once rather than
   * after the TTL, with a new epoch. A second live process with the same id would take them
   * back in turn: that is refused once seen.
   */
  private adoptOwnLeases(): Promise<void>[] {
    if (this.duplicateSeen) return [];
    const adoptions: Promise<void>[] = [];
    for (const [key, entry] of this.view) {
      if (key.startsWith(MEMBER_KEY_PREFIX) || entry.holder !== this.controlPlaneId) continue;
      const role = roleOfKey(key);
      if (role && !this.held.has(key) && this.isAlive(entry))
        adoptions.push(this.acquire(role, entry.revision));
    }
    return adoptions;
  }

  /** Creates the lease, or (`previousRevision`) takes over our own from a previous run. */
  private async acquire(role: Role, previousRevision?: number): Promise<void> {
    const key = leaseKeyOf(role);
    if (this.pendingKeys.has(key) || this.held.has(key) || this.closed) return;
    this.pendingKeys.add(key);
    try {
      const sentAt = this.now();
      const acquiredAt = Date.now();
      const { kv } = this.options;
      const holder = this.controlPlaneId;
      const claim = encodeRecord({ holder, epoch: 0, acquiredAt });
      const created =
        previousRevision === undefined
          ? await kv.create(key, claim)
          : await kv.update(key, claim, previousRevision);
      // The creating revision is the epoch; the record says so for readers (`cloudai cluster status`).
      const revision = await kv.update(key, encodeRecord({ holder, epoch: created, acquiredAt }), created);
      if (this.closed) {
        await kv.delete(key, { previousSeq: revision }).catch(() => {});
        return;
      }
      const lease: HeldLease = {
        role,
        key,
        epoch: created,
        revision,
        validUntil: sentAt + this.fenceAfterMs,
        // A partition's workers are restored before anything is judged; the scheduler fences
        // its own writes while it starts.
        ready: role.kind === 'scheduler',
      };
      this.held.set(key, lease);
      this.options.logger.info(`took ${describeRole(role)} (epoch ${created})`);
      try {
        await this.options.onAcquired(role, created);
        if (this.held.get(key) === lease) lease.ready = true;
      } catch (error) {
        this.options.logger.warn(
          `could not take up ${describeRole(role)}: ${(error as Error).message}; handing it on`,
        );
        if (this.held.get(key) === lease) await this.release(lease, 'released');
      }
    } catch (error) {
      // Somebody else was faster (or the bucket is unreachable for now): the next tick looks again.
      if (!isWrongRevision(error))
        this.log.warn(`acquire-${key}`, `could not take ${describeRole(role)}: ${(error as Error).message}`);
    } finally {
      this.pendingKeys.delete(key);
    }
  }

  private async renew(): Promise<void> {
    this.renewing = true;
    const startedAt = this.now();
    let renewedAll = false;
    try {
      const outcomes = await Promise.all([
        this.announce(),
        ...[...this.held.values()].map((lease) => this.renewLease(lease)),
      ]);
      renewedAll = outcomes.every(Boolean);
    } finally {
      // A failed renewal (the bucket's stream electing a leader after a server died) is tried
      // again at the next tick rather than a renewal interval later: the fence is close by then.
      this.lastRenewalAt = renewedAll ? startedAt : Number.NEGATIVE_INFINITY;
      this.renewing = false;
    }
  }

  /** False when the bucket did not answer. */
  private async announce(): Promise<boolean> {
    const { kv, member } = this.options;
    try {
      await kv.put(memberKeyOf(member.controlPlaneId), encodeRecord(member));
      return true;
    } catch (error) {
      this.log.warn(
        'announce',
        `could not renew this control plane's membership: ${(error as Error).message}`,
      );
      return false;
    }
  }

  /** False when the bucket did not answer (worth trying again soon). */
  private async renewLease(lease: HeldLease): Promise<boolean> {
    const sentAt = this.now();
    try {
      const revision = await this.options.kv.update(
        lease.key,
        encodeRecord({ holder: this.controlPlaneId, epoch: lease.epoch, acquiredAt: Date.now() }),
        lease.revision,
      );
      // Lost meanwhile (fenced, or released): a late success changes nothing; the entry expires.
      if (this.held.get(lease.key) !== lease || this.now() >= lease.validUntil) return true;
      lease.revision = revision;
      lease.validUntil = sentAt + this.fenceAfterMs;
      return true;
    } catch (error) {
      if (this.held.get(lease.key) !== lease) return true;
      if (isWrongRevision(error)) {
        if (this.view.get(lease.key)?.holder === this.controlPlaneId) {
          this.duplicateSeen = true;
          this.options.logger.error(
            `another process runs as control plane ${this.controlPlaneId} (a copied data dir?): give each ` +
              `control plane its own data dir, or delete <data dir>/control-plane-id in one of them`,
          );
        }
        this.lose(lease, 'taken');
        return true;
      }
      this.log.warn(
        `renew-${lease.key}`,
        `could not renew ${describeRole(lease.role)}: ${(error as Error).message}`,
      );
      return false;
    }
  }

  private lose(lease: HeldLease, reason: LossReason): void {
    if (this.held.get(lease.key) !== lease) return;
    this.held.delete(lease.key);
    this.options.logger.warn(
      `gave up ${describeRole(lease.role)} (epoch ${lease.epoch}): ${reason === 'expired' ? 'not renewed in time' : 'another control plane holds it'}`,
    );
    try {
      void this.options.onLost(lease.role, reason);
    } catch (error) {
      this.options.logger.error(
        `stopping ${describeRole(lease.role)} failed: ${(error as Error).stack ?? error}`,
      );
    }
  }

  /** Stops acting for the role, waits for its last events, then frees the lease for the next holder. */
  private async release(lease: HeldLease, reason: 'released' | 'closing'): Promise<void> {
    if (this.held.get(lease.key) !== lease) return;
    this.held.delete(lease.key);
    // Still ours in the bucket until deleted: not to be taken back as a previous run's meanwhile.
    this.pendingKeys.add(lease.key);
    try {
      await this.options.onLost(lease.role, reason);
    } catch (error) {
      this.options.logger.error(
        `stopping ${describeRole(lease.role)} failed: ${(error as Error).stack ?? error}`,
      );
    }
    // Freed only if still ours by revision: a lease that lapsed meanwhile may be someone else's now.
    await this.options.kv.delete(lease.key, { previousSeq: lease.revision }).catch(() => {});
    this.view.delete(lease.key);
    this.pendingKeys.delete(lease.key);
    if (reason === 'released') this.options.logger.info(`handed ${describeRole(lease.role)} on`);
  }
}
