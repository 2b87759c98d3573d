import { jetstreamManager, type StreamInfo } from '@nats-io/jetstream';
import { type LeaseTable, readLeaseBucket, readLeaseTable } from '../../control-plane/leases/lease-bucket.js';
import { ALL_PARTITIONS } from '../../streams/contracts/partitions.js';
import { TASK_LOGS_STREAM, TASKS_STREAM, WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import { isTimeout, retryWhileTimingOut } from '../../streams/nats/jetstream-retry.js';
import { createConsoleLogger } from '../../streams/util/logger.js';
import { UserFacingError } from '../../streams/util/user-error.js';
import { type ConfigOverrides, resolveClientConfig } from '../config.js';
import { connectAsCli } from '../credentials.js';

export interface ClusterStatusOptions {
  json?: boolean;
}

interface ControlPlaneStatus {
  controlPlaneId: string;
  host: string;
  pid: number;
  startedAt: number;
  announcedAgoMs: number;
  partitions: Array<{ partition: number; epoch: number; renewedAgoMs: number }>;
  scheduler: { epoch: number; renewedAgoMs: number } | null;
}

interface StreamStatus {
  stream: string;
  replicas: number;
  leader: string | null;
  peers: Array<{ server: string; current: boolean; lagMessages: number }>;
}

export interface ClusterStatus {
  controlPlanes: ControlPlaneStatus[];
  /** Partitions nobody holds: their workers are judged by no one until a control plane takes them. */
  unheldPartitions: number[];
  /** Whether any control plane holds the scheduler. */
  schedulerHeld: boolean;
  nats: { server: string; cluster: string | null; connectUrls: string[] };
  streams: StreamStatus[];
}

/** `cloudai cluster status`: the control planes and their roles, the NATS servers, the streams' replicas. */
export async function clusterStatusCommand(
  options: ClusterStatusOptions,
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveClientConfig(overrides);
  const nc = await connectAsCli(config, 'cloudai-cluster-status');
  // Right after a server is lost, the bucket and the streams it led answer only once their
  // replicas have elected a new leader: a status is most wanted just then, so it waits for that.
  const logger = createConsoleLogger('cluster');
  try {
    const table: LeaseTable = await retryWhileTimingOut(
      "reading the control planes' leases",
      async () => {
        const kv = await readLeaseBucket(nc);
        return kv ? await readLeaseTable(kv) : { members: [], leases: [] };
      },
      logger,
    );
    const jsm = await jetstreamManager(nc);
    const streams: StreamStatus[] = [];
    for (const name of [WORKER_EVENTS_STREAM, TASKS_STREAM, TASK_LOGS_STREAM]) {
      const info = await retryWhileTimingOut(
        `reading stream ${name}`,
        () => jsm.streams.info(name),
        logger,
      ).catch((error: unknown) => {
        if (isTimeout(error)) throw error;
        return undefined; // not created yet
      });
      if (info) streams.push(streamStatusOf(name, info));
    }
    const info = nc.info;
    const status = statusOf(
      table,
      {
        server: info?.server_name ?? 'unknown',
        cluster: info?.cluster ?? null,
        connectUrls: info?.connect_urls ?? [],
      },
      streams,
    );
    if (options.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    else process.stdout.write(renderClusterStatus(status));
  } catch (error) {
    if (!isTimeout(error)) throw error;
    throw new UserFacingError(
      `JetStream did not answer in time (${(error as Error).message}): if a NATS server was just lost, ` +
        'its streams are still electing new leaders; run `cloudai cluster status` again in a few seconds',
    );
  } finally {
    await nc.close();
  }
}

function statusOf(table: LeaseTable, nats: ClusterStatus['nats'], streams: StreamStatus[]): ClusterStatus {
  const byId = new Map<string, ControlPlaneStatus>();
  for (const member of table.members) {
    byId.set(member.controlPlaneId, {
      controlPlaneId: member.controlPlaneId,
      host: member.host,
      pid: member.pid,
      startedAt: member.startedAt,
      announcedAgoMs: member.announcedAgoMs,
      partitions: [],
      scheduler: null,
    });
  }
  const held = new Set<number>();
  let schedulerHeld = false;
  for (const lease of table.leases) {
    const controlPlane = byId.get(lease.holder);
    if (lease.role.kind === 'scheduler') schedulerHeld = true;
    else held.add(lease.role.partition);
    if (!controlPlane) continue;
    const { epoch, renewedAgoMs } = lease;
    if (lease.role.kind === 'scheduler') controlPlane.scheduler = { epoch, renewedAgoMs };
    else controlPlane.partitions.push({ partition: lease.role.partition, epoch, renewedAgoMs });
  }
  for (const controlPlane of byId.values()) controlPlane.partitions.sort((a, b) => a.partition - b.partition);
  return {
    controlPlanes: [...byId.values()],
    unheldPartitions: ALL_PARTITIONS.filter((partition) => !held.has(partition)),
    schedulerHeld,
    nats,
    streams,
  };
}

function streamStatusOf(name: string, info: StreamInfo): StreamStatus {
  const cluster = info.cluster;
  const peers = [
    ...(cluster?.leader ? [{ server: cluster.leader, current: true, lagMessages: 0 }] : []),
    ...(cluster?.replicas ?? []).map((replica) => ({
      server: replica.name,
      current: replica.current,
      lagMessages: replica.lag ?? 0,
    })),
  ];
  return { stream: name, replicas: info.config.num_replicas, leader: cluster?.leader ?? null, peers };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function renderClusterStatus(status: ClusterStatus): string {
  const lines: string[] = [];
  if (status.controlPlanes.length === 0) {
    lines.push(
      'no control plane is running against this NATS (none has announced itself in the last lease TTL)',
    );
  }
  for (const controlPlane of status.controlPlanes) {
    const roles: string[] = [];
    if (controlPlane.partitions.length > 0) {
      const oldest = Math.max(...controlPlane.partitions.map((lease) => lease.renewedAgoMs));
      roles.push(
        `partitions ${controlPlane.partitions.map((lease) => lease.partition).join(',')} (renewed within ${seconds(oldest)})`,
      );
    }
    if (controlPlane.scheduler)
      roles.push(`scheduler (renewed ${seconds(controlPlane.scheduler.renewedAgoMs)} ago)`);
    lines.push(
      `${controlPlane.controlPlaneId}  ${controlPlane.host} pid ${controlPlane.pid}: ${roles.length > 0 ? roles.join('; ') : 'standby, holds nothing'}`,
    );
  }
  if (status.unheldPartitions.length > 0) {
    lines.push(
      `partitions held by nobody: ${status.unheldPartitions.join(',')} (their workers are not judged until a control plane takes them)`,
    );
  }
  if (!status.schedulerHeld)
    lines.push('nobody runs the scheduler: tasks wait until a control plane takes it');
  const { nats } = status;
  lines.push(
    `NATS: connected to ${nats.server}${nats.cluster ? ` in cluster ${nats.cluster}` : ''}` +
      (nats.connectUrls.length > 0 ? `; servers: ${nats.connectUrls.join(', ')}` : ''),
  );
  for (const stream of status.streams) {
    const peers = stream.peers
      .map((peer) => `${peer.server}${peer.current ? '' : ` (behind by ${peer.lagMessages})`}`)
      .join(', ');
    lines.push(
      `stream ${stream.stream}: ${stream.replicas} replica${stream.replicas === 1 ? '' : 's'}` +
        (stream.leader ? `, leader ${stream.leader}; on ${peers}` : ''),
    );
  }
  return `${lines.join('\n')}\n`;
}
