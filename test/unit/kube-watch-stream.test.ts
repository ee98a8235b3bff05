import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeWatchStream, parseWatchEvent, WatchProtocolError } from '../../src/kube/watch-stream.ts';
import type { ConfigMap, WatchEvent } from '../../src/kube/types.ts';

async function* chunks(parts: readonly Buffer[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield part;
}

async function collect(parts: readonly Buffer[]): Promise<Array<WatchEvent<ConfigMap>>> {
  const events: Array<WatchEvent<ConfigMap>> = [];
  for await (const event of decodeWatchStream<ConfigMap>(chunks(parts))) events.push(event);
  return events;
}

const lines = [
  { type: 'ADDED', object: { kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: '1' }, data: { text: 'grüße ✓' } } },
  { type: 'BOOKMARK', object: { kind: 'ConfigMap', metadata: { resourceVersion: '2' } } },
  { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } },
].map((e) => `${JSON.stringify(e)}\n`).join('');

describe('watch stream decoding', () => {
  it('yields the same events whatever the chunk boundaries, even inside a UTF-8 character', async () => {
    const bytes = Buffer.from(lines);
    const whole = await collect([bytes]);
    assert.equal(whole.length, 3);
    for (let size = 1; size <= 7; size++) {
      const parts: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
      assert.deepEqual(await collect(parts), whole, `chunks of ${size} bytes`);
    }
    const [added, bookmark, error] = whole;
    assert.equal(added?.type === 'ADDED' ? added.object.data?.['text'] : '', 'grüße ✓');
    assert.equal(bookmark?.type === 'BOOKMARK' ? bookmark.object.metadata.resourceVersion : '', '2');
    assert.equal(error?.type === 'ERROR' ? error.object.code : 0, 410);
  });

  it('reads a last line without a newline', async () => {
    const events = await collect([Buffer.from('{"type":"DELETED","object":{"metadata":{"name":"x"}}}')]);
    assert.equal(events[0]?.type, 'DELETED');
  });

  it('refuses lines that are not watch events', () => {
    assert.throws(() => parseWatchEvent('not json'), WatchProtocolError);
    assert.throws(() => parseWatchEvent('{"type":"SURPRISE","object":{"metadata":{}}}'), /unknown type/);
    assert.throws(() => parseWatchEvent('{"type":"ADDED"}'), /no object/);
    assert.throws(() => parseWatchEvent('{"type":"ADDED","object":{"kind":"X"}}'), /no metadata/);
  });
});
