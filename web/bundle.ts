import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { projectRoot } from '../streams/util/project-root.js';

/**
 * Bundles the dashboard's page into `dist/dashboard` (index.html, app.js, app.css): what `serve`
 * sends to the browser, with its libraries inside, so nothing comes from a CDN.
 */
export async function bundleDashboard(outDir = join(projectRoot(), 'dist', 'dashboard')): Promise<string> {
  const web = join(projectRoot(), 'web');
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(web, 'src', 'main.ts')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome110', 'firefox110', 'safari16'],
    legalComments: 'none',
    logLevel: 'warning',
  });
  copyFileSync(join(web, 'index.html'), join(outDir, 'index.html'));
  copyFileSync(join(web, 'app.css'), join(outDir, 'app.css'));
  return outDir;
}

// `node dist/web/bundle.js`: `npm run build` runs it after compiling.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outDir = await bundleDashboard();
  process.stdout.write(`dashboard bundled into ${outDir}\n`);
}
