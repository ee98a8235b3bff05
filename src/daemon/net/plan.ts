/**
 * planNetworkFaults: the whole set of network faults active in one network
 * namespace, as one Plan with its exact undo. Nothing runs here; the plan is a
 * value the daemon journals before executing.
 *
 * Ownership: kerris adds its tc root with `add` (the kernel refuses to replace a
 * root qdisc that has a handle), and deletes it by its handle (the kernel
 * refuses to delete a different one). A device whose root qdisc someone else
 * created is refused, not grafted under: their qdisc's semantics (shaping,
 * fairness) would silently change the meaning of the fault. The nftables table
 * `inet kerris` carries no owner either: a namespace that already holds it is
 * refused, since the plan could neither add to it nor delete it safely.
 */
import type { ExecStep, Plan } from '../plan.ts';
import type { NodeCapabilities } from '../preflight.ts';
import type { QdiscCounter } from './evidence.ts';
import { FaultConflictError, ForeignStateError, UnsupportedFaultError } from './errors.ts';
import { cidrText } from './fault.ts';
import type { Cidr, NetworkAction, NetworkFault, Scope } from './fault.ts';
import { NFT_TABLE, nftScript } from './nft.ts';
import type { NetfilterExcept, NetfilterRule, NetfilterSide } from './nft.ts';
import type { TcState } from './snapshot.ts';
import { MAX_SCOPES_PER_DEVICE, ROOT_HANDLE, ingressRedirectLines, netemHandle, tbfHandle, treeLines } from './tc.ts';
import { ifbUndo, ingressUndo, nftUndo, rootUndo, txqueuelenUndo } from './undo.ts';
import type { NetemParams, ScopeClass } from './tc.ts';
import { parseCidr, parseDeviceName, parseNetnsPath } from './values.ts';

export interface NetworkTarget {
  /** The target's network namespace, e.g. /proc/1234/ns/net. */
  netns: string;
  /** The target's interfaces that faults without `scope.device` apply to (usually ["eth0"]). */
  devices: readonly string[];
  /**
   * Whose namespace it is: a container's (the default), or the node's own, whose devices also carry the pod traffic
   * the node forwards. That traffic passes netfilter's forward hook, never output or input, so on the node the
   * nftables rules get forward chains too; tc on a device sees forwarded packets like the node's own.
   */
  kind?: 'container' | 'node';
}

type Side = NetfilterSide;

/** Where a fault's packets are handled: in tc (netem/tbf) or in nftables. */
type Engine = 'tc' | 'nft';

const NETEM_ACTIONS: ReadonlySet<NetworkAction> = new Set(['delay', 'duplicate', 'corrupt', 'reorder']);

function engineOf(fault: NetworkFault, caps: NodeCapabilities): Engine {
  if (fault.action === 'partition') return 'nft';
  if (fault.action === 'loss' && !caps.netem) return 'nft';
  return 'tc';
}

function sidesOf(scope: Scope): readonly Side[] {
  return scope.direction === 'both' ? ['egress', 'ingress'] : [scope.direction];
}

/** Why this node's kernel cannot hold these faults, one line per missing feature; empty when it can. */
export function unsupportedReasons(faults: readonly NetworkFault[], caps: NodeCapabilities): string[] {
  const reasons = new Set<string>();
  const on = `on node ${caps.node}`;
  for (const fault of faults) {
    const { action } = fault;
    if (NETEM_ACTIONS.has(action) && !caps.netem) reasons.add(`kernel has no sch_netem: ${action} unavailable ${on}`);
    if (fault.action === 'loss' && !caps.netem) {
      if (fault.loss.correlation > 0) reasons.add(`kernel has no sch_netem: loss with correlation unavailable ${on} (only uncorrelated loss falls back to nftables)`);
      else if (!caps.nftables) reasons.add(`kernel has neither sch_netem nor nf_tables: loss unavailable ${on}`);
    }
    if (action === 'bandwidth' && !caps.tbf) reasons.add(`kernel has no sch_tbf: bandwidth unavailable ${on}`);
    if (action === 'partition' && !caps.nftables) reasons.add(`kernel has no nf_tables: partition unavailable ${on}`);
    if (engineOf(fault, caps) === 'tc') {
      if (!caps.htb) reasons.add(`kernel has no sch_htb: ${action} unavailable ${on}`);
      if (!caps.u32) reasons.add(`kernel has no cls_u32: ${action} unavailable ${on}`);
      if (sidesOf(fault.scope).includes('ingress')) {
        if (!caps.ifb) reasons.add(`kernel has no ifb: ingress ${action} unavailable ${on}`);
        if (!caps.ingressRedirect) reasons.add(`kernel has no ingress qdisc with mirred redirect: ingress ${action} unavailable ${on}`);
      }
    }
  }
  return [...reasons];
}

