/**
 * The one entry point every check goes through, for StatusCheck and for guards alike. It never throws for a failing
 * target: a refused connection, a 503, an empty query result or a missing Deployment is an outcome with ok false.
 */
import type { HttpCheck, KubernetesCheck, PrometheusCheck } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import { evaluateHttp } from './http.ts';
import { evaluateKubernetes } from './kubernetes.ts';
import { failure, type CheckOutcome } from './outcome.ts';
import { evaluatePrometheus } from './prometheus.ts';

export type { CheckOutcome } from './outcome.ts';

/** One check: exactly one of the three fields, as the schema (src/api/checks.ts) admits it. */
export interface CheckSource {
  readonly http?: HttpCheck | undefined;
  readonly prometheus?: PrometheusCheck | undefined;
  readonly kubernetes?: KubernetesCheck | undefined;
}

export interface CheckContext {
  /** Reads the Kubernetes checks' objects, with the controller's rights. */
  readonly kube: KubeClient;
  /** The namespace of the object holding the check: where a Kubernetes check looks when it names none. */
  readonly namespace: string;
  /** How long one evaluation may take; longer is a failure (`no response`). */
  readonly timeoutMs: number;
  /** Stops an evaluation early, e.g. when the controller shuts down. */
  readonly signal?: AbortSignal | undefined;
}

export async function evaluateCheck(check: CheckSource, context: CheckContext): Promise<CheckOutcome> {
  if (check.http !== undefined) return evaluateHttp(check.http, context.timeoutMs, context.signal);
  if (check.prometheus !== undefined) return evaluatePrometheus(check.prometheus, context.timeoutMs, context.signal);
  if (check.kubernetes !== undefined) return evaluateKubernetes(context.kube, check.kubernetes, context.namespace, context.timeoutMs, context.signal);
  return failure('invalid check', 'the check has none of http, prometheus and kubernetes');
}
