import type { NatsConnection } from '@nats-io/transport-node';
import { type Config, resolveConfig } from '../../cli/config.js';
import { ControlPlane } from '../../control-plane/control-plane.js';
import type { Resources } from '../../projections/resources.js';
import type { TaskDocument } from '../../projections/task-document.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import { TASK_CANCEL_SUBJECT, TASK_SUBMIT_SUBJECT } from '../../streams/contracts/subjects.js';
import {
  type CancelReply,
  cancelReplySchema,
  type SubmitReply,
  submitReplySchema,
  type TaskRequest,
} from '../../streams/contracts/task-events.js';
import { connectToNats } from '../../streams/nats/connection.js';
import type { NatsServer } from '../../streams/nats/nats-server.js';
import { requestJson } from '../../streams/nats/request-reply.js';
import { type Logger, silentLogger } from '../../streams/util/logger.js';
import { HeartbeatPublisher } from '../../worker/heartbeat-publisher.js';
import { TaskAgent } from '../../worker/task-agent.js';
import { InjectedWorker } from './injected-workers.js';
import { makeTempDir, startTestNatsServer, waitFor } from './nats.js';

/** Short timings, so scenarios that take minutes in production take a second here. */
export const TEST_TIMINGS = {
  heartbeatTimeoutMs: 400,
  heartbeatIntervalMs: 100,
  assignTimeoutMs: 500,
  assignRetryAfterMs: 2_000,
  requestTimeoutMs: 6_000,
} as const;

/**
 * A cluster of real parts for one test: its own nats-server and data dir, the real control
 * plane (fleet, projectors, scheduler), and workers made of the real heartbeat publisher and
 * task agent, as `cloudai worker` wires them.
 */
export class TaskCluster {
  controlPlane!: ControlPlane;
  client!: NatsConnection;
  private workerConnection!: NatsConnection;
  private readonly workers = new Map<string, TaskWorker>();
  private readonly injectedWorkers: InjectedWorker[] = [];
  private taskCounter = 0;

  private constructor(
    readonly server: NatsServer,
    private readonly storeDir: ReturnType<typeof makeTempDir>,
    readonly dataDir: ReturnType<typeof makeTempDir>,
    readonly config: Config,
  ) {}

  static async start(overrides: Partial<Config> = {}): Promise<TaskCluster> {
    const storeDir = makeTempDir('nats');
    const dataDir = makeTempDir('data');
    const server = await startTestNatsServer(storeDir.path);
    const config = resolveConfig(
      { ...TEST_TIMINGS, ...overrides, natsUrl: server.url, dataDir: dataDir.path },
      {},
    );
    const cluster = new TaskCluster(server, storeDir, dataDir, config);
    cluster.client = await connectToNats({ url: server.url, name: 'test-client' });
    cluster.workerConnection = await connectToNats({ url: server.url, name: 'test-workers' });
    await cluster.startControlPlane();
    return cluster;
  }

  async startControlPlane(logger: (component: string) => Logger = () => silentLogger): Promise<void> {
    this.controlPlane = await ControlPlane.start({ settings: this.config, logger });
  }

  /** A worker with an agent; `taskMs` is how long its tasks without a command take. */
  async addWorker(workerId: string, capacity: Resources, options: { taskMs?: number; agent?: boolean } = {}) {
    const worker = new TaskWorker(this.workerConnection, workerId, capacity, {
      taskMs: options.taskMs ?? 300,
      intervalMs: this.config.heartbeatIntervalMs,
      agent: options.agent ?? true,
    });
    this.workers.set(workerId, worker);
    worker.start();
    await this.waitForWorker(workerId, 'active');
    return worker;
  }

  /**
   * A worker whose events the test writes (see InjectedWorker), registered and known to the
   * scheduler when this resolves; with a task agent unless `agent: false`.
   */
  async addInjectedWorker(
    workerId: string,
    capacity: Resources,
    options: { taskMs?: number; agent?: boolean } = {},
  ): Promise<InjectedWorker> {
    const worker = new InjectedWorker(this.workerConnection, workerId, capacity, options.taskMs ?? 300);
    this.injectedWorkers.push(worker);
    if (options.agent ?? true) worker.startAgent();
    await this.schedulerHas(await worker.register());
    return worker;
  }

  /** Waits until the scheduler has applied WORKER_EVENTS up to `streamSeq` (an event the test wrote). */
  async schedulerHas(streamSeq: number, timeoutMs = 3_000): Promise<void> {
    await waitFor(
      () => this.controlPlane.scheduler.workerPosition >= streamSeq,
      timeoutMs,
      `the scheduler to apply WORKER_EVENTS seq ${streamSeq}`,
    );
  }

