import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { z } from 'zod';
import { type AuthUser, type Identity, userName } from '../contracts/authorization.js';
import { WORKER_ID_PATTERN } from '../contracts/subjects.js';
import { UserFacingError } from '../util/user-error.js';
import type { NatsCredentials } from './connection.js';

/**
 * An identity's credentials: its NKey seed (the secret: it signs the server's challenge and
 * never leaves this file) and public key (all the server's `auth.conf` holds).
 */
const credentialsFileSchema = z.object({
  user: z.string().min(1),
  role: z.enum(['control-plane', 'cli', 'worker']),
  workerId: z.string().regex(WORKER_ID_PATTERN).optional(),
  nkeySeed: z.string().startsWith('SU'),
  publicKey: z.string().startsWith('U'),
});
type CredentialsFile = z.infer<typeof credentialsFileSchema>;

/** What an older cloudai wrote: a password, sent in clear on every connection. */
const passwordFileSchema = z.object({ user: z.string(), password: z.string(), passwordHash: z.string() });

/** The command that replaces password credentials with NKeys. */
export const MIGRATE_COMMAND = 'cloudai credentials migrate';

export class CredentialsError extends UserFacingError {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}

/** Reads a credentials file written by `cloudai up` or `cloudai credentials`. */
export function readCredentialsFile(path: string): NatsCredentials {
  const file = loadCredentialsFile(path);
  return { user: file.user, nkeySeed: file.nkeySeed };
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CredentialsError(
      `cannot read credentials ${path} (${(error as Error).message}): create them with \`cloudai credentials\``,
    );
  }
}

function loadCredentialsFile(path: string): CredentialsFile {
  const json = readJson(path);
  if (passwordFileSchema.safeParse(json).success) {
    throw new CredentialsError(
      `${path} holds a password, which travels in clear on every connection (credentials of an older cloudai): ` +
        `run \`${MIGRATE_COMMAND}\` with the same data dir to replace every identity there with an NKey, ` +
        "then copy each worker's new file to its machine",
    );
  }
  const parsed = credentialsFileSchema.safeParse(json);
  if (!parsed.success || (parsed.data.role === 'worker') !== (parsed.data.workerId !== undefined)) {
    throw new CredentialsError(`${path} is not a cloudai credentials file`);
  }
  // A seed that does not match its public key would be refused by the server with no hint why.
  if (publicKeyOf(parsed.data.nkeySeed, path) !== parsed.data.publicKey) {
    throw new CredentialsError(`${path}: its seed and public key do not belong together; create it anew`);
  }
  return parsed.data;
}

function publicKeyOf(seed: string, path: string): string {
  try {
    return fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch (error) {
    throw new CredentialsError(`${path} holds no valid NKey seed (${(error as Error).message})`);
  }
}

function identityOf(file: { role: CredentialsFile['role']; workerId?: string }): Identity {
  return file.role === 'worker' ? { role: 'worker', workerId: file.workerId as string } : { role: file.role };
}

/**
 * The identities of one installation, a file each under `<dataDir>/credentials/` (mode 0600,
 * in a 0700 folder): the NKey seed for the process that uses it, and its public key for the
 * server's `auth.conf`.
 */
export class CredentialStore {
  constructor(readonly dir: string) {}

  pathOf(identity: Identity): string {
    return join(this.dir, `${userName(identity)}.json`);
  }

  /** Creates the identity's credentials unless they exist; returns where they are. */
  ensure(identity: Identity): { path: string; created: boolean } {
    const path = this.pathOf(identity);
    if (existsSync(path)) return { path, created: false };
    this.write(identity);
    return { path, created: true };
  }

  /**
   * Replaces every password identity in the store with an NKey one (same name and role);
   * returns the names of those replaced. NKey identities are kept as they are.
   */
  migrate(): string[] {
    const migrated: string[] = [];
    for (const path of this.files()) {
      const json = readJson(path);
      const legacy = passwordFileSchema
        .extend({ role: credentialsFileSchema.shape.role, workerId: credentialsFileSchema.shape.workerId })
        .safeParse(json);
      if (!legacy.success) continue;
      const identity = identityOf(legacy.data);
      this.write(identity);
      migrated.push(userName(identity));
    }
    return migrated;
  }

  /** Every identity in the store, as the server's `auth.conf` lists them. */
  authUsers(): AuthUser[] {
    return this.files().map((path) => {
      const file = loadCredentialsFile(path);
      return { identity: identityOf(file), publicKey: file.publicKey };
    });
  }

  private files(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((name) => name.endsWith('.json'))
      .sort()
      .map((name) => join(this.dir, name));
  }

  private write(identity: Identity): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    const pair = createUser();
    const file: CredentialsFile = {
      user: userName(identity),
      role: identity.role,
      ...(identity.role === 'worker' ? { workerId: identity.workerId } : {}),
      nkeySeed: new TextDecoder().decode(pair.getSeed()),
      publicKey: pair.getPublicKey(),
    };
    const path = this.pathOf(identity);
    // Written under a temporary name and renamed: a reader never sees half a file.
    const temporary = `${path}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, path);
  }
}
