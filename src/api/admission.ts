/**
 * The ValidatingAdmissionPolicy that makes kerris do only what its requester
 * could do by hand: creating a chaos object is allowed only if its creator
 * passes each of the kind's `requesterAccess` checks in every namespace the
 * check's selector reaches (the targets', or NetworkChaos's peers'). The apiserver evaluates it with its own authorizer (no
 * webhook to run or secure), so the controller's wide rights never stand in
 * for the requester's.
 */
import { stringify } from 'yaml';
import { generatedHeader } from './crd.ts';
import { resourceMetadata, type AccessCheck, type ApiGroupVersion, type EmbeddedSpec, type KindDefinition, type SelectorPath } from './resource.ts';

export const REQUESTER_ACCESS_POLICY = 'kerris-requester-access';

/** A cluster-scoped object as written to a manifest. */
export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels: Record<string, string> };
  spec: object;
}

/**
 * The namespaces a pod selector reaches, as CEL: `pods`' keys when it names pods, else `namespaces`, else the
 * object's own. The controller's selectedNamespaces() applies the same rule, and only there may it pick targets.
 */
function reachedNamespaces(selector: string): string {
  return [
    `has(${selector}.pods) && size(${selector}.pods) > 0 ? ${selector}.pods.map(ns, ns)`,
    `: has(${selector}.namespaces) && size(${selector}.namespaces) > 0 ? ${selector}.namespaces`,
    ': [request.namespace]',
  ].join(' ');
}

/** One policy variable per selector a check covers; `target` is optional, and reaches no namespace when absent. */
const selectorVariables: Readonly<Record<SelectorPath, { readonly name: string; readonly expression: string; readonly reaches: string }>> = {
  'spec.selector': { name: 'namespaces', expression: reachedNamespaces('object.spec.selector'), reaches: 'reaches' },
  'spec.target.selector': {
    name: 'targetNamespaces',
    expression: `!has(object.spec.target) ? [] : ${reachedNamespaces('object.spec.target.selector')}`,
    reaches: 'reaches through its target',
  },
};

function authorizerCall(check: AccessCheck): string {
  const subresource = check.subresource === undefined ? '' : `.subresource('${check.subresource}')`;
  // Without a namespace the authorizer asks cluster-wide: what a ClusterRoleBinding grants.
  const namespace = check.namespacesOf === 'cluster' ? '' : '.namespace(ns)';
  return `authorizer.group('${check.group}').resource('${check.resource}')${subresource}${namespace}.check('${check.verb}').allowed()`;
}

function describe(check: AccessCheck): string {
  return `${check.verb} ${check.resource}${check.subresource === undefined ? '' : `/${check.subresource}`}`;
}

/** How a refusal names the action a conditional check is for, e.g. ` (kubelet-stop)`. */
const forAction = (check: AccessCheck): string => (check.onlyWhen === undefined ? '' : ` (${check.onlyWhen.what})`);

/** The CEL that lets an object through a check without asking: another kind, or a spec the check is not for. */
function exempt(kind: KindDefinition, check: AccessCheck): string {
  return `request.kind.kind != '${kind.kind}'${check.onlyWhen === undefined ? '' : ` || !(${check.onlyWhen.condition('object.spec')})`}`;
}

function validations(kind: KindDefinition): object[] {
  return kind.requesterAccess.map((check) => {
    if (check.namespacesOf === 'cluster') {
      return {
        expression: `${exempt(kind, check)} || ${authorizerCall(check)}`,
        message: `you may not ${describe(check)} cluster-wide, as this ${kind.kind}${forAction(check)} needs; kerris does only what its requester could do by hand`,
        reason: 'Forbidden',
      };
    }
    const variable = selectorVariables[check.namespacesOf ?? 'spec.selector'];
    return {
      expression: `${exempt(kind, check)} || variables.${variable.name}.all(ns, ${authorizerCall(check)})`,
      // A message expression has no authorizer (not even through a variable), so it names every namespace reached.
      messageExpression: `'you may not ${describe(check)} in every namespace this ${kind.kind} ${variable.reaches} (' + variables.${variable.name}.join(', ') + '); kerris does only what its requester could do by hand'`,
      reason: 'Forbidden',
    };
  });
}

