/** NetworkChaos: delay, lose, duplicate, corrupt, rate-limit or cut off the traffic of pods, optionally only to some peers. */
import { chaosStatus, experimentColumns } from './chaos-status.ts';
import { guardChecks, guardSemantics, guardsField } from './guards.ts';
import { celRegex, duration, immutableFields, maxSeed } from './common.ts';
import type { KindDefinition } from './resource.ts';
import {
  array, boolean, enumeration, integer, message, messageExpression, object, optional, required, string,
  type CelRule, type Field, type ObjectSchema, type StringSchema,
} from './schema.ts';
import { podSelectorFields, podSelectorRules } from './selector.ts';

/*
 * Every value pattern below accepts a subset of what the node daemon's parsers accept (src/daemon/net/values.ts),
 * so an object the apiserver admits is never refused later by the daemon's grammar; test/unit/api-networkchaos.test.ts
 * holds them against each other.
 */

/** A netem time: the daemon's units (us, ms, s), in whole microseconds, so fractions are bounded per unit. */
export const latencyPattern = '^(0|[1-9][0-9]{0,8})(us|(\\.[0-9]{1,3})?ms|(\\.[0-9]{1,6})?s)$';
/** The longest latency or jitter netem is given. */
const MAX_LATENCY = '60s';
/** A percentage from 0 to 100 with at most four decimals, optionally with a % sign. */
export const percentPattern = '^(100(\\.0{1,4})?|[1-9]?[0-9](\\.[0-9]{1,4})?)%?$';
/** A tc rate: a whole number and a lower-case unit, bit-based or byte-based (bps is bytes per second). */
export const ratePattern = '^[1-9][0-9]{0,11}(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$';
export const MIN_RATE_BITS = 8_000;
export const MAX_RATE_BITS = 100_000_000_000;
/** A Linux interface name as the daemon takes it: 1 to 15 characters, no '/', ':' or spaces, not starting with '-'. */
export const devicePattern = '^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$';
/** tbf drops every packet larger than its bucket, so buffer and minburst hold at least one Ethernet frame. */
const ETHERNET_FRAME_BYTES = 1514;

/**
 * `host:port`, `a.b.c.d:port` or `a.b.c.d/n:port`: exactly one colon, then the port. With bracketedPortPattern, how an
 * externalTargets entry splits into address and port, in CEL (the controller splits it again in
 * src/controller/networkchaos/external-targets.ts).
 */
const hostPortPattern = '^[^:\\[\\]]+:[0-9]{1,5}$';
/** `[v6]:port` or `[v6/n]:port`. */
const bracketedPortPattern = '^\\[[^\\[\\]]+\\]:[0-9]{1,5}$';
/** An RFC 1123 host name, optionally fully qualified with a trailing dot. */
const hostNamePattern = '^([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\\.?$';
const MAX_EXTERNAL_TARGETS = 64;
const MAX_PORTS = 16;

/** Bits per second per unit of ratePattern, longest suffix first: as tc reads them, `bps` units are bytes. */
export const RATE_UNIT_BITS: readonly (readonly [unit: string, bits: number])[] = [
  ['gbit', 1e9], ['mbit', 1e6], ['kbit', 1e3], ['bit', 1], ['gbps', 8e9], ['mbps', 8e6], ['kbps', 8e3], ['bps', 8],
];

/** A CEL expression for a rate string that matches ratePattern, in bits per second (a double: 12 digits × 8e9 overflows int). */
function rateBits(rate: string): string {
  const scale = RATE_UNIT_BITS.reduceRight((otherwise, [unit, bits]) => `${rate}.endsWith('${unit}') ? ${bits.toFixed(1)} : ${otherwise}`, '0.0');
  return `double(${rate}.find('^[0-9]+')) * (${scale})`;
}

const quoted = (expression: string) => `'"' + ${expression} + '"'`;

function percent(description: string): StringSchema {
  return string(description, {
    maxLength: 16,
    rules: [{
      rule: `self.matches(${celRegex(percentPattern)})`,
      message: messageExpression(
        `'must be a percentage from 0 to 100 with at most 4 decimals, such as "25", "12.5" or "0.5%", got ' + ${quoted('self')}`,
        'must be a percentage from 0 to 100 with at most 4 decimals, such as "25", "12.5" or "0.5%", got "<value>"',
      ),
    }],
  });
}

function netemTime(description: string): StringSchema {
  const pattern = celRegex(latencyPattern);
  return string(description, {
    maxLength: 32,
    rules: [
      {
        rule: `self.matches(${pattern})`,
        message: messageExpression(
          `'must be a duration such as "100ms", "1.5s" or "250us" (units us, ms and s), got ' + ${quoted('self')}`,
          'must be a duration such as "100ms", "1.5s" or "250us" (units us, ms and s), got "<value>"',
        ),
      },
      {
        // Only well-formed text reaches duration(), which would fail on anything else.
        rule: `!self.matches(${pattern}) || duration(self) <= duration('${MAX_LATENCY}')`,
        message: messageExpression(`'must be at most ${MAX_LATENCY}, got ' + ${quoted('self')}`, `must be at most ${MAX_LATENCY}, got "<value>"`),
      },
    ],
  });
}

