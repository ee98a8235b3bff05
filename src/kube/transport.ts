/**
 * HTTPS requests to one apiserver: keep-alive connections (through a proxy
 * when the kubeconfig names one), the credential of each request, a client-side
 * rate limit, and retries of what the apiserver turned away (retry.ts).
 */
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { AgentPool } from './agent.ts';
import type { Credential } from './credentials.ts';
import { ApiError, TransportError, type RequestContext } from './errors.ts';
import type { ClusterConfig } from './kubeconfig.ts';
import { TokenBucket, type RateLimit } from './rate-limit.ts';
import { abortableSleep, DEFAULT_RETRY, retryDelay, validateRetry, type AttemptOutcome, type RetryPolicy } from './retry.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method: Method;
  path: string;
  query?: URLSearchParams;
  body?: string;
  contentType?: string;
  signal?: AbortSignal | undefined;
  /** Give up when the socket is idle this long; unary requests only. */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export interface TransportOptions {
  userAgent?: string;
  /** Idle timeout of unary requests. */
  timeoutMs?: number;
  maxSockets?: number;
  /** Requests per second and burst; false sends without a limit. */
  rateLimit?: RateLimit | false;
  retry?: RetryPolicy;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * What a client gets unless its caller chooses: a person's command line
 * (kubectl kerris) lists and watches a few collections and writes a few
 * objects. client-go's 5 qps / burst 10 would hold back a `describe`; the
 * controller passes its own, higher limit.
 */
export const DEFAULT_RATE_LIMIT: RateLimit = { qps: 20, burst: 40 };

export class Transport {
  readonly config: ClusterConfig;
  readonly #agents: AgentPool;
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  readonly #bucket: TokenBucket | undefined;
  readonly #retry: RetryPolicy;

  constructor(config: ClusterConfig, options: TransportOptions = {}) {
    this.config = config;
    this.#agents = new AgentPool({
      ca: config.ca,
      insecureSkipTlsVerify: config.insecureSkipTlsVerify,
      tlsServerName: config.tlsServerName,
      proxyUrl: config.proxyUrl,
      maxSockets: options.maxSockets ?? 32,
    });
    this.#userAgent = options.userAgent ?? 'kerris';
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const rateLimit = options.rateLimit ?? DEFAULT_RATE_LIMIT;
    this.#bucket = rateLimit === false ? undefined : new TokenBucket(rateLimit);
    this.#retry = options.retry ?? DEFAULT_RETRY;
    validateRetry(this.#retry);
  }

  /** Sends the request and reads the whole answer; an error status throws ApiError. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const res = await this.#exchange(req, req.timeoutMs ?? this.#timeoutMs);
    const body = await readBody(res, context(req));
    const status = res.statusCode ?? 0;
    if (status >= 400) throw ApiError.fromResponse(status, body, context(req));
    return { status, body };
  }

  /**
   * Sends the request and hands back the answer's body as a stream, once the
   * apiserver has answered 2xx; an error status throws ApiError. No idle
   * timeout: a stream may be quiet for long (the caller watches for stalls).
   * Only the initial request is retried; a stream that breaks is the caller's.
   */
  async stream(req: HttpRequest): Promise<IncomingMessage> {
    const res = await this.#exchange(req, undefined);
    const status = res.statusCode ?? 0;
    if (status >= 300) throw ApiError.fromResponse(status, await readBody(res, context(req)), context(req));
    return res;
  }

  /** Destroys every socket: idle ones, and those of requests and watches still running, which then fail. */
  close(): void {
    this.#agents.close();
  }

  /**
   * Sends until an answer is final: retried while the policy says so, and sent
   * once more with a fresh credential after a 401 when the credential source
   * can mint one. The final answer is handed back unread.
   */
  async #exchange(req: HttpRequest, timeoutMs: number | undefined): Promise<IncomingMessage> {
    let reauthenticated = false;
    for (let attempt = 1; ; attempt++) {
      req.signal?.throwIfAborted();
      await this.#bucket?.take(req.signal);
      const credential = await this.config.credentials.current();
      let outcome: AttemptOutcome;
      let res: IncomingMessage | undefined;
      try {
        res = await this.#send(req, credential, timeoutMs);
        const status = res.statusCode ?? 0;
        if (status === 401 && !reauthenticated && this.config.credentials.unauthorized(credential)) {
          // Sent once more with a fresh credential; this does not count as a retry.
          reauthenticated = true;
          res.resume();
          attempt -= 1;
          continue;
        }
        const retryAfter = res.headers['retry-after'];
        outcome = { status, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
      } catch (error) {
        if (!(error instanceof TransportError)) throw error;
        outcome = { errorCode: (error.cause as NodeJS.ErrnoException | undefined)?.code };
        const delay = retryDelay(this.#retry, req.method, outcome, attempt);
        if (delay === undefined) throw error;
        await abortableSleep(delay, req.signal);
        continue;
      }
      const delay = res.statusCode !== undefined && res.statusCode < 400 ? undefined : retryDelay(this.#retry, req.method, outcome, attempt);
      if (delay === undefined) return res;
      res.resume();
      await abortableSleep(delay, req.signal);
    }
  }

  #send(req: HttpRequest, credential: Credential, timeoutMs: number | undefined): Promise<IncomingMessage> {
    const url = this.#url(req);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.#userAgent };
    if (credential.authorization) headers['authorization'] = credential.authorization;
    if (req.body !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(req.body));
    }
    const agent = this.#agents.agentFor(credential.clientCertificate);
    return new Promise((resolve, reject) => {
      const outgoing = request(url, { method: req.method, headers, agent, ...(req.signal ? { signal: req.signal } : {}) }, resolve);
      if (timeoutMs !== undefined) {
        outgoing.setTimeout(timeoutMs, () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      }
      outgoing.on('error', (error) => reject(req.signal?.aborted ? req.signal.reason : new TransportError(context(req), error)));
      outgoing.end(req.body);
    });
  }

  /** The server URL's own path is a prefix (a proxy such as Rancher's serves clusters under /k8s/clusters/<id>), kept before every API path. */
  #url(req: HttpRequest): URL {
    const url = new URL(this.config.server);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}${req.path}`;
    url.search = req.query && req.query.size > 0 ? req.query.toString() : '';
    return url;
  }
}

const context = (req: HttpRequest): RequestContext => ({ method: req.method, path: req.path });

function readBody(res: IncomingMessage, request: RequestContext): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', (error) => reject(new TransportError(request, error)));
  });
}
