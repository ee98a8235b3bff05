import { request } from 'node:https';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/util/exec.ts';
import { ensureKubernetesBinaries } from './k8s-build.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { ensureCertificate, ensureCertificateAuthority, ensureSigningKey, type KeyPair } from './pki.ts';
import { RUN_DIR } from './paths.ts';
import { requireExecutables, requireRoot } from './prerequisites.ts';
import { runningPid, startService, stopService, type ServiceSpec } from './processes.ts';

export interface ControlPlane {
  /** Admin kubeconfig (client certificate in system:masters). */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  server: string;
  binDir: string;
  kubectl: string;
  caCert: string;
  caKey: string;
  stateDir: string;
  /**
   * The machine's node address: what the apiserver advertises, so pods reach
   * it through the `kubernetes` Service, and the kubelet's node IP. It sits on
   * an empty bridge, since this kernel has no dummy interfaces.
   */
  nodeAddress: string;
  /** Service ClusterIP range; its first address is the `kubernetes` Service. */
  serviceCidr: string;
}

export const CONTROL_PLANE_DIR = join(RUN_DIR, 'cluster');
export const NODE_INTERFACE = 'kerris0';
export const NODE_ADDRESS = '10.233.0.1';
const SERVICE_CIDR = '10.234.0.0/24';
const KUBERNETES_SERVICE_IP = '10.234.0.1';
const PORTS = { etcdClient: 32379, etcdPeer: 32380, apiserver: 36443, controllerManager: 36257, scheduler: 36259 } as const;

