/** What a reconcile asks for next. */

/** Reconcile again after a delay, or only when a watched object changes. */
export type Action = { readonly requeueAfterMs: number } | { readonly awaitChange: true };

/** What an error policy asks for: an Action, or the work queue's per-key exponential backoff. */
export type ErrorAction = Action | { readonly backoff: true };

export function requeueAfter(ms: number): Action {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`requeue delay ${ms} ms is not a finite non-negative number`);
  return { requeueAfterMs: ms };
}

export const awaitChange = (): Action => ({ awaitChange: true });

export const retryWithBackoff = (): ErrorAction => ({ backoff: true });

export const describeAction = (action: ErrorAction): string =>
  ('requeueAfterMs' in action ? `requeue after ${action.requeueAfterMs} ms` : 'awaitChange' in action ? 'await change' : 'backoff');
