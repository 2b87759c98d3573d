import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type {
  AlertsResponse,
  TaskResponse,
  TaskRow,
  TasksResponse,
  WorkerResponse,
  WorkerRow,
  WorkersResponse,
} from '../../control-plane/dashboard/api-types.js';
import type { FleetSummary, WorkerSortKey } from '../../control-plane/dashboard/fleet-index.js';
import type { DisruptionDocument } from '../../projections/disruption-document.js';
import { describeResources, RESOURCE_KINDS, subtractResources } from '../../projections/resources.js';
import {
  compactAmounts,
  type StatusTone,
  schedulableLabel,
  TASK_STATUS_TONE,
  WORKER_STATUS_LABEL,
  WORKER_STATUS_TONE,
} from '../../projections/status-presentation.js';
import { uptimeFigures } from '../../projections/uptime-figures.js';
import type { Alert } from '../../streams/contracts/alerts.js';
import type { TaskStatus } from '../../streams/contracts/task-events.js';
import type { WorkerStatus } from '../../streams/contracts/worker-events.js';
import { formatDuration } from '../../streams/util/duration.js';
import { ApiError, getJson, live, postAction, storedToken, storeToken } from './api.js';

/** How often a shown page re-reads "last seen" and usage: heartbeats are not pushed, state changes are. */
const FIGURES_REFRESH_MS = 5_000;
/** Changes arriving together cause one re-read of the shown page. */
const REFETCH_DEBOUNCE_MS = 150;
const WORKER_STATUSES: readonly WorkerStatus[] = ['active', 'suspect', 'inactive', 'left', 'removed'];
const DEFAULT_STATUSES: readonly WorkerStatus[] = ['active', 'suspect', 'inactive'];
// From the tone table, not the contract: the contract module brings its schema library along.
const TASK_STATUSES = Object.keys(TASK_STATUS_TONE) as TaskStatus[];

// --- small helpers ---

/** The control plane's clock minus this browser's, from the last answer: relative times use the former. */
let clockOffset = 0;
const serverNow = () => Date.now() + clockOffset;
const noteServerTime = (now: number) => {
  clockOffset = now - Date.now();
};

const ago = (at: number) => `${formatDuration(serverNow() - at)} ago`;
const clock = (at: number) => new Date(at).toLocaleTimeString();
const dateTime = (at: number) => new Date(at).toLocaleString();
const tone = (name: StatusTone) => `tone-${name}`;
const percent = (share: number) => `${Math.round(share * 100)}%`;

function useTick(ms = 1_000): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((tick) => tick + 1), ms);
    return () => clearInterval(timer);
  }, [ms]);
}

/** Calls `reload` once shortly after the last of a burst of `trigger()` calls. */
function useDebounced(reload: () => void): () => void {
  const timer = useRef<number | undefined>(undefined);
  const latest = useRef(reload);
  latest.current = reload;
  useEffect(() => () => clearTimeout(timer.current), []);
  return () => {
    clearTimeout(timer.current);
    timer.current = window.setTimeout(() => latest.current(), REFETCH_DEBOUNCE_MS);
  };
}

/** Re-reads while the tab is visible, so "last seen" stays true without any push per heartbeat. */
function useVisibleRefresh(reload: () => void): void {
  const latest = useRef(reload);
  latest.current = reload;
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') latest.current();
    }, FIGURES_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
}

function errorText(error: unknown): string {
  return error instanceof ApiError ? error.message : `the control plane did not answer: ${String(error)}`;
}

/** Reads a page's data into `setData`, noting the control plane's clock, or its error into `setError`. */
function load<T extends { now: number }>(
  path: string,
  setData: (data: T) => void,
  setError: (error: string) => void,
): void {
  getJson<T>(path)
    .then((response) => {
      noteServerTime(response.now);
      setData(response);
      setError('');
    })
    .catch((failure: unknown) => setError(errorText(failure)));
}

// --- routing: #/, #/workers/ID, #/tasks, #/alerts ---

type Route =
  | { page: 'fleet' }
  | { page: 'worker'; workerId: string }
  | { page: 'tasks' }
  | { page: 'alerts' };

