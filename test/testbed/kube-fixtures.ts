/** What cluster tests share: an admin client on the test bed, and throwaway namespaces that are really gone afterwards. */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../src/kube/client.ts';
import { isApiError, isNotFound } from '../../src/kube/errors.ts';
import { defineResource, type Resource } from '../../src/kube/resource.ts';
import { namespaces } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { controlPlane } from './index.ts';

/** A client with the test bed's admin credentials (starting the control plane if needed). */
export async function adminClient(): Promise<KubeClient> {
  const plane = await controlPlane();
  return KubeClient.fromEnvironment({ env: { KUBECONFIG: plane.kubeconfig } });
}

/** Creates a namespace named prefix-<random> and returns its name. */
export async function createScratchNamespace(client: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await client.create(namespaces, { metadata: { name } });
  return name;
}

/** Deletes the namespace and waits until the apiserver no longer has it, so a test leaves nothing behind. */
export async function deleteNamespaceAndWait(client: KubeClient, name: string, timeoutMs = 90_000): Promise<void> {
  await client.delete(namespaces, name).catch((error: unknown) => { if (!isNotFound(error)) throw error; });
  const deadline = Date.now() + timeoutMs;
  while (await client.get(namespaces, name).then(() => true, (error: unknown) => { if (isNotFound(error)) return false; throw error; })) {
    if (Date.now() > deadline) throw new Error(`namespace ${name} still exists ${timeoutMs} ms after its deletion`);
    await sleep(250);
  }
}

/** Polls check until it holds, failing after timeoutMs with what was awaited; resolves with the ms it took. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, pollMs = 20): Promise<number> {
  const began = Date.now();
  while (!(await check())) {
    if (Date.now() - began > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
  return Date.now() - began;
}

interface CustomResourceDefinition extends KubeObject {
  spec: object;
  status?: { conditions?: Array<{ type: string; status: string }> };
}

const crds = defineResource<CustomResourceDefinition>({ group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false });

/**
 * A namespaced test-only custom resource with a status subresource and no schema, for tests of the runtime and the
 * engine that no kerris controller in the test bed may reconcile too. Waits until the apiserver serves it.
 */
export async function testResource<T extends KubeObject>(client: KubeClient, names: { group: string; version: string; kind: string; plural: string }): Promise<{ resource: Resource<T>; remove: () => Promise<void> }> {
  const name = `${names.plural}.${names.group}`;
  await client.create(crds, {
    metadata: { name },
    spec: {
      group: names.group,
      scope: 'Namespaced',
      names: { plural: names.plural, singular: names.kind.toLowerCase(), kind: names.kind, listKind: `${names.kind}List` },
      versions: [{ name: names.version, served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  }).catch((error: unknown) => { if (!isApiError(error, 409)) throw error; });
  await until(async () => (await client.get(crds, name)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false, 30_000, `the CRD ${name} to be established`);
  const resource = defineResource<T>({ group: names.group, version: names.version, plural: names.plural, kind: names.kind, namespaced: true });
  // Discovery of a new CRD takes a moment even after Established.
  await until(async () => client.list(resource, { limit: 1 }).then(() => true, () => false), 30_000, `${names.plural} to be served`);
  const remove = async (): Promise<void> => {
    await client.delete(crds, name).catch((error: unknown) => { if (!isNotFound(error)) throw error; });
    await until(async () => client.get(crds, name).then(() => false, (error: unknown) => { if (isNotFound(error)) return true; throw error; }), 60_000, `the CRD ${name} to go away`);
  };
  return { resource, remove };
}
