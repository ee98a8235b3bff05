import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as tick } from 'node:timers/promises';
import { MAX_TIMER_MS, WorkQueue } from '../../src/runtime/workqueue.ts';

const noJitter = { initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0 };

describe('WorkQueue', () => {
  it('holds a key once however often it is added', async () => {
    const queue = new WorkQueue<string>();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    assert.equal(queue.length, 2);
    assert.equal(await queue.get(), 'a');
    assert.equal(await queue.get(), 'b');
    assert.equal(queue.length, 0);
  });

  it('re-queues a key added while it is processed, only after done()', async () => {
    const queue = new WorkQueue<string>();
    queue.add('a');
    const key = await queue.get();
    queue.add('a');
    queue.add('a');
    assert.equal(queue.length, 0, 'a key in process is not handed out again');
    queue.done(key ?? '');
    assert.equal(queue.length, 1);
    assert.equal(await queue.get(), 'a');
  });

  it('wakes a waiting get() when a key arrives', async () => {
    const queue = new WorkQueue<string>();
    const waiting = queue.get();
    queue.add('x');
    assert.equal(await waiting, 'x');
  });

  it('backs failures off per key, exponentially and capped, until forget()', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const queue = new WorkQueue<string>({ backoff: noJitter, now: () => Date.now() });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      queue.addRateLimited('a');
      let waited = 0;
      while (queue.length === 0) {
        t.mock.timers.tick(1);
        waited += 1;
      }
      delays.push(waited);
      // get() takes the key at once; done() right after ends its processing.
      void queue.get();
      queue.done('a');
    }
    assert.deepEqual(delays, [100, 200, 400, 800, 1_000, 1_000]);
    assert.equal(queue.retries('a'), 6);
    queue.forget('a');
    assert.equal(queue.retries('a'), 0);
    queue.addRateLimited('b');
    assert.equal(queue.retries('a'), 0, 'keys back off independently');
  });

  it('addAfter queues later and keeps the earliest of pending delays', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const queue = new WorkQueue<string>({ now: () => Date.now() });
    queue.addAfter('a', 500);
    queue.addAfter('a', 200);
    queue.addAfter('a', 900);
    t.mock.timers.tick(199);
    assert.equal(queue.length, 0);
    t.mock.timers.tick(1);
    assert.equal(queue.length, 1);
    t.mock.timers.tick(1_000);
    assert.equal(queue.length, 1, 'the superseded timers do not add it again');
    assert.equal(queue.delayed, 0);
  });

  it('waits out a delay longer than one Node timer (30 days) in re-armed steps, and adds the key once, on time', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    let added = 0;
    const queue = new WorkQueue<string>({ now: () => Date.now(), observer: { added: () => { added += 1; } } });
    const thirtyDays = 30 * 86_400_000;
    queue.addAfter('long', thirtyDays);
    // A plain setTimeout of 30 days would fire after 1 ms.
    t.mock.timers.tick(1);
    assert.equal(queue.length, 0);
    t.mock.timers.tick(MAX_TIMER_MS);
    assert.equal(queue.length, 0, 'still waiting after the longest single timer');
    t.mock.timers.tick(thirtyDays - MAX_TIMER_MS - 2);
    assert.equal(queue.length, 0, 'not a millisecond early');
    t.mock.timers.tick(1);
    assert.equal(queue.length, 1);
    assert.equal(added, 1, 'added exactly once');
    assert.equal(queue.delayed, 0);
  });

  it('never hands one key to two workers, and processes every key', async () => {
    const queue = new WorkQueue<string>();
    const active = new Set<string>();
    const processed = new Map<string, number>();
    let overlap = 0;
    let maxParallel = 0;
    const worker = async (): Promise<void> => {
      for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
        if (active.has(key)) overlap += 1;
        active.add(key);
        maxParallel = Math.max(maxParallel, active.size);
        await tick(Math.random() * 3);
        processed.set(key, (processed.get(key) ?? 0) + 1);
        active.delete(key);
        queue.done(key);
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    for (let round = 0; round < 50; round++) {
      for (const key of ['a', 'b', 'c', 'd', 'e']) queue.add(key);
      await tick(1);
    }
    await tick(20);
    queue.shutdown();
    await Promise.all(workers);
    assert.equal(overlap, 0);
    assert.ok(maxParallel > 1, `workers ran in parallel (max ${maxParallel})`);
    assert.deepEqual([...processed.keys()].sort(), ['a', 'b', 'c', 'd', 'e']);
  });

  it('drains queued keys after shutdown, refuses new ones, then answers undefined', async () => {
    const queue = new WorkQueue<string>();
    queue.add('a');
    queue.add('b');
    queue.addAfter('c', 10_000);
    queue.shutdown();
    queue.add('d');
    assert.equal(queue.delayed, 0, 'delayed keys are dropped');
    const first = await queue.get();
    const drained = queue.drained();
    let isDrained = false;
    void drained.then(() => { isDrained = true; });
    assert.equal(first, 'a');
    assert.equal(await queue.get(), 'b');
    queue.done('a');
    await tick(0);
    assert.equal(isDrained, false, 'b is still in process');
    queue.done('b');
    await drained;
    assert.equal(await queue.get(), undefined);
  });

  it('releases waiting workers at shutdown', async () => {
    const queue = new WorkQueue<string>();
    const waiting = [queue.get(), queue.get()];
    queue.shutdown();
    assert.deepEqual(await Promise.all(waiting), [undefined, undefined]);
  });

  it('reports adds, retries and depth to its observer', async () => {
    const seen = { added: 0, retried: 0, depth: [] as number[] };
    const queue = new WorkQueue<string>({ observer: { added: () => { seen.added += 1; }, retried: () => { seen.retried += 1; }, depth: (d) => seen.depth.push(d) } });
    queue.add('a');
    queue.add('a');
    queue.add('b');
    await queue.get();
    queue.addRateLimited('z');
    queue.shutdown();
    assert.equal(seen.added, 2);
    assert.equal(seen.retried, 1);
    assert.deepEqual(seen.depth, [1, 2, 1]);
  });
});
