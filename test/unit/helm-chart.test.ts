/**
 * The Helm chart against deploy/: with default values it renders deploy/'s objects (apart from Helm's own labels and
 * the Namespace, which is created before the install), the same bytes twice, passes `helm lint --strict`, and its
 * values schema makes helm refuse bad values. The flags it renders are parsed by the controller's and the daemon's
 * own flag parsers, so the chart exposes only what the binaries accept.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseConfig as parseControllerConfig } from '../../src/controller/config.ts';
import { parseConfig as parseDaemonConfig } from '../../src/daemon/config.ts';
import { run } from '../../src/util/exec.ts';
import { pathExists } from '../../src/util/fs.ts';
import { CHART_DIR, helm, renderChart, type ChartValues } from '../testbed/chart.ts';
import { DAEMON_SELECTOR } from '../testbed/kerris.ts';
import { kubernetesBinDir, REPO_ROOT } from '../testbed/paths.ts';
import { PrerequisiteError } from '../testbed/prerequisites.ts';

interface Container { name: string; args?: string[]; volumeMounts?: { name: string; mountPath: string }[] }
interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    template?: { metadata: { labels?: Record<string, string> }; spec: { containers: Container[]; volumes?: { name: string; hostPath?: { path: string; type?: string } }[] } };
  };
  rules?: { verbs: string[]; resourceNames?: string[] }[];
}

/** Labels Helm's chart adds that deploy/ has no use for: who installed it, which release, which chart version. */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/part-of'];

const parse = (text: string): Manifest[] => parseAllDocuments(text).map((d) => d.toJS() as Manifest | null).filter((m): m is Manifest => m !== null);
const key = (m: Manifest): string => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;

async function chart(values: ChartValues = {}): Promise<Manifest[]> {
  return parse((await renderChart(values)).stdout);
}

function find(objects: readonly Manifest[], kind: string, name: string): Manifest {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `the chart renders no ${kind} ${name}`);
  return found;
}

function container(object: Manifest, name: string): Container {
  const found = object.spec?.template?.spec.containers.find((c) => c.name === name);
  assert.ok(found, `${object.kind} ${object.metadata.name} has no container ${name}`);
  return found;
}

/** The chart's object with the labels Helm adds removed where deploy/'s counterpart does not have them. */
function withoutHelmLabels(object: Manifest, counterpart: Manifest): Manifest {
  const labels = Object.fromEntries(Object.entries(object.metadata.labels ?? {}).filter(([name]) => !HELM_LABELS.includes(name) || counterpart.metadata.labels?.[name] !== undefined));
  return { ...object, metadata: { ...object.metadata, ...(object.metadata.labels === undefined ? {} : { labels }) } };
}

async function renderDeploy(): Promise<Manifest[]> {
  const kubectl = join(kubernetesBinDir(), 'kubectl');
  if (!await pathExists(kubectl)) throw new PrerequisiteError(`missing ${kubectl}, the test bed's kubectl; \`npm run cluster -- up\` builds it`);
  return parse((await run([kubectl, 'kustomize', join(REPO_ROOT, 'deploy')])).stdout);
}

