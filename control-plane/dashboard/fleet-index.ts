import type { DisruptionDocument } from '../../projections/disruption-document.js';
import type { ReadModel } from '../../projections/read-model.js';
import { isSchedulable, type WorkerDocument } from '../../projections/worker-document.js';
import type { WorkerStatus } from '../../streams/contracts/worker-events.js';

/** The columns the fleet page sorts by. */
export const WORKER_SORT_KEYS = ['id', 'status', 'lastSeen', 'address', 'cpu', 'tasks', 'since'] as const;
export type WorkerSortKey = (typeof WORKER_SORT_KEYS)[number];

export interface WorkerQuery {
  /** 1-based. */
  page: number;
  size: number;
  sort: WorkerSortKey;
  descending: boolean;
  /** The statuses shown. */
  statuses: ReadonlySet<WorkerStatus>;
  /** Part of the id, any case; empty: every id. */
  search: string;
}

export interface WorkerPage {
  /** Workers matching the filter and search, over every page. */
  total: number;
  workers: WorkerDocument[];
}

/** The summary line: every worker of the fleet, whatever the page shows. */
export interface FleetSummary {
  total: number;
  active: number;
  suspect: number;
  inactive: number;
  left: number;
  removed: number;
  schedulable: number;
  draining: number;
  cordoned: number;
  flapping: number;
}

/** How long a sorted order may be reused after the documents changed: a page re-read in a second is fresh enough. */
const SORTED_ORDER_REUSE_MS = 1_000;

const STATUS_ORDER: Record<WorkerStatus, number> = {
  active: 0,
  suspect: 1,
  inactive: 2,
  left: 3,
  removed: 4,
};

type Compare = (a: WorkerDocument, b: WorkerDocument) => number;

const byId: Compare = (a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0);

