import type { StreamLag } from './projector-lag.js';

/** Where the check learns the read model's lag (a ProjectorLagProbe); it may reject. */
export interface LagSource {
  measure(): Promise<StreamLag[]>;
}

/**
 * Events the read model may be behind a stream and still count as caught up: the projector
 * applies tens of thousands of events a second, so this is a few milliseconds of work.
 */
export const HEALTHY_PROJECTOR_LAG = 1_000;

export interface HealthReport {
  ok: boolean;
  nats: 'connected' | 'disconnected';
  /** The read model's lag behind each stream it follows; null when it could not be measured. */
  projector: { lag: number; streams: StreamLag[] } | null;
  /** What is wrong, in words; empty when `ok`. */
  problems: string[];
  /** What this control plane leads: the partitions it judges, whether it schedules; null while starting. */
  roles: { controlPlaneId: string; partitions: number[]; scheduler: boolean } | null;
}

/**
 * `/healthz`: healthy while NATS is connected and the read model keeps up with its streams.
 * Keeping up means a lag of at most `maxLag` events, or a lag smaller than at the previous
 * check: a projector working through a burst is healthy, one that is stuck or falling
 * further behind is not.
 */
export class HealthCheck {
  private probe?: LagSource;
  private roles?: () => { controlPlaneId: string; partitions: number[]; scheduler: boolean };
  private readonly previousLag = new Map<string, number>();

  constructor(
    private readonly connection: { readonly isConnected: boolean },
    private readonly maxLag = HEALTHY_PROJECTOR_LAG,
  ) {}

  /** The read model has caught up once at start; from now on its lag is measured. */
  attach(
    probe: LagSource,
    roles?: () => { controlPlaneId: string; partitions: number[]; scheduler: boolean },
  ): void {
    this.probe = probe;
    this.roles = roles;
  }

  async check(): Promise<HealthReport> {
    const nats = this.connection.isConnected ? 'connected' : 'disconnected';
    if (nats === 'disconnected') {
      return {
        ok: false,
        nats,
        projector: null,
        roles: this.rolesNow(),
        problems: ['not connected to NATS: no heartbeats arrive and no events are stored until it is back'],
      };
    }
    if (!this.probe) {
      return {
        ok: false,
        nats,
        projector: null,
        roles: null,
        problems: ['starting: the read model is catching up with the streams'],
      };
    }
    let streams: StreamLag[];
    try {
      streams = await this.probe.measure();
    } catch (error) {
      return {
        ok: false,
        nats,
        projector: null,
        roles: this.rolesNow(),
        problems: [`cannot measure the read model's lag: ${(error as Error).message}`],
      };
    }
    const problems: string[] = [];
    for (const { stream, lag } of streams) {
      const previous = this.previousLag.get(stream);
      this.previousLag.set(stream, lag);
      if (lag <= this.maxLag || (previous !== undefined && lag < previous)) continue;
      problems.push(
        `the read model is ${lag} events behind ${stream}` +
          (previous === undefined ? '' : ` (${previous} at the previous check): it is not catching up`),
      );
    }
    const lag = streams.reduce((total, stream) => total + stream.lag, 0);
    return { ok: problems.length === 0, nats, projector: { lag, streams }, problems, roles: this.rolesNow() };
  }

  private rolesNow(): HealthReport['roles'] {
    const roles = this.roles?.();
    return roles
      ? { controlPlaneId: roles.controlPlaneId, partitions: roles.partitions, scheduler: roles.scheduler }
      : null;
  }
}
