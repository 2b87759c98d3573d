import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { createUser } from '@nats-io/nkeys';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { credentialsDir, embeddedServerDir } from '../../cli/config.js';
import { controlPlaneIdOf } from '../../control-plane/control-plane-id.js';
import { decodeLeaseRecord, LEASE_BUCKET } from '../../control-plane/leases/lease-bucket.js';
import { encodeHeartbeat } from '../../streams/contracts/heartbeat.js';
import { partitionOf } from '../../streams/contracts/partitions.js';
import { WORKER_EVENTS_STREAM } from '../../streams/contracts/subjects.js';
import { connectToNats } from '../../streams/nats/connection.js';
import { CredentialStore, readCredentialsFile } from '../../streams/nats/credentials.js';
import { encodeJson } from '../../streams/util/json-codec.js';
import { startAuthorizedServe } from '../support/authorized-serve.js';
import { runCli, spawnCli } from '../support/cli.js';
import { collectServerErrors, makeTempDir, waitFor } from '../support/nats.js';
import { readWorkerEvents } from '../support/stream.js';

/** Fast heartbeats keep the waits of these tests short. */
const TIMING = { heartbeatTimeoutMs: 1_000, heartbeatIntervalMs: 200 };

const heartbeat = (workerId: string) =>
  encodeHeartbeat({ workerId, sentAt: Date.now(), seq: 1, capacity: { cpu: 1, memoryGb: 1 } });

