import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HEARTBEAT_PARTITION_MAPPING } from '../../streams/contracts/partitions.js';
import { projectRoot } from '../../streams/util/project-root.js';

/** The subject mappings a nats-server configuration declares, as written in its `mappings { }` block. */
function mappingsOf(configText: string): Array<{ from: string; to: string }> {
  // The block ends at a `}` alone on its line: the templates themselves hold braces.
  const block = /^mappings\s*\{\n([\s\S]*?)^\}/m.exec(configText)?.[1];
  if (block === undefined) return [];
  return [...block.matchAll(/^\s*"([^"]+)"\s*:\s*"([^"]+)"\s*$/gm)].map(([, from, to]) => ({
    from: from as string,
    to: to as string,
  }));
}

for (const file of ['nats.conf', 'nats-cluster.conf']) {
  test(`${file} maps heartbeats to the partitions of streams/contracts/partitions.ts`, () => {
    const mappings = mappingsOf(readFileSync(join(projectRoot(), file), 'utf8'));
    assert.equal(mappings, [{ ...HEARTBEAT_PARTITION_MAPPING }]);
  });
}

test('a mapping that differs from the constant is seen', () => {
  const other = 'mappings {\n  "heartbeat.*": "heartbeat.{{partition(8,1)}}.{{wildcard(1)}}"\n}\n';
  assert.not.equal(mappingsOf(other), [{ ...HEARTBEAT_PARTITION_MAPPING }]);
  assert.equal(mappingsOf('port: 4222\n'), []);
});

test.run();