/** The namespaces an embedded spec's selector reaches, as CEL over `spec` (a holder's field). */
function embeddedNamespaces(spec: string, path: SelectorPath): string {
  return path === 'spec.selector' ? `(${reachedNamespaces(`${spec}.selector`)})` : `(!has(${spec}.target) ? [] : ${reachedNamespaces(`${spec}.target.selector`)})`;
}

/**
 * A Schedule's runs and a Workflow's steps are created by the controller: each embedded spec is held, when its
 * holder is created, to the checks its own kind has, so nobody gets through a Schedule what they could not do directly.
 */
function embeddedValidations(api: ApiGroupVersion, kind: KindDefinition): object[] {
  return (kind.embeds ?? []).flatMap((embedded: EmbeddedSpec) => {
    const target = api.kinds.find((k) => k.kind === embedded.kind);
    if (target === undefined) throw new Error(`${kind.kind} embeds ${embedded.kind}, which the API does not have`);
    return target.requesterAccess.map((check) => {
      const spec = `h.${embedded.field}`;
      const path = check.namespacesOf ?? 'spec.selector';
      // A holder without the kind's field, or whose spec the check is not for, needs nothing.
      const exemptHolder = `!has(${spec})${check.onlyWhen === undefined ? '' : ` || !(${check.onlyWhen.condition(spec)})`}`;
      if (path === 'cluster') {
        // Asked once, not per holder: the authorizer's answer is the same for every one, and each call costs.
        return {
          expression: `request.kind.kind != '${kind.kind}' || ${embedded.holders}.all(h, ${exemptHolder}) || ${authorizerCall(check)}`,
          message: `you may not ${describe(check)} cluster-wide, as ${embedded.place} needs for its ${embedded.field}${forAction(check)}; kerris does only what its requester could do by hand`,
          reason: 'Forbidden',
        };
      }
      return {
        expression: `request.kind.kind != '${kind.kind}' || ${embedded.holders}.all(h, ${exemptHolder} || ${embeddedNamespaces(spec, path)}.all(ns, ${authorizerCall(check)}))`,
        message: `you may not ${describe(check)} in every namespace ${embedded.place} ${selectorVariables[path].reaches} with its ${embedded.field}${forAction(check)}; kerris does only what its requester could do by hand`,
        reason: 'Forbidden',
      };
    });
  });
}

/**
 * CEL over a check `c`: its creator may `get` what a `kubernetes` check reads. A workload's resource is known; a
 * condition's is the kind's lower-case plural by the usual rule (ies, es, s), so a kind with an irregular plural is
 * refused unless its creator may get that name too: refused wrongly, never admitted wrongly. The namespace is the
 * check's, else the object's own; a cluster-scoped object (a Node) is asked with that namespace.
 */
const READS = (() => {
  const w = 'c.kubernetes.workload';
  const k = 'c.kubernetes.condition';
  const kind = `string(${k}.kind).lowerAscii()`;
  const plural = `(${kind}.endsWith('s') || ${kind}.endsWith('x') ? ${kind} + 'es' : ${kind}.endsWith('y') ? ${kind}.substring(0, size(${kind}) - 1) + 'ies' : ${kind} + 's')`;
  const workload = `authorizer.group('apps').resource(${w}.kind == 'Deployment' ? 'deployments' : ${w}.kind == 'StatefulSet' ? 'statefulsets' : 'daemonsets').namespace(has(${w}.namespace) ? ${w}.namespace : request.namespace).check('get').allowed()`;
  const condition = `authorizer.group(${k}.apiVersion.contains('/') ? ${k}.apiVersion.split('/')[0] : '').resource(${plural}).namespace(has(${k}.namespace) ? ${k}.namespace : request.namespace).check('get').allowed()`;
  return `!has(c.kubernetes) || (has(${w}) ? ${workload} : ${condition})`;
})();

const READS_MESSAGE = 'a kubernetes check reads an object you may not get yourself; kerris does only what its requester could do by hand';

