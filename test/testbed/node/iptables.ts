import { run, type Argv } from '../../../src/util/exec.ts';
import { POD_NETWORK } from './cni.ts';

/**
 * iptables state of the node. kube-proxy (and kubelet, were its util chains on) write KUBE-* chains; kube-proxy's
 * own --cleanup leaves some behind (KUBE-FIREWALL, which drops non-local traffic to 127.0.0.0/8). No other
 * Kubernetes runs on this machine, so every KUBE-* chain, and every rule naming the pod bridge or subnet, is ours.
 */
interface Backend {
  save: Argv;
  restore: Argv;
}

const BACKENDS: readonly Backend[] = [
  { save: ['iptables-save'], restore: ['iptables-restore', '--noflush'] },
  { save: ['ip6tables-save'], restore: ['ip6tables-restore', '--noflush'] },
  { save: ['iptables-legacy-save'], restore: ['iptables-legacy-restore', '--noflush'] },
  { save: ['ip6tables-legacy-save'], restore: ['ip6tables-legacy-restore', '--noflush'] },
];

const KUBE_CHAIN = /^KUBE-[A-Z0-9-]+$/;
const subnetPrefix = POD_NETWORK.subnet.slice(0, POD_NETWORK.subnet.lastIndexOf('.') + 1);

function isOurs(line: string): boolean {
  return /\b(KUBE|CNI)-/.test(line) || line.includes(POD_NETWORK.bridge) || line.includes(subnetPrefix);
}

interface Table {
  name: string;
  chains: string[];
  rules: string[];
}

function parseSave(text: string): Table[] {
  const tables: Table[] = [];
  let current: Table | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) tables.push(current = { name: line.slice(1), chains: [], rules: [] });
    else if (current && line.startsWith(':')) current.chains.push(line.slice(1).split(' ')[0] ?? '');
    else if (current && line.startsWith('-A ')) current.rules.push(line);
  }
  return tables;
}

/** The restore script that deletes our rules from other chains, then flushes and deletes our chains. */
function removalScript(tables: readonly Table[]): string {
  const out: string[] = [];
  for (const table of tables) {
    const ours = table.chains.filter((chain) => KUBE_CHAIN.test(chain) || chain.startsWith('CNI-'));
    const ownedRule = (rule: string): boolean => ours.includes(rule.split(' ')[1] ?? '');
    const foreign = table.rules.filter((rule) => !ownedRule(rule) && isOurs(rule));
    if (ours.length === 0 && foreign.length === 0) continue;
    out.push(`*${table.name}`);
    for (const rule of foreign) out.push(`-D ${rule.slice(3)}`);
    for (const chain of ours) out.push(`-F ${chain}`);
    for (const chain of ours) out.push(`-X ${chain}`);
    out.push('COMMIT');
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** Removes every KUBE-*, CNI-* chain and every rule pointing at them or at the pod network, in all four backends. */
export async function removeNodeIptables(): Promise<void> {
  for (const backend of BACKENDS) {
    const saved = await run(backend.save, { allowFailure: true });
    if (saved.code !== 0) continue;
    const script = removalScript(parseSave(saved.stdout));
    if (script !== '') await run(backend.restore, { input: script });
  }
}

/** Chains and rules of the node still in iptables, as "<save command>: <line>". */
export async function nodeIptablesLeftovers(): Promise<string[]> {
  const left: string[] = [];
  for (const backend of BACKENDS) {
    const saved = await run(backend.save, { allowFailure: true });
    for (const line of saved.stdout.split('\n')) {
      if (!line.startsWith('#') && isOurs(line)) left.push(`${backend.save[0]}: ${line}`);
    }
  }
  return left;
}
