/** Why an HTTP request got no answer, in words: what fetch's `TypeError: fetch failed` hides in its cause. */

/** A fetch that ended without a response, described with the system error code where there is one. */
export function describeRequestFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') return `no response within ${timeoutMs / 1000} s`;
  if (error instanceof DOMException && error.name === 'AbortError') return 'stopped before a response came (the controller is shutting down)';
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (cause instanceof Error) {
    const code = 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
    const known = code === undefined ? undefined : KNOWN_CODES[code];
    if (known !== undefined) return `${known} (${code})`;
    return code === undefined ? cause.message : `${cause.message} (${code})`;
  }
  return String(cause);
}

const KNOWN_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed for now',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers in time',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate is self-signed and not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate chain has an untrusted self-signed certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate cannot be verified',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate is not for this host',
};

/** A signal that aborts after `timeoutMs` or when `outer` does, whichever is first. */
export function deadlineSignal(timeoutMs: number, outer: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return outer === undefined ? timeout : AbortSignal.any([timeout, outer]);
}
