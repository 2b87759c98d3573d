import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

/** How the receiver answers its n-th request (1-based): a status code, or never. */
export type Answer = (requestNumber: number, body: string) => number | 'never';

/**
 * A real HTTP server on a free loopback port that records every request and answers as told:
 * the other end of the alert webhook in tests.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly unanswered: ServerResponse[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(answer: Answer = () => 200): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const self = receiver as WebhookReceiver;
        self.requests.push({
          method: request.method ?? '',
          headers: request.headers,
          body,
          receivedAt: Date.now(),
        });
        const status = answer(self.requests.length, body);
        if (status === 'never') self.unanswered.push(response);
        else response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new WebhookReceiver(server, `http://127.0.0.1:${port}/hooks/cloudai?token=secret`);
    return receiver;
  }

  /** The bodies received so far, parsed. */
  bodies(): unknown[] {
    return this.requests.map((request) => JSON.parse(request.body));
  }

  /** Milliseconds between one request's arrival and the next's. */
  pauses(): number[] {
    return this.requests
      .slice(1)
      .map((request, index) => request.receivedAt - (this.requests[index]?.receivedAt ?? 0));
  }

  /** Answers every request left hanging so far with `status`. */
  release(status = 200): void {
    for (const response of this.unanswered.splice(0)) response.writeHead(status).end();
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