function rate(description: string): StringSchema {
  const pattern = celRegex(ratePattern);
  return string(description, {
    maxLength: 32,
    rules: [
      {
        rule: `self.matches(${pattern})`,
        message: messageExpression(
          `'must be a rate such as "1mbps" or "10mbit": a whole number and one of bit, kbit, mbit, gbit, bps, kbps, mbps, gbps (bps is bytes per second), got ' + ${quoted('self')}`,
          'must be a rate such as "1mbps" or "10mbit": a whole number and one of bit, kbit, mbit, gbit, bps, kbps, mbps, gbps (bps is bytes per second), got "<value>"',
        ),
      },
      {
        rule: `!self.matches(${pattern}) || (${rateBits('self')} >= ${MIN_RATE_BITS}.0 && ${rateBits('self')} <= ${MAX_RATE_BITS}.0)`,
        message: messageExpression(`'must be from 8kbit (1kbps) to 100gbit, got ' + ${quoted('self')}`, 'must be from 8kbit (1kbps) to 100gbit, got "<value>"'),
      },
    ],
  });
}

const action = enumeration(
  'NetworkChaosAction',
  'What happens to the targets\' traffic: `delay`, `loss`, `duplicate` and `corrupt` apply the one netem fault of that name (its field of the same name is required); `netem` combines any of `delay`, `loss`, `duplicate`, `corrupt` and `rate`; `bandwidth` limits throughput with a token bucket (`bandwidth`); `partition` drops every packet to or from the peers.',
  ['netem', 'delay', 'loss', 'duplicate', 'corrupt', 'partition', 'bandwidth'],
);

export const direction = enumeration(
  'NetworkDirection',
  'Which of the targets\' packets are hit: `to` the packets they send (to the peers, when given), `from` the packets they receive (from the peers), `both` both. Omitted means `to`, as in Chaos Mesh.',
  ['to', 'from', 'both'],
);

const protocol = enumeration(
  'NetworkProtocol',
  'Which packets are hit: `tcp`, `udp`, `icmp` (ICMP and ICMPv6) or `all`. Omitted means `all`, except that peers given as `host:port` in `externalTargets` are matched by TCP port.',
  ['tcp', 'udp', 'icmp', 'all'],
);

const correlation = (what: string) => optional(percent(`How much each packet's ${what} depends on the previous packet's, as a percentage. Omitted means 0 (independent).`));

const reorder = object('ReorderSpec', 'Sends some packets at once while the rest wait `latency`, so they arrive out of order.', {
  reorder: required(percent('The share of packets sent at once, as a percentage.')),
  correlation: correlation('chance of being reordered'),
  gap: optional(integer('Reorder only every `gap`-th packet eligible. 0 or omitted means 1 (every packet may be reordered), as tc reads it.', { format: 'int32', minimum: 0, maximum: 1_000_000 })),
});

export const delay = object(
  'DelaySpec',
  'Latency added to each packet hit.',
  {
    latency: required(netemTime(`The delay each packet gets, e.g. \`100ms\`; at most ${MAX_LATENCY}.`)),
    jitter: optional(netemTime(`Random variation around \`latency\`, e.g. \`10ms\`; at most ${MAX_LATENCY}. Omitted means none.`)),
    correlation: correlation('delay'),
    reorder: optional(reorder),
  },
  [{
    rule: `!has(self.reorder) || !self.latency.matches(${celRegex(latencyPattern)}) || duration(self.latency) > duration('0s')`,
    message: message('reorder needs a latency above 0: netem reorders by sending some packets at once while the rest wait latency'),
    fieldPath: '.reorder',
  }],
);

export const loss = object('LossSpec', 'Packets dropped at random.', {
  loss: required(percent('The share of packets dropped, as a percentage.')),
  correlation: correlation('chance of being dropped'),
});

const duplicate = object('DuplicateSpec', 'Packets sent twice at random.', {
  duplicate: required(percent('The share of packets duplicated, as a percentage.')),
  correlation: correlation('chance of being duplicated'),
});

const corrupt = object('CorruptSpec', 'Packets with a random bit flipped.', {
  corrupt: required(percent('The share of packets corrupted, as a percentage.')),
  correlation: correlation('chance of being corrupted'),
});

const netemRate = object('RateSpec', 'A throughput limit that combines with the other netem faults of action `netem`.', {
  rate: required(rate('The limit, e.g. `10mbps`; `bps` units are bytes per second, `bit` units bits per second.')),
});

const bandwidthRatePattern = celRegex(ratePattern);

