/**
 * The controller's view of the node daemons: which node has a Ready daemon
 * pod (from the pod informer's cache), one gRPC connection per node, reused
 * until the pod's address or the client certificate changes, and the calls
 * the experiment engine and the lease renewer make.
 */
import { DaemonClient, type InjectionInput, type ProbeInput } from '../../daemon/client.ts';
import { ErrorCode, FaultKind, Phase, type CapabilitiesResponse, type Evidence, type InjectionStatus, type JournalDamage, type ListResponse, type ProbeResult, type ResourceUsage, type SyncResponse } from '../../daemon/proto/gen/daemon_pb.js';
import type { TlsMaterial } from '../../daemon/tls.ts';
import type { Pod } from '../../kube/types.ts';
import type { Store } from '../../runtime/store.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { Logger } from '../../util/log.ts';
import { errorMessage } from '../../daemon/errors.ts';

/** The label selector of the daemon pods (deploy/daemon), for the informer that feeds the fleet. */
export const DAEMON_SELECTOR = 'app.kubernetes.io/name=kerris,app.kubernetes.io/component=daemon';
export const DAEMON_PORT = 9443;

export interface FleetOptions {
  /** The store of an informer of the daemon pods only (kerris's namespace, DAEMON_SELECTOR). */
  daemonPods: Store<Pod>;
  /**
   * Whether the node's kubelet reports (its Ready condition is True), undefined for a node not known. On a node
   * whose kubelet does not, the node lifecycle controller marks every pod not Ready, the daemon's too: that says
   * nothing of the daemon (it still serves, e.g. while NodeChaos kubelet-stop holds the kubelet), so it is asked.
   */
  nodeReady: (node: string) => boolean | undefined;
  /** This replica's client certificate, CA bundle and key; renewed by its issuer before expiry. */
  material: () => Promise<TlsMaterial>;
  /** The name daemons' serving certificates carry. */
  serverName: string;
  /** How long a daemon keeps this controller's faults without hearing from it. */
  leaseTtlMs: number;
  log: Logger;
  /** Per call. */
  timeoutMs?: number;
}

/** A container's CPU (thousandths of a CPU) and memory working set (bytes). */
export interface UsageReading {
  cpuMillicores: number;
  memoryWorkingSetBytes: number;
}

/** A stress injection's evidence: its container's use before and while stressed, and its live stressor processes. */
export interface StressReading {
  before: UsageReading;
  now: UsageReading;
  stressors: number;
  /** How old the reading is, on the daemon's clock. */
  ageMs: number;
}

/** What one item of a sync came to, in the controller's words. */
export interface ItemOutcome {
  id: string;
  ok: boolean;
  /** invalid, conflict, not-found, unavailable, failed; empty when ok. */
  code: string;
  message: string;
  /** The daemon's phase of the injection after the call. */
  phase: 'applying' | 'active' | 'done' | 'reverting' | 'not-reapplied' | 'none';
}

export interface NodeSync {
  items: ItemOutcome[];
  /** Injections not listed whose revert failed; they stay and the daemon retries. */
  revertFailed: ItemOutcome[];
}

/** No Ready daemon on the node, or it could not be reached. */
export class DaemonUnavailableError extends Error {
  override name = 'DaemonUnavailableError';
  readonly node: string;
  constructor(node: string, message: string, options?: ErrorOptions) {
    super(`node ${node}: ${message}`, options);
    this.node = node;
  }
}

const PHASES: Readonly<Record<number, ItemOutcome['phase']>> = {
  [Phase.APPLYING]: 'applying', [Phase.ACTIVE]: 'active', [Phase.DONE]: 'done', [Phase.REVERTING]: 'reverting', [Phase.NOT_REAPPLIED]: 'not-reapplied',
};
const CODES: Readonly<Record<number, string>> = {
  [ErrorCode.OK]: '', [ErrorCode.INVALID]: 'invalid', [ErrorCode.CONFLICT]: 'conflict', [ErrorCode.NOT_FOUND]: 'not-found',
  [ErrorCode.UNAVAILABLE]: 'unavailable', [ErrorCode.FAILED]: 'failed',
};

/** The contract this controller speaks (daemon.proto's package version). */
export const API_VERSION = 2;

export type DaemonFaultKind = 'container-kill' | 'container-freeze' | 'network' | 'stress' | 'kubelet-stop' | 'node-network' | 'node-reboot';
const FAULT_KINDS: Readonly<Record<number, DaemonFaultKind>> = {
  [FaultKind.CONTAINER_KILL]: 'container-kill', [FaultKind.CONTAINER_FREEZE]: 'container-freeze', [FaultKind.NETWORK]: 'network', [FaultKind.STRESS]: 'stress',
  [FaultKind.KUBELET_STOP]: 'kubelet-stop', [FaultKind.NODE_NETWORK]: 'node-network', [FaultKind.NODE_REBOOT]: 'node-reboot',
};

