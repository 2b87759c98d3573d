import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { open } from 'lmdb';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { WorkerJson } from '../../cli/worker-stats.js';
import { ReadModel, readModelPath } from '../../projections/read-model.js';
import { startUptime, uptimeOf } from '../../projections/uptime.js';
import type { WorkerDocument } from '../../projections/worker-document.js';
import { projectRoot } from '../../streams/util/project-root.js';
import { makeTempDir } from '../support/nats.js';
import { workerDocument } from '../support/workers.js';

const run = promisify(execFile);

/** The documents of `workers --json` as stored, without the columns computed when read. */
function storedPart(stdout: string): WorkerDocument[] {
  return (JSON.parse(stdout) as WorkerJson[]).map(
    ({ schedulable: _schedulable, stats: _stats, ...stored }) => stored,
  );
}

function documentOf(workerId: string, cpu: number): WorkerDocument {
  return workerDocument(workerId, {
    address: '127.0.0.1:50052',
    capacity: { cpu, memoryGb: 16, storageGb: 100, gpu: 0 },
    usage: { cpu: 0.25, memory: 0.5, storage: 0, gpu: 0 },
  });
}

test('documents written before shared structures were enabled still read, and can be rewritten', async () => {
  const dataDir = makeTempDir('readmodel');
  try {
    const path = readModelPath(dataDir.path);
    mkdirSync(path, { recursive: true });
    // The layout of the first release: every document carries its own field names.
    const legacy = open({ path, maxDbs: 8 });
    const legacyWorkers = legacy.openDB<WorkerDocument, string>({ name: 'workers' });
    await legacyWorkers.put('old', documentOf('old', 2));
    await legacy.close();

    const readModel = ReadModel.open({ dataDir: dataDir.path });
    assert.equal(readModel.getWorker('old'), documentOf('old', 2));
    await readModel.write(() => {
      readModel.putWorker(documentOf('new', 4));
      readModel.putWorker({ ...documentOf('old', 2), lastEventSeq: 2 });
    });
    assert.equal(
      readModel.listWorkers().map((document) => [document.workerId, document.lastEventSeq]),
      [
        ['new', 1],
        ['old', 2],
      ],
      'only worker documents are listed, not the stored structures',
    );
    await readModel.close();
  } finally {
    dataDir.remove();
  }
});

test('another process reading the read model sees every document (cloudai workers --json)', async () => {
  const dataDir = makeTempDir('readmodel');
  try {
    const readModel = ReadModel.open({ dataDir: dataDir.path });
    const documents = Array.from({ length: 50 }, (_, index) =>
      documentOf(`w${String(index).padStart(3, '0')}`, index),
    );
    await readModel.write(() => {
      for (const document of documents) readModel.putWorker(document);
    });
    // The reader starts after the writer stored the structures, and again after more were added.
    const cli = join(projectRoot(), 'dist', 'cli', 'main.js');
    const first = await run(process.execPath, [cli, 'workers', '--json', '--data-dir', dataDir.path]);
    assert.equal(storedPart(first.stdout), documents);
    const columns = (JSON.parse(first.stdout) as WorkerJson[]).map((worker) => [
      worker.schedulable,
      worker.stats.availabilitySinceRegistration,
    ]);
    assert.equal(
      columns,
      documents.map(() => [true, 1]),
      'each document comes with what is computed from it',
    );
    const withTasks = { ...documentOf('w999', 1), address: 'changed', note: 'a field never seen before' };
    await readModel.write(() => readModel.putWorker(withTasks as WorkerDocument));
    const second = await run(process.execPath, [cli, 'workers', '--json', '--data-dir', dataDir.path]);
    assert.equal(storedPart(second.stdout), [...documents, withTasks]);
    await readModel.close();
  } finally {
    dataDir.remove();
  }
});

test('uptime records are stored apart, and only when they say more than the document', async () => {
  const dataDir = makeTempDir('readmodel');
  try {
    const readModel = ReadModel.open({ dataDir: dataDir.path });
    const fresh = startUptime({ status: 'active', since: 1_000 });
    const lived = { ...fresh, activeMs: 60_000, outages: 1, recoveries: 1, recoveredDowntimeMs: 5_000 };
    await readModel.write(() => {
      readModel.putWorker(workerDocument('steady', { statusSince: 1_000, uptime: fresh }));
      readModel.putWorker(workerDocument('veteran', { statusSince: 66_000, uptime: lived }));
    });
    assert.is(readModel.getUptime('steady'), undefined, 'a fresh record is not stored');
    assert.equal(
      uptimeOf(readModel.getWorker('steady') ?? workerDocument('none')),
      fresh,
      'it reads back the same',
    );
    assert.equal(readModel.getUptime('veteran'), lived);
    assert.equal(readModel.getWorker('veteran')?.uptime, lived);
    assert.equal(readModel.getWorker('veteran', { uptime: false })?.uptime, undefined);
    assert.equal(
      readModel.listWorkers().map((document) => [document.workerId, document.uptime]),
      [
        ['steady', undefined],
        ['veteran', lived],
      ],
    );
    // Removed, then registered afresh: the old record must not outlive it.
    await readModel.write(() =>
      readModel.putWorker(
        workerDocument('veteran', {
          statusSince: 90_000,
          uptime: startUptime({ status: 'active', since: 90_000 }),
        }),
      ),
    );
    assert.is(readModel.getUptime('veteran'), undefined);
    await readModel.close();
  } finally {
    dataDir.remove();
  }
});

test.run();
