import { once } from 'node:events';

/** Elements serialised at a time: enough to amortise each write, few enough to keep the heap small. */
const CHUNK = 2_000;

/**
 * Writes `JSON.stringify(items, null, 2)` and a newline to `stream`, byte for byte, a slice at
 * a time: 100 000 workers make over 100 MB of JSON, and holding it all as one string (then one
 * buffer) cost more in garbage collection than serialising it. `prepare` runs on each item just
 * before it is serialised.
 */
export async function writeJsonArray<T, U>(
  stream: NodeJS.WritableStream,
  items: readonly T[],
  prepare: (item: T) => U,
): Promise<void> {
  if (items.length === 0) {
    await write(stream, '[]\n');
    return;
  }
  for (let start = 0; start < items.length; start += CHUNK) {
    const slice = items.slice(start, start + CHUNK).map(prepare);
    // Elements of an indented array are indented alike whatever array holds them: keep the
    // slice's own lines, drop its brackets.
    const body = JSON.stringify(slice, null, 2).slice(2, -2);
    const opening = start === 0 ? '[\n' : ',\n';
    const closing = start + CHUNK >= items.length ? '\n]\n' : '';
    await write(stream, `${opening}${body}${closing}`);
  }
}

async function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}
