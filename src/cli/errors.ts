/** Errors the CLI reports to people, each with the exit code it ends with (docs/cli.md). */

/** Exit codes, as kubectl's plugins use them: 0 done, 1 failed, 2 misused; kerris adds 3 for a verdict against. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unsafe: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode = EXIT.failed, options?: ErrorOptions) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/** A command used wrongly: an unknown kind, a bad flag value. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}
