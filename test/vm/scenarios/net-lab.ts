/**
 * A throwaway network lab for the network fault tests, on the host kernel and
 * inside the VM alike: one "target" namespace (the container) joined to each
 * "peer" namespace by its own veth pair, with IPv4 and IPv6 addresses:
 *
 *   target eth<i> 10.77.<i+1>.1/24 fd77:<i+1>::1/64  <->  peer<i> eth0 10.77.<i+1>.2/24 fd77:<i+1>::2/64
 *
 * close() deletes every namespace (and with them the veths) and kills every
 * process the lab started, whatever state a failed test left.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { run } from '../../../src/util/exec.ts';
import type { Argv, RunResult } from '../../../src/util/exec.ts';

export const TRAFFIC_SCRIPT = join(import.meta.dirname, 'net-traffic.ts');

export interface Netns {
  name: string;
  /** What the daemon is given: a path nsenter can enter. */
  path: string;
}

export interface Peer {
  netns: Netns;
  /** The target's end of the veth to this peer. */
  device: string;
  ipv4: string;
  ipv6: string;
  /** The target's addresses on this link, as the peer reaches them. */
  targetIpv4: string;
  targetIpv6: string;
}

export interface Server {
  stop(): Promise<void>;
  /** Waits for the server to exit by itself and returns the last JSON line it printed. */
  finished<T>(): Promise<T>;
}

export interface Lab {
  target: Netns;
  peers: readonly Peer[];
  /** Runs argv inside `ns`. */
  exec(ns: Netns, argv: Argv, options?: { input?: string; timeoutMs?: number; allowFailure?: boolean }): Promise<RunResult>;
  /** Runs a net-traffic.ts mode inside `ns` and returns the JSON it printed. */
  traffic<T>(ns: Netns, args: readonly string[], timeoutMs?: number): Promise<T>;
  /** Starts a long-running net-traffic.ts server inside `ns`, resolved once it listens. */
  serve(ns: Netns, args: readonly string[]): Promise<Server>;
  close(): Promise<void>;
}

/** Running traffic tools inside named namespaces (the lab's, or a pod's attached with `ip netns attach`). */
export type TrafficTools = Pick<Lab, 'exec' | 'traffic' | 'serve'> & {
  /** Kills every process the tools started. */
  stopAll(): Promise<void>;
};

export function trafficTools(): TrafficTools {
  const children = new Set<ChildProcess>();

  const exec: Lab['exec'] = (ns, argv, options = {}) => run(['ip', 'netns', 'exec', ns.name, ...argv], { timeoutMs: 60_000, ...options });

  const stopAll = async (): Promise<void> => {
    await Promise.all([...children].map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    })));
  };

  const traffic = async <T>(ns: Netns, args: readonly string[], timeoutMs = 60_000): Promise<T> => {
    const result = await exec(ns, [process.execPath, TRAFFIC_SCRIPT, ...args], { timeoutMs });
    const last = result.stdout.trim().split('\n').pop() ?? '';
    return JSON.parse(last) as T;
  };

  const serve = (ns: Netns, args: readonly string[]): Promise<Server> => new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, TRAFFIC_SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const stop = (): Promise<void> => new Promise((done) => {
      if (child.exitCode !== null || child.signalCode !== null) { done(); return; }
      child.once('exit', () => done());
      child.kill('SIGKILL');
    });
    const lines = createInterface({ input: child.stdout });
    let last = '';
    // 'close' comes after stdout has ended, so the last line has been read.
    const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
    const finished = async <T>(): Promise<T> => {
      const code = await exited;
      if (code !== 0) throw new Error(`server ${args.join(' ')} in ${ns.name} exited with ${code}: ${stderr}`);
      return JSON.parse(last) as T;
    };
    lines.on('line', (line) => {
      if (last === '' && line.includes('"ready"')) resolve({ stop, finished });
      else if (last === '') reject(new Error(`server ${args.join(' ')} in ${ns.name} printed ${line}`));
      last = line;
    });
    void exited.then((code) => reject(new Error(`server ${args.join(' ')} in ${ns.name} exited with ${code}: ${stderr}`)));
  });

  return { exec, traffic, serve, stopAll };
}

export async function createLab(peerCount: number): Promise<Lab> {
  const prefix = `kl${randomBytes(3).toString('hex')}`;
  const target: Netns = { name: `${prefix}-t`, path: `/run/netns/${prefix}-t` };
  const peers: Peer[] = [];
  const created: Netns[] = [];
  const { exec, traffic, serve, stopAll } = trafficTools();

  const close = async (): Promise<void> => {
    await stopAll();
    for (const ns of created) await run(['ip', 'netns', 'del', ns.name], { allowFailure: true });
  };

  try {
    await run(['ip', 'netns', 'add', target.name]);
    created.push(target);
    await exec(target, ['ip', 'link', 'set', 'lo', 'up']);
    for (let i = 0; i < peerCount; i++) {
      const ns: Netns = { name: `${prefix}-p${i}`, path: `/run/netns/${prefix}-p${i}` };
      await run(['ip', 'netns', 'add', ns.name]);
      created.push(ns);
      const device = `eth${i}`;
      const peer: Peer = {
        netns: ns, device,
        ipv4: `10.77.${i + 1}.2`, ipv6: `fd77:${i + 1}::2`,
        targetIpv4: `10.77.${i + 1}.1`, targetIpv6: `fd77:${i + 1}::1`,
      };
      await run(['ip', 'link', 'add', 'name', device, 'netns', target.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name]);
      await exec(target, ['ip', '-batch', '-'], {
        input: `addr add ${peer.targetIpv4}/24 dev ${device}\naddr add ${peer.targetIpv6}/64 dev ${device} nodad\nlink set ${device} up\n`,
      });
      await exec(ns, ['ip', '-batch', '-'], {
        input: `link set lo up\naddr add ${peer.ipv4}/24 dev eth0\naddr add ${peer.ipv6}/64 dev eth0 nodad\nlink set eth0 up\n`,
      });
      peers.push(peer);
    }
  } catch (error) {
    await close();
    throw error;
  }

  return { target, peers, exec, traffic, serve, close };
}
