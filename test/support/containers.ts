/** The tests' podman: its own storage, this host's quirks in its own containers.conf, a busybox image. */
export { PodmanSandbox, TEST_IMAGE } from '../../bench/support/podman-sandbox.js';
