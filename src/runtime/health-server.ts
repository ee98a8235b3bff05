/**
 * The operator's HTTP endpoints: /metrics (Prometheus text), /healthz
 * (the process serves), /readyz (every readiness check passes, and the
 * process is not shutting down).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CONTENT_TYPE, type Registry } from './metrics.ts';

export interface ReadinessCheck {
  name: string;
  /** True when ready. Called on every /readyz request, so it must be cheap. */
  ready(): boolean;
}

export interface HealthServerOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  registry: Registry;
  readiness?: readonly ReadinessCheck[];
}

export class HealthServer {
  readonly #options: HealthServerOptions;
  readonly #server: Server;
  #shuttingDown = false;

  constructor(options: HealthServerOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  /** Listens; resolves with the bound port. */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host ?? '0.0.0.0', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return (this.#server.address() as AddressInfo).port;
  }

  /** From now on /readyz answers 503, so traffic and probes move elsewhere while the process drains. */
  markShuttingDown(): void {
    this.#shuttingDown = true;
  }

  /** Stops listening and closes idle connections; busy ones get deadlineMs. */
  async stop(deadlineMs = 5_000): Promise<void> {
    this.#shuttingDown = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const timer = setTimeout(() => this.#server.closeAllConnections(), deadlineMs);
    await closed;
    clearTimeout(timer);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    switch (path) {
      case '/metrics':
        return send(res, 200, this.#options.registry.render(), CONTENT_TYPE);
      case '/healthz':
      case '/livez':
        return send(res, 200, 'ok\n');
      case '/readyz': {
        const failing = (this.#options.readiness ?? []).filter((check) => !safeReady(check)).map((c) => c.name);
        if (this.#shuttingDown) failing.unshift('shutting down');
        return failing.length === 0 ? send(res, 200, 'ok\n') : send(res, 503, `not ready: ${failing.join(', ')}\n`);
      }
      default:
        return send(res, 404, 'not found\n');
    }
  }
}

function safeReady(check: ReadinessCheck): boolean {
  try {
    return check.ready();
  } catch {
    return false;
  }
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
