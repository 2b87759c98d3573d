import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../streams/util/logger.js';
import { UserFacingError } from '../streams/util/user-error.js';
import type { HealthReport } from './health.js';

export interface MetricsServerOptions {
  /** Interface to listen on: `0.0.0.0` for all (Prometheus usually scrapes from another host). */
  host: string;
  /** 0 picks a free port (tests); `port` says which. */
  port: number;
  metrics: { text(): Promise<string>; readonly contentType: string };
  health: { check(): Promise<HealthReport> };
  logger: Logger;
}

const WILDCARD_HOSTS: ReadonlySet<string> = new Set(['0.0.0.0', '::', '']);

/** `GET /metrics` (Prometheus text format) and `GET /healthz` (JSON; 200 healthy, 503 not). */
export class MetricsServer {
  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
  ) {}

  static async start(options: MetricsServerOptions): Promise<MetricsServer> {
    const server = createServer((request, response) => {
      handle(options, request, response).catch((error: Error) => {
        options.logger.warn(`metrics request ${request.url ?? ''} failed: ${error.message}`);
        if (!response.headersSent) respond(response, 500, 'text/plain; charset=utf-8', `${error.message}\n`);
        else response.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const where = `${options.host}:${options.port}`;
        reject(
          new UserFacingError(
            error.code === 'EADDRINUSE'
              ? `metrics port ${where} is already in use: choose another with --metrics-port (or CLOUDAI_METRICS_PORT)`
              : `cannot serve metrics on ${where}: ${error.message}`,
          ),
        );
      });
      server.listen(options.port, options.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return new MetricsServer(server, options.host, port);
  }

  /** Where this machine reaches it (the loopback address when listening on every interface). */
  get url(): string {
    const host = WILDCARD_HOSTS.has(this.host) ? '127.0.0.1' : this.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Scrapers keep their connections open between scrapes; close() alone would wait for them.
    this.server.closeAllConnections();
    await closed;
  }
}

async function handle(
  options: MetricsServerOptions,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (path !== '/metrics' && path !== '/healthz') {
    respond(response, 404, 'text/plain; charset=utf-8', 'not found: try /metrics or /healthz\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    respond(response, 405, 'text/plain; charset=utf-8', 'method not allowed: use GET\n');
    return;
  }
  if (path === '/metrics') {
    respond(response, 200, options.metrics.contentType, await options.metrics.text());
    return;
  }
  const report = await options.health.check();
  respond(response, report.ok ? 200 : 503, 'application/json', `${JSON.stringify(report)}\n`);
}

function respond(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  // HEAD gets the headers only.
  response.end(response.req.method === 'HEAD' ? undefined : body);
}