const bandwidth = object(
  'BandwidthSpec',
  'A token bucket filter (tc-tbf): traffic above `rate` waits in a queue of `limit` bytes and is dropped when the queue is full.',
  {
    rate: required(rate('The sustained rate, e.g. `1mbps`; `bps` units are bytes per second, `bit` units bits per second.')),
    limit: required(integer('Bytes that may wait in the queue for tokens. Suggested: at least 2 × rate × the round-trip time, or TCP loses throughput to drops.', { format: 'int32', minimum: 1, maximum: 2 ** 30 })),
    buffer: required(integer(`The bucket size in bytes: how much may be sent at once at full speed. At least ${ETHERNET_FRAME_BYTES} (one Ethernet frame).`, { format: 'int32', minimum: 1, maximum: 2 ** 26 })),
    peakrate: optional(integer('The highest rate at which the bucket may empty, in bits per second (a bare number, as tc reads it); must exceed `rate`. Needs `minburst`. Omitted or 0: no peak rate.', { format: 'int64', minimum: 0, maximum: MAX_RATE_BITS })),
    minburst: optional(integer(`The peak-rate bucket in bytes, at least ${ETHERNET_FRAME_BYTES}; usually the interface MTU. Only with \`peakrate\`.`, { format: 'int32', minimum: 0, maximum: 2 ** 20 })),
  },
  [
    {
      rule: `self.buffer >= ${ETHERNET_FRAME_BYTES}`,
      message: message(`buffer must be at least ${ETHERNET_FRAME_BYTES} bytes (one Ethernet frame): tbf drops every packet larger than its bucket`),
      fieldPath: '.buffer',
    },
    {
      rule: '!has(self.peakrate) || self.peakrate == 0 || (has(self.minburst) && self.minburst != 0)',
      message: message('peakrate needs minburst, the size of the peak-rate bucket in bytes (usually the MTU)'),
      fieldPath: '.minburst',
      reason: 'FieldValueRequired',
    },
    {
      rule: '(has(self.peakrate) && self.peakrate != 0) || !has(self.minburst) || self.minburst == 0',
      message: message('minburst applies only with a peakrate; remove it or set peakrate'),
      fieldPath: '.minburst',
      reason: 'FieldValueForbidden',
    },
    {
      rule: `!has(self.minburst) || self.minburst == 0 || self.minburst >= ${ETHERNET_FRAME_BYTES}`,
      message: message(`minburst must be at least ${ETHERNET_FRAME_BYTES} bytes (one Ethernet frame)`),
      fieldPath: '.minburst',
    },
    {
      rule: `!has(self.peakrate) || self.peakrate == 0 || !self.rate.matches(${bandwidthRatePattern}) || double(self.peakrate) > ${rateBits('self.rate')}`,
      message: messageExpression(
        "'peakrate, in bits per second, must exceed rate (' + self.rate + ')'",
        'peakrate, in bits per second, must exceed rate (<rate>)',
      ),
      fieldPath: '.peakrate',
    },
  ],
);

/** The CEL address part of an externalTargets entry `self`: without its `:port`, and without the brackets of `[v6]:port`. */
const targetAddress = `(self.matches(${celRegex(hostPortPattern)}) ? self.substring(0, self.lastIndexOf(':')) : self.matches(${celRegex(bracketedPortPattern)}) ? self.substring(1, self.lastIndexOf(']')) : self)`;
const hasPort = (entry: string) => `(${entry}.matches(${celRegex(hostPortPattern)}) || ${entry}.matches(${celRegex(bracketedPortPattern)}))`;

const externalTarget = string('A peer outside the cluster: an IPv4 or IPv6 address (`8.8.8.8`, `2001:db8::1`), a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a host name (`example.com`), optionally with a port (`1.1.1.1:80`, `example.com:443`, `10.0.0.0/8:22`, `[2001:db8::1]:443`).', {
  maxLength: 259,
  rules: [
    {
      rule: `isIP(${targetAddress}) || (isCIDR(${targetAddress}) && ${targetAddress}.matches('/(0|[1-9][0-9]{0,2})$')) || (${targetAddress}.size() <= 253 && ${targetAddress}.matches(${celRegex(hostNamePattern)}) && !${targetAddress}.matches('^[0-9.]+$'))`,
      message: messageExpression(
        `'must be an IPv4 or IPv6 address, a CIDR or a host name, optionally with :port ([address]:port for IPv6), got ' + ${quoted('self')}`,
        'must be an IPv4 or IPv6 address, a CIDR or a host name, optionally with :port ([address]:port for IPv6), got "<value>"',
      ),
    },
    {
      rule: `!isCIDR(${targetAddress}) || cidr(${targetAddress}).masked() == cidr(${targetAddress})`,
      message: messageExpression(
        `${quoted('self')} + ' has host bits set beyond its prefix; clear them, e.g. 10.0.0.0/8 rather than 10.0.0.1/8'`,
        '"<value>" has host bits set beyond its prefix; clear them, e.g. 10.0.0.0/8 rather than 10.0.0.1/8',
      ),
    },
    {
      rule: `!${hasPort('self')} || (int(self.substring(self.lastIndexOf(':') + 1)) >= 1 && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535)`,
      message: messageExpression(`'the port must be from 1 to 65535, got ' + ${quoted('self')}`, 'the port must be from 1 to 65535, got "<value>"'),
    },
  ],
});

/** A network interface name, as the daemon accepts it (net/values.ts). */
export function device(description: string): StringSchema {
  return string(description, {
    maxLength: 32,
    rules: [{
      rule: `self.matches(${celRegex(devicePattern)}) && self != '.' && self != '..'`,
      message: messageExpression(
        `'must be a network interface name such as eth0: 1 to 15 of A-Z a-z 0-9 _ . -, not starting with -, got ' + ${quoted('self')}`,
        'must be a network interface name such as eth0: 1 to 15 of A-Z a-z 0-9 _ . -, not starting with -, got "<value>"',
      ),
    }],
  });
}