function scopeKey(scope: Scope): string {
  return `${scope.cidrs.map(cidrText).join(',')}|${scope.ports.join(',')}|${scope.protocol}`;
}

function isCatchAll(scope: Scope): boolean {
  return scope.cidrs.length === 0 && scope.ports.length === 0 && scope.protocol === 'all';
}

/** The tc faults that share one scope on one side of one device. */
interface ClassFaults {
  scope: Scope;
  byAction: Map<NetworkAction, NetworkFault>;
}

function netemOf(where: string, byAction: ReadonlyMap<NetworkAction, NetworkFault>): NetemParams | undefined {
  const get = <A extends NetworkAction>(action: A): Extract<NetworkFault, { action: A }> | undefined =>
    byAction.get(action) as Extract<NetworkFault, { action: A }> | undefined;
  const delay = get('delay');
  const loss = get('loss');
  const duplicate = get('duplicate');
  const corrupt = get('corrupt');
  const reorder = get('reorder');
  if (!delay && !loss && !duplicate && !corrupt && !reorder) return undefined;
  if (reorder) {
    const own = reorder.reorder.latency;
    if (!delay && (own === undefined || own === 0)) {
      throw new FaultConflictError(`reorder ${where} needs a latency: give reorder.latency or a delay fault on the same scope`);
    }
    if (delay && own !== undefined && own !== delay.delay.latency) {
      throw new FaultConflictError(`reorder ${where} has latency ${own}us but the delay on the same scope has ${delay.delay.latency}us`);
    }
  }
  const params: NetemParams = {
    latency: delay?.delay.latency ?? reorder?.reorder.latency ?? 0,
    jitter: delay?.delay.jitter ?? 0,
    delayCorrelation: delay?.delay.correlation ?? 0,
  };
  if (loss) params.loss = loss.loss;
  if (duplicate) params.duplicate = duplicate.duplicate;
  if (corrupt) params.corrupt = corrupt.corrupt;
  if (reorder) params.reorder = { reorder: reorder.reorder.reorder, correlation: reorder.reorder.correlation, gap: reorder.reorder.gap };
  return params;
}

function toScopeClass(where: string, faults: ClassFaults): ScopeClass {
  const cls: ScopeClass = { scope: faults.scope };
  const netem = netemOf(where, faults.byAction);
  if (netem) cls.netem = netem;
  const bandwidth = faults.byAction.get('bandwidth');
  if (bandwidth?.action === 'bandwidth') cls.tbf = bandwidth.bandwidth;
  return cls;
}

function checkOwnership(existing: TcState, egressDevices: readonly string[], ingress: ReadonlyMap<string, string>, nft: boolean, netns: string): void {
  // Its `create table` would fail, and the table is someone's: another injection's in force (two node-network faults
  // share /proc/1/ns/net), or one left behind. Either way it is not this plan's to use or delete.
  const table = `inet ${NFT_TABLE}`;
  if (nft && existing.nftTables.includes(table)) {
    throw new ForeignStateError(table, `network namespace ${netns} already holds kerris's nftables table ${table} (another injection's, or a leftover): refused, nothing changed; revert the active plan before applying a new one`);
  }
  for (const device of [...egressDevices, ...ingress.keys()]) {
    if (!existing.links.some((l) => l.name === device)) throw new FaultConflictError(`device ${device} does not exist in ${netns}`);
  }
  for (const device of egressDevices) {
    const root = existing.qdiscs.find((q) => q.device === device && q.parent === 'root');
    if (!root || root.handle === '0:') continue;
    if (root.handle === ROOT_HANDLE) {
      throw new ForeignStateError(device, `device ${device} in ${netns} already carries kerris's tree (root ${ROOT_HANDLE}); revert the active plan before applying a new one`);
    }
    throw new ForeignStateError(device, `device ${device} in ${netns} has root qdisc ${root.kind} ${root.handle} that kerris did not create; kerris leaves it untouched and refuses to add its faults there`);
  }
  for (const [device, ifb] of ingress) {
    const hook = existing.qdiscs.find((q) => q.device === device && (q.parent === 'ffff:fff1' || q.kind === 'ingress' || q.kind === 'clsact'));
    if (hook) throw new ForeignStateError(device, `device ${device} in ${netns} already has a ${hook.kind} qdisc; kerris cannot prove it owns it, so refuses ingress faults there`);
    if (existing.links.some((l) => l.name === ifb)) throw new ForeignStateError(ifb, `device ${ifb} already exists in ${netns}; revert the active plan before applying a new one`);
  }
}

