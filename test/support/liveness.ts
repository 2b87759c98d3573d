import { SimulatedClock } from 'xstate';
import { Fleet } from '../../actors/fleet.js';
import type { KnownWorker } from '../../actors/liveness-machine.js';
import type {
  DisruptionSettings,
  FlapDampingSettings,
  LivenessSettings,
  SuspicionSettings,
} from '../../actors/liveness-settings.js';
import { DEFAULT_CONFIG } from '../../cli/config.js';
import { livenessSettingsOf } from '../../control-plane/settings.js';
import type { Heartbeat } from '../../streams/contracts/heartbeat.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';
import { heartbeat } from './heartbeats.js';

export interface LivenessOverrides {
  heartbeatTimeoutMs?: number;
  suspicion?: Partial<SuspicionSettings>;
  flapDamping?: Partial<FlapDampingSettings>;
  disruption?: Partial<DisruptionSettings>;
}

/** The configured defaults, with `overrides` on top. */
export function livenessSettings(overrides: LivenessOverrides = {}): LivenessSettings {
  const defaults = livenessSettingsOf(DEFAULT_CONFIG);
  return {
    heartbeatTimeoutMs: overrides.heartbeatTimeoutMs ?? defaults.heartbeatTimeoutMs,
    suspicion: { ...defaults.suspicion, ...overrides.suspicion },
    flapDamping: { ...defaults.flapDamping, ...overrides.flapDamping },
    disruption: { ...defaults.disruption, ...overrides.disruption },
  };
}

/** Settings under which nobody is ever suspect: for tests of the hard timeout alone. */
export function hardTimeoutOnly(heartbeatTimeoutMs: number): LivenessSettings {
  return livenessSettings({
    heartbeatTimeoutMs,
    suspicion: { suspectAfterMs: heartbeatTimeoutMs, minSamples: Number.MAX_SAFE_INTEGER },
  });
}

/** A worker as the read model recorded it, as `Fleet.restore` takes it: the test heartbeat's address and capacity. */
export function knownWorker(
  workerId: string,
  recorded: Pick<KnownWorker, 'status' | 'seq' | 'lastHeartbeatAt'> & Partial<KnownWorker>,
): KnownWorker {
  const { address, capacity } = heartbeat(workerId);
  return { workerId, address, capacity, flapping: false, cordoned: false, ...recorded };
}

/** A fleet on a SimulatedClock that records what it emits. */
export function startFleet(settings: LivenessSettings, maxWorkers = 100) {
  const clock = new SimulatedClock();
  const events: WorkerStreamEvent[] = [];
  const fleet = new Fleet({ settings, clock, maxWorkers, onEvent: (event) => events.push(event) });
  const beat = (workerId: string, overrides: Partial<Heartbeat> = {}) =>
    fleet.receiveHeartbeat(heartbeat(workerId, overrides), clock.now());
  /** Type, worker and seq of each event from `from` on: what most assertions compare. */
  const summary = (from = 0) =>
    events
      .slice(from)
      .map((event) => ['workerId' in event ? event.workerId : 'fleet', event.type, event.seq]);
  return { clock, events, fleet, beat, summary };
}
