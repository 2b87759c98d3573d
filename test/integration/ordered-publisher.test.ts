import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AckInbox } from '../../streams/nats/ack-inbox.js';
import { connectToNats } from '../../streams/nats/connection.js';
import type { NatsServer } from '../../streams/nats/nats-server.js';
import { OrderedPublisher } from '../../streams/nats/ordered-publisher.js';
import { silentLogger } from '../../streams/util/logger.js';
import { makeTempDir, startTestNatsServer } from '../support/nats.js';

interface Context {
  server: NatsServer;
  storeDir: ReturnType<typeof makeTempDir>;
  nc: NatsConnection;
}

const STREAM = 'PUBLISHER_TEST';
const publisher = suite<Context>('ordered publisher (real nats-server)');

publisher.before(async (context) => {
  context.storeDir = makeTempDir('nats');
  context.server = await startTestNatsServer(context.storeDir.path);
  context.nc = await connectToNats({ url: context.server.url, name: 'publisher-test' });
  const jsm = await jetstreamManager(context.nc);
  await jsm.streams.add({ name: STREAM, subjects: ['publisher.test.>'] });
});

publisher.after(async (context) => {
  await context.nc?.close();
  await context.server?.stop();
  context.storeDir?.remove();
});

for (const via of ['nc', 'js'] as const) {
  publisher(
    `a burst over many keys keeps each key’s order and never exceeds the in-flight bound (${via})`,
    async (context) => {
      const maxInFlight = 8;
      const ordered = new OrderedPublisher({
        ...(via === 'nc' ? { nc: context.nc } : { js: jetstream(context.nc) }),
        logger: silentLogger,
        maxInFlight,
      });
      const keys = 40;
      const perKey = 50;
      const encoder = new TextEncoder();
      const acknowledged: Array<Promise<number>> = [];
      // Interleaved, as transitions of many workers arrive.
      for (let index = 0; index < perKey; index++) {
        for (let key = 0; key < keys; key++) {
          acknowledged.push(
            ordered.publish(`k${key}`, {
              subject: `publisher.test.k${key}`,
              payload: encoder.encode(JSON.stringify({ key, index })),
              messageId: `k${key}:${index}`,
            }),
          );
        }
      }
      const streamSeqs = await Promise.all(acknowledged);
      assert.is(new Set(streamSeqs).size, keys * perKey, 'every message stored once');
      assert.ok(ordered.stats.peakInFlight <= maxInFlight, `peak in flight ${ordered.stats.peakInFlight}`);
      assert.is(ordered.stats.peakInFlight, maxInFlight, 'the window is used in full');
      assert.is(ordered.pending, 0);

      // In the stream, each key's messages are in publish order.
      const consumer = await jetstream(context.nc).consumers.get(STREAM);
      const messages = await consumer.fetch({ max_messages: keys * perKey, expires: 5_000 });
      const lastIndex = new Map<number, number>();
      let read = 0;
      for await (const msg of messages) {
        const { key, index } = msg.json<{ key: number; index: number }>();
        assert.is(index, (lastIndex.get(key) ?? -1) + 1, `key ${key} out of order`);
        lastIndex.set(key, index);
        if (++read === keys * perKey) break;
      }
      assert.is(read, keys * perKey);
      await ordered.close();
    },
  );
}

publisher('a message published twice with one id is stored once (nc)', async (context) => {
  const ordered = new OrderedPublisher({ nc: context.nc, logger: silentLogger });
  const message = {
    subject: 'publisher.test.dedup',
    payload: new TextEncoder().encode('{}'),
    messageId: 'dedup:1',
  };
  const first = await ordered.publish('dedup', message);
  const again = await ordered.publish('dedup', message);
  assert.is(again, first, 'the second publish is acknowledged with the first one’s sequence');
  await ordered.close();
});

publisher(
  'a subject no stream stores is refused, and an acknowledgement not coming times out',
  async (context) => {
    const inbox = new AckInbox(context.nc);
    const nowhere = { subject: 'nowhere.stored', payload: new Uint8Array(), messageId: 'n:1' };
    const refusal = await inbox.publish(nowhere, 5_000).then(
      () => 'stored',
      (error: Error) => error.message,
    );
    assert.match(refusal, /503/);
    // Something answers, but never in time: a subscriber that keeps the request to itself.
    const silent = context.nc.subscribe('publisher.silent', { callback: () => {} });
    await context.nc.flush();
    const timedOut = await inbox
      .publish({ subject: 'publisher.silent', payload: new Uint8Array(), messageId: 's:1' }, 200)
      .then(
        () => 'stored',
        (error: Error) => error.message,
      );
    assert.match(timedOut, /timeout/);
    assert.is(inbox.size, 0);
    silent.unsubscribe();
    inbox.close();
  },
);

publisher.run();
