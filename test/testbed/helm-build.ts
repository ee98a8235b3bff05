/**
 * helm for the chart tests, built from the Go module proxy like Kubernetes (k8s-build.ts): the wrapper module
 * test/testbed/helm pins the version in its go.mod and go.sum, and the binary is cached outside the repository.
 */
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { findGo, goBuild, isExecutable } from './k8s-build.ts';
import { CACHE_DIR, REPO_ROOT } from './paths.ts';

/** Keep in step with test/testbed/helm/go.mod. */
export const HELM_VERSION = 'v3.22.0';

const MODULE_DIR = join(REPO_ROOT, 'test', 'testbed', 'helm');

export const helmBinary = (): string => join(CACHE_DIR, `helm-${HELM_VERSION}`, 'helm');

/**
 * The flags helm's own Makefile links in: its version, and the Kubernetes version `helm template` and `helm lint`
 * assume without a cluster, from the client-go it is built with (v0.37 is Kubernetes 1.37). Without them helm
 * assumes Kubernetes 1.20, below the chart's kubeVersion.
 */
async function ldflags(): Promise<string> {
  const goMod = await readFile(join(MODULE_DIR, 'go.mod'), 'utf8');
  const minor = /^\s*k8s\.io\/client-go v0\.(\d+)\./m.exec(goMod)?.[1];
  if (minor === undefined) throw new Error(`${join(MODULE_DIR, 'go.mod')} names no k8s.io/client-go v0.N version`);
  return [
    '-s -w',
    `-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}`,
    ...['pkg/lint/rules', 'pkg/chartutil'].flatMap((pkg) => [`-X helm.sh/helm/v3/${pkg}.k8sVersionMajor=1`, `-X helm.sh/helm/v3/${pkg}.k8sVersionMinor=${minor}`]),
  ].join(' ');
}

/** The build in flight in this process, so callers that ask at once (renders under Promise.all) share one. */
let building: Promise<string> | undefined;

/**
 * The path of the helm binary, building it first if it is not cached (about 2.5 minutes cold on 2 cores). The build
 * writes a partial file named for its builder and renames it into place, so an interrupted build never passes for a
 * cached one and two processes building at once do not rename each other's file away.
 */
export function ensureHelm(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<string> {
  building ??= buildHelm(log).finally(() => { building = undefined; });
  return building;
}

async function buildHelm(log: (line: string) => void): Promise<string> {
  const binary = helmBinary();
  if (await isExecutable(binary)) return binary;
  const go = await findGo();
  await mkdir(join(CACHE_DIR, `helm-${HELM_VERSION}`), { recursive: true });
  const partial = `${binary}.partial-${process.pid}`;
  const started = Date.now();
  log(`test bed: building helm ${HELM_VERSION} from the Go module proxy into ${binary}`);
  await goBuild(go, partial, 'helm.sh/helm/v3/cmd/helm', await ldflags(), MODULE_DIR);
  await rename(partial, binary);
  log(`test bed: helm ready in ${Math.round((Date.now() - started) / 1000)} s`);
  return binary;
}
