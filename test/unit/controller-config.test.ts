import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/controller/config.ts';

describe('controller configuration', () => {
  it('protects kube-system and its own namespace by default, and elects a leader', () => {
    const config = parseConfig([], { POD_NAMESPACE: 'chaos-ops', POD_NAME: 'kerris-controller-abc' });
    assert.deepEqual([...config.protectedNamespaces].sort(), ['chaos-ops', 'kube-system']);
    assert.equal(config.requireOptIn, false);
    assert.equal(config.leaderElection, true);
    assert.equal(config.identity, 'kerris-controller-abc');
    assert.equal(config.namespace, 'chaos-ops');
  });

  it('lifts a protection only when asked by name, and turns on opt-in mode', () => {
    const config = parseConfig(['--allow-protected-namespace', 'kube-system', '--require-opt-in', '--no-leader-elect'], {});
    assert.deepEqual([...config.protectedNamespaces], ['kerris-system']);
    assert.equal(config.requireOptIn, true);
    assert.equal(config.leaderElection, false);
  });

  it('refuses bad values and unknown flags with a clear error', () => {
    assert.throws(() => parseConfig(['--health-port', '70000'], {}), ConfigError);
    assert.throws(() => parseConfig(['--concurrency', '0'], {}), ConfigError);
    assert.throws(() => parseConfig(['--namespace', 'Bad_Name'], {}), ConfigError);
    assert.throws(() => parseConfig(['--protect-nothing'], {}), /Unknown option/);
    assert.throws(() => parseConfig(['--daemon-lease-ttl', '1s'], {}), /from 3s to 600s/);
    assert.throws(() => parseConfig(['--daemon-lease-ttl', '10m'], {}), /whole seconds/);
    assert.throws(() => parseConfig(['--certificates', 'none'], {}), /controller or external/);
    assert.throws(() => parseConfig(['--max-targets', '0'], {}), /from 1 to 100000/);
  });

  it('keeps faults under a 10 s daemon lease and issues the daemon certificates itself by default', () => {
    const config = parseConfig([], {});
    assert.equal(config.daemonLeaseTtlMs, 10_000);
    assert.equal(config.certificates, 'controller');
    assert.equal(config.maxTargets, 1000);
    assert.equal(parseConfig(['--daemon-lease-ttl', '30s', '--certificates', 'external'], {}).daemonLeaseTtlMs, 30_000);
  });
});
