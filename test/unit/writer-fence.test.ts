import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WriterFence } from '../../projections/writer-fence.js';
import { partitionOf } from '../../streams/contracts/partitions.js';
import type { WorkerStreamEvent } from '../../streams/contracts/worker-events.js';

const workerId = 'tessa';
const partition = partitionOf(workerId);

function inactive(epoch?: number): WorkerStreamEvent {
  return {
    type: 'WorkerInactive',
    workerId,
    at: 1_000,
    seq: 7,
    lastHeartbeatAt: 0,
    silentForMs: 1_000,
    ...(epoch === undefined ? {} : { epoch, controlPlane: 'cp-a' }),
  };
}

test('an event of an older epoch than its partition marker is fenced; the same or a newer one passes', () => {
  const fence = new WriterFence();
  assert.ok(fence.admits(inactive(5)), 'no marker yet');
  fence.take({ type: 'PartitionTaken', partition, epoch: 9, controlPlane: 'cp-b', at: 2_000 });
  assert.not.ok(fence.admits(inactive(5)), 'the previous holder, late');
  assert.ok(fence.admits(inactive(9)));
  assert.ok(fence.admits(inactive(12)));
  assert.ok(fence.admits(inactive()), 'events without an epoch (older versions) pass');
});

test('markers only move forward, and other partitions are not affected', () => {
  const fence = new WriterFence({ [partition]: 9 });
  fence.take({ type: 'PartitionTaken', partition, epoch: 4, controlPlane: 'cp-a', at: 0 });
  assert.not.ok(fence.admits(inactive(5)));
  assert.equal(fence.toRecord(), { [partition]: 9 });
  const elsewhere = new WriterFence({ [(partition + 1) % 12]: 100 });
  assert.ok(elsewhere.admits(inactive(5)));
});

test.run();