function routeOf(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  const worker = /^\/workers\/([^/]+)$/.exec(path);
  if (worker) return { page: 'worker', workerId: decodeURIComponent(worker[1] as string) };
  if (path === '/tasks') return { page: 'tasks' };
  if (path === '/alerts') return { page: 'alerts' };
  return { page: 'fleet' };
}

function App() {
  const [route, setRoute] = useState(routeOf(location.hash));
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    const onHash = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', onHash);
    const unsubscribe = live.subscribe({ connection: setConnected });
    return () => {
      removeEventListener('hashchange', onHash);
      unsubscribe();
    };
  }, []);
  const link = (href: string, label: string, active: boolean) =>
    html`<a href=${href} class=${active ? 'current' : ''}>${label}</a>`;
  return html`
    <header>
      <h1>CloudAI</h1>
      <nav>
        ${link('#/', 'Fleet', route.page === 'fleet' || route.page === 'worker')}
        ${link('#/tasks', 'Tasks', route.page === 'tasks')} ${link('#/alerts', 'Alerts', route.page === 'alerts')}
      </nav>
      <span id="connection" class=${connected ? 'live' : 'offline'} data-connected=${String(connected)}>
        ${connected ? '● live' : '○ reconnecting…'}
      </span>
      <${TokenField} />
    </header>
    <main>
      ${route.page === 'fleet' && html`<${FleetPage} />`}
      ${route.page === 'worker' && html`<${WorkerPage} workerId=${route.workerId} />`}
      ${route.page === 'tasks' && html`<${TasksPage} />`} ${route.page === 'alerts' && html`<${AlertsPage} />`}
    </main>
  `;
}

/** Where the operator gives the token actions need; kept for this tab only. */
function TokenField() {
  const [token, setToken] = useState(storedToken());
  return html`<label class="token">
    token
    <input
      id="token"
      type="password"
      autocomplete="off"
      placeholder="for actions"
      value=${token}
      onInput=${(event: Event) => {
        const value = (event.target as HTMLInputElement).value.trim();
        setToken(value);
        storeToken(value);
      }}
    />
  </label>`;
}

// --- fleet ---

/** As `cloudai workers` ends its table: "4 workers: 2 active, 1 suspect, …; 1 schedulable, …". */
function SummaryLine({ summary }: { summary: FleetSummary }) {
  const statuses: WorkerStatus[] = ['active', 'suspect', 'inactive', 'left', 'removed'];
  const statusParts = statuses.map(
    (status, index) =>
      html`${index > 0 ? ', ' : ''}<span class=${tone(WORKER_STATUS_TONE[status])}>${summary[status]} ${status}</span>`,
  );
  const flags = [
    `${summary.schedulable} schedulable`,
    `${summary.cordoned} cordoned`,
    `${summary.draining} draining`,
    `${summary.flapping} flapping`,
  ];
  return html`<p id="summary">${summary.total} ${summary.total === 1 ? 'worker' : 'workers'}: ${statusParts}; ${flags.join(', ')}</p>`;
}

function DisruptionBanner({ disruption }: { disruption: DisruptionDocument }) {
  if (!disruption.active) return null;
  const since = disruption.since ?? serverNow();
  return html`<div id="disruption" class="banner">
    Disruption mode since ${clock(since)} (${formatDuration(serverNow() - since)}; ${disruption.unhealthyWorkers} of
    ${disruption.consideredWorkers} workers unhealthy when it started): no worker is declared inactive until
    heartbeats return or an operator runs <code>cloudai disruption end</code>.
  </div>`;
}

function StatusLabel({ status }: { status: WorkerStatus }) {
  return html`<span class=${`status ${tone(WORKER_STATUS_TONE[status])}`}>${WORKER_STATUS_LABEL[status]}</span>`;
}

function usageOf(worker: WorkerRow, kind: 'cpu' | 'memory' | 'gpu'): string {
  const capacity =
    kind === 'cpu'
      ? worker.capacity.cpu
      : kind === 'memory'
        ? `${worker.capacity.memoryGb}G`
        : worker.capacity.gpu;
  if (kind === 'gpu' && worker.capacity.gpu === 0) return '-';
  return `${percent(worker.usage[kind])} of ${capacity}`;
}

