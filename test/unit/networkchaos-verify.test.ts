/** NetworkChaos `spec.verify`: what a target is probed with, and the verdicts the probes before and during come to. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkChaos } from '../../src/api/generated/types.ts';
import { checkProbe, DEFAULT_PROBE_PORT, parseProbeOutput, probeBudgetMs, probeConcurrency } from '../../src/daemon/probe/probe.ts';
import { DaemonError } from '../../src/daemon/errors.ts';
import type { Peers } from '../../src/controller/networkchaos/plan.ts';
import { targetProbe, verdict, type ProbePlan, type Sample } from '../../src/controller/networkchaos/verify.ts';

type Spec = NetworkChaos['spec'];
const spec = (extra: Partial<Spec>): Spec => ({ action: 'partition', mode: 'all', selector: {}, ...extra } as Spec);
const peers = (cidrs: string[] | undefined, byPort: Array<[number, string[]]> = []): Peers => ({ cidrs, byPort: new Map(byPort) });
const PEER = peers(['10.0.0.7/32']);

function plan(s: Spec, p: Peers = PEER): ProbePlan {
  const made = targetProbe(s, p);
  assert.ok(typeof made === 'object', `measurable: ${String(made)}`);
  return made;
}

/** A sample of `sent` connects, `answered` of them in `rttMs` each. */
const sample = (address: string, sent: number, answered: number, rttMs = 0.5): Sample => ({ address, sent, answered, rttUs: Array.from({ length: answered }, () => Math.round(rttMs * 1_000)) });

