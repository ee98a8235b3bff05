/** The pure parts of exec credential plugins: what a plugin prints, how long its credential is used, what it is told. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execInfo, freshUntil, parseExecCredential, type ExecPlugin } from '../../src/kube/exec-credential.ts';

const V1 = 'client.authentication.k8s.io/v1';
const V1BETA1 = 'client.authentication.k8s.io/v1beta1';
const credential = (status: unknown, apiVersion: string = V1): string => JSON.stringify({ apiVersion, kind: 'ExecCredential', status });

describe('ExecCredential output', () => {
  it('reads a token and its expiry, for v1 and v1beta1', () => {
    for (const apiVersion of [V1, V1BETA1] as const) {
      const parsed = parseExecCredential(credential({ token: 'abc', expirationTimestamp: '2026-12-01T10:00:00Z' }, apiVersion), apiVersion);
      assert.equal(parsed.token, 'abc');
      assert.equal(parsed.expiration?.toISOString(), '2026-12-01T10:00:00.000Z');
      assert.equal(parsed.clientCertificate, undefined);
    }
  });

  it('reads a client certificate given as PEM text, and no expiry', () => {
    const parsed = parseExecCredential(credential({ clientCertificateData: '-----BEGIN CERTIFICATE-----\nA\n', clientKeyData: '-----BEGIN PRIVATE KEY-----\nB\n' }), V1);
    assert.equal(parsed.clientCertificate?.cert.toString(), '-----BEGIN CERTIFICATE-----\nA\n');
    assert.equal(parsed.clientCertificate?.key.toString(), '-----BEGIN PRIVATE KEY-----\nB\n');
    assert.equal(parsed.token, undefined);
    assert.equal(parsed.expiration, undefined);
  });

  it('says what is wrong with output it cannot use', () => {
    const cases: Array<[string, RegExp]> = [
      ['Please log in', /its output is not JSON: "Please log in"/],
      ['[]', /not a JSON object/],
      [JSON.stringify({ apiVersion: V1, kind: 'Status' }), /printed kind "Status", not ExecCredential/],
      [credential({ token: 't' }, V1BETA1), /configured for client\.authentication\.k8s\.io\/v1 but printed apiVersion "client\.authentication\.k8s\.io\/v1beta1"/],
      [JSON.stringify({ apiVersion: V1, kind: 'ExecCredential' }), /has no status/],
      [credential({}), /neither a token nor clientCertificateData and clientKeyData/],
      [credential({ clientCertificateData: 'C' }), /clientCertificateData without clientKeyData/],
      [credential({ token: 't', expirationTimestamp: 'soon' }), /expirationTimestamp "soon" is not a time/],
      [credential({ token: 7 }), /status\.token is not a string/],
    ];
    for (const [output, message] of cases) assert.throws(() => parseExecCredential(output, V1), message, output);
  });
});

describe('how long a plugin credential is used', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');

  it('until its expiry less 10 s for a long-lived credential', () => {
    assert.equal(freshUntil(new Date(now + 3_600_000), now), now + 3_600_000 - 10_000);
  });

  it('less a tenth of the lifetime left for a short one, so it is still used', () => {
    assert.equal(freshUntil(new Date(now + 4_000), now), now + 4_000 - 400);
  });

  it('not again when it came already expired, and until a 401 when it has no expiry', () => {
    assert.equal(freshUntil(new Date(now - 1_000), now), now - 1_000);
    assert.equal(freshUntil(undefined, now), Number.POSITIVE_INFINITY);
  });
});

describe('KUBERNETES_EXEC_INFO', () => {
  const plugin: ExecPlugin = { apiVersion: V1, command: 'p', args: [], env: [], installHint: undefined, cluster: undefined, user: 'u', source: 'k' };

  it('says the session is not interactive, and carries the cluster only when asked for', () => {
    assert.deepEqual(JSON.parse(execInfo(plugin)), { apiVersion: V1, kind: 'ExecCredential', spec: { interactive: false } });
    const cluster = { server: 'https://h:6443', 'certificate-authority-data': 'Q0E=' };
    assert.deepEqual(JSON.parse(execInfo({ ...plugin, cluster })), { apiVersion: V1, kind: 'ExecCredential', spec: { interactive: false, cluster } });
  });
});
