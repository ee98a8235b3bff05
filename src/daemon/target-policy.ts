/**
 * What the daemon never faults, whatever the caller asks: the host's network (a hostNetwork pod shares it), itself
 * (its own process tree, cgroup or network; a stress in a cgroup that holds the daemon would load the daemon), static pods (the node's own control plane, which no controller can
 * replace) and protected namespaces (kube-system and the daemon's own by default). A node fault's host process (the
 * kubelet) is refused when it is the daemon or one of its parents; node-network is the one fault whose target is the
 * host's netns (pid 1's, checked to be readable and that one). A kind is only ever put on its own scope (a
 * container, or the node). Checked after the target is resolved and before anything is journaled or changed; a
 * refusal is an INVALID item.
 */
import { readFile, stat } from 'node:fs/promises';
import { parseProcCgroup, type CgroupLine } from './cgroup.ts';
import { DaemonError } from './errors.ts';
import type { NodeNetns } from './faults/module.ts';
import type { ResolvedTarget } from './runtime/resolve.ts';
import type { PodMeta } from './runtime/types.ts';
import { scopeOfKind, type FaultKind } from './spec.ts';
import type { NamedProcess } from './stopped.ts';

/** What the decision needs to know about a target, gathered from /proc and the runtime. */
export interface TargetFacts {
  pid: number;
  /** Network-namespace inodes: the target's, the host's (pid 1's) and the daemon's own. */
  netns: number | undefined;
  hostNetns: number | undefined;
  ownNetns: number | undefined;
  /** The daemon's pid and its ancestors: freezing or killing one of them stops the daemon. */
  ownAncestry: readonly number[];
  /** /proc/<pid>/cgroup of the target and of the daemon, in the daemon's cgroup namespace. */
  cgroups: readonly CgroupLine[];
  ownCgroups: readonly CgroupLine[];
  pod: PodMeta | undefined;
}

/** Whether `outer` is `inner` or one of its ancestors: acting on outer's cgroup acts on inner too. */
function containsCgroup(outer: string, inner: string): boolean {
  return outer === inner || outer === '/' || inner.startsWith(`${outer}/`);
}

function holdsOwnCgroup(facts: TargetFacts): boolean {
  return facts.ownCgroups.some((own) => facts.cgroups.some((t) => t.hierarchy === own.hierarchy && containsCgroup(t.path, own.path)));
}

/** Why `kind` must not be put on the target, or undefined when it may. Pure: the facts are gathered apart. */
export function refusal(kind: FaultKind, facts: TargetFacts, protectedNamespaces: ReadonlySet<string>): string | undefined {
  if (scopeOfKind(kind) !== 'container') return `${kind} is a node fault: it is never put on a container`;
  if (facts.ownAncestry.includes(facts.pid)) return `process ${facts.pid} is the daemon or one of its parents`;
  if (kind === 'network') {
    if (facts.netns === undefined) return `process ${facts.pid} has no network namespace to check`;
    if (facts.netns === facts.hostNetns) return 'the target is in the host\'s network namespace (a hostNetwork pod): a network fault there hits the whole node';
    if (facts.netns === facts.ownNetns) return 'the target shares the daemon\'s network namespace: the fault would cut the daemon off';
  } else if (holdsOwnCgroup(facts)) {
    const effect = kind === 'container-freeze' ? 'freeze the daemon' : kind === 'stress' ? 'load the daemon\'s own cgroup and limits' : 'kill the daemon';
    return `the target's cgroup holds the daemon itself: a ${kind} would ${effect}`;
  }
  if (facts.pod?.staticPod === true) return 'the target is a static pod (kubernetes.io/config.source=file): the node\'s own components are never faulted';
  const namespace = facts.pod?.namespace;
  if (namespace !== undefined && protectedNamespaces.has(namespace)) return `the target's namespace ${namespace} is protected (--protected-namespaces)`;
  return undefined;
}

/**
 * Why node fault `kind` must not be put in the node's network namespace with inode `inode`, or undefined when it
 * may. This is the one place the host's netns is a target: it must be the one pid 1 (the host's init, under hostPID)
 * is in, and readable.
 */
export function nodeNetnsRefusal(kind: FaultKind, inode: number | undefined, hostNetns: number | undefined): string | undefined {
  if (scopeOfKind(kind) !== 'node') return `${kind} is put on a container, never on the node itself`;
  if (inode === undefined || hostNetns === undefined) return 'the node\'s network namespace (/proc/1/ns/net) cannot be read: the daemon needs hostPID and CAP_SYS_PTRACE';
  if (inode !== hostNetns) return `netns ${inode} is not the node's own (/proc/1/ns/net is ${hostNetns})`;
  return undefined;
}