/** A daemon's phase number in the controller's words. */
export const phaseName = (phase: Phase): ItemOutcome['phase'] => PHASES[phase] ?? 'none';
/** A daemon's fault kind number in the controller's words; `unknown-<n>` for one this controller does not know. */
export const faultKindName = (kind: FaultKind): string => FAULT_KINDS[kind] ?? `unknown-${kind}`;

interface Connection {
  address: string;
  material: TlsMaterial;
  client: DaemonClient;
  /** What the daemon said it can do, asked once per connection (a new daemon pod is a new connection). */
  capabilities?: Promise<CapabilitiesResponse>;
}

/** A daemon pod that serves: Ready, or running with an address on a node whose kubelet does not report readiness. */
function isServing(pod: Pod, nodeReady: boolean | undefined): boolean {
  return pod.metadata.deletionTimestamp === undefined && pod.status?.phase === 'Running' && pod.status.podIP !== undefined
    && (nodeReady === false || (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));
}

export class DaemonFleet {
  readonly leaseTtlMs: number;
  readonly #options: FleetOptions;
  readonly #connections = new Map<string, Connection>();

  constructor(options: FleetOptions) {
    this.#options = options;
    this.leaseTtlMs = options.leaseTtlMs;
  }

  /** Serving daemon pods by node name. */
  #daemons(): Map<string, Pod> {
    const found = new Map<string, Pod>();
    for (const pod of this.#options.daemonPods.list()) {
      const node = pod.spec?.nodeName;
      if (node && isServing(pod, this.#options.nodeReady(node))) found.set(node, pod);
    }
    return found;
  }

  /** Nodes with a Ready daemon now. */
  nodes(): string[] {
    return [...this.#daemons().keys()].sort();
  }

  /** The Ready daemon pod of a node, or undefined. */
  daemonPod(node: string): Pod | undefined {
    return this.#daemons().get(node);
  }

  async #connection(node: string): Promise<Connection> {
    const pod = this.#daemons().get(node);
    if (pod === undefined) throw new DaemonUnavailableError(node, 'no Ready kerris daemon pod runs there');
    const ip = pod.status?.podIP ?? '';
    const address = ip.includes(':') ? `[${ip}]:${DAEMON_PORT}` : `${ip}:${DAEMON_PORT}`;
    const material = await this.#options.material();
    const existing = this.#connections.get(node);
    if (existing && existing.address === address && existing.material === material) return existing;
    // A new pod address (the daemon restarted) or a renewed client certificate: a new channel; calls in flight on
    // the old one finish first, since grpc-js closes a channel only once its calls are done.
    existing?.client.close();
    const client = new DaemonClient({ address, tls: material, serverName: this.#options.serverName, timeoutMs: this.#options.timeoutMs ?? 15_000 });
    const connection: Connection = { address, material, client };
    this.#connections.set(node, connection);
    return connection;
  }

  /**
   * Why the node's daemon cannot do this fault (another contract version, or a fault kind it lacks), or undefined.
   * Asked of every node before any node acts. Throws DaemonUnavailableError when the daemon cannot be asked.
   */
  async refusal(node: string, kind: DaemonFaultKind): Promise<string | undefined> {
    const { apiVersion, faultKinds } = await this.#capabilities(node);
    const kinds = faultKinds.flatMap((k) => FAULT_KINDS[k] ?? []);
    if (apiVersion !== API_VERSION) return `node ${node}: its daemon speaks contract v${apiVersion}, this controller v${API_VERSION}; upgrade both together`;
    if (!kinds.includes(kind)) return `node ${node}: its daemon cannot do ${kind} (it can do ${kinds.join(', ') || 'nothing'})`;
    return undefined;
  }

  /**
   * The journal files the node's daemon found damaged at its start and set aside, with the daemon pod that said so:
   * whatever kernel state they named is not held by anyone and must be checked by hand.
   */
  async journalDamage(node: string): Promise<{ pod: Pod; damage: JournalDamage[] }> {
    const pod = this.#daemons().get(node);
    if (pod === undefined) throw new DaemonUnavailableError(node, 'no Ready kerris daemon pod runs there');
    return { pod, damage: (await this.#capabilities(node)).journalDamage };
  }

  /** What the node's daemon said it can do, asked once per daemon pod. Throws DaemonUnavailableError. */
  capabilities(node: string): Promise<CapabilitiesResponse> {
    return this.#capabilities(node);
  }

  /**
   * Every injection the node's daemon holds, of any experiment or holder, all pages. Throws DaemonUnavailableError
   * when it cannot be asked.
   */
  async inventory(node: string): Promise<InjectionStatus[]> {
    return this.#listAll(node, { experiment: '' });
  }

  async #listAll(node: string, filter: { experiment: string; evidence?: boolean }): Promise<InjectionStatus[]> {
    const { client } = await this.#connection(node);
    const found: InjectionStatus[] = [];
    let pageToken = '';
    do {
      let page: ListResponse;
      try {
        page = await client.list({ ...filter, pageToken });
      } catch (error) {
        throw new DaemonUnavailableError(node, `the daemon did not answer: ${errorMessage(error)}`, { cause: error });
      }
      found.push(...page.injections);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    return found;
  }

  /** Capabilities, asked once per connection; a failed ask is asked again next time. */
  async #capabilities(node: string): Promise<CapabilitiesResponse> {
    const connection = await this.#connection(node);
    connection.capabilities ??= connection.client.capabilities().catch((error: unknown) => {
      delete connection.capabilities;
      throw new DaemonUnavailableError(node, `the daemon did not say what it can do: ${errorMessage(error)}`, { cause: error });
    });
    return connection.capabilities;
  }

  /**
   * States the injections of one experiment on one node: the daemon applies what it lacks and takes away what is
   * not listed. Throws DaemonUnavailableError when the node's daemon cannot be asked.
   */
  async sync(node: string, experiment: string, injections: readonly InjectionInput[]): Promise<NodeSync> {
    const { client } = await this.#connection(node);
    let response: SyncResponse;
    try {
      response = await client.sync(experiment, this.leaseTtlMs, injections);
    } catch (error) {
      throw new DaemonUnavailableError(node, `the daemon did not answer: ${errorMessage(error)}`, { cause: error });
    }
    const outcome = (r: SyncResponse['results'][number]): ItemOutcome => ({
      id: r.id, ok: r.ok, code: CODES[r.errorCode] ?? 'failed', message: r.message, phase: r.injection ? phaseName(r.injection.phase) : 'none',
    });
    return { items: response.results.map(outcome), revertFailed: response.revertFailed.map(outcome) };
  }

  /**
   * The experiment's injections the node's daemon holds now (any phase but done), by ID. Throws
   * DaemonUnavailableError when it cannot be asked.
   */
  async held(node: string, experiment: string): Promise<Set<string>> {
    const injections = await this.#listAll(node, { experiment });
    return new Set(injections.filter((i) => i.phase !== Phase.DONE).map((i) => i.id));
  }

  /**
   * The kernel's counters of each of the experiment's active network injections on the node, by injection ID, as
   * the daemon last read them (at most about 2 s before). Throws DaemonUnavailableError when it cannot be asked.
   */
  async evidence(node: string, experiment: string): Promise<Map<string, { counters: Evidence[]; ageMs: number }>> {
    const found = new Map<string, { counters: Evidence[]; ageMs: number }>();
    for (const injection of await this.#listAll(node, { experiment, evidence: true })) {
      if (injection.evidence.length > 0) found.set(injection.id, { counters: injection.evidence, ageMs: injection.evidenceAgeMs });
    }
    return found;
  }

  /**
   * What each of the experiment's active stress injections on the node reads from its container's cgroup, by
   * injection ID, as the daemon last read it (at most about 2 s before). Throws DaemonUnavailableError when it cannot
   * be asked.
   */
  async stressEvidence(node: string, experiment: string): Promise<Map<string, StressReading>> {
    const found = new Map<string, StressReading>();
    const usage = (u: ResourceUsage | undefined) => ({ cpuMillicores: u?.cpuMillicores ?? 0, memoryWorkingSetBytes: Number(u?.memoryWorkingSetBytes ?? 0n) });
    for (const injection of await this.#listAll(node, { experiment, evidence: true })) {
      const { stress } = injection;
      if (stress?.now === undefined) continue;
      found.set(injection.id, { before: usage(stress.before), now: usage(stress.now), stressors: stress.stressors, ageMs: injection.evidenceAgeMs });
    }
    return found;
  }

  /**
   * Timed TCP connects from inside a target's network namespace (NetworkChaos `spec.verify`), per address asked.
   * Throws DaemonUnavailableError when the node's daemon cannot be asked or refuses the probe.
   */
  async probe(node: string, request: ProbeInput): Promise<ProbeResult[]> {
    const { client } = await this.#connection(node);
    try {
      return (await client.probe(request)).results;
    } catch (error) {
      throw new DaemonUnavailableError(node, `the daemon did not probe: ${errorMessage(error)}`, { cause: error });
    }
  }

  /**
   * Renews this controller's lease on every node with a daemon, one call each. Returns the nodes that could not
   * be renewed, which revert this controller's faults when their lease lapses.
   */
  async renewLeases(): Promise<string[]> {
    const nodes = this.nodes();
    const failed: string[] = [];
    await mapLimit(nodes, 16, async (node) => {
      try {
        await (await this.#connection(node)).client.renewLease(this.leaseTtlMs);
      } catch (error) {
        failed.push(node);
        this.#options.log.warn('lease renewal failed', { node, error: errorMessage(error) });
      }
    });
    return failed;
  }

  close(): void {
    for (const connection of this.#connections.values()) connection.client.close();
    this.#connections.clear();
  }
}
