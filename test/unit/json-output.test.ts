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

test('the array is written in slices, one compact element per line, and parses back to the items', async () => {
  for (const length of [0, 1, 2, 1_999, 2_000, 2_001, 4_001]) {
    const items = Array.from({ length }, (_, index) => ({
      id: `w${index}`,
      nested: { list: [index], empty: [] },
    }));
    const prepared = items.map((item) => ({ ...item, added: true }));
    const expected =
      length === 0 ? '[]\n' : `[\n${prepared.map((item) => JSON.stringify(item)).join(',\n')}\n]\n`;
    const output = await written(items);
    assert.is(output, expected, `${length} items`);
    assert.equal(JSON.parse(output), prepared);
  }
});

test.run();
