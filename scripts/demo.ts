/**
 * `npm run demo`: kerris on a real cluster, end to end. It deploys a sample
 * app and the operator, applies examples/podchaos-pod-kill.yaml, and shows
 * what happened: which pods were candidates, which was picked and why, which
 * was killed, which replaced it, how long until the app was fully Ready again,
 * and the experiment's final status. Then, through the node daemon, it applies
 * examples/podchaos-pod-failure.yaml and shows the frozen pod not answering
 * HTTP while the others do, and every pod answering again after the duration,
 * none restarted. Last, NetworkChaos between two of the app's pods: a partition
 * and an 8mbit cap, measured from inside the pods before, during and after,
 * with the kernel's own counters from status, the refusal of a delay on this
 * kernel (it has no sch_netem), and the pods' network state as before. It
 * exits non-zero if anything did not happen as shown.
 *
 * With $KUBECONFIG unset it starts the local test bed (building Kubernetes on
 * the first run) and runs the controller inside it; with $KUBECONFIG set it
 * uses that cluster and runs the controller from this checkout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import type { NetworkChaos, PodChaos } from '../src/api/generated/types.ts';
import { snapshotKernelState } from '../src/daemon/net/snapshot.ts';
import { ContainerdRuntime } from '../src/daemon/runtime/containerd.ts';
import { networkChaos } from '../src/controller/networkchaos/resource.ts';
import { podChaos } from '../src/controller/podchaos/resource.ts';
import { pickTargets, type CandidatePod } from '../src/controller/targets/pod-selection.ts';
import { KubeClient } from '../src/kube/client.ts';
import { isNotFound } from '../src/kube/errors.ts';
import { coreEvents, pods } from '../src/kube/resources.ts';
import type { Pod } from '../src/kube/types.ts';
import { run } from '../src/util/exec.ts';
import { clusterNode, type ClusterNode } from '../test/testbed/index.ts';
import { deployKerris, KERRIS_NAMESPACE } from '../test/testbed/kerris.ts';
import { ensureKubernetesBinaries } from '../test/testbed/k8s-build.ts';
import { REPO_ROOT } from '../test/testbed/paths.ts';
import { attachPodNetns, type PodNetns } from '../test/testbed/pod-netns.ts';
import { answersHttp, sampleAppManifests, SAMPLE_APP } from '../test/testbed/sample-app.ts';
import { trafficTools } from '../test/vm/scenarios/net-lab.ts';
import { setUpMachine } from '../test/testbed/setup.ts';

const EXAMPLE = join(REPO_ROOT, 'examples', 'podchaos-pod-kill.yaml');
const FAILURE_EXAMPLE = join(REPO_ROOT, 'examples', 'podchaos-pod-failure.yaml');
const say = (line = ''): void => { process.stdout.write(`${line}\n`); };
const indent = (text: string): string => text.trimEnd().split('\n').map((l) => `  | ${l}`).join('\n');

/** bin/kubectl-kerris, as a person runs it (`kubectl kerris …`), against the demo's cluster. */
const kerrisCli = async (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
  const result = await run([join(REPO_ROOT, 'bin', 'kubectl-kerris'), ...args], { timeoutMs: 60_000, allowFailure: true });
  return { code: result.code, stdout: result.stdout, stderr: result.stderr };
};
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

class DemoFailure extends Error {
  override name = 'DemoFailure';
}

function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new DemoFailure(what);
}

const isReady = (pod: Pod): boolean => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const live = (list: readonly Pod[]): Pod[] => list.filter((p) => !p.metadata.deletionTimestamp);

interface Cluster {
  kubectl: string;
  kubeconfig: string;
  description: string;
  /** The controller when it runs from this checkout rather than in the cluster. */
  localController?: ChildProcess;
  /** The test-bed node, where kerris's node daemon runs (on your cluster, deploy/ with your images runs it). */
  node?: ClusterNode;
}

/** Whether the pod answers HTTP within 1.5 s (a frozen one does not). */
const answers = (pod: Pod): Promise<boolean> => answersHttp(pod.status?.podIP ?? '');

