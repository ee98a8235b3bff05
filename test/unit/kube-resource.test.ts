import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError, isConflict, isGone, isNotFound } from '../../src/kube/errors.ts';
import { defineResource, resourcePath } from '../../src/kube/resource.ts';
import { configMaps, leases, namespaces } from '../../src/kube/resources.ts';
import { formatMicroTime, formatTime, parseTime } from '../../src/kube/time.ts';
import type { KubeObject } from '../../src/kube/types.ts';

describe('resource paths', () => {
  it('addresses core and group resources, collections, objects and subresources', () => {
    assert.equal(resourcePath(configMaps), '/api/v1/configmaps');
    assert.equal(resourcePath(configMaps, { namespace: 'ns' }), '/api/v1/namespaces/ns/configmaps');
    assert.equal(resourcePath(leases, { namespace: 'ns', name: 'lead' }), '/apis/coordination.k8s.io/v1/namespaces/ns/leases/lead');
    assert.equal(resourcePath(namespaces, { name: 'ns' }), '/api/v1/namespaces/ns');
    const chaos = defineResource<KubeObject>({ group: 'kerris.dev', version: 'v1alpha1', plural: 'podchaos', kind: 'PodChaos', namespaced: true });
    assert.equal(resourcePath(chaos, { namespace: 'x', name: 'kill', subresource: 'status' }), '/apis/kerris.dev/v1alpha1/namespaces/x/podchaos/kill/status');
    assert.equal(resourcePath(configMaps, { namespace: 'ns', name: 'a:b' }), '/api/v1/namespaces/ns/configmaps/a%3Ab');
  });

  it('refuses names and namespaces that would change the path', () => {
    for (const name of ['', '.', '..', 'a/b', 'a%2Fb', 'a b']) assert.throws(() => resourcePath(configMaps, { namespace: 'ns', name }), /not a valid path segment/);
    for (const namespace of ['..', 'A', 'a/b', '-a']) assert.throws(() => resourcePath(configMaps, { namespace }), /DNS label/);
    assert.throws(() => resourcePath(namespaces, { namespace: 'x' }), /cluster-scoped/);
    assert.throws(() => resourcePath(configMaps, { namespace: 'x', name: 'y', subresource: '../x' }), /subresource/);
    assert.throws(() => defineResource({ group: 'bad/group', version: 'v1', plural: 'x', kind: 'X', namespaced: true }), /DNS/);
  });
});

describe('API errors', () => {
  it('takes reason, message and details from a Status body', () => {
    const error = ApiError.fromResponse(409, JSON.stringify({ kind: 'Status', code: 409, reason: 'Conflict', message: 'changed', details: { name: 'x', kind: 'configmaps' } }), { method: 'PUT', path: '/p' });
    assert.equal(error.status, 409);
    assert.equal(error.reason, 'Conflict');
    assert.deepEqual(error.details, { name: 'x', kind: 'configmaps' });
    assert.match(error.message, /^PUT \/p: 409 Conflict: changed$/);
    assert.ok(isConflict(error));
  });

  it('derives the reason from the status when the body is not a Status', () => {
    const error = ApiError.fromResponse(410, 'gone away');
    assert.equal(error.reason, 'Gone');
    assert.ok(isGone(error));
    assert.ok(!isNotFound(error));
    assert.equal(ApiError.fromResponse(422, '').reason, 'Invalid');
  });
});

describe('time formats', () => {
  it('writes MicroTime with exactly six fraction digits and Time to the second', () => {
    const ms = Date.UTC(2026, 10, 25, 20, 1, 2, 123);
    assert.equal(formatMicroTime(ms + 0.456), '2026-11-25T20:01:02.123456Z');
    assert.equal(formatMicroTime(ms), '2026-11-25T20:01:02.123000Z');
    assert.equal(formatTime(ms), '2026-11-25T20:01:02Z');
  });

  it('reads RFC 3339 times with any fraction and offset', () => {
    const ms = Date.UTC(2026, 10, 25, 20, 1, 2, 123);
    assert.equal(Math.round(parseTime('2026-11-25T20:01:02.123456Z') * 1000), (ms + 0.456) * 1000);
    assert.equal(parseTime('2026-11-25T21:01:02.123+01:00'), ms);
    assert.equal(parseTime('2026-11-25T20:01:02Z'), ms - 123);
    assert.throws(() => parseTime('yesterday'), /RFC 3339/);
  });
});
