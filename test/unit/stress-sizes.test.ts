// StressChaos sizes: Chaos Mesh's `size` text, Kubernetes quantities, and the stressors worked out per container.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMemorySize } from '../../src/api/stresschaos.ts';
import type { StressChaosSpec } from '../../src/api/generated/types.ts';
import { stressorsFor, describeStressors } from '../../src/controller/stresschaos/stressors.ts';
import { parseQuantity } from '../../src/kube/quantity.ts';
import type { Pod } from '../../src/kube/types.ts';
import { formatBytes } from '../../src/util/bytes.ts';

const MiB = 2 ** 20;

describe('memory sizes as Chaos Mesh writes them', () => {
  test('units are binary with or without an i, in any case, and a bare number is bytes', () => {
    assert.deepEqual(parseMemorySize('256MB'), { bytes: 256 * MiB });
    assert.deepEqual(parseMemorySize('256mib'), { bytes: 256 * MiB });
    assert.deepEqual(parseMemorySize('64Mi'), { bytes: 64 * MiB });
    assert.deepEqual(parseMemorySize('10GB'), { bytes: 10 * 2 ** 30 });
    assert.deepEqual(parseMemorySize('1TiB'), { bytes: 2 ** 40 });
    assert.deepEqual(parseMemorySize('2048KB'), { bytes: 2 * MiB });
    assert.deepEqual(parseMemorySize('1048576'), { bytes: MiB });
    assert.deepEqual(parseMemorySize('1048576B'), { bytes: MiB });
    assert.deepEqual(parseMemorySize('25%'), { percent: 25 });
    assert.deepEqual(parseMemorySize('100%'), { percent: 100 });
  });

  test('anything else is not a size', () => {
    for (const bad of ['', '0', '0MB', '-1MB', '1.5GB', '101%', '0%', '10 MB', '10XB', 'MB', '1e9']) assert.equal(parseMemorySize(bad), undefined, bad);
  });
});

describe('Kubernetes quantities', () => {
  test('binary and decimal suffixes, fractions and exponents', () => {
    assert.equal(parseQuantity('128Mi'), 128 * MiB);
    assert.equal(parseQuantity('1G'), 1e9);
    assert.equal(parseQuantity('1.5Gi'), 1.5 * 2 ** 30);
    assert.equal(parseQuantity('2e9'), 2e9);
    assert.equal(parseQuantity('16318452Ki'), 16318452 * 1024);
    assert.equal(parseQuantity('500m'), 0.5);
    assert.equal(parseQuantity('12'), 12);
  });

  test('text that is no quantity is undefined', () => {
    for (const bad of ['', 'Mi', '1MiB', '1 Gi', 'abc', '1.2.3']) assert.equal(parseQuantity(bad), undefined, bad);
  });
});

describe('the stressors of one container', () => {
  const pod = (limit?: string): Pod => ({
    metadata: { name: 'web-0', namespace: 'shop', uid: 'u1' },
    spec: { nodeName: 'n1', containers: [{ name: 'web', image: 'web', ...(limit ? { resources: { limits: { memory: limit } } } : {}) }] },
  });
  const spec = (stressors: StressChaosSpec['stressors']): StressChaosSpec => ({ mode: 'one', selector: {}, stressors });

  test('cpu load defaults to 100, as in Chaos Mesh; memory sizes are bytes, split by the daemon', () => {
    const planned = stressorsFor(spec({ cpu: { workers: 2 }, memory: { workers: 4, size: '256MB' } }), pod(), 'web', undefined);
    assert.deepEqual(planned, { cpu: { workers: 2, load: 100 }, memory: { workers: 4, sizeBytes: BigInt(256 * MiB), oomScoreAdj: 0 } });
    assert.equal(typeof planned === 'string' ? planned : describeStressors(planned), 'cpu 2×100%, memory 256MiB over 4 worker(s)');
  });

  test('a percentage is of the container\'s memory limit, or of the node\'s memory without one', () => {
    assert.deepEqual(stressorsFor(spec({ memory: { workers: 1, size: '50%' } }), pod('512Mi'), 'web', 8 * 2 ** 30), { memory: { workers: 1, sizeBytes: BigInt(256 * MiB), oomScoreAdj: 0 } });
    assert.deepEqual(stressorsFor(spec({ memory: { workers: 1, size: '25%', oomScoreAdj: -1000 } }), pod(), 'web', 8 * 2 ** 30), { memory: { workers: 1, sizeBytes: BigInt(2 * 2 ** 30), oomScoreAdj: -1000 } });
  });

  test('a percentage that cannot be worked out, or comes to less than 1 MiB, is a reason, not a guess', () => {
    assert.match(String(stressorsFor(spec({ memory: { workers: 1, size: '25%' } }), pod(), 'web', undefined)), /neither is known \(container web has no limit, node n1 reports no capacity\)/);
    assert.match(String(stressorsFor(spec({ memory: { workers: 1, size: '1%' } }), pod('64Mi'), 'web', undefined)), /of the limit 64Mi is 671088 bytes, under the 1 MiB least/);
  });
});

test('byte counts for people', () => {
  assert.equal(formatBytes(64 * MiB), '64MiB');
  assert.equal(formatBytes(1.5 * 2 ** 30), '1.5GiB');
  assert.equal(formatBytes(512), '512B');
});
