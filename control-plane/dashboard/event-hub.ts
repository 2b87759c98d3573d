import type { ServerResponse } from 'node:http';

/** A page that reads slower than this much unsent data is dropped; it reconnects and re-reads. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** A comment this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

/**
 * The open pages' server-sent event streams (`GET /api/events`). A message is serialised once
 * and written to every page; a page that cannot keep up is closed, never buffered without end.
 */
export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;
  /** Messages sent, and pages dropped for falling behind. */
  readonly stats = { sent: 0, dropped: 0 };

  constructor() {
    this.keepalive = setInterval(() => this.write(': keepalive\n\n'), KEEPALIVE_MS);
    this.keepalive.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a request's response as an event stream until the page goes away. */
  open(response: ServerResponse, hello: unknown): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // A page that lost its stream retries after this long (the browser's EventSource does so itself).
      'x-accel-buffering': 'no',
    });
    response.write(`retry: 1000\n${frame('hello', hello)}`);
    this.clients.add(response);
    response.on('close', () => this.clients.delete(response));
  }

  /** Sends one named event to every open page. */
  broadcast(type: string, data: unknown): void {
    if (this.clients.size === 0) return;
    this.write(frame(type, data));
    this.stats.sent++;
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const response of this.clients) response.end();
    this.clients.clear();
  }

  private write(text: string): void {
    for (const response of this.clients) {
      if (response.writableLength > MAX_BUFFERED_BYTES) {
        this.stats.dropped++;
        this.clients.delete(response);
        response.destroy();
        continue;
      }
      response.write(text);
    }
  }
}

function frame(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
