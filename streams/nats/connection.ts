import { connect, type NatsConnection, nkeyAuthenticator } from '@nats-io/transport-node';
import { inboxPrefix } from '../contracts/authorization.js';
import { UserFacingError } from '../util/user-error.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export interface NatsCredentials {
  /** The identity's name: its replies arrive under an inbox named after it. */
  user: string;
  /** The NKey seed that signs the server's challenge; it is never sent. */
  nkeySeed: string;
}

export interface ConnectOptions {
  /** One or more comma-separated server URLs. */
  url: string;
  /** Shows up in the server's connection list (`/connz`), which makes operations easier. */
  name: string;
  credentials?: NatsCredentials;
  /** The CA that signed the server's certificate: the connection then runs over TLS and checks the server. */
  tlsCaFile?: string;
  /** How long to wait for the first connection before giving up. */
  timeoutMs?: number;
}

/** Raised when no NATS server answers at the configured URL, or it refuses our credentials. */
export class NatsUnreachableError extends UserFacingError {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    const reason = (cause as Error)?.message ?? String(cause);
    super(
      /certificate|self.signed|\bTLS\b|\bSSL\b/i.test(reason)
        ? `NATS at ${url} could not be verified over TLS (${reason}): pass the CA that signed the server's ` +
            'certificate with --tls-ca FILE or CLOUDAI_TLS_CA (`cloudai credentials tls` keeps it in <data dir>/tls/ca.pem)'
        : /authorization/i.test(reason)
          ? `NATS at ${url} refused the connection (${reason}): pass --credentials FILE or set CLOUDAI_CREDENTIALS; ` +
            '`cloudai credentials worker --id ID` (or `cli`) creates them, and `cloudai up` keeps its own in <data dir>/credentials'
          : `cannot connect to NATS at ${url} (${reason}): start one with \`cloudai up\`, ` +
            'or point NATS_URL (or --nats-url) at a running nats-server',
      { cause },
    );
    this.name = 'NatsUnreachableError';
  }
}

/** The inbox prefix of each connection made here: replies to it must arrive under it. */
const inboxPrefixes = new WeakMap<NatsConnection, string>();

/** nats.js's own, for connections made without credentials. */
const DEFAULT_INBOX_PREFIX = '_INBOX';

/** Where replies to this connection may arrive (`createInbox(prefix)`): the identity's own inbox, when it has credentials. */
export function inboxPrefixOf(nc: NatsConnection): string {
  return inboxPrefixes.get(nc) ?? DEFAULT_INBOX_PREFIX;
}

/**
 * Connects once, then reconnects forever: a control plane that gives up on NATS after a
 * few attempts would need a human to restart it after every server restart.
 */
export async function connectToNats(options: ConnectOptions): Promise<NatsConnection> {
  const prefix = options.credentials ? inboxPrefix(options.credentials.user) : DEFAULT_INBOX_PREFIX;
  try {
    const nc = await connect({
      servers: options.url.split(',').map((url) => url.trim()),
      name: options.name,
      ...(options.credentials
        ? {
            authenticator: nkeyAuthenticator(new TextEncoder().encode(options.credentials.nkeySeed)),
            inboxPrefix: prefix,
          }
        : {}),
      ...(options.tlsCaFile ? { tls: { caFile: options.tlsCaFile } } : {}),
      timeout: options.timeoutMs ?? 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      // A dead connection is noticed after at most two unanswered pings (~10 s): well inside
      // the default heartbeat timeout, so a silent partition pauses liveness timers in time.
      pingInterval: 5_000,
      maxPingOut: 2,
      // Capturing a stack for every request (each JetStream publish is one) cost more CPU than the
      // publish itself at thousands of events per second; errors keep their messages.
      noAsyncTraces: true,
    });
    inboxPrefixes.set(nc, prefix);
    return nc;
  } catch (error) {
    throw new NatsUnreachableError(options.url, error);
  }
}
