/** What went wrong with a request, as the API reports it to the controller. */
export type ErrorCode = 'invalid' | 'conflict' | 'not-found' | 'unavailable' | 'failed';

/** An error the daemon reports about one injection or request; `code` decides the API status. */
export class DaemonError extends Error {
  override name = 'DaemonError';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function errorCode(error: unknown): ErrorCode {
  return error instanceof DaemonError ? error.code : 'failed';
}
