/**
 * The leader asks every node's daemon what it can do and what it holds, and publishes the answers in one ConfigMap
 * (src/api/fleet-survey.ts), so `kubectl kerris plan` and `doctor` can tell a person what each node can do, which
 * faults it holds and when the daemons' certificates expire, without speaking to the daemons themselves. Leader only,
 * like the other daemon loops; written with server-side apply, so a replica that lost the lead and wrote late is
 * overwritten by the next survey.
 */
import { FLEET_SURVEY_KEY, FLEET_SURVEY_NAME, FLEET_SURVEY_VERSION, type FleetSurvey, type SurveyedNode } from '../../api/fleet-survey.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isNotFound } from '../../kube/errors.ts';
import { configMaps, secrets } from '../../kube/resources.ts';
import type { Runnable } from '../../runtime/manager.ts';
import { sleep } from '../../runtime/sleep.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { Logger } from '../../util/log.ts';
import { errorMessage } from '../../daemon/errors.ts';
import { CA_SECRET_NAME, DAEMON_TLS_SECRET_NAME } from '../certificates/identities.ts';
import { NOT_AFTER_ANNOTATION } from '../certificates/secrets.ts';
import { faultKindName, phaseName, type DaemonFleet } from './fleet.ts';

/** How often the survey is written; `doctor` calls a survey older than three of these stale. */
export const SURVEY_INTERVAL_MS = 30_000;
const FIELD_MANAGER = 'kerris-controller-survey';

export interface SurveyOptions {
  client: KubeClient;
  fleet: DaemonFleet;
  namespace: string;
  identity: string;
  log: Logger;
  intervalMs?: number;
  now?: () => Date;
}

/** A daemon's word for a closed set, or the fallback for one this controller does not know. */
function oneOf<T extends string>(value: string, known: readonly T[], fallback: T): T {
  return (known as readonly string[]).includes(value) ? value as T : fallback;
}

async function surveyNode(fleet: DaemonFleet, node: string): Promise<SurveyedNode> {
  const daemonPod = fleet.daemonPod(node)?.metadata.name ?? '';
  try {
    const [capabilities, injections] = await Promise.all([fleet.capabilities(node), fleet.inventory(node)]);
    const network = capabilities.network;
    return {
      node, daemonPod, reachable: true,
      apiVersion: capabilities.apiVersion,
      faultKinds: capabilities.faultKinds.map(faultKindName),
      runtimes: [...capabilities.runtimes],
      ...(network ? {
        network: {
          netem: network.netem, tbf: network.tbf, htb: network.htb, u32: network.u32, ingressRedirect: network.ingressRedirect, ifb: network.ifb,
          nftables: network.nftables, ipset: network.ipset,
          iptablesBackend: oneOf(network.iptablesBackend, ['nft', 'legacy', 'none'] as const, 'none'),
          cgroup: oneOf(network.cgroup, ['v1', 'v2', 'hybrid'] as const, 'v1'),
        },
      } : {}),
      journalDamage: capabilities.journalDamage.map((d) => ({ file: d.file, kind: d.kind, reason: d.reason, movedTo: d.movedTo })),
      injections: injections.map((i) => ({
        id: i.id, experiment: i.experiment, kind: faultKindName(i.kind), phase: phaseName(i.phase), summary: i.summary, holder: i.holder, error: i.error,
      })),
    };
  } catch (error) {
    return { node, daemonPod, reachable: false, error: errorMessage(error) };
  }
}

/** A Secret's not-after annotation; undefined when the Secret or the annotation is missing. */
async function notAfter(client: KubeClient, namespace: string, name: string): Promise<string | undefined> {
  try {
    return (await client.get(secrets, name, { namespace })).metadata.annotations?.[NOT_AFTER_ANNOTATION];
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** One survey of every node with a Ready daemon, as a value. */
export async function surveyFleet(options: SurveyOptions): Promise<FleetSurvey> {
  const nodes = await mapLimit(options.fleet.nodes(), 8, (node) => surveyNode(options.fleet, node));
  const [ca, serving] = await Promise.all([CA_SECRET_NAME, DAEMON_TLS_SECRET_NAME].map((name) => notAfter(options.client, options.namespace, name)));
  return {
    version: FLEET_SURVEY_VERSION,
    controller: options.identity,
    observedAt: (options.now?.() ?? new Date()).toISOString(),
    intervalSeconds: Math.round((options.intervalMs ?? SURVEY_INTERVAL_MS) / 1000),
    certificates: { ...(ca ? { caNotAfter: ca } : {}), ...(serving ? { daemonServingNotAfter: serving } : {}) },
    nodes: nodes.sort((a, b) => a.node.localeCompare(b.node)),
  };
}

export function fleetSurveyor(options: SurveyOptions): Runnable {
  return {
    name: 'daemon-survey',
    async run(signal) {
      do {
        try {
          const survey = await surveyFleet(options);
          await options.client.patch(configMaps, FLEET_SURVEY_NAME, {
            type: 'apply',
            fieldManager: FIELD_MANAGER,
            force: true,
            body: {
              apiVersion: 'v1', kind: 'ConfigMap',
              metadata: { name: FLEET_SURVEY_NAME, namespace: options.namespace, labels: { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'controller' } },
              data: { [FLEET_SURVEY_KEY]: `${JSON.stringify(survey, null, 1)}\n` },
            },
          }, { namespace: options.namespace });
        } catch (error) {
          options.log.error('the fleet survey could not be written; retrying', { error });
        }
      } while (await sleep(options.intervalMs ?? SURVEY_INTERVAL_MS, signal));
    },
  };
}
