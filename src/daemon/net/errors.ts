/** Why a set of network faults cannot be planned; each is raised before any command runs. */

/** The node lacks a kernel feature or tool a fault needs; the whole set is rejected, never half-applied. */
export class UnsupportedFaultError extends Error {
  override name = 'UnsupportedFaultError';
  readonly node: string;
  /** One line per missing feature, e.g. "kernel has no sch_netem: delay unavailable on node X". */
  readonly reasons: readonly string[];
  constructor(node: string, reasons: readonly string[]) {
    super(reasons.join('; '));
    this.node = node;
    this.reasons = reasons;
  }
}

/**
 * The target's namespace holds state in the way: traffic control state that kerris did not create, or kerris's own
 * tree or nftables table, another injection's or a leftover.
 */
export class ForeignStateError extends Error {
  override name = 'ForeignStateError';
  /** What is in the way: a device, an IFB, or the table (`inet kerris`). */
  readonly subject: string;
  constructor(subject: string, message: string) {
    super(message);
    this.subject = subject;
  }
}

/** The faults contradict each other or the target (two delays on one scope, an unknown device). */
export class FaultConflictError extends Error {
  override name = 'FaultConflictError';
}
