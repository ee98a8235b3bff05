import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The Kubernetes release the test bed builds; its binaries are cached per version. */
export const KUBERNETES_VERSION = 'v1.34.4';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

/** Built artefacts that survive across runs and clones (never in the repo). */
export const CACHE_DIR = process.env['KERRIS_CACHE_DIR'] ?? join(homedir(), '.cache', 'kerris');

/** Running state (certificates, data, logs, pid files): gone at reboot, like the processes. */
export const RUN_DIR = process.env['KERRIS_TESTBED_DIR'] ?? '/run/kerris-testbed';

export const kubernetesBinDir = (): string => join(CACHE_DIR, `k8s-${KUBERNETES_VERSION}`, 'bin');
