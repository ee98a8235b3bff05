/**
 * The TLS connections to one apiserver: keep-alive agents, one per client
 * certificate in use (an exec plugin may hand out a new one at any time), each
 * optionally tunnelling through an http:// proxy with CONNECT.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest, type ClientRequestArgs } from 'node:http';
import { Agent } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { ClientCertificate } from './credentials.ts';

export interface AgentSettings {
  ca: Buffer | undefined;
  insecureSkipTlsVerify: boolean;
  tlsServerName: string | undefined;
  /** http:// proxy to tunnel every connection through. */
  proxyUrl: URL | undefined;
  maxSockets: number;
}

/** How long the proxy may take to open a tunnel. */
const CONNECT_TIMEOUT_MS = 30_000;

/** A keep-alive agent that can be retired: it then keeps no socket once its requests are done. */
class ApiAgent extends Agent {
  readonly #proxy: URL | undefined;
  #retired = false;

  constructor(settings: AgentSettings, certificate: ClientCertificate | undefined) {
    super({
      keepAlive: true,
      keepAliveMsecs: 10_000,
      maxSockets: settings.maxSockets,
      ...(settings.ca ? { ca: settings.ca } : {}),
      ...(certificate ? { cert: certificate.cert, key: certificate.key } : {}),
      ...(settings.tlsServerName ? { servername: settings.tlsServerName } : {}),
      rejectUnauthorized: !settings.insecureSkipTlsVerify,
    });
    this.#proxy = settings.proxyUrl;
  }

  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const proxy = this.#proxy;
    if (!proxy) return super.createConnection(options, callback);
    if (!callback) throw new Error('a proxied connection is made asynchronously and needs the agent\'s callback');
    // The agent's options carry everything TLS needs (ca, cert, key, servername, rejectUnauthorized); host and port are the apiserver's.
    const tls = options as ConnectionOptions & ClientRequestArgs;
    const host = tls.host ?? 'localhost';
    const target = `${host.includes(':') ? `[${host}]` : host}:${tls.port ?? 443}`;
    // On failure the agent reads only the error; its callback type still asks for a stream.
    const fail = callback as (err: Error) => void;
    openTunnel(proxy, target).then((socket) => callback(null, tlsConnect({ ...tls, socket })), fail);
    return undefined;
  }

  override keepSocketAlive(socket: Duplex): boolean {
    if (this.#retired) return false;
    super.keepSocketAlive(socket);
    return true;
  }

  retire(): void {
    this.#retired = true;
    for (const sockets of Object.values(this.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
  }

  get busy(): boolean {
    return Object.values(this.sockets).some((sockets) => (sockets?.length ?? 0) > 0);
  }
}

/** Asks the proxy for a tunnel to target (host:port) and resolves with the raw socket once it answered 200. */
function openTunnel(proxy: URL, target: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: target };
    if (proxy.username !== '') {
      const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
      headers['proxy-authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    const req = httpRequest({ host: proxy.hostname, port: Number(proxy.port || 80), method: 'CONNECT', path: target, headers, agent: false });
    req.setTimeout(CONNECT_TIMEOUT_MS, () => req.destroy(new Error(`proxy ${proxy.host} opened no tunnel to ${target} within ${CONNECT_TIMEOUT_MS} ms`)));
    req.on('connect', (res, socket) => {
      req.setTimeout(0);
      if (res.statusCode === 200) resolve(socket);
      else {
        socket.destroy();
        reject(new Error(`proxy ${proxy.host} refused a tunnel to ${target}: ${res.statusCode} ${res.statusMessage ?? ''}`.trim()));
      }
    });
    req.on('error', (error) => reject(new Error(`proxy ${proxy.host}: ${error.message}`, { cause: error })));
    req.end();
  });
}

const fingerprint = (certificate: ClientCertificate | undefined): string =>
  certificate ? createHash('sha256').update(certificate.cert).update('\0').update(certificate.key).digest('hex') : '';

/**
 * The agent for the client certificate in use. When the certificate changes,
 * new requests get a new agent and the old one is retired: requests and
 * watches still on it run to their end, and its sockets close after them.
 */
export class AgentPool {
  readonly #settings: AgentSettings;
  #current: { key: string; agent: ApiAgent } | undefined;
  readonly #retired = new Set<ApiAgent>();

  constructor(settings: AgentSettings) {
    this.#settings = settings;
  }

  agentFor(certificate: ClientCertificate | undefined): Agent {
    const key = fingerprint(certificate);
    if (this.#current?.key === key) return this.#current.agent;
    if (this.#current) {
      this.#current.agent.retire();
      this.#retired.add(this.#current.agent);
    }
    for (const agent of this.#retired) if (!agent.busy) this.#retired.delete(agent);
    const agent = new ApiAgent(this.#settings, certificate);
    this.#current = { key, agent };
    return agent;
  }

  /** Destroys every socket of every agent, in use or idle. */
  close(): void {
    this.#current?.agent.destroy();
    for (const agent of this.#retired) agent.destroy();
    this.#retired.clear();
  }
}
