/**
 * The ValidatingAdmissionPolicy that makes kerris do only what its requester
 * could do by hand: creating a chaos object is allowed only if its creator
 * passes each of the kind's `requesterAccess` checks in every namespace the
 * selector reaches. The apiserver evaluates it with its own authorizer (no
 * webhook to run or secure), so the controller's wide rights never stand in
 * for the requester's.
 */
import { stringify } from 'yaml';
import { generatedHeader } from './crd.ts';
import { resourceMetadata, type AccessCheck, type ApiGroupVersion, type KindDefinition } from './resource.ts';

export const REQUESTER_ACCESS_POLICY = 'kerris-requester-access';

/**
 * The namespaces a pod selector reaches, as CEL: `pods`' keys when it names pods, else `namespaces`, else the
 * object's own. The controller's selectedNamespaces() applies the same rule, and only there may it pick targets.
 */
const REACHED_NAMESPACES = [
  'has(object.spec.selector.pods) && size(object.spec.selector.pods) > 0 ? object.spec.selector.pods.map(ns, ns)',
  ': has(object.spec.selector.namespaces) && size(object.spec.selector.namespaces) > 0 ? object.spec.selector.namespaces',
  ': [request.namespace]',
].join(' ');

function authorizerCall(check: AccessCheck): string {
  const subresource = check.subresource === undefined ? '' : `.subresource('${check.subresource}')`;
  return `authorizer.group('${check.group}').resource('${check.resource}')${subresource}.namespace(ns).check('${check.verb}').allowed()`;
}

function describe(check: AccessCheck): string {
  return `${check.verb} ${check.resource}${check.subresource === undefined ? '' : `/${check.subresource}`}`;
}

function validations(kind: KindDefinition): object[] {
  return kind.requesterAccess.map((check) => ({
    expression: `request.kind.kind != '${kind.kind}' || variables.namespaces.all(ns, ${authorizerCall(check)})`,
    // A message expression has no authorizer (not even through a variable), so it names every namespace reached.
    messageExpression: `'you may not ${describe(check)} in every namespace this ${kind.kind} reaches (' + variables.namespaces.join(', ') + '); kerris does only what its requester could do by hand'`,
    reason: 'Forbidden',
  }));
}

export function requesterAccessPolicy(api: ApiGroupVersion): string {
  const policy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: REQUESTER_ACCESS_POLICY, labels: { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'admission' } },
    spec: {
      failurePolicy: 'Fail',
      // Only creation: every spec field but `paused` is immutable (CEL in the CRDs), and pausing only takes faults away.
      matchConstraints: {
        resourceRules: [{ apiGroups: [api.group], apiVersions: [api.version], operations: ['CREATE'], resources: api.kinds.map((k) => resourceMetadata(api, k).plural) }],
      },
      variables: [{ name: 'namespaces', expression: REACHED_NAMESPACES }],
      validations: api.kinds.flatMap(validations),
    },
  };
  const binding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: REQUESTER_ACCESS_POLICY, labels: { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'admission' } },
    spec: { policyName: REQUESTER_ACCESS_POLICY, validationActions: ['Deny'] },
  };
  const yaml = (doc: object) => stringify(doc, { lineWidth: 0, indent: 2 });
  return `# ${generatedHeader}\n${yaml(policy)}---\n${yaml(binding)}`;
}
