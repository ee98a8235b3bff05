/** StressChaos: CPU and memory pressure inside target containers, by stressors the node daemon runs in their cgroups. */
import { chaosStatus, experimentColumns } from './chaos-status.ts';
import { guardChecks, guardSemantics, guardsField } from './guards.ts';
import { celRegex, dnsLabel, duration, immutableFields, maxSeed } from './common.ts';
import type { KindDefinition } from './resource.ts';
import {
  array, boolean, integer, message, object, optional, required, string,
  type Field, type ObjectSchema,
} from './schema.ts';
import { podSelectorFields, podSelectorRules } from './selector.ts';

/** The most stressor processes of one kind in one container: enough to load any node kerris runs on, few enough to stop at once. */
export const MAX_STRESS_WORKERS = 64;
/** The smallest memory stressor: less would not show against a container's own working set. */
export const MIN_STRESS_BYTES = 1024 * 1024;
/** The largest, 1 TiB: larger is no node's memory; the node's own size bounds it again when it is applied. */
export const MAX_STRESS_BYTES = 1024 ** 4;

/**
 * `size` as Chaos Mesh writes it: bytes with an optional unit, or a percentage. The units are binary whether or not
 * they carry an `i` (`256MB` is 256 MiB), as Chaos Mesh's own memory stressor reads them; case does not matter.
 */
export const memorySizePattern = '^([1-9][0-9]{0,12}([kKmMgGtT][iI]?[bB]|[kKmMgGtT][iI]?|[bB])?|([1-9][0-9]?|100)%)$';

const UNIT_POWERS: Readonly<Record<string, number>> = { b: 0, k: 1, m: 2, g: 3, t: 4 };

/** A memory stressor's size: a number of bytes, or a share of the container's memory limit (of the node's memory without one). */
export type MemorySize = { bytes: number } | { percent: number };

/** Reads `size`; undefined when it does not match memorySizePattern (the apiserver rejects those first). */
export function parseMemorySize(text: string): MemorySize | undefined {
  if (!new RegExp(memorySizePattern).test(text)) return undefined;
  if (text.endsWith('%')) return { percent: Number(text.slice(0, -1)) };
  const match = /^([0-9]+)([a-zA-Z]*)$/.exec(text);
  const unit = (match?.[2] ?? '').toLowerCase().charAt(0) || 'b';
  return { bytes: Number(match?.[1]) * 1024 ** (UNIT_POWERS[unit] ?? 0) };
}

/**
 * A CEL rule on `size`: the bytes it names compare with `limit` bytes (`>=` or `<=`). Compared unit by unit, so that
 * 13 digits times a unit never overflow CEL's int64; only text the pattern admits reaches find().
 */
const celPattern = celRegex(memorySizePattern);
function sizeBound(op: '>=' | '<=', limit: number): string {
  const digits = "int(self.find('^[0-9]+'))";
  const powers = [['t', 4], ['g', 3], ['m', 2], ['k', 1]] as const;
  const branches = powers.map(([unit, power]) => `self.lowerAscii().contains('${unit}') ? ${digits} ${op} ${Math.floor(limit / 1024 ** power)}`);
  return `!self.matches(${celPattern}) || self.endsWith('%') || (${branches.join(' : ')} : ${digits} ${op} ${limit})`;
}
// Chaos Mesh's `options` and `stressngStressors` hand stress-ng flags through unread. kerris runs only stressors it
// validates, so they are declared (a Chaos Mesh manifest that sets them gets this message, not "unknown field")
// and must stay empty.
const rawFlags = (where: string) => optional(array(
  `Chaos Mesh's raw stress-ng flags for the ${where} stressor. Not supported: must be absent or empty.`,
  string('A stress-ng flag.', { maxLength: 256 }),
  { maxItems: 16, rules: [{ rule: 'size(self) == 0', message: message(`options (raw stress-ng flags) are not supported: kerris runs only the ${where} stressor's own fields, which it validates; remove them`), reason: 'FieldValueForbidden' }] },
));

const workers = (what: string) => required(integer(`How many ${what} processes run in each target container, 1 to ${MAX_STRESS_WORKERS}.`, { format: 'int32', minimum: 1, maximum: MAX_STRESS_WORKERS }));

const cpuStressor = object('CpuStressor', 'Keeps CPUs busy inside each target container.', {
  workers: workers('CPU stressor'),
  load: optional(integer('Percent of one CPU each worker keeps busy, 1 to 100; 100 when omitted, as in Chaos Mesh. The container uses `workers × load` percent of a CPU, less if its CPU limit is lower.', { format: 'int32', minimum: 1, maximum: 100 })),
  options: rawFlags('CPU'),
});

