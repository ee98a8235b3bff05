import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { run } from '../../src/util/exec.ts';
import { kubernetesBinDir, REPO_ROOT } from '../testbed/paths.ts';
import { PrerequisiteError } from '../testbed/prerequisites.ts';
import { pathExists } from '../../src/util/fs.ts';

const DEPLOY = join(REPO_ROOT, 'deploy');

interface Container {
  name: string;
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string } };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
    seccompProfile?: { type: string };
  };
}

interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostNetwork?: boolean;
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  tolerations?: { key?: string; operator?: string; effect?: string }[];
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; hostPath?: { path: string; type?: string }; secret?: { secretName: string } }[];
}

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  automountServiceAccountToken?: boolean;
  subjects?: { kind: string; name: string }[];
  data?: unknown;
  stringData?: unknown;
  spec?: { template?: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}

async function yamlFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.yaml')).sort();
}

async function manifests(): Promise<Manifest[]> {
  const all: Manifest[] = [];
  for (const file of await yamlFiles(DEPLOY)) {
    if (file === 'kustomization.yaml') continue;
    for (const document of parseAllDocuments(await readFile(join(DEPLOY, file), 'utf8'))) all.push(document.toJS() as Manifest);
  }
  return all;
}

const find = (all: readonly Manifest[], kind: string, name: string): Manifest => {
  const found = all.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `deploy/ has no ${kind} ${name}`);
  return found;
};

const podTemplate = (manifest: Manifest): PodSpec => {
  const pod = manifest.spec?.template?.spec;
  assert.ok(pod, `${manifest.kind} ${manifest.metadata.name} has no pod template`);
  return pod;
};

/** The fields of Pod Security's `restricted` level that a pod template can break. */
function restrictedViolations(pod: PodSpec): string[] {
  const violations: string[] = [];
  if (pod.hostPID === true || pod.hostIPC === true || pod.hostNetwork === true) violations.push('host namespaces');
  if (pod.volumes?.some((v) => v.hostPath !== undefined)) violations.push('hostPath volumes');
  for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
    const sc = c.securityContext;
    if (sc?.privileged === true) violations.push(`${c.name}: privileged`);
    if (sc?.allowPrivilegeEscalation !== false) violations.push(`${c.name}: allowPrivilegeEscalation is not false`);
    if (sc?.runAsNonRoot !== true && pod.securityContext?.runAsNonRoot !== true) violations.push(`${c.name}: may run as root`);
    if (JSON.stringify(sc?.capabilities?.drop) !== '["ALL"]') violations.push(`${c.name}: does not drop ALL capabilities`);
    if ((sc?.capabilities?.add ?? []).some((cap) => cap !== 'NET_BIND_SERVICE')) violations.push(`${c.name}: adds capabilities`);
    const seccomp = sc?.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') violations.push(`${c.name}: no RuntimeDefault seccomp profile`);
  }
  return violations;
}

