import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ReadModel } from '../../projections/read-model.js';
import { attemptsOf } from '../../projections/task-attempts.js';
import { bySubmission, type TaskDocument } from '../../projections/task-document.js';
import type { TaskBatchResult } from '../../projections/task-projector.js';
import { workerStats } from '../../projections/uptime.js';
import { isSchedulable, type WorkerDocument } from '../../projections/worker-document.js';
import { eventsOf, type WorkerBatchResult } from '../../projections/worker-projector.js';
import { type Alert, alertOf } from '../../streams/contracts/alerts.js';
import type { OperatorReply } from '../../streams/contracts/operator-requests.js';
import { DEFAULT_DRAIN_DEADLINE, parseDrainDeadline } from '../../streams/contracts/operator-requests.js';
import { ID_RULE, isValidTaskId, isValidWorkerId } from '../../streams/contracts/subjects.js';
import { type CancelReply, TASK_STATUSES, type TaskStatus } from '../../streams/contracts/task-events.js';
import { isDisruptionEvent } from '../../streams/contracts/worker-events.js';
import { formatDuration } from '../../streams/util/duration.js';
import type { Logger } from '../../streams/util/logger.js';
import { projectRoot } from '../../streams/util/project-root.js';
import { WORKER_ACTIONS, type WorkerAction } from '../operator-api.js';
import type {
  ActionResponse,
  AlertsResponse,
  ErrorResponse,
  HelloMessage,
  TaskResponse,
  TaskRow,
  TasksMessage,
  TasksResponse,
  WorkerResponse,
  WorkerRow,
  WorkersMessage,
  WorkersResponse,
} from './api-types.js';
import { EventHub } from './event-hub.js';
import { FleetIndex } from './fleet-index.js';
import { parseAlertQuery, parseTaskQuery, parseWorkerQuery } from './query.js';
import { readNewestWorkerEvents } from './stored-events.js';
import { statusTimeline } from './timeline.js';

/** Alerts the alerts page keeps, newest first. */
const ALERTS_KEPT = 200;
/** Events a worker page reads back for its timeline. */
const WORKER_EVENTS_SHOWN = 200;
/** Past tasks a worker page lists. */
const WORKER_TASKS_SHOWN = 100;

/** What the dashboard reads and acts through: the control plane's own parts. */
export interface DashboardSources {
  nc: NatsConnection;
  readModel: ReadModel;
  workerProjector: { onApplied(listener: (batch: WorkerBatchResult) => void): () => void };
  taskProjector: { onApplied(listener: (batch: TaskBatchResult) => void): () => void };
  operator: {
    act(action: WorkerAction, workerId: string): Promise<OperatorReply>;
    drain(workerId: string, deadlineMs: number): Promise<OperatorReply>;
  };
  scheduler: {
    cancel(taskId: string): Promise<CancelReply>;
    waitReasonOf(taskId: string): string | undefined;
  };
}

export interface DashboardServerOptions {
  /** Interface to listen on (`127.0.0.1` unless the operator says otherwise). */
  host: string;
  /** 0 picks a free port (tests); `port` says which. */
  port: number;
  /** Actions need `Authorization: Bearer <token>`; empty: the dashboard is read-only. */
  token: string;
  sources: DashboardSources;
  logger: Logger;
  /** The built page (`npm run build` bundles it); default `dist/dashboard` of the project. */
  assetsDir?: string;
}

/** The page's files, as `npm run build` writes them. */
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

export function defaultAssetsDir(): string {
  return join(projectRoot(), 'dist', 'dashboard');
}

/** An answer the handlers give: a status and a JSON body. */
interface JsonAnswer {
  status: number;
  body: unknown;
}

const answer = (status: number, body: unknown): JsonAnswer => ({ status, body });
const failure = (status: number, error: string): JsonAnswer =>
  answer(status, { error } satisfies ErrorResponse);

const WORKER_ACTION_NAMES: readonly WorkerAction[] = ['cordon', 'uncordon', 'remove', 'drain-cancel'];

/**
 * The web dashboard: the page (built into static files, no CDN) and its JSON API on one port.
 * Reads come from an in-memory index of the fleet and from the read model; open pages hear
 * each batch the projectors apply as server-sent events. Actions go through the same operator
 * API and scheduler code as the CLI's requests, and only with the token.
 */
