/**
 * A node daemon that finds a damaged journal file at its start sets it aside and says so in Capabilities; the
 * leading controller turns that into a Warning Event on the daemon pod, once, naming the file and what to do, on
 * the real cluster.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { JOURNAL_DAMAGE_INTERVAL_MS } from '../../src/controller/daemons/journal-damage.ts';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { deployKerris, KERRIS_NAMESPACE, removeKerris } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';

let plane: ControlPlane;
let node: ClusterNode;
/** Where deployKerris puts the daemon's journal on the test-bed node. */
let journalDir: string;
const TORN = `injection-${'0'.repeat(40)}.json`;

interface EventJson { reason?: string; message?: string; type?: string; involvedObject: { kind: string; name: string; uid?: string } }

describe('journal damage reported by the controller', { timeout: 600_000 }, () => {
  before(async () => {
    ({ plane, node } = await clusterNode());
    journalDir = join(node.stateDir, 'kerris-daemon', 'journal');
    await deployKerris(plane, node, { replicas: 1 });
  });

  after(async () => {
    const aside = await readdir(join(journalDir, 'damaged')).catch(() => []);
    for (const file of aside.filter((f) => f.endsWith(TORN))) await rm(join(journalDir, 'damaged', file), { force: true });
    await removeKerris(plane);
  });

  it('a torn journal file found by a restarted daemon becomes one Warning Event on its pod, naming the file and what to check', async () => {
    await mkdir(journalDir, { recursive: true });
    await writeFile(join(journalDir, TORN), '{"version":1,"spec":{"id":"x"');
    await kubectl(plane, ['delete', 'pod', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=daemon', '--wait=true']);
    await kubectl(plane, ['rollout', 'status', 'daemonset/kerris-daemon', '-n', KERRIS_NAMESPACE, '--timeout=120s'], { timeoutMs: 150_000 });
    const deadline = Date.now() + JOURNAL_DAMAGE_INTERVAL_MS + 60_000;
    let found: EventJson[] = [];
    while (Date.now() < deadline) {
      const events = (await kubectlJson<{ items: EventJson[] }>(plane, ['get', 'events', '-n', KERRIS_NAMESPACE, '--field-selector', 'reason=JournalDamaged'])).items;
      found = events.filter((e) => e.involvedObject.kind === 'Pod' && (e.message ?? '').includes(TORN));
      if (found.length > 0) break;
      await sleep(1_000);
    }
    assert.equal(found.length, 1, 'one Event for the file');
    const [event] = found;
    assert.equal(event?.type, 'Warning');
    assert.match(event?.message ?? '', /is torn .*moved to damaged\/.*check that node's kernel state by hand/);
    const aside = await readdir(join(journalDir, 'damaged'));
    const moved = /moved to damaged\/(\S+) in the journal directory/.exec(event?.message ?? '')?.[1];
    assert.ok(moved !== undefined && aside.includes(moved), `the file was set aside where the Event says, not deleted: ${aside.join(', ')}; ${event?.message ?? ''}`);
  });
});
