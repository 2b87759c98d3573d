import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebhookSender, type WebhookSenderOptions } from '../../control-plane/webhook.js';
import { silentLogger } from '../../streams/util/logger.js';
import { waitFor } from '../support/nats.js';
import { type Answer, WebhookReceiver } from '../support/webhook-receiver.js';

const webhook = suite('alert webhook against a real HTTP server');

/** Short pauses, and no randomness: the backoff is the whole doubled delay (20, 40, 80 ms…). */
const FAST: Partial<WebhookSenderOptions> = {
  firstRetryDelayMs: 20,
  maxRetryDelayMs: 1_000,
  random: () => 1,
};

async function withReceiver(
  answer: Answer,
  options: Partial<WebhookSenderOptions>,
  body: (receiver: WebhookReceiver, sender: WebhookSender) => Promise<void>,
): Promise<void> {
  const receiver = await WebhookReceiver.start(answer);
  const sender = new WebhookSender({ url: receiver.url, logger: silentLogger, ...FAST, ...options });
  try {
    await body(receiver, sender);
  } finally {
    await sender.close(0);
    await receiver.close();
  }
}

webhook('POSTs each message as JSON, with its content type, to the URL as given', async () => {
  await withReceiver(
    () => 200,
    {},
    async (receiver, sender) => {
      const alert = { alert: 'worker-inactive', workerId: 'tessa', summary: 'worker tessa is inactive' };
      sender.send(alert);
      await waitFor(() => sender.stats.delivered === 1, 2_000, 'the delivery');
      assert.is(receiver.requests.length, 1);
      assert.is(receiver.requests[0]?.method, 'POST');
      assert.is(receiver.requests[0]?.headers['content-type'], 'application/json');
      assert.equal(receiver.bodies(), [alert]);
      assert.equal(sender.stats, { delivered: 1, retried: 0, failed: 0, dropped: 0, abandoned: 0 });
    },
  );
});

webhook(
  'a receiver that answers 500 twice gets the message on the third attempt, after backoff',
  async () => {
    await withReceiver(
      (n) => (n <= 2 ? 500 : 200),
      {},
      async (receiver, sender) => {
        sender.send({ n: 1 });
        await waitFor(() => sender.stats.delivered === 1, 3_000, 'the delivery');
        assert.is(receiver.requests.length, 3);
        assert.equal(receiver.bodies(), [{ n: 1 }, { n: 1 }, { n: 1 }]);
        assert.equal(sender.stats, { delivered: 1, retried: 2, failed: 0, dropped: 0, abandoned: 0 });
        const [firstPause = 0, secondPause = 0] = receiver.pauses();
        // Backoff of 20 ms, then 40 ms (Date.now() has millisecond resolution: 1 ms of slack).
        assert.ok(firstPause >= 19, `first retry after ${firstPause} ms`);
        assert.ok(secondPause >= 39, `second retry after ${secondPause} ms`);
      },
    );
  },
);

webhook('4xx is not retried, except 408 and 429', async () => {
  await withReceiver(
    () => 400,
    {},
    async (receiver, sender) => {
      sender.send({ n: 1 });
      await waitFor(() => sender.stats.failed === 1, 2_000, 'the refusal');
      await sleep(100);
      assert.is(receiver.requests.length, 1);
      assert.is(sender.stats.retried, 0);
    },
  );
  for (const status of [408, 429]) {
    await withReceiver(
      (n) => (n === 1 ? status : 200),
      {},
      async (receiver, sender) => {
        sender.send({ n: 1 });
        await waitFor(() => sender.stats.delivered === 1, 2_000, `the delivery after ${status}`);
        assert.is(receiver.requests.length, 2);
        assert.is(sender.stats.retried, 1);
      },
    );
  }
});

webhook('a message is given up after maxAttempts failures', async () => {
  await withReceiver(
    () => 503,
    { maxAttempts: 3 },
    async (receiver, sender) => {
      sender.send({ n: 1 });
      await waitFor(() => sender.stats.failed === 1, 3_000, 'giving up');
      await sleep(200);
      assert.is(receiver.requests.length, 3);
      assert.equal(sender.stats, { delivered: 0, retried: 2, failed: 1, dropped: 0, abandoned: 0 });
    },
  );
});

