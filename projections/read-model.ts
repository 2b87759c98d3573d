import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { UserFacingError } from '../streams/util/user-error.js';
import { type DisruptionDocument, NO_DISRUPTION } from './disruption-document.js';
import { NO_RESOURCES, type Resources, sumResources } from './resources.js';
import type { TaskDocument } from './task-document.js';
import { isFreshUptime, type UptimeRecord } from './uptime.js';
import type { WorkerAllocation, WorkerDocument } from './worker-document.js';
import type { PartitionEpochs } from './writer-fence.js';

export interface ReadModelOptions {
  /** The data dir; the LMDB environment lives in `<dataDir>/readmodel`. */
  dataDir: string;
  /** The CLI opens read-only: it can never disturb the projector, and sees only committed batches. */
  readOnly?: boolean;
}

export class ReadModelMissingError extends UserFacingError {
  constructor(
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(
      `no read model at ${path}: start the control plane with \`cloudai up\` (or \`cloudai serve\`), ` +
        'or point CLOUDAI_DATA_DIR (or --data-dir) at its data dir',
      options,
    );
    this.name = 'ReadModelMissingError';
  }
}

/** Where LMDB keeps the shared structures of the `workers` documents (outside the range of worker ids). */
const SHARED_STRUCTURES_KEY = Symbol.for('structures');

/** Keys of the `meta` database: `position/<stream>` → last stream sequence applied. */
function positionKey(stream: string): string {
  return `position/${stream}`;
}

/** `disruption` → the DisruptionDocument folded from the disruption events of WORKER_EVENTS. */
const DISRUPTION_KEY = 'disruption';
const PARTITION_EPOCHS_KEY = 'partition-epochs';
const SCHEDULER_EPOCH_KEY = 'scheduler-epoch';

/** `applied/<stream>` → how many events of the stream were folded in: each counts once, ever. */
function appliedKey(stream: string): string {
  return `applied/${stream}`;
}

export interface WorkerReadOptions {
  /** false: without the uptime record (the projector's and the scheduler's reads). */
  uptime?: boolean;
}

export function readModelPath(dataDir: string): string {
  return join(dataDir, 'readmodel');
}

const MAX_DATABASES = 8;
const DATABASE_NAMES = ['workers', 'uptime', 'tasks', 'worker-tasks', 'meta'] as const;

/**
 * Creates a new environment with all its databases in a scratch folder and moves it into
 * place in one rename: a reader that finds `data.mdb` always finds the databases too (a
 * read-only open of an environment without them fails, and poisons later opens of that path
 * in the same process).
 */
