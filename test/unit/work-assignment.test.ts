import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { desiredHolderOf, planMoves, watchedPartitions } from '../../control-plane/leases/work-assignment.js';
import { ALL_PARTITIONS, partitionOf, WORKER_PARTITIONS } from '../../streams/contracts/partitions.js';

const noneFree = new Map<number, number>();

test('partitions are dealt round-robin over the live members in id order, whatever order they are listed in', () => {
  const owners = ALL_PARTITIONS.map((partition) => desiredHolderOf(partition, ['cp-b', 'cp-a']));
  assert.is(owners.filter((owner) => owner === 'cp-a').length, WORKER_PARTITIONS / 2);
  assert.is(owners[0], 'cp-a');
  assert.is(owners[1], 'cp-b');
  assert.is(desiredHolderOf(3, []), undefined);
});

test('a lone member takes every free partition', () => {
  const moves = planMoves({
    me: 'cp-a',
    liveMembers: ['cp-a'],
    holders: new Map(),
    partitions: ALL_PARTITIONS,
    freeForMs: noneFree,
    orphanAfterMs: 10_000,
  });
  assert.equal(moves, { acquire: [...ALL_PARTITIONS], release: [] });
});

test('when a member joins, the holder hands it its share and takes nothing', () => {
  const holders = new Map(ALL_PARTITIONS.map((partition) => [partition, 'cp-a']));
  const view = {
    liveMembers: ['cp-a', 'cp-b'],
    holders,
    partitions: ALL_PARTITIONS,
    freeForMs: noneFree,
    orphanAfterMs: 10_000,
  };
  assert.equal(planMoves({ me: 'cp-a', ...view }), { acquire: [], release: [1, 3, 5, 7, 9, 11] });
  assert.equal(
    planMoves({ me: 'cp-b', ...view }),
    { acquire: [], release: [] },
    'b waits until they are free',
  );
  const handedOver = new Map(
    ALL_PARTITIONS.filter((partition) => partition % 2 === 0).map((partition) => [partition, 'cp-a']),
  );
  assert.equal(planMoves({ me: 'cp-b', ...view, holders: handedOver }).acquire, [1, 3, 5, 7, 9, 11]);
});

test('a partition left free by the member it is meant for is taken by another after orphanAfterMs', () => {
  const view = {
    me: 'cp-a',
    liveMembers: ['cp-a', 'cp-b'],
    holders: new Map(
      ALL_PARTITIONS.filter((partition) => partition !== 1).map((partition) => [
        partition,
        partition % 2 === 0 ? 'cp-a' : 'cp-b',
      ]),
    ),
    partitions: ALL_PARTITIONS,
    orphanAfterMs: 10_000,
  };
  assert.equal(planMoves({ ...view, freeForMs: new Map([[1, 9_999]]) }).acquire, []);
  assert.equal(planMoves({ ...view, freeForMs: new Map([[1, 10_000]]) }).acquire, [1]);
});

test('partitionOf spreads ids over every partition and agrees with nats-server on known ids', () => {
  // What nats-server 2.9.10 delivered heartbeat.<id> as, with the mapping of nats.conf.
  const fromServer = { tessa: 11, kim: 8, ravi: 1, 'worker-0': 10, a: 4, 'Z_9-x': 4 };
  for (const [workerId, partition] of Object.entries(fromServer))
    assert.is(partitionOf(workerId), partition, workerId);
  const seen = new Set(Array.from({ length: 500 }, (_, index) => partitionOf(`worker-${index}`)));
  assert.is(seen.size, WORKER_PARTITIONS);
});

test('each member watches the partitions it would be dealt if their holder died, and its own', () => {
  const members = ['cp-a', 'cp-b', 'cp-c'];
  const holders = new Map(
    ALL_PARTITIONS.map((partition) => [partition, desiredHolderOf(partition, members) as string]),
  );
  const watched = Object.fromEntries(
    members.map((me) => [
      me,
      watchedPartitions({ me, liveMembers: members, holders, partitions: ALL_PARTITIONS }),
    ]),
  );
  // Every partition is watched by its holder and by exactly one other member: the one it would go to.
  for (const partition of ALL_PARTITIONS) {
    const holder = holders.get(partition) as string;
    assert.ok(watched[holder]?.includes(partition), `partition ${partition} by its holder`);
    const others = members.filter((member) => member !== holder && watched[member]?.includes(partition));
    assert.is(others.length, 1, `partition ${partition}`);
    const survivors = members.filter((member) => member !== holder);
    assert.is(others[0], desiredHolderOf(partition, survivors));
  }
  // Free partitions are watched by everyone until somebody holds them.
  const holders2 = new Map([[0, 'cp-b']]);
  assert.equal(
    watchedPartitions({
      me: 'cp-a',
      liveMembers: ['cp-a', 'cp-b'],
      holders: holders2,
      partitions: [0, 1, 2],
    }),
    [0, 1, 2],
  );
  // Its own stay watched even once the bucket names it (a takeover under way): what was heard
  // before must last until their workers are restored (the intake does not shadow those it listens to).
  assert.equal(
    watchedPartitions({
      me: 'cp-a',
      liveMembers: ['cp-a', 'cp-b'],
      holders: new Map([
        [0, 'cp-a'],
        [1, 'cp-b'],
      ]),
      partitions: [0, 1],
    }),
    [0, 1],
  );
  // With a third member, cp-b's partition 1 would go to cp-c (1 % 2 of [cp-a, cp-c]): cp-a watches its own only.
  assert.equal(
    watchedPartitions({
      me: 'cp-a',
      liveMembers: ['cp-a', 'cp-b', 'cp-c'],
      holders: new Map([
        [0, 'cp-a'],
        [1, 'cp-b'],
      ]),
      partitions: [0, 1],
    }),
    [0],
  );
});

test.run();