  async waitForWorker(workerId: string, status: WorkerDocument['status'], timeoutMs = 3_000): Promise<void> {
    await waitFor(
      () => this.controlPlane.readModel.snapshot((view) => view.getWorker(workerId)?.status === status),
      timeoutMs,
      `${workerId} ${status}`,
    );
  }

  nextTaskId(): string {
    this.taskCounter++;
    return `t-${String(this.taskCounter).padStart(4, '0')}`;
  }

  /** Submits as `cloudai task submit` does. */
  async submit(task: Partial<TaskRequest> = {}, taskId = this.nextTaskId()): Promise<SubmitReply> {
    const reply = await requestJson(
      this.client,
      TASK_SUBMIT_SUBJECT,
      { taskId, task: { image: 'test:1', ...task } },
      submitReplySchema,
      this.config.requestTimeoutMs,
    );
    if (!reply.ok) throw new Error(`submit ${taskId}: ${reply.detail}`);
    return reply.value;
  }

  async cancel(taskId: string): Promise<CancelReply> {
    const reply = await requestJson(
      this.client,
      TASK_CANCEL_SUBJECT,
      { taskId },
      cancelReplySchema,
      this.config.requestTimeoutMs,
    );
    if (!reply.ok) throw new Error(`cancel ${taskId}: ${reply.detail}`);
    return reply.value;
  }

  task(taskId: string): TaskDocument | undefined {
    return this.controlPlane.readModel.snapshot((view) => view.getTask(taskId));
  }

  tasks(): TaskDocument[] {
    return this.controlPlane.readModel.snapshot((view) => view.listTasks());
  }

  worker(workerId: string): WorkerDocument | undefined {
    return this.controlPlane.readModel.snapshot((view) => view.getWorker(workerId));
  }

  async waitForTask(
    taskId: string,
    check: (task: TaskDocument) => boolean,
    what: string,
    timeoutMs = 5_000,
  ): Promise<TaskDocument> {
    await waitFor(
      () => {
        const task = this.task(taskId);
        return task !== undefined && check(task);
      },
      timeoutMs,
      `${taskId} ${what}`,
    );
    return this.task(taskId) as TaskDocument;
  }

  async close(): Promise<void> {
    for (const worker of this.workers.values()) await worker.stop();
    for (const worker of this.injectedWorkers) await worker.stopAgent();
    await this.controlPlane?.close();
    await this.workerConnection?.close();
    await this.client?.close();
    await this.server.stop();
    this.storeDir.remove();
    this.dataDir.remove();
  }
}

/** Runs `body` against a fresh cluster, and always cleans it up. */
export async function withTaskCluster(
  overrides: Partial<Config>,
  body: (cluster: TaskCluster) => Promise<void>,
): Promise<void> {
  const cluster = await TaskCluster.start(overrides);
  try {
    await body(cluster);
  } finally {
    await cluster.close();
  }
}

/** One `cloudai worker`: heartbeats, and (unless `agent: false`) the task agent. */
export class TaskWorker {
  agent: TaskAgent | undefined;
  private readonly heartbeats: HeartbeatPublisher;

  constructor(
    private readonly nc: NatsConnection,
    readonly workerId: string,
    readonly capacity: Resources,
    private readonly options: { taskMs: number; intervalMs: number; agent: boolean },
  ) {
    this.heartbeats = new HeartbeatPublisher({
      nc,
      workerId,
      intervalMs: options.intervalMs,
      address: `${workerId}.test:50052`,
      capacity,
      usage: () => ({ cpu: 0, memory: 0, storage: 0, gpu: 0 }),
      runningTasks: () => this.agent?.runningTasks() ?? [],
    });
  }

  /** Starts (or restarts, with a fresh agent that remembers nothing) the worker. */
  start(): void {
    if (this.options.agent && !this.agent) {
      this.agent = new TaskAgent({
        nc: this.nc,
        workerId: this.workerId,
        capacity: this.capacity,
        simulateMs: this.options.taskMs,
        logger: silentLogger,
      });
      this.agent.start();
    }
    this.heartbeats.start();
  }

  /** Heartbeats stop but the agent keeps working: a network partition, or a frozen monitor link. */
  silence(): void {
    this.heartbeats.stop();
  }

  resume(): void {
    this.heartbeats.start();
  }

  /** The process stops: no heartbeats, its tasks stop without a report. */
  async stop(): Promise<void> {
    this.heartbeats.stop();
    await this.agent?.close();
    this.agent = undefined;
  }
}
