/** `kubectl kerris plan -f`: which manifests it plans, and the clear refusal of those it cannot. */
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

  it('refuses a NodeChaos with what to do instead, rather than planning its nodes as pods', async () => {
    for (const example of ['nodechaos-drain.yaml', 'nodechaos-taint.yaml', 'nodechaos-kubelet-stop.yaml']) {
      const file = join(repoRoot, 'examples', example);
      await assert.rejects(readManifests(file, 'default'), (error: unknown) => {
        assert.ok(error instanceof UsageError, String(error));
        assert.equal(error.message, `${file}: document 1: plan covers the kinds that target pods, not NodeChaos yet; create it with spec.dryRun: true and the controller picks and reports the exact nodes in status (the protected rules applied), touching none`);
        return true;
      });
    }
  });

  it('refuses a file that holds a NodeChaos beside a PodChaos, naming the document', async () => {
    const file = join(dir, 'mixed.yaml');
    const pod = await readFile(join(repoRoot, 'examples', 'podchaos-pod-kill.yaml'), 'utf8');
    const node = await readFile(join(repoRoot, 'examples', 'nodechaos-drain.yaml'), 'utf8');
    await writeFile(file, `${pod}\n---\n${node}`);
    await assert.rejects(readManifests(file, 'default'), /mixed\.yaml: document 2: plan covers the kinds that target pods, not NodeChaos yet/);
    await writeFile(file, pod);
    assert.deepEqual((await readManifests(file, 'default')).map((c) => c.kind), ['PodChaos']);
  });
});