const networkTarget: ObjectSchema = object(
  'NetworkTarget',
  'The peers: pods picked by their own selector and mode, as the targets are. Only their addresses are used; kerris changes nothing in them.',
  podSelectorFields,
  podSelectorRules,
);

type FaultField = 'delay' | 'loss' | 'duplicate' | 'corrupt' | 'rate' | 'bandwidth';

const celList = (values: readonly string[]) => `[${values.map((v) => `'${v}'`).join(', ')}]`;
const combineNetem = `(self.action in ${celList(['delay', 'loss', 'duplicate', 'corrupt'])} ? '; to combine netem faults, use action netem' : '; remove it')`;

/**
 * The fault fields, each with the actions it belongs to and, as CEL, what to do instead where it does not;
 * the rest of the spec applies to every action.
 */
const combineNetemShown = 'to combine netem faults, use action netem | remove it';
const faultFields: readonly { readonly field: FaultField; readonly actions: readonly string[]; readonly instead: string; readonly insteadShown: string }[] = [
  { field: 'delay', actions: ['delay', 'netem'], instead: combineNetem, insteadShown: combineNetemShown },
  { field: 'loss', actions: ['loss', 'netem'], instead: combineNetem, insteadShown: combineNetemShown },
  { field: 'duplicate', actions: ['duplicate', 'netem'], instead: combineNetem, insteadShown: combineNetemShown },
  { field: 'corrupt', actions: ['corrupt', 'netem'], instead: combineNetem, insteadShown: combineNetemShown },
  {
    field: 'rate', actions: ['netem'],
    instead: "(self.action == 'bandwidth' ? '; with action bandwidth, use bandwidth.rate' : '; remove it')",
    insteadShown: 'with action bandwidth, use bandwidth.rate | remove it',
  },
  {
    field: 'bandwidth', actions: ['bandwidth'],
    instead: "(self.action == 'netem' ? '; to limit throughput with netem, use rate' : '; remove it')",
    insteadShown: 'to limit throughput with netem, use rate | remove it',
  },
];

const netemFaults: readonly FaultField[] = ['delay', 'loss', 'duplicate', 'corrupt', 'rate'];

function faultFieldRules(): CelRule[] {
  const requiredRules: CelRule[] = (['delay', 'loss', 'duplicate', 'corrupt', 'bandwidth'] as const).map((field) => ({
    rule: `self.action != '${field}' || has(self.${field})`,
    message: message(`${field} is required when action is ${field}`),
    fieldPath: `.${field}`,
    reason: 'FieldValueRequired',
  }));
  const netemRule: CelRule = {
    rule: `self.action != 'netem' || ${netemFaults.map((f) => `has(self.${f})`).join(' || ')}`,
    message: message('action netem needs at least one of delay, loss, duplicate, corrupt or rate'),
    fieldPath: '.action',
    reason: 'FieldValueRequired',
  };
  const forbidden: CelRule[] = faultFields.map(({ field, actions, instead, insteadShown }) => {
    const owners = actions.length === 1 ? `action ${actions.join('')}` : `actions ${actions.join(' and ')}`;
    return {
      rule: `!has(self.${field}) || self.action in ${celList(actions)}`,
      message: messageExpression(
        `'${field} applies only to ${owners}, not to action ' + self.action + ${instead}`,
        `${field} applies only to ${owners}, not to action <action>; <${insteadShown}>`,
      ),
      fieldPath: `.${field}`,
      reason: 'FieldValueForbidden',
    };
  });
  return [...requiredRules, netemRule, ...forbidden];
}

const specFields: Readonly<Record<string, Field>> = {
  action: required(action),
  ...podSelectorFields,
  direction: optional(direction),
  target: optional(networkTarget),
  externalTargets: optional(array(`Peers outside the cluster (or any address), at most ${MAX_EXTERNAL_TARGETS}. With \`target\` the fault hits traffic with either kind of peer; with neither, traffic with every peer. Host names are resolved by the controller (A and AAAA) and their addresses are recorded in \`status.network.resolved\`; a Service is best named in full (\`db.shop.svc.cluster.local\`).`, externalTarget, { maxItems: MAX_EXTERNAL_TARGETS })),
  device: optional(device('The target\'s interface to act on, e.g. `eth0`: 1 to 15 of A-Z a-z 0-9 _ . -, not starting with -. Omitted: every interface of the pod but loopback.')),
  ports: optional(array(`kerris only: the peers' ports, at most ${MAX_PORTS}: only traffic with these ports on the peer's side is hit (destination port of what the targets send, source port of what they receive). Needs \`protocol\` \`tcp\` or \`udp\`.`, integer('A port.', { format: 'int32', minimum: 1, maximum: 65535 }), { maxItems: MAX_PORTS, listType: 'set' })),
  protocol: optional(protocol),
  delay: optional(delay),
  loss: optional(loss),
  duplicate: optional(duplicate),
  corrupt: optional(corrupt),
  rate: optional(netemRate),
  bandwidth: optional(bandwidth),
  duration: optional(duration('How long the fault is held, as a Go duration (`30s`, `5m`, `1h30m`). Counted from injection; time spent paused does not count. Omitted: held until the object is deleted, as in Chaos Mesh.')),
  verify: optional(boolean('kerris only, off by default: measures the effect from inside each target, just before and just after its fault lands (timed TCP connects to up to 8 of its peer addresses, run by the node daemon in the target\'s network namespace), and reports it in `status.targets[].verification` as `Verified`, `NotVerified` or `Unmeasured`. A connect sees a partition, a delay and loss; bandwidth, duplicate and corrupt are reported `Unmeasured` with the reason. The kernel counters in `status.targets[].evidence` are always reported.')),
  seed: optional(integer(`Seed for the random pick of targets and peers, 0 to ${maxSeed}. The same seed over the same candidate pods picks the same ones. When omitted the controller chooses one and reports it in status.seed.`, { format: 'int64', minimum: 0, maximum: maxSeed })),
  paused: optional(boolean('Pauses the experiment: every fault is taken away, and nothing new is injected until it is set back to false. The only spec field that may change after creation.')),
  dryRun: optional(boolean('Selects and reports the targets in status without injecting anything.')),
  guards: guardsField,
};

