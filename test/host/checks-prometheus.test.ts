/**
 * The Prometheus check against a real Prometheus and blackbox exporter (Debian's, started privately by the test
 * bed): probe_success of a loopback HTTP server the test controls passes while the server answers and fails once it
 * is down; an empty result, a bad query and an unreachable server are failures that say why; stopping the test bed's
 * Prometheus leaves no process and no directory behind.
 */
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PrometheusCheck } from '../../src/api/generated/types.ts';
import type { CheckOutcome } from '../../src/controller/checks/evaluate.ts';
import { evaluatePrometheus } from '../../src/controller/checks/prometheus.ts';
import { startPrometheus, type PrivatePrometheus } from '../testbed/prometheus.ts';

let prometheus: PrivatePrometheus | undefined;
let app: Server;
let appUrl: string;

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const up = (): Server => createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'); });

function check(query: string, operator: PrometheusCheck['comparison']['operator'], value: string, url = prometheus?.url ?? ''): PrometheusCheck {
  return { url, query, comparison: { operator, value } };
}

/** Evaluates until the outcome is `ok` (the scrape runs every second), failing with the last outcome after 20 s. */
async function eventually(probe: PrometheusCheck, ok: boolean): Promise<{ outcome: CheckOutcome; afterMs: number }> {
  const started = Date.now();
  let last: CheckOutcome | undefined;
  while (Date.now() - started < 20_000) {
    last = await evaluatePrometheus(probe, 2_000);
    if (last.ok === ok) return { outcome: last, afterMs: Date.now() - started };
    await sleep(250);
  }
  assert.fail(`the check never became ${ok ? 'ok' : 'failing'} within 20 s; last: ${JSON.stringify(last)}`);
}

describe('the Prometheus check against a real Prometheus with a blackbox exporter', { timeout: 180_000 }, () => {
  before(async () => {
    app = up();
    const port = await listen(app);
    appUrl = `http://127.0.0.1:${port}/healthz`;
    prometheus = await startPrometheus({ probe: [appUrl] });
    await prometheus.waitForProbes();
  });

  after(async () => {
    app?.close();
    await prometheus?.stop();
  });

  it('passes while the probed server answers, fails once it is down, and passes again when it is back', async () => {
    const probe = check(`probe_success{target="${appUrl}"}`, '==', '1');
    const upOutcome = await eventually(probe, true);
    assert.match(upOutcome.outcome.observed, /^probe_success\{.*target="http:\/\/127\.0\.0\.1:\d+\/healthz".*\} = 1$/);
    assert.equal(upOutcome.outcome.message, 'every sample (1) is == 1');

    const port = Number(new URL(appUrl).port);
    await new Promise<void>((resolve) => app.close(() => resolve()));
    const down = await eventually(probe, false);
    assert.match(down.outcome.observed, /= 0$/);
    assert.match(down.outcome.message, /^1 of 1 samples fail == 1: probe_success\{.*\} = 0$/);
    process.stdout.write(`# probe down seen by the check after ${down.afterMs} ms\n`);

    app = up();
    await listen(app, port);
    await eventually(probe, true);
  });

  it('compares every sample, with fractions and the other operators', async () => {
    const probe = check(`probe_success{target="${appUrl}"}`, '>=', '0.5');
    assert.equal((await eventually(probe, true)).outcome.ok, true);
    const scalar = await evaluatePrometheus(check('scalar(probe_success{probe="probe"}) * 0.25', '<', '0.3'), 2_000);
    assert.equal(scalar.ok, true, scalar.message);
    assert.equal(scalar.observed, '{} = 0.25');
    const strict = await evaluatePrometheus(check('vector(0.25)', '!=', '0.25'), 2_000);
    assert.equal(strict.ok, false);
    assert.equal(strict.message, '1 of 1 samples fail != 0.25: {} = 0.25');
  });

  it('fails on an empty result, a refused query, a range result and an unreachable server, saying why', async () => {
    const empty = await evaluatePrometheus(check('probe_success{target="http://nowhere.invalid/"}', '==', '1'), 2_000);
    assert.deepEqual(empty, { ok: false, observed: 'no samples', message: 'the query returned no samples, so nothing shows == 1' });

    const bad = await evaluatePrometheus(check('probe_success{', '==', '1'), 2_000);
    assert.equal(bad.ok, false);
    assert.equal(bad.observed, 'HTTP 400');
    assert.match(bad.message, /^Prometheus refused the query: bad_data: /);

    const range = await evaluatePrometheus(check('probe_success[10s]', '==', '1'), 2_000);
    assert.equal(range.ok, false);
    assert.match(range.message, /^the result is a "matrix", not a vector or a scalar/);

    const closed = createServer();
    const port = await listen(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = await evaluatePrometheus(check('up', '==', '1', `http://127.0.0.1:${port}`), 2_000);
    assert.deepEqual(unreachable, { ok: false, observed: 'no response', message: `GET http://127.0.0.1:${port}/api/v1/query: connection refused (ECONNREFUSED)` });
  });

  it('stops leaving no process and no directory behind', async () => {
    assert.ok(prometheus);
    const { dir, url, blackboxUrl } = prometheus;
    await prometheus.stop();
    prometheus = undefined;
    await assert.rejects(access(dir), 'the temporary directory is gone');
    for (const server of [url, blackboxUrl]) {
      const answered = await fetch(`${server}/metrics`, { signal: AbortSignal.timeout(1_000) }).then(() => true, () => false);
      assert.equal(answered, false, `${server} still answers`);
    }
  });
});
