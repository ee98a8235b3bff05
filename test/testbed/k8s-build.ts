import { spawn } from 'node:child_process';
import { access, constants, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CACHE_DIR, KUBERNETES_VERSION, REPO_ROOT, kubernetesBinDir } from './paths.ts';
import { PrerequisiteError } from './prerequisites.ts';

const KUBERNETES_COMMANDS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'kubelet', 'kubectl'] as const;
export type Binary = (typeof KUBERNETES_COMMANDS)[number] | 'etcd';

const MODULE_DIR = join(REPO_ROOT, 'test', 'testbed', 'k8s');

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The Go toolchain, from PATH or its default install place; the test bed builds Kubernetes and helm with it. */
export async function findGo(): Promise<string> {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/local/go/bin']) {
    if (dir && await isExecutable(join(dir, 'go'))) return join(dir, 'go');
  }
  throw new PrerequisiteError('the Go toolchain is needed to build Kubernetes and helm from the Go module proxy; install Go (https://go.dev/dl) so that `go` is on PATH or in /usr/local/go/bin');
}

/** `go build` of pkg into output, inside the wrapper module moduleDir whose go.mod and go.sum pin what is compiled. */
export function goBuild(go: string, output: string, pkg: string, ldflags: string, moduleDir = MODULE_DIR): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(go, ['build', '-trimpath', '-ldflags', ldflags, '-o', output, pkg], {
      cwd: moduleDir,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', (code) => code === 0 ? resolve() : reject(new Error(`go build ${pkg} exited with ${code}`)));
  });
}

/**
 * Returns the directory holding the Kubernetes and etcd binaries, building the
 * missing ones first. A build goes to a separate folder and is moved into place
 * whole, so an interrupted build never passes for a cached one.
 */
export async function ensureKubernetesBinaries(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<string> {
  const binDir = kubernetesBinDir();
  const all: readonly Binary[] = [...KUBERNETES_COMMANDS, 'etcd'];
  const present = await Promise.all(all.map((b) => isExecutable(join(binDir, b))));
  if (present.every(Boolean)) return binDir;

  const go = await findGo();
  const partial = join(CACHE_DIR, `k8s-${KUBERNETES_VERSION}`, 'bin.partial');
  await mkdir(partial, { recursive: true });
  const minor = KUBERNETES_VERSION.split('.')[1] ?? '';
  const versionFlags = [
    `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
    '-X k8s.io/component-base/version.gitMajor=1',
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
  ].join(' ');
  const started = Date.now();
  log(`test bed: building Kubernetes ${KUBERNETES_VERSION} and etcd from the Go module proxy into ${binDir} (a cold build takes several minutes)`);
  for (const [index, binary] of all.entries()) {
    const output = join(partial, binary);
    if (await isExecutable(output)) continue;
    log(`test bed: [${index + 1}/${all.length}] go build ${binary} (${Math.round((Date.now() - started) / 1000)} s elapsed)`);
    const pkg = binary === 'etcd' ? 'go.etcd.io/etcd/server/v3' : `k8s.io/kubernetes/cmd/${binary}`;
    await goBuild(go, output, pkg, binary === 'etcd' ? '-s -w' : `-s -w ${versionFlags}`);
  }
  await rm(binDir, { recursive: true, force: true });
  await rename(partial, binDir);
  log(`test bed: Kubernetes binaries ready in ${Math.round((Date.now() - started) / 1000)} s`);
  return binDir;
}
