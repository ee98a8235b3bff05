/**
 * The link between this machine and the netem node's VM: one tap device that only qemu and the host use, with a
 * point-to-point /30 on it, and a route to the VM node's pod subnet through the VM. Nothing is bridged to a real
 * interface, masqueraded or forwarded out: traffic stays between the host and the guest.
 */
import { run } from '../../../src/util/exec.ts';

export const NETEM_NETWORK = {
  /** The host's end; qemu opens it by name (at most 15 characters). */
  tap: 'kerris-tap0',
  /** The guest's virtio NIC, eth0, on the tap. */
  mac: '52:54:00:6b:72:01',
  hostAddress: '10.233.1.1',
  nodeAddress: '10.233.1.2',
  prefixLength: 30,
  /** Pods on the VM node: the guest's CNI bridge, routed from the host through nodeAddress. */
  podSubnet: '10.244.1.0/24',
  podGateway: '10.244.1.1',
  podBridge: 'kerris-cni0',
} as const;

interface Address {
  local?: string;
  prefixlen?: number;
}

interface Link {
  ifname: string;
  addr_info?: Address[];
}

interface Route {
  dst?: string;
  gateway?: string;
  dev?: string;
}

/** Creates the tap (if missing) with the host's address, up, and the route to the VM node's pods. Idempotent. */
export async function createNetemLink(): Promise<void> {
  const n = NETEM_NETWORK;
  const shown = await run(['ip', '-json', 'addr', 'show', 'dev', n.tap], { allowFailure: true });
  if (shown.code !== 0) await run(['ip', 'tuntap', 'add', 'dev', n.tap, 'mode', 'tap']);
  const links = shown.code === 0 ? JSON.parse(shown.stdout) as Link[] : [];
  const hasAddress = links.some((l) => l.addr_info?.some((a) => a.local === n.hostAddress && a.prefixlen === n.prefixLength));
  if (!hasAddress) await run(['ip', 'addr', 'add', `${n.hostAddress}/${n.prefixLength}`, 'dev', n.tap]);
  await run(['ip', 'link', 'set', n.tap, 'up']);
  // `replace`: a route left by a crashed run is taken over instead of failing with "File exists".
  await run(['ip', 'route', 'replace', n.podSubnet, 'via', n.nodeAddress, 'dev', n.tap]);
}

/** Removes the route and the tap (its address goes with it). Safe to call when neither exists. */
export async function removeNetemLink(): Promise<void> {
  const n = NETEM_NETWORK;
  await run(['ip', 'route', 'del', n.podSubnet, 'via', n.nodeAddress, 'dev', n.tap], { allowFailure: true });
  await run(['ip', 'link', 'del', n.tap], { allowFailure: true });
}

/** What of the link is still on the host: the tap, its address, the pod route. Empty after removeNetemLink. */
export async function netemLinkLeftovers(): Promise<string[]> {
  const n = NETEM_NETWORK;
  const left: string[] = [];
  const links = JSON.parse((await run(['ip', '-json', 'addr', 'show'])).stdout) as Link[];
  for (const link of links) {
    if (link.ifname === n.tap) left.push(`interface ${n.tap}`);
    for (const address of link.addr_info ?? []) {
      if (address.local === n.hostAddress) left.push(`address ${n.hostAddress} on ${link.ifname}`);
    }
  }
  const routes = JSON.parse((await run(['ip', '-json', 'route', 'show'])).stdout) as Route[];
  for (const route of routes) {
    if (route.dst === n.podSubnet || route.gateway === n.nodeAddress || route.dev === n.tap) {
      left.push(`route ${route.dst ?? '?'}${route.gateway ? ` via ${route.gateway}` : ''}${route.dev ? ` dev ${route.dev}` : ''}`);
    }
  }
  return [...new Set(left)];
}
