/**
 * The access checks a plan asks of the apiserver (SelfSubjectAccessReview), made from the kind's `requesterAccess`
 * (src/api) as the admission policy makes them: one per namespace a pod selector reaches, one with no namespace for
 * a cluster-wide check, and those with `onlyWhen` only for the specs their condition holds for.
 */
import { chaosApi } from '../../api/group.ts';
import { selectedNamespaces } from '../../controller/targets/pod-selection.ts';
import type { AnyChaos } from '../experiments.ts';

export interface AccessAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  /** Empty: cluster-wide. */
  namespace: string;
  /** Set when the check has an onlyWhen condition the plan cannot judge: what it is for; it is asked anyway. */
  unsure?: string;
}

/** A comparison of a spec field with a string, the one form of CEL the `onlyWhen` conditions are written in. */
const COMPARISON = /^\s*SPEC((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*(==|!=)\s*'([^'\\]*)'\s*$/;

/**
 * Whether an `onlyWhen` condition holds for a spec: comparisons such as `S.action == 'kubelet-stop'` joined by `||`
 * and `&&` (CEL's precedence: `&&` binds first). Undefined for any other form: the plan does not carry a CEL
 * evaluator, and the apiserver's dry run still applies the condition exactly.
 */
export function conditionHolds(condition: (spec: string) => string, spec: unknown): boolean | undefined {
  const text = condition('SPEC');
  let any = false;
  for (const alternative of text.split('||')) {
    let all = true;
    for (const term of alternative.split('&&')) {
      const match = COMPARISON.exec(term);
      if (match === null) return undefined;
      const [, path = '', operator, literal] = match;
      let value: unknown = spec;
      for (const key of path.slice(1).split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
      // CEL fails on an absent field; the admission policy guards such conditions with has(), which is another form.
      if (typeof value !== 'string') return undefined;
      if ((value === literal) !== (operator === '==')) all = false;
    }
    if (all) any = true;
  }
  return any;
}

/** The checks for one experiment, in the kind's order. */
export function accessChecks(chaos: AnyChaos): AccessAttributes[] {
  const definition = chaosApi.kinds.find((k) => k.kind === chaos.kind);
  const namespace = chaos.metadata.namespace ?? '';
  const out: AccessAttributes[] = [];
  for (const check of definition?.requesterAccess ?? []) {
    const holds = check.onlyWhen === undefined ? true : conditionHolds(check.onlyWhen.condition, chaos.spec);
    if (holds === false) continue;
    const attributes = {
      verb: check.verb, group: check.group, resource: check.resource, ...(check.subresource ? { subresource: check.subresource } : {}),
      ...(holds === undefined && check.onlyWhen ? { unsure: check.onlyWhen.what } : {}),
    };
    if (check.namespacesOf === 'cluster') {
      out.push({ ...attributes, namespace: '' });
      continue;
    }
    // A NodeChaos's selector picks nodes, not namespaces; its checks are all cluster-wide.
    if (chaos.kind === 'NodeChaos') continue;
    const selector = check.namespacesOf === 'spec.target.selector' ? (chaos.kind === 'NetworkChaos' ? chaos.spec.target?.selector : undefined) : chaos.spec.selector;
    if (selector === undefined) continue;
    for (const ns of selectedNamespaces(selector, namespace)) out.push({ ...attributes, namespace: ns });
  }
  return out;
}
