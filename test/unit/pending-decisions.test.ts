import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NO_RESOURCES } from '../../projections/resources.js';
import { PendingDecisions } from '../../scheduler/pending-decisions.js';

const requests = (cpu: number) => ({ cpu, memoryGb: cpu * 2, storageGb: 1, gpu: 0 });

test('pending assignments reserve resources on their worker until applied, and say which workers changed', () => {
  const pending = new PendingDecisions();
  pending.add({ messageId: 'a', taskId: 't-1', kind: 'assign', workerId: 'kim', requests: requests(1) });
  pending.add({ messageId: 'b', taskId: 't-2', kind: 'assign', workerId: 'kim', requests: requests(2) });
  pending.add({ messageId: 'c', taskId: 't-3', kind: 'submit' });
  assert.equal(pending.reservedOn('kim'), { cpu: 3, memoryGb: 6, storageGb: 2, gpu: 0 });
  assert.equal(pending.reservedOn('ravi'), NO_RESOURCES);
  assert.equal([...pending.takeChangedWorkers()], ['kim']);
  assert.equal([...pending.takeChangedWorkers()], [], 'nothing changed since');

  assert.is(pending.stored('a', 10, 9), undefined, 'not applied yet');
  assert.equal([...pending.takeChangedWorkers()], [], 'stored is not applied');
  assert.equal(
    pending.applied(10).map((decision) => decision.messageId),
    ['a'],
  );
  assert.equal(pending.reservedOn('kim'), requests(2));
  assert.equal([...pending.takeChangedWorkers()], ['kim']);
  pending.remove('b');
  assert.equal(pending.reservedOn('kim'), NO_RESOURCES);
  assert.equal([...pending.takeChangedWorkers()], ['kim']);
  pending.remove('c');
  assert.equal([...pending.takeChangedWorkers()], [], 'a submission reserves nothing');
});

test.run();
