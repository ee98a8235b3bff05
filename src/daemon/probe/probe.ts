/**
 * The Probe call: timed TCP connects from inside a target's network namespace, so the controller can measure what a
 * network fault does from where it acts (NetworkChaos `spec.verify`). Nothing is changed or journaled. The target is
 * resolved as Sync resolves it and refused wherever target-policy.ts refuses a network fault: a probe enters the
 * namespace as root, so it may only go where a fault may. Every field is checked before it reaches the command line.
 */
import { isIP } from 'node:net';
import { extname, join } from 'node:path';
import { run } from '../../util/exec.ts';
import { DaemonError, errorMessage } from '../errors.ts';
import type { TargetCheck, Targets } from '../lifecycle.ts';
import { processStartTime } from '../proc.ts';
import { checkContainerTarget, isNodeTarget, type ContainerTarget, type TargetRef } from '../spec.ts';
import type { ProbeLine } from './connect.ts';

export const MAX_PROBE_ADDRESSES = 8;
export const MAX_PROBE_COUNT = 200;
export const MAX_PROBE_TIMEOUT_MS = 2_000;
/** Port 0 asks for this one: the discard port, which a pod rarely listens on, so its kernel answers RST at once. */
export const DEFAULT_PROBE_PORT = 9;
/**
 * Connects in flight per address. A few are timed one after another, since connects in flight at once wait on each
 * other in the probe's event loop (milliseconds, measured); many (a loss probe) run 16 at once, so some timeouts
 * take seconds, not minutes.
 */
export const SEQUENTIAL_UP_TO = 20;
const MANY_AT_ONCE = 16;

export function probeConcurrency(count: number): number {
  return count <= SEQUENTIAL_UP_TO ? 1 : MANY_AT_ONCE;
}

/** How long a probe of `count` connects of `timeoutMs` each may take when nothing answers, with the uncounted first. */
export function probeBudgetMs(count: number, timeoutMs: number): number {
  return (Math.ceil(count / probeConcurrency(count)) + 1) * timeoutMs;
}
/** Node's start-up and the namespace switch, beyond the connects themselves. */
const PROCESS_MARGIN_MS = 5_000;
/**
 * Probes running at once: each is a Node process of its own (about 40 MB), in the daemon's cgroup and its memory
 * limit (deploy/daemon: 256 MiB), so more calls wait their turn.
 */
const MAX_RUNNING = 2;
/** The probe process's heap: a few hundred sockets need little, and it counts against the daemon's memory limit. */
const PROBE_NODE_FLAGS = ['--max-old-space-size=32', '--max-semi-space-size=1'] as const;

/** The probe script beside this module: connect.ts when run from source, connect.js in the built image. */
const SCRIPT = join(import.meta.dirname, `connect${extname(import.meta.filename)}`);

export interface ProbeSpec {
  target: ContainerTarget;
  addresses: string[];
  port: number;
  count: number;
  timeoutMs: number;
}

/** The request as it came, before checkProbe. */
export type ProbeRequestFields = Omit<ProbeSpec, 'addresses' | 'target'> & { target: TargetRef; addresses: readonly string[] };

function check(ok: boolean, message: string): void {
  if (!ok) throw new DaemonError('invalid', `probe: ${message}`);
}

/** Throws DaemonError('invalid') for any field out of bounds. */
export function checkProbe(request: ProbeRequestFields): ProbeSpec {
  if (isNodeTarget(request.target)) throw new DaemonError('invalid', 'probe: the target is a container; the node has no network namespace of its own to probe from');
  const target = checkContainerTarget(request.target);
  const { addresses, port, count, timeoutMs } = request;
  check(addresses.length >= 1 && addresses.length <= MAX_PROBE_ADDRESSES, `1 to ${MAX_PROBE_ADDRESSES} addresses, got ${addresses.length}`);
  for (const address of addresses) check(isIP(address) !== 0, `${JSON.stringify(address.slice(0, 64))} is not an IP address`);
  check(new Set(addresses).size === addresses.length, 'an address is listed more than once');
  check(Number.isInteger(port) && port >= 0 && port <= 65_535, `port ${port} must be 0 to 65535`);
  check(Number.isInteger(count) && count >= 1 && count <= MAX_PROBE_COUNT, `count ${count} must be 1 to ${MAX_PROBE_COUNT}`);
  check(Number.isInteger(timeoutMs) && timeoutMs >= 1 && timeoutMs <= MAX_PROBE_TIMEOUT_MS, `timeout ${timeoutMs} ms must be 1 to ${MAX_PROBE_TIMEOUT_MS}`);
  return { target, addresses: [...addresses], port: port === 0 ? DEFAULT_PROBE_PORT : port, count, timeoutMs };
}

/** The script's output, checked: one line per address asked, in order. */
export function parseProbeOutput(stdout: string, spec: ProbeSpec): ProbeLine[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new DaemonError('failed', `probe: unreadable output ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  if (!Array.isArray(parsed) || parsed.length !== spec.addresses.length) throw new DaemonError('failed', 'probe: the output does not list every address');
  return parsed.map((entry: unknown, i): ProbeLine => {
    const line = entry as Partial<Record<keyof ProbeLine, unknown>>;
    const rttUs = Array.isArray(line.rttUs) ? line.rttUs.filter((r): r is number => Number.isInteger(r) && (r as number) >= 0) : [];
    if (line.address !== spec.addresses[i] || line.sent !== spec.count || line.answered !== rttUs.length) {
      throw new DaemonError('failed', `probe: the output for ${spec.addresses[i] ?? ''} is malformed`);
    }
    return { address: spec.addresses[i] ?? '', sent: spec.count, answered: rttUs.length, rttUs };
  });
}

export interface ProberOptions {
  targets: Pick<Targets, 'resolve'>;
  policy: TargetCheck;
}

export class Prober {
  private readonly options: ProberOptions;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(options: ProberOptions) {
    this.options = options;
  }

  async probe(spec: ProbeSpec): Promise<ProbeLine[]> {
    // A finished probe hands its slot to the next waiting one, so no call can slip in between.
    if (this.running >= MAX_RUNNING) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await this.probeNow(spec);
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.running--;
      else next();
    }
  }

  private async probeNow(spec: ProbeSpec): Promise<ProbeLine[]> {
    const target = await this.options.targets.resolve(spec.target.containerId);
    await this.options.policy.check('network', target);
    // The pid must still be the container's: a reused pid would put the probe in another namespace.
    if (await processStartTime(target.pid) !== target.startTime) throw new DaemonError('not-found', `probe: container ${target.containerId} exited`);
    const argv = [
      'nsenter', `--net=/proc/${target.pid}/ns/net`, '--', process.execPath, ...PROBE_NODE_FLAGS, SCRIPT,
      String(spec.port), String(spec.count), String(spec.timeoutMs), String(probeConcurrency(spec.count)), ...spec.addresses,
    ] as const;
    let stdout: string;
    try {
      stdout = (await run(argv, { timeoutMs: probeBudgetMs(spec.count, spec.timeoutMs) + PROCESS_MARGIN_MS })).stdout;
    } catch (error) {
      throw new DaemonError('failed', `probe in container ${target.containerId}: ${errorMessage(error)}`, { cause: error });
    }
    return parseProbeOutput(stdout, spec);
  }
}