/** Every kubernetes check the kind's controller evaluates, directly or in an embedded spec, held to its creator's own read access. */
function checkValidations(api: ApiGroupVersion, kind: KindDefinition): object[] {
  const direct = (kind.checks?.('object.spec') ?? []).map((list) => ({
    expression: `request.kind.kind != '${kind.kind}' || (${list}).all(c, ${READS})`,
    message: READS_MESSAGE,
    reason: 'Forbidden',
  }));
  const embedded = (kind.embeds ?? []).flatMap((e: EmbeddedSpec) => (api.kinds.find((k) => k.kind === e.kind)?.checks?.(`h.${e.field}`) ?? []).map((list) => ({
    expression: `request.kind.kind != '${kind.kind}' || ${e.holders}.all(h, !has(h.${e.field}) || (${list}).all(c, ${READS}))`,
    message: `${READS_MESSAGE} (in ${e.place})`,
    reason: 'Forbidden',
  })));
  return [...direct, ...embedded];
}

/** The variables the checks use, `namespaces` first, so a kind that needs no other selector adds none. */
function variables(api: ApiGroupVersion): object[] {
  const used = new Set<SelectorPath>(['spec.selector']);
  for (const kind of api.kinds) {
    for (const check of kind.requesterAccess) if (check.namespacesOf !== 'cluster') used.add(check.namespacesOf ?? 'spec.selector');
  }
  return [...used].map((path) => ({ name: selectorVariables[path].name, expression: selectorVariables[path].expression }));
}

/** The namespace deploy/ installs kerris in; the Helm chart puts its release namespace in its place. */
export const DEFAULT_KERRIS_NAMESPACE = 'kerris-system';

/**
 * The policy and its binding, as objects: deploy/ writes them as they are, the Helm chart with its own labels.
 * `kerrisNamespace` names the controller's ServiceAccount, whose own creations (a Schedule's runs, a Workflow's steps)
 * the policy does not judge: the specs it creates them from were held to their creator's rights when the Schedule or
 * Workflow was admitted, and judging them again would ask the controller for rights it must not have (pods/exec).
 */
export function requesterAccessObjects(api: ApiGroupVersion, kerrisNamespace = DEFAULT_KERRIS_NAMESPACE): [policy: ManifestObject, binding: ManifestObject] {
  const policy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: REQUESTER_ACCESS_POLICY, labels: { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'admission' } },
    spec: {
      failurePolicy: 'Fail',
      // Only creation: every spec field but `paused` is immutable (CEL in the CRDs), and pausing only takes faults away.
      // Also updates of kinds whose embedded specs may change (a Schedule), which would otherwise widen them unchecked.
      matchConstraints: {
        resourceRules: [
          { apiGroups: [api.group], apiVersions: [api.version], operations: ['CREATE'], resources: api.kinds.filter((k) => k.embedsMutable !== true).map((k) => resourceMetadata(api, k).plural) },
          ...(api.kinds.some((k) => k.embedsMutable === true)
            ? [{ apiGroups: [api.group], apiVersions: [api.version], operations: ['CREATE', 'UPDATE'], resources: api.kinds.filter((k) => k.embedsMutable === true).map((k) => resourceMetadata(api, k).plural) }]
            : []),
        ],
      },
      matchConditions: [{ name: 'not-the-kerris-controller', expression: `request.userInfo.username != 'system:serviceaccount:${kerrisNamespace}:kerris-controller'` }],
      variables: variables(api),
      validations: [...api.kinds.flatMap(validations), ...api.kinds.flatMap((k) => embeddedValidations(api, k)), ...api.kinds.flatMap((k) => checkValidations(api, k))],
    },
  };
  const binding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: REQUESTER_ACCESS_POLICY, labels: { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'admission' } },
    spec: { policyName: REQUESTER_ACCESS_POLICY, validationActions: ['Deny'] },
  };
  return [policy, binding];
}

export function requesterAccessPolicy(api: ApiGroupVersion): string {
  const yaml = (doc: object) => stringify(doc, { lineWidth: 0, indent: 2 });
  return `# ${generatedHeader}\n${requesterAccessObjects(api).map(yaml).join('---\n')}`;
}