webhook('a request without an answer times out and is retried', async () => {
  await withReceiver(
    (n) => (n === 1 ? 'never' : 200),
    { requestTimeoutMs: 150 },
    async (receiver, sender) => {
      sender.send({ n: 1 });
      await waitFor(() => sender.stats.delivered === 1, 3_000, 'the delivery');
      assert.is(receiver.requests.length, 2);
      const [pause = 0] = receiver.pauses();
      // The timeout (150 ms) and the backoff (20 ms) passed; the timeout runs from the request's
      // start, a few milliseconds before it arrives, which the backoff more than covers.
      assert.ok(pause >= 150, `retried after ${pause} ms`);
      assert.is(sender.stats.retried, 1);
    },
  );
});

webhook('an unreachable receiver: retried, then given up', async () => {
  const closed = await WebhookReceiver.start();
  await closed.close();
  const sender = new WebhookSender({ url: closed.url, logger: silentLogger, ...FAST, maxAttempts: 2 });
  try {
    sender.send({ n: 1 });
    await waitFor(() => sender.stats.failed === 1, 3_000, 'giving up');
    assert.equal(sender.stats, { delivered: 0, retried: 1, failed: 1, dropped: 0, abandoned: 0 });
  } finally {
    await sender.close(0);
  }
});

webhook('send() returns at once; a full queue drops the oldest waiting message and counts it', async () => {
  await withReceiver(
    (n) => (n === 1 ? 'never' : 200),
    { concurrency: 1, maxQueued: 3 },
    async (receiver, sender) => {
      const started = performance.now();
      for (let n = 1; n <= 6; n++) sender.send({ n });
      const sendMs = performance.now() - started;
      assert.ok(sendMs < 20, `six sends took ${sendMs} ms`);
      await waitFor(() => receiver.requests.length === 1, 2_000, 'the first request');
      // 1 is under way, 2 and 3 were pushed out by 5 and 6.
      assert.is(sender.inFlight, 1);
      assert.is(sender.queued, 3);
      assert.is(sender.stats.dropped, 2);
      receiver.release();
      await waitFor(() => sender.stats.delivered === 4, 2_000, 'the rest delivered');
      assert.equal(receiver.bodies(), [{ n: 1 }, { n: 4 }, { n: 5 }, { n: 6 }]);
      assert.equal(sender.stats, { delivered: 4, retried: 0, failed: 0, dropped: 2, abandoned: 0 });
    },
  );
});

webhook('close() waits for deliveries under way only up to its grace, then abandons them', async () => {
  const receiver = await WebhookReceiver.start(() => 'never');
  const sender = new WebhookSender({ url: receiver.url, logger: silentLogger, ...FAST, concurrency: 1 });
  try {
    sender.send({ n: 1 });
    sender.send({ n: 2 });
    await waitFor(() => receiver.requests.length === 1, 2_000, 'the first request');
    const started = Date.now();
    await sender.close(200);
    const closeMs = Date.now() - started;
    assert.ok(closeMs >= 190 && closeMs < 1_000, `close took ${closeMs} ms`);
    assert.equal(sender.stats, { delivered: 0, retried: 0, failed: 0, dropped: 0, abandoned: 2 });
    sender.send({ n: 3 });
    await sleep(100);
    assert.is(receiver.requests.length, 1, 'nothing is sent after close');
  } finally {
    await receiver.close();
  }
});

webhook('close() returns at once when nothing is waiting', async () => {
  await withReceiver(
    () => 200,
    {},
    async (_receiver, sender) => {
      sender.send({ n: 1 });
      await waitFor(() => sender.stats.delivered === 1, 2_000, 'the delivery');
      const started = Date.now();
      await sender.close(5_000);
      assert.ok(Date.now() - started < 100);
      assert.is(sender.stats.abandoned, 0);
    },
  );
});

webhook.run();
