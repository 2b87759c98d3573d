import { randomBytes } from 'node:crypto';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  StorageType,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

/** Replicas of a stream (or key-value bucket) on a cluster that can hold them: the loss of any one server keeps it. */
export const CLUSTER_REPLICAS = 3;

/**
 * Each asker probes with a stream of its own: control planes starting together, each adding and
 * deleting one shared probe, kept timing each other out.
 */
function probeStream() {
  const id = randomBytes(6).toString('hex');
  return {
    name: `CLOUDAI_REPLICAS_PROBE_${id}`,
    subjects: [`cloudai.replicas-probe.${id}`],
    storage: StorageType.Memory,
    num_replicas: CLUSTER_REPLICAS,
    max_msgs: 1,
  };
}

/** nats-server's answers when it cannot place that many replicas: too few peers, none at all, a lone server. */
const CANNOT_PLACE = new Set([
  10005, // no suitable peers for placement (a cluster of fewer JetStream servers)
  10023, // insufficient resources
  10074, // replicas > 1 not supported in non-clustered mode
]);

/** One answer per manager: a starting control plane asks for each of its streams and its bucket. */
const answers = new WeakMap<JetStreamManager, Promise<number>>();

/**
 * The replicas new streams and buckets get: 3 when the cluster has three or more JetStream
 * servers, else 1. The server's INFO cannot tell (its `connect_urls` lists the servers routed
 * right now, JetStream or not) and the meta group's peers are only shown to the system
 * account, so we ask JetStream itself to place a three-replica stream and delete it: it is
 * refused on a lone server or a smaller cluster, and placed when one of three peers is down.
 */
export function replicasFor(jsm: JetStreamManager): Promise<number> {
  let answer = answers.get(jsm);
  if (!answer) {
    answer = probeReplicas(jsm);
    answers.set(jsm, answer);
    // A failure (an election under way) is not kept: the next caller asks again.
    answer.catch(() => answers.delete(jsm));
  }
  return answer;
}

/**
 * While the meta group elects a leader (a server was lost), a JetStream request is lost rather
 * than slow: waiting the default 5 s for each left a starting control plane asking only a few
 * times in its retry window, and sometimes never answered.
 */
const ASK_AGAIN_TIMEOUT_MS = 2_000;

/**
 * `replicasFor` asked on a manager of its own with a short timeout, for callers that ask again
 * until they get an answer (a starting control plane, a forming cluster).
 */
export async function replicasForRetrying(nc: NatsConnection): Promise<number> {
  return replicasFor(await jetstreamManager(nc, { timeout: ASK_AGAIN_TIMEOUT_MS }));
}

async function probeReplicas(jsm: JetStreamManager): Promise<number> {
  const probe = probeStream();
  let placed: number;
  try {
    // Its own stream: a refusal or a placement answers for this asker alone.
    placed = (await jsm.streams.add(probe)).config.num_replicas;
  } catch (error) {
    if (error instanceof JetStreamApiError && CANNOT_PLACE.has(error.code)) return 1;
    throw error;
  }
  try {
    await jsm.streams.delete(probe.name);
  } catch (error) {
    // Already gone is fine; any other failure is thrown (the stream, of memory storage, is one message at most).
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
  }
  // A server that lowers the count instead of refusing it says so in the config it kept.
  return placed >= CLUSTER_REPLICAS ? CLUSTER_REPLICAS : 1;
}

/**
 * What to tell the operator when an existing stream's replicas differ from what the cluster
 * would give a new one; undefined when they agree. The stream is left as it is: changing the
 * replicas of a live stream is the operator's decision.
 */
export function replicaMismatchWarning(stream: string, existing: number, wanted: number): string | undefined {
  if (existing === wanted) return undefined;
  return (
    `stream ${stream} has ${existing} replica${existing === 1 ? '' : 's'} while this NATS ` +
    `${wanted > 1 ? `cluster has ${wanted} or more JetStream servers` : 'server runs JetStream alone or in a cluster of fewer than 3'}: ` +
    `it is left as it is (its data too); change it with \`nats stream edit ${stream} --replicas ${wanted}\` ` +
    '(docs/high-availability.md)'
  );
}