const networkChaosSpec: ObjectSchema = object(
  'NetworkChaosSpec',
  'What a NetworkChaos does, to which pods\' traffic, and with which peers. Fixed at creation except `paused`.',
  specFields,
  [
    ...podSelectorRules,
    ...faultFieldRules(),
    {
      rule: "!has(self.ports) || (has(self.protocol) && self.protocol in ['tcp', 'udp'])",
      message: messageExpression(
        "'ports need protocol tcp or udp, got ' + (has(self.protocol) ? 'protocol ' + self.protocol : 'no protocol (all)')",
        'ports need protocol tcp or udp, got <protocol>',
      ),
      fieldPath: '.protocol',
    },
    {
      rule: `!has(self.ports) || !has(self.externalTargets) || !self.externalTargets.exists(t, ${hasPort('t')})`,
      message: message('give the peers\' ports either in ports or as host:port in externalTargets, not both'),
      fieldPath: '.ports',
    },
    {
      rule: `!has(self.protocol) || self.protocol in ['tcp', 'udp'] || !has(self.externalTargets) || !self.externalTargets.exists(t, ${hasPort('t')})`,
      message: messageExpression(
        "'externalTargets with a port need protocol tcp or udp (omitted means tcp for them), got protocol ' + self.protocol",
        'externalTargets with a port need protocol tcp or udp (omitted means tcp for them), got protocol <protocol>',
      ),
      fieldPath: '.protocol',
    },
    ...immutableFields(specFields, ['paused'], 'spec'),
  ],
);