export class DashboardServer {
  readonly index: FleetIndex;
  readonly hub = new EventHub();
  private readonly alerts: Alert[] = [];
  private readonly assets = new Map<string, { body: Buffer; type: string }>();
  private readonly unsubscribe: Array<() => void> = [];
  private readonly tokenDigest: Buffer | undefined;
  private server?: Server;
  private boundPort = 0;

  private constructor(private readonly options: DashboardServerOptions) {
    this.index = new FleetIndex(options.sources.readModel);
    this.tokenDigest = options.token === '' ? undefined : digest(options.token);
    const dir = options.assetsDir ?? defaultAssetsDir();
    for (const [path, { file, type }] of Object.entries(ASSETS)) {
      const full = join(dir, file);
      if (existsSync(full)) this.assets.set(path, { body: readFileSync(full), type });
    }
    if (this.assets.size < Object.keys(ASSETS).length) {
      options.logger.warn(
        `the dashboard's page is not built in ${dir}: run \`npm run build\`; the API works`,
      );
    }
  }

  static async start(options: DashboardServerOptions): Promise<DashboardServer> {
    const dashboard = new DashboardServer(options);
    const seed = await readNewestWorkerEvents(options.sources.nc, { limit: ALERTS_KEPT }).catch(
      (error: Error) => {
        options.logger.warn(`the alerts page starts empty: stored events not read (${error.message})`);
        return [];
      },
    );
    for (const event of seed) dashboard.keepAlert(alertOf(event, event.at));
    dashboard.follow();
    await dashboard.listen();
    return dashboard;
  }

