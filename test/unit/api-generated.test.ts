import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generatedFiles, repoRoot } from '../../src/api/generate.ts';

const fix = 'run `npm run generate` and commit the result';

describe('generated API files', () => {
  it('match a fresh generation from src/api', async () => {
    const stale: string[] = [];
    for (const [path, content] of generatedFiles()) {
      const onDisk = await readFile(join(repoRoot, path), 'utf8').catch(() => undefined);
      if (onDisk === undefined) stale.push(`${path} (missing)`);
      else if (onDisk !== content) stale.push(path);
    }
    assert.deepEqual(stale, [], `stale generated files: ${stale.join(', ')}; ${fix}`);
  });

  it('leave no CRD in deploy/crds or the chart\'s crds/ that the schema no longer generates', async () => {
    for (const dir of [join('deploy', 'crds'), join('charts', 'kerris', 'crds')]) {
      const expected = [...generatedFiles().keys()].filter((p) => p.startsWith(dir)).map((p) => p.slice(dir.length + 1)).sort();
      const present = (await readdir(join(repoRoot, dir))).sort();
      assert.deepEqual(present, expected, `${dir} holds files the generator does not write; delete them or ${fix}`);
    }
  });

  it('come out byte-identical from two generations', () => {
    assert.deepEqual([...generatedFiles()], [...generatedFiles()]);
  });
});