function createEnvironment(path: string): void {
  const scratch = `${path}-creating-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const root = open({ path: scratch, maxDbs: MAX_DATABASES });
  root.transactionSync(() => {
    for (const name of DATABASE_NAMES) root.openDB({ name });
  });
  root.close();
  rmSync(path, { recursive: true, force: true });
  mkdirSync(dirname(path), { recursive: true });
  renameSync(scratch, path);
}

function valuesOf<Document>(database: Database<Document, string>): Document[] {
  const documents: Document[] = [];
  for (const { value } of database.getRange()) documents.push(value);
  return documents;
}

/** Key of the `worker-tasks` index: ids never contain `/`, and `0` is the character after it. */
function holdingKey(workerId: string, taskId: string): string {
  return `${workerId}/${taskId}`;
}

/**
 * The LMDB read model: documents by id plus the stream positions they reflect. Writers
 * change both in one transaction (`write`), so a reader in another process sees either all
 * of a batch or none of it.
 */
export class ReadModel {
  private constructor(
    private readonly root: RootDatabase,
    readonly workers: Database<WorkerDocument, string>,
    /** workerId → its uptime record, kept apart from the document (see `getWorker`). */
    private readonly uptime: Database<UptimeRecord, string>,
    readonly tasks: Database<TaskDocument, string>,
    /** `<workerId>/<taskId>` → requests of each task assigned to or running on a worker. */
    private readonly workerTasks: Database<Resources, string>,
    private readonly meta: Database<number | DisruptionDocument | PartitionEpochs, string>,
    readonly path: string,
  ) {}

  static open(options: ReadModelOptions): ReadModel {
    const path = readModelPath(options.dataDir);
    if (options.readOnly && !existsSync(join(path, 'data.mdb'))) throw new ReadModelMissingError(path);
    if (!options.readOnly && !existsSync(join(path, 'data.mdb'))) createEnvironment(path);
    const root = open({ path, readOnly: options.readOnly ?? false, maxDbs: MAX_DATABASES });
    try {
      const workers = root.openDB<WorkerDocument, string>({
        name: 'workers',
        // Documents share one stored description of their fields instead of each carrying it:
        // smaller and faster to write, and the projector rewrites one per heartbeat sample
        // (bench/README.md). Documents written without it still read.
        sharedStructuresKey: SHARED_STRUCTURES_KEY,
      });
      const uptime = root.openDB<UptimeRecord, string>({
        name: 'uptime',
        sharedStructuresKey: SHARED_STRUCTURES_KEY,
      });
      const tasks = root.openDB<TaskDocument, string>({ name: 'tasks' });
      const workerTasks = root.openDB<Resources, string>({ name: 'worker-tasks' });
      const meta = root.openDB<number | DisruptionDocument | PartitionEpochs, string>({ name: 'meta' });
      return new ReadModel(root, workers, uptime, tasks, workerTasks, meta, path);
    } catch (error) {
      // Read-only, a database the control plane has not created yet cannot be opened (a read
      // model being created, or one written before tasks existed): say so, and leave nothing open.
      void root.close();
      if (options.readOnly) throw new ReadModelMissingError(path, { cause: error });
      throw error;
    }
  }

  position(stream: string): number {
    return this.number(positionKey(stream));
  }

  /** Events of `stream` folded into this read model so far (an audit of exactly-once delivery). */
  appliedCount(stream: string): number {
    return this.number(appliedKey(stream));
  }

  /** Whether the fleet is in disruption mode, as far as the applied events tell. */
  disruption(): DisruptionDocument {
    const stored = this.meta.get(DISRUPTION_KEY);
    return typeof stored === 'object' ? (stored as DisruptionDocument) : NO_DISRUPTION;
  }

  /** The newest epoch of each partition, as the PartitionTaken markers applied so far say. */
  partitionEpochs(): PartitionEpochs {
    const stored = this.meta.get(PARTITION_EPOCHS_KEY);
    return typeof stored === 'object' && stored !== null ? (stored as PartitionEpochs) : {};
  }

  putPartitionEpochs(epochs: PartitionEpochs): void {
    void this.meta.put(PARTITION_EPOCHS_KEY, epochs);
  }

  /** The newest scheduler epoch, as the SchedulerTaken markers applied so far say. */
  schedulerEpoch(): number {
    return this.number(SCHEDULER_EPOCH_KEY);
  }

  putSchedulerEpoch(epoch: number): void {
    void this.meta.put(SCHEDULER_EPOCH_KEY, epoch);
  }

  private number(key: string): number {
    const stored = this.meta.get(key);
    return typeof stored === 'number' ? stored : 0;
  }

  /**
   * A worker's document. Its uptime record is stored apart, because the projector rewrites the
   * document for every heartbeat sample and the record changes only with the status.
   * `{ uptime: false }` leaves it out, for readers that do not need it.
   */
  getWorker(workerId: string, options: WorkerReadOptions = {}): WorkerDocument | undefined {
    const document = this.workers.get(workerId);
    if (!document || options.uptime === false) return document;
    const uptime = this.uptime.get(workerId);
    if (uptime) document.uptime = uptime;
    return document;
  }

  /** A worker's uptime record alone (undefined for a document written before there were any). */
  getUptime(workerId: string): UptimeRecord | undefined {
    return this.uptime.get(workerId);
  }

  /** All workers, sorted by id (LMDB keeps keys in byte order), with their uptime records unless told not to. */
  listWorkers(options: WorkerReadOptions = {}): WorkerDocument[] {
    const documents = valuesOf(this.workers);
    if (options.uptime === false) return documents;
    // Both databases are in id order: one pass over each.
    let index = 0;
    for (const { key, value } of this.uptime.getRange()) {
      while (index < documents.length && (documents[index] as WorkerDocument).workerId < key) index++;
      const document = documents[index];
      if (document?.workerId === key) document.uptime = value;
    }
    return documents;
  }

  getTask(taskId: string): TaskDocument | undefined {
    return this.tasks.get(taskId);
  }

  /** All tasks, in id order. */
  listTasks(): TaskDocument[] {
    return valuesOf(this.tasks);
  }

  /** Whether any task is assigned to or running on any worker; inside `write`, includes its changes. */
  holdsAnyTask(): boolean {
    for (const _ of this.workerTasks.getKeys({ limit: 1 })) return true;
    return false;
  }

  /** What the tasks assigned to or running on a worker hold there; inside `write`, includes its changes. */
  allocationOf(workerId: string): WorkerAllocation {
    const taskIds: string[] = [];
    const requests: Resources[] = [];
    for (const { key, value } of this.workerTasks.getRange({
      start: holdingKey(workerId, ''),
      end: `${workerId}0`,
    })) {
      taskIds.push(key.slice(workerId.length + 1));
      requests.push(value);
    }
    return { allocated: taskIds.length > 0 ? sumResources(requests) : NO_RESOURCES, taskIds };
  }

  /**
   * A consistent view of the latest committed state: every read inside `read` uses one
   * LMDB snapshot, taken now (not the one an earlier call in this process saw).
   */
  snapshot<T>(read: (view: ReadModel) => T): T {
    this.root.resetReadTxn();
    return read(this);
  }

  /**
   * Runs `change` in one asynchronous write transaction and resolves once it is committed
   * and durable. Only reads and the writing methods (`put…`, `remove…`, `hold…`, `release…`,
   * `setPosition`, `countApplied`) may be used inside.
   */
  write<T>(change: () => T): Promise<T> {
    return this.root.transaction(change);
  }

  /**
   * Stores a document; its uptime record too when it carries one (see `getWorker`), unless the
   * record says nothing the document does not (a worker still in the stretch it registered in:
   * most of a steady fleet), which `uptimeOf` rebuilds when read.
   */
  putWorker(document: WorkerDocument): void {
    if (document.uptime === undefined) {
      void this.workers.put(document.workerId, document);
      return;
    }
    const { uptime, ...rest } = document;
    void this.workers.put(document.workerId, rest);
    if (!isFreshUptime(uptime, { status: document.status, since: document.statusSince })) {
      void this.uptime.put(document.workerId, uptime);
    } else if (this.uptime.doesExist(document.workerId)) {
      void this.uptime.remove(document.workerId);
    }
  }

  removeWorker(workerId: string): void {
    void this.workers.remove(workerId);
    void this.uptime.remove(workerId);
  }

  putTask(document: TaskDocument): void {
    void this.tasks.put(document.taskId, document);
  }

  holdTask(workerId: string, taskId: string, requests: Resources): void {
    void this.workerTasks.put(holdingKey(workerId, taskId), requests);
  }

  releaseTask(workerId: string, taskId: string): void {
    void this.workerTasks.remove(holdingKey(workerId, taskId));
  }

  putDisruption(document: DisruptionDocument): void {
    void this.meta.put(DISRUPTION_KEY, document);
  }

  setPosition(stream: string, streamSeq: number): void {
    void this.meta.put(positionKey(stream), streamSeq);
  }

  /** Inside `write`: records that `count` more events of `stream` were folded in. */
  countApplied(stream: string, count: number): void {
    if (count > 0) void this.meta.put(appliedKey(stream), this.appliedCount(stream) + count);
  }

  /** Drops every document and position, for a rebuild. */
  clear(): void {
    this.root.transactionSync(() => {
      this.workers.clearSync();
      this.uptime.clearSync();
      this.tasks.clearSync();
      this.workerTasks.clearSync();
      this.meta.clearSync();
    });
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
