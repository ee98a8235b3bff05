/**
 * What this node's kernel and tools can do, found by trying: each probe runs
 * the real command in a throwaway network namespace, because /proc and module
 * lists lie (built-in modules, missing userspace, nft vs legacy shims).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { hostname } from 'node:os';
import { run } from '../util/exec.ts';
import type { Argv } from '../util/exec.ts';

export type IptablesBackend = 'nft' | 'legacy' | 'none';
export type CgroupVersion = 'v1' | 'v2' | 'hybrid';

export interface NodeCapabilities {
  /** Named in every rejection, e.g. "kernel has no sch_netem: delay unavailable on node X". */
  node: string;
  netem: boolean;
  tbf: boolean;
  htb: boolean;
  /** The u32 classifier, which sorts packets into kerris's classes. */
  u32: boolean;
  /** The ingress qdisc with a mirred redirect, which feeds ingress traffic to an IFB. */
  ingressRedirect: boolean;
  ifb: boolean;
  /** nf_tables with interval sets and numgen, which kerris uses for partition and netfilter loss. */
  nftables: boolean;
  ipset: boolean;
  /** The iptables backend the node's own rules use (kube-proxy, CNI). */
  iptablesBackend: IptablesBackend;
  cgroup: CgroupVersion;
  /** The stderr of each failed probe, for people debugging a rejection. */
  failures: Readonly<Record<string, string>>;
}

const PROBE_TIMEOUT_MS = 10_000;

interface Probe {
  name: keyof Pick<NodeCapabilities, 'netem' | 'tbf' | 'htb' | 'u32' | 'ingressRedirect' | 'ifb' | 'nftables' | 'ipset'>;
  steps: readonly { argv: Argv; input?: string }[];
}

const probes: readonly Probe[] = [
  { name: 'netem', steps: [{ argv: ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'netem', 'delay', '1ms', 'loss', '1%', 'duplicate', '1%', 'corrupt', '1%'] }] },
  { name: 'tbf', steps: [{ argv: ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'handle', '2:', 'tbf', 'rate', '1mbit', 'burst', '10000', 'limit', '10000'] }] },
  {
    name: 'htb',
    steps: [{ argv: ['tc', '-batch', '-'], input: 'qdisc add dev lo root handle 3: htb default 1\nclass add dev lo parent 3: classid 3:1 htb rate 1gbit quantum 60000\n' }],
  },
  {
    name: 'u32',
    steps: [{
      argv: ['tc', '-batch', '-'],
      input: 'qdisc add dev lo root handle 4: htb default 1\nclass add dev lo parent 4: classid 4:1 htb rate 1gbit quantum 60000\n'
        + 'filter add dev lo parent 4: protocol ip prio 1 u32 match ip dst 10.0.0.0/8 match ip dport 80 0xffff flowid 4:1\n'
        + 'filter add dev lo parent 4: protocol ipv6 prio 2 u32 match ip6 dst 2001:db8::/32 flowid 4:1\n',
    }],
  },
  {
    name: 'ingressRedirect',
    steps: [{ argv: ['tc', '-batch', '-'], input: 'qdisc add dev lo handle ffff: ingress\nfilter add dev lo parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev lo\n' }],
  },
  { name: 'ifb', steps: [{ argv: ['ip', 'link', 'add', 'kerris-probe', 'type', 'ifb'] }] },
  {
    name: 'nftables',
    steps: [{
      argv: ['nft', '-f', '-'],
      input: 'table inet kerris-probe {\n  set v4 { type ipv4_addr; flags interval; elements = { 10.0.0.0/8 } }\n'
        + '  set v6 { type ipv6_addr; flags interval; elements = { 2001:db8::/32 } }\n'
        + '  chain output { type filter hook output priority -10; policy accept;\n'
        + '    oifname { "lo" } ip daddr @v4 meta l4proto tcp th dport { 80 } numgen random mod 1000000 < 500000 drop\n'
        + '    ip6 daddr @v6 meta l4proto { icmp, ipv6-icmp } drop\n  }\n}\n',
    }],
  },
  { name: 'ipset', steps: [{ argv: ['ipset', 'restore'], input: 'create kerris-probe4 hash:net family inet\ncreate kerris-probe6 hash:net family inet6\n' }] },
];

/** Counts the rules each iptables backend holds in the node's own namespace; the busier one is the node's. */
async function detectIptablesBackend(): Promise<IptablesBackend> {
  const count = async (argv: Argv): Promise<number | undefined> => {
    try {
      const result = await run(argv, { timeoutMs: PROBE_TIMEOUT_MS, allowFailure: true });
      return result.code === 0 ? result.stdout.split('\n').filter((l) => l.startsWith('-A ')).length : undefined;
    } catch {
      return undefined;
    }
  };
  const [legacy, nft] = await Promise.all([count(['iptables-legacy-save']), count(['iptables-nft-save'])]);
  if (legacy === undefined && nft === undefined) return 'none';
  if (nft === undefined) return 'legacy';
  if (legacy === undefined) return 'nft';
  return legacy > nft ? 'legacy' : 'nft';
}

const CGROUP2_SUPER_MAGIC = 0x63677270;

async function detectCgroupVersion(): Promise<CgroupVersion> {
  const root = await statfs('/sys/fs/cgroup');
  if (root.type === CGROUP2_SUPER_MAGIC) return 'v2';
  return existsSync('/sys/fs/cgroup/unified/cgroup.controllers') ? 'hybrid' : 'v1';
}

async function runProbe(netns: string, probe: Probe): Promise<string | undefined> {
  for (const step of probe.steps) {
    try {
      const result = await run(['nsenter', `--net=${netns}`, '--', ...step.argv], { input: step.input, timeoutMs: PROBE_TIMEOUT_MS, allowFailure: true });
      if (result.code !== 0) return result.stderr.trim() || `exited with ${result.code}`;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
  return undefined;
}

/**
 * Runs every probe, each in its own fresh namespace so one probe's leftovers
 * cannot make another pass or fail; the namespaces are deleted afterwards.
 */
export async function probeCapabilities(nodeName: string): Promise<NodeCapabilities> {
  const failures: Record<string, string> = {};
  const found: Partial<Record<Probe['name'], boolean>> = {};
  await Promise.all(probes.map(async (probe) => {
    const name = `kerris-probe-${process.pid}-${randomBytes(4).toString('hex')}`;
    await run(['ip', 'netns', 'add', name], { timeoutMs: PROBE_TIMEOUT_MS });
    try {
      const failure = await runProbe(`/run/netns/${name}`, probe);
      found[probe.name] = failure === undefined;
      if (failure !== undefined) failures[probe.name] = failure;
    } finally {
      await run(['ip', 'netns', 'del', name], { timeoutMs: PROBE_TIMEOUT_MS });
    }
  }));
  const [iptablesBackend, cgroup] = await Promise.all([detectIptablesBackend(), detectCgroupVersion()]);
  return {
    node: nodeName,
    netem: found.netem === true,
    tbf: found.tbf === true,
    htb: found.htb === true,
    u32: found.u32 === true,
    ingressRedirect: found.ingressRedirect === true,
    ifb: found.ifb === true,
    nftables: found.nftables === true,
    ipset: found.ipset === true,
    iptablesBackend,
    cgroup,
    failures,
  };
}

let cached: Promise<NodeCapabilities> | undefined;

/** The node's capabilities, probed once per process (kernels do not change under a running daemon). */
export function detectCapabilities(nodeName: string = process.env['NODE_NAME'] ?? hostname()): Promise<NodeCapabilities> {
  cached ??= probeCapabilities(nodeName).catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}
