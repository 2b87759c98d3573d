import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CONTAINER_LABELS } from '../../worker/runtimes/container-runtime.js';

const run = promisify(execFile);

/** The static busybox of Debian's busybox-static: a whole userland in one 2 MB file. */
const BUSYBOX = '/usr/bin/busybox';
export const TEST_IMAGE = 'localhost/cloudai-test:1';

/**
 * A podman of a test's (or benchmark's) own: its own storage (graph root and run root in a temp dir, named by
 * CONTAINERS_STORAGE_CONF) and this host's quirks in a containers.conf (CONTAINERS_CONF): runc,
 * because crun refuses the hybrid cgroups here, and explicit rlimits, because the defaults are
 * refused. Holds one image made offline from busybox. `env` points podman (and a worker) at it.
 */
export class PodmanSandbox {
  private constructor(
    private readonly dir: { path: string; remove: () => void },
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Undefined (with why) when podman or busybox is missing or cannot run a container here. */
  static async start(): Promise<PodmanSandbox | { unavailable: string }> {
    if (!existsSync(BUSYBOX))
      return { unavailable: `${BUSYBOX} is missing (apt-get install busybox-static)` };
    const path = mkdtempSync(join(tmpdir(), 'cloudai-podman-'));
    const dir = { path, remove: () => rmSync(path, { recursive: true, force: true }) };
    const conf = join(dir.path, 'containers.conf');
    writeFileSync(
      conf,
      '[engine]\nruntime = "runc"\n[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n',
    );
    const storage = join(dir.path, 'storage.conf');
    writeFileSync(
      storage,
      `[storage]\ndriver = "overlay"\ngraphroot = "${join(dir.path, 'root')}"\nrunroot = "${join(dir.path, 'run')}"\n`,
    );
    const env = { CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage };
    const sandbox = new PodmanSandbox(dir, env);
    try {
      await sandbox.importBusyboxImage();
      const probe = await sandbox.podman(['run', '--rm', TEST_IMAGE, 'sh', '-c', 'echo ok']);
      if (probe.trim() !== 'ok') throw new Error(`a test container printed ${JSON.stringify(probe)}`);
    } catch (error) {
      await sandbox.close();
      return { unavailable: (error as Error).message };
    }
    return sandbox;
  }

  /** `podman import` of a root file system holding busybox and its applets as relative links. */
  private async importBusyboxImage(): Promise<void> {
    const rootfs = join(this.dir.path, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    await run('cp', [BUSYBOX, join(rootfs, 'bin', 'busybox')]);
    const { stdout } = await run(BUSYBOX, ['--list']);
    for (const applet of stdout.split('\n')) {
      if (applet && applet !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', applet));
    }
    const tar = join(this.dir.path, 'rootfs.tar');
    await run('tar', ['-C', rootfs, '-cf', tar, '.']);
    await this.podman(['import', '--quiet', '--change', 'ENV=PATH=/bin', tar, TEST_IMAGE]);
  }

  async podman(args: string[]): Promise<string> {
    const { stdout } = await run('podman', args, { env: { ...process.env, ...this.env }, timeout: 60_000 });
    return stdout;
  }

  /** Names of the containers (running or not) labelled as a worker's. */
  async containersOf(workerId: string): Promise<string[]> {
    const out = await this.podman([
      'ps',
      '--all',
      '--filter',
      `label=${CONTAINER_LABELS.worker}=${workerId}`,
      '--format',
      '{{.Names}}',
    ]);
    return out.split('\n').filter(Boolean);
  }

  /** Removes every container and image, then the storage. */
  async close(): Promise<void> {
    await this.podman(['rm', '--all', '--force', '--time', '0']).catch(() => '');
    await this.podman(['rmi', '--all', '--force']).catch(() => '');
    try {
      this.dir.remove();
    } catch {
      // A mount still held by a crashed run: the temp dir goes with the machine.
    }
  }
}