/** Each sort key's order, ties broken by id so that paging is stable. */
const COMPARE: Record<WorkerSortKey, Compare> = {
  id: byId,
  status: (a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || byId(a, b),
  lastSeen: (a, b) => a.lastHeartbeatAt - b.lastHeartbeatAt || byId(a, b),
  address: (a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : byId(a, b)),
  cpu: (a, b) => a.usage.cpu - b.usage.cpu || byId(a, b),
  tasks: (a, b) => (a.taskIds?.length ?? 0) - (b.taskIds?.length ?? 0) || byId(a, b),
  since: (a, b) => a.statusSince - b.statusSince || byId(a, b),
};

/**
 * The fleet page's view of the workers: every document (without its uptime record) in id order,
 * read from the read model once, then kept up to date with the documents each applied batch
 * wrote, so that a page of 100 000 workers is sorted and filtered without reading LMDB through.
 */
export class FleetIndex {
  private readonly documents = new Map<string, WorkerDocument>();
  /** Ids in byte order (LMDB's), and the same lowercased for search, index for index. */
  private readonly ids: string[] = [];
  private readonly searchIds: string[] = [];
  private readonly counts: FleetSummary = emptySummary();
  private disruptionDocument: DisruptionDocument;
  /** Bumped by every applied batch: a sorted order of an older version may be out of date. */
  private version = 0;
  private readonly sortedOrders = new Map<string, { version: number; at: number; ids: string[] }>();

  constructor(readModel: ReadModel) {
    const { workers, disruption } = readModel.snapshot((view) => ({
      workers: view.listWorkers({ uptime: false }),
      disruption: view.disruption(),
    }));
    for (const document of workers) {
      this.documents.set(document.workerId, document);
      this.ids.push(document.workerId);
      this.searchIds.push(document.workerId.toLowerCase());
      count(this.counts, document, 1);
    }
    this.disruptionDocument = disruption;
  }

  get size(): number {
    return this.documents.size;
  }

  get summary(): FleetSummary {
    return { ...this.counts };
  }

  get disruption(): DisruptionDocument {
    return this.disruptionDocument;
  }

  get(workerId: string): WorkerDocument | undefined {
    return this.documents.get(workerId);
  }

  /** Takes the documents a batch wrote (as written) and the disruption document after it. */
  apply(documents: readonly WorkerDocument[], disruption: DisruptionDocument): void {
    this.disruptionDocument = disruption;
    if (documents.length > 0) this.version++;
    for (const written of documents) {
      // The uptime record is the worker page's, read from the read model when asked for.
      const document = written.uptime === undefined ? written : { ...written, uptime: undefined };
      const before = this.documents.get(document.workerId);
      if (before) count(this.counts, before, -1);
      else this.insertId(document.workerId);
      this.documents.set(document.workerId, document);
      count(this.counts, document, 1);
    }
  }

  query(query: WorkerQuery): WorkerPage {
    const first = (query.page - 1) * query.size;
    const matches = (index: number): boolean => {
      if (query.search !== '' && !(this.searchIds[index] as string).includes(query.search)) return false;
      const document = this.documents.get(this.ids[index] as string) as WorkerDocument;
      return query.statuses.has(document.status);
    };
    // Without a search the status counts give the total: a walk stops once the page is full.
    const counted =
      query.search === '' ? [...query.statuses].reduce((sum, status) => sum + this.counts[status], 0) : -1;
    if (query.sort === 'id') {
      // Already in order: count the matches and keep only the page's, no sort and no copy.
      const workers: WorkerDocument[] = [];
      let total = 0;
      const step = query.descending ? -1 : 1;
      for (let index = query.descending ? this.ids.length - 1 : 0; index >= 0 && index < this.ids.length; ) {
        if (matches(index)) {
          if (total >= first && workers.length < query.size)
            workers.push(this.documents.get(this.ids[index] as string) as WorkerDocument);
          total++;
          if (counted >= 0 && workers.length === query.size) break;
        }
        index += step;
      }
      return { total: counted >= 0 ? counted : total, workers };
    }
    const order = this.sortedIds(query.sort, query.descending);
    const workers: WorkerDocument[] = [];
    let total = 0;
    for (const workerId of order) {
      const document = this.documents.get(workerId) as WorkerDocument;
      if (!query.statuses.has(document.status)) continue;
      if (query.search !== '' && !workerId.toLowerCase().includes(query.search)) continue;
      if (total >= first && workers.length < query.size) workers.push(document);
      total++;
      if (counted >= 0 && workers.length === query.size) break;
    }
    return { total: counted >= 0 ? counted : total, workers };
  }

  /**
   * Every id in the order of `sort`. Sorting 100 000 documents costs more than the rest of a
   * request, and a fleet changes some of them every second: an order is reused while nothing
   * changed, or for a short while after (the rows are always the current documents).
   */
  private sortedIds(sort: WorkerSortKey, descending: boolean): readonly string[] {
    const key = `${descending ? '-' : ''}${sort}`;
    const cached = this.sortedOrders.get(key);
    const now = performance.now();
    if (cached && (cached.version === this.version || now - cached.at < SORTED_ORDER_REUSE_MS))
      return cached.ids;
    const compare = COMPARE[sort];
    const documents = this.ids.map((workerId) => this.documents.get(workerId) as WorkerDocument);
    documents.sort(descending ? (a, b) => compare(b, a) : compare);
    const ids = documents.map((document) => document.workerId);
    this.sortedOrders.set(key, { version: this.version, at: now, ids });
    return ids;
  }

  private insertId(workerId: string): void {
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.ids[middle] as string) < workerId) low = middle + 1;
      else high = middle;
    }
    this.ids.splice(low, 0, workerId);
    this.searchIds.splice(low, 0, workerId.toLowerCase());
  }
}

function emptySummary(): FleetSummary {
  return {
    total: 0,
    active: 0,
    suspect: 0,
    inactive: 0,
    left: 0,
    removed: 0,
    schedulable: 0,
    draining: 0,
    cordoned: 0,
    flapping: 0,
  };
}

function count(summary: FleetSummary, document: WorkerDocument, sign: 1 | -1): void {
  summary.total += sign;
  summary[document.status] += sign;
  if (isSchedulable(document)) summary.schedulable += sign;
  if (document.cordoned) summary.cordoned += sign;
  if (document.drain) summary.draining += sign;
  if (document.flapping) summary.flapping += sign;
}
