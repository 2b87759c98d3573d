import type { NatsConnection } from '@nats-io/transport-node';
import type { OperatorReply } from '../streams/contracts/operator-requests.js';
import { operatorReplySchema } from '../streams/contracts/operator-requests.js';
import { partitionOf } from '../streams/contracts/partitions.js';
import { decodeJson } from '../streams/util/json-codec.js';
import type { LeaseKeeper } from './leases/lease-keeper.js';

/** Where a control plane hears requests meant for it alone: forwarded ones, for workers it holds. */
export function directSubjectOf(controlPlaneId: string, subject: string): string {
  return `cloudai.control-planes.${controlPlaneId}.${subject}`;
}

export interface PartitionRouterOptions {
  nc: NatsConnection;
  leases: LeaseKeeper;
  /** How long a forwarded request waits for the holder's answer. */
  timeoutMs: number;
}

/**
 * Requests about one worker (cordon, drain, leave…) reach any control plane (one queue group);
 * only the holder of the worker's partition may act on it, so the others forward the request
 * there and pass the answer back.
 */
export class PartitionRouter {
  constructor(private readonly options: PartitionRouterOptions) {}

  directSubject(subject: string): string {
    return directSubjectOf(this.options.leases.controlPlaneId, subject);
  }

  /** Whether this control plane judges the worker now. */
  isLocal(workerId: string): boolean {
    return this.options.leases.holds({ kind: 'partition', partition: partitionOf(workerId) });
  }

  /** Sends the request to the holder of the worker's partition and returns its answer. */
  async forward(workerId: string, subject: string, payload: Uint8Array): Promise<OperatorReply> {
    const partition = partitionOf(workerId);
    const { leases } = this.options;
    const holder = leases.holderOf({ kind: 'partition', partition });
    if (holder === undefined || holder === leases.controlPlaneId) {
      return {
        ok: false,
        error:
          `no control plane holds partition ${partition} (worker ${workerId}) right now: ` +
          'another takes it over once the lease of the last holder expires; retry in a few seconds',
      };
    }
    return this.ask(holder, subject, payload);
  }

  /** Sends the request to every other live control plane; their answers, in no particular order. */
  broadcast(subject: string, payload: Uint8Array): Promise<OperatorReply[]> {
    const { leases } = this.options;
    const others = leases.liveMembers().filter((member) => member !== leases.controlPlaneId);
    return Promise.all(others.map((member) => this.ask(member, subject, payload)));
  }

  private async ask(controlPlaneId: string, subject: string, payload: Uint8Array): Promise<OperatorReply> {
    try {
      const reply = await this.options.nc.request(directSubjectOf(controlPlaneId, subject), payload, {
        timeout: this.options.timeoutMs,
      });
      const decoded = decodeJson(reply.data, operatorReplySchema);
      return decoded.ok
        ? decoded.value
        : { ok: false, error: `control plane ${controlPlaneId} answered garbage: ${decoded.detail}` };
    } catch (error) {
      return {
        ok: false,
        error: `control plane ${controlPlaneId} did not answer (${(error as Error).message}): retry in a few seconds`,
      };
    }
  }
}
