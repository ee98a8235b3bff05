/** `kubectl kerris plan -f`: which manifests it plans, every chaos kind, and the clear refusal of what is not one. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../../src/api/generate.ts';
import { readManifests } from '../../src/cli/commands/plan.ts';
import { UsageError } from '../../src/cli/errors.ts';

describe('plan -f manifests', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'kerris-plan-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('reads the NodeChaos examples, each in the default namespace when it names none', async () => {
    for (const example of ['nodechaos-drain.yaml', 'nodechaos-taint.yaml', 'nodechaos-kubelet-stop.yaml']) {
      const [chaos, ...rest] = await readManifests(join(repoRoot, 'examples', example), 'default');
      assert.equal(rest.length, 0);
      assert.equal(chaos?.kind, 'NodeChaos', example);
      assert.ok(chaos?.metadata.namespace, example);
    }
  });

  it('reads a file that holds a NodeChaos beside a PodChaos, in order', async () => {
    const file = join(dir, 'mixed.yaml');
    const pod = await readFile(join(repoRoot, 'examples', 'podchaos-pod-kill.yaml'), 'utf8');
    const node = await readFile(join(repoRoot, 'examples', 'nodechaos-drain.yaml'), 'utf8');
    await writeFile(file, `${pod}\n---\n${node}`);
    assert.deepEqual((await readManifests(file, 'default')).map((c) => c.kind), ['PodChaos', 'NodeChaos']);
    await writeFile(file, `${pod}\n---\napiVersion: chaos.kerris.dev/v1alpha1\nkind: Nodechaos2\n`);
    await assert.rejects(readManifests(file, 'default'), (error: unknown) => error instanceof UsageError && /is not a chaos kind/.test(error.message));
  });
});