const memoryStressor = object('MemoryStressor', 'Holds memory inside each target container.', {
  workers: workers('memory stressor'),
  size: required(string(
    'Memory held in all, split evenly over the workers: bytes with an optional binary unit (`B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`, `TB`/`TiB`; `256MB` is 256 MiB, as Chaos Mesh reads it), or a percentage of the container\'s memory limit (of the node\'s memory when the container has none), e.g. `25%`. At least 1 MiB.',
    {
      maxLength: 20,
      pattern: memorySizePattern,
      rules: [
        { rule: sizeBound('>=', MIN_STRESS_BYTES), message: message('must be at least 1 MiB (1048576 bytes); write e.g. 64MiB') },
        { rule: sizeBound('<=', MAX_STRESS_BYTES), message: message('must be at most 1 TiB') },
      ],
    },
  )),
  oomScoreAdj: optional(integer('The stressors\' `oom_score_adj`, -1000 to 1000, as in Chaos Mesh: 1000 makes the kernel\'s OOM killer take them first, -1000 never. 0 when omitted.', { format: 'int32', minimum: -1000, maximum: 1000 })),
  options: rawFlags('memory'),
});

const stressors = object('Stressors', 'The stressors to run in each target container: `cpu`, `memory`, or both.', {
  cpu: optional(cpuStressor),
  memory: optional(memoryStressor),
}, [
  { rule: 'has(self.cpu) || has(self.memory)', message: message('stressors needs cpu or memory (or both)'), reason: 'FieldValueRequired' },
]);

const specFields: Readonly<Record<string, Field>> = {
  ...podSelectorFields,
  stressors: required(stressors),
  stressngStressors: optional(string('Chaos Mesh\'s raw stress-ng command line. Not supported: must be absent or empty.', {
    maxLength: 4096,
    rules: [{ rule: "self == ''", message: message('stressngStressors (a raw stress-ng command line) is not supported: kerris runs only the stressors in `stressors`, which it validates; use them instead'), reason: 'FieldValueForbidden' }],
  })),
  containerNames: optional(array('The containers to stress; when omitted, the pod\'s first container (as in Chaos Mesh).', dnsLabel('A container name.'), { minItems: 1, maxItems: 32, listType: 'set' })),
  duration: optional(duration('How long the stressors run, as a Go duration (`30s`, `5m`, `1h30m`). Counted from injection; time spent paused does not count. When omitted they run until the StressChaos is deleted or paused.')),
  seed: optional(integer(`Seed for the random pick of targets, 0 to ${maxSeed}. The same seed over the same candidate pods picks the same targets. When omitted the controller chooses one and reports it in status.seed.`, { format: 'int64', minimum: 0, maximum: maxSeed })),
  paused: optional(boolean('Pauses the experiment: the stressors are stopped, and nothing new is injected until it is set back to false. The only spec field that may change after creation.')),
  dryRun: optional(boolean('Selects and reports the targets in status without injecting anything.')),
  guards: guardsField,
};

const stressChaosSpec: ObjectSchema = object(
  'StressChaosSpec',
  'What a StressChaos runs and in which containers. Fixed at creation except `paused`.',
  specFields,
  [...podSelectorRules, ...immutableFields(specFields, ['paused'], 'spec')],
);