describe('deploy/', () => {
  it('the kustomization installs every generated CRD, controller and daemon manifest', async () => {
    const kustomization = parse(await readFile(join(DEPLOY, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    const listed = (await yamlFiles(DEPLOY)).filter((f) => f !== 'kustomization.yaml');
    assert.deepEqual([...kustomization.resources].sort(), listed);
  });

  it('every pod template except the daemon\'s meets Pod Security restricted, which the namespace only warns about', async () => {
    const all = await manifests();
    const namespace = find(all, 'Namespace', 'kerris-system').metadata.labels ?? {};
    assert.equal(namespace['pod-security.kubernetes.io/enforce'], 'privileged');
    assert.equal(namespace['pod-security.kubernetes.io/warn'], 'restricted');
    assert.equal(namespace['pod-security.kubernetes.io/audit'], 'restricted');
    const workloads = all.filter((m) => m.spec?.template !== undefined);
    assert.deepEqual(workloads.map((m) => `${m.kind}/${m.metadata.name}`).sort(), ['DaemonSet/kerris-daemon', 'Deployment/kerris-controller']);
    for (const workload of workloads.filter((m) => m.metadata.name !== 'kerris-daemon')) {
      assert.deepEqual(restrictedViolations(podTemplate(workload)), [], `${workload.kind} ${workload.metadata.name}`);
    }
    const controller = podTemplate(find(all, 'Deployment', 'kerris-controller'));
    assert.equal(controller.serviceAccountName, 'kerris-controller');
    for (const container of controller.containers) assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
  });

  it('the daemon is privileged only in its one container, with host pids but not the host network', async () => {
    const daemonSet = find(await manifests(), 'DaemonSet', 'kerris-daemon');
    assert.equal(daemonSet.metadata.namespace, 'kerris-system');
    const labels = { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'daemon' };
    assert.deepEqual(daemonSet.spec?.template?.metadata.labels, labels, 'the controller finds daemon pods by these labels');
    const pod = podTemplate(daemonSet);
    assert.equal(pod.hostPID, true);
    assert.notEqual(pod.hostNetwork, true);
    assert.notEqual(pod.hostIPC, true);
    assert.deepEqual(pod.initContainers ?? [], []);
    assert.deepEqual(pod.containers.map((c) => c.name), ['daemon']);
    const [daemon] = pod.containers;
    assert.equal(daemon?.securityContext?.privileged, true);
    assert.ok(pod.tolerations?.some((t) => t.operator === 'Exists' && t.key === undefined && t.effect === undefined), 'tolerates every taint');

    const hostPaths = Object.fromEntries((pod.volumes ?? []).flatMap((v) => (v.hostPath ? [[v.hostPath.path, v.hostPath.type]] : [])));
    assert.deepEqual(hostPaths, {
      '/var/lib/kerris/journal': 'DirectoryOrCreate',
      '/run/containerd': 'DirectoryOrCreate',
      '/run/k3s/containerd': 'DirectoryOrCreate',
      '/var/run/crio': 'DirectoryOrCreate',
      '/sys/fs/cgroup': 'Directory',
      '/etc/kerris': 'DirectoryOrCreate',
    }, 'only the journal, the runtime sockets, the cgroup tree and the node\'s kerris settings come from the host');
    const mounts = new Map((daemon?.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    for (const path of Object.keys(hostPaths).filter((p) => p !== '/etc/kerris')) assert.ok(mounts.has(path), `${path} is mounted at its host path, where the daemon looks`);
    // Beside the TLS secret's /etc/kerris/tls, not over it; the daemon only reads the node's consent there.
    assert.equal(mounts.get('/host/etc/kerris')?.readOnly, true, 'the node\'s kerris settings are mounted read-only at /host/etc/kerris');
    const tls = pod.volumes?.find((v) => v.secret !== undefined);
    assert.equal(tls?.secret?.secretName, 'kerris-daemon-tls');
    assert.equal(mounts.get('/etc/kerris/tls')?.readOnly, true);

    const args = daemon?.args ?? [];
    for (const flag of ['--listen=0.0.0.0:9443', '--metrics-listen=0.0.0.0:9464', '--journal-dir=/var/lib/kerris/journal', '--client-names=kerris-controller',
      '--tls-ca=/etc/kerris/tls/ca.crt', '--tls-cert=/etc/kerris/tls/tls.crt', '--tls-key=/etc/kerris/tls/tls.key']) {
      assert.ok(args.includes(flag), `the daemon gets ${flag}`);
    }
    assert.deepEqual(daemon?.ports, [{ name: 'grpc', containerPort: 9443 }, { name: 'metrics', containerPort: 9464 }]);
    assert.deepEqual(daemon?.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' });
    assert.deepEqual(daemon?.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' });
  });

  it('the daemon has no API token and no RBAC', async () => {
    const all = await manifests();
    assert.equal(find(all, 'ServiceAccount', 'kerris-daemon').automountServiceAccountToken, false);
    const pod = podTemplate(find(all, 'DaemonSet', 'kerris-daemon'));
    assert.equal(pod.serviceAccountName, 'kerris-daemon');
    assert.equal(pod.automountServiceAccountToken, false);
    const bindings = all.filter((m) => m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding');
    assert.deepEqual(bindings.filter((b) => b.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === 'kerris-daemon')), []);
  });

  it('no Secret, key or certificate is shipped anywhere in deploy/', async () => {
    for (const file of await yamlFiles(DEPLOY)) {
      const text = await readFile(join(DEPLOY, file), 'utf8');
      assert.doesNotMatch(text, /-----BEGIN [A-Z ]+-----/, `${file} holds PEM data`);
      assert.doesNotMatch(text, /\b(LS0tLS1CRUdJTi|MII[A-Za-z0-9+/]{20})/, `${file} holds base64 PEM or DER data`);
    }
    const all = await manifests();
    assert.deepEqual(all.filter((m) => m.kind === 'Secret' || m.data !== undefined || m.stringData !== undefined).map((m) => `${m.kind}/${m.metadata.name}`), []);
  });

  it('kubectl kustomize renders deploy/ the same twice, with every object of its files', async () => {
    const kubectl = join(kubernetesBinDir(), 'kubectl');
    if (!await pathExists(kubectl)) throw new PrerequisiteError(`missing ${kubectl}, the test bed's kubectl; \`npm run cluster -- up\` builds it`);
    const [first, second] = await Promise.all([run([kubectl, 'kustomize', DEPLOY]), run([kubectl, 'kustomize', DEPLOY])]);
    assert.equal(first.stdout, second.stdout);
    const rendered = parseAllDocuments(first.stdout).map((d) => d.toJS() as Manifest);
    const key = (m: Manifest): string => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;
    assert.deepEqual(rendered.map(key).sort(), (await manifests()).map(key).sort());
  });
});
