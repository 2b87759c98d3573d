import { randomBytes } from 'node:crypto';
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
import bcrypt from 'bcryptjs';
import { z } from 'zod';
import { type AuthUser, type Identity, userName } from '../contracts/authorization.js';
import { WORKER_ID_PATTERN } from '../contracts/subjects.js';
import { UserFacingError } from '../util/user-error.js';
import type { NatsCredentials } from './connection.js';

const BCRYPT_COST = 10;

const credentialsFileSchema = z.object({
  user: z.string().min(1),
  password: z.string().min(1),
  role: z.enum(['control-plane', 'cli', 'worker']),
  workerId: z.string().regex(WORKER_ID_PATTERN).optional(),
  passwordHash: z.string().startsWith('$2'),
});
type CredentialsFile = z.infer<typeof credentialsFileSchema>;

export class CredentialsError extends UserFacingError {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}

/** Reads a credentials file written by `cloudai up` or `cloudai credentials`. */
export function readCredentialsFile(path: string): NatsCredentials {
  const file = loadCredentialsFile(path);
  return { user: file.user, pass: file.password };
}

function loadCredentialsFile(path: string): CredentialsFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CredentialsError(
      `cannot read credentials ${path} (${(error as Error).message}): create them with \`cloudai credentials\``,
    );
  }
  const parsed = credentialsFileSchema.safeParse(json);
  if (!parsed.success || (parsed.data.role === 'worker') !== (parsed.data.workerId !== undefined)) {
    throw new CredentialsError(`${path} is not a cloudai credentials file`);
  }
  return parsed.data;
}

/**
 * The identities of one installation, a file each under `<dataDir>/credentials/` (mode 0600,
 * in a 0700 folder): the password in clear for the process that uses it, and its bcrypt hash
 * for the server's `auth.conf`.
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
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    const password = randomBytes(24).toString('base64url');
    const file: CredentialsFile = {
      user: userName(identity),
      password,
      role: identity.role,
      ...(identity.role === 'worker' ? { workerId: identity.workerId } : {}),
      passwordHash: bcrypt.hashSync(password, BCRYPT_COST),
    };
    // Written under a temporary name and renamed: a reader never sees half a file.
    const temporary = `${path}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, path);
    return { path, created: true };
  }

  /** Every identity in the store, as the server's `auth.conf` lists them. */
  authUsers(): AuthUser[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((name) => name.endsWith('.json'))
      .sort()
      .map((name) => {
        const file = loadCredentialsFile(join(this.dir, name));
        const identity: Identity =
          file.role === 'worker'
            ? { role: 'worker', workerId: file.workerId as string }
            : { role: file.role };
        return { identity, passwordHash: file.passwordHash };
      });
  }
}
