/**
 * One check of a service's steady state, shared by StatusCheck (statuscheck.ts) and by the guards every chaos kind
 * carries: Chaos Mesh's HTTP check under its own field names, plus kerris's Prometheus query and Kubernetes checks.
 * The evaluators in src/controller/checks run them; an object the apiserver admits never fails there for its shape.
 */
import { celRegex, dnsLabel, dnsSubdomain } from './common.ts';
import {
  array, enumeration, integer, map, message, messageExpression, object, optional, required, string,
  type CelRule, type Field, type ObjectSchema, type StringSchema,
} from './schema.ts';

export const MAX_URL_LENGTH = 2048;
export const MAX_HTTP_HEADERS = 32;
export const MAX_HTTP_HEADER_VALUES = 8;
export const MAX_HTTP_BODY_LENGTH = 16384;
export const MAX_PROMQL_LENGTH = 4096;

/** A status code, or an inclusive range of them, as Chaos Mesh writes it: `200`, `200-399`. */
export const statusCodePattern = '^[0-9]{1,3}(-[0-9]{1,3})?$';
/** A decimal number as Prometheus prints one, so the comparison reads it without loss: `1`, `-0.5`, `2.5e-3`. */
export const decimalPattern = '^-?[0-9]{1,20}(\\.[0-9]{1,17})?([eE][-+]?[0-9]{1,3})?$';
/** An HTTP header name (an RFC 9110 token); the quote is written \x27, since a CEL string literal cannot hold it bare. */
export const headerNamePattern = '^[!#$%&\\x27*+.^_`|~0-9A-Za-z-]+$';

const quoted = (expression: string) => `'"' + ${expression} + '"'`;

/** An absolute http(s) URL with a host: the evaluators never open any other scheme. */
function httpUrl(description: string): StringSchema {
  return string(description, {
    minLength: 1,
    maxLength: MAX_URL_LENGTH,
    rules: [
      {
        rule: "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHost() != ''",
        message: messageExpression(
          `'must be an absolute http:// or https:// URL with a host, such as "http://web.shop.svc:8080/healthz", got ' + ${quoted('self')}`,
          'must be an absolute http:// or https:// URL with a host, such as "http://web.shop.svc:8080/healthz", got "<url>"',
        ),
      },
    ],
  });
}

const statusCode = string(
  'The status codes that count as success: one code (`200`) or an inclusive range (`200-399`, both ends included), as in Chaos Mesh.',
  {
    maxLength: 7,
    rules: [
      {
        rule: `self.matches(${celRegex(statusCodePattern)})`,
        message: messageExpression(`'must be a status code such as "200" or an inclusive range such as "200-399", got ' + ${quoted('self')}`, 'must be a status code such as "200" or an inclusive range such as "200-399", got "<statusCode>"'),
      },
      {
        rule: `!self.matches(${celRegex(statusCodePattern)}) || self.split('-').all(code, int(code) >= 1 && int(code) <= 999)`,
        message: messageExpression(`'status codes run from 1 to 999, got ' + ${quoted('self')}`, 'status codes run from 1 to 999, got "<statusCode>"'),
      },
      {
        rule: `!self.matches(${celRegex(statusCodePattern)}) || !self.contains('-') || int(self.split('-')[0]) <= int(self.split('-')[1])`,
        message: messageExpression(`'a range goes from the lower code to the higher, e.g. "200-399", got ' + ${quoted('self')}`, 'a range goes from the lower code to the higher, e.g. "200-399", got "<statusCode>"'),
      },
    ],
  },
);

export const httpCheck: ObjectSchema = object('HttpCheck', 'An HTTP request and the status codes that count as success, as in Chaos Mesh. The controller sends it; redirects are not followed (a 3xx is judged by its own code).', {
  url: required(httpUrl('The URL requested, `http://` or `https://`. The controller sends the request from its own pod, so a Service name resolves as it does there.')),
  method: optional(enumeration('HttpCheckMethod', 'The request method: `GET` (when omitted) or `POST`.', ['GET', 'POST'])),
  headers: optional(map(
    'Request headers, each with its values, as Go\'s `http.Header` (Chaos Mesh\'s shape): `headers: {Authorization: ["Bearer ..."]}`.',
    array('The header\'s values, sent in order.', string('One header value.', { maxLength: 1024 }), { minItems: 1, maxItems: MAX_HTTP_HEADER_VALUES }),
    {
      maxProperties: MAX_HTTP_HEADERS,
      keyDescription: 'header names (RFC 9110 tokens)',
      rules: [{
        rule: `self.all(name, name.matches(${celRegex(headerNamePattern)}))`,
        message: message('header names must be HTTP tokens: letters, digits and !#$%&\'*+.^_`|~-, no spaces or colons'),
      }],
    },
  )),
  body: optional(string('The request body, sent as it is, with either method (as Chaos Mesh sends it).', { maxLength: MAX_HTTP_BODY_LENGTH })),
  criteria: required(object('HttpCriteria', 'How a response is judged.', {
    statusCode: required(statusCode),
  })),
});

