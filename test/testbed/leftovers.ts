import { readFile, readdir, readlink } from 'node:fs/promises';
import { run } from '../../src/util/exec.ts';
import { CONTROL_PLANE_DIR, NODE_INTERFACE } from './control-plane.ts';
import { netemNodeLeftovers } from './netem-node/index.ts';
import { nodeLeftovers } from './node/index.ts';
import { CACHE_DIR, RUN_DIR } from './paths.ts';

/** Processes whose executable the test bed built or started. */
async function testBedProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const exe = await readlink(`/proc/${entry}/exe`).catch(() => '');
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (exe.startsWith(CACHE_DIR) || cmdline.includes(RUN_DIR)) found.push(`pid ${entry}: ${cmdline.trim()}`);
  }
  return found;
}

/**
 * Everything the test bed may create on the host and must remove at `down`:
 * processes, mounts, network namespaces, interfaces and iptables rules.
 * An empty list means nothing was left behind.
 */
export async function testBedLeftovers(): Promise<string[]> {
  const leftovers = [...await testBedProcesses(), ...await nodeLeftovers(CONTROL_PLANE_DIR), ...await netemNodeLeftovers(CONTROL_PLANE_DIR)];
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of mounts.split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint?.startsWith(RUN_DIR)) leftovers.push(`mount ${mountPoint}`);
  }
  const netns = await run(['ip', 'netns', 'list'], { allowFailure: true });
  for (const name of netns.stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean)) {
    if (name?.startsWith('cni-') || name?.startsWith('kerris')) leftovers.push(`netns ${name}`);
  }
  const links = await run(['ip', '-o', 'link', 'show'], { allowFailure: true });
  for (const line of links.stdout.split('\n')) {
    const name = line.split(': ')[1]?.split('@')[0];
    if (name && (name === NODE_INTERFACE || name.startsWith('kerris') || name.startsWith('cni') || name.startsWith('veth'))) leftovers.push(`interface ${name}`);
  }
  for (const save of ['iptables-save', 'ip6tables-save', 'iptables-legacy-save', 'ip6tables-legacy-save']) {
    const rules = await run([save], { allowFailure: true });
    for (const line of rules.stdout.split('\n')) {
      if (/\b(KUBE-|CNI-)/.test(line)) leftovers.push(`${save}: ${line}`);
    }
  }
  return leftovers;
}
