/**
 * Plain HTTP for Prometheus scrapes and kubelet probes: /metrics, /healthz (the lease and deadline loop keeps
 * time) and /readyz (journal reconciled and gRPC serving).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from './metrics.ts';

export interface MetricsServer {
  port: number;
  stop(): Promise<void>;
}

export interface Probes {
  healthy: () => boolean;
  ready: () => boolean;
}

export async function startMetricsServer(registry: Registry, probes: Probes, host: string, port: number): Promise<MetricsServer> {
  const probe = (ok: boolean, failure: string): [number, string] => (ok ? [200, 'ok\n'] : [503, `${failure}\n`]);
  const server: Server = createServer((request, response) => {
    const route = request.method === 'GET' ? request.url : undefined;
    if (route === '/metrics') {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      response.end(registry.render());
      return;
    }
    const answer = route === '/healthz' ? probe(probes.healthy(), 'the lease and deadline loop has not completed a pass lately')
      : route === '/readyz' ? probe(probes.ready(), 'not ready: the journal is being reconciled or gRPC is not serving')
        : undefined;
    if (answer === undefined) {
      response.writeHead(404);
      response.end();
      return;
    }
    response.writeHead(answer[0], { 'content-type': 'text/plain' });
    response.end(answer[1]);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
