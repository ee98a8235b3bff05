/** HTTPS requests to one apiserver over a keep-alive agent. */
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { ApiError, TransportError, type RequestContext } from './errors.ts';
import type { ClusterConfig } from './kubeconfig.ts';

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
}

const DEFAULT_TIMEOUT_MS = 30_000;

export class Transport {
  readonly config: ClusterConfig;
  readonly #agent: Agent;
  readonly #userAgent: string;
  readonly #timeoutMs: number;

  constructor(config: ClusterConfig, options: TransportOptions = {}) {
    this.config = config;
    this.#agent = new Agent({
      keepAlive: true,
      keepAliveMsecs: 10_000,
      maxSockets: options.maxSockets ?? 32,
      ...(config.ca ? { ca: config.ca } : {}),
      ...(config.clientCert ? { cert: config.clientCert } : {}),
      ...(config.clientKey ? { key: config.clientKey } : {}),
      ...(config.tlsServerName ? { servername: config.tlsServerName } : {}),
      rejectUnauthorized: !config.insecureSkipTlsVerify,
    });
    this.#userAgent = options.userAgent ?? 'kerris';
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Sends the request and reads the whole answer; an error status throws ApiError. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const res = await this.#send(req, req.timeoutMs ?? this.#timeoutMs);
    const body = await readBody(res, context(req));
    const status = res.statusCode ?? 0;
    if (status >= 400) throw ApiError.fromResponse(status, body, context(req));
    return { status, body };
  }

  /**
   * Sends the request and hands back the answer's body as a stream, once the
   * apiserver has answered 2xx; an error status throws ApiError. No idle
   * timeout: a stream may be quiet for long (the caller watches for stalls).
   */
  async stream(req: HttpRequest): Promise<IncomingMessage> {
    const res = await this.#send(req, undefined);
    const status = res.statusCode ?? 0;
    if (status >= 300) throw ApiError.fromResponse(status, await readBody(res, context(req)), context(req));
    return res;
  }

  /** Destroys every socket: idle ones, and those of requests and watches still running, which then fail. */
  close(): void {
    this.#agent.destroy();
  }

  async #send(req: HttpRequest, timeoutMs: number | undefined): Promise<IncomingMessage> {
    req.signal?.throwIfAborted();
    const url = new URL(req.path, this.config.server);
    if (req.query && req.query.size > 0) url.search = req.query.toString();
    const authorization = await this.config.authorization();
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.#userAgent };
    if (authorization) headers['authorization'] = authorization;
    if (req.body !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(req.body));
    }
    return new Promise((resolve, reject) => {
      const outgoing = request(url, { method: req.method, headers, agent: this.#agent, ...(req.signal ? { signal: req.signal } : {}) }, resolve);
      if (timeoutMs !== undefined) {
        outgoing.setTimeout(timeoutMs, () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      }
      outgoing.on('error', (error) => reject(req.signal?.aborted ? req.signal.reason : new TransportError(context(req), error)));
      outgoing.end(req.body);
    });
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
