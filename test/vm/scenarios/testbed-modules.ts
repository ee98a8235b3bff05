// Runs inside the kernel VM. Uses each kernel feature kerris's fault engines need, in a
// network namespace of its own, and prints one JSON object: the modules in /proc/modules and,
// per feature, whether its command succeeded (with stderr when it did not).
import { run, type Argv } from '../../../src/util/exec.ts';

const NS = 'kerris-modules';
const inNs = (argv: Argv): Argv => ['ip', 'netns', 'exec', NS, ...argv];

const checks: { name: string; ok: boolean; stderr: string }[] = [];
async function check(name: string, ...steps: Argv[]): Promise<void> {
  for (const argv of steps) {
    const result = await run(inNs(argv), { allowFailure: true });
    if (result.code !== 0) {
      checks.push({ name, ok: false, stderr: `${argv.join(' ')}: ${result.stderr.trim()}` });
      return;
    }
  }
  checks.push({ name, ok: true, stderr: '' });
}

const netnsBefore = (await run(['ip', 'netns', 'list'])).stdout;
try {
  await run(['ip', 'netns', 'add', NS]);
  await run(inNs(['ip', 'link', 'add', 'km0', 'type', 'veth', 'peer', 'name', 'km1']));
  await run(inNs(['ip', 'link', 'set', 'km0', 'up']));

  await check('sch_netem',
    ['tc', 'qdisc', 'add', 'dev', 'km0', 'root', 'netem', 'delay', '10ms', '2ms', 'loss', '1%', 'duplicate', '1%', 'corrupt', '1%', 'reorder', '5%'],
    ['tc', 'qdisc', 'del', 'dev', 'km0', 'root']);
  await check('sch_tbf',
    ['tc', 'qdisc', 'add', 'dev', 'km0', 'root', 'tbf', 'rate', '1mbit', 'burst', '32kbit', 'latency', '400ms'],
    ['tc', 'qdisc', 'del', 'dev', 'km0', 'root']);
  await check('sch_htb',
    ['tc', 'qdisc', 'add', 'dev', 'km0', 'root', 'handle', '1:', 'htb', 'default', '10'],
    ['tc', 'class', 'add', 'dev', 'km0', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '1mbit'],
    ['tc', 'qdisc', 'del', 'dev', 'km0', 'root']);
  await check('sch_prio + cls_u32 + netem child',
    ['tc', 'qdisc', 'add', 'dev', 'km0', 'root', 'handle', '1:', 'prio'],
    ['tc', 'qdisc', 'add', 'dev', 'km0', 'parent', '1:3', 'handle', '30:', 'netem', 'delay', '5ms'],
    ['tc', 'filter', 'add', 'dev', 'km0', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', '198.18.0.0/15', 'flowid', '1:3'],
    ['tc', 'qdisc', 'del', 'dev', 'km0', 'root']);
  await check('ifb + sch_ingress + act_mirred',
    ['ip', 'link', 'add', 'kifb0', 'type', 'ifb'],
    ['ip', 'link', 'set', 'kifb0', 'up'],
    ['tc', 'qdisc', 'add', 'dev', 'km0', 'handle', 'ffff:', 'ingress'],
    ['tc', 'filter', 'add', 'dev', 'km0', 'parent', 'ffff:', 'protocol', 'ip', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', 'kifb0'],
    ['tc', 'qdisc', 'add', 'dev', 'kifb0', 'root', 'netem', 'delay', '5ms'],
    ['tc', 'qdisc', 'del', 'dev', 'km0', 'ingress'],
    ['ip', 'link', 'del', 'kifb0']);
  await check('ipset types',
    ['ipset', 'create', 'k-ip', 'hash:ip'],
    ['ipset', 'create', 'k-net', 'hash:net'],
    ['ipset', 'create', 'k-ipport', 'hash:ip,port'],
    ['ipset', 'create', 'k-netport', 'hash:net,port'],
    ['ipset', 'create', 'k-list', 'list:set'],
    ['ipset', 'add', 'k-list', 'k-ip'],
    ['ipset', 'add', 'k-ip', '198.18.0.1']);
  for (const iptables of ['iptables-nft', 'iptables-legacy']) {
    await check(`${iptables} statistic, set, mark`,
      [iptables, '-w', '-A', 'OUTPUT', '-m', 'statistic', '--mode', 'random', '--probability', '0.5', '-j', 'DROP'],
      [iptables, '-w', '-A', 'OUTPUT', '-m', 'set', '--match-set', 'k-ip', 'dst', '-j', 'DROP'],
      [iptables, '-w', '-A', 'OUTPUT', '-m', 'mark', '--mark', '0x1', '-j', 'ACCEPT'],
      [iptables, '-w', '-F', 'OUTPUT']);
  }
  await check('nftables',
    ['nft', 'add', 'table', 'inet', 'kerris'],
    ['nft', 'add', 'chain', 'inet', 'kerris', 'out', '{', 'type', 'filter', 'hook', 'output', 'priority', '0', ';', '}'],
    ['nft', 'add', 'rule', 'inet', 'kerris', 'out', 'ip', 'daddr', '198.18.0.2', 'meta', 'mark', 'set', '1', 'counter', 'drop'],
    ['nft', 'delete', 'table', 'inet', 'kerris']);
} finally {
  await run(['ip', 'netns', 'del', NS], { allowFailure: true });
}
const modules = (await run(['cat', '/proc/modules'])).stdout.split('\n').filter((l) => l !== '').map((l) => l.split(' ')[0]);
const netnsAfter = (await run(['ip', 'netns', 'list'])).stdout;
process.stdout.write(`${JSON.stringify({ modules, checks, netnsBefore, netnsAfter })}\n`);
