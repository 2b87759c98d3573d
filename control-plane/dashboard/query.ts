import { TASK_STATUSES, type TaskStatus } from '../../streams/contracts/task-events.js';
import type { WorkerStatus } from '../../streams/contracts/worker-events.js';
import { WORKER_SORT_KEYS, type WorkerQuery, type WorkerSortKey } from './fleet-index.js';

export const DEFAULT_PAGE_SIZE = 50;
/** A page is for a person to read: more rows than this is a script that should page. */
export const MAX_PAGE_SIZE = 500;
/** Worker ids are at most 64 characters: a longer search matches nothing, so it is refused. */
const MAX_SEARCH_LENGTH = 64;
const SEARCH_PATTERN = /^[A-Za-z0-9_-]*$/;

const WORKER_STATUSES: readonly WorkerStatus[] = ['active', 'suspect', 'inactive', 'left', 'removed'];
/** As `cloudai workers`: removed workers are left out unless asked for. */
const DEFAULT_WORKER_STATUSES: ReadonlySet<WorkerStatus> = new Set(['active', 'suspect', 'inactive']);

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Refuses parameters other than `allowed` and any given twice: a typo must not go unnoticed. */
function checkParameters(params: URLSearchParams, allowed: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (!allowed.includes(name)) {
      return `unknown query parameter ${JSON.stringify(name)}: use ${allowed.join(', ')}`;
    }
    if (seen.has(name)) return `query parameter ${JSON.stringify(name)} is given twice: give it once`;
    seen.add(name);
  }
  return undefined;
}

function wholeNumber(params: URLSearchParams, name: string, fallback: number, max: number): Parsed<number> {
  const text = params.get(name);
  if (text === null) return { ok: true, value: fallback };
  const value = /^[0-9]{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? 'from 1' : `from 1 to ${max}`;
    return { ok: false, error: `${name} must be a whole number ${range}, got ${JSON.stringify(text)}` };
  }
  return { ok: true, value };
}

function paging(params: URLSearchParams): Parsed<{ page: number; size: number }> {
  const page = wholeNumber(params, 'page', 1, Number.MAX_SAFE_INTEGER);
  if (!page.ok) return page;
  const size = wholeNumber(params, 'size', DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  if (!size.ok) return size;
  return { ok: true, value: { page: page.value, size: size.value } };
}

/** A comma-separated list of statuses, or `all`. */
function statusList<Status extends string>(
  text: string | null,
  known: readonly Status[],
  fallback: ReadonlySet<Status>,
): Parsed<ReadonlySet<Status>> {
  if (text === null || text === '') return { ok: true, value: fallback };
  if (text === 'all') return { ok: true, value: new Set(known) };
  const statuses = text.split(',');
  const unknown = statuses.find((status) => !known.includes(status as Status));
  if (unknown !== undefined) {
    return {
      ok: false,
      error: `status must be a comma-separated list of ${known.join(', ')} (or all), got ${JSON.stringify(text)}`,
    };
  }
  return { ok: true, value: new Set(statuses as Status[]) };
}

/** `GET /api/workers?page&size&sort&status&search`. */
export function parseWorkerQuery(params: URLSearchParams): Parsed<WorkerQuery> {
  const unknown = checkParameters(params, ['page', 'size', 'sort', 'status', 'search']);
  if (unknown) return { ok: false, error: unknown };
  const pages = paging(params);
  if (!pages.ok) return pages;
  const sortText = params.get('sort') ?? 'id';
  const descending = sortText.startsWith('-');
  const sort = descending ? sortText.slice(1) : sortText;
  if (!WORKER_SORT_KEYS.includes(sort as WorkerSortKey)) {
    return {
      ok: false,
      error: `sort must be one of ${WORKER_SORT_KEYS.join(', ')} (a leading - sorts descending), got ${JSON.stringify(sortText)}`,
    };
  }
  const statuses = statusList(params.get('status'), WORKER_STATUSES, DEFAULT_WORKER_STATUSES);
  if (!statuses.ok) return statuses;
  const search = params.get('search') ?? '';
  if (search.length > MAX_SEARCH_LENGTH || !SEARCH_PATTERN.test(search)) {
    return {
      ok: false,
      error: `search must be part of a worker id (at most ${MAX_SEARCH_LENGTH} characters of A–Z, a–z, 0–9, _ and -), got ${JSON.stringify(search.slice(0, 100))}`,
    };
  }
  return {
    ok: true,
    value: {
      ...pages.value,
      sort: sort as WorkerSortKey,
      descending,
      statuses: statuses.value,
      search: search.toLowerCase(),
    },
  };
}

export interface TaskQuery {
  page: number;
  size: number;
  statuses: ReadonlySet<TaskStatus>;
}

/** `GET /api/tasks?page&size&status`: every status unless told. */
export function parseTaskQuery(params: URLSearchParams): Parsed<TaskQuery> {
  const unknown = checkParameters(params, ['page', 'size', 'status']);
  if (unknown) return { ok: false, error: unknown };
  const pages = paging(params);
  if (!pages.ok) return pages;
  const statuses = statusList(params.get('status'), TASK_STATUSES, new Set(TASK_STATUSES));
  if (!statuses.ok) return statuses;
  return { ok: true, value: { ...pages.value, statuses: statuses.value } };
}

/** `GET /api/alerts?limit`. */
export function parseAlertQuery(params: URLSearchParams, max: number): Parsed<number> {
  const unknown = checkParameters(params, ['limit']);
  if (unknown) return { ok: false, error: unknown };
  return wholeNumber(params, 'limit', max, max);
}
