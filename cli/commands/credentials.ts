import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { type Identity, renderAuthConf, userName } from '../../streams/contracts/authorization.js';
import { ID_RULE } from '../../streams/contracts/subjects.js';
import { CredentialStore } from '../../streams/nats/credentials.js';
import { authConfPath, pidFilePath } from '../../streams/nats/nats-server.js';
import {
  ConfigError,
  type ConfigOverrides,
  checkWorkerIdFlag,
  credentialsDir,
  embeddedServerDir,
  resolveClientConfig,
} from '../config.js';

export interface CredentialsCommandOptions {
  id?: string;
}

/**
 * `cloudai credentials worker --id ID` (or `cli`, `control-plane`): creates an identity's
 * credentials (unless it has them), regenerates the embedded server's auth.conf, and reloads
 * a running server so they take effect at once. Never prints a password.
 */
export async function credentialsCommand(
  role: string,
  options: CredentialsCommandOptions,
  overrides: ConfigOverrides,
): Promise<void> {
  const config = resolveClientConfig(overrides);
  const identity = parseIdentity(role, options.id);
  const store = new CredentialStore(credentialsDir(config.dataDir));
  const { path, created } = store.ensure(identity);
  const serverDir = embeddedServerDir(config.dataDir);
  const authConf = authConfPath(serverDir);
  // Before the first `cloudai up` there is no server folder yet: the file waits there for it.
  mkdirSync(serverDir, { recursive: true });
  writeFileSync(authConf, renderAuthConf(store.authUsers()), { mode: 0o600 });

  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(
    `${created ? 'created' : 'kept existing'} credentials of ${userName(identity)}: ${path} (readable by its owner only)`,
  );
  const pid = runningServerPid(pidFilePath(serverDir));
  if (pid !== undefined) {
    process.kill(pid, 'SIGHUP');
    say(`nats-server (pid ${pid}) reloaded its configuration: the identity can connect now`);
  } else {
    say(`wrote ${authConf}; a running nats-server applies it when it reloads: kill -HUP <its pid>`);
  }
  if (identity.role === 'worker') {
    say(
      `use them with: cloudai worker --id ${identity.workerId} --credentials ${path}  (found there by default)`,
    );
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
  throw new ConfigError(`unknown identity ${JSON.stringify(role)}: use worker, cli or control-plane`);
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
