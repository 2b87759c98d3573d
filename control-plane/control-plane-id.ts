import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const ID_FILE = 'control-plane-id';

/**
 * This control plane's name among its peers, kept in its data dir so a restart comes back as
 * the same member (and continues its own disruption-mode numbering): the host name and a
 * random suffix, as a subject token (`[A-Za-z0-9_-]`).
 */
export function controlPlaneIdOf(dataDir: string): string {
  const file = join(dataDir, ID_FILE);
  try {
    const stored = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9_-]{1,64}$/.test(stored)) return stored;
  } catch {
    // First start in this data dir.
  }
  const host =
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, '-')
      .slice(0, 40) || 'control-plane';
  const id = `${host}-${randomBytes(4).toString('hex')}`;
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${id}\n`);
  return id;
}
