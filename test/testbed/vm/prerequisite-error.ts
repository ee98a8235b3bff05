/** Something the kernel VM needs is not on this machine; the message names what to install or run. */
export class PrerequisiteError extends Error {
  override name = 'PrerequisiteError';
}