async function prepareCluster(): Promise<Cluster> {
  const external = process.env['KUBECONFIG'];
  if (external) {
    const binDir = await ensureKubernetesBinaries();
    const kubectl = join(binDir, 'kubectl');
    say(`cluster: $KUBECONFIG (${external})`);
    await run([kubectl, 'apply', '--server-side', '-f', join(REPO_ROOT, 'deploy', 'crds')]);
    const localController = spawn(process.execPath, [join(REPO_ROOT, 'src', 'controller', 'main.ts'), '--no-leader-elect', '--health-port=0'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, KERRIS_LOG_LEVEL: 'warn' },
    });
    return { kubectl, kubeconfig: external, description: 'your cluster, controller running from this checkout', localController };
  }
  say('cluster: the local test bed (Kubernetes built from upstream, one real node)');
  await setUpMachine();
  const started = Date.now();
  const { plane, node } = await clusterNode();
  say(`  control plane ${plane.server} and node ${node.name} Ready (${seconds(Date.now() - started)})`);
  const deployStarted = Date.now();
  await deployKerris(plane, node, { replicas: 2 });
  say(`  kerris controller (2 replicas) and node daemon in ${KERRIS_NAMESPACE}, images built locally, deployed with deploy/ (${seconds(Date.now() - deployStarted)})`);
  return { kubectl: plane.kubectl, kubeconfig: plane.kubeconfig, description: 'local test bed', node };
}