interface FleetQuery {
  page: number;
  sort: WorkerSortKey;
  descending: boolean;
  statuses: readonly WorkerStatus[];
  search: string;
}

const COLUMNS: ReadonlyArray<{ title: string; sort?: WorkerSortKey }> = [
  { title: 'ID', sort: 'id' },
  { title: 'Status', sort: 'status' },
  { title: 'Schedulable' },
  { title: 'Last seen', sort: 'lastSeen' },
  { title: 'Address', sort: 'address' },
  { title: 'CPU', sort: 'cpu' },
  { title: 'Memory' },
  { title: 'GPU' },
  { title: 'Allocated' },
  { title: 'Free' },
  { title: 'Tasks', sort: 'tasks' },
  { title: 'Since', sort: 'since' },
];

function fleetPath(query: FleetQuery): string {
  const params = new URLSearchParams({
    page: String(query.page),
    sort: `${query.descending ? '-' : ''}${query.sort}`,
    status: query.statuses.length === 0 ? 'all' : query.statuses.join(','),
  });
  if (query.search !== '') params.set('search', query.search);
  return `/api/workers?${params}`;
}

function FleetPage() {
  const [query, setQuery] = useState<FleetQuery>({
    page: 1,
    sort: 'id',
    descending: false,
    statuses: DEFAULT_STATUSES,
    search: '',
  });
  const [data, setData] = useState<WorkersResponse | undefined>(undefined);
  const [error, setError] = useState('');
  const [searchText, setSearchText] = useState('');
  useTick();
  const queryRef = useRef(query);
  queryRef.current = query;
  // Only the answer to the latest request counts: an older one may predate a change already shown.
  const latestRequest = useRef(0);
  const reload = () => {
    const request = ++latestRequest.current;
    getJson<WorkersResponse>(fleetPath(queryRef.current))
      .then((response) => {
        if (request !== latestRequest.current) return;
        noteServerTime(response.now);
        setData(response);
        setError('');
      })
      .catch((failure: unknown) => setError(errorText(failure)));
  };
  const reloadSoon = useDebounced(reload);
  useEffect(reload, [query]);
  useVisibleRefresh(reload);
  useEffect(
    () =>
      live.subscribe({
        workers: (message) => {
          noteServerTime(message.now);
          // The rows shown change at once; the page is re-read for what may enter or leave it.
          setData(
            (current) =>
              current && {
                ...current,
                summary: message.summary,
                disruption: message.disruption,
                workers: replaceRows(current.workers, message.workers),
              },
          );
          reloadSoon();
        },
        tasks: (message) => {
          if (message.workers.length === 0) return;
          setData(
            (current) => current && { ...current, workers: replaceRows(current.workers, message.workers) },
          );
          reloadSoon();
        },
        connection: (connected) => {
          if (connected) reload();
        },
      }),
    [],
  );
  const searchSoon = useDebounced(() => setQuery((current) => ({ ...current, page: 1, search: searchText })));
  useEffect(searchSoon, [searchText]);
  const toggleStatus = (status: WorkerStatus) =>
    setQuery((current) => ({
      ...current,
      page: 1,
      statuses: current.statuses.includes(status)
        ? current.statuses.filter((shown) => shown !== status)
        : WORKER_STATUSES.filter((shown) => shown === status || current.statuses.includes(shown)),
    }));
  const sortBy = (sort: WorkerSortKey) =>
    setQuery((current) => ({
      ...current,
      page: 1,
      sort,
      descending: current.sort === sort ? !current.descending : false,
    }));
  return html`
    ${data && html`<${SummaryLine} summary=${data.summary} /><${DisruptionBanner} disruption=${data.disruption} />`}
    <div class="controls">
      <input
        id="search"
        type="search"
        placeholder="search by id"
        maxlength="64"
        value=${searchText}
        onInput=${(event: Event) => setSearchText((event.target as HTMLInputElement).value.trim())}
      />
      ${WORKER_STATUSES.map(
        (status) => html`<label class="filter">
          <input
            type="checkbox"
            data-status-filter=${status}
            checked=${query.statuses.includes(status)}
            onChange=${() => toggleStatus(status)}
          />
          <${StatusLabel} status=${status} />
        </label>`,
      )}
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${
      data &&
      html`<table id="workers">
        <thead>
          <tr>
            ${COLUMNS.map(
              ({ title, sort }) => html`<th>
                ${
                  sort
                    ? html`<button class="sort" data-sort=${sort} onClick=${() => sortBy(sort)}>
                      ${title}${query.sort === sort ? (query.descending ? ' ▼' : ' ▲') : ''}
                    </button>`
                    : title
                }
              </th>`,
            )}
          </tr>
        </thead>
        <tbody>
          ${data.workers.map((worker) => html`<${WorkerTableRow} key=${worker.workerId} worker=${worker} />`)}
        </tbody>
      </table>
      ${
        data.workers.length === 0 &&
        html`<p class="empty">
        ${
          data.summary.total === 0
            ? 'No workers yet: start one with `cloudai worker --id ID --cpu N --memory GB`.'
            : 'No worker matches this search and filter.'
        }
      </p>`
      }
      <div class="pager">
        <button disabled=${query.page <= 1} onClick=${() => setQuery({ ...query, page: query.page - 1 })}>‹ previous</button>
        <span id="page-info">page ${data.page} of ${data.pages} (${data.total} ${data.total === 1 ? 'worker' : 'workers'})</span>
        <button disabled=${query.page >= data.pages} onClick=${() => setQuery({ ...query, page: query.page + 1 })}>next ›</button>
      </div>`
    }
  `;
}