describe('what a target is probed with', () => {
  it('partition: 5 connects to a closed port of each single peer address, at most 8, sorted', () => {
    const many = peers(Array.from({ length: 12 }, (_, i) => `10.0.0.${20 - i}/32`).concat(['10.1.0.0/16']));
    const p = plan(spec({ action: 'partition' }), many);
    assert.deepEqual([p.count, p.timeoutMs, p.port], [5, 1_000, 0]);
    assert.deepEqual(p.addresses, ['10.0.0.10', '10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14', '10.0.0.15', '10.0.0.16', '10.0.0.17']);
  });

  it('connects to the port the fault is scoped to: the first of ports, or a host:port peer\'s', () => {
    assert.equal(plan(spec({ ports: [8080, 9090], protocol: 'tcp' })).port, 8080);
    const p = plan(spec({}), peers([], [[443, ['10.0.0.9/32', 'fd00::9/128']]]));
    assert.deepEqual([p.port, p.addresses], [443, ['10.0.0.9', 'fd00::9']]);
  });

  it('delay: 10 connects with time for the delay; loss: 200 under TCP\'s SYN retransmission', () => {
    const delay = plan(spec({ action: 'delay', delay: { latency: '100ms' } }));
    assert.deepEqual([delay.count, delay.timeoutMs, delay.checks], [10, 1_100, [{ kind: 'delay', addedMs: 100 }]]);
    assert.deepEqual(plan(spec({ action: 'delay', direction: 'both', delay: { latency: '100ms' } })).checks, [{ kind: 'delay', addedMs: 200 }]);
    const loss = plan(spec({ action: 'loss', loss: { loss: '20' } }));
    assert.deepEqual([loss.count, loss.timeoutMs], [200, 900]);
    assert.deepEqual(loss.checks, [{ kind: 'loss', percent: 20, share: 0.2 }]);
    const either = plan(spec({ action: 'loss', direction: 'both', loss: { loss: '20%' } })).checks[0];
    assert.ok(either?.kind === 'loss' && Math.abs(either.share - 0.36) < 1e-9, 'both ways: 1 - 0.8²');
  });

  it('Unmeasured with the reason: no peers, only blocks, udp or icmp, what a connect cannot see, a delay beyond the timeout', () => {
    const reason = (s: Spec, p: Peers = PEER): string => {
      const made = targetProbe(s, p);
      assert.equal(typeof made, 'string');
      return String(made);
    };
    assert.match(reason(spec({}), peers(undefined)), /every peer/);
    assert.match(reason(spec({}), peers(['10.0.0.0/8'])), /only address blocks/);
    assert.match(reason(spec({ protocol: 'udp' })), /udp only/);
    assert.match(reason(spec({ action: 'bandwidth', bandwidth: { rate: '1mbit', limit: 20_000, buffer: 10_000 } })), /rate limit/);
    assert.match(reason(spec({ action: 'duplicate', duplicate: { duplicate: '50' } })), /duplicated SYN/);
    assert.match(reason(spec({ action: 'corrupt', corrupt: { corrupt: '50' } })), /checksum/);
    assert.match(reason(spec({ action: 'delay', delay: { latency: '1800ms' } })), /more than a probe's 2000 ms/);
    assert.match(reason(spec({ action: 'netem', delay: { latency: '500ms' }, loss: { loss: '10' } })), /before TCP retransmits/);
  });

  it('netem: delay and loss measured, the rest named as not measurable', () => {
    const p = plan(spec({ action: 'netem', delay: { latency: '50ms' }, loss: { loss: '10' }, duplicate: { duplicate: '5' } }));
    assert.deepEqual(p.checks.map((c) => c.kind), ['delay', 'loss']);
    assert.equal(p.unseen.length, 1);
  });
});

describe('verdicts', () => {
  const A = '10.0.0.7';

  it('partition: Verified when peers that answered before answer nothing during; NotVerified when one gets through', () => {
    const p = plan(spec({ direction: 'from' }));
    const verified = verdict(spec({ direction: 'from' }), p, [sample(A, 5, 5)], [sample(A, 5, 0)]);
    assert.deepEqual(verified, {
      verdict: 'Verified', configured: 'partition from 10.0.0.7', measured: 'answered 5/5 before, 0/5 during',
      message: '5 TCP connects to a closed port (RST answers) of each of 1 peer(s), before and during the fault, from inside the target',
    });
    assert.equal(verdict(spec({}), p, [sample(A, 5, 5)], [sample(A, 5, 1)]).verdict, 'NotVerified');
  });

  it('a peer that did not answer before is left out; none answering before is Unmeasured', () => {
    const two = peers(['10.0.0.7/32', '10.0.0.8/32']);
    const p = plan(spec({}), two);
    const v = verdict(spec({}), p, [sample(A, 5, 5), sample('10.0.0.8', 5, 0)], [sample(A, 5, 0), sample('10.0.0.8', 5, 0)]);
    assert.equal(v.verdict, 'Verified');
    assert.match(v.message ?? '', /1 peer\(s\) did not answer before the fault/);
    assert.equal(verdict(spec({}), p, [sample(A, 5, 0), sample('10.0.0.8', 5, 0)], [sample(A, 5, 0), sample('10.0.0.8', 5, 0)]).verdict, 'Unmeasured');
  });

  it('delay: Verified when the median RTT grew by the latency within max(5 ms, 10%)', () => {
    const s = spec({ action: 'delay', delay: { latency: '100ms' } });
    const p = plan(s);
    const v = verdict(s, p, [sample(A, 10, 10, 0.6)], [sample(A, 10, 10, 101.2)]);
    assert.deepEqual([v.verdict, v.configured, v.measured], ['Verified', 'RTT +100ms to 10.0.0.7', 'RTT 0.6 ms before, 101.2 ms during (median)']);
    assert.equal(verdict(s, p, [sample(A, 10, 10, 0.6)], [sample(A, 10, 10, 111)]).verdict, 'NotVerified', '10.4 ms over: beyond 10%');
    assert.equal(verdict(s, p, [sample(A, 10, 10, 0.6)], [sample(A, 10, 10, 0.7)]).verdict, 'NotVerified', 'no delay');
    assert.equal(verdict(s, p, [sample(A, 10, 10, 0.6)], [sample(A, 10, 0)]).verdict, 'NotVerified', 'nothing to time');
    const small = spec({ action: 'delay', delay: { latency: '10ms' } });
    assert.equal(verdict(small, plan(small), [sample(A, 10, 10, 0.5)], [sample(A, 10, 10, 15)]).verdict, 'Verified', 'at least 5 ms of tolerance');
    const both = spec({ action: 'delay', direction: 'both', delay: { latency: '100ms' } });
    assert.equal(verdict(both, plan(both), [sample(A, 10, 10, 0.6)], [sample(A, 10, 10, 201)]).verdict, 'Verified', 'twice for both');
    assert.equal(verdict(both, plan(both), [sample(A, 10, 10, 0.6)], [sample(A, 10, 10, 101)]).verdict, 'NotVerified');
  });

  it('loss: Verified when the answered share dropped by the loss within 3σ over the connects', () => {
    const s = spec({ action: 'loss', loss: { loss: '20' } });
    const p = plan(s);
    const v = verdict(s, p, [sample(A, 200, 200)], [sample(A, 200, 161)]);
    assert.deepEqual([v.verdict, v.configured, v.measured], ['Verified', 'loss 20% to 10.0.0.7', 'answered 200/200 before, 161/200 during (19.5% lost, 20% ± 8.5% expected)']);
    assert.equal(verdict(s, p, [sample(A, 200, 200)], [sample(A, 200, 200)]).verdict, 'NotVerified', 'nothing lost');
    assert.equal(verdict(s, p, [sample(A, 200, 200)], [sample(A, 200, 100)]).verdict, 'NotVerified', 'half lost');
    const all = spec({ action: 'loss', loss: { loss: '100' } });
    assert.equal(verdict(all, plan(all), [sample(A, 200, 200)], [sample(A, 200, 0)]).verdict, 'Verified');
    assert.equal(verdict(all, plan(all), [sample(A, 200, 200)], [sample(A, 200, 2)]).verdict, 'NotVerified', 'one connect of tolerance, not two');
  });
});

describe('the daemon\'s Probe request and output', () => {
  const target = { containerId: 'abc' };

  it('port 0 is the discard port; up to 20 connects run one after another, more 16 at once', () => {
    assert.equal(checkProbe({ target, addresses: ['10.0.0.1'], port: 0, count: 5, timeoutMs: 500 }).port, DEFAULT_PROBE_PORT);
    assert.deepEqual([probeConcurrency(20), probeConcurrency(21)], [1, 16]);
    assert.equal(probeBudgetMs(200, 900), (13 + 1) * 900, '13 rounds of 16 and the uncounted first connect');
    assert.equal(probeBudgetMs(10, 1_000), 11_000);
  });

  it('refuses fields out of bounds', () => {
    const bad = [
      { addresses: [], count: 1, timeoutMs: 1 }, { addresses: ['x'], count: 1, timeoutMs: 1 }, { addresses: ['10.0.0.1'], count: 0, timeoutMs: 1 },
      { addresses: ['10.0.0.1'], count: 1.5, timeoutMs: 1 }, { addresses: ['10.0.0.1'], count: 1, timeoutMs: 0 }, { addresses: ['10.0.0.1', '10.0.0.1'], count: 1, timeoutMs: 1 },
    ];
    for (const fields of bad) assert.throws(() => checkProbe({ target, port: 0, ...fields }), (e: unknown) => e instanceof DaemonError && e.code === 'invalid', JSON.stringify(fields));
  });

  it('reads the probe script\'s output only when it lists every address asked, in order', () => {
    const asked = checkProbe({ target, addresses: ['10.0.0.1', '10.0.0.2'], port: 0, count: 2, timeoutMs: 100 });
    const line = (address: string, answered: number): string => JSON.stringify({ address, sent: 2, answered, rttUs: Array.from({ length: answered }, () => 300) });
    assert.deepEqual(parseProbeOutput(`[${line('10.0.0.1', 2)},${line('10.0.0.2', 0)}]`, asked).map((l) => l.answered), [2, 0]);
    for (const output of ['', 'nope', `[${line('10.0.0.1', 2)}]`, `[${line('10.0.0.2', 2)},${line('10.0.0.1', 2)}]`]) {
      assert.throws(() => parseProbeOutput(output, asked), DaemonError, output);
    }
  });
});