async function main(): Promise<void> {
  say('kerris demo: kill one replica of a sample app, freeze another, cut and throttle their network, and prove what happened');
  say();
  const cluster = await prepareCluster();
  process.env['KUBECONFIG'] = cluster.kubeconfig;
  const kubectl = (args: readonly string[], input?: string) => run([cluster.kubectl, ...args], { timeoutMs: 180_000, ...(input === undefined ? {} : { input }) });
  const client = await KubeClient.fromEnvironment();
  try {
    const example = parse(await readFile(EXAMPLE, 'utf8')) as PodChaos;
    const namespace = example.metadata.namespace ?? 'demo';
    const name = example.metadata.name ?? 'web-pod-kill';

    await kubectl(['apply', '-f', '-'], sampleAppManifests(namespace, 3));
    await kubectl(['rollout', 'status', `deployment/${SAMPLE_APP}`, '-n', namespace, '--timeout=120s']);
    await client.delete(podChaos, name, { namespace }).catch((error: unknown) => { if (!isNotFound(error)) throw error; });
    for (let i = 0; i < 100 && await client.get(podChaos, name, { namespace }).then(() => true, () => false); i += 1) await sleep(100);
    const before = live((await client.list(pods, { namespace, labelSelector: `app=${SAMPLE_APP}` })).items);
    check(before.length === 3 && before.every(isReady), `sample app ${namespace}/${SAMPLE_APP} has 3 Ready pods`);
    say(`  sample app: ${namespace}/${SAMPLE_APP}, 3 replicas Ready: ${before.map((p) => p.metadata.name).join(', ')}`);
    say();

    const spec = example.spec;
    const examplePath = EXAMPLE.slice(REPO_ROOT.length + 1);
    say(`kubectl kerris plan -f ${examplePath}: the blast radius, before anything runs`);
    const plan = await kerrisCli(['plan', '-f', EXAMPLE]);
    say(indent(plan.stdout));
    check(plan.code === 0, `kubectl kerris plan calls ${examplePath} safe (exit ${plan.code}): ${plan.stderr.trim()}`);
    say();
    say(`applying ${examplePath}: ${spec.action}, mode ${spec.mode}, seed ${spec.seed}, selector ${JSON.stringify(spec.selector)}`);
    await kubectl(['apply', '-f', EXAMPLE]);

    // Watch the app closely from here on: the kill and the way back to 3 Ready pods.
    let killSeenAt: number | undefined;
    let fullyReadyAt: number | undefined;
    let chaos: PodChaos | undefined;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      chaos = await client.get(podChaos, name, { namespace });
      const target = chaos.status?.targets?.[0];
      const now = await client.list(pods, { namespace, labelSelector: `app=${SAMPLE_APP}` });
      if (target && killSeenAt === undefined && !live(now.items).some((p) => p.metadata.uid === target.uid)) killSeenAt = Date.now();
      if (killSeenAt !== undefined && fullyReadyAt === undefined) {
        const ready = live(now.items).filter((p) => isReady(p) && p.metadata.uid !== target?.uid);
        if (ready.length === 3) fullyReadyAt = Date.now();
      }
      if (fullyReadyAt !== undefined && (chaos.status?.phase === 'Finished' || chaos.status?.phase === 'Failed')) break;
      await sleep(100);
    }
    check(chaos?.status, 'the PodChaos has a status');
    const status = chaos.status;
    const target = status.targets?.[0];
    check(target, 'a target was picked');

    const candidates: CandidatePod[] = before.map((p) => ({
      namespace: p.metadata.namespace ?? '', name: p.metadata.name ?? '', uid: p.metadata.uid ?? '', labels: p.metadata.labels ?? {},
      annotations: {}, phase: p.status?.phase ?? '', terminating: false,
    }));
    const predicted = pickTargets(candidates, 1, status.seed ?? 0)[0];
    say();
    say(`  candidates (${before.length}): ${before.map((p) => p.metadata.name).join(', ')} — Running pods with app=${SAMPLE_APP} in ${namespace}, which is not a protected namespace`);
    say(`  picked: ${target.name} — mode ${spec.mode} takes 1 of ${before.length}; seed ${status.seed} ranks it first, so the same seed over the same pods picks it again`);
    check(predicted?.name === target.name, `the pick is reproducible: seed ${status.seed} over these candidates gives ${predicted?.name}, the controller picked ${target.name}`);
    say(`  killed: ${target.name} at ${target.injectedAt} (${spec.gracePeriod === undefined ? 'the pod\'s own grace period' : `grace period ${spec.gracePeriod} s`})`);
    check(killSeenAt !== undefined, `${target.name} disappeared`);
    const after = live((await client.list(pods, { namespace, labelSelector: `app=${SAMPLE_APP}` })).items);
    check(!after.some((p) => p.metadata.uid === target.uid), `${target.name} (uid ${target.uid}) is gone`);
    const replacement = after.find((p) => p.metadata.name === target.replacedBy);
    check(replacement && isReady(replacement), `the replacement ${target.replacedBy ?? '(none)'} runs and is Ready`);
    say(`  replaced by: ${target.replacedBy}, Ready at ${target.recoveredAt}`);
    check(fullyReadyAt !== undefined, 'the app was fully Ready again within 2 minutes');
    say(`  app fully Ready again (3/3) ${seconds(fullyReadyAt - killSeenAt)} after the kill was seen`);
    check(after.filter((p) => before.some((b) => b.metadata.uid === p.metadata.uid)).length === 2, 'the other two pods were not touched');
    say();
    say(`final status: phase ${status.phase}, selected ${status.selected}, injected now ${status.injected}, recovered ${status.recovered}, failed ${status.failed}, seed ${status.seed}`);
    for (const c of status.conditions ?? []) say(`  ${c.type}=${c.status} (${c.reason}): ${c.message}`);
    const lifecycle = ['Selected', 'Killed', 'Recovered', 'Finished'];
    // The controller records the last Events just after the status write that says Finished.
    const chaosEvents = async () => (await client.list(coreEvents, { namespace, fieldSelector: `involvedObject.kind=PodChaos,involvedObject.name=${name}` })).items
      .filter((e) => e.involvedObject.uid === chaos?.metadata.uid);
    let events = await chaosEvents();
    for (let i = 0; i < 50 && !lifecycle.every((reason) => events.some((e) => e.reason === reason)); i += 1) {
      await sleep(200);
      events = await chaosEvents();
    }
    const order = (reason: string) => (lifecycle.includes(reason) ? lifecycle.indexOf(reason) : lifecycle.length);
    say(`  events: ${events.map((e) => e.reason ?? '').sort((a, b) => order(a) - order(b)).join(', ')}`);
    check(lifecycle.every((reason) => events.some((e) => e.reason === reason)), `Events ${lifecycle.join(', ')} were recorded`);
    check(status.phase === 'Finished', `the experiment finished (phase ${status.phase})`);
    check(status.conditions?.some((c) => c.type === 'AllRecovered' && c.status === 'True'), 'AllRecovered is True');
    const reportFile = join(REPO_ROOT, '.kerris', `report-${name}.html`);
    await mkdir(dirname(reportFile), { recursive: true });
    const report = await kerrisCli(['report', name, '-n', namespace, '-f', reportFile]);
    check(report.code === 0 && (await readFile(reportFile, 'utf8')).includes('<svg'), `kubectl kerris report wrote ${reportFile}: ${report.stderr.trim()}`);
    say(`  report: kubectl kerris report ${name} -n ${namespace} -f ${reportFile.slice(REPO_ROOT.length + 1)} (one self-contained HTML file: open it in any browser)`);
    say();
    if (cluster.node) {
      await podFailure(client, kubectl, namespace);
      say();
      await networkChaosAct(client, kubectl, namespace, cluster.node);
    } else {
      say('pod-failure and NetworkChaos: not shown here; they act through the kerris node daemon, which runs once deploy/ is applied with your images');
    }
    say();
    say(`demo passed on the ${cluster.description}: everything above happened as shown.`);
    say(`look around: ${cluster.kubectl} --kubeconfig=${cluster.kubeconfig} get pchaos -n ${namespace} -o yaml`);
    if (!cluster.localController) say('stop the test bed: npm run cluster -- down');
  } finally {
    client.close();
    cluster.localController?.kill('SIGTERM');
  }
}