/**
 * Why node fault `kind` must not act on host process `pid`, or undefined when it may. Only the daemon's own process
 * tree is refused: stopping one of them would stop the daemon (or the runtime that restarts it) with its guard.
 */
export function nodeRefusal(kind: FaultKind, pid: number, ownAncestry: readonly number[]): string | undefined {
  if (scopeOfKind(kind) !== 'node') return `${kind} is put on a container, never on the node itself`;
  if (ownAncestry.includes(pid)) return `process ${pid} is the daemon or one of its parents`;
  return undefined;
}

async function inode(path: string): Promise<number | undefined> {
  return (await stat(path).catch(() => undefined))?.ino;
}

async function cgroupsOf(pid: number | 'self'): Promise<CgroupLine[]> {
  return parseProcCgroup(await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => ''));
}

/** The daemon's pid and its parents up to init (field 4 of /proc/<pid>/stat is the parent). */
async function ownAncestry(): Promise<number[]> {
  const chain: number[] = [];
  for (let pid = process.pid; pid > 0 && chain.length < 256; ) {
    chain.push(pid);
    const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    pid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1] ?? 0);
  }
  return chain;
}

export interface TargetPolicyOptions {
  protectedNamespaces: readonly string[];
  /** The runtime's view of the container's pod (TargetResolver.pod). */
  pod(containerId: string): Promise<PodMeta | undefined>;
}

/** Pod facts of containers seen lately: a container never changes pod, so its answer holds for its whole life. */
const POD_CACHE_SIZE = 4_096;

export class TargetPolicy {
  readonly protectedNamespaces: ReadonlySet<string>;
  private readonly pod: TargetPolicyOptions['pod'];
  /** The daemon's own facts do not change while it runs: gathered once, not on every injection. */
  private own: Promise<Pick<TargetFacts, 'hostNetns' | 'ownNetns' | 'ownAncestry' | 'ownCgroups'>> | undefined;
  private readonly pods = new Map<string, PodMeta | undefined>();

  constructor(options: TargetPolicyOptions) {
    this.protectedNamespaces = new Set(options.protectedNamespaces);
    this.pod = options.pod;
  }

  private async podOf(containerId: string): Promise<PodMeta | undefined> {
    if (this.pods.has(containerId)) return this.pods.get(containerId);
    const meta = await this.pod(containerId);
    // Oldest first in insertion order: the first key is the one seen longest ago.
    if (this.pods.size >= POD_CACHE_SIZE) this.pods.delete(this.pods.keys().next().value ?? '');
    this.pods.set(containerId, meta);
    return meta;
  }

  async facts(target: ResolvedTarget): Promise<TargetFacts> {
    const [netns, own, cgroups, pod] = await Promise.all([inode(`/proc/${target.pid}/ns/net`), this.ownFacts(), cgroupsOf(target.pid), this.podOf(target.containerId)]);
    return { pid: target.pid, netns, cgroups, pod, ...own };
  }

  private ownFacts(): Promise<Pick<TargetFacts, 'hostNetns' | 'ownNetns' | 'ownAncestry' | 'ownCgroups'>> {
    this.own ??= Promise.all([inode('/proc/1/ns/net'), inode('/proc/self/ns/net'), ownAncestry(), cgroupsOf('self')])
      .then(([hostNetns, ownNetns, ownAncestryPids, ownCgroups]) => ({ hostNetns, ownNetns, ownAncestry: ownAncestryPids, ownCgroups }));
    return this.own;
  }

  /** Throws DaemonError('invalid') when `kind` must not be put on `target`. */
  async check(kind: FaultKind, target: ResolvedTarget): Promise<void> {
    const reason = refusal(kind, await this.facts(target), this.protectedNamespaces);
    if (reason !== undefined) throw new DaemonError('invalid', `refused ${kind} of container ${target.containerId}: ${reason}`);
  }

  /** Throws DaemonError('invalid') when node fault `kind` must not be put in `netns`. */
  async checkNodeNetns(kind: FaultKind, netns: NodeNetns): Promise<void> {
    const reason = nodeNetnsRefusal(kind, netns.inode, await inode('/proc/1/ns/net'));
    if (reason !== undefined) throw new DaemonError('invalid', `refused ${kind} in the node's network namespace: ${reason}`);
  }

  /** Throws DaemonError('invalid') when node fault `kind` must not act on host process `process`. */
  async checkNode(kind: FaultKind, process: NamedProcess): Promise<void> {
    const reason = nodeRefusal(kind, process.pid, (await this.ownFacts()).ownAncestry);
    if (reason !== undefined) throw new DaemonError('invalid', `refused ${kind} of ${process.name} (pid ${process.pid}): ${reason}`);
  }
}
