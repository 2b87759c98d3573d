import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { credentialsDir, embeddedServerDir, tlsDir } from '../../cli/config.js';
import { renderAuthConf } from '../../streams/contracts/authorization.js';
import { connectToNats } from '../../streams/nats/connection.js';
import { CredentialStore, readCredentialsFile } from '../../streams/nats/credentials.js';
import { NatsServer } from '../../streams/nats/nats-server.js';
import { tlsFilesIn } from '../../streams/nats/tls.js';
import { runCli, spawnCli, workersJson } from '../support/cli.js';
import { killOnExit, makeTempDir, startAuthorizedServer, waitFor } from '../support/nats.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { type StartedUp, startUp } from '../support/up.js';

const security = suite('no secret on the wire: NKeys against the real server, TLS with a private CA');

security('a worker logs in with its NKey: the transcript through a proxy holds no seed', async () => {
  const { dataDir, server, files } = await startAuthorizedServer('nkeys-wire', ['tessa']);
  const proxy = await TcpProxy.start(server.port);
  const env = {
    NATS_URL: proxy.url,
    CLOUDAI_DATA_DIR: dataDir.path,
    CLOUDAI_HEARTBEAT_TIMEOUT_MS: '3000',
    CLOUDAI_HEARTBEAT_INTERVAL_MS: '300',
  };
  const serve = spawnCli(['serve'], env);
  const worker = spawnCli(['worker', '--id', 'tessa'], env);
  try {
    await waitFor(
      async () => (await workersJson(env)).some((w) => w.workerId === 'tessa' && w.status === 'active'),
      20_000,
      'tessa active through the proxy',
    );
    const transcript = proxy.transcript().toString('latin1');
    assert.match(transcript, /CONNECT \{/, 'the proxy saw the logins');
    assert.match(transcript, /"nkey":"U[A-Z2-7]{55}"/, 'identities are their public keys');
    assert.match(transcript, /"sig":"/, 'each login signs the nonce');
    assert.not.match(transcript, /"pass":/);
    for (const path of Object.values(files)) {
      const { nkeySeed } = readCredentialsFile(path);
      assert.not.ok(transcript.includes(nkeySeed), `the seed of ${path} went over the wire`);
    }
  } finally {
    worker.process.kill('SIGKILL');
    serve.process.kill('SIGKILL');
    await proxy.close();
    await server.stop();
    dataDir.remove();
  }
});

security(
  'password credentials of an older cloudai are refused with the command that migrates them',
  async () => {
    const dataDir = makeTempDir('nkeys-migrate');
    try {
      const dir = credentialsDir(dataDir.path);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const legacy = {
        user: 'worker-tessa',
        password: 'in-clear-on-every-connection',
        role: 'worker',
        workerId: 'tessa',
        passwordHash: '$2a$10$abcdefghijklmnopqrstuv',
      };
      writeFileSync(join(dir, 'worker-tessa.json'), JSON.stringify(legacy), { mode: 0o600 });
      const env = { CLOUDAI_DATA_DIR: dataDir.path, NATS_URL: 'nats://127.0.0.1:1' };
      const refused = await runCli(['worker', '--id', 'tessa'], env);
      assert.is(refused.code, 1);
      assert.match(
        refused.stderr,
        /worker-tessa\.json holds a password, which travels in clear on every connection/,
      );
      assert.match(refused.stderr, /run `cloudai credentials migrate` with the same data dir/);
      const alsoRefused = await runCli(['credentials', 'cli'], env);
      assert.is(alsoRefused.code, 1);
      assert.match(alsoRefused.stderr, /cloudai credentials migrate/);

      const migrated = await runCli(['credentials', 'migrate'], env);
      assert.is(migrated.code, 0, migrated.stderr);
      assert.match(migrated.stdout, /replaced the passwords of worker-tessa with NKeys/);
      const file = readFileSync(join(dir, 'worker-tessa.json'), 'utf8');
      assert.not.match(file, /password/);
      assert.match(file, /"nkeySeed": "SU/);
      const authConf = readFileSync(join(embeddedServerDir(dataDir.path), 'auth.conf'), 'utf8');
      assert.match(authConf, /# worker-tessa\n {2}\{ nkey: "U/);
      assert.not.match(authConf, /password/);
      const { nkeySeed } = readCredentialsFile(join(dir, 'worker-tessa.json'));
      assert.not.ok(authConf.includes(nkeySeed), 'no seed in auth.conf');
      const again = await runCli(['credentials', 'migrate'], env);
      assert.match(again.stdout, /no password credentials in .*: nothing to migrate/);
    } finally {
      dataDir.remove();
    }
  },
);

security(
  'TLS: clients verify the server against the private CA; one that does not trust it is refused',
  async () => {
    const dataDir = makeTempDir('tls');
    const other = makeTempDir('tls-other');
    let server: NatsServer | undefined;
    try {
      const made = await runCli(['credentials', 'tls'], { CLOUDAI_DATA_DIR: dataDir.path });
      assert.is(made.code, 0, made.stderr);
      assert.match(made.stdout, /server certificate for .*localhost, 127\.0\.0\.1/);
      const files = tlsFilesIn(tlsDir(dataDir.path));
      for (const path of Object.values(files)) assert.ok(existsSync(path), path);
      assert.is((await runCli(['credentials', 'tls'], { CLOUDAI_DATA_DIR: other.path })).code, 0);
      const strangerCa = tlsFilesIn(tlsDir(other.path)).ca;

      const store = new CredentialStore(credentialsDir(dataDir.path));
      const cliFile = store.ensure({ role: 'cli' }).path;
      server = await NatsServer.start({
        storeDir: embeddedServerDir(dataDir.path),
        port: 0,
        authConf: renderAuthConf(store.authUsers()),
        tls: { cert: files.cert, key: files.key },
      });
      killOnExit(server.process);
      const credentials = readCredentialsFile(cliFile);
      const url = server.url;
      const plain = await connectToNats({ url, name: 'plain', credentials, timeoutMs: 2_000 }).catch(
        (error: Error) => error,
      );
      assert.instance(plain, Error, 'a client without TLS is refused');
      assert.match((plain as Error).message, /TLS/);
      const stranger = await connectToNats({
        url,
        name: 'stranger',
        credentials,
        tlsCaFile: strangerCa,
        timeoutMs: 2_000,
      }).catch((error: Error) => error);
      assert.instance(stranger, Error, 'a client trusting another CA is refused');
      assert.match(
        (stranger as Error).message,
        /could not be verified over TLS .*--tls-ca FILE or CLOUDAI_TLS_CA/,
      );
      const trusted = await connectToNats({ url, name: 'trusted', credentials, tlsCaFile: files.ca });
      await trusted.flush();
      await trusted.close();

      // Through a proxy, a TLS link shows neither the login nor the seed.
      const proxy = await TcpProxy.start(server.port);
      try {
        const proxied = await connectToNats({
          url: proxy.url,
          name: 'proxied',
          credentials,
          tlsCaFile: files.ca,
        });
        proxied.publish('alerts.none', 'hello over tls');
        await proxied.flush();
        await proxied.close();
        const transcript = proxy.transcript().toString('latin1');
        assert.ok(transcript.length > 0);
        assert.not.match(transcript, /CONNECT \{|hello over tls/, 'after INFO everything is encrypted');
        assert.not.ok(transcript.includes(credentials.nkeySeed));
      } finally {
        await proxy.close();
      }
    } finally {
      await server?.stop();
      dataDir.remove();
      other.remove();
    }
  },
);

security('`cloudai up --tls`: the control plane and the workers run over TLS', async () => {
  const dataDir = makeTempDir('up-tls');
  let started: StartedUp | undefined;
  try {
    started = await startUp({
      env: { CLOUDAI_DATA_DIR: dataDir.path },
      flags: [
        '--tls',
        '--nats-port',
        '0',
        '--heartbeat-timeout-ms',
        '3000',
        '--heartbeat-interval-ms',
        '300',
      ],
      readyTimeoutMs: 40_000,
    });
    const { up } = started;
    assert.match(up.output(), /created a private CA and the server's certificate in /);
    assert.match(
      up.output(),
      /TLS is on: commands on this data dir trust the private CA .*ca\.pem; elsewhere pass --tls-ca/,
    );
    const env = { CLOUDAI_DATA_DIR: dataDir.path };
    await waitFor(
      async () => (await workersJson(env)).filter((worker) => worker.status === 'active').length === 3,
      20_000,
      'three workers active over TLS',
    );
    const url = /nats:\/\/127\.0\.0\.1:\d+/.exec(up.output())?.[0] ?? '';
    const ca = tlsFilesIn(tlsDir(dataDir.path)).ca;
    // On the data dir of the running up, a command finds its server and CA by itself.
    const joined = await runCli(['workers', 'cordon', 'kim'], env);
    assert.is(joined.code, 0, joined.stderr);
    // From another data dir: with the CA it connects (the CLI identity's file given), without it it is refused.
    const elsewhere = makeTempDir('up-tls-elsewhere');
    try {
      const cli = join(credentialsDir(dataDir.path), 'cloudai-cli.json');
      const remote = { CLOUDAI_DATA_DIR: elsewhere.path, NATS_URL: url, CLOUDAI_CREDENTIALS: cli };
      const withCa = await runCli(['workers', 'uncordon', 'kim'], { ...remote, CLOUDAI_TLS_CA: ca });
      assert.is(withCa.code, 0, withCa.stderr);
      const withoutCa = await runCli(['workers', 'cordon', 'kim'], remote);
      assert.is(withoutCa.code, 1);
      assert.match(withoutCa.stderr, /TLS/, withoutCa.stderr);
    } finally {
      elsewhere.remove();
    }
  } finally {
    started?.up.process.kill('SIGINT');
    await started?.up.exited;
    dataDir.remove();
  }
});

security.run();
