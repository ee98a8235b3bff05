import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run } from '../../src/util/exec.ts';
import { testBedLeftovers } from '../testbed/leftovers.ts';
import { REPO_ROOT } from '../testbed/paths.ts';

const cli = (...args: string[]) => run([process.execPath, join(REPO_ROOT, 'test', 'testbed', 'cluster-cli.ts'), ...args], { timeoutMs: 600_000, allowFailure: true });

// Runs after every other tier: it takes the shared test bed down.
describe('cluster lifecycle', () => {
  it('a second `up` while one runs reuses it instead of half-starting another', async () => {
    const [first, second] = await Promise.all([cli('up', '--node'), cli('up', '--node')]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(first.stdout.trim().split('\n').at(-1), second.stdout.trim().split('\n').at(-1));
    assert.match(first.stdout.trim().split('\n').at(-1) ?? '', /^KUBECONFIG=\/.+\.kubeconfig$/);
    const status = await cli('status');
    assert.equal(status.stdout.match(/running \(pid \d+\)/g)?.length, 4, status.stdout);
    assert.match(status.stdout, /node\s+kerris-node running/);
  });

  it('`down` leaves no processes, mounts, network namespaces, interfaces or iptables rules', async () => {
    const down = await cli('down');
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await testBedLeftovers(), []);
    const status = await cli('status');
    assert.doesNotMatch(status.stdout, /running/);
  });
});
