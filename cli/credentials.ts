import { existsSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Identity } from '../streams/contracts/authorization.js';
import { connectToNats, type NatsCredentials } from '../streams/nats/connection.js';
import { CredentialStore, readCredentialsFile } from '../streams/nats/credentials.js';
import { type Config, credentialsDir } from './config.js';

/**
 * The credentials a command connects with: the file named by --credentials or
 * CLOUDAI_CREDENTIALS, else this identity's file in the data dir (as `cloudai up` and
 * `cloudai credentials` create it), else none (a server without authorization).
 */
function credentialsFor(config: Config, identity: Identity): NatsCredentials | undefined {
  if (config.credentials) return readCredentialsFile(config.credentials);
  const ownFile = new CredentialStore(credentialsDir(config.dataDir)).pathOf(identity);
  return existsSync(ownFile) ? readCredentialsFile(ownFile) : undefined;
}

/** How a command reaches NATS as `identity`: its credentials, and the CA that makes it use TLS. */
export function natsAccessFor(
  config: Config,
  identity: Identity,
): { credentials: NatsCredentials | undefined; tlsCaFile: string | undefined } {
  return { credentials: credentialsFor(config, identity), tlsCaFile: config.tlsCa || undefined };
}

/** Connects a command to NATS as the CLI identity (read the streams and the lease bucket, make requests). */
export function connectAsCli(config: Config, name: string): Promise<NatsConnection> {
  return connectToNats({ url: config.natsUrl, name, ...natsAccessFor(config, { role: 'cli' }) });
}
