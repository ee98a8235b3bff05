import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GENERATED_DIR, generateDaemonProto } from '../../scripts/generate-daemon-proto.ts';

test('the committed daemon contract code matches a fresh generation from daemon.proto', async () => {
  const base = await mkdtemp(join(tmpdir(), 'kerris-proto-'));
  try {
    const fresh = await generateDaemonProto(base);
    const names = (await readdir(fresh)).sort();
    assert.deepEqual((await readdir(GENERATED_DIR)).sort(), names, 'src/daemon/proto/gen holds other files than buf generates; run `npm run generate`');
    const stale: string[] = [];
    for (const name of names) {
      if (await readFile(join(fresh, name), 'utf8') !== await readFile(join(GENERATED_DIR, name), 'utf8').catch(() => undefined)) stale.push(name);
    }
    assert.deepEqual(stale, [], `stale generated files in src/daemon/proto/gen: ${stale.join(', ')}; run \`npm run generate\` and commit the result`);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