function revalidateFault(fault: NetworkFault, index: number): void {
  const path = `faults[${index}].scope`;
  if (fault.scope.device !== undefined) parseDeviceName(`${path}.device`, fault.scope.device);
  for (const field of ['cidrs', 'exceptCidrs'] as const) {
    fault.scope[field].forEach((c, i) => {
      const parsed = parseCidr(`${path}.${field}[${i}]`, cidrText(c));
      if (cidrText(parsed) !== cidrText(c) || parsed.family !== c.family) throw new FaultConflictError(`${path}.${field}[${i}] is not canonical; build faults with validateNetworkFault`);
    });
  }
}

function describeFault(fault: NetworkFault): string {
  const { scope } = fault;
  const parts: string[] = [fault.action, scope.direction];
  if (scope.device) parts.push(`dev ${scope.device}`);
  if (scope.cidrs.length > 0) parts.push(`peers ${scope.cidrs.map(cidrText).join(',')}`);
  if (scope.protocol !== 'all') parts.push(scope.protocol);
  if (scope.ports.length > 0) parts.push(`ports ${scope.ports.join(',')}`);
  if (scope.exceptCidrs.length > 0) parts.push(`except ${scope.exceptCidrs.map(cidrText).join(',')}`);
  return parts.join(' ');
}

function exec(netns: string, argv: ExecStep['argv'], extra: Pick<ExecStep, 'input' | 'absentIf'> = {}): ExecStep {
  return { kind: 'exec', argv, netns, ...extra };
}

interface Placement {
  /** tc classes by "side|device", each keyed by scope. */
  tcClasses: Map<string, Map<string, ClassFaults>>;
  nftRules: NetfilterRule[];
  /** By "side|device": the peers no fault there touches, the union of its faults' exceptions, canonical order. */
  excepts: Map<string, Cidr[]>;
}

function addExcepts(excepts: Map<string, Cidr[]>, key: string, cidrs: readonly Cidr[]): void {
  if (cidrs.length === 0) return;
  const byText = new Map((excepts.get(key) ?? []).map((c) => [cidrText(c), c]));
  for (const c of cidrs) byText.set(cidrText(c), c);
  excepts.set(key, [...byText.values()].sort((a, b) => a.family - b.family || cidrText(a).localeCompare(cidrText(b))));
}

/**
 * Sorts each fault, per side and device, into its tc class or its nftables rule: on `targetDevices` without a
 * `scope.device`, else on that one, which must be one of `allowed`.
 */
function place(faults: readonly NetworkFault[], targetDevices: readonly string[], allowed: readonly string[], caps: NodeCapabilities): Placement {
  const placement: Placement = { tcClasses: new Map(), nftRules: [], excepts: new Map() };
  for (const fault of faults) {
    if (fault.scope.device !== undefined && !allowed.includes(fault.scope.device)) {
      throw new FaultConflictError(`${fault.action}: device ${fault.scope.device} is not one of the target's devices (${allowed.join(', ')})`);
    }
    const devices = fault.scope.device === undefined ? targetDevices : [fault.scope.device];
    for (const side of sidesOf(fault.scope)) {
      for (const device of devices) addExcepts(placement.excepts, `${side}|${device}`, fault.scope.exceptCidrs);
      if (engineOf(fault, caps) === 'nft') {
        const rule: NetfilterRule = fault.action === 'loss'
          ? { fault: 'loss', loss: fault.loss.loss, side, devices, scope: fault.scope }
          : { fault: 'partition', side, devices, scope: fault.scope };
        placement.nftRules.push(rule);
        continue;
      }
      for (const device of devices) {
        const placeKey = `${side}|${device}`;
        const classes = placement.tcClasses.get(placeKey) ?? new Map<string, ClassFaults>();
        placement.tcClasses.set(placeKey, classes);
        const key = scopeKey(fault.scope);
        const cls = classes.get(key) ?? { scope: fault.scope, byAction: new Map<NetworkAction, NetworkFault>() };
        classes.set(key, cls);
        if (cls.byAction.has(fault.action)) {
          throw new FaultConflictError(`two ${fault.action} faults on ${side} of ${device} with the same scope; merge them into one`);
        }
        cls.byAction.set(fault.action, fault);
      }
    }
  }
  return placement;
}

