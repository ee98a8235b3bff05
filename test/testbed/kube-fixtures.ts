/** What cluster tests share: an admin client on the test bed, and throwaway namespaces that are really gone afterwards. */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../src/kube/client.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import { namespaces } from '../../src/kube/resources.ts';
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
