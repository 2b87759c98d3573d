import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding package.json. Sources run from `streams/util/` under tsx and from
 * `dist/streams/util/` once compiled, so the depth differs and is found rather than assumed.
 */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('cannot find the project root (no package.json above the installed code)');
    dir = parent;
  }
  return dir;
}

export function defaultNatsConfigPath(): string {
  return join(projectRoot(), 'nats.conf');
}

/** The configuration of one server of a three-server cluster (docs/high-availability.md). */
export function defaultNatsClusterConfigPath(): string {
  return join(projectRoot(), 'nats-cluster.conf');
}