/** Act two: examples/podchaos-pod-failure.yaml in the app's namespace; the frozen pod stops answering, then answers again. */
async function podFailure(client: KubeClient, kubectl: (args: readonly string[], input?: string) => Promise<unknown>, namespace: string): Promise<void> {
  const example = parse(await readFile(FAILURE_EXAMPLE, 'utf8')) as PodChaos;
  const name = example.metadata.name ?? 'pod-failure-example';
  example.metadata.namespace = namespace;
  await client.delete(podChaos, name, { namespace }).catch((error: unknown) => { if (!isNotFound(error)) throw error; });
  for (let i = 0; i < 100 && await client.get(podChaos, name, { namespace }).then(() => true, () => false); i += 1) await sleep(100);
  const before = live((await client.list(pods, { namespace, labelSelector: `app=${SAMPLE_APP}` })).items);
  check(before.length === 3 && (await Promise.all(before.map(answers))).every(Boolean), 'all 3 pods answer HTTP before the failure');
  say(`applying ${FAILURE_EXAMPLE.slice(REPO_ROOT.length + 1)} (Chaos Mesh's example, apiVersion changed) in ${namespace}: ${example.spec.action}, mode ${example.spec.mode}, duration ${example.spec.duration}`);
  const appliedAt = Date.now();
  await kubectl(['apply', '-f', '-'], JSON.stringify(example));
  let chaos: PodChaos | undefined;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100)) {
    chaos = await client.get(podChaos, name, { namespace });
    if (chaos.status?.conditions?.some((c) => c.type === 'AllInjected' && c.status === 'True') || chaos.status?.phase === 'Failed') break;
  }
  const target = chaos?.status?.targets?.[0];
  check(target?.phase === 'Injected', `a pod was frozen (status: ${JSON.stringify(chaos?.status?.conditions)})`);
  say(`  frozen: ${target.name} (${(target.containers ?? []).join(', ')}) at ${target.injectedAt}, ${seconds(Date.now() - appliedAt)} after the apply`);
  for (const pod of before) {
    const ok = await answers(pod);
    const frozen = pod.metadata.uid === target.uid;
    say(`    http://${pod.status?.podIP}:8080/ ${pod.metadata.name}: ${ok ? 'answers' : 'no answer within 1.5 s'}${frozen ? ' (frozen, still Running, same IP)' : ''}`);
    check(ok !== frozen, frozen ? `${pod.metadata.name} does not answer while frozen` : `${pod.metadata.name} still answers`);
  }
  for (const deadline = Date.now() + 90_000; Date.now() < deadline && chaos?.status?.phase !== 'Finished' && chaos?.status?.phase !== 'Failed'; await sleep(200)) {
    chaos = await client.get(podChaos, name, { namespace });
  }
  const record = chaos?.status?.targets?.[0];
  check(chaos?.status?.phase === 'Finished' && record?.phase === 'Recovered', `the failure ended and was taken away (phase ${chaos?.status?.phase})`);
  say(`  thawed: ${record.name} at ${record.recoveredAt} (${record.message ?? ''})`);
  const after = live((await client.list(pods, { namespace, labelSelector: `app=${SAMPLE_APP}` })).items);
  check(after.length === 3 && (await Promise.all(after.map(answers))).every(Boolean), 'all 3 pods answer HTTP again');
  const restarts = (pod: Pod) => (pod.status?.containerStatuses ?? []).map((c) => c.restartCount).join(',');
  check(before.every((b) => after.some((a) => a.metadata.uid === b.metadata.uid && restarts(a) === restarts(b))), 'no pod was replaced or restarted');
  say('  all 3 pods answer again; none was replaced or restarted');
}

