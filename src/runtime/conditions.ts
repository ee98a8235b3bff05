/**
 * Status conditions (metav1.Condition): setting one keeps its
 * lastTransitionTime unless its status changes, so the time says when the
 * state last flipped, not when it was last written.
 */
import { formatTime } from '../kube/time.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

const TYPE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

/** The rules the apiserver applies to metav1.Condition, checked before anything is sent. */
export function validateCondition(condition: ConditionUpdate): void {
  if (condition.type.length > 316 || !TYPE.test(condition.type)) throw new Error(`condition type ${JSON.stringify(condition.type)} is not a qualified name`);
  if (condition.reason.length > 1024 || !REASON.test(condition.reason)) throw new Error(`condition reason ${JSON.stringify(condition.reason)} is not CamelCase (letters, digits, _ , :)`);
  if (condition.message.length > 32_768) throw new Error(`condition ${condition.type} message is longer than 32768 characters`);
  if (condition.observedGeneration !== undefined && (!Number.isInteger(condition.observedGeneration) || condition.observedGeneration < 0)) {
    throw new Error(`condition ${condition.type} observedGeneration ${condition.observedGeneration} is not a non-negative integer`);
  }
}

/** A new list with the condition set; the others keep their order. */
export function setCondition(conditions: readonly Condition[] | undefined, update: ConditionUpdate, nowMs: number = Date.now()): Condition[] {
  validateCondition(update);
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === update.type);
  const existing = index >= 0 ? list[index] : undefined;
  const lastTransitionTime = existing && existing.status === update.status ? existing.lastTransitionTime : formatTime(nowMs);
  const next: Condition = { ...update, lastTransitionTime };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}
