import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { projectRoot } from '../../streams/util/project-root.js';

const root = projectRoot();

/** The pages a reader is sent to: the front page and everything under docs/. */
function pages(): string[] {
  const docs = join(root, 'docs');
  const inDocs = readdirSync(docs)
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(docs, name));
  return [join(root, 'README.md'), ...inDocs];
}

/** The text a reader sees as prose: fenced code blocks blanked out, so their contents are not read as links. */
function prose(markdown: string): string[] {
  const lines = markdown.split('\n');
  let fenced = false;
  return lines.map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line;
  });
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

interface Link {
  page: string;
  line: number;
  target: string;
}

/** A link's file (empty: the page itself) and its anchor, if any. */
function split(target: string): { path: string; anchor?: string } {
  const hash = target.indexOf('#');
  return hash < 0 ? { path: target } : { path: target.slice(0, hash), anchor: target.slice(hash + 1) };
}

/** Inline code spans removed, so `[a](b)` written as code is not a link. */
function withoutCode(line: string): string {
  return line.replace(/`[^`]*`/g, '');
}

function relativeLinks(page: string): Link[] {
  const links: Link[] = [];
  prose(readFileSync(page, 'utf8')).forEach((line, index) => {
    for (const [, target = ''] of withoutCode(line).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: and the like
      links.push({ page, line: index + 1, target });
    }
  });
  return links;
}

/** The top-level rooms and files whose paths the docs name in code spans, e.g. `actors/fleet.ts`. */
const NAMED_PATH =
  /^(?:(?:streams|actors|projections|scheduler|worker|control-plane|cli|bench|test|docs)\/[\w./-]*|nats\.conf|biome\.json|package\.json|tsconfig\.json)$/;

function namedPaths(page: string): Link[] {
  const paths: Link[] = [];
  prose(readFileSync(page, 'utf8')).forEach((line, index) => {
    for (const [, code = ''] of line.matchAll(/`([^`\s]+)`/g)) {
      if (NAMED_PATH.test(code)) paths.push({ page, line: index + 1, target: code });
    }
  });
  return paths;
}

function where(link: Link): string {
  return `${relative(root, link.page)}:${link.line} → ${link.target}`;
}

test('the README and docs/ exist and link to each other', () => {
  const all = pages();
  assert.ok(all.length > 1, 'docs/ holds at least one page');
  const fromReadme = new Set(
    relativeLinks(join(root, 'README.md')).map((link) => resolve(root, split(link.target).path)),
  );
  for (const page of all.slice(1)) {
    assert.ok(fromReadme.has(page), `README.md links to ${relative(root, page)}`);
  }
});

test('every relative link names a file or folder that exists', () => {
  const broken = pages()
    .flatMap(relativeLinks)
    .filter((link) => {
      const { path } = split(link.target);
      return path !== '' && !existsSync(resolve(dirname(link.page), decodeURI(path)));
    })
    .map(where);
  assert.equal(broken, []);
});

test('every anchor names a heading of the page it points into', () => {
  const broken = pages()
    .flatMap(relativeLinks)
    .filter((link) => {
      const { path, anchor } = split(link.target);
      if (anchor === undefined) return false;
      const target = path === '' ? link.page : resolve(dirname(link.page), decodeURI(path));
      if (!existsSync(target) || statSync(target).isDirectory() || !target.endsWith('.md')) return true;
      return !anchorsOf(readFileSync(target, 'utf8')).has(anchor);
    })
    .map(where);
  assert.equal(broken, []);
});

test('every source path the docs name in code exists', () => {
  const missing = pages()
    .flatMap(namedPaths)
    .filter((path) => !existsSync(join(root, path.target)))
    .map(where);
  assert.equal(missing, []);
});

test('headings become GitHub anchors', () => {
  const anchors = anchorsOf(
    '# Metrics and /healthz\n## When is a heartbeat late? φ accrual\n## `cloudai workers stats ID`\n' +
      '## Mass-failure guard: disruption mode\n## Settings\n## Settings\n```\n# not a heading\n```\n',
  );
  assert.equal(
    [...anchors],
    [
      'metrics-and-healthz',
      'when-is-a-heartbeat-late-φ-accrual',
      'cloudai-workers-stats-id',
      'mass-failure-guard-disruption-mode',
      'settings',
      'settings-1',
    ],
  );
});

test.run();
