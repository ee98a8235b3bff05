/** What one evaluation of a check found: a failing target is an outcome like any other, never an exception. */
export interface CheckOutcome {
  readonly ok: boolean;
  /** What was seen, short enough for a status record (at most 256 characters): `HTTP 503`, `availableReplicas 1`. */
  readonly observed: string;
  /** Why it passed or failed, for people (at most 512 characters). */
  readonly message: string;
}

export const MAX_OBSERVED = 256;
export const MAX_MESSAGE = 512;

/** Cuts text to fit a status field, marking the cut so nobody mistakes it for the whole. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function outcome(ok: boolean, observed: string, message: string): CheckOutcome {
  return { ok, observed: clip(observed, MAX_OBSERVED), message: clip(message, MAX_MESSAGE) };
}

export const failure = (observed: string, message: string): CheckOutcome => outcome(false, observed, message);