export const networkChaos: KindDefinition = {
  kind: 'NetworkChaos',
  plural: 'networkchaos',
  singular: 'networkchaos',
  shortNames: ['nchaos'],
  categories: ['chaos', 'kerris'],
  description: 'NetworkChaos delays, drops, duplicates, corrupts, rate-limits or cuts off the traffic of pods picked by a selector and a mode, to and from every peer or only some: pods picked by `target`, and `externalTargets`.',
  spec: networkChaosSpec,
  status: chaosStatus,
  printerColumns: experimentColumns([
    { name: 'Action', type: 'string', jsonPath: '.spec.action', description: 'what happens to the targets\' traffic' },
    { name: 'Direction', type: 'string', jsonPath: '.spec.direction', description: 'which packets are hit (empty means to)', priority: 1 },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'how targets are picked', priority: 1 },
  ], { targets: 'pods', injected: 'how many targets are injected now', extra: [
    { name: 'Peers', type: 'integer', jsonPath: '.status.network.peers', description: 'how many peer addresses the fault is scoped to', priority: 1 },
    { name: 'Duration', type: 'string', jsonPath: '.spec.duration', description: 'spec.duration (empty: until deleted)', priority: 1 },
  ] }),
  // By hand, changing a pod's networking means running tc or nft in it (kubectl exec); finding targets and peers means listing pods.
  checks: guardChecks,
  requesterAccess: [
    { verb: 'create', group: '', resource: 'pods', subresource: 'exec' },
    { verb: 'list', group: '', resource: 'pods' },
    { verb: 'list', group: '', resource: 'pods', namespacesOf: 'spec.target.selector' },
  ],
  semantics: [
    {
      title: 'Who may create one',
      body: `
kerris does only what the person asking could do by hand. By hand, a network fault is \`tc\` or \`nft\` run inside the pod, so creating a NetworkChaos is allowed only if its creator may \`create pods/exec\` and \`list\` pods in every namespace its \`selector\` reaches (the namespaces of \`pods\`, else \`namespaces\`, else the NetworkChaos's own), and \`list\` pods in every namespace its \`target\` selector reaches, where kerris only reads the peers' addresses. The apiserver checks it at admission with its own authorizer, through the ValidatingAdmissionPolicy \`kerris-requester-access\` in \`deploy/admission/\`; a refusal names the namespaces, e.g. \`you may not create pods/exec in every namespace this NetworkChaos reaches (payments)\` or \`you may not list pods in every namespace this NetworkChaos reaches through its target (db)\`. \`externalTargets\` need no right: they are addresses, and the fault stays inside the targets. Before every action on a target, the controller checks again that the target lies in a namespace the selector reaches and the safety policy admits, and still matches the selector.`,
    },
    {
      title: 'Targets and peers',
      body: `
The **targets** are the pods \`selector\`, \`mode\` and \`value\` pick, as in PodChaos; the fault is installed in their network namespaces only. The **peers** are whom the fault is scoped to: the pods \`target\` picks (its own \`selector\`, \`mode\` and \`value\`) and the addresses of \`externalTargets\`. With no peer, the fault hits the targets' traffic with everyone. \`ports\` and \`protocol\` narrow it further, and \`device\` to one interface. Peer pods are never changed: kerris delays or drops at the targets, in both directions (below).

Both sets are level-triggered while the experiment runs (every change is recorded in \`targets\` and marked by an Event, \`TargetAdded\` or \`TargetGone\`; once \`targets\` holds 100 records, new pods are no longer added and a \`TargetsFull\` Warning says so):
- With \`mode: all\`, a pod that starts matching the selector later is injected too; a target that is deleted is dropped, and its replacement (a new matching pod) gets the fault.
- With \`one\`, \`fixed\`, \`fixed-percent\` and \`random-max-percent\`, the count is held: a target that goes away is replaced by another candidate, drawn from \`seed\`, while there is one.
- Peers are followed the same way: when a \`target\` pod is replaced or its address changes, the fault is rescoped to the new addresses. Peer addresses are every IPv4 and IPv6 address in the pod's \`status.podIPs\`; host names in \`externalTargets\` are resolved (A and AAAA) each time the fault is stated (at the start, then every 15 s and whenever a pod it concerns changes) and listed in \`status.network.resolved\`; a name that does not resolve leaves the fault as it was. \`status.network.peers\` counts the peer addresses in force.

A target that cannot be injected fails alone, with the reason in its record, while the others keep their fault.`,
    },
    {
      title: 'Direction and the round trip to expect',
      body: `
Chaos Mesh applies a netem fault to what a pod sends, and kerris keeps that meaning for \`direction: to\` (the default): packets the targets send (to the peers) are hit. \`from\` hits the packets the targets receive (from the peers), shaped on the targets' ingress through an IFB device or dropped in nftables' input hook; \`both\` hits both.

What a round trip between a target and a peer shows, whichever side starts it:
- \`delay\` with \`to\` or \`from\`: one leg is delayed, so the RTT grows by \`latency\` (± \`jitter\`); with \`both\`, both legs are, by 2 × \`latency\`.
- \`loss\`: with \`to\` or \`from\` a round trip fails with the probability \`loss\`; with \`both\`, with 1 − (1 − \`loss\`)².
- \`bandwidth\` and \`rate\`: throughput in the hit direction is capped; with \`to\`, uploads from the target, with \`from\`, downloads to it.
- \`partition\`: no packet passes in the hit direction. With \`to\`, the targets cannot reach the peers, and TCP connections the peers open to them stall too, since their replies are dropped. With no peer at all the targets are cut off from everyone, including DNS and the kubelet's probes, which may then restart them.

\`status.network.expectedRtt\` states it for the experiment at hand, e.g. \`+100ms per round trip\`.`,
    },
    {
      title: 'Actions, nodes and duration',
      body: `
- \`delay\`, \`loss\`, \`duplicate\`, \`corrupt\` apply that one netem fault and need their field of the same name; \`netem\` combines \`delay\`, \`loss\`, \`duplicate\`, \`corrupt\` and \`rate\` in one netem qdisc and needs at least one of them. A field of another action is rejected, not ignored.
- \`bandwidth\` is a token bucket (tbf) with \`rate\`, \`limit\` and \`buffer\` (and optionally \`peakrate\` with \`minburst\`).
- \`partition\` drops packets in nftables (one \`inet\` table, so IPv4 and IPv6 alike) and takes no fault field.

Each target's whole fault set is planned on its node before anything changes, and applied whole or not at all: a step that fails reverts the ones before it, so nothing is ever half-applied. A node that cannot do the fault (e.g. a kernel without \`sch_netem\`) fails its targets with the daemon's own reason, such as \`kernel has no sch_netem: delay unavailable on node worker-3\`, in \`targets[].message\`, the \`AllInjected\` condition (reason \`InjectionFailed\`) and a Warning Event, and changes nothing there; the targets on able nodes are injected. One node's refusal does not hold the others back, so a cluster with mixed kernels runs the fault where it can and says exactly where it cannot. With no kerris daemon in the cluster at all, the experiment fails with reason \`Unsupported\` before anything is picked. A node whose daemon cannot be reached right now (starting, restarting) is not a refusal: its targets stay \`Selected\` with the reason, \`AllInjected\` says \`Waiting\` (with a Warning Event \`InjectionWaiting\`), and they are tried again at every pass, about every 15 s, until the daemon answers.

\`duration\` is counted from injection, and time spent paused does not count; then every fault is taken away and the experiment moves to \`Finished\`. Without \`duration\`, every example in Chaos Mesh's documentation, the fault is held until the NetworkChaos is deleted or paused. Either way each fault also carries a lease to the node daemon, which takes the fault away by itself if the controller stops renewing it, and a deadline when \`duration\` is set.`,
    },
    {
      title: 'Pausing, dry runs and changes',
      body: `
- \`paused: true\` takes every fault away and injects nothing new; \`paused: false\` injects again. The \`Paused\` condition and phase show it.
- \`dryRun: true\` picks the targets (and peers), records them in \`status.targets\` with phase \`Selected\` and moves to \`Finished\` without touching any pod.
- Every spec field except \`paused\` is fixed at creation; the apiserver rejects a change with \`spec.<field> cannot change while the experiment exists; delete and recreate it\`. Deleting the object takes every fault away before the object goes.`,
    },
    {
      title: 'Status and evidence',
      body: `
The status is PodChaos's (counts, at most 100 \`targets\` records, the same conditions and \`Failed\` reasons), with NetworkChaos's own proof:
- \`targets[].evidence\`: the kernel's counters of every qdisc and nftables rule kerris installed for the target (\`device\`, \`direction\`, \`kind\` \`netem\`/\`tbf\`/\`htb\`/\`nft\`, \`fault\`, \`packets\`, \`bytes\`, \`dropped\`, \`overlimits\`), read inside the target's network namespace at \`observedAt\` by the node daemon (at most every 2 s) and copied into status at every restate (every 15 s, and whenever a pod the experiment concerns changes). Packets counted are packets the fault handled; an nftables rule on several interfaces is reported under the first, with a \`+\`.
- \`targets[].verification\`, with \`verify: true\`: the effect measured from inside the target, once just before its fault lands and once just after (the node daemon's \`Probe\`: timed TCP connects to up to 8 of its single peer addresses, to the first of \`ports\` or a \`host:port\` port if the fault is scoped to one, else to a closed port, whose RST is a round trip), \`configured\` against \`measured\` (e.g. \`RTT +100ms to 10.0.0.7\` against \`RTT 0.6 ms before, 101.2 ms during (median)\`), with a \`verdict\`: a partition is \`Verified\` when peers that answered before answer none of 5 connects during (in either direction: for \`from\` the replies are dropped); a delay when the median of 10 round trips grew by the latency (twice for \`both\`) within max(5 ms, 10%); loss when the answered share of 200 connects (timeout 900 ms, under TCP's 1 s SYN retransmission) dropped by the loss (for \`both\`, 1 − (1 − loss)²) within 3σ. \`Unmeasured\`, with the reason in \`message\`: no peers (the fault is on every peer), no peer answered before, a \`udp\` or \`icmp\` protocol, a probe that failed, or an action a connect cannot see (bandwidth, rate, duplicate, corrupt). A target is measured once, when it is first injected.
- \`network\`: \`expectedRtt\`, the \`resolved\` host names of \`externalTargets\`, and how many \`peers\` addresses the fault is scoped to.`,
    },
    guardSemantics,
  ],
  differencesFromChaosMesh: [
    { topic: 'Guards and verdict', chaosMesh: 'None on the experiment; a Workflow\'s StatusCheck (HTTP only) can abort the workflow.', kerris: '`spec.guards` (HTTP, Prometheus, Kubernetes checks with a `for` window) abort the experiment when breached; `status.verdict` with a resilience score.' },
    { topic: 'apiVersion', chaosMesh: '`chaos-mesh.org/v1alpha1`', kerris: '`chaos.kerris.dev/v1alpha1`' },
    { topic: 'Short name', chaosMesh: 'none', kerris: '`nchaos`; categories `chaos` and `kerris`.' },
    { topic: 'Pause', chaosMesh: 'The annotation `experiment.chaos-mesh.org/pause: "true"`; paused time counts toward `duration`.', kerris: '`spec.paused`, the one spec field that may change; paused time does not count toward `duration`. The annotation is not read.' },
    { topic: 'Dry run', chaosMesh: 'None.', kerris: '`spec.dryRun` picks and reports targets without injecting.' },
    { topic: 'Seed', chaosMesh: 'None; the random pick cannot be repeated.', kerris: '`spec.seed` (0 to 2^53−1) makes the pick of targets and peers repeatable; `status.seed` records the one used.' },
    { topic: 'Duration', chaosMesh: 'Optional (held until deleted without it); counted from the object\'s creation; unbounded.', kerris: 'Optional, held until deleted without it, as in Chaos Mesh. Counted from injection; Go duration syntax with no sign, longer than zero and at most 720h (30 days).' },
    { topic: 'Peers (`target`)', chaosMesh: 'Also injected: with `from` or `both` the netem fault or iptables rule is installed in the peer pods too (`targetDevice` picks their interface).', kerris: 'Never changed: only their addresses are read, and every direction is applied at the targets. `targetDevice` is therefore not accepted (kubectl reports it as an unknown field).' },
    { topic: 'Ingress (`from`, `both`)', chaosMesh: 'netem faults with `from` or `both` need `target` (they are applied on the peers\' egress) and are rejected with `externalTargets`; `externalTargets` work only with `to`.', kerris: 'Done on the targets\' ingress (IFB for tc, the input hook for nftables), so `from` and `both` work with `target`, with `externalTargets` and with no peer at all.' },
    { topic: 'IPv6', chaosMesh: 'Peer pods and host names contribute IPv4 addresses only; IPv6 addresses and CIDRs are not handled.', kerris: 'IPv4 and IPv6 everywhere: every address in a peer pod\'s `status.podIPs`, A and AAAA records of host names, IPv6 addresses, CIDRs and `[address]:port` in `externalTargets`.' },
    { topic: '`externalTargets`', chaosMesh: 'Unbounded and unchecked until the controller resolves them; a CIDR with host bits set is silently masked; port 0 means none.', kerris: `At most ${MAX_EXTERNAL_TARGETS}, each checked by the apiserver: an address, a CIDR with its host bits clear, or a host name, optionally with a port from 1 to 65535. A \`host:port\` peer is matched by TCP port unless \`protocol: udp\`.` },
    { topic: 'Fields of another action', chaosMesh: 'Accepted; with any netem action (`delay`, `loss`, …) every netem field present is merged into one netem, and `bandwidth` or `rate` are silently ignored where they do not apply.', kerris: 'Rejected with a message naming the action they belong to; `netem` is the way to combine netem faults.' },
    { topic: '`ports`, `protocol`', chaosMesh: 'None (only `host:port` in `externalTargets`).', kerris: `kerris only: \`ports\` (at most ${MAX_PORTS}, the peers' side) with \`protocol\` \`tcp\` or \`udp\`; \`protocol\` (\`tcp\`, \`udp\`, \`icmp\`, \`all\`) on its own narrows any action.` },
    { topic: '`verify` and evidence', chaosMesh: 'None; the only proof is the PodNetworkChaos objects\' state.', kerris: '`spec.verify` measures the effect from inside the target; `targets[].evidence` holds the kernel\'s counters; `status.network` states the RTT to expect and what host names resolved to.' },
    { topic: 'Latency and jitter', chaosMesh: 'Go durations in any unit (`ns` to `h`), unbounded.', kerris: `Units \`us\`, \`ms\` and \`s\` (e.g. \`100ms\`, \`1.5s\`, \`250us\`), whole microseconds, at most ${MAX_LATENCY}.` },
    { topic: 'Percentages', chaosMesh: 'Any string Go parses as a float; not range-checked.', kerris: 'From 0 to 100 with at most 4 decimals, optionally with `%` (`"25"`, `"12.5"`, `"0.5%"`).' },
    { topic: 'Rates', chaosMesh: 'Units in any case, up to `tbit`/`tbps`, spaces allowed.', kerris: 'A whole number and a lower-case unit (`bit`, `kbit`, `mbit`, `gbit`, `bps`, `kbps`, `mbps`, `gbps`), from 8kbit to 100gbit.' },
    { topic: '`bandwidth`', chaosMesh: '`buffer` and `limit` at least 1; `peakrate` without `minburst` (or the reverse) is silently ignored.', kerris: `\`buffer\` at least ${ETHERNET_FRAME_BYTES} bytes (tbf drops larger packets), \`limit\` at most 2^30; \`peakrate\` (bits per second, as tc reads Chaos Mesh's bare number) needs \`minburst\` and must exceed \`rate\`; \`0\` for both means none.` },
    { topic: '`rate`', chaosMesh: 'A netem field (`rate.rate`) merged into the netem of any netem action. Its documentation calls it an action, but its CRD has no action `rate`.', kerris: 'The same field, with action `netem` only; no action `rate` either.' },
    { topic: '`reorder.gap`', chaosMesh: 'Required; 0 means tc\'s default, 1.', kerris: 'Optional, with the same meaning (omitted or 0 is 1); reorder is rejected with a zero latency, which tc refuses.' },
    { topic: '`device`', chaosMesh: 'Any string; an `@…` suffix (`eth0@if12`, as `ip link` prints it) is cut off.', kerris: 'A Linux interface name, 1 to 15 of A-Z a-z 0-9 _ . -, checked by the apiserver; write it without the `@…` suffix.' },
    { topic: '`remoteCluster`', chaosMesh: 'Injects into another cluster registered with Chaos Mesh.', kerris: 'Not supported; kerris acts in its own cluster (kubectl reports the field as unknown).' },
    { topic: '`value`', chaosMesh: 'Checked by its webhook: a count above 0 for `fixed`, a percentage in (0, 100] for the percent modes; ignored with `one` and `all`.', kerris: 'The same bounds, for the targets and for `target`, checked by the apiserver; with `one` and `all` it must be absent or empty.' },
    { topic: 'Targets over time', chaosMesh: 'Picked once when the experiment starts.', kerris: 'Level-triggered: new matching pods and replacements are injected (with `all`), counts are held (other modes), and peers from `target` are followed.' },
    { topic: 'Status', chaosMesh: '`experiment.containerRecords[]` with one record per target, unbounded; `instances` counts PodNetworkChaos generations.', kerris: 'Counts plus at most 100 `targets` records with evidence; standard conditions; `network`. `instances` is not kept (kerris has no PodNetworkChaos).' },
    { topic: 'Validation', chaosMesh: 'Partly in an admission webhook that must be installed, with its certificates, and reachable.', kerris: 'All in the CRD schema (enums, bounds, patterns, CEL), so `kubectl apply --dry-run=server` shows every error with no kerris component running.' },
  ],
};
