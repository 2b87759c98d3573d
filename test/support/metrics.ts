/**
 * The samples of a Prometheus text exposition, by series as printed:
 * `cloudai_workers{state="active"}` → 1.
 */
export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

export interface Scrape {
  status: number;
  contentType: string;
  samples: Map<string, number>;
  /** One sample; fails the test when the series is missing. */
  value(series: string): number;
}

export async function scrapeMetrics(baseUrl: string): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`);
  const samples = parseExposition(await response.text());
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    samples,
    value(series) {
      const value = samples.get(series);
      if (value === undefined) throw new Error(`no sample ${series} in the scrape`);
      return value;
    },
  };
}

export async function getHealth(baseUrl: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${baseUrl}/healthz`);
  return { status: response.status, body: await response.json() };
}
