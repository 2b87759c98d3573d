import {
  createInbox,
  headers,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { inboxPrefixOf } from './connection.js';

/** A message to store in a stream, and the id that makes a repeated publish of it harmless. */
export interface StoredMessage {
  subject: string;
  payload: Uint8Array;
  /** `Nats-Msg-Id`. */
  messageId: string;
}

interface AwaitedAck {
  resolve: (streamSeq: number) => void;
  reject: (error: Error) => void;
  expiresAt: number;
}

const utf8 = new TextDecoder();

/** How often acknowledgements overdue are looked for: timeouts are this much late at most. */
const SWEEP_EVERY_MS = 100;

/**
 * JetStream publishes whose acknowledgements all come back to one subscription of ours: the
 * reply subject names the publish by a counter. `js.publish` makes a request per message, and
 * nats.js builds an error with its stack for every request it completes (to reject the
 * request's own timer) and a timer per request; here one sweep serves every timeout.
 */
export class AckInbox {
  private readonly awaited = new Map<string, AwaitedAck>();
  private readonly subscription: Subscription;
  private readonly prefix: string;
  private nextToken = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    inboxPrefix: string = inboxPrefixOf(nc),
  ) {
    this.prefix = `${createInbox(inboxPrefix)}.`;
    this.subscription = nc.subscribe(`${this.prefix}*`, { callback: (_error, msg) => this.received(msg) });
    // After the I/O already waiting is read: a stalled event loop must not time out
    // acknowledgements that arrived meanwhile and sit unread in the socket.
    this.sweeper = setInterval(() => setImmediate(() => this.sweep()), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  /** Publishes; resolves with the stream sequence once JetStream stored it, rejects on an error or after `timeoutMs`. */
  publish(message: StoredMessage, timeoutMs: number): Promise<number> {
    const token = (this.nextToken++).toString(36);
    const header = headers();
    header.set('Nats-Msg-Id', message.messageId);
    return new Promise<number>((resolve, reject) => {
      this.awaited.set(token, { resolve, reject, expiresAt: performance.now() + timeoutMs });
      try {
        this.nc.publish(message.subject, message.payload, { reply: this.prefix + token, headers: header });
      } catch (error) {
        this.awaited.delete(token);
        reject(error as Error);
      }
    });
  }

  /** Acknowledgements still awaited. */
  get size(): number {
    return this.awaited.size;
  }

  /** Rejects whatever is still awaited and stops listening. */
  close(): void {
    clearInterval(this.sweeper);
    for (const ack of this.awaited.values()) ack.reject(new Error('publisher closed'));
    this.awaited.clear();
    if (!this.subscription.isClosed()) this.subscription.unsubscribe();
  }

  private received(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length);
    const ack = this.awaited.get(token);
    if (!ack) return; // timed out already: the retry has its own token
    this.awaited.delete(token);
    const outcome = parsePubAck(msg);
    if (typeof outcome === 'number') ack.resolve(outcome);
    else ack.reject(new Error(outcome));
  }

  /** Rejects the acknowledgements overdue. They were awaited in the order sent: the oldest come first. */
  private sweep(): void {
    const now = performance.now();
    for (const [token, ack] of this.awaited) {
      // One publisher, one timeout: the first not yet due is followed by none due.
      if (ack.expiresAt > now) break;
      this.awaited.delete(token);
      ack.reject(new Error('timeout: JetStream did not acknowledge in time'));
    }
  }
}

/** The stream sequence JetStream acknowledged, or why it did not store the message. */
export function parsePubAck(msg: Msg): number | string {
  // A status with no payload: typically 503, nobody stores this subject (no stream, or JetStream down).
  if (msg.headers?.hasError) {
    return `JetStream answered ${msg.headers.code} ${msg.headers.description || 'without a description'}`;
  }
  let ack: unknown;
  try {
    ack = JSON.parse(utf8.decode(msg.data));
  } catch {
    return 'JetStream answered something that is not JSON';
  }
  if (typeof ack !== 'object' || ack === null)
    return 'JetStream answered something that is not an acknowledgement';
  const { error, stream, seq } = ack as {
    error?: { description?: string; code?: number };
    stream?: unknown;
    seq?: unknown;
  };
  if (error)
    return `JetStream refused it: ${error.description ?? 'no description'} (${error.code ?? 'no code'})`;
  if (typeof stream !== 'string' || stream === '' || typeof seq !== 'number') {
    return 'JetStream answered something that is not an acknowledgement';
  }
  return seq;
}