const comparisonOperator = enumeration(
  'ComparisonOperator',
  'How each sample\'s value is compared with `value`: `<`, `<=`, `>`, `>=`, `==` or `!=`.',
  ['<', '<=', '>', '>=', '==', '!='],
);

export const prometheusCheck: ObjectSchema = object('PrometheusCheck', 'An instant PromQL query and a comparison every sample of its result must satisfy.', {
  url: required(httpUrl('The Prometheus server, e.g. `http://prometheus.monitoring.svc:9090` (a path prefix, as behind a proxy, is kept). The controller asks `<url>/api/v1/query`.')),
  query: required(string('An instant PromQL query, evaluated at the time of the check, e.g. `probe_success{job="shop"}`. Its result is a vector or a scalar.', { minLength: 1, maxLength: MAX_PROMQL_LENGTH })),
  comparison: required(object('PrometheusComparison', 'The comparison each sample must satisfy: `<sample> <operator> <value>`.', {
    operator: required(comparisonOperator),
    value: required(string('The number compared with, as a string so any decimal survives YAML unchanged: `"1"`, `"0.99"`, `"2.5e-3"`.', {
      maxLength: 48,
      rules: [{
        rule: `self.matches(${celRegex(decimalPattern)})`,
        message: messageExpression(`'must be a decimal number such as "1", "0.99" or "2.5e-3", got ' + ${quoted('self')}`, 'must be a decimal number such as "1", "0.99" or "2.5e-3", got "<value>"'),
      }],
    })),
  })),
});

const workloadCheck = object('WorkloadCheck', 'A workload that must keep at least `minAvailable` replicas available.', {
  kind: required(enumeration('WorkloadKind', 'The workload\'s kind (group `apps`): `Deployment`, `StatefulSet` or `DaemonSet`.', ['Deployment', 'StatefulSet', 'DaemonSet'])),
  name: required(dnsSubdomain('The workload\'s name.')),
  namespace: optional(dnsLabel('The workload\'s namespace; the namespace of the object holding the check when omitted.')),
  minAvailable: required(integer('How many replicas must be available: `status.availableReplicas` of a Deployment or StatefulSet, `status.numberAvailable` of a DaemonSet.', { format: 'int32', minimum: 1, maximum: 100000 })),
});

/** A Kubernetes condition type: a CamelCase word, optionally with a DNS-subdomain prefix. */
const conditionTypePattern = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';

const conditionCheck = object('ConditionCheck', 'A condition of any object, which must have the given status: e.g. a Deployment\'s `Available` is `True`, a Node\'s `Ready` is `True`.', {
  apiVersion: required(string('The object\'s apiVersion: `v1`, `apps/v1`, `cert-manager.io/v1`.', { pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?v[0-9]+((alpha|beta)[0-9]+)?$', maxLength: 317 })),
  kind: required(string('The object\'s kind, e.g. `Deployment`.', { pattern: '^[A-Z][A-Za-z0-9]*$', maxLength: 63 })),
  name: required(string('The object\'s name.', { pattern: '^[^/]+$', minLength: 1, maxLength: 253 })),
  namespace: optional(dnsLabel('The object\'s namespace, for a namespaced kind; the namespace of the object holding the check when omitted. Must be omitted for a cluster-scoped kind (Node).')),
  type: required(string('The condition\'s type, e.g. `Available` or `Ready`.', { pattern: conditionTypePattern, maxLength: 316 })),
  status: required(enumeration('ConditionStatus', 'The status the condition must have.', ['True', 'False', 'Unknown'])),
});

export const kubernetesCheck: ObjectSchema = object(
  'KubernetesCheck',
  'A check of objects in the cluster, read by the controller: `workload` or `condition`, exactly one.',
  {
    workload: optional(workloadCheck),
    condition: optional(conditionCheck),
  },
  [{
    rule: '(has(self.workload) ? 1 : 0) + (has(self.condition) ? 1 : 0) == 1',
    message: message('give exactly one of workload and condition'),
    reason: 'FieldValueRequired',
  }],
);

/** The three kinds of check, one field each: StatusCheck's spec has them inline (as Chaos Mesh has `http`), a guard holds them too. */
export const checkFields: Readonly<Record<string, Field>> = {
  http: optional(httpCheck),
  prometheus: optional(prometheusCheck),
  kubernetes: optional(kubernetesCheck),
};

/** The one rule over checkFields: exactly one is given. */
export const checkRules: readonly CelRule[] = [{
  rule: '(has(self.http) ? 1 : 0) + (has(self.prometheus) ? 1 : 0) + (has(self.kubernetes) ? 1 : 0) == 1',
  message: message('give exactly one of http, prometheus and kubernetes'),
  reason: 'FieldValueRequired',
}];

/** One check as an object of its own, for lists of them (guards). */
export const check: ObjectSchema = object('Check', 'One check of the steady state: exactly one of `http`, `prometheus` and `kubernetes`.', checkFields, checkRules);
