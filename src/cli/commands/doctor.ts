/**
 * `kubectl kerris doctor`: is kerris healthy here? The controller's leadership, a Ready daemon on every node, what
 * each node can do, when the daemons' certificates expire, damaged journals, and faults held on nodes that no
 * experiment owns. Each check is ok, warn or fail; any fail exits 3.
 */
import { FLEET_SURVEY_KEY, FLEET_SURVEY_NAME, parseFleetSurvey, type FleetSurvey } from '../../api/fleet-survey.ts';
import { DAEMON_SELECTOR } from '../../controller/daemons/fleet.ts';
import { LEASE_NAME } from '../../controller/operator.ts';
import { isApiError, isNotFound } from '../../kube/errors.ts';
import { configMaps, leases, nodes, pods } from '../../kube/resources.ts';
import type { KubeObject, Pod } from '../../kube/types.ts';
import type { Session } from '../context.ts';
import { EXIT } from '../errors.ts';
import { CHAOS_KINDS } from '../experiments.ts';
import { listFormat, serialise, table } from '../output.ts';

export type CheckState = 'ok' | 'warn' | 'fail';
export interface DoctorCheck {
  check: string;
  state: CheckState;
  detail: string;
}

/** Certificates that expire sooner than this are a warning (the controller renews the serving one 10 days ahead). */
const CERTIFICATE_WARN_MS = 7 * 86_400_000;

interface NodeObject extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

const ready = (pod: Pod): boolean => pod.metadata.deletionTimestamp === undefined && (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const reason = (error: unknown): string => (isApiError(error) ? `${error.status} ${error.reason}` : (error as Error).message);

async function leadership(session: Session, now: number): Promise<DoctorCheck> {
  try {
    const lease = await session.client.get(leases, LEASE_NAME, { namespace: session.kerrisNamespace });
    const holder = lease.spec?.holderIdentity ?? '';
    const renewed = Date.parse(lease.spec?.renewTime ?? '');
    const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (holder === '') return { check: 'controller', state: 'fail', detail: `Lease ${LEASE_NAME} has no holder: no controller replica leads` };
    const ago = Math.round((now - renewed) / 1000);
    if (!(renewed + duration > now)) return { check: 'controller', state: 'fail', detail: `${holder} last renewed the lead ${ago}s ago, past its ${duration / 1000}s lease: no controller leads now` };
    return { check: 'controller', state: 'ok', detail: `${holder} leads (renewed ${ago}s ago)` };
  } catch (error) {
    return { check: 'controller', state: 'fail', detail: isNotFound(error) ? `no Lease ${session.kerrisNamespace}/${LEASE_NAME}: the controller has never led (is kerris installed in ${session.kerrisNamespace}?)` : `cannot read the Lease: ${reason(error)}` };
  }
}

async function daemons(session: Session): Promise<DoctorCheck[]> {
  let nodeList: NodeObject[];
  try {
    nodeList = (await session.client.listAll(nodes)).items as NodeObject[];
  } catch (error) {
    return [{ check: 'daemons', state: 'warn', detail: `cannot list nodes: ${reason(error)}` }];
  }
  const daemonPods = (await session.client.listAll(pods, { namespace: session.kerrisNamespace, labelSelector: DAEMON_SELECTOR })).items;
  return nodeList.map((node): DoctorCheck => {
    const name = node.metadata.name ?? '';
    const nodeReady = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const pod = daemonPods.find((p) => p.spec?.nodeName === name && ready(p));
    if (pod) return { check: `daemon ${name}`, state: 'ok', detail: `${pod.metadata.name ?? ''} Ready` };
    const any = daemonPods.find((p) => p.spec?.nodeName === name);
    return {
      check: `daemon ${name}`, state: nodeReady ? 'fail' : 'warn',
      detail: `${any ? `${any.metadata.name ?? ''} is not Ready (${any.status?.phase ?? 'unknown'})` : 'no kerris daemon pod'}${nodeReady ? '' : '; the node itself is not Ready'}: faults that need a daemon wait there`,
    };
  });
}

async function survey(session: Session): Promise<FleetSurvey | DoctorCheck> {
  try {
    const text = (await session.client.get(configMaps, FLEET_SURVEY_NAME, { namespace: session.kerrisNamespace })).data?.[FLEET_SURVEY_KEY];
    if (text === undefined) return { check: 'fleet survey', state: 'fail', detail: `ConfigMap ${FLEET_SURVEY_NAME} has no ${FLEET_SURVEY_KEY}` };
    return parseFleetSurvey(text);
  } catch (error) {
    return { check: 'fleet survey', state: 'fail', detail: isNotFound(error) ? `no ConfigMap ${session.kerrisNamespace}/${FLEET_SURVEY_NAME}: no controller has surveyed the daemons yet` : `cannot read it: ${error instanceof Error ? reason(error) : String(error)}` };
  }
}

function surveyChecks(found: FleetSurvey, now: number): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const ageS = Math.round((now - Date.parse(found.observedAt)) / 1000);
  checks.push(ageS > 3 * found.intervalSeconds
    ? { check: 'fleet survey', state: 'fail', detail: `last written ${ageS}s ago by ${found.controller}, more than three times its ${found.intervalSeconds}s interval: no controller is surveying` }
    : { check: 'fleet survey', state: 'ok', detail: `written ${ageS}s ago by ${found.controller}` });
  for (const [label, at] of [['CA', found.certificates.caNotAfter], ['daemon serving certificate', found.certificates.daemonServingNotAfter]] as const) {
    if (at === undefined) {
      checks.push({ check: `certificates ${label}`, state: 'fail', detail: 'not found: the daemons cannot be reached over mTLS' });
      continue;
    }
    const left = Date.parse(at) - now;
    checks.push({ check: `certificates ${label}`, state: left <= 0 ? 'fail' : left < CERTIFICATE_WARN_MS ? 'warn' : 'ok', detail: `expires ${at} (in ${Math.floor(left / 86_400_000)} days)` });
  }
  for (const node of found.nodes) {
    if (!node.reachable) {
      checks.push({ check: `node ${node.node}`, state: 'fail', detail: `the controller cannot reach its daemon: ${node.error ?? ''}` });
      continue;
    }
    const net = node.network;
    const abilities = net ? [`netem ${net.netem ? 'yes' : 'no'}`, `tbf ${net.tbf ? 'yes' : 'no'}`, `nftables ${net.nftables ? 'yes' : 'no'}`, `ifb ${net.ifb ? 'yes' : 'no'}`, `cgroup ${net.cgroup}`] : [];
    checks.push({ check: `node ${node.node}`, state: 'ok', detail: `contract v${node.apiVersion ?? '?'}; can do ${(node.faultKinds ?? []).join(', ')}; ${abilities.join(', ')}; ${(node.injections ?? []).length} injection(s) held` });
    for (const damage of node.journalDamage ?? []) {
      checks.push({ check: `journal ${node.node}`, state: 'fail', detail: `${damage.file} is ${damage.kind} (${damage.reason})${damage.movedTo ? `, moved to ${damage.movedTo}` : ''}: the fault it recorded is held by nobody; check the node by hand` });
    }
  }
  return checks;
}