export const stressChaos: KindDefinition = {
  kind: 'StressChaos',
  plural: 'stresschaos',
  singular: 'stresschaos',
  shortNames: ['schaos'],
  categories: ['chaos', 'kerris'],
  description: 'StressChaos runs CPU and memory stressors inside the containers of pods picked by a selector and a mode, in their cgroups: the load counts against their limits and shows in their metrics.',
  spec: stressChaosSpec,
  status: chaosStatus,
  printerColumns: experimentColumns([
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'how targets are picked', priority: 1 },
  ], { targets: 'pods', injected: 'how many targets are stressed now', extra: [
    { name: 'Duration', type: 'string', jsonPath: '.spec.duration', description: 'spec.duration (empty: until deleted)', priority: 1 },
  ] }),
  // By hand, loading a container means running a stressor in it (kubectl exec); finding targets means listing pods.
  checks: guardChecks,
  requesterAccess: [
    { verb: 'create', group: '', resource: 'pods', subresource: 'exec' },
    { verb: 'list', group: '', resource: 'pods' },
  ],
  semantics: [
    {
      title: 'Who may create one',
      body: `
kerris does only what the person asking could do by hand. By hand, a stressor is a process run inside the container (\`kubectl exec\`), so creating a StressChaos is allowed only if its creator may \`create pods/exec\` and \`list\` pods in every namespace its selector reaches (the namespaces of \`pods\`, else \`namespaces\`, else the StressChaos's own). The apiserver checks it at admission through the ValidatingAdmissionPolicy \`kerris-requester-access\`; a refusal names the namespaces, e.g. \`you may not create pods/exec in every namespace this StressChaos reaches (payments)\`. Before every action on a target, the controller checks again that the target lies in a namespace the selector reaches and the safety policy admits, and still matches the selector.`,
    },
    {
      title: 'Where the stressors run',
      body: `
The node daemon runs \`stress-ng\` from its own image, attached to the target container's cgroups (cgroup v2, or every v1 hierarchy) before it does any work: the stressors count against the container's CPU and memory limits, show in its metrics (\`kubectl top\`, cAdvisor), and a memory stressor above the limit gets the container's processes OOM-killed, as a real leak would. They share no other namespace with the container, so nothing is added to its filesystem. \`cpu\` runs \`workers\` processes that each keep \`load\` percent of a CPU busy; \`memory\` holds \`size\` in all, split evenly over its \`workers\`, resident until the end. A percentage \`size\` is of the container's memory limit, or of the node's memory when it has none.

Targets are picked once, when the experiment starts, as in PodChaos. Each target container gets one injection; \`containerNames\` picks them, or the pod's first container.

A node whose daemon has no \`stress-ng\` refuses: its targets are \`Failed\` with the daemon's reason, and nothing is started anywhere for want of it.`,
    },
    {
      title: 'Ending, and the daemon going away',
      body: `
The stressors end at \`duration\` (counted from injection; paused time does not count), when the StressChaos is paused or deleted, when it is aborted by a guard or \`kubectl kerris abort\`, and by the node daemon itself when the controller's lease lapses or the injection's deadline passes. The daemon journals every stressor (its pid and start time) before it starts work: a daemon that restarts finds its stressors again and keeps them while the lease and deadline hold, or ends them; none outlives its experiment. If the container restarts, its stressors die with its cgroup and are started again in the new container.`,
    },
    {
      title: 'Evidence',
      body: `
Each injected target's \`stress\` record holds the container's CPU use (thousandths of a CPU) and memory working set (memory in use less the inactive file cache, as the kubelet counts it) read from its cgroup just before the stressors started, and again at every pass while they run, with how many stressor processes are alive. \`kubectl kerris describe\` and \`report\` show them.`,
    },
    {
      title: 'Status',
      body: `
As for every chaos kind: the counts \`selected\`, \`injected\`, \`recovered\` and \`failed\`, at most 100 \`targets\` records, and the conditions \`Selected\`, \`AllInjected\`, \`AllRecovered\`, \`Paused\`, \`Aborted\` and \`Failed\`.`,
    },
    guardSemantics,
  ],
  differencesFromChaosMesh: [
    { topic: 'apiVersion', chaosMesh: '`chaos-mesh.org/v1alpha1`', kerris: '`chaos.kerris.dev/v1alpha1`' },
    { topic: 'Short name', chaosMesh: 'none', kerris: '`schaos`; categories `chaos` and `kerris`.' },
    { topic: 'When the daemon goes away', chaosMesh: 'The stressors die with the chaos daemon, and the resource still says Injected.', kerris: 'The stressors are journaled: a restarted daemon adopts them, and ends them itself when the lease lapses or the deadline passes; status always says what runs.' },
    { topic: 'Evidence', chaosMesh: 'None in status.', kerris: '`targets[].stress`: the container\'s CPU and working set before and while stressed, from its cgroup.' },
    { topic: '`stressngStressors` and `options`', chaosMesh: 'Raw stress-ng flags, run as given.', kerris: 'Declared, so a manifest that sets them is told why, and must be empty: kerris runs only stressors it validates.' },
    { topic: '`workers`', chaosMesh: 'Up to 8192; 0 turns the stressor off.', kerris: '1 to 64; omit the stressor to turn it off.' },
    { topic: '`load`', chaosMesh: '0 to 100; 0 is a stressor that sleeps.', kerris: '1 to 100 (omit the cpu stressor for none); 100 when omitted, as there.' },
    { topic: '`size`', chaosMesh: 'Bytes with a unit or a percentage of the memory, passed to its stressor; required by its stressor though optional in the schema.', kerris: 'Required; the same units, binary either way (`256MB` is 256 MiB), at least 1 MiB; a percentage is of the container\'s memory limit (of the node\'s memory without one). Held in all, split evenly over the workers.' },
    { topic: '`time` (memory growth)', chaosMesh: 'Newer releases ramp the memory up over `time`.', kerris: 'Not supported (kubectl reports it as an unknown field): the memory is held from the start.' },
    { topic: 'Pause, dry run, seed, duration, guards, verdict', chaosMesh: 'As for its other kinds.', kerris: 'As in PodChaos: `spec.paused`, `spec.dryRun`, `spec.seed`, duration counted from injection, `spec.guards`, `status.verdict`.' },
  ],
};