describe('the Helm chart charts/kerris', { timeout: 600_000 }, () => {
  it('renders with default values exactly the objects of deploy/, apart from Helm\'s labels and the Namespace', async () => {
    const deploy = await renderDeploy();
    const rendered = await chart();
    const charted = new Set(rendered.map(key));
    assert.deepEqual(deploy.filter((o) => !charted.has(key(o))).map(key), ['Namespace//kerris-system'], 'the Namespace is the one object the chart leaves to the installer');
    assert.deepEqual(rendered.map(key).filter((k) => !deploy.some((o) => key(o) === k)), [], 'the chart renders nothing deploy/ lacks');
    for (const object of rendered) {
      const counterpart = deploy.find((o) => key(o) === key(object));
      assert.ok(counterpart);
      assert.deepEqual(withoutHelmLabels(object, counterpart), counterpart, `${key(object)} differs from deploy/`);
      if (object.kind !== 'CustomResourceDefinition') {
        assert.equal(object.metadata.labels?.['app.kubernetes.io/instance'], 'kerris', `${key(object)} names its release`);
        assert.equal(object.metadata.labels?.['helm.sh/chart'], 'kerris-0.1.0', `${key(object)} names its chart`);
      }
    }
    const daemonSet = find(rendered, 'DaemonSet', 'kerris-daemon');
    const selector = Object.entries(daemonSet.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    assert.equal(selector, DAEMON_SELECTOR, 'the controller finds its daemons by this selector');
    assert.deepEqual(daemonSet.spec?.template?.metadata.labels, daemonSet.spec?.selector?.matchLabels, 'daemon pods carry the selector labels only');
  });

  it('renders the same bytes twice, and in any namespace puts every namespaced object in the release namespace', async () => {
    const [first, second] = await Promise.all([renderChart(), renderChart()]);
    assert.equal(first.stdout, second.stdout);
    const elsewhere = parse((await helm(['template', 'chaos', CHART_DIR, '--namespace', 'chaos-ops'])).stdout);
    for (const object of elsewhere.filter((o) => o.metadata.namespace !== undefined)) assert.equal(object.metadata.namespace, 'chaos-ops', key(object));
    const binding = find(elsewhere, 'ClusterRoleBinding', 'kerris-controller') as Manifest & { subjects: { namespace: string }[] };
    assert.deepEqual(binding.subjects.map((s) => s.namespace), ['chaos-ops']);
  });

  it('passes helm lint --strict', async () => {
    const lint = await helm(['lint', '--strict', CHART_DIR], undefined, { allowFailure: true });
    assert.equal(lint.code, 0, `${lint.stdout}${lint.stderr}`);
    assert.match(lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('refuses values its schema does not allow, with helm\'s error naming the value', async () => {
    const refused = async (values: ChartValues, message: RegExp): Promise<void> => {
      const result = await renderChart(values, { allowFailure: true });
      assert.notEqual(result.code, 0, `helm rendered ${JSON.stringify(values)}`);
      assert.match(result.stderr, /values don't meet the specifications of the schema/);
      assert.match(result.stderr, message);
    };
    await refused({ controller: { replicas: 'two' } }, /at '\/controller\/replicas': got string, want integer/);
    await refused({ controller: { replica: 2 } }, /at '\/controller': additional properties 'replica' not allowed/);
    await refused({ daemon: { hostPaths: { journal: 'var/lib/kerris' } } }, /at '\/daemon\/hostPaths\/journal'/);
    await refused({ controller: { daemonLeaseTtl: '10m' } }, /at '\/controller\/daemonLeaseTtl'/);
    await refused({ controller: { certificates: 'cert-manager' } }, /at '\/controller\/certificates'/);
    await refused({ controller: { maxNodeShare: '50%' } }, /at '\/controller\/maxNodeShare': got string, want (integer|null)/);
    await refused({ controller: { maxNodeShare: 101 } }, /at '\/controller\/maxNodeShare'/);
    await refused({ daemon: { tolerations: [{ operator: 'Exists', efect: 'NoSchedule' }] } }, /additional properties 'efect' not allowed/);
  });

  it('turns each value into the flag, mount or field it names, which the controller and the daemon accept', async () => {
    const socket = '/run/testbed/containerd.sock';
    const rendered = await chart({
      controller: {
        replicas: 3, requireOptIn: true, allowProtectedNamespaces: ['kube-system'], maxTargets: 50, daemonLeaseTtl: '20s', concurrency: 8, certificates: 'external',
        allowControllerNode: true, maxNodeShare: 50,
        image: { repository: 'registry.example/kerris', tag: 'v0.1.0', pullPolicy: 'Always' },
      },
      daemon: {
        containerdSocket: socket, nodeSelector: { 'kubernetes.io/os': 'linux' }, tolerations: [{ key: 'chaos', operator: 'Exists', effect: 'NoSchedule' }],
        hostPaths: { journal: '/data/kerris/journal', containerd: '/run/containerd', k3sContainerd: '/run/k3s/containerd', crio: '/var/run/crio' },
      },
    });
    const deployment = find(rendered, 'Deployment', 'kerris-controller') as Manifest & { spec: { replicas: number } };
    assert.equal(deployment.spec.replicas, 3);
    const controller = container(deployment, 'controller') as Container & { image: string; imagePullPolicy: string };
    assert.equal(controller.image, 'registry.example/kerris:v0.1.0');
    assert.equal(controller.imagePullPolicy, 'Always');
    const config = parseControllerConfig((controller.args ?? []).slice(1), { POD_NAMESPACE: 'kerris-system' });
    assert.deepEqual([...config.protectedNamespaces], ['kerris-system'], 'kube-system allowed, kerris\'s own namespace still protected');
    assert.deepEqual({
      requireOptIn: config.requireOptIn, maxTargets: config.maxTargets, daemonLeaseTtlMs: config.daemonLeaseTtlMs, concurrency: config.concurrency, certificates: config.certificates,
      allowControllerNode: config.allowControllerNode, maxNodeSharePercent: config.maxNodeSharePercent,
    }, { requireOptIn: true, maxTargets: 50, daemonLeaseTtlMs: 20_000, concurrency: 8, certificates: 'external', allowControllerNode: true, maxNodeSharePercent: 50 });
    const certificates = find(rendered, 'Role', 'kerris-controller-certificates');
    assert.deepEqual(certificates.rules?.map((r) => r.verbs), [['get']], 'with an external issuer the controller only reads the two Secrets');

    const daemonSet = find(rendered, 'DaemonSet', 'kerris-daemon') as Manifest & { spec: { template: { spec: { nodeSelector?: Record<string, string>; tolerations?: object[] } } } };
    const daemon = container(daemonSet, 'daemon');
    const daemonConfig = parseDaemonConfig(daemon.args ?? [], { POD_NAMESPACE: 'kerris-system' });
    assert.equal(daemonConfig.containerdSocket, socket);
    assert.deepEqual(daemonConfig.protectedNamespaces, ['kerris-system'], 'the daemons follow the controller: kube-system allowed');
    assert.ok(daemon.volumeMounts?.some((m) => m.mountPath === socket), 'the socket is mounted at its own path');
    const volumes = new Map(daemonSet.spec.template.spec.volumes?.map((v) => [v.name, v.hostPath]));
    assert.deepEqual(volumes.get('containerd-socket'), { path: socket, type: 'Socket' });
    assert.deepEqual(volumes.get('journal'), { path: '/data/kerris/journal', type: 'DirectoryOrCreate' });
    assert.equal(daemon.volumeMounts?.find((m) => m.name === 'journal')?.mountPath, daemonConfig.journalDir, 'the journal stays where the daemon writes it');
    assert.deepEqual(daemonSet.spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.deepEqual(daemonSet.spec.template.spec.tolerations, [{ key: 'chaos', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  it('with default values passes no flag the binaries would not default to the same', async () => {
    const rendered = await chart();
    const controller = container(find(rendered, 'Deployment', 'kerris-controller'), 'controller');
    const config = parseControllerConfig((controller.args ?? []).slice(1), { POD_NAMESPACE: 'kerris-system' });
    assert.deepEqual(config, parseControllerConfig([], { POD_NAMESPACE: 'kerris-system' }));
    const daemonConfig = parseDaemonConfig(container(find(rendered, 'DaemonSet', 'kerris-daemon'), 'daemon').args ?? [], { POD_NAMESPACE: 'kerris-system' });
    assert.deepEqual(daemonConfig.protectedNamespaces, ['kube-system', 'kerris-system']);
    assert.equal(daemonConfig.containerdSocket, undefined);
  });
});
