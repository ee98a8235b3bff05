import { isStatus, type StatusDetails } from './types.ts';

/** The reasons kerris acts on; the apiserver may send others, kept verbatim. */
export type StatusReason =
  | 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Gone' | 'Expired'
  | 'Invalid' | 'TooManyRequests' | 'InternalError' | 'ServiceUnavailable' | 'Timeout' | 'MethodNotAllowed'
  | 'UnsupportedMediaType' | 'RequestEntityTooLarge' | 'Unknown';

/** Where a failed request went, for error messages. */
export interface RequestContext {
  method: string;
  path: string;
}

const REASON_BY_STATUS: Readonly<Record<number, StatusReason>> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict',
  410: 'Gone', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests',
  500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
};

/**
 * The apiserver answered with an error status. `reason` is the metav1.Status
 * reason when the body carries one, else derived from the HTTP status.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: StatusReason | (string & {});
  readonly details: StatusDetails | undefined;
  readonly request: RequestContext | undefined;

  constructor(status: number, reason: string, message: string, details?: StatusDetails, request?: RequestContext) {
    super(request ? `${request.method} ${request.path}: ${status} ${reason}: ${message}` : `${status} ${reason}: ${message}`);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
    this.details = details;
    this.request = request;
  }

  /** The error an HTTP status and body stand for; the body may be a metav1.Status or anything else. */
  static fromResponse(status: number, body: string, request?: RequestContext): ApiError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    if (isStatus(parsed)) {
      const code = parsed.code ?? status;
      return new ApiError(code, parsed.reason || reasonFor(code), parsed.message ?? body.trim(), parsed.details, request);
    }
    return new ApiError(status, reasonFor(status), body.trim().slice(0, 500) || `HTTP ${status}`, undefined, request);
  }
}

export function reasonFor(status: number): StatusReason {
  return REASON_BY_STATUS[status] ?? 'Unknown';
}

/** The request never got an HTTP answer: connection refused or reset, TLS failure, timeout. */
export class TransportError extends Error {
  readonly request: RequestContext;
  constructor(request: RequestContext, cause: Error) {
    super(`${request.method} ${request.path}: ${cause.message}`, { cause });
    this.name = 'TransportError';
    this.request = request;
  }
}

/** A kubeconfig or in-cluster configuration that cannot be used. */
export class KubeConfigError extends Error {
  readonly source: string;
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'KubeConfigError';
    this.source = source;
  }
}

/** An exec credential plugin could not give a credential: missing, failed, timed out, or printed no usable ExecCredential. */
export class CredentialPluginError extends Error {
  /** The command as run. */
  readonly command: string;
  /** The kubeconfig user it authenticates, and the kubeconfig. */
  readonly user: string;
  readonly source: string;
  /** What the plugin wrote to stderr, trimmed; often the reason (an expired login). */
  readonly stderr: string;
  constructor(plugin: { command: string; user: string; source: string }, message: string, stderr: string) {
    super(`credential plugin ${plugin.command} (user ${plugin.user}, ${plugin.source}): ${message}`);
    this.name = 'CredentialPluginError';
    this.command = plugin.command;
    this.user = plugin.user;
    this.source = plugin.source;
    this.stderr = stderr.trim();
  }
}

export const isApiError = (error: unknown, status?: number): error is ApiError =>
  error instanceof ApiError && (status === undefined || error.status === status);

export const isNotFound = (error: unknown): error is ApiError => isApiError(error, 404);
export const isConflict = (error: unknown): error is ApiError => isApiError(error, 409) && error.reason === 'Conflict';
export const isAlreadyExists = (error: unknown): error is ApiError => isApiError(error, 409) && error.reason === 'AlreadyExists';
/** 410: the resourceVersion (or continue token) is older than what the apiserver keeps; reason Gone or Expired. */
export const isGone = (error: unknown): error is ApiError => isApiError(error, 410);
export const isInvalid = (error: unknown): error is ApiError => isApiError(error, 422);
