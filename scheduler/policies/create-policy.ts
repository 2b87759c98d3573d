import type { PlacementPolicy, PolicyName } from './policy.js';
import { createRoundRobinPolicy } from './round-robin.js';
import { createRtsPolicy } from './rts.js';
import type { RtsParams } from './rts-params.js';

/** The policy `cloudai serve --policy` names; RTS falls back to a round-robin of its own. */
export function createPolicy(name: PolicyName, rtsParams: RtsParams): PlacementPolicy {
  return name === 'rts' ? createRtsPolicy(rtsParams, createRoundRobinPolicy()) : createRoundRobinPolicy();
}