interface TcTrees {
  /** `tc -batch` input for every tree, IFB trees before the redirects that feed them. */
  tcLines: string[];
  /** `ip -batch` input that creates the IFBs. */
  ifbLines: string[];
  egressDevices: string[];
  /** Device -> the IFB that carries its ingress. */
  ingressIfbs: Map<string, string>;
  /** Every netem and tbf of the trees, with the faults it carries. */
  qdiscs: QdiscCounter[];
}

/** The netem and tbf of scope class `index` on `on`, as counters of the faults they carry. */
function classCounters(device: string, direction: Side, on: string, index: number, cls: ClassFaults): QdiscCounter[] {
  const counters: QdiscCounter[] = [];
  const netemFaults = [...cls.byAction.keys()].filter((action) => action !== 'bandwidth');
  if (netemFaults.length > 0) counters.push({ device, direction, on, handle: netemHandle(index), kind: 'netem', faults: netemFaults });
  if (cls.byAction.has('bandwidth')) counters.push({ device, direction, on, handle: tbfHandle(index), kind: 'tbf', faults: ['bandwidth'] });
  return counters;
}

function buildTrees(targetDevices: readonly string[], tcClasses: Placement['tcClasses'], excepts: Placement['excepts']): TcTrees {
  const trees: TcTrees = { tcLines: [], ifbLines: [], egressDevices: [], ingressIfbs: new Map(), qdiscs: [] };
  for (const device of targetDevices) {
    for (const side of ['egress', 'ingress'] as const) {
      const classes = tcClasses.get(`${side}|${device}`);
      if (!classes) continue;
      if (classes.size > MAX_SCOPES_PER_DEVICE) {
        throw new FaultConflictError(`${classes.size} distinct scopes on ${side} of ${device}; kerris supports at most ${MAX_SCOPES_PER_DEVICE}`);
      }
      // A packet takes the first class whose filter matches, so specific scopes go before catch-alls.
      const ordered = [...classes.values()].sort((a, b) => Number(isCatchAll(a.scope)) - Number(isCatchAll(b.scope)));
      const scopeClasses = ordered.map((c) => toScopeClass(`on ${side} of ${device}`, c));
      const on = side === 'egress' ? device : `kerris-ifb${targetDevices.indexOf(device)}`;
      const except = excepts.get(`${side}|${device}`) ?? [];
      trees.qdiscs.push(...ordered.flatMap((c, i) => classCounters(device, side, on, i, c)));
      if (side === 'egress') {
        trees.egressDevices.push(device);
        trees.tcLines.push(...treeLines(device, scopeClasses, 'dst', except));
      } else {
        trees.ingressIfbs.set(device, on);
        trees.ifbLines.push(`link add name ${on} type ifb`, `link set dev ${on} up`);
        trees.tcLines.push(...treeLines(on, scopeClasses, 'src', except), ...ingressRedirectLines(device, on));
      }
    }
  }
  return trees;
}

/**
 * The accepts of the nftables rules' exceptions: per side, the devices of that side's rules with the same
 * exceptions, grouped, in the order the devices were given.
 */
function nftExcepts(targetDevices: readonly string[], nftRules: readonly NetfilterRule[], excepts: Placement['excepts']): NetfilterExcept[] {
  const out: NetfilterExcept[] = [];
  for (const side of ['egress', 'ingress'] as const) {
    const used = targetDevices.filter((d) => nftRules.some((r) => r.side === side && r.devices.includes(d)));
    const groups = new Map<string, { devices: string[]; cidrs: Cidr[] }>();
    for (const device of used) {
      const cidrs = excepts.get(`${side}|${device}`) ?? [];
      if (cidrs.length === 0) continue;
      const key = cidrs.map(cidrText).join(',');
      const group = groups.get(key) ?? { devices: [], cidrs };
      group.devices.push(device);
      groups.set(key, group);
    }
    for (const group of groups.values()) out.push({ side, ...group });
  }
  return out;
}

