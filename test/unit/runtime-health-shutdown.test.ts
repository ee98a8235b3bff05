import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthServer } from '../../src/runtime/health-server.ts';
import { CONTENT_TYPE, Registry } from '../../src/runtime/metrics.ts';
import { onShutdownSignals } from '../../src/runtime/shutdown.ts';

describe('HealthServer', () => {
  it('serves metrics, liveness, and readiness that follows its checks and shutdown', async () => {
    const registry = new Registry();
    registry.counter({ name: 'kerris_probe_total', help: 'Probe.' }).inc();
    let synced = false;
    const server = new HealthServer({ port: 0, host: '127.0.0.1', registry, readiness: [{ name: 'informers not synced', ready: () => synced }] });
    const port = await server.start();
    const get = async (path: string, method = 'GET') => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
      return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
    };
    try {
      const metrics = await get('/metrics');
      assert.equal(metrics.type, CONTENT_TYPE);
      assert.match(metrics.body, /^kerris_probe_total 1$/m);
      assert.deepEqual(await get('/healthz'), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok\n' });
      assert.deepEqual(await get('/readyz'), { status: 503, type: 'text/plain; charset=utf-8', body: 'not ready: informers not synced\n' });
      synced = true;
      assert.equal((await get('/readyz')).status, 200);
      server.markShuttingDown();
      assert.equal((await get('/readyz')).body, 'not ready: shutting down\n');
      assert.equal((await get('/nowhere')).status, 404);
      assert.equal((await get('/healthz', 'POST')).status, 405);
      assert.equal((await get('/healthz', 'HEAD')).body, '');
    } finally {
      await server.stop();
    }
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  });
});

/** Signals and timers arrive a little later on a loaded machine: wait for the effect, bounded. */
async function soon(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within 5 s: ${what}`);
    await sleep(10);
  }
}

describe('onShutdownSignals', () => {
  it('aborts on the first signal, exits on the second', async (t) => {
    const exits: number[] = [];
    const handle = onShutdownSignals({ signals: ['SIGWINCH'], exit: (code) => exits.push(code) });
    t.after(() => handle.dispose());
    assert.equal(handle.signal.aborted, false);
    process.kill(process.pid, 'SIGWINCH');
    await soon(() => handle.signal.aborted, 'the first signal aborts');
    assert.deepEqual(exits, []);
    process.kill(process.pid, 'SIGWINCH');
    await soon(() => exits.length > 0, 'the second signal exits');
    assert.deepEqual(exits, [1]);
  });

  it('exits when the shutdown outlasts its deadline', async (t) => {
    const exits: number[] = [];
    const handle = onShutdownSignals({ signals: ['SIGWINCH'], forceAfterMs: 100, exit: (code) => exits.push(code) });
    t.after(() => handle.dispose());
    process.kill(process.pid, 'SIGWINCH');
    await sleep(30);
    assert.deepEqual(exits, []);
    await soon(() => exits.length > 0, 'the deadline exits');
    assert.deepEqual(exits, [1]);
  });
});
