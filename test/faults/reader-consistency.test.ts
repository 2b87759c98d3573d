import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { WorkerDocument } from '../../projections/worker-document.js';
import { workerEventMessageId, workerEventSubject } from '../../streams/contracts/subjects.js';
import { encodeWorkerEvent, type WorkerEvent } from '../../streams/contracts/worker-events.js';
import { ensureWorkerEventsStream } from '../../streams/nats/event-streams.js';
import { projectRoot } from '../../streams/util/project-root.js';
import { runCli } from '../support/cli.js';
import { withTestCluster } from '../support/cluster.js';
import { waitFor } from '../support/nats.js';

const WORKERS = 1_000;
const WAVES = 30;
const READ_FOR_MS = 6_000;

function eventOf(workerId: string, seq: number): WorkerEvent {
  const at = seq * 1_000;
  if (seq === 1) {
    return {
      type: 'WorkerRegistered',
      workerId,
      at,
      seq,
      address: 'h:1',
      capacity: { cpu: 1, memoryGb: 1, storageGb: 0, gpu: 0 },
    };
  }
  return seq % 2 === 0
    ? { type: 'WorkerInactive', workerId, at, seq, lastHeartbeatAt: at - 1_000, silentForMs: 1_000 }
    : { type: 'WorkerActivated', workerId, at, seq, lastHeartbeatAt: at };
}

function runChecker(
  dataDir: string,
): Promise<{ snapshots: number; violations: number; firstViolation: string; errors: number }> {
  const script = join(projectRoot(), 'test', 'support', 'read-model-checker.ts');
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', script, dataDir, String(READ_FOR_MS)],
      (error, stdout, stderr) => {
        if (error) reject(new Error(`checker failed: ${stderr}`));
        else resolve(JSON.parse(stdout));
      },
    );
  });
}

test('readers in other processes never see a half-applied batch, and `cloudai workers` never fails under load', async () => {
  await withTestCluster({ heartbeatTimeoutMs: 30_000, heartbeatIntervalMs: 5_000 }, async (cluster) => {
    const serve = await cluster.startServe();
    const nc = await cluster.connect('load');
    await ensureWorkerEventsStream(await jetstreamManager(nc));
    const js = jetstream(nc);
    const ids = Array.from({ length: WORKERS }, (_, index) => `w${String(index).padStart(4, '0')}`);

    const load = (async () => {
      for (let seq = 1; seq <= WAVES; seq++) {
        await Promise.all(
          ids.map((workerId) =>
            js.publish(workerEventSubject(workerId), encodeWorkerEvent(eventOf(workerId, seq)), {
              msgID: workerEventMessageId(workerId, seq),
            }),
          ),
        );
        await sleep(100);
      }
    })();
    const checker = runChecker(cluster.dataDir.path);

    let cliRuns = 0;
    let wavesSeen = new Set<number>();
    const cliDeadline = Date.now() + READ_FOR_MS;
    while (Date.now() < cliDeadline) {
      const result = await runCli(['workers', '--json'], cluster.env());
      assert.is(result.code, 0, result.stderr);
      const workers = JSON.parse(result.stdout) as WorkerDocument[];
      // Events go out in waves (event k of every worker, in id order), so any whole prefix of
      // the stream shows numbers that never rise along the ids and differ by at most one.
      const seqs = workers.map((worker) => worker.lastEventSeq);
      for (let index = 1; index < seqs.length; index++) {
        assert.ok(
          (seqs[index] as number) <= (seqs[index - 1] as number),
          'numbers rise along the ids: a torn read',
        );
      }
      if (seqs.length > 0)
        assert.ok((seqs[0] as number) - (seqs.at(-1) as number) <= 1, 'more than one wave apart');
      wavesSeen = new Set([...wavesSeen, ...seqs]);
      cliRuns++;
    }
    await load;
    const checked = await checker;
    assert.is(checked.errors, 0, checked.firstViolation);
    assert.is(checked.violations, 0, checked.firstViolation);
    assert.ok(checked.snapshots > 100, `only ${checked.snapshots} snapshots`);
    assert.ok(wavesSeen.size > 3, 'the CLI ran while the projector was busy');
    await waitFor(
      () => cluster.workers().every((worker) => worker.lastEventSeq === WAVES),
      20_000,
      'all applied',
    );
    serve.process.kill('SIGTERM');
    await serve.exited;
    process.stdout.write(`  (${checked.snapshots} checked snapshots, ${cliRuns} CLI runs under load)\n`);
  });
});

test.run();
