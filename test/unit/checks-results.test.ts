/**
 * How the evaluators read what they get: Prometheus query answers of every shape (vector, scalar, matrix, errors,
 * NaN and infinities, garbage), HTTP status code criteria, and the clipping of what goes into a status record.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseStatusCodes, StatusCodeSyntaxError } from '../../src/controller/checks/http.ts';
import { clip, MAX_OBSERVED, outcome } from '../../src/controller/checks/outcome.ts';
import { judgeQueryResponse, parseSampleValue, queryUrl, samplesOf, seriesName } from '../../src/controller/checks/prometheus.ts';

const vector = (...samples: [Record<string, string>, string][]) => JSON.stringify({
  status: 'success',
  data: { resultType: 'vector', result: samples.map(([metric, value]) => ({ metric, value: [1764600000.123, value] })) },
});
const atLeastOne = { operator: '>=', value: '1' } as const;

describe('Prometheus answers', () => {
  it('passes when every sample of a vector satisfies the comparison, and names the first that does not', () => {
    const up = judgeQueryResponse(200, vector([{ __name__: 'probe_success', target: 'http://a/' }, '1'], [{ __name__: 'probe_success', target: 'http://b/' }, '1']), atLeastOne);
    assert.deepEqual(up, { ok: true, observed: 'probe_success{target="http://a/"} = 1 (2 samples)', message: 'every sample (2) is >= 1' });
    const one = judgeQueryResponse(200, vector([{ target: 'http://a/' }, '1'], [{ target: 'http://b/' }, '0']), atLeastOne);
    assert.deepEqual(one, { ok: false, observed: '{target="http://b/"} = 0 (2 samples)', message: '1 of 2 samples fail >= 1: {target="http://b/"} = 0' });
  });

  it('reads a scalar, fractions and exponents', () => {
    const scalar = JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1764600000, '0.995'] } });
    assert.equal(judgeQueryResponse(200, scalar, { operator: '>', value: '0.99' }).ok, true);
    assert.equal(judgeQueryResponse(200, scalar, { operator: '<', value: '9.9e-1' }).ok, false);
    assert.equal(judgeQueryResponse(200, vector([{}, '2.5e-3']), { operator: '==', value: '0.0025' }).ok, true);
  });

  it('treats NaN as failing every comparison and reads infinities', () => {
    assert.equal(parseSampleValue('+Inf'), Infinity);
    assert.equal(parseSampleValue('-Inf'), -Infinity);
    assert.ok(Number.isNaN(parseSampleValue('NaN')));
    assert.ok(Number.isNaN(parseSampleValue('')));
    const nan = judgeQueryResponse(200, vector([{ job: 'x' }, 'NaN']), { operator: '!=', value: '0' });
    assert.equal(nan.ok, false);
    assert.equal(nan.observed, '{job="x"} = NaN');
    assert.equal(judgeQueryResponse(200, vector([{}, '+Inf']), { operator: '>', value: '1e300' }).observed, '{} = +Inf');
  });

  it('fails on an empty result, naming the comparison', () => {
    assert.deepEqual(judgeQueryResponse(200, vector(), atLeastOne), { ok: false, observed: 'no samples', message: 'the query returned no samples, so nothing shows >= 1' });
  });

  it('fails on answers it cannot read, with the reason', () => {
    const refused = JSON.stringify({ status: 'error', errorType: 'bad_data', error: '1:14: parse error: unexpected end of input' });
    assert.deepEqual(judgeQueryResponse(400, refused, atLeastOne), { ok: false, observed: 'HTTP 400', message: 'Prometheus refused the query: bad_data: 1:14: parse error: unexpected end of input' });
    assert.deepEqual(judgeQueryResponse(502, '<html>Bad Gateway</html>', atLeastOne), { ok: false, observed: 'HTTP 502', message: 'Prometheus answered HTTP 502 with a body that is not JSON: <html>Bad Gateway</html>' });
    const matrix = JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } });
    assert.match(judgeQueryResponse(200, matrix, atLeastOne).message, /^the result is a "matrix", not a vector or a scalar/);
    assert.equal(samplesOf([]), 'the answer is not a JSON object');
    assert.equal(samplesOf({ status: 'success' }), 'the answer has no data object');
    assert.equal(samplesOf({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1, 2] }] } }), 'a point is not [time, "value"]');
    assert.equal(samplesOf({ status: 'success', data: { resultType: 'vector', result: {} } }), 'a vector result is not a list');
    assert.equal(judgeQueryResponse(200, JSON.stringify({ status: 'weird' }), atLeastOne).observed, 'unreadable result');
  });

  it('names series as PromQL writes them, labels sorted', () => {
    assert.equal(seriesName({ __name__: 'up', job: 'b', instance: 'a' }), 'up{instance="a",job="b"}');
    assert.equal(seriesName({ __name__: 'up' }), 'up');
    assert.equal(seriesName({}), '{}');
    assert.equal(seriesName({ path: 'say "hi"' }), '{path="say \\"hi\\""}');
  });

  it('asks <url>/api/v1/query, keeping a path prefix', () => {
    assert.equal(queryUrl('http://prom:9090', 'up == 1').toString(), 'http://prom:9090/api/v1/query?query=up+%3D%3D+1');
    assert.equal(queryUrl('https://gw.example/prometheus/', 'up').toString(), 'https://gw.example/prometheus/api/v1/query?query=up');
  });
});

describe('HTTP status code criteria', () => {
  it('reads a code and an inclusive range, as Chaos Mesh writes them', () => {
    assert.deepEqual(parseStatusCodes('200'), { min: 200, max: 200 });
    assert.deepEqual(parseStatusCodes('200-399'), { min: 200, max: 399 });
  });

  it('refuses anything else', () => {
    for (const bad of ['', '2xx', '200-', '-200', '0', '1000', '400-200', '200,201']) assert.throws(() => parseStatusCodes(bad), StatusCodeSyntaxError, bad);
  });
});

describe('outcomes', () => {
  it('clip what they observe to fit a status record, marking the cut', () => {
    const long = outcome(false, 'x'.repeat(1000), 'y'.repeat(1000));
    assert.equal(long.observed.length, MAX_OBSERVED);
    assert.ok(long.observed.endsWith('…'));
    assert.equal(clip('short', 10), 'short');
  });
});
