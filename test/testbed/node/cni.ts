import { readdir, rm, rmdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../../src/util/exec.ts';
import { requireExecutables } from '../prerequisites.ts';

/**
 * The pod network: one Linux bridge, every pod a veth on it with an address from host-local IPAM. Pods on the
 * node reach each other over the bridge and the node through the bridge's gateway address; nothing is masqueraded,
 * so no iptables rule is written and no pod traffic leaves the machine.
 */
export const POD_NETWORK = {
  name: 'kerris-pods',
  bridge: 'kerris-cni0',
  subnet: '10.244.0.0/24',
  gateway: '10.244.0.1',
} as const;

/** A pod network like POD_NETWORK on another node (the netem node's, in its VM, has its own subnet). */
export interface PodNetwork {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
}

export const CNI_BIN_DIR = '/usr/lib/cni';
/** libcni in containerd caches each attachment's result here (not configurable in containerd 1.6's CRI). */
const CNI_CACHE_RESULTS = '/var/lib/cni/results';
const ATTACHMENT_RESULT = new RegExp(`^${POD_NETWORK.name}-([0-9a-f]{64})-eth0$`);

/** The conflist containerd's CRI plugin reads; ipamDir keeps host-local's address leases inside the node's state. */
export function cniConflist(ipamDir: string, network: PodNetwork = POD_NETWORK): string {
  return `${JSON.stringify({
    cniVersion: '1.0.0',
    name: network.name,
    plugins: [{
      type: 'bridge',
      bridge: network.bridge,
      isGateway: true,
      ipMasq: false,
      hairpinMode: true,
      ipam: {
        type: 'host-local',
        dataDir: ipamDir,
        ranges: [[{ subnet: network.subnet, gateway: network.gateway }]],
        routes: [{ dst: '0.0.0.0/0' }],
      },
    }],
  }, null, 2)}\n`;
}

export async function writeCniConfig(confDir: string, ipamDir: string, network: PodNetwork = POD_NETWORK): Promise<void> {
  await requireExecutables({
    [join(CNI_BIN_DIR, 'bridge')]: 'containernetworking-plugins',
    [join(CNI_BIN_DIR, 'host-local')]: 'containernetworking-plugins',
    [join(CNI_BIN_DIR, 'loopback')]: 'containernetworking-plugins',
  });
  await mkdir(confDir, { recursive: true });
  await mkdir(ipamDir, { recursive: true });
  await writeFile(join(confDir, `10-${network.name}.conflist`), cniConflist(ipamDir, network));
}

interface Link {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

async function links(): Promise<Link[]> {
  const shown = await run(['ip', '-details', '-json', 'link', 'show']);
  return JSON.parse(shown.stdout) as Link[];
}

/** Cache files libcni wrote for attachments to our network, and for the loopback of our sandboxes. */
async function cachedResults(ids: readonly string[] = []): Promise<string[]> {
  const entries = await readdir(CNI_CACHE_RESULTS).catch(() => [] as string[]);
  // A sandbox attached to our network also tells its id through its own result file.
  const attached = entries.map((name) => ATTACHMENT_RESULT.exec(name)?.[1]).filter((id) => id !== undefined);
  const loopbacks = new Set([...ids, ...attached].map((id) => `cni-loopback-${id}-lo`));
  return entries.filter((name) => name.startsWith(`${POD_NETWORK.name}-`) || loopbacks.has(name)).map((name) => join(CNI_CACHE_RESULTS, name));
}

/**
 * Removes the pod network once the pods' network namespaces are gone: the bridge (and any veth still on it),
 * and the result cache of the sandboxes in sandboxIds. The IPAM leases live in the node's state dir and go with it.
 */
export async function removePodNetwork(sandboxIds: readonly string[]): Promise<void> {
  for (const link of await links()) {
    if (link.master === POD_NETWORK.bridge) await run(['ip', 'link', 'delete', link.ifname], { allowFailure: true });
  }
  await run(['ip', 'link', 'delete', POD_NETWORK.bridge], { allowFailure: true });
  for (const file of await cachedResults(sandboxIds)) await rm(file, { force: true });
  // Remove the cache dirs too if the node's pods were their only users.
  for (const dir of [CNI_CACHE_RESULTS, '/var/lib/cni']) await rmdir(dir).catch(() => undefined);
}

/** What of the pod network is still on the host: the bridge, veths on it, cached results (iptables: see iptables.ts). */
export async function podNetworkLeftovers(): Promise<string[]> {
  const left: string[] = [];
  for (const link of await links()) {
    if (link.ifname === POD_NETWORK.bridge) left.push(`bridge ${link.ifname}`);
    else if (link.master === POD_NETWORK.bridge) left.push(`interface ${link.ifname} on ${POD_NETWORK.bridge}`);
    // The bridge plugin names the host end of each pod's veth "veth" and 8 hex digits.
    else if (link.linkinfo?.info_kind === 'veth' && /^veth[0-9a-f]{8}$/.test(link.ifname)) left.push(`veth ${link.ifname}`);
  }
  for (const file of await cachedResults()) left.push(`file ${file}`);
  // Only this node's containerd runs CNI on this machine, so any loopback result is one of its sandboxes'.
  for (const name of await readdir(CNI_CACHE_RESULTS).catch(() => [] as string[])) {
    if (name.startsWith('cni-loopback-')) left.push(`file ${join(CNI_CACHE_RESULTS, name)}`);
  }
  return left;
}