function replaceRows(rows: readonly WorkerRow[], changed: readonly WorkerRow[]): WorkerRow[] {
  if (changed.length === 0) return rows as WorkerRow[];
  const byId = new Map(changed.map((row) => [row.workerId, row]));
  return rows.map((row) => byId.get(row.workerId) ?? row);
}

function WorkerTableRow({ worker }: { worker: WorkerRow }) {
  const allocated = worker.allocated;
  const taskIds = worker.taskIds ?? [];
  const schedulable = schedulableLabel(worker, serverNow());
  return html`<tr data-worker-id=${worker.workerId} data-status=${worker.status}>
    <td><a href=${`#/workers/${encodeURIComponent(worker.workerId)}`}>${worker.workerId}</a></td>
    <td><${StatusLabel} status=${worker.status} /></td>
    <td class=${worker.status === 'active' && !worker.schedulable ? tone('yellow') : ''}>${schedulable}</td>
    <td>${ago(worker.lastHeartbeatAt)}</td>
    <td>${worker.address || '-'}</td>
    <td>${usageOf(worker, 'cpu')}</td>
    <td>${usageOf(worker, 'memory')}</td>
    <td>${usageOf(worker, 'gpu')}</td>
    <td>${compactAmounts(allocated)}</td>
    <td>${compactAmounts(subtractResources(worker.capacity, allocated))}</td>
    <td>${taskIds.length === 0 ? '-' : `${taskIds.length} (${taskIds.slice(0, 2).join(', ')}${taskIds.length > 2 ? ', …' : ''})`}</td>
    <td>${formatDuration(serverNow() - worker.statusSince)}</td>
  </tr>`;
}

// --- one worker ---

function WorkerPage({ workerId }: { workerId: string }) {
  const [data, setData] = useState<WorkerResponse | undefined>(undefined);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  useTick();
  const reload = () =>
    load<WorkerResponse>(`/api/workers/${encodeURIComponent(workerId)}`, setData, setError);
  const reloadSoon = useDebounced(reload);
  useEffect(() => {
    setData(undefined);
    reload();
  }, [workerId]);
  useVisibleRefresh(reload);
  useEffect(
    () =>
      live.subscribe({
        workers: (message) => {
          if (message.workers.some((row) => row.workerId === workerId)) reloadSoon();
        },
        tasks: (message) => {
          if (message.workers.some((row) => row.workerId === workerId)) reloadSoon();
        },
        connection: (connected) => {
          if (connected) reloadSoon();
        },
      }),
    [workerId],
  );
  const act = (action: 'cordon' | 'uncordon' | 'remove' | 'drain' | 'drain-cancel') =>
    postAction(`/api/workers/${encodeURIComponent(workerId)}/${action}`)
      .then((message) => {
        setNotice({ ok: true, text: message });
        reload();
      })
      .catch((failure: unknown) => setNotice({ ok: false, text: errorText(failure) }));
  if (error && !data) return html`<p class="error" role="alert">${error}</p>`;
  if (!data) return html`<p>loading ${workerId}…</p>`;
  const { worker, stats } = data;
  const rows: Array<[string, string]> = [
    ['registered', `${dateTime(worker.registeredAt)} (${ago(worker.registeredAt)})`],
    ['last seen', ago(worker.lastHeartbeatAt)],
    ['address', worker.address || '-'],
    ['capacity', describeResources(worker.capacity)],
    ['allocated', describeResources(worker.allocated)],
    ['free', describeResources(subtractResources(worker.capacity, worker.allocated))],
    [
      'usage',
      RESOURCE_KINDS.filter((kind) => kind !== 'storageGb' || worker.capacity.storageGb > 0)
        .map(
          (kind) =>
            `${kind === 'memoryGb' ? 'memory' : kind === 'storageGb' ? 'storage' : kind} ${percent(worker.usage[kind === 'memoryGb' ? 'memory' : kind === 'storageGb' ? 'storage' : kind])}`,
        )
        .join(', '),
    ],
    ['schedulable', schedulableLabel(worker, serverNow())],
    ...uptimeFigures(stats),
  ];
  return html`
    <p><a href="#/">‹ fleet</a></p>
    <h2 id="worker-heading" data-status=${worker.status}>
      ${worker.workerId} <${StatusLabel} status=${worker.status} />
      <small>for ${formatDuration(serverNow() - worker.statusSince)}, since ${dateTime(worker.statusSince)}</small>
    </h2>
    <div class="actions">
      <button id="cordon" disabled=${!data.actions || worker.cordoned} onClick=${() => act('cordon')}>Cordon</button>
      <button id="uncordon" disabled=${!data.actions || !worker.cordoned} onClick=${() => act('uncordon')}>Uncordon</button>
      <button id="drain" disabled=${!data.actions || worker.status !== 'active' || Boolean(worker.drain)} onClick=${() => act('drain')}>Drain (1h)</button>
      <button id="drain-cancel" disabled=${!data.actions || !worker.drain} onClick=${() => act('drain-cancel')}>Cancel drain</button>
      <button id="remove" disabled=${!data.actions || (worker.status !== 'inactive' && worker.status !== 'left')} onClick=${() => act('remove')}>Remove</button>
      ${!data.actions && html`<span class="hint">read-only: start <code>cloudai serve</code> with --http-token to allow actions</span>`}
      ${notice && html`<span id="notice" class=${notice.ok ? 'ok' : 'error'} role="status">${notice.text}</span>`}
    </div>
    <h3>State history</h3>
    <${Timeline} data=${data} />
    <section class="columns">
      <div>
        <h3>Figures</h3>
        <table class="figures" id="stats">
          ${rows.map(([name, value]) => html`<tr><th>${name}</th><td>${value}</td></tr>`)}
        </table>
      </div>
      <div>
        <h3>Events</h3>
        <ol class="events" id="events">
          ${[...data.events]
            .reverse()
            .map((event) => html`<li><time>${clock(event.at)}</time> ${event.type}</li>`)}
        </ol>
      </div>
    </section>
    <h3>Tasks</h3>
    <${TaskTable} tasks=${data.tasks} actions=${data.actions} onChange=${reload} />
  `;
}

/** The stretches of the worker's events as one bar, each as wide as it lasted. */
function Timeline({ data }: { data: WorkerResponse }) {
  const stretches = data.timeline;
  if (stretches.length === 0) return html`<p class="empty">No stored events for this worker.</p>`;
  const end = serverNow();
  const start = (stretches[0] as (typeof stretches)[number]).from;
  const span = Math.max(1, end - start);
  return html`<div class="timeline" id="timeline">
      ${stretches.map((stretch) => {
        const to = stretch.to ?? end;
        const width = Math.max(0.5, (100 * (to - stretch.from)) / span);
        return html`<span
          class=${`stretch ${tone(WORKER_STATUS_TONE[stretch.status])}`}
          data-status=${stretch.status}
          style=${{ width: `${width}%` }}
          title=${`${stretch.status} from ${dateTime(stretch.from)} for ${formatDuration(to - stretch.from)}`}
        ></span>`;
      })}
    </div>
    <p class="timeline-legend">
      ${dateTime(start)} → now: ${stretches.map((stretch) => `${stretch.status} ${formatDuration((stretch.to ?? end) - stretch.from)}`).join(' · ')}
    </p>`;
}

// --- tasks ---

function TaskTable({
  tasks,
  actions,
  onChange,
}: {
  tasks: readonly TaskRow[];
  actions: boolean;
  onChange: () => void;
}) {
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  if (tasks.length === 0) return html`<p class="empty">No tasks.</p>`;
  const cancel = (taskId: string) =>
    postAction(`/api/tasks/${encodeURIComponent(taskId)}/cancel`)
      .then((message) => {
        setNotice({ ok: true, text: message });
        onChange();
      })
      .catch((failure: unknown) => setNotice({ ok: false, text: errorText(failure) }));
  return html`
    ${notice && html`<p id="task-notice" class=${notice.ok ? 'ok' : 'error'} role="status">${notice.text}</p>`}
    <table class="tasks">
      <thead>
        <tr><th>ID</th><th>Status</th><th>Worker</th><th>Attempt</th><th>Requests</th><th>Image</th><th>Submitted</th><th>Since</th><th>Waits because</th><th></th></tr>
      </thead>
      <tbody>
        ${tasks.map(
          (task) => html`<tr data-task-id=${task.taskId} data-status=${task.status}>
              <td><button class="link" onClick=${() => setOpen(open === task.taskId ? undefined : task.taskId)}>${task.taskId}</button></td>
              <td class=${tone(TASK_STATUS_TONE[task.status])}>${task.status}</td>
              <td>${task.workerId ? html`<a href=${`#/workers/${encodeURIComponent(task.workerId)}`}>${task.workerId}</a>` : '-'}</td>
              <td>${task.attempt}</td>
              <td>${describeResources({ cpu: task.cpu, memoryGb: task.memoryGb, storageGb: task.storageGb, gpu: task.gpu })}</td>
              <td>${task.image}</td>
              <td>${ago(task.submittedAt)}</td>
              <td>${formatDuration(serverNow() - task.statusSince)}</td>
              <td class="reason">${task.waitReason ?? ''}</td>
              <td>
                ${
                  ['queued', 'assigned', 'running'].includes(task.status) &&
                  html`<button class="cancel" disabled=${!actions} onClick=${() => cancel(task.taskId)}>Cancel</button>`
                }
              </td>
            </tr>
            ${open === task.taskId && html`<tr class="attempts"><td colspan="10"><${TaskAttempts} taskId=${task.taskId} /></td></tr>`}`,
        )}
      </tbody>
    </table>
  `;
}

function TaskAttempts({ taskId }: { taskId: string }) {
  const [data, setData] = useState<TaskResponse | undefined>(undefined);
  const [error, setError] = useState('');
  useEffect(() => {
    getJson<TaskResponse>(`/api/tasks/${encodeURIComponent(taskId)}`)
      .then(setData)
      .catch((failure: unknown) => setError(errorText(failure)));
  }, [taskId]);
  if (error) return html`<span class="error">${error}</span>`;
  if (!data) return html`<span>loading…</span>`;
  return html`<ol>
    ${data.attempts.map((attempt) => html`<li>#${attempt.attempt} on ${attempt.workerId}: ${attempt.outcome}</li>`)}
  </ol>`;
}

function TasksPage() {
  const [statuses, setStatuses] = useState<readonly TaskStatus[]>(TASK_STATUSES);
  const [page, setPage] = useState(1);
  const [data, setData] = useState<TasksResponse | undefined>(undefined);
  const [error, setError] = useState('');
  useTick();
  const askedRef = useRef({ statuses, page });
  askedRef.current = { statuses, page };
  const reload = () => {
    const { statuses: shown, page: asked } = askedRef.current;
    const params = new URLSearchParams({
      page: String(asked),
      status: shown.length === 0 ? 'all' : shown.join(','),
    });
    load<TasksResponse>(`/api/tasks?${params}`, setData, setError);
  };
  const reloadSoon = useDebounced(reload);
  useEffect(reload, [statuses, page]);
  useEffect(
    () =>
      live.subscribe({
        tasks: () => reloadSoon(),
        connection: (connected) => {
          if (connected) reloadSoon();
        },
      }),
    [],
  );
  const toggle = (status: TaskStatus) => {
    setPage(1);
    setStatuses((current) =>
      current.includes(status)
        ? current.filter((shown) => shown !== status)
        : TASK_STATUSES.filter((shown) => shown === status || current.includes(shown)),
    );
  };
  return html`
    ${
      data &&
      html`<p id="task-counts">
      ${TASK_STATUSES.map((status) => html`<span class=${tone(TASK_STATUS_TONE[status])}>${data.counts[status]} ${status}</span> `)}
    </p>`
    }
    <div class="controls">
      ${TASK_STATUSES.map(
        (status) => html`<label class="filter">
          <input type="checkbox" data-task-filter=${status} checked=${statuses.includes(status)} onChange=${() => toggle(status)} />
          <span class=${tone(TASK_STATUS_TONE[status])}>${status}</span>
        </label>`,
      )}
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${
      data &&
      html`<${TaskTable} tasks=${data.tasks} actions=${data.actions} onChange=${reload} />
      <div class="pager">
        <button disabled=${page <= 1} onClick=${() => setPage(page - 1)}>‹ previous</button>
        <span>page ${data.page} of ${data.pages} (${data.total} tasks)</span>
        <button disabled=${page >= data.pages} onClick=${() => setPage(page + 1)}>next ›</button>
      </div>`
    }
  `;
}

// --- alerts ---

const ALERT_TONE: Record<Alert['alert'], StatusTone> = {
  'worker-inactive': 'red',
  'worker-active': 'green',
  'worker-suspect': 'yellow',
  'worker-recovered': 'green',
  'disruption-started': 'red',
  'disruption-ended': 'green',
};

function AlertsPage() {
  const [alerts, setAlerts] = useState<Alert[] | undefined>(undefined);
  const [error, setError] = useState('');
  useTick();
  const reload = () =>
    getJson<AlertsResponse>('/api/alerts')
      .then((response) => {
        setAlerts(response.alerts);
        setError('');
      })
      .catch((failure: unknown) => setError(errorText(failure)));
  useEffect(() => {
    reload();
    return live.subscribe({
      alert: (alert) => setAlerts((current) => [alert, ...(current ?? [])].slice(0, 200)),
      connection: (connected) => {
        if (connected) reload();
      },
    });
  }, []);
  return html`
    <h2>Alerts, newest first</h2>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${alerts && alerts.length === 0 && html`<p class="empty">No alerts yet.</p>`}
    <ol class="alerts" id="alerts">
      ${(alerts ?? []).map(
        (alert) => html`<li data-alert=${alert.alert} data-worker-id=${alert.workerId ?? ''}>
          <time title=${dateTime(alert.raisedAt)}>${clock(alert.raisedAt)}</time>
          <span class=${`kind ${tone(ALERT_TONE[alert.alert])}`}>${alert.alert}</span>
          ${alert.workerId && html`<a href=${`#/workers/${encodeURIComponent(alert.workerId)}`}>${alert.workerId}</a>`}
          <span class="summary">${alert.summary}</span>
        </li>`,
      )}
    </ol>
  `;
}

render(html`<${App} />`, document.getElementById('app') as HTMLElement);