type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';
const COMPONENTS: readonly Component[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

interface Layout {
  dir: string;
  pki: string;
  logs: string;
  run: string;
  etcdData: string;
  adminKubeconfig: string;
}

function layout(dir: string): Layout {
  return {
    dir,
    pki: join(dir, 'pki'),
    logs: join(dir, 'logs'),
    run: join(dir, 'run'),
    etcdData: join(dir, 'etcd'),
    adminKubeconfig: join(dir, 'admin.kubeconfig'),
  };
}

function describe(binDir: string, paths: Layout, dir = paths.dir): ControlPlane {
  return {
    kubeconfig: paths.adminKubeconfig,
    server: `https://127.0.0.1:${PORTS.apiserver}`,
    binDir,
    kubectl: join(binDir, 'kubectl'),
    caCert: join(paths.pki, 'ca.crt'),
    caKey: join(paths.pki, 'ca.key'),
    stateDir: dir,
    nodeAddress: NODE_ADDRESS,
    serviceCidr: SERVICE_CIDR,
  };
}

async function ensureNodeInterface(): Promise<void> {
  const shown = await run(['ip', '-o', 'addr', 'show', 'dev', NODE_INTERFACE], { allowFailure: true });
  if (shown.code !== 0) await run(['ip', 'link', 'add', NODE_INTERFACE, 'type', 'bridge']);
  if (!shown.stdout.includes(`inet ${NODE_ADDRESS}/32`)) await run(['ip', 'addr', 'add', `${NODE_ADDRESS}/32`, 'dev', NODE_INTERFACE]);
  await run(['ip', 'link', 'set', NODE_INTERFACE, 'up']);
}

async function issueCertificates(paths: Layout, ca: KeyPair): Promise<Record<string, KeyPair>> {
  const client = (file: string, commonName: string, organization?: string) =>
    ensureCertificate(paths.pki, ca, { file, commonName, ...(organization ? { organization } : {}), usage: 'client' });
  return {
    apiserver: await ensureCertificate(paths.pki, ca, {
      file: 'apiserver',
      commonName: 'kube-apiserver',
      ips: ['127.0.0.1', NODE_ADDRESS, KUBERNETES_SERVICE_IP],
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      usage: 'server',
    }),
    admin: await client('admin', 'kerris-testbed-admin', 'system:masters'),
    kubeletClient: await client('apiserver-kubelet-client', 'kube-apiserver-kubelet-client', 'system:masters'),
    controllerManager: await client('controller-manager', 'system:kube-controller-manager'),
    scheduler: await client('scheduler', 'system:kube-scheduler'),
  };
}

function services(binDir: string, paths: Layout, certs: Record<string, KeyPair>, sa: { privateKey: string; publicKey: string }, ca: KeyPair): Record<Component, ServiceSpec> {
  const bin = (name: Component) => join(binDir, name);
  const spec = (name: Component, args: readonly string[]): ServiceSpec => ({
    name,
    argv: [bin(name), ...args],
    logFile: join(paths.logs, `${name}.log`),
    pidFile: join(paths.run, `${name}.pid`),
  });
  const etcdClient = `http://127.0.0.1:${PORTS.etcdClient}`;
  const etcdPeer = `http://127.0.0.1:${PORTS.etcdPeer}`;
  const cert = (name: string): KeyPair => {
    const pair = certs[name];
    if (!pair) throw new Error(`no certificate ${name}`);
    return pair;
  };
  return {
    etcd: spec('etcd', [
      '--name=kerris-testbed', `--data-dir=${paths.etcdData}`,
      `--listen-client-urls=${etcdClient}`, `--advertise-client-urls=${etcdClient}`,
      `--listen-peer-urls=${etcdPeer}`, `--initial-advertise-peer-urls=${etcdPeer}`,
      `--initial-cluster=kerris-testbed=${etcdPeer}`,
      // A test cluster's data is thrown away at `down`; durability only costs time.
      '--unsafe-no-fsync', '--log-level=warn', '--quota-backend-bytes=4294967296',
    ]),
    'kube-apiserver': spec('kube-apiserver', [
      `--etcd-servers=${etcdClient}`,
      // Pods reach the apiserver at the advertised node address through the `kubernetes` Service.
      '--bind-address=0.0.0.0', `--secure-port=${PORTS.apiserver}`, `--advertise-address=${NODE_ADDRESS}`,
      `--tls-cert-file=${cert('apiserver').cert}`, `--tls-private-key-file=${cert('apiserver').key}`,
      `--client-ca-file=${ca.cert}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--allow-privileged=true',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${sa.publicKey}`, `--service-account-signing-key-file=${sa.privateKey}`,
      `--kubelet-client-certificate=${cert('kubeletClient').cert}`, `--kubelet-client-key=${cert('kubeletClient').key}`,
      '--kubelet-preferred-address-types=InternalIP',
      // The kubelet's serving certificate is signed by the cluster CA: exec and logs verify it.
      `--kubelet-certificate-authority=${ca.cert}`,
      '--profiling=false', '--event-ttl=1h',
    ]),
    'kube-controller-manager': spec('kube-controller-manager', [
      `--kubeconfig=${join(paths.dir, 'controller-manager.kubeconfig')}`,
      `--authentication-kubeconfig=${join(paths.dir, 'controller-manager.kubeconfig')}`,
      `--authorization-kubeconfig=${join(paths.dir, 'controller-manager.kubeconfig')}`,
      '--bind-address=127.0.0.1', `--secure-port=${PORTS.controllerManager}`,
      `--service-account-private-key-file=${sa.privateKey}`, `--root-ca-file=${ca.cert}`,
      `--cluster-signing-cert-file=${ca.cert}`, `--cluster-signing-key-file=${ca.key}`,
      '--use-service-account-credentials=true', '--leader-elect=false',
      `--service-cluster-ip-range=${SERVICE_CIDR}`, '--profiling=false',
    ]),
    'kube-scheduler': spec('kube-scheduler', [
      `--kubeconfig=${join(paths.dir, 'scheduler.kubeconfig')}`,
      `--authentication-kubeconfig=${join(paths.dir, 'scheduler.kubeconfig')}`,
      `--authorization-kubeconfig=${join(paths.dir, 'scheduler.kubeconfig')}`,
      '--bind-address=127.0.0.1', `--secure-port=${PORTS.scheduler}`, '--leader-elect=false', '--profiling=false',
    ]),
  };
}

/** GET path on the apiserver with the admin certificate; resolves with the status code and body. */
export async function apiGet(plane: ControlPlane, path: string): Promise<{ status: number; body: string }> {
  const [ca, cert, key] = await Promise.all([
    readFile(plane.caCert),
    readFile(join(plane.stateDir, 'pki', 'admin.crt')),
    readFile(join(plane.stateDir, 'pki', 'admin.key')),
  ]);
  return new Promise((resolve, reject) => {
    const req = request(`${plane.server}${path}`, { ca, cert, key, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function waitReady(plane: ControlPlane, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const readyz = await apiGet(plane, '/readyz');
      if (readyz.status === 200) return;
      last = `/readyz ${readyz.status}: ${readyz.body.split('\n').filter((l) => l.includes('[-]')).join('; ')}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(100);
  }
  throw new Error(`kube-apiserver not ready after ${timeoutMs} ms (${last}); see ${join(plane.stateDir, 'logs', 'kube-apiserver.log')}`);
}

export interface ComponentStatus {
  name: Component;
  pid: number | undefined;
}

export async function controlPlaneStatus(dir = CONTROL_PLANE_DIR): Promise<ComponentStatus[]> {
  const paths = layout(dir);
  const binDir = await readFile(join(paths.dir, 'bin-dir'), 'utf8').catch(() => '');
  return Promise.all(COMPONENTS.map(async (name) => ({
    name,
    pid: binDir ? await runningPid(join(paths.run, `${name}.pid`), join(binDir, name)) : undefined,
  })));
}

/** The control plane described by dir, if all of its components run. */
export async function runningControlPlane(dir = CONTROL_PLANE_DIR): Promise<ControlPlane | undefined> {
  const binDir = await readFile(join(dir, 'bin-dir'), 'utf8').catch(() => '');
  if (!binDir) return undefined;
  const status = await controlPlaneStatus(dir);
  return status.every((s) => s.pid !== undefined) ? describe(binDir, layout(dir)) : undefined;
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler and
 * waits until the apiserver is ready. Refuses to start over a partial one.
 */
export async function startControlPlane(dir = CONTROL_PLANE_DIR): Promise<ControlPlane> {
  await requireRoot('the test-bed control plane');
  await requireExecutables({ '/usr/bin/openssl': 'openssl', '/usr/sbin/ip': 'iproute2' });
  const binDir = await ensureKubernetesBinaries();
  const paths = layout(dir);
  const status = await controlPlaneStatus(dir);
  if (status.some((s) => s.pid !== undefined)) {
    const running = await runningControlPlane(dir);
    if (running) return running;
    throw new Error(`a partial control plane runs in ${dir} (${status.filter((s) => s.pid).map((s) => s.name).join(', ')}); run \`npm run cluster -- down\` first`);
  }
  await Promise.all([paths.pki, paths.logs, paths.run, paths.etcdData].map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
  await writeFile(join(dir, 'bin-dir'), binDir);
  await ensureNodeInterface();
  const ca = await ensureCertificateAuthority(paths.pki, 'kerris-testbed-ca');
  const certs = await issueCertificates(paths, ca);
  const sa = await ensureSigningKey(paths.pki, 'service-account');
  const plane = describe(binDir, paths);
  const kubeconfigFor = (file: string, pair: KeyPair | undefined, user: string) => {
    if (!pair) throw new Error(`no certificate for ${user}`);
    return writeKubeconfig(join(dir, file), { server: plane.server, caCert: ca.cert, clientCert: pair.cert, clientKey: pair.key, user });
  };
  await kubeconfigFor('admin.kubeconfig', certs['admin'], 'admin');
  await kubeconfigFor('controller-manager.kubeconfig', certs['controllerManager'], 'system:kube-controller-manager');
  await kubeconfigFor('scheduler.kubeconfig', certs['scheduler'], 'system:kube-scheduler');

  const specs = services(binDir, paths, certs, sa, ca);
  await startService(specs.etcd);
  await startService(specs['kube-apiserver']);
  try {
    await waitReady(plane, 60_000);
  } catch (error) {
    await stopControlPlane(dir);
    throw error;
  }
  await startService(specs['kube-controller-manager']);
  await startService(specs['kube-scheduler']);
  return plane;
}

/** Stops every component and removes all state, including the node address. */
export async function stopControlPlane(dir = CONTROL_PLANE_DIR): Promise<void> {
  const binDir = await readFile(join(dir, 'bin-dir'), 'utf8').catch(() => '');
  if (binDir) {
    for (const name of [...COMPONENTS].reverse()) {
      await stopService(join(dir, 'run', `${name}.pid`), join(binDir, name));
    }
  }
  await run(['ip', 'link', 'del', NODE_INTERFACE], { allowFailure: true });
  await rm(dir, { recursive: true, force: true });
}
