import { PassThrough } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeJsonArray } from '../../cli/json-output.js';

async function written(items: readonly object[]): Promise<string> {
  const stream = new PassThrough({ highWaterMark: 1_024 }); // small: the writer must wait for drains
  let output = '';
  stream.on('data', (chunk) => {
    output += chunk;
  });
  await writeJsonArray(stream, items, (item) => ({ ...item, added: true }));
  stream.end();
  return output;
}

test('the array is written in slices, byte for byte as JSON.stringify would indent it whole', async () => {
  for (const length of [0, 1, 2, 1_999, 2_000, 2_001, 4_001]) {
    const items = Array.from({ length }, (_, index) => ({
      id: `w${index}`,
      nested: { list: [index], empty: [] },
    }));
    const expected = `${JSON.stringify(
      items.map((item) => ({ ...item, added: true })),
      null,
      2,
    )}\n`;
    assert.is(await written(items), expected, `${length} items`);
  }
});

test.run();
