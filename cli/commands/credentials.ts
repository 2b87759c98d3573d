import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type Identity, renderAuthConf, userName } from '../../streams/contracts/authorization.js';
import { ID_RULE } from '../../streams/contracts/subjects.js';
import { CredentialStore } from '../../streams/nats/credentials.js';
import { authConfPath, pidFilePath } from '../../streams/nats/nats-server.js';
import { createTlsFiles, defaultServerNames } from '../../streams/nats/tls.js';
import {
  ConfigError,
  type ConfigOverrides,
  checkWorkerIdFlag,
  credentialsDir,
  embeddedServerDir,
  HA_MEMBERS,
  haServerDir,
  resolveClientConfig,
  tlsDir,
} from '../config.js';

export interface CredentialsCommandOptions {
  id?: string;
  /** For `tls`: the names and addresses the server is reached at. */
  host?: string[];
}

/**
 * `cloudai credentials worker --id ID` (or `cli`, `control-plane`): creates an identity's NKey
 * (unless it has one), regenerates the embedded server's auth.conf (public keys only), and
 * reloads a running server so it takes effect at once. Never prints a seed. `tls` makes the
 * private CA and the server's certificate; `migrate` replaces password credentials with NKeys.
 */
export async function credentialsCommand(
  role: string,
  options: CredentialsCommandOptions,
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveClientConfig(overrides);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  if (role === 'tls') {
    tlsCommand(config.dataDir, options.host, say);
    return;
  }
  const store = new CredentialStore(credentialsDir(config.dataDir));
  if (role === 'migrate') {
    const migrated = store.migrate();
    say(
      migrated.length === 0
        ? `no password credentials in ${store.dir}: nothing to migrate`
        : `replaced the passwords of ${migrated.join(', ')} with NKeys in ${store.dir}; ` +
            "copy each worker's new file to its machine (the old ones no longer work)",
    );
    applyAuthConf(config.dataDir, store, say);
    return;
  }
  const identity = parseIdentity(role, options.id);
  const { path, created } = store.ensure(identity);
  say(
    `${created ? 'created' : 'kept existing'} credentials of ${userName(identity)}: ${path} (readable by its owner only)`,
  );
  applyAuthConf(config.dataDir, store, say);
  if (identity.role === 'worker') {
    say(
      `use them with: cloudai worker --id ${identity.workerId} --credentials ${path}  (found there by default)`,
    );
  }
}

/** `cloudai credentials tls`: the private CA (kept if there is one) and a fresh server certificate. */
function tlsCommand(dataDir: string, hosts: string[] | undefined, say: (line: string) => void): void {
  const dir = tlsDir(dataDir);
  const names = hosts && hosts.length > 0 ? hosts : defaultServerNames();
  const files = createTlsFiles(dir, names);
  say(`server certificate for ${names.join(', ')}: ${files.cert} (key ${files.key}, owner-only)`);
  say(`signed by the private CA ${files.ca}: clients trust it with --tls-ca or CLOUDAI_TLS_CA`);
  say('`cloudai up --tls` runs nats-server with it; restart a running one to take it up');
}

/**
 * Regenerates the embedded server's auth.conf from the store, and reloads a running server so
 * that it takes effect at once.
 */
function applyAuthConf(dataDir: string, store: CredentialStore, say: (line: string) => void): void {
  // Before the first `cloudai up` there is no server folder yet: the file waits there for it.
  mkdirSync(embeddedServerDir(dataDir), { recursive: true });
  // The servers of `up --ha` need the same users, so that a client failing over is still known.
  const serverDirs = [embeddedServerDir(dataDir), ...HA_MEMBERS.map((n) => haServerDir(dataDir, n))].filter(
    (dir) => existsSync(dir),
  );
  for (const serverDir of serverDirs) {
    const authConf = authConfPath(serverDir);
    writeFileSync(authConf, renderAuthConf(store.authUsers()), { mode: 0o600 });
    const pid = runningServerPid(pidFilePath(serverDir));
    if (pid !== undefined) {
      process.kill(pid, 'SIGHUP');
      say(`nats-server (pid ${pid}) reloaded its configuration: the identity can connect now`);
    } else {
      say(`wrote ${authConf}; a running nats-server applies it when it reloads: kill -HUP <its pid>`);
    }
  }
}

function parseIdentity(role: string, workerId: string | undefined): Identity {
  if (role === 'worker') {
    if (workerId === undefined) {
      throw new ConfigError(`\`cloudai credentials worker\` needs --id ID: ${ID_RULE}`);
    }
    checkWorkerIdFlag(workerId);
    return { role: 'worker', workerId };
  }
  if (role === 'cli' || role === 'control-plane') return { role };
  throw new ConfigError(
    `unknown identity ${JSON.stringify(role)}: use worker, cli or control-plane (or tls, or migrate)`,
  );
}

function runningServerPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
