/**
 * One HTTP(S) request for a check, with node's http client rather than fetch: it follows no redirect by its nature,
 * refuses no port (fetch blocks a list of "bad ports", 1, 6000, 10080 among them, which services do listen on) and
 * sends repeated headers as repeated lines. The whole exchange, body included, is bounded by the timeout.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface RequestSpec {
  readonly method: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, readonly string[]>> | undefined;
  readonly body?: string | undefined;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** Read at most this many bytes of the body; 0 reads none and closes the response once its head is in. */
  readonly maxBodyBytes: number;
}

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** The request got no (whole) answer; `reason` says why in words. */
export class RequestFailed extends Error {
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'RequestFailed';
    this.reason = reason;
  }
}

const KNOWN_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed for now',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed while sending',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate is self-signed and not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate chain has an untrusted self-signed certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate cannot be verified',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate is not for this host',
};

/** A socket or TLS error in words, with its system code: `connection refused (ECONNREFUSED)`. */
export function describeSocketError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  if (code === undefined) return error.message;
  return `${KNOWN_CODES[code] ?? error.message} (${code})`;
}

export function send(url: URL, spec: RequestSpec): Promise<Answer> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new RequestFailed(`scheme ${url.protocol} is not http or https`));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Answer>((resolve, reject) => {
    let settled = false;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const fail = (reason: string, cause?: unknown): void => finish(() => reject(new RequestFailed(reason, { cause })));
    const headers: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(spec.headers ?? {})) headers[name] = [...values];
    const req = request(url, { method: spec.method, headers }, (res: IncomingMessage) => {
      if (spec.maxBodyBytes === 0) {
        res.destroy();
        finish(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' }));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > spec.maxBodyBytes) {
          res.destroy();
          fail(`the answer is larger than ${spec.maxBodyBytes} bytes`);
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })));
      res.on('error', (error) => fail(`the answer broke off: ${describeSocketError(error)}`, error));
    });
    const timer = setTimeout(() => {
      fail(`no response within ${spec.timeoutMs / 1000} s`);
      req.destroy();
    }, spec.timeoutMs);
    const onAbort = (): void => {
      fail('stopped before a response came (the controller is shutting down)');
      req.destroy();
    };
    if (spec.signal?.aborted) onAbort();
    else spec.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error) => fail(describeSocketError(error), error));
    req.end(spec.body);
  });
}
