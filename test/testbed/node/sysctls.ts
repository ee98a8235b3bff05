import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Host kernel settings the node changes on its own: kubelet sets its "kernel tunables" at start (unless
 * protectKernelDefaults, which would refuse to start instead), the CNI bridge plugin turns on forwarding
 * for its gateway, and kube-proxy lets NodePorts answer on 127.0.0.1 (route_localnet) and bridged traffic
 * through iptables. The node records them before it starts and puts them back when it stops.
 */
export const NODE_SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.route_localnet',
  'net.bridge.bridge-nf-call-iptables',
] as const;

export type Sysctls = Record<string, string>;

function procPath(name: string): string {
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(name)) throw new Error(`sysctl name ${JSON.stringify(name)} is not valid`);
  return join('/proc/sys', ...name.split('.'));
}

export async function readSysctls(names: readonly string[] = NODE_SYSCTLS): Promise<Sysctls> {
  const values: Sysctls = {};
  for (const name of names) values[name] = (await readFile(procPath(name), 'utf8')).trim();
  return values;
}

export async function writeSysctls(values: Sysctls): Promise<void> {
  for (const [name, value] of Object.entries(values)) {
    if (!/^-?\d+$/.test(value)) throw new Error(`sysctl ${name} value ${JSON.stringify(value)} is not an integer`);
    await writeFile(procPath(name), `${value}\n`);
  }
}

/** Settings whose current value differs from saved, as "name: saved -> now". */
export async function sysctlDrift(saved: Sysctls): Promise<string[]> {
  const now = await readSysctls(Object.keys(saved));
  return Object.keys(saved).filter((name) => now[name] !== saved[name]).map((name) => `sysctl ${name}: ${saved[name]} -> ${now[name]}`);
}