test('authorization: each identity may do its own job and nothing else; new workers are added with a reload', async () => {
  const { dataDir, store, server, files, env, serve, connectAs, stop } = await startAuthorizedServe({
    prefix: 'auth',
    workerIds: ['tessa', 'kim'],
    ...TIMING,
  });
  let beat: NodeJS.Timeout | undefined;
  try {
    // No credentials, or a wrong password: refused, with advice.
    const anonymous = await connectToNats({ url: server.url, name: 'anonymous' }).catch(
      (error: Error) => error,
    );
    assert.instance(anonymous, Error);
    assert.match((anonymous as Error).message, /refused the connection .*--credentials/);
    // A seed the server does not know (tessa's name, someone else's key): refused.
    const wrong = await connectToNats({
      url: server.url,
      name: 'wrong',
      credentials: { user: 'worker-tessa', nkeySeed: new TextDecoder().decode(createUser().getSeed()) },
    }).catch((error: Error) => error);
    assert.instance(wrong, Error);
    assert.match((wrong as Error).message, /refused the connection \(.*[Aa]uthorization/);

    // A worker heartbeats as itself...
    const tessa = await connectAs(files.tessa, 'tessa');
    const tessaErrors = collectServerErrors(tessa);
    beat = setInterval(() => tessa.publish('heartbeat.tessa', heartbeat('tessa')), 200);
    const admin = await connectAs(files.control, 'admin');
    const readModelSays = async () =>
      JSON.parse((await runCli(['workers', '--json'], env)).stdout || '[]') as Array<{
        workerId: string;
        cordoned?: boolean;
      }>;
    await waitFor(
      async () => (await readModelSays()).some((worker) => worker.workerId === 'tessa'),
      10_000,
      'tessa registered',
    );

    // ...but may not speak for another worker, write events, use JetStream, or read others' mail.
    tessa.publish('heartbeat.kim', heartbeat('kim'));
    tessa.publish('workers.events.tessa', '{"type":"WorkerInactive"}');
    tessa.publish('tasks.events.t-1', '{}');
    tessa.publish('tasks.reports.kim', '{}');
    tessa.publish('workers.api.cordon', '{"workerId":"kim"}');
    const jsm = await jetstreamManager(tessa).catch((error: Error) => error);
    assert.instance(jsm, Error, 'the JetStream API is closed to workers');
    const jsPublish = await jetstream(tessa)
      .publish('workers.events.tessa', '{}', { timeout: 1_000 })
      .catch((error: Error) => error);
    assert.instance(jsPublish, Error);
    const ownAssignments = tessa.subscribe('tasks.assign.tessa');
    const othersAssignments = tessa.subscribe('tasks.assign.kim');
    const snooping = tessa.subscribe('heartbeat.*');
    await tessa.flush();
    assert.match(
      String(await othersAssignments.closed),
      /Permissions Violation for Subscription to "tasks.assign.kim"/,
    );
    assert.match(String(await snooping.closed), /Permissions Violation for Subscription to "heartbeat.\*"/);
    assert.not.ok(ownAssignments.isClosed(), 'its own assignments are allowed');
    await waitFor(() => tessaErrors.length >= 6, 5_000, 'permission errors');
    for (const subject of [
      // The server maps heartbeats to their partition before it checks the publisher's rights.
      `heartbeat.${partitionOf('kim')}.kim`,
      'workers.events.tessa',
      'tasks.events.t-1',
      'tasks.reports.kim',
      'workers.api.cordon',
      '$JS.API.INFO',
    ]) {
      assert.ok(
        tessaErrors.some((message) => message.includes(`Permissions Violation for Publish to "${subject}"`)),
        `publishing to ${subject} denied: ${tessaErrors.join('; ')}`,
      );
    }
    await sleep(1_500);
    assert.equal(
      (await readModelSays()).map((worker) => worker.workerId),
      ['tessa'],
      'the spoofed heartbeat kept nobody alive',
    );
    const stored = await readWorkerEvents(admin);
    assert.equal(
      stored.map((entry) => `${entry.event.workerId}:${entry.event.type}`),
      ['tessa:WorkerRegistered'],
      'nothing a worker wrote reached the stream',
    );

    // The CLI identity reads streams but cannot write events or change streams.
    const cli = await connectAs(files.cli, 'cli');
    const cliErrors = collectServerErrors(cli);
    const cliJsm = await jetstreamManager(cli);
    // tessa's registration and the control plane's partition markers.
    const storedBefore = (await cliJsm.streams.info(WORKER_EVENTS_STREAM)).state.messages;
    cli.publish('workers.events.tessa', '{}');
    await cli.flush();
    assert.is((await cliJsm.streams.info(WORKER_EVENTS_STREAM)).state.messages, storedBefore);
    const created = await cliJsm.streams
      .add({
        name: 'ROGUE',
        subjects: ['rogue.>'],
        storage: StorageType.Memory,
        retention: RetentionPolicy.Limits,
      })
      .catch((error: Error) => error);
    assert.instance(created, Error);
    await cli.flush();
    await waitFor(
      () => cliErrors.some((message) => message.includes('"workers.events.tessa"')),
      5_000,
      'cli denial',
    );
    const fresh = makeTempDir('auth-rebuild');
    const rebuilt = await runCli(['rebuild', '--data-dir', fresh.path, '--credentials', files.cli], env);
    fresh.remove();
    assert.is(rebuilt.code, 0, rebuilt.stderr);

    // The CLI identity may use the operator API (workers may not, above).
    const cordoned = await runCli(['workers', 'cordon', 'tessa'], env);
    assert.is(cordoned.code, 0, cordoned.stderr);
    assert.match(cordoned.stdout, /^worker tessa cordoned: /);
    assert.ok(
      (await readModelSays()).find((worker) => worker.workerId === 'tessa')?.cordoned,
      'the read model shows it',
    );

    // A new worker: credentials created and applied (SIGHUP) by the command, then it can beat.
    const refused = await runCli(['worker', '--id', 'newbie'], { ...env });
    assert.is(refused.code, 1);
    const added = await runCli(['credentials', 'worker', '--id', 'newbie'], env);
    assert.is(added.code, 0, added.stderr);
    assert.match(added.stdout, /reloaded its configuration/);
    const newbie = spawnCli(['worker', '--id', 'newbie'], env);
    await waitFor(
      async () => (await readModelSays()).some((worker) => worker.workerId === 'newbie'),
      10_000,
      'newbie',
    );
    newbie.process.kill('SIGTERM');
    await newbie.exited;

    // Secrets stay secret: owner-only files, public keys only in auth.conf, never in any output.
    const allFiles = [...Object.values(files), store.pathOf({ role: 'worker', workerId: 'newbie' })];
    const secrets = allFiles.map((path) => readCredentialsFile(path).nkeySeed);
    assert.is(statSync(credentialsDir(dataDir.path)).mode & 0o777, 0o700);
    for (const path of allFiles) assert.is(statSync(path).mode & 0o777, 0o600);
    const authConf = readFileSync(`${embeddedServerDir(dataDir.path)}/auth.conf`, 'utf8');
    const outputs = [
      authConf,
      serve.output(),
      newbie.output(),
      added.stdout + added.stderr,
      rebuilt.stdout + rebuilt.stderr,
      (await runCli(['workers', '--json'], env)).stdout,
    ];
    for (const secret of secrets) {
      for (const output of outputs) assert.not.ok(output.includes(secret), 'a seed leaked');
    }
  } finally {
    clearInterval(beat);
    await stop();
  }
});

test('credentials can be created before the first `cloudai up`', async () => {
  const dataDir = makeTempDir('auth-early');
  try {
    const created = await runCli(['credentials', 'worker', '--id', 'early'], {
      CLOUDAI_DATA_DIR: dataDir.path,
    });
    assert.is(created.code, 0, created.stderr);
    assert.match(created.stdout, /a running nats-server applies it when it reloads/);
    const store = new CredentialStore(credentialsDir(dataDir.path));
    assert.is(statSync(store.pathOf({ role: 'worker', workerId: 'early' })).mode & 0o777, 0o600);
    const authConf = readFileSync(`${embeddedServerDir(dataDir.path)}/auth.conf`, 'utf8');
    const publicKey = readFileSync(store.pathOf({ role: 'worker', workerId: 'early' }), 'utf8').match(
      /"publicKey": "(U[A-Z2-7]+)"/,
    )?.[1];
    assert.ok(publicKey, 'the file holds a user public key');
    assert.ok(authConf.includes(`# worker-early\n  { nkey: "${publicKey}"`), authConf);
    assert.not.match(authConf, /"SU[A-Z2-7]+"/, 'no seed in auth.conf');
  } finally {
    dataDir.remove();
  }
});

test('authorization: only the control plane writes the lease bucket; the CLI reads it', async () => {
  const { dataDir, files, serve, connectAs, stop } = await startAuthorizedServe({
    prefix: 'lease-auth',
    workerIds: ['tessa'],
    ...TIMING,
  });
  try {
    const controlPlaneId = controlPlaneIdOf(dataDir.path);
    const intruder = encodeJson({ holder: 'intruder', epoch: 1, acquiredAt: Date.now() });

    // The CLI reads the bucket: its keys, and the record of each lease.
    const cli = await connectAs(files.cli, 'cli');
    const cliErrors = collectServerErrors(cli);
    const cliKv = await new Kvm(cli).open(LEASE_BUCKET);
    const keys: string[] = [];
    for await (const key of await cliKv.keys()) keys.push(key);
    assert.ok(keys.includes('scheduler') && keys.includes('partition.0'), keys.join(', '));
    assert.ok(keys.includes(`member.${controlPlaneId}`), keys.join(', '));
    const scheduler = await cliKv.get('scheduler');
    assert.is(decodeLeaseRecord(scheduler?.value ?? new Uint8Array())?.holder, controlPlaneId);

    // ...but may not write it, neither over a lease nor beside them.
    const cliPut = await cliKv.put('scheduler', intruder, { timeout: 2_000 }).catch((error: Error) => error);
    assert.instance(cliPut, Error, 'the CLI may not overwrite a lease');
    const cliCreate = await cliKv.create('partition.99', intruder).catch((error: Error) => error);
    assert.instance(cliCreate, Error, 'the CLI may not create a lease');
    await waitFor(
      () =>
        cliErrors.some((message) =>
          message.includes(`Permissions Violation for Publish to "$KV.${LEASE_BUCKET}.`),
        ),
      5_000,
      'the CLI refused by the server',
    );

    // A worker, whatever its client does, is refused at the bucket's subject.
    const tessa = await connectAs(files.tessa, 'tessa');
    const tessaErrors = collectServerErrors(tessa);
    const workerPut = await new Kvm(tessa)
      .open(LEASE_BUCKET)
      .then((kv) => kv.put('scheduler', intruder, { timeout: 2_000 }))
      .catch((error: Error) => error);
    assert.instance(workerPut, Error, 'a worker may not write a lease');
    const rawPut = await jetstream(tessa)
      .publish(`$KV.${LEASE_BUCKET}.scheduler`, intruder, { timeout: 2_000 })
      .catch((error: Error) => error);
    assert.instance(rawPut, Error, 'nor publish to its subject');
    await waitFor(
      () =>
        tessaErrors.some((message) =>
          message.includes(`Permissions Violation for Publish to "$KV.${LEASE_BUCKET}.scheduler"`),
        ),
      5_000,
      'the worker refused by the server',
    );

    // Nothing of theirs reached the bucket: the leases are the control plane's, and it keeps them.
    const control = await connectAs(files.control, 'control');
    const stored = await jetstreamManager(control);
    const bucket = await stored.streams.info(`KV_${LEASE_BUCKET}`);
    assert.is(
      await stored.streams
        .getMessage(bucket.config.name, { last_by_subj: `$KV.${LEASE_BUCKET}.partition.99` })
        .catch(() => null),
      null,
    );
    for await (const key of await cliKv.keys()) {
      if (!key.startsWith('member.'))
        assert.is(
          decodeLeaseRecord((await cliKv.get(key))?.value ?? new Uint8Array())?.holder,
          controlPlaneId,
          key,
        );
    }
    assert.not.match(serve.output(), /gave up/, 'the control plane kept its leases');
  } finally {
    await stop();
  }
});

test.run();