  get host(): string {
    return this.options.host;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    const host = ['0.0.0.0', '::', ''].includes(this.options.host) ? '127.0.0.1' : this.options.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.boundPort}`;
  }

  get actionsAllowed(): boolean {
    return this.tokenDigest !== undefined;
  }

  async close(): Promise<void> {
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    this.hub.close();
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  // --- live: what the projectors apply, pushed to the open pages ---

  private follow(): void {
    const { workerProjector, taskProjector, readModel } = this.options.sources;
    this.unsubscribe.push(
      workerProjector.onApplied((batch) => {
        const events = eventsOf(batch);
        const disruptionMoved =
          events.some(isDisruptionEvent) ||
          // A takeover may end the mode too (see evolveDisruptionOnTakeover).
          batch.entries.some(({ entry }) => entry.type === 'PartitionTaken');
        const disruption = disruptionMoved ? readModel.disruption() : this.index.disruption;
        this.index.apply(batch.changedWorkers, disruption);
        if (events.length === 0) return;
        // Heartbeat samples alone change "last seen" and usage: the page refreshes those itself.
        const changedByEvents = new Set<string>();
        for (const event of events) if (!isDisruptionEvent(event)) changedByEvents.add(event.workerId);
        const workers = batch.changedWorkers.filter((document) => changedByEvents.has(document.workerId));
        const now = Date.now();
        const message: WorkersMessage = {
          summary: this.index.summary,
          disruption,
          events,
          workers: workers.map(workerRow),
          now,
        };
        this.hub.broadcast('workers', message);
        for (const event of events) {
          const alert = alertOf(event, now);
          if (!alert) continue;
          this.keepAlert(alert);
          this.hub.broadcast('alert', alert);
        }
      }),
      taskProjector.onApplied((batch) => {
        this.index.apply(batch.changedWorkers, this.index.disruption);
        if (batch.events.length === 0) return;
        const message: TasksMessage = {
          events: batch.events,
          tasks: batch.changedTasks.map((task) => this.taskRow(task)),
          workers: batch.changedWorkers.map(workerRow),
          now: Date.now(),
        };
        this.hub.broadcast('tasks', message);
      }),
    );
  }

  private keepAlert(alert: Alert | undefined): void {
    if (!alert) return;
    this.alerts.unshift(alert);
    if (this.alerts.length > ALERTS_KEPT) this.alerts.pop();
  }

  // --- HTTP ---

  private async listen(): Promise<void> {
    const server = createServer((request, response) => {
      this.handle(request, response).catch((error: Error) => {
        // A handler that throws is a bug: say so, and keep serving.
        this.options.logger.warn(
          `dashboard request ${request.method} ${request.url ?? ''} failed: ${error.message}`,
        );
        if (!response.headersSent) sendJson(response, failure(500, `the dashboard failed: ${error.message}`));
        else response.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const where = `${this.options.host}:${this.options.port}`;
        reject(
          new Error(
            error.code === 'EADDRINUSE'
              ? `dashboard port ${where} is already in use: choose another with --http-port (or CLOUDAI_HTTP_PORT)`
              : `cannot serve the dashboard on ${where}: ${error.message}`,
          ),
        );
      });
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    const method = request.method ?? 'GET';
    if (!path.startsWith('/api/')) {
      this.serveAsset(path, method, response);
      return;
    }
    if (path === '/api/events') {
      if (method !== 'GET') {
        sendJson(response, methodNotAllowed(response, 'GET'));
        return;
      }
      const hello: HelloMessage = {
        summary: this.index.summary,
        disruption: this.index.disruption,
        now: Date.now(),
      };
      this.hub.open(response, hello);
      return;
    }
    const segments = path.slice('/api/'.length).split('/').map(decodeSegment);
    sendJson(response, await this.route(method, segments, url.searchParams, request, response));
  }

  private async route(
    method: string,
    segments: Array<string | undefined>,
    params: URLSearchParams,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<JsonAnswer> {
    const [collection, id, action, ...rest] = segments;
    if (segments.includes(undefined) || rest.length > 0) return notFound();
    const reading = method === 'GET' || method === 'HEAD';
    if (collection === 'workers' && id === undefined) {
      return reading ? this.workers(params) : methodNotAllowed(response, 'GET');
    }
    if (collection === 'workers' && id !== undefined && action === undefined) {
      return reading ? this.worker(id) : methodNotAllowed(response, 'GET');
    }
    if (collection === 'workers' && id !== undefined && action !== undefined) {
      if (method !== 'POST') return methodNotAllowed(response, 'POST');
      if (action === 'drain') return this.drainWorker(request, id, params);
      if (!WORKER_ACTION_NAMES.includes(action as WorkerAction)) return notFound();
      return this.workerAction(request, id, action as WorkerAction);
    }
    if (collection === 'tasks' && id === undefined) {
      return reading ? this.tasks(params) : methodNotAllowed(response, 'GET');
    }
    if (collection === 'tasks' && id !== undefined && action === undefined) {
      return reading ? this.task(id) : methodNotAllowed(response, 'GET');
    }
    if (collection === 'tasks' && id !== undefined && action === 'cancel') {
      return method === 'POST' ? this.cancelTask(request, id) : methodNotAllowed(response, 'POST');
    }
    if (collection === 'alerts' && id === undefined) {
      return reading ? this.alertFeed(params) : methodNotAllowed(response, 'GET');
    }
    return notFound();
  }

  private serveAsset(path: string, method: string, response: ServerResponse): void {
    if (method !== 'GET' && method !== 'HEAD') {
      sendJson(response, methodNotAllowed(response, 'GET'));
      return;
    }
    if (!(path in ASSETS)) {
      sendJson(response, failure(404, `no page ${JSON.stringify(path)}: the dashboard is at /`));
      return;
    }
    const asset = this.assets.get(path);
    if (!asset) {
      sendJson(
        response,
        failure(503, "the dashboard's page is not built: run `npm run build`, then restart `cloudai serve`"),
      );
      return;
    }
    response.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'cache-control': 'no-cache',
      // Everything the page needs comes from here: no CDN, nothing inline.
      'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'",
      'x-content-type-options': 'nosniff',
    });
    response.end(method === 'HEAD' ? undefined : asset.body);
  }

  // --- reads ---

  private workers(params: URLSearchParams): JsonAnswer {
    const query = parseWorkerQuery(params);
    if (!query.ok) return failure(400, query.error);
    const { total, workers } = this.index.query(query.value);
    const body: WorkersResponse = {
      summary: this.index.summary,
      disruption: this.index.disruption,
      page: query.value.page,
      size: query.value.size,
      total,
      pages: Math.max(1, Math.ceil(total / query.value.size)),
      workers: workers.map(workerRow),
      actions: this.actionsAllowed,
      now: Date.now(),
    };
    return answer(200, body);
  }

  private async worker(workerId: string): Promise<JsonAnswer> {
    const invalid = invalidWorkerId(workerId);
    if (invalid) return invalid;
    const { readModel, nc } = this.options.sources;
    const found = readModel.snapshot((view) => {
      const document = view.getWorker(workerId);
      if (!document) return undefined;
      const current = new Set(document.taskIds ?? []);
      // Its tasks now, then those it ran before: every task whose history names it.
      const held: TaskDocument[] = [];
      const past: TaskDocument[] = [];
      for (const task of view.listTasks()) {
        if (current.has(task.taskId)) held.push(task);
        else if (task.history.some((entry) => entry.workerId === workerId)) past.push(task);
      }
      past.sort((a, b) => bySubmission(b, a));
      return { document, tasks: [...held, ...past.slice(0, WORKER_TASKS_SHOWN)] };
    });
    if (!found) return unknownWorker(workerId);
    const events = await readNewestWorkerEvents(nc, { workerId, limit: WORKER_EVENTS_SHOWN });
    const now = Date.now();
    const body: WorkerResponse = {
      worker: workerRow(found.document),
      stats: workerStats(found.document, now),
      timeline: statusTimeline(events),
      events,
      tasks: found.tasks.map((task) => this.taskRow(task)),
      actions: this.actionsAllowed,
      now,
    };
    return answer(200, body);
  }

  private tasks(params: URLSearchParams): JsonAnswer {
    const query = parseTaskQuery(params);
    if (!query.ok) return failure(400, query.error);
    const { page, size, statuses } = query.value;
    const all = this.options.sources.readModel.snapshot((view) => view.listTasks());
    const counts = Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as Record<
      TaskStatus,
      number
    >;
    const shown: TaskDocument[] = [];
    for (const task of all) {
      counts[task.status]++;
      if (statuses.has(task.status)) shown.push(task);
    }
    shown.sort(bySubmission);
    const body: TasksResponse = {
      counts,
      page,
      size,
      total: shown.length,
      pages: Math.max(1, Math.ceil(shown.length / size)),
      tasks: shown.slice((page - 1) * size, page * size).map((task) => this.taskRow(task)),
      actions: this.actionsAllowed,
      now: Date.now(),
    };
    return answer(200, body);
  }

  private task(taskId: string): JsonAnswer {
    if (!isValidTaskId(taskId))
      return failure(400, `task id ${JSON.stringify(taskId)} is invalid: use ${ID_RULE}`);
    const task = this.options.sources.readModel.snapshot((view) => view.getTask(taskId));
    if (!task) return unknownTask(taskId);
    const body: TaskResponse = {
      task,
      waitReason: this.waitReasonOf(task),
      attempts: attemptsOf(task),
      actions: this.actionsAllowed,
      now: Date.now(),
    };
    return answer(200, body);
  }

  private alertFeed(params: URLSearchParams): JsonAnswer {
    const limit = parseAlertQuery(params, ALERTS_KEPT);
    if (!limit.ok) return failure(400, limit.error);
    const body: AlertsResponse = { alerts: this.alerts.slice(0, limit.value) };
    return answer(200, body);
  }

  private taskRow(task: TaskDocument): TaskRow {
    const { history: _history, ...row } = task;
    return { ...row, waitReason: this.waitReasonOf(task) };
  }

  private waitReasonOf(task: TaskDocument): string | null {
    if (task.status !== 'queued') return null;
    return this.options.sources.scheduler.waitReasonOf(task.taskId) ?? 'waiting for the next placement pass';
  }

  // --- actions: only with the token, through the CLI's own code paths ---

  private async workerAction(
    request: IncomingMessage,
    workerId: string,
    action: WorkerAction,
  ): Promise<JsonAnswer> {
    const refused = this.authorize(request);
    if (refused) return refused;
    const invalid = invalidWorkerId(workerId);
    if (invalid) return invalid;
    if (!this.index.get(workerId)) return unknownWorker(workerId);
    const reply = await this.options.sources.operator.act(action, workerId);
    if (!reply.ok) return failure(409, reply.error);
    return answer(200, {
      ok: true,
      message: `worker ${workerId} ${WORKER_ACTIONS[action].verb}`,
    } satisfies ActionResponse);
  }

  /** `POST /api/workers/ID/drain?deadline=1h`: as `cloudai workers drain ID --deadline 1h`. */
  private async drainWorker(
    request: IncomingMessage,
    workerId: string,
    params: URLSearchParams,
  ): Promise<JsonAnswer> {
    const refused = this.authorize(request);
    if (refused) return refused;
    const invalid = invalidWorkerId(workerId);
    if (invalid) return invalid;
    const deadline = params.get('deadline') ?? DEFAULT_DRAIN_DEADLINE;
    const parsed = parseDrainDeadline(deadline);
    if (!parsed.ok) return failure(400, `deadline ${parsed.problem}`);
    const deadlineMs = parsed.ms;
    if (!this.index.get(workerId)) return unknownWorker(workerId);
    const reply = await this.options.sources.operator.drain(workerId, deadlineMs);
    if (!reply.ok) return failure(409, reply.error);
    return answer(200, {
      ok: true,
      message: `worker ${workerId} draining, deadline in ${formatDuration(deadlineMs)}`,
    } satisfies ActionResponse);
  }

  private async cancelTask(request: IncomingMessage, taskId: string): Promise<JsonAnswer> {
    const refused = this.authorize(request);
    if (refused) return refused;
    if (!isValidTaskId(taskId))
      return failure(400, `task id ${JSON.stringify(taskId)} is invalid: use ${ID_RULE}`);
    const known = this.options.sources.readModel.snapshot((view) => view.getTask(taskId));
    if (!known) return unknownTask(taskId);
    const reply = await this.options.sources.scheduler.cancel(taskId);
    if (!reply.ok) return failure(409, reply.error);
    return answer(200, {
      ok: true,
      message: `task ${taskId} cancelled (it was ${reply.previousStatus})`,
    } satisfies ActionResponse);
  }

  /** Undefined when the request carries the token; the refusal otherwise. */
  private authorize(request: IncomingMessage): JsonAnswer | undefined {
    if (!this.tokenDigest) {
      return failure(
        403,
        'this dashboard is read-only: start `cloudai serve` with --http-token (or CLOUDAI_HTTP_TOKEN) to allow actions',
      );
    }
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer (.+)$/.exec(header);
    if (!match) {
      return failure(
        401,
        'this action needs the dashboard token: send it as `Authorization: Bearer <token>`',
      );
    }
    if (!timingSafeEqual(digest(match[1] as string), this.tokenDigest)) {
      return failure(403, 'the dashboard token is wrong: use the one `cloudai serve` was started with');
    }
    return undefined;
  }
}

function workerRow(document: WorkerDocument): WorkerRow {
  const { uptime: _uptime, ...row } = document;
  return { ...row, schedulable: isSchedulable(document) };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function invalidWorkerId(workerId: string): JsonAnswer | undefined {
  return isValidWorkerId(workerId)
    ? undefined
    : failure(400, `worker id ${JSON.stringify(workerId)} is invalid: use ${ID_RULE}`);
}

function unknownWorker(workerId: string): JsonAnswer {
  return failure(404, `no worker ${workerId}: list the workers with GET /api/workers`);
}

function unknownTask(taskId: string): JsonAnswer {
  return failure(404, `no task ${taskId}: list the tasks with GET /api/tasks`);
}

function notFound(): JsonAnswer {
  return failure(
    404,
    'no such API route: use /api/workers, /api/workers/ID, /api/tasks, /api/tasks/ID, /api/alerts or /api/events',
  );
}

function methodNotAllowed(response: ServerResponse, allowed: string): JsonAnswer {
  response.setHeader('allow', allowed === 'GET' ? 'GET, HEAD' : allowed);
  return failure(405, `method not allowed here: use ${allowed}`);
}

/** A path segment, percent-decoded; undefined when it does not decode. */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function sendJson(response: ServerResponse, { status, body }: JsonAnswer): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(response.req.method === 'HEAD' ? undefined : text);
}
