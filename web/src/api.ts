import type {
  ActionResponse,
  AlertMessage,
  ErrorResponse,
  HelloMessage,
  TasksMessage,
  WorkersMessage,
} from '../../control-plane/dashboard/api-types.js';

/** An answer of the API that was not 2xx: its message is the server's sentence. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  const body = (await response.json()) as T | ErrorResponse;
  if (!response.ok) throw new ApiError(response.status, (body as ErrorResponse).error);
  return body as T;
}

const TOKEN_KEY = 'cloudai-dashboard-token';

/** The token is kept for this tab only: closing it forgets the token. */
export function storedToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function storeToken(token: string): void {
  if (token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** Runs an action (`POST`); resolves with the server's sentence, rejects with its refusal. */
export async function postAction(path: string): Promise<string> {
  const token = storedToken();
  const response = await fetch(path, {
    method: 'POST',
    headers: token === '' ? {} : { authorization: `Bearer ${token}` },
  });
  const body = (await response.json()) as ActionResponse | ErrorResponse;
  if (!response.ok) throw new ApiError(response.status, (body as ErrorResponse).error);
  return (body as ActionResponse).message;
}

export interface LiveListeners {
  hello?: (message: HelloMessage) => void;
  workers?: (message: WorkersMessage) => void;
  tasks?: (message: TasksMessage) => void;
  alert?: (message: AlertMessage) => void;
  connection?: (connected: boolean) => void;
}

/**
 * The one event stream of the page (`/api/events`), shared by every view: each subscribes
 * while it is shown. The browser reconnects by itself; a view re-reads after a reconnect.
 */
class LiveFeed {
  private readonly listeners = new Set<LiveListeners>();
  private source?: EventSource;
  connected = false;

  subscribe(listeners: LiveListeners): () => void {
    this.listeners.add(listeners);
    this.open();
    return () => this.listeners.delete(listeners);
  }

  private open(): void {
    if (this.source) return;
    const source = new EventSource('/api/events');
    this.source = source;
    const on = <K extends 'hello' | 'workers' | 'tasks' | 'alert'>(type: K) =>
      source.addEventListener(type, (event) => {
        const data = JSON.parse((event as MessageEvent<string>).data) as Parameters<
          NonNullable<LiveListeners[K]>
        >[0];
        for (const listener of this.listeners)
          (listener[type] as ((value: typeof data) => void) | undefined)?.(data);
      });
    on('hello');
    on('workers');
    on('tasks');
    on('alert');
    source.addEventListener('open', () => this.setConnected(true));
    source.addEventListener('error', () => this.setConnected(false));
  }

  private setConnected(connected: boolean): void {
    this.connected = connected;
    for (const listener of this.listeners) listener.connection?.(connected);
  }
}

export const live = new LiveFeed();
