/** Shared by the chaos end-to-end tests: applying and waiting for experiments, the app, Events, the controller. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import type { ChaosStatus, NetworkChaos, PodChaos, StressChaos } from '../../src/api/generated/types.ts';
import type { ControlPlane } from '../testbed/index.ts';
import { KERRIS_NAMESPACE } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { appPods, deploySampleApp, SAMPLE_APP, type PodSummary } from '../testbed/sample-app.ts';

export interface EventJson { reason: string; message: string; type: string; reportingInstance?: string; involvedObject: { name: string } }

interface WithStatus { status?: ChaosStatus }
export const finished = (c: WithStatus): boolean => c.status?.phase === 'Finished' || c.status?.phase === 'Failed';
export const condition = (c: WithStatus, type: string) => c.status?.conditions?.find((x) => x.type === type);

/** Polls `pick` every 100 ms until it gives a value, and fails the test saying `what` after `timeoutMs`. */
export async function pollFor<T>(what: string, timeoutMs: number, pick: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await pick();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

interface Kinds { PodChaos: PodChaos; NetworkChaos: NetworkChaos; StressChaos: StressChaos }
/** What a test leaves out of a spec: PodChaos kills one of the app's pods, NetworkChaos and StressChaos hit all of them. */
const DEFAULTS: { [K in keyof Kinds]: Partial<Kinds[K]['spec']> } = {
  PodChaos: { action: 'pod-kill', mode: 'one', selector: { labelSelectors: { app: SAMPLE_APP } } },
  NetworkChaos: { mode: 'all', selector: { labelSelectors: { app: SAMPLE_APP } } },
  StressChaos: { mode: 'all', selector: { labelSelectors: { app: SAMPLE_APP } } },
};
const PLURALS: { [K in keyof Kinds]: string } = { PodChaos: 'podchaos', NetworkChaos: 'networkchaos', StressChaos: 'stresschaos' };

export function chaosFixtures<K extends keyof Kinds = 'PodChaos'>(plane: ControlPlane, prefix: string, kind: K = 'PodChaos' as K) {
  type Chaos = Kinds[K];
  let counter = 0;
  const namespaces: string[] = [];

  async function newApp(replicas = 3): Promise<string> {
    counter += 1;
    const namespace = `${prefix}-${process.pid}-${counter}`;
    namespaces.push(namespace);
    await deploySampleApp(plane, namespace, replicas);
    return namespace;
  }

  async function applyChaos(namespace: string, name: string, spec: Partial<Chaos['spec']>): Promise<void> {
    const manifest = { apiVersion: 'chaos.kerris.dev/v1alpha1', kind, metadata: { name, namespace }, spec: { ...DEFAULTS[kind], ...spec } };
    await kubectl(plane, ['apply', '-f', '-'], { input: stringify(manifest) });
  }

  const getChaos = (namespace: string, name: string): Promise<Chaos> => kubectlJson<Chaos>(plane, ['get', PLURALS[kind], name, '-n', namespace]);

  async function waitChaos(namespace: string, name: string, what: string, done: (c: Chaos) => boolean, timeoutMs = 60_000): Promise<Chaos> {
    const deadline = Date.now() + timeoutMs;
    let last: Chaos | undefined;
    while (Date.now() < deadline) {
      last = await getChaos(namespace, name);
      if (done(last)) return last;
      await sleep(250);
    }
    assert.fail(`${namespace}/${name}: ${what} not reached in ${timeoutMs} ms; status: ${JSON.stringify(last?.status, null, 1)}`);
  }

  async function waitAppReady(namespace: string, replicas = 3): Promise<PodSummary[]> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const pods = (await appPods(plane, namespace)).filter((p) => !p.terminating);
      if (pods.length === replicas && pods.every((p) => p.ready)) return pods;
      if (Date.now() > deadline) assert.fail(`${namespace}: app not back to ${replicas} Ready pods: ${JSON.stringify(pods)}`);
      await sleep(250);
    }
  }

  async function chaosEvents(namespace: string, name: string): Promise<EventJson[]> {
    const list = await kubectlJson<{ items: EventJson[] }>(plane, ['get', 'events', '-n', namespace, '--field-selector', `involvedObject.kind=${kind},involvedObject.name=${name}`]);
    return list.items;
  }

  async function scaleController(replicas: number): Promise<void> {
    await kubectl(plane, ['scale', 'deployment/kerris-controller', '-n', KERRIS_NAMESPACE, `--replicas=${replicas}`]);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const pods = await kubectlJson<{ items: { metadata: { deletionTimestamp?: string }; status: { conditions?: { type: string; status: string }[] } }[] }>(plane, ['get', 'pods', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=controller']);
      const ready = pods.items.filter((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      if (replicas === 0 ? pods.items.length === 0 : ready.length === replicas) return;
      if (Date.now() > deadline) assert.fail(`controller not scaled to ${replicas}`);
      await sleep(500);
    }
  }

  /** Deletes every namespace these fixtures made (and the experiments in them, while the controller still runs). */
  async function cleanUp(): Promise<void> {
    if (namespaces.length > 0) await kubectl(plane, ['delete', 'namespace', ...namespaces, '--ignore-not-found', '--wait=true', '--timeout=120s'], { timeoutMs: 150_000 });
  }

  return { newApp, applyChaos, getChaos, waitChaos, waitAppReady, chaosEvents, scaleController, cleanUp };
}

export type ChaosFixtures<K extends keyof Kinds = 'PodChaos'> = ReturnType<typeof chaosFixtures<K>>;