interface NftPart {
  rules: readonly NetfilterRule[];
  excepts: readonly NetfilterExcept[];
  forward: boolean;
}

/** Apply creates IFBs, then the nftables table, then the tc trees; revert undoes them in reverse, each step tolerating absence. */
function buildSteps(netns: string, trees: TcTrees, nft: NftPart, existing: TcState): Pick<Plan, 'apply' | 'revert'> {
  const apply: ExecStep[] = [];
  const revert: ExecStep[] = [];
  const nftRules = nft.rules;
  if (trees.ifbLines.length > 0) apply.push(exec(netns, ['ip', '-batch', '-'], { input: `${trees.ifbLines.join('\n')}\n` }));
  if (nftRules.length > 0) {
    apply.push(exec(netns, ['nft', '-f', '-'], { input: nftScript(nftRules, { excepts: nft.excepts, forward: nft.forward }) }));
  }
  if (trees.tcLines.length > 0) apply.push(exec(netns, ['tc', '-batch', '-'], { input: `${trees.tcLines.join('\n')}\n` }));

  // Grouped by tool, so that the executor runs the tc undos as one tc batch and the ip ones as one ip batch.
  for (const device of trees.ingressIfbs.keys()) revert.push(ingressUndo(netns, device));
  for (const device of trees.egressDevices) revert.push(rootUndo(netns, device));
  for (const device of trees.egressDevices) {
    if (existing.links.find((l) => l.name === device)?.txqlen === 0) revert.push(txqueuelenUndo(netns, device));
  }
  if (nftRules.length > 0) revert.push(nftUndo(netns));
  for (const ifb of trees.ingressIfbs.values()) revert.push(ifbUndo(netns, ifb));
  return { apply, revert };
}

/**
 * Plans every fault in `faults` on `target`, or throws before anything runs:
 * `UnsupportedFaultError` when the node cannot do one of them (listing every
 * reason), `ForeignStateError` when a device carries state kerris did not
 * create, or the namespace already holds kerris's table or tree,
 * `FaultConflictError` when faults contradict each other.
 * `existing` is the namespace's state now (readTcState).
 */
export function planNetworkFaults(target: NetworkTarget, faults: readonly NetworkFault[], caps: NodeCapabilities, existing: TcState): Plan {
  const netns = parseNetnsPath('target.netns', target.netns);
  const node = target.kind === 'node';
  // The node's faults may all name their devices, where it has no default route to take them from.
  if (target.devices.length === 0 && !(node && faults.every((f) => f.scope.device !== undefined))) {
    throw new FaultConflictError('target.devices is empty: network faults need at least one interface');
  }
  const targetDevices = target.devices.map((d, i) => parseDeviceName(`target.devices[${i}]`, d));
  if (new Set(targetDevices).size !== targetDevices.length) throw new FaultConflictError('target.devices lists a device twice');
  faults.forEach(revalidateFault);
  // A container's faults stay on its devices; the node's may name any of its links beside its default routes' (a
  // second uplink), each one checked to exist. Their order decides the IFB names.
  const named = [...new Set(faults.flatMap((f) => (f.scope.device === undefined || targetDevices.includes(f.scope.device) ? [] : [f.scope.device])))];
  const devices = node ? [...targetDevices, ...named] : targetDevices;
  for (const device of node ? named : []) {
    if (!existing.links.some((l) => l.name === device && !l.name.startsWith('kerris-'))) throw new FaultConflictError(`device ${device} does not exist in ${netns}`);
  }

  const reasons = unsupportedReasons(faults, caps);
  if (reasons.length > 0) throw new UnsupportedFaultError(caps.node, reasons);

  const { tcClasses, nftRules, excepts } = place(faults, targetDevices, devices, caps);
  const trees = buildTrees(devices, tcClasses, excepts);
  checkOwnership(existing, trees.egressDevices, trees.ingressIfbs, nftRules.length > 0, netns);
  const summary = faults.length === 0
    ? `no network faults in ${netns}`
    : `network faults in ${netns}: ${faults.map(describeFault).join('; ')}`;
  const counters = faults.length === 0 ? {} : { counters: { qdiscs: trees.qdiscs, nft: nftRules.length > 0 } };
  const nft: NftPart = { rules: nftRules, excepts: nftExcepts(devices, nftRules, excepts), forward: node };
  return { summary, ...buildSteps(netns, trees, nft, existing), ...counters };
}