async function orphans(session: Session, found: FleetSurvey): Promise<DoctorCheck[]> {
  const owners = new Map<string, string>();
  try {
    for (const info of CHAOS_KINDS) {
      for (const chaos of (await session.client.listAll(info.resource)).items) owners.set(chaos.metadata.uid ?? '', `${info.names[0]}/${chaos.metadata.namespace ?? ''}/${chaos.metadata.name ?? ''}`);
    }
  } catch (error) {
    return [{ check: 'orphans', state: 'warn', detail: `cannot list experiments in every namespace: ${reason(error)}` }];
  }
  const left = found.nodes.flatMap((n) => (n.injections ?? []).filter((i) => !owners.has(i.experiment) && i.phase !== 'done').map((i) => ({ node: n.node, injection: i })));
  if (left.length === 0) return [{ check: 'orphans', state: 'ok', detail: 'every injection on the nodes belongs to an experiment' }];
  return left.map(({ node, injection }) => ({
    check: 'orphans', state: 'fail',
    detail: `node ${node} holds ${injection.kind} ${injection.id} (${injection.phase}: ${injection.summary}) of experiment ${injection.experiment}, which no longer exists; its daemon reverts it when its lease or deadline ends`,
  }));
}

export async function doctorCommand(session: Session, output: string | undefined): Promise<{ text: string; exitCode: number }> {
  const format = listFormat(output, ['table', 'json', 'yaml']);
  const now = Date.now();
  const checks: DoctorCheck[] = [await leadership(session, now), ...await daemons(session)];
  const found = await survey(session);
  if ('version' in found) checks.push(...surveyChecks(found, now), ...await orphans(session, found));
  else checks.push(found);
  const failed = checks.some((c) => c.state === 'fail');
  const text = format === 'json' || format === 'yaml'
    ? serialise({ healthy: !failed, checks }, format)
    : `${table(['check', 'state', 'detail'], checks.map((c) => [c.check, c.state.toUpperCase(), c.detail]))}\n${failed ? 'kerris is NOT healthy here: see FAIL above.' : 'kerris is healthy here.'}\n`;
  return { text, exitCode: failed ? EXIT.unsafe : EXIT.ok };
}
