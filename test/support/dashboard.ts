import type { Browser, Page } from 'puppeteer-core';
import { launchChromium } from '../../bench/support/chromium.js';
import { findFreePort } from '../../streams/util/ports.js';
import { bundleDashboard } from '../../web/bundle.js';
import { type RunningCli, spawnTestWorker, startActiveWorkers } from './cli.js';
import { type ClusterOptions, TestCluster } from './cluster.js';
import { waitFor } from './nats.js';

export interface DashboardSetupOptions {
  /** Allows actions; empty: read-only. */
  token: string;
  workerIds: readonly string[];
  cluster: ClusterOptions;
}

/**
 * What the dashboard tests and the screenshot script share: a nats-server of their own, the
 * real `cloudai serve` with its dashboard on a free port, real `cloudai worker`s, and Chromium.
 */
export class DashboardSetup {
  private constructor(
    readonly cluster: TestCluster,
    readonly env: NodeJS.ProcessEnv,
    readonly serve: RunningCli,
    readonly url: string,
    readonly workers: Map<string, RunningCli>,
    readonly browser: Browser,
    private readonly closeBrowser: () => Promise<void>,
  ) {}

  static async start(options: DashboardSetupOptions): Promise<DashboardSetup> {
    // The page as `npm run build` bundles it, from the sources as they are now.
    await bundleDashboard();
    const cluster = await TestCluster.start(options.cluster);
    try {
      const env = cluster.env();
      const serve = await cluster.startServe(undefined, {
        CLOUDAI_HTTP_PORT: String(await findFreePort()),
        CLOUDAI_HTTP_TOKEN: options.token,
      });
      const logged = /dashboard on (http:\/\/[^ ]+)\//;
      await waitFor(() => logged.test(serve.output()), 15_000, 'the dashboard URL in the log of serve');
      const url = (logged.exec(serve.output()) as RegExpExecArray)[1] as string;
      const workers = await startActiveWorkers(options.workerIds, env);
      const { browser, close } = await launchChromium();
      return new DashboardSetup(cluster, env, serve, url, workers, browser, close);
    } catch (error) {
      await cluster.close();
      throw error;
    }
  }

  startWorker(workerId: string): RunningCli {
    const worker = spawnTestWorker(workerId, this.env);
    this.workers.set(workerId, worker);
    return worker;
  }

  /** A new tab at `path` (`/#/tasks`…), 1280×800. */
  async open(path = '/'): Promise<Page> {
    const page = await this.browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(`${this.url}${path}`);
    return page;
  }

  async close(): Promise<void> {
    await this.closeBrowser().catch(() => {});
    for (const worker of this.workers.values()) worker.process.kill('SIGKILL');
    await this.cluster.close();
  }
}
