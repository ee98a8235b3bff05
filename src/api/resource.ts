import type { ObjectSchema } from './schema.ts';

/** A `kubectl get` column. `jsonPath` is relative to the object, e.g. `.status.phase`. */
export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description: string;
  /** 0 shows in `kubectl get`; 1 only in `kubectl get -o wide`. */
  readonly priority?: number;
}

/** A difference a Chaos Mesh user meets when porting a manifest; rendered into docs/api.md. */
export interface Difference {
  readonly topic: string;
  readonly chaosMesh: string;
  readonly kerris: string;
}

/** One custom resource kind: everything the CRD, the TS types and the reference need. */
export interface KindDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** One paragraph for the reference and the CRD's root description. */
  readonly description: string;
  readonly spec: ObjectSchema;
  readonly status: ObjectSchema;
  readonly printerColumns: readonly PrinterColumn[];
  /** Markdown sections (title, body) on how the kind behaves, after the field tables. */
  readonly semantics: readonly { readonly title: string; readonly body: string }[];
  readonly differencesFromChaosMesh: readonly Difference[];
  /**
   * What the person creating an object must be allowed to do by hand, in every namespace its selectors reach:
   * the apiserver checks it at admission (admission.ts), so kerris never does what its requester could not.
   */
  readonly requesterAccess: readonly AccessCheck[];
  /**
   * Specs of other kinds this one embeds, which the controller creates with its own rights (a Schedule's runs, a
   * Workflow's steps): each is held to its own kind's `requesterAccess` when this object is created (admission.ts).
   */
  readonly embeds?: readonly EmbeddedSpec[];
  /** Also check the embedded specs on UPDATE: the spec may change after creation (a Schedule). */
  readonly embedsMutable?: boolean;
  /**
   * The checks (src/api/checks.ts) the controller evaluates for an object of this kind, as CEL lists over its spec
   * (`spec` is the CEL path of the spec: `object.spec`, or an embedding's field): a `kubernetes` check reads with the
   * controller's rights, so its creator must be allowed to `get` what it reads (admission.ts).
   */
  readonly checks?: (spec: string) => readonly string[];
}

/** Where a kind embeds another kind's spec. */
export interface EmbeddedSpec {
  /** The embedded kind, whose `requesterAccess` applies. */
  readonly kind: string;
  /** A CEL list over `object` of the objects that may hold the spec, e.g. `object.spec.templates`. */
  readonly holders: string;
  /** The field of each holder with the spec, e.g. `podChaos`. */
  readonly field: string;
  /** How a refusal names the place, e.g. `a template of this Workflow`. */
  readonly place: string;
}

/**
 * The pod selectors of a spec whose namespaces an access check covers: `spec.selector` picks the pods a fault
 * lands on; `spec.target.selector` picks NetworkChaos's peers, which are only looked at.
 */
export type SelectorPath = 'spec.selector' | 'spec.target.selector';

/** One authorization check, as `kubectl auth can-i <verb> <resource>[/<subresource>] -n <namespace>` asks it. */
export interface AccessCheck {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  /**
   * Whose namespaces the check covers; `spec.selector` when omitted. `cluster`: asked with no namespace, for
   * cluster-scoped resources (nodes) and for acts on whatever namespaces a node runs (a drain's evictions).
   */
  readonly namespacesOf?: SelectorPath | 'cluster';
  /**
   * Asked only of specs this CEL condition holds for (one action of several), with how a refusal names it. A function
   * of the spec's CEL path (`object.spec`, or an embedding's field such as `h.nodeChaos`), so the same condition is
   * asked of the kind's own objects and of every Schedule or Workflow that embeds it.
   */
  readonly onlyWhen?: { readonly condition: (spec: string) => string; readonly what: string };
}

export interface ApiGroupVersion {
  readonly group: string;
  readonly version: string;
  readonly kinds: readonly KindDefinition[];
}

/** What a client needs to address a kind over REST: enough for the controller and the CLI. */
export interface ResourceMetadata {
  readonly group: string;
  readonly version: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly listKind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly namespaced: true;
  /** The CRD's metadata.name. */
  readonly crdName: string;
}

export function resourceMetadata(api: ApiGroupVersion, kind: KindDefinition): ResourceMetadata {
  return {
    group: api.group,
    version: api.version,
    apiVersion: `${api.group}/${api.version}`,
    kind: kind.kind,
    listKind: `${kind.kind}List`,
    plural: kind.plural,
    singular: kind.singular,
    shortNames: kind.shortNames,
    categories: kind.categories,
    namespaced: true,
    crdName: `${kind.plural}.${api.group}`,
  };
}