/** Act three: NetworkChaos between two of the app's pods, measured from inside their network namespaces. */
async function networkChaosAct(client: KubeClient, kubectl: (args: readonly string[], input?: string) => Promise<unknown>, namespace: string, node: ClusterNode): Promise<void> {
  const containerd = new ContainerdRuntime({ socket: node.containerdSocket });
  const tools = trafficTools();
  const attached: PodNetns[] = [];
  try {
    const [a, b] = live((await client.list(pods, { namespace, labelSelector: `app=${SAMPLE_APP}` })).items).sort((x, y) => (x.metadata.name ?? '').localeCompare(y.metadata.name ?? ''));
    check(a && b, 'two app pods for the network act');
    const netnsOf = async (pod: Pod): Promise<PodNetns> => {
      const netns = await attachPodNetns(containerd, pod.status?.containerStatuses?.[0]?.containerID);
      attached.push(netns);
      return netns;
    };
    const [aNet, bNet] = [await netnsOf(a), await netnsOf(b)];
    const bIp = b.status?.podIP ?? '';
    const before = await Promise.all([snapshotKernelState(aNet.path), snapshotKernelState(bNet.path)]);
    const connectMs = async (): Promise<number | undefined> => {
      const result = await tools.traffic<{ ok: boolean; ms: number }>(aNet, ['tcp-connect', bIp, '7000', '1000']);
      return result.ok ? result.ms : undefined;
    };
    const sink = await tools.serve(bNet, ['tcp-serve', '7100']);
    const mbit = async (): Promise<number> => (await tools.traffic<{ bitsPerSecond: number }>(aNet, ['tcp-bulk', bIp, '7100', '3'])).bitsPerSecond / 1e6;
    const peers = { mode: 'all', selector: { pods: { [namespace]: [b.metadata.name] } } };
    const selector = { pods: { [namespace]: [a.metadata.name] } };
    const experiment = (name: string, spec: Record<string, unknown>) => JSON.stringify({ apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'NetworkChaos', metadata: { name, namespace }, spec: { mode: 'all', selector, ...spec } });
    const waitFor = async (name: string, done: (c: NetworkChaos) => boolean, timeoutMs = 60_000): Promise<NetworkChaos> => {
      let chaos = await client.get(networkChaos, name, { namespace });
      for (const deadline = Date.now() + timeoutMs; !done(chaos) && Date.now() < deadline; await sleep(200)) chaos = await client.get(networkChaos, name, { namespace });
      check(done(chaos), `${name}: not reached in ${seconds(timeoutMs)}; status ${JSON.stringify(chaos.status?.conditions)}`);
      return chaos;
    };
    const remove = async (name: string): Promise<void> => { await kubectl(['delete', 'networkchaos', name, '-n', namespace, '--wait=true', '--timeout=60s']); };
    const counters = (chaos: NetworkChaos): string => (chaos.status?.targets?.[0]?.evidence?.counters ?? [])
      .map((k) => `${k.kind} ${k.direction} ${k.device}: ${k.packets} packet(s)${k.dropped ? `, ${k.dropped} dropped` : ''}${k.overlimits ? `, ${k.overlimits} held back` : ''}`).join('; ');

    const uncut = await connectMs();
    const uncapped = await mbit();
    check(uncut !== undefined, `${a.metadata.name} connects to ${b.metadata.name} before`);
    say(`NetworkChaos between ${a.metadata.name} (A) and ${b.metadata.name} (B), measured from inside A's network namespace:`);
    say(`  before: A connects to B:7000 in ${uncut.toFixed(1)} ms; A sends to B at ${uncapped.toFixed(0)} Mbit/s`);

    const cutAt = Date.now();
    await kubectl(['apply', '-f', '-'], experiment('demo-partition', { action: 'partition', direction: 'to', target: peers }));
    let cutMs: number | undefined;
    for (const deadline = Date.now() + 10_000; cutMs === undefined && Date.now() < deadline;) if (await connectMs() === undefined) cutMs = Date.now() - cutAt;
    check(cutMs !== undefined, 'the partition cut A from B within 10 s');
    say(`  partition, direction to, target B: A cannot connect to B ${seconds(cutMs)} after the apply`);
    // The proof from the kernel: the daemon reads the counters of kerris's rules, and the controller puts them in status.
    for (let i = 0; i < 5; i++) await connectMs();
    const cut = await waitFor('demo-partition', (c) => (c.status?.targets?.[0]?.evidence?.counters ?? []).some((k) => (k.dropped ?? 0) > 0), 40_000);
    say(`    status.targets[0].evidence (the kernel's counters): ${counters(cut)}`);
    await remove('demo-partition');
    const rejoined = await connectMs();
    check(rejoined !== undefined, 'A connects to B again once the partition is deleted');
    say(`    deleted: A connects to B again (${rejoined.toFixed(1)} ms)`);

    await kubectl(['apply', '-f', '-'], experiment('demo-bandwidth', { action: 'bandwidth', direction: 'to', target: peers, bandwidth: { rate: '8mbit', limit: 200000, buffer: 20000 } }));
    await waitFor('demo-bandwidth', (c) => c.status?.conditions?.some((x) => x.type === 'AllInjected' && x.status === 'True') ?? false);
    const capped = await mbit();
    // tbf counts whole Ethernet frames, the receiver TCP payload: 1448 of every 1514 bytes at MTU 1500.
    const goodput = 8 * 1448 / 1514;
    check(Math.abs(capped / goodput - 1) <= 0.1, `the cap holds A at ${goodput.toFixed(2)} Mbit/s of payload ± 10% (measured ${capped.toFixed(2)})`);
    say(`  bandwidth 8mbit from A to B: A sends ${capped.toFixed(2)} Mbit/s of TCP payload (8 Mbit/s of frames is ${goodput.toFixed(2)})`);
    const throttled = await waitFor('demo-bandwidth', (c) => (c.status?.targets?.[0]?.evidence?.counters ?? []).some((k) => k.kind === 'tbf' && (k.overlimits ?? 0) > 0), 40_000);
    say(`    status.targets[0].evidence: ${counters(throttled)}`);
    await remove('demo-bandwidth');
    const freed = await mbit();
    check(freed > 80, `throughput back above the cap after delete (${freed.toFixed(0)} Mbit/s)`);
    say(`    deleted: A sends at ${freed.toFixed(0)} Mbit/s again`);

    await kubectl(['apply', '-f', '-'], experiment('demo-delay', { action: 'delay', delay: { latency: '100ms' }, target: peers }));
    const refused = await waitFor('demo-delay', (c) => c.status?.targets?.[0]?.phase === 'Failed');
    say(`  delay 100ms: refused, nothing applied, because this machine's kernel has no sch_netem: "${refused.status?.targets?.[0]?.message ?? ''}"`);
    check(/sch_netem/.test(refused.status?.targets?.[0]?.message ?? ''), 'the refusal names the missing sch_netem');
    await remove('demo-delay');
    await sink.stop();

    const after = await Promise.all([snapshotKernelState(aNet.path), snapshotKernelState(bNet.path)]);
    check(JSON.stringify(after) === JSON.stringify(before), 'A\'s and B\'s tc, nftables, iptables and ipset state is as before');
    say('  afterwards: A\'s and B\'s tc, nftables, iptables and ipset state is exactly as before the act');
  } finally {
    await tools.stopAll();
    for (const netns of attached) await netns.detach();
    containerd.close();
  }
}

main().then(() => { process.exitCode = 0; }, (error: unknown) => {
  process.stderr.write(`\ndemo FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
